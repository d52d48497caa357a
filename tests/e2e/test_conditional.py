"""Conditional requests on the wire (RFC 9110 §13.2.2 order), and ETags
that two hosts serving the same files agree on."""

import gzip
import os
import shutil

import harness

LM = "Tue, 14 Nov 2023 22:13:20 GMT"
BEFORE = "Tue, 14 Nov 2023 22:13:19 GMT"
AFTER = "Wed, 15 Nov 2023 00:00:00 GMT"


class Conditional(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        root.write("file.txt", "conditional\n", mtime=1700000000)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.etag = cls.server.get("/file.txt").header("ETag")

    def check(self, headers, status, method="GET"):
        r = self.server.get("/file.txt", headers, method=method)
        self.assertEqual(r.status, status, headers)
        return r

    def test_not_modified(self):
        for headers in (
            {"If-None-Match": self.etag},
            {"If-None-Match": "*"},
            {"If-None-Match": f'"a", {self.etag}, "b"'},
            {"If-None-Match": "W/" + self.etag},  # weak comparison
            {"If-Modified-Since": LM},
            {"If-Modified-Since": AFTER},
            {"If-Modified-Since": "Tuesday, 14-Nov-23 22:13:20 GMT"},
            {"If-Modified-Since": "Tue Nov 14 22:13:20 2023"},
        ):
            with self.subTest(headers=headers):
                r = self.check(headers, 304)
                self.assertEqual(r.header("ETag"), self.etag)
                self.assertEqual(r.header("Last-Modified"), LM)
                self.assertIsNotNone(r.header("Date"))
                self.assertIsNone(r.header("Content-Length"))
                self.assertEqual(r.body, b"")
        self.check({"If-None-Match": self.etag}, 304, method="HEAD")

    def test_modified(self):
        for headers in (
            {"If-None-Match": '"other"'},
            {"If-Modified-Since": BEFORE},
            {"If-Modified-Since": "not a date"},
            {"If-Modified-Since": "Tue, 14 Nov 2023 22:13:20 UTC"},
            {"If-None-Match": '"other"', "If-Modified-Since": AFTER},  # INM wins over IMS
        ):
            with self.subTest(headers=headers):
                self.assertEqual(self.check(headers, 200).body, b"conditional\n")

    def test_preconditions_fail_with_412(self):
        for headers in (
            {"If-Match": '"other"'},
            {"If-Match": "W/" + self.etag},  # strong comparison
            {"If-Unmodified-Since": BEFORE},
        ):
            with self.subTest(headers=headers):
                r = self.check(headers, 412)
                self.assertEqual(int(r.header("Content-Length")), len(r.body))

    def test_preconditions_pass(self):
        for headers in (
            {"If-Match": self.etag},
            {"If-Match": "*"},
            {"If-Unmodified-Since": LM},
            {"If-Unmodified-Since": "garbage"},
            {"If-Match": self.etag, "If-Unmodified-Since": BEFORE},  # If-Match wins
        ):
            with self.subTest(headers=headers):
                self.assertEqual(self.check(headers, 200).body, b"conditional\n")

    def test_if_match_checked_before_if_none_match(self):
        self.check({"If-Match": '"other"', "If-None-Match": self.etag}, 412)


class SameFilesSameEtag(harness.unittest.TestCase):
    """Issue 16: the ETag held the inode, so two servers behind one load
    balancer gave different ETags for the same file and caches revalidated
    for nothing. The same files copied with their mtimes (rsync -t, cp -p;
    shutil.copy2 here), so with other inodes, served by two instances: the
    same ETags, and one instance's ETag answers 304 on the other."""

    @classmethod
    def setUpClass(cls):
        cls.roots = [harness.Root(), harness.Root()]
        origin = cls.roots[0]
        os.utime(origin.write("app.js", "let shared = 1;\n" * 40), ns=(1700000000_123456789,) * 2)
        os.utime(origin.write("app.js.gz", gzip.compress(b"let shared = 1;\n" * 40)), ns=(1700000000_123456789,) * 2)
        origin.write("big.bin", harness.payload(300_000), mtime=1700000000)
        for name in ("app.js", "app.js.gz", "big.bin"):
            shutil.copy2(os.path.join(origin.path, name), os.path.join(cls.roots[1].path, name))
        cls.servers = []
        for root in cls.roots:
            cls.servers.append(harness.Server(root.path))

    @classmethod
    def tearDownClass(cls):
        try:
            for server in cls.servers:
                server.stop_checked()
        finally:
            for root in cls.roots:
                root.cleanup()

    def test_copies_have_the_same_etag(self):
        for name in ("app.js", "big.bin"):
            a, b = (os.stat(os.path.join(root.path, name)) for root in self.roots)
            self.assertNotEqual(a.st_ino, b.st_ino)
            self.assertEqual(a.st_mtime_ns, b.st_mtime_ns)
        for path, accept in (("/app.js", None), ("/app.js", "gzip"), ("/big.bin", None)):
            with self.subTest(path=path, accept=accept):
                headers = {"Accept-Encoding": accept} if accept else {}
                first, second = (server.get(path, headers) for server in self.servers)
                self.assertEqual((first.status, second.status), (200, 200))
                self.assertEqual(first.header("Content-Encoding"), second.header("Content-Encoding"))
                self.assertEqual(first.body, second.body)
                self.assertEqual(first.header("ETag"), second.header("ETag"))
                r = self.servers[1].get(path, dict(headers, **{"If-None-Match": first.header("ETag")}))
                self.assertEqual(r.status, 304)
                r = self.servers[1].get(path, dict(headers, **{"Range": "bytes=0-9", "If-Range": first.header("ETag")}))
                self.assertEqual(r.status, 206)

    def test_identity_and_gzip_differ(self):
        identity = self.servers[0].get("/app.js").header("ETag")
        gz = self.servers[0].get("/app.js", {"Accept-Encoding": "gzip"}).header("ETag")
        self.assertNotEqual(identity, gz)
        self.assertRegex(gz, r'^"[0-9a-f]+-[0-9a-f]+\.[0-9a-f]+-gzip"$')
        r = self.servers[0].get("/app.js", {"If-None-Match": identity, "Accept-Encoding": "gzip"})
        self.assertEqual(r.status, 200)  # the identity's ETag does not validate the gzip copy


if __name__ == "__main__":
    harness.main()
