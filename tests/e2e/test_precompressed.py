"""Precompressed siblings: x.br / x.gz for x when the client accepts them and
the sibling's mtime is not in an earlier second than x's; --debug says why
one was skipped."""

import gzip
import os

import harness

JS = b"console.log('hello from splicehttpd');\n" * 50
OLD, NEW = 1700000000, 1700000100


class Precompressed(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        root.write("app.js", JS, mtime=OLD)
        root.write("app.js.br", b"BROTLI-BYTES", mtime=NEW)  # content is opaque to the server
        root.write("app.js.gz", gzip.compress(JS), mtime=NEW)
        root.write("style.css", b"body{}\n" * 20, mtime=NEW)
        root.write("style.css.gz", gzip.compress(b"body{}\n" * 20), mtime=OLD)  # stale
        root.write("only.json", b'{"a": 1}\n', mtime=OLD)
        root.write("only.json.gz", gzip.compress(b'{"a": 1}\n'), mtime=NEW)
        # Same mtime: not older, so served. Compared to the second: brotli -k
        # gives x.br the mtime of x rounded down to the second (utime with
        # whole seconds, as done here), so a sibling in x's own second is
        # fresh; one in an earlier second, even by a nanosecond, is stale.
        root.write("same.css", b"same{}\n" * 20, mtime=NEW)
        root.write("same.css.gz", gzip.compress(b"same{}\n" * 20), mtime=NEW)
        os.utime(root.write("nano.css", b"nano{}\n" * 20), ns=(NEW * 10**9 + 500, NEW * 10**9 + 500))
        os.utime(root.write("nano.css.gz", gzip.compress(b"nano{}\n" * 20)), ns=(NEW * 10**9 + 499,) * 2)
        os.utime(root.write("kept.js", JS), ns=(NEW * 10**9 + 700_000_000,) * 2)
        root.write("kept.js.br", b"BROTLI-KEPT", mtime=NEW)
        os.utime(root.write("early.css", b"early{}\n" * 20), ns=(NEW * 10**9,) * 2)
        os.utime(root.write("early.css.gz", gzip.compress(b"early{}\n" * 20)), ns=(NEW * 10**9 - 1,) * 2)
        root.write("pic.png", b"PNG", mtime=OLD)
        root.write("pic.png.gz", b"never", mtime=NEW)
        root.write("docs/index.html", b"<p>docs</p>\n" * 10, mtime=OLD)
        root.write("docs/index.html.gz", gzip.compress(b"<p>docs</p>\n" * 10), mtime=NEW)

    def get(self, path, accept=None, extra=None):
        headers = {"Accept-Encoding": accept} if accept else {}
        headers.update(extra or {})
        return self.server.get(path, headers)

    def test_brotli_preferred(self):
        r = self.get("/app.js", "gzip, deflate, br")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Encoding"), "br")
        self.assertEqual(r.body, b"BROTLI-BYTES")
        self.assertEqual(r.header("Content-Type"), "text/javascript; charset=utf-8")
        self.assertEqual(r.header("Vary"), "Accept-Encoding")

    def test_gzip(self):
        r = self.get("/app.js", "gzip")
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(r.body), JS)
        r = self.get("/only.json", "br, gzip")  # no .br: falls back to .gz
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(self.get("/docs/", "gzip").header("Content-Encoding"), "gzip")

    def test_identity(self):
        for accept in (None, "identity", "br;q=0, gzip;q=0", "deflate"):
            with self.subTest(accept=accept):
                r = self.get("/app.js", accept)
                self.assertIsNone(r.header("Content-Encoding"))
                self.assertEqual(r.body, JS)
                self.assertEqual(r.header("Vary"), "Accept-Encoding")

    def test_sibling_as_new_as_the_file_is_served(self):
        r = self.get("/same.css", "gzip")
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(r.body), b"same{}\n" * 20)
        r = self.get("/nano.css", "gzip")
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(r.body), b"nano{}\n" * 20)

    def test_sibling_made_by_brotli_k_is_served(self):
        r = self.get("/kept.js", "br")
        self.assertEqual((r.header("Content-Encoding"), r.body), ("br", b"BROTLI-KEPT"))

    def test_sibling_from_an_earlier_second_is_stale(self):
        r = self.get("/early.css", "gzip")
        self.assertIsNone(r.header("Content-Encoding"))
        self.assertEqual(r.body, b"early{}\n" * 20)

    def test_stale_sibling_is_ignored(self):
        r = self.get("/style.css", "gzip")
        self.assertIsNone(r.header("Content-Encoding"))
        self.assertEqual(r.body, b"body{}\n" * 20)

    def test_incompressible_types_are_not_looked_up(self):
        r = self.get("/pic.png", "gzip")
        self.assertIsNone(r.header("Content-Encoding"))
        self.assertIsNone(r.header("Vary"))
        self.assertEqual(r.body, b"PNG")

    def test_sibling_has_its_own_etag_and_ranges(self):
        identity = self.get("/app.js")
        encoded = self.get("/app.js", "gzip")
        self.assertNotEqual(identity.header("ETag"), encoded.header("ETag"))
        with open(os.path.join(self.root.path, "app.js.gz"), "rb") as f:
            gz = f.read()
        r = self.get("/app.js", "gzip", {"Range": "bytes=0-9"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.header("Content-Range"), f"bytes 0-9/{len(gz)}")
        self.assertEqual(r.body, gz[:10])
        r = self.get("/app.js", "gzip", {"If-None-Match": encoded.header("ETag")})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.header("Content-Encoding"), "gzip")


class PrecompressedDebug(harness.ServerTest):
    """--debug says why a sibling was passed over, one line per response."""
    server_args = ("--debug",)
    populate = Precompressed.populate

    def test_skipped_sibling_is_explained(self):
        start = len(self.server.log())
        r = self.server.get("/style.css", {"Accept-Encoding": "gzip"})
        self.assertIsNone(r.header("Content-Encoding"))
        line = self.server.wait_log(r"precompressed style\.css\.gz skipped: older than style\.css "
                                    rf"\(mtime second {OLD} < {NEW}\)", start=start)
        self.assertIn(" debug ", line)
        start = len(self.server.log())
        self.assertEqual(self.server.get("/app.js", {"Accept-Encoding": "br"}).header("Content-Encoding"), "br")
        self.server.wait_log(r"close\(0\) conn=|recv\(0\) conn=", start=start)
        self.assertFalse([l for l in self.server.log()[start:] if "skipped" in l])


class PrecompressedOff(harness.ServerTest):
    server_args = ("--precompressed", "off")
    populate = Precompressed.populate

    def test_off_serves_identity_without_vary(self):
        r = self.server.get("/app.js", {"Accept-Encoding": "br, gzip"})
        self.assertIsNone(r.header("Content-Encoding"))
        self.assertIsNone(r.header("Vary"))
        self.assertEqual(r.body, JS)


if __name__ == "__main__":
    harness.main()
