"""Virtual hosts: [[site]] tables chosen by the request's Host, through the
real binary.

- Each site answers from its own root with its own headers, error pages,
  fallback, dotfiles and autoindex settings; an exact name wins over a
  wildcard; names match without regard to case, port or a trailing dot.
- An absolute-form target's authority wins over the Host field (RFC 9112).
- A Host no site names (or none, HTTP/1.0) gets the default site; with
  unknown-host = "421", 421 Misdirected Request.
- The open-file cache and the listing cache never give one site another's
  bytes: the same path in two roots, asked for alternately on one
  connection, stays each site's own.
- --access-log-format vhost starts each line with the site; the error log
  names the site as nginx's "server:".
- The sandbox (Landlock) lets every site's root be read, and nothing else.
"""

import os
import re
import shutil
import tempfile
import textwrap

import harness
from test_config import ConfigServer

needs_io_uring = harness.unittest.skipUnless(harness.io_uring_usable(), "io_uring unavailable")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


@needs_io_uring
class Sites(harness.unittest.TestCase):
    """Three roots: the top level (the default site), example.com with its
    wildcard, and other.org; each has an index.html and a same-named file of
    its own."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="splicehttpd-vhosts-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.roots = {}
        for name in ("top", "example", "other", "wild"):
            root = os.path.join(self.tmp, name)
            self.roots[name] = root
            write(os.path.join(root, "index.html"), f"<p>{name}</p>\n")
            write(os.path.join(root, "same.txt"), f"same.txt of {name}\n" * (1 + len(name)))
            write(os.path.join(root, "dir", "a.txt"), "a\n")
            write(os.path.join(root, "dir", ".hidden"), "hidden\n")
            write(os.path.join(root, ".env"), f"secret of {name}\n")
        # Its own 404 page for example.com, and a fallback for other.org.
        write(os.path.join(self.roots["example"], "404.html"), "<p>example's 404</p>\n")
        write(os.path.join(self.roots["other"], "app.html"), "<p>other's app</p>\n")
        self.log = os.path.join(self.tmp, "access.log")

    def start(self, extra="", *args):
        path = os.path.join(self.tmp, "splicehttpd.toml")
        text = textwrap.dedent(f"""
            root = "{self.roots['top']}"
            listen = ["127.0.0.1:0"]
            threads = 1
            access-log = "{self.log}"
            access-log-format = "vhost"
            add-header = ["X-Site: top"]
            {extra}

            [[site]]
            names = ["example.com", "www.example.com"]
            root = "{self.roots['example']}"
            add-header = ["X-Site: example"]
            error-page = ["404=/404.html"]
            autoindex = true

            [[site]]
            names = ["*.example.com"]
            root = "{self.roots['wild']}"
            add-header = ["X-Site: wild"]

            [[site]]
            names = ["other.org"]
            root = "{self.roots['other']}"
            add-header = ["X-Site: other"]
            fallback = "/app.html"
            dotfiles = "allow"
            autoindex = true
            """).lstrip("\n")
        with open(path, "w") as f:
            f.write(text)
        server = ConfigServer(path, *args)
        self.addCleanup(lambda: server.alive() and server.stop())
        return server

    def assertSite(self, r, site, path="/"):
        self.assertEqual(r.status, 200, (path, r.raw_head))
        self.assertEqual(r.header("x-site"), site, r.raw_head)
        if path == "/":
            self.assertEqual(r.body, f"<p>{site}</p>\n".encode())

    def test_host_chooses_the_site(self):
        s = self.start()
        s.wait_log(r"listening on http://127\.0\.0\.1:\d+ \(1 thread, 4 sites\)")
        cases = [
            ("example.com", "example"),
            ("www.example.com", "example"),  # a second name of the same site
            ("EXAMPLE.com", "example"),  # case
            ("example.com:8080", "example"),  # a port
            ("example.com.", "example"),  # a trailing dot
            ("a.example.com", "wild"),  # the wildcard
            ("b.c.example.com", "wild"),  # more than one label in front
            ("other.org", "other"),
            ("unknown.test", "top"),  # nobody's: the default site
            ("127.0.0.1", "top"),
            ("ex ample.com", None),  # not a host: refused (400) before any site
            ("a@example.com", None),
            ("example.com/x", None),
        ]
        for host, site in cases:
            with self.subTest(host=host):
                r = s.get("/", {"Host": host})
                if site is None:
                    self.assertEqual(r.status, 400)
                else:
                    self.assertSite(r, site)
        # HTTP/1.0 without Host: the default site.
        self.assertSite(s.get("/", {"Host": None}, version="HTTP/1.0"), "top")
        s.stop_checked()

    def test_absolute_form_target_wins_over_host(self):
        s = self.start()
        c = s.client()
        self.assertSite(c.request("GET", "http://other.org/", {"Host": "example.com"}), "other")
        self.assertSite(c.request("GET", "HTTP://A.Example.COM:80/", {"Host": "other.org"}), "wild")
        self.assertSite(c.request("GET", "/", {"Host": "other.org"}), "other")
        c.close()
        s.stop_checked()

    def test_one_connection_alternating_hosts_never_gets_another_sites_bytes(self):
        """The same path in four roots, asked for over and over on one
        keep-alive connection, and pipelined: each answer is its own site's
        (the open-file cache keys entries by site)."""
        s = self.start()
        c = s.client()
        hosts = [("example.com", "example"), ("a.example.com", "wild"), ("other.org", "other"), ("nope", "top")]
        for round_ in range(5):
            for host, site in hosts:
                r = c.request("GET", "/same.txt", {"Host": host})
                self.assertSite(r, site, "/same.txt")
                self.assertEqual(r.body, f"same.txt of {site}\n".encode() * (1 + len(site)), (round_, host))
        # Pipelined: all four in one write, then read in order.
        c.send("".join(f"GET /same.txt HTTP/1.1\r\nHost: {h}\r\n\r\n" for h, _ in hosts * 3))
        for host, site in hosts * 3:
            r = c.read_response()
            self.assertEqual((r.header("x-site"), r.body),
                             (site, f"same.txt of {site}\n".encode() * (1 + len(site))), host)
        c.close()
        s.stop_checked()

    def test_each_site_keeps_its_own_settings(self):
        s = self.start()
        # error-page: example.com's own 404 page; the others the built-in one.
        r = s.get("/missing", {"Host": "example.com"})
        self.assertEqual((r.status, r.body), (404, b"<p>example's 404</p>\n"))
        r = s.get("/missing.txt", {"Host": "other.org"})
        self.assertEqual(r.status, 404)
        self.assertNotIn(b"example's", r.body)
        # fallback: other.org's app answers a route; nobody else's does.
        r = s.get("/some/route", {"Host": "other.org"})
        self.assertEqual((r.status, r.body), (200, b"<p>other's app</p>\n"))
        self.assertEqual(s.get("/some/route", {"Host": "nope"}).status, 404)
        # dotfiles: other.org allows them, the rest do not.
        r = s.get("/.env", {"Host": "other.org"})
        self.assertEqual((r.status, r.body), (200, b"secret of other\n"))
        self.assertEqual(s.get("/.env", {"Host": "example.com"}).status, 404)
        self.assertEqual(s.get("/.env", {"Host": "nope"}).status, 404)
        # autoindex: example.com and other.org list; the default site does
        # not. One directory listed by two sites with different dotfiles
        # settings: each page is its own.
        self.assertEqual(s.get("/dir/", {"Host": "nope"}).status, 403)
        for _ in range(2):  # the second time from the listing cache
            ex = s.get("/dir/", {"Host": "example.com"})
            ot = s.get("/dir/", {"Host": "other.org"})
            self.assertEqual((ex.status, ot.status), (200, 200))
            self.assertIn(b"a.txt", ex.body)
            self.assertNotIn(b".hidden", ex.body)
            self.assertIn(b".hidden", ot.body)
        s.stop_checked()

    def test_the_access_log_and_the_error_log_name_the_site(self):
        s = self.start()
        s.get("/", {"Host": "A.example.com"})
        s.get("/", {"Host": "unknown.test"})
        s.get("/missing", {"Host": "other.org"})  # the fallback answers: no error line
        s.get("/missing", {"Host": "www.Example.com"})  # its 404 page answers: the error line stays
        c = s.client()
        c.send(b"GARBAGE\r\n\r\n")
        self.assertTrue(c.closed_by_peer())
        c.close()
        s.stop_checked()
        with open(self.log) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 5, lines)
        self.assertRegex(lines[0], r'^\*\.example\.com 127\.0\.0\.1 - - \[.*\] "GET / HTTP/1\.1" 200 ')
        self.assertRegex(lines[1], r'^default 127\.0\.0\.1 .* "GET / HTTP/1\.1" 200 ')
        self.assertRegex(lines[2], r'^other\.org 127\.0\.0\.1 .* "GET /missing HTTP/1\.1" 200 ')  # the fallback
        self.assertRegex(lines[3], r'^example\.com 127\.0\.0\.1 .* "GET /missing HTTP/1\.1" 404 ')
        self.assertRegex(lines[4], r'^default 127\.0\.0\.1 .* "-" 400 ')  # never parsed: the default site's
        # The error log (stderr): server: is the site that answered.
        log = "\n".join(s.log())
        missing = os.path.join(self.roots["example"], "missing")
        self.assertRegex(log, r'open\(\) "%s" failed \(2: No such file or directory\), client: 127\.0\.0\.1, '
                              r'server: example\.com, request: "GET /missing HTTP/1\.1", host: "www\.Example\.com"'
                         % re.escape(missing))
        self.assertNotIn(os.path.join(self.roots["other"], "missing"), log)
        # A request that never parsed has no site to name.
        self.assertRegex(log, r"client sent a bad request: invalid method, client: 127\.0\.0\.1\n")

    def test_unknown_host_421(self):
        s = self.start('unknown-host = "421"\n            [[site]]\n            names = ["top.test"]\n'
                       f'            root = "{self.roots["top"]}"\n            add-header = ["X-Site: top"]',
                       "--log-level", "info")
        s.wait_log(r"\(1 thread, 4 sites\)")
        for host in ("unknown.test", "example.org", "127.0.0.1"):
            r = s.get("/", {"Host": host})
            self.assertEqual((r.status, r.reason), (421, "Misdirected Request"), host)
            # No site answered: the top level's headers, no site's page.
            self.assertEqual(r.header("x-site"), "top")
            self.assertNotIn(b"<p>", r.body)
        r = s.get("/", {"Host": None}, version="HTTP/1.0")
        self.assertEqual(r.status, 421)
        self.assertSite(s.get("/", {"Host": "top.test"}), "top")
        self.assertSite(s.get("/", {"Host": "example.com"}), "example")
        # The connection stays usable after a 421 (nginx keeps it open too).
        c = s.client()
        self.assertEqual(c.request("GET", "/", {"Host": "nobody"}).status, 421)
        self.assertSite(c.request("GET", "/", {"Host": "other.org"}), "other")
        c.close()
        s.stop_checked()

    def test_the_sandbox_reads_every_root_and_nothing_else(self):
        """With Landlock on (the default), a symlink from one site's root into
        another's is refused by RESOLVE_BENEATH, and every root serves."""
        os.symlink(os.path.join(self.roots["other"], "same.txt"), os.path.join(self.roots["example"], "link.txt"))
        s = self.start()
        log = s.wait_log(r"landlock: .*")
        for host, site in (("example.com", "example"), ("a.example.com", "wild"), ("other.org", "other"),
                           ("x", "top")):
            self.assertSite(s.get("/", {"Host": host}), site)
        self.assertEqual(s.get("/link.txt", {"Host": "example.com"}).status, 403)
        if "enforced" in log:
            self.assertIn("the 4 site roots", log)
        s.stop_checked()


@needs_io_uring
class OneSite(harness.unittest.TestCase):
    """Without [[site]] tables nothing changes: every Host gets the root."""

    def test_every_host_gets_the_root(self):
        root = harness.Root()
        self.addCleanup(root.cleanup)
        root.write("index.html", b"<p>root</p>\n")
        s = harness.Server(root.path)
        self.addCleanup(lambda: s.alive() and s.stop())
        s.wait_log(r"\(1 thread, root ")
        for host in ("example.com", "anything", "127.0.0.1:8080"):
            self.assertEqual(s.get("/", {"Host": host}).body, b"<p>root</p>\n")
        self.assertEqual(s.get("http://whatever/").body, b"<p>root</p>\n")
        s.stop_checked()


if __name__ == "__main__":
    harness.main()
