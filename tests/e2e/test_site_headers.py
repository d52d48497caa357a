"""--add-header and --expires through the real binary: every response gets
the extra headers; files matched by extension or path prefix get
Cache-Control and Expires, and ranges and conditionals keep working."""

import email.utils
import os

import harness


class SiteHeaders(harness.ServerTest):
    server_args = ("--add-header", "X-Frame-Options: DENY",
                   "--add-header", "Strict-Transport-Security: max-age=63072000",
                   "--expires", ".html=off", "--expires", "/img/=1h", "--expires", ".css=7d")

    @classmethod
    def populate(cls, root):
        root.write("index.html", "<p>hi</p>\n")
        root.write("css/site.css", "body{}\n" * 100)
        root.write("img/a.png", harness.payload(70_000))
        root.write("img/b.html", "x\n")
        root.write("other.txt", "t\n")

    def check_extra(self, r):
        self.assertEqual(r.header("x-frame-options"), "DENY")
        self.assertEqual(r.header("strict-transport-security"), "max-age=63072000")

    def check_expires(self, r, seconds):
        self.assertEqual(r.header("cache-control"), f"max-age={seconds}")
        date = email.utils.parsedate_to_datetime(r.header("date"))
        expires = email.utils.parsedate_to_datetime(r.header("expires"))
        self.assertLessEqual(abs((expires - date).total_seconds() - seconds), 1)

    def test_every_response_has_the_extra_headers(self):
        for path, status in (("/index.html", 200), ("/missing", 404), ("/img", 301), ("/css/", 403)):
            r = self.server.get(path)
            self.assertEqual(r.status, status, path)
            self.check_extra(r)

    def test_expires_by_extension_and_prefix(self):
        self.check_expires(self.server.get("/css/site.css"), 7 * 86400)
        self.check_expires(self.server.get("/img/a.png"), 3600)
        for path in ("/index.html", "/img/b.html", "/other.txt", "/missing"):
            r = self.server.get(path)
            self.assertIsNone(r.header("cache-control"), path)
            self.assertIsNone(r.header("expires"), path)

    def test_ranges_and_conditionals_keep_working(self):
        full = self.server.get("/img/a.png")
        r = self.server.get("/img/a.png", {"Range": "bytes=100-199"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, harness.payload(70_000)[100:200])
        self.check_expires(r, 3600)
        self.check_extra(r)
        r = self.server.get("/img/a.png", {"If-None-Match": full.header("etag")})
        self.assertEqual(r.status, 304)
        self.check_expires(r, 3600)
        self.check_extra(r)

    def test_bad_flags_are_one_line_and_exit_2(self):
        harness.assert_bad_flags(self, (["--add-header", "Bad Name: x"], ["--add-header", "X: a\rb"],
                                        ["--add-header", "Content-Length: 1"], ["--expires", ".css=7w"],
                                        ["--expires", "css=1d"],
                                        # 213503982334602 days wrap int64 to max-age=61184 (issue 16 F)
                                        ["--expires", ".css=213503982334602d"],
                                        ["--expires", "/=2562047788015216h"], ["--expires", ".js=3651d"]))


class Fallback(harness.ServerTest):
    """--fallback /index.html: a missing path answers with that file, like
    nginx's try_files $uri /index.html; ranges and conditionals still work."""
    server_args = ("--fallback", "/index.html")

    @classmethod
    def populate(cls, root):
        root.write("index.html", "<div id=app></div>\n")
        root.write("app.js", "let x\n")
        root.write("assets/logo.txt", "logo\n")

    def test_missing_paths_get_the_app(self):
        for path in ("/users/42", "/deep/route", "/deep/route/here", "/deep/route/", "/v1.2/users"):
            r = self.server.get(path)
            self.assertEqual((r.status, r.body), (200, b"<div id=app></div>\n"), path)
            self.assertEqual(r.header("content-type"), "text/html; charset=utf-8")
        self.assertEqual(self.server.get("/app.js").body, b"let x\n")
        self.assertEqual(self.server.get("/assets/logo.txt").body, b"logo\n")
        r = self.server.get("/users/42")
        self.assertEqual(self.server.get("/other", {"If-None-Match": r.header("etag")}).status, 304)
        r = self.server.get("/other", {"Range": "bytes=0-3"})
        self.assertEqual((r.status, r.body), (206, b"<div"))
        self.assertEqual(self.server.get("/assets/").status, 403)  # a directory is not missing

    def test_missing_assets_stay_404(self):
        """Issue 16: /assets/missing.js got 200 text/html with the app shell,
        which a browser then fails to run as a script."""
        for path in ("/assets/missing.js", "/missing.png", "/assets/missing.txt", "/app.v2.css"):
            r = self.server.get(path)
            self.assertEqual(r.status, 404, path)
            self.assertNotEqual(r.body, b"<div id=app></div>\n", path)


class FallbackPrefix(harness.ServerTest):
    """--fallback-prefix /app/: the app shell only for missing paths beneath
    it, as nginx's try_files inside location /app/."""
    server_args = ("--fallback", "/app/index.html", "--fallback-prefix", "/app/", "--fallback-prefix", "/admin/")

    @classmethod
    def populate(cls, root):
        root.write("app/index.html", "<div id=app></div>\n")

    def test_only_beneath_the_prefixes(self):
        for path in ("/app/users/42", "/app/deep/", "/admin/x"):
            r = self.server.get(path)
            self.assertEqual((r.status, r.body), (200, b"<div id=app></div>\n"), path)
        for path in ("/users/42", "/other/route/", "/app/missing.js", "/"):
            self.assertEqual(self.server.get(path).status, 404 if path != "/" else 403, path)

    def test_bad_flags_exit_2(self):
        harness.assert_bad_flags(self, (["--fallback-prefix", "app/", "--fallback", "/index.html"],
                                        ["--fallback-prefix", "/app/"]))


class ErrorPages(harness.ServerTest):
    """--error-page 404=/404.html: the page, with the original status."""
    server_args = ("--error-page", "404=/errors/404.html", "--error-page", "403=/errors/403.html",
                   "--error-page", "500=/errors/missing.html")

    @classmethod
    def populate(cls, root):
        root.write("errors/404.html", "<h1>Nothing here</h1>\n")
        root.write("errors/403.html", "<h1>Not for you</h1>\n")
        root.write("dir/x.txt", "x\n")

    def test_the_page_with_the_status(self):
        r = self.server.get("/missing")
        self.assertEqual((r.status, r.body), (404, b"<h1>Nothing here</h1>\n"))
        self.assertEqual(r.header("content-type"), "text/html; charset=utf-8")
        self.assertIsNone(r.header("etag"))
        r = self.server.get("/missing", method="HEAD")
        self.assertEqual((r.status, r.header("content-length")), (404, "22"))
        r = self.server.get("/dir/")  # no index.html: 403
        self.assertEqual((r.status, r.body), (403, b"<h1>Not for you</h1>\n"))
        r = self.server.get("/missing", {"Range": "bytes=0-3"})  # never partial
        self.assertEqual(r.status, 404)
        self.assertEqual(len(r.body), 22)
        self.assertEqual(self.server.get("/dir/x.txt").status, 200)

    def test_bad_specs_exit_2(self):
        harness.assert_bad_flags(self, (["--error-page", "404"], ["--error-page", "200=/a.html"],
                                        ["--error-page", "404=a.html"], ["--error-page", "404=/../x"],
                                        ["--fallback", "/"], ["--fallback", "index.html"]))


class SiteFileWarnings(harness.ServerTest):
    """Issue 16: --fallback /missing.html and --error-page 403=/nope.html
    started without a word and then served the built-in pages. Each file a
    flag names is checked at start-up: one warning line per problem, naming
    the flag and the path. Warned, not refused, as nginx starts with such a
    configuration: the site may be deployed after the server starts."""
    server_args = ("--fallback", "/missing.html", "--error-page", "403=/nope.html", "--error-page", "404=/errors",
                   "--error-page", "410=/away.html", "--error-page", "500=/ok.html")

    @classmethod
    def populate(cls, root):
        root.write("ok.html", "<h1>ok</h1>\n")
        root.write("errors/404.html", "x\n")
        os.symlink(root.outside("away.html", b"outside\n"), os.path.join(root.path, "away.html"))

    def test_one_warning_per_file_that_cannot_be_served(self):
        warnings = [l for l in self.server.log() if " warning " in l and ("--fallback" in l or "--error-page" in l)]
        expected = (
            f"--fallback /missing.html: no such file beneath --root {self.root.path}",
            f"--error-page 403=/nope.html: no such file beneath --root {self.root.path}",
            "--error-page 404=/errors: not a regular file",
            f"--error-page 410=/away.html: a symlink that leaves --root {self.root.path}",
        )
        for text in expected:
            self.assertEqual(len([l for l in warnings if text in l]), 1, (text, warnings))
        self.assertEqual(len(warnings), len(expected), warnings)
        self.assertFalse([l for l in warnings if "/ok.html" in l])
        # Still served with the built-in pages, as before.
        self.assertEqual(self.server.get("/nothing").status, 404)


if __name__ == "__main__":
    harness.main()
