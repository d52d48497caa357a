"""What every response carries: Date, Server, Content-Type from a real MIME
table, HTML error bodies with Content-Length, validators."""

import calendar
import email.utils
import os
import re
import subprocess
import tempfile
import time

import harness

DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                  r"\d\d:\d\d:\d\d GMT$")


def mime_types_entry(ext):
    """The type /etc/mime.types gives an extension, if the file is there."""
    try:
        with open("/etc/mime.types") as f:
            for line in f:
                fields = line.split()
                if fields and not line.startswith("#") and ext in fields[1:]:
                    return fields[0]
    except OSError:
        pass
    return None


class Responses(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        root.write("file.txt", "file\n", mtime=1700000000)
        root.write("sheet.ods", "ods")
        root.write("book.epub", "epub")
        root.write("changing.txt", "version 1\n")

    def test_date_and_server_on_every_response(self):
        cases = [
            ("GET", "/file.txt", {}, 200), ("GET", "/missing", {}, 404), ("POST", "/file.txt", {}, 405),
            ("GET", "/file.txt", {"Range": "bytes=0-0"}, 206), ("GET", "/file.txt", {"Range": "bytes=99-"}, 416),
            ("GET", "/file.txt", {"If-None-Match": "*"}, 304), ("GET", "/file.txt", {"If-Match": '"x"'}, 412),
            ("BREW", "/file.txt", {}, 501), ("HEAD", "/file.txt", {}, 200), ("HEAD", "/missing", {}, 404),
        ]
        for method, path, headers, status in cases:
            with self.subTest(method=method, path=path, status=status):
                r = self.server.get(path, headers, method=method)
                self.assertEqual(r.status, status)
                self.assertEqual(r.header("Server"), "splicehttpd")
                self.assertRegex(r.header("Date"), DATE)
                self.assertLess(abs(calendar.timegm(email.utils.parsedate(r.header("Date"))) - time.time()), 5)
        c = self.server.client()
        c.send(b"garbage\r\n\r\n")
        r = c.read_response()
        c.close()
        self.assertEqual(r.status, 400)
        self.assertRegex(r.header("Date"), DATE)

    def test_error_bodies(self):
        for path, status in (("/missing", 404), ("/../x", 400)):
            with self.subTest(status=status):
                r = self.server.get(path)
                self.assertEqual(r.status, status)
                self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
                self.assertEqual(int(r.header("Content-Length")), len(r.body))
                self.assertIn(str(status).encode(), r.body)
                self.assertTrue(r.body.startswith(b"<!DOCTYPE html>"))
        # HEAD: the same headers, no body (the next response proves it)
        c = self.server.client()
        h = c.request("HEAD", "/missing")
        self.assertGreater(int(h.header("Content-Length")), 0)
        self.assertEqual(c.request("GET", "/file.txt").body, b"file\n")
        c.close()

    def test_mime_types_long_tail(self):
        for name, ext in (("sheet.ods", "ods"), ("book.epub", "epub")):
            with self.subTest(name=name):  # a skip skips this case, not the rest
                expected = mime_types_entry(ext)
                if expected is None:
                    self.skipTest(f"/etc/mime.types has no entry for {ext}")
                self.assertEqual(self.server.get("/" + name).header("Content-Type"), expected)

    def test_date_follows_the_clock(self):
        # On one keep-alive connection, responses more than a second apart
        # carry different dates, each the current second.
        c = self.server.client()
        first = c.request("GET", "/file.txt").header("Date")
        t1 = calendar.timegm(email.utils.parsedate(first))
        time.sleep(1.05)  # time passing is the point here: nothing to poll
        before = time.time()
        second = c.request("GET", "/file.txt").header("Date")
        after = time.time()
        c.close()
        t2 = calendar.timegm(email.utils.parsedate(second))
        self.assertNotEqual(second, first)
        self.assertGreaterEqual(t2, t1 + 1)
        # The second the response was made in: time(2) reads the coarse clock,
        # which may trail CLOCK_REALTIME by a tick, hence the 0.1 s of slack.
        self.assertLessEqual(t2, after)
        self.assertGreater(t2, before - 1.1)

    def test_validators(self):
        r = self.server.get("/file.txt")
        self.assertEqual(r.header("Accept-Ranges"), "bytes")
        self.assertEqual(r.header("Last-Modified"), "Tue, 14 Nov 2023 22:13:20 GMT")
        etag = r.header("ETag")
        # strong; size and mtime with nanoseconds, no inode
        st = os.stat(os.path.join(self.root.path, "file.txt"))
        self.assertEqual(etag, f'"{st.st_size:x}-{st.st_mtime_ns // 10**9:x}.{st.st_mtime_ns % 10**9:x}"')
        self.assertEqual(self.server.get("/file.txt").header("ETag"), etag)

    def test_bodyless_responses_send_no_body(self):
        # On one kept-alive connection: a stray body after HEAD, 304 or 204
        # would be read as the start of the next response.
        c = self.server.client()
        etag = c.request("GET", "/file.txt").header("etag")
        for method, path, headers, status in (("HEAD", "/file.txt", {}, 200),
                                              ("GET", "/file.txt", {"If-None-Match": etag}, 304),
                                              ("OPTIONS", "*", {}, 204),
                                              ("HEAD", "/missing", {}, 404),
                                              ("HEAD", "/file.txt", {"Range": "bytes=0-1"}, 200)):
            r = c.request(method, path, headers)
            self.assertEqual(r.status, status, (method, path))
            self.assertEqual(r.body, b"")
            r = c.request("GET", "/file.txt")
            self.assertEqual((r.status, r.body), (200, b"file\n"), (method, path))
        c.sock.settimeout(0.3)
        with self.assertRaises(TimeoutError):  # nothing more on the wire
            c.sock.recv(1)
        c.close()

    def test_etag_changes_with_content_even_within_a_second(self):
        path = os.path.join(self.root.path, "changing.txt")
        first = self.server.get("/changing.txt").header("ETag")
        with open(path, "w") as f:
            f.write("version 2\n")  # same size, same second: mtime nanoseconds differ
        # Within the open-file cache's 1 s the old version may still be
        # served, but always whole: its own ETag with its own bytes.
        cached = self.server.get("/changing.txt")
        self.assertEqual(cached.header("ETag") == first, cached.body == b"version 1\n")
        time.sleep(1.2)
        second = self.server.get("/changing.txt")
        self.assertEqual(second.body, b"version 2\n")
        self.assertNotEqual(second.header("ETag"), first)


# What browsers, HLS players and nginx expect, whatever /etc/mime.types says.
WEB_TYPES = {
    "seg0.ts": "video/mp2t", "index.m3u8": "application/vnd.apple.mpegurl", "conf.yaml": "application/yaml",
    "conf.yml": "application/yaml", "mod.mjs": "text/javascript; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8", "site.css": "text/css; charset=utf-8",
    "app.wasm": "application/wasm", "logo.svg": "image/svg+xml", "data.json": "application/json",
    "app.js.map": "application/json", "pic.webp": "image/webp", "pic.avif": "image/avif",
    "font.woff2": "font/woff2", "site.webmanifest": "application/manifest+json",
    "subs.vtt": "text/vtt; charset=utf-8", "clip.mp4": "video/mp4", "clip.webm": "video/webm",
    "page.html": "text/html; charset=utf-8",
}


class WebTypes(harness.ServerTest):
    """Issue 16: .ts came out as text/vnd.trolltech.linguist (from
    /etc/mime.types) and .yaml as application/octet-stream."""

    @classmethod
    def populate(cls, root):
        for name in WEB_TYPES:
            root.write(name, "x")

    def test_web_types_win(self):
        for name, expected in WEB_TYPES.items():
            with self.subTest(name=name):
                self.assertEqual(self.server.get("/" + name).header("Content-Type"), expected)


class SiteMimeTypes(harness.ServerTest):
    """--mime-types FILE: a site's own types win over the built-in ones and
    /etc/mime.types; the rest stay."""

    @classmethod
    def setUpClass(cls):
        cls.types = tempfile.NamedTemporaryFile("w", suffix=".types", delete=False)
        cls.types.write("# site\ntext/vnd.trolltech.linguist ts\napplication/x-site-data sdat SDX\n")
        cls.types.close()
        cls.server_args = ("--mime-types", cls.types.name)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            os.unlink(cls.types.name)

    @classmethod
    def populate(cls, root):
        for name in ("tr.ts", "a.sdat", "b.sdx", "c.yaml", "d.html"):
            root.write(name, "x")

    def test_the_site_file_wins(self):
        for name, expected in (("tr.ts", "text/vnd.trolltech.linguist; charset=utf-8"),
                               ("a.sdat", "application/x-site-data"), ("b.sdx", "application/x-site-data"),
                               ("c.yaml", "application/yaml"), ("d.html", "text/html; charset=utf-8")):
            with self.subTest(name=name):
                self.assertEqual(self.server.get("/" + name).header("Content-Type"), expected)

    def test_bad_file_is_one_line_and_exit_2(self):
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "bad.types")
            with open(bad, "w") as f:
                f.write("text/plain txt\n<html> page\n")
            empty = os.path.join(d, "empty.types")
            open(empty, "w").close()
            for path, why in ((bad, f"{bad}: line 2: '<html>' is not a media type"),
                              (empty, f"{empty}: no 'type extension...' entry"),
                              (os.path.join(d, "missing.types"), "cannot be read")):
                with self.subTest(path=path):
                    out = subprocess.run([harness.BINARY, "--mime-types", path, "--root", self.root.path, "--port", "0"],
                                         capture_output=True, text=True, timeout=10)
                    self.assertEqual(out.returncode, 2, out.stderr)
                    self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)
                    self.assertIn("--mime-types ", out.stderr)
                    self.assertIn(why, out.stderr)


if __name__ == "__main__":
    harness.main()
