"""--add-header and --expires through the real binary: every response gets
the extra headers; files matched by extension or path prefix get
Cache-Control and Expires, and ranges and conditionals keep working."""

import email.utils
import subprocess

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
        for flags in (["--add-header", "Bad Name: x"], ["--add-header", "X: a\rb"],
                      ["--add-header", "Content-Length: 1"], ["--expires", ".css=7w"],
                      ["--expires", "css=1d"]):
            out = subprocess.run([harness.BINARY, *flags], capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 2, flags)
            self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)
            self.assertIn(flags[0], out.stderr)


if __name__ == "__main__":
    harness.main()
