"""The demo site and the minimal HTTP of the core: index, Content-Type by
extension, 404, 403, 301, 400 -- with curl as users see it, and raw sockets."""

import os
import subprocess

import harness

HTDOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "htdocs")

TYPES = {
    "page.html": "text/html; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "data.json": "application/json",
    "notes.txt": "text/plain; charset=utf-8",
    "pic.png": "image/png",
    "photo.jpg": "image/jpeg",
    "logo.svg": "image/svg+xml",
    "blob.weird": "application/octet-stream",
    "noextension": "application/octet-stream",
}


class DemoSite(harness.unittest.TestCase):
    """tools/serve serves htdocs/: the same files through the real binary,
    started as tools/serve starts it (as root, that is as nobody)."""

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(os.path.abspath(HTDOCS), allow_root=False)

    def test_every_file_as_tools_serve_serves_it(self):
        """Every file of the site in git is readable by the user the server
        switches to when tools/serve runs it as root."""
        if os.geteuid() == 0:
            self.server.wait_log("serving as nobody")
        out = subprocess.run(["git", "-C", HTDOCS, "ls-files", "-z", "."], capture_output=True, timeout=30)
        if out.returncode != 0:
            self.skipTest("htdocs is not in a git checkout")
        names = [n for n in out.stdout.decode().split("\0") if n]
        self.assertGreater(len(names), 5, names)
        for name in names:
            with self.subTest(name=name):
                r = self.server.get("/" + name)
                self.assertEqual(r.status, 200)
                with open(os.path.join(HTDOCS, name), "rb") as f:
                    self.assertEqual(r.body, f.read())

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def test_curl_shows_the_index(self):
        curl = harness.require_program("curl")
        out = subprocess.run([curl, "-sv", f"http://127.0.0.1:{self.server.port}/"],
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0)
        with open(os.path.join(HTDOCS, "index.html"), "rb") as f:
            self.assertEqual(out.stdout, f.read())
        err = out.stderr.decode()
        self.assertIn("< HTTP/1.1 200 OK", err)
        self.assertIn("< Content-Type: text/html; charset=utf-8", err)
        self.assertIn("< Server: splicehttpd", err)

    def test_assets(self):
        for path, ctype in (("/css/site.css", "text/css; charset=utf-8"),
                            ("/img/logo.svg", "image/svg+xml"),
                            ("/img/gradient.png", "image/png")):
            with self.subTest(path=path):
                r = self.server.get(path)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("Content-Type"), ctype)
                with open(HTDOCS + path, "rb") as f:
                    self.assertEqual(r.body, f.read())


class Basics(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        for name in TYPES:
            root.write(name, f"content of {name}\n")
        root.write("sub/index.html", "<p>sub index</p>\n")
        root.write("noindex/file.txt", "x")

    def test_content_types(self):
        for name, ctype in TYPES.items():
            with self.subTest(name=name):
                r = self.server.get("/" + name)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("Content-Type"), ctype)
                self.assertEqual(r.body, f"content of {name}\n".encode())

    def test_index_for_directory(self):
        r = self.server.get("/sub/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"<p>sub index</p>\n")
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")

    def test_missing_is_404(self):
        for path in ("/nope", "/sub/nope.html", "/page.html/x", "/nodir/"):
            with self.subTest(path=path):
                self.assertEqual(self.server.get(path).status, 404)

    def test_directory_without_index_is_403(self):
        self.assertEqual(self.server.get("/noindex/").status, 403)

    def test_directory_without_slash_redirects(self):
        r = self.server.get("/sub")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), "/sub/")

    def test_unparsable_is_400_and_close(self):
        c = self.server.client()
        c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")  # a TLS hello
        r = c.read_response()
        self.assertEqual(r.status, 400)
        self.assertEqual(r.header("Connection"), "close")
        self.assertTrue(c.closed_by_peer())
        c.close()
        self.assertEqual(self.server.get("/page.html").status, 200)

    def test_every_response_has_date_and_server(self):
        for path in ("/page.html", "/nope", "/sub", "/noindex/"):
            with self.subTest(path=path):
                r = self.server.get(path)
                self.assertEqual(r.header("Server"), "splicehttpd")
                self.assertRegex(r.header("Date"), r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$")


if __name__ == "__main__":
    harness.main()
