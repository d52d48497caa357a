"""--autoindex through the real binary, sandbox on (the default): hostile
names escaped in the text and encoded in the href, dotfiles hidden unless
--dotfiles allow, directories first then byte order, sizes, symlinks never
listed, index.html still wins, HEAD and 304, a big directory listed while
another client is served, no descriptor left behind; without the flag 403."""

import os
import re
import threading
import time

import harness

# name on disk -> (what the href must hold, what the text must hold)
HOSTILE = {
    b"<script>": (b"%3Cscript%3E", b"&lt;script&gt;"),
    b'a"b': (b"a%22b", b"a&quot;b"),
    b"x&y": (b"x%26y", b"x&amp;y"),
    b"%41": (b"%2541", b"%41"),
    b"sp ace": (b"sp%20ace", b"sp ace"),
    b"new\nline": (b"new%0Aline", b"new\xef\xbf\xbdline"),
    b"q?#:": (b"q%3F%23%3A", b"q?#:"),
}


def write_bytes_name(dirpath, name, data):
    with open(os.path.join(os.fsencode(dirpath), name), "wb") as f:
        f.write(data)


def hrefs(body):
    return re.findall(rb'<a href="([^"]*)">', body)


def rows(body):
    """(href, text, size) per row, the parent link included."""
    return re.findall(rb'<tr><td><a href="([^"]*)">([^<]*)</a></td><td>[^<]*</td><td>([^<]*)</td></tr>', body)


class Autoindex(harness.ServerTest):
    server_args = ("--autoindex",)

    @classmethod
    def populate(cls, root):
        listed = os.path.join(root.path, "list")
        os.makedirs(listed)
        for i, name in enumerate(HOSTILE):
            write_bytes_name(listed, name, b"x" * (i + 1))
        root.write("list/.hidden", "h\n")
        for name in (b"bad\xffutf8.txt", b"\xc0\xaf"):  # not valid UTF-8 (the second an overlong '/')
            write_bytes_name(listed, name, b"unnamable\n")
        os.makedirs(os.path.join(os.fsencode(listed), b"\xfedir"))
        root.write("list/B.txt", "B" * 1234)
        root.write("list/a.txt", "")
        os.makedirs(os.path.join(listed, "zsub"))
        os.makedirs(os.path.join(listed, "Adir"))
        os.makedirs(os.path.join(listed, ".git"))
        secret = root.outside("secret-outside.txt", b"top secret\n")
        os.symlink(secret, os.path.join(listed, "leak-link"))
        os.symlink("../../secret-outside.txt", os.path.join(listed, "rel-leak"))
        root.write("withindex/index.html", "<p>the index</p>\n")
        root.write("withindex/other.txt", "o\n")
        os.makedirs(os.path.join(root.path, "empty"))
        root.write("small.txt", "small\n")
        for d in ("big", "big2"):
            os.makedirs(os.path.join(root.path, d))
            for i in range(5000):
                with open(os.path.join(root.path, d, f"f{i:05d}"), "wb") as f:
                    f.write(b"y" * (i % 7))

    def test_hostile_names_are_escaped(self):
        r = self.server.get("/list/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-type"), "text/html; charset=utf-8")
        body = r.body
        body.decode("utf-8")  # valid UTF-8 whatever the names on disk
        for name, (href, text) in HOSTILE.items():
            self.assertIn(b'<a href="' + href + b'">' + text + b"</a>", body, name)
        for raw in (b"<script>", b'a"b', b"x&y", b"new\nline", b"\xff", b'href="sp ace', b'href="%41"'):
            self.assertNotIn(raw, body, raw)
        self.assertIn(b"<title>Index of /list/</title>", body)

    def test_only_names_that_can_be_fetched_are_listed(self):
        """Issue 16: bad\\xffutf8.txt was listed with the link bad%FFutf8.txt,
        which answers 400 (the path is not valid UTF-8). Such names are left
        out, with a note; every link on the page answers."""
        body = self.server.get("/list/").body
        for href in (b"bad%FFutf8.txt", b"%C0%AF", b"%FEdir/"):
            self.assertNotIn(b'href="' + href + b'"', body)
        self.assertIn(b"<p>3 entries not shown: not valid UTF-8, so no URL can name them.</p>", body)
        self.assertEqual(self.server.get("/list/bad%FFutf8.txt").status, 400)
        for href in hrefs(body):
            with self.subTest(href=href):
                self.assertEqual(self.server.get("/list/" + href.decode()).status, 200)

    def test_sorted_directories_first_sizes_and_dotfiles_hidden(self):
        body = self.server.get("/list/").body
        names = hrefs(body)
        self.assertEqual(names[:3], [b"../", b"Adir/", b"zsub/"])
        files = names[3:]
        self.assertEqual(len(files), len(HOSTILE) + 2)
        on_disk = sorted(list(HOSTILE) + [b"B.txt", b"a.txt"])
        self.assertEqual([dict((v[0], k) for k, v in HOSTILE.items()).get(h, h) for h in files], on_disk)
        sizes = {href: size for href, _, size in rows(body)}
        self.assertEqual(sizes[b"B.txt"], b"1234")
        self.assertEqual(sizes[b"a.txt"], b"0")
        self.assertEqual(sizes[b"Adir/"], b"-")
        self.assertEqual(sizes[b"x%26y"], str(list(HOSTILE).index(b"x&y") + 1).encode())
        self.assertNotIn(b".hidden", body)
        self.assertNotIn(b".git", body)

    def test_symlinks_are_not_listed(self):
        body = self.server.get("/list/").body
        self.assertNotIn(b"leak", body)
        self.assertNotIn(b"secret", body)
        self.assertEqual(self.server.get("/list/leak-link").status, 403)  # and never followed out
        self.assertEqual(self.server.get("/list/rel-leak").status, 403)

    def test_index_html_still_wins_and_redirect_kept(self):
        r = self.server.get("/withindex/")
        self.assertEqual((r.status, r.body), (200, b"<p>the index</p>\n"))
        r = self.server.get("/list")
        self.assertEqual((r.status, r.header("location")), (301, "/list/"))

    def test_root_and_empty_directory(self):
        root = self.server.get("/")
        self.assertEqual(root.status, 200)
        self.assertNotIn(b'href="../"', root.body)
        self.assertIn(b'<a href="small.txt">small.txt</a>', root.body)
        empty = self.server.get("/empty/")
        self.assertEqual(hrefs(empty.body), [b"../"])

    def test_head_conditional_and_keepalive(self):
        c = self.server.client()
        try:
            get = c.request("GET", "/list/")
            head = c.request("HEAD", "/list/")
            self.assertEqual(head.status, 200)
            self.assertEqual(head.header("content-length"), str(len(get.body)))
            self.assertEqual(head.header("etag"), get.header("etag"))
            self.assertEqual(head.body, b"")
            r = c.request("GET", "/list/", {"If-None-Match": get.header("etag")})
            self.assertEqual((r.status, r.body), (304, b""))
            r = c.request("GET", "/list/", {"If-None-Match": '"0000000000000000"'})
            self.assertEqual(r.body, get.body)
            r = c.request("GET", "/list/", {"Range": "bytes=0-9"})
            self.assertEqual((r.status, r.body), (200, get.body))  # ranges ignored
            self.assertEqual(c.request("GET", "/small.txt").body, b"small\n")  # still alive
        finally:
            c.close()

    def test_big_directory_beside_a_small_file(self):
        results = {}

        def listing():
            results["big"] = self.server.get("/big2/")

        t = threading.Thread(target=listing)
        t.start()
        small = []
        while t.is_alive() and len(small) < 50:
            small.append(self.server.get("/small.txt"))
        t.join(30)
        self.assertFalse(t.is_alive())
        self.assertTrue(small)
        for r in small:
            self.assertEqual((r.status, r.body), (200, b"small\n"))
        big = results["big"]
        self.assertEqual(big.status, 200)
        names = hrefs(big.body)
        self.assertEqual(len(names), 5001)
        self.assertEqual(names[1:3], [b"f00000", b"f00001"])
        self.assertEqual(names[-1], b"f04999")

    def test_no_descriptor_left_behind(self):
        self.server.wait_idle()
        before = self.server.fd_count()
        for _ in range(3):
            for path in ("/list/", "/big/", "/empty/", "/", "/withindex/"):
                self.assertEqual(self.server.get(path).status, 200)
            time.sleep(0.05)
        c = self.server.client()
        c.send(b"GET /big/ HTTP/1.1\r\nHost: t\r\n\r\n")
        harness.reset(c.sock)  # gone before the listing
        self.server.wait_idle()
        self.assertEqual(self.server.fd_count(), before, self.server.fds())
        self.assertServerAlive()

    def test_sandbox_is_on(self):
        if harness.sanitized():
            self.server.wait_log(r"seccomp: not in a sanitizer build")
        else:
            self.server.wait_log(r"seccomp: \d+ syscalls allowed")
        self.server.wait_log(r"landlock: ")
        with open(f"/proc/{self.server.pid}/status") as f:
            self.assertIn("NoNewPrivs:\t1", f.read())


