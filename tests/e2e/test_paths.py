"""Paths: percent-decoding, UTF-8, queries, dot segments, directories,
dotfiles, and files that are not regular."""

import os
import socket
import stat
import threading
import urllib.parse

import harness


def raw_get(server, target):
    c = server.client()
    try:
        c.send(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n")
        return c.read_response()
    finally:
        c.close()


class Paths(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        root.write("plain.txt", "plain\n")
        root.write("café.txt", "utf-8 name\n")
        root.write("with space.txt", "space\n")
        root.write("a/b/c.txt", "abc\n")
        root.write("docs/index.html", "<p>docs</p>\n")
        root.write("empty/.keep", "")
        root.write(".env", "SECRET=1\n")
        root.write(".git/config", "[core]\n")
        root.write("a/.hidden/x.txt", "hidden\n")
        root.write("\\evil.example/index.html", "backslash dir\n")
        root.write("a b/index.html", "space dir\n")
        os.mkfifo(os.path.join(root.path, "fifo"))
        cls.unix = socket.socket(socket.AF_UNIX)
        cls.unix.bind(os.path.join(root.path, "sock"))
        try:
            os.mknod(os.path.join(root.path, "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
            cls.has_device = True
        except PermissionError:
            cls.has_device = False

    @classmethod
    def tearDownClass(cls):
        cls.unix.close()
        super().tearDownClass()

    def test_percent_decoding(self):
        for target, status, body in (
            ("/plain%2etxt", 200, b"plain\n"),
            ("/%70lain.txt", 200, b"plain\n"),
            ("/caf%C3%A9.txt", 200, b"utf-8 name\n"),
            ("/with%20space.txt", 200, b"space\n"),
            ("/a%2Fb%2Fc.txt", 200, b"abc\n"),
            ("/plain.txt%00", 400, None),
            ("/plain%00.txt", 400, None),
            ("/plain%2", 400, None),
            ("/plain%zz", 400, None),
            ("/%C0%AE%C0%AE/plain.txt", 400, None),  # overlong
            ("/%E0%80%AE", 400, None),               # overlong, 3 bytes
            ("/%ED%A0%80", 400, None),               # surrogate
            ("/%FF%FE", 400, None),                  # not UTF-8
            ("/caf%E9.txt", 400, None),              # Latin-1, not UTF-8
        ):
            with self.subTest(target=target):
                r = raw_get(self.server, target)
                self.assertEqual(r.status, status)
                if body is not None:
                    self.assertEqual(r.body, body)

    def test_query_is_ignored_for_lookup(self):
        r = raw_get(self.server, "/plain.txt?v=1&x=%00")
        self.assertEqual((r.status, r.body), (200, b"plain\n"))

    def test_dot_segments(self):
        for target in ("/a/./b/../b/c.txt", "/a/b/./c.txt", "//a//b//c.txt", "/x/../a/b/c.txt"):
            with self.subTest(target=target):
                self.assertEqual(raw_get(self.server, target).body, b"abc\n")
        self.assertEqual(raw_get(self.server, "/../plain.txt").status, 400)

    def test_directories(self):
        r = raw_get(self.server, "/docs")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), "/docs/")
        r = raw_get(self.server, "/docs?x=1&y")
        self.assertEqual(r.header("Location"), "/docs/?x=1&y")
        r = raw_get(self.server, "/a/b")
        self.assertEqual(r.header("Location"), "/a/b/")
        self.assertEqual(raw_get(self.server, "/docs/").body, b"<p>docs</p>\n")
        self.assertEqual(raw_get(self.server, "/docs/index.html").body, b"<p>docs</p>\n")
        self.assertEqual(raw_get(self.server, "/empty/").status, 403)
        self.assertEqual(raw_get(self.server, "/a/").status, 403)
        self.assertEqual(raw_get(self.server, "/").status, 403)  # no index.html at the root
        self.assertEqual(raw_get(self.server, "/plain.txt/").status, 404)

    def test_slash_redirect_never_leaves_the_site(self):
        """Issue 16: the 301 repeated the raw target, so "//evil.example/..%2Fdocs"
        sent a browser to evil.example. The Location is built from the
        normalised path: one leading '/', no backslash, escaped, query kept."""
        origin = "http://127.0.0.1:8080/somewhere"
        for target, location in (
            ("//evil.example/..%2Fdocs", "/docs/"),
            ("/\\evil.example/../docs", "/docs/"),
            ("/%5Cevil.example/..%2Fdocs", "/docs/"),
            ("//evil.example/%2e%2e/docs?next=//x", "/docs/?next=//x"),
            ("/%2F%2Fevil.example/../docs", "/docs/"),
            ("//docs", "/docs/"),
            ("///docs", "/docs/"),
            ("http://t//docs", "/docs/"),
            ("/.//docs/../docs", "/docs/"),
            ("/%5Cevil.example", "/%5Cevil.example/"),
            ("/\\evil.example?a\\b", "/%5Cevil.example/?a%5Cb"),
            ("/a%20b", "/a%20b/"),
        ):
            with self.subTest(target=target):
                r = raw_get(self.server, target)
                self.assertEqual((r.status, r.header("Location")), (301, location))
                joined = urllib.parse.urlsplit(urllib.parse.urljoin(origin, location))
                self.assertEqual(joined.netloc, "127.0.0.1:8080")
                self.assertEqual(raw_get(self.server, location).status, 200)

    def test_dotfiles_are_404(self):
        for target in ("/.env", "/.git/config", "/a/.hidden/x.txt", "/%2eenv", "/empty/.keep"):
            with self.subTest(target=target):
                self.assertEqual(raw_get(self.server, target).status, 404)

    def test_special_files_are_403(self):
        targets = ["/fifo", "/sock"] + (["/null"] if self.has_device else [])
        for target in targets:
            with self.subTest(target=target):
                # A FIFO with no writer must not block the open (or anything else).
                done = []
                t = threading.Thread(target=lambda: done.append(raw_get(self.server, target)))
                t.start()
                t.join(10)
                self.assertTrue(done, f"{target} hung")
                self.assertEqual(done[0].status, 403)
        self.assertEqual(raw_get(self.server, "/plain.txt").status, 200)


class DotfilesAllowed(harness.ServerTest):
    server_args = ("--dotfiles", "allow")

    @classmethod
    def populate(cls, root):
        root.write(".well-known/security.txt", "Contact: x\n")

    def test_dotfiles_served_when_allowed(self):
        r = self.server.get("/.well-known/security.txt")
        self.assertEqual((r.status, r.body), (200, b"Contact: x\n"))
        self.assertEqual(self.server.get("/../x").status, 400)


if __name__ == "__main__":
    harness.main()
