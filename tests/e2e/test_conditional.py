"""Conditional requests on the wire (RFC 9110 §13.2.2 order)."""

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


if __name__ == "__main__":
    harness.main()