class DotfilesAllowed(harness.ServerTest):
    server_args = ("--autoindex", "--dotfiles", "allow")

    @classmethod
    def populate(cls, root):
        root.write("d/.hidden", "h\n")
        root.write("d/seen", "s\n")

    def test_dotfiles_listed(self):
        self.assertEqual(hrefs(self.server.get("/d/").body), [b"../", b".hidden", b"seen"])
        self.assertEqual(self.server.get("/d/.hidden").body, b"h\n")


class SymlinkedAlias(harness.ServerTest):
    """Issue 16 E: the listing cache was keyed on the directory alone (device,
    inode, times), so /alias/ (a symlink to /real/ inside the root) was
    answered with the page of /real/: its title and its ../ row."""
    server_args = ("--autoindex",)

    @classmethod
    def populate(cls, root):
        root.write("real/x.txt", "x\n")
        os.symlink("real", os.path.join(root.path, "alias"))
        root.write("top/inner/y.txt", "y\n")
        os.symlink("top/inner", os.path.join(root.path, "flat"))

    def test_each_path_gets_its_own_page(self):
        for first, second in (("/real/", "/alias/"), ("/flat/", "/top/inner/")):
            a = self.server.get(first)
            b = self.server.get(second)  # cached by then under the other path
            self.assertEqual(a.status, 200)
            self.assertEqual(b.status, 200)
            self.assertIn(f"<title>Index of {first}</title>".encode(), a.body)
            self.assertIn(f"<title>Index of {second}</title>".encode(), b.body)
            self.assertNotEqual(a.header("etag"), b.header("etag"))
        # Still right once both are cached.
        self.assertIn(b"<title>Index of /alias/</title>", self.server.get("/alias/").body)
        self.assertIn(b"<title>Index of /real/</title>", self.server.get("/real/").body)


class Off(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        root.write("d/x.txt", "x\n")

    def test_without_the_flag_a_directory_is_403(self):
        self.assertEqual(self.server.get("/d/").status, 403)
        self.assertEqual(self.server.get("/").status, 403)


if __name__ == "__main__":
    harness.main()
