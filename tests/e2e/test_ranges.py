"""Range requests through the wire: single, open-ended, suffix, clamped,
unsatisfiable, ignored, multipart/byteranges, the amplification defence,
If-Range, HEAD, and offsets past 4 GiB."""

import os
import re

import harness

SIZE = 1_000_003
DATA = harness.payload(SIZE)
GiB = 1 << 30
SPARSE = 5 * GiB + 12345
MARK_AT = 4 * GiB + 4097  # off a page boundary, past 4 GiB
MARK = b"past-four-gibibytes"


def parse_multipart(r):
    m = re.match(r"multipart/byteranges; boundary=(\S+)$", r.header("Content-Type"))
    assert m, r.header("Content-Type")
    boundary = m.group(1).encode()
    parts = []
    body = r.body
    assert body.startswith(b"--" + boundary + b"\r\n"), body[:80]
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n"), body[-80:]
    pos = 0
    while True:
        start = body.index(b"--" + boundary, pos)
        if body[start + len(boundary) + 2:start + len(boundary) + 4] == b"--":
            break
        head_end = body.index(b"\r\n\r\n", start)
        head = body[start:head_end].decode()
        cr = re.search(r"Content-Range: bytes (\d+)-(\d+)/(\d+)", head)
        first, last, total = map(int, cr.groups())
        data = body[head_end + 4:head_end + 4 + (last - first + 1)]
        parts.append((first, last, total, data, head))
        pos = head_end + 4 + len(data)
        assert body[pos:pos + 2] == b"\r\n"
    return parts


class Ranges(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        root.write("data.bin", DATA)
        root.write("empty.bin", b"")
        path = root.write("sparse.bin", b"")
        with open(path, "r+b") as f:
            f.truncate(SPARSE)
            f.seek(MARK_AT)
            f.write(MARK)

    def rng(self, spec, path="/data.bin", extra=None):
        headers = {"Range": spec}
        headers.update(extra or {})
        return self.server.get(path, headers)

    def assertPartial(self, r, first, last, size=SIZE, data=DATA):
        self.assertEqual(r.status, 206)
        self.assertEqual(r.header("Content-Range"), f"bytes {first}-{last}/{size}")
        self.assertEqual(int(r.header("Content-Length")), last - first + 1)
        self.assertEqual(r.body, data[first:last + 1])

    def test_single_ranges(self):
        for spec, first, last in (
            ("bytes=0-0", 0, 0), ("bytes=0-99", 0, 99), ("bytes=4095-4096", 4095, 4096),
            ("bytes=12345-", 12345, SIZE - 1), ("bytes=-500", SIZE - 500, SIZE - 1),
            ("bytes=-99999999", 0, SIZE - 1), ("bytes=999000-99999999", 999000, SIZE - 1),
            ("bytes=1-700001", 1, 700001),
        ):
            with self.subTest(spec=spec):
                self.assertPartial(self.rng(spec), first, last)

    def test_unsatisfiable(self):
        for spec in (f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"):
            with self.subTest(spec=spec):
                r = self.rng(spec)
                self.assertEqual(r.status, 416)
                self.assertEqual(r.header("Content-Range"), f"bytes */{SIZE}")
        r = self.rng("bytes=0-0", "/empty.bin")
        self.assertEqual((r.status, r.header("Content-Range")), (416, "bytes */0"))

    def test_malformed_or_other_unit_is_ignored(self):
        for spec in ("bytes=abc", "bytes=5-1", "items=0-1", "bytes", "bytes=1-2,x", "bytes=--3"):
            with self.subTest(spec=spec):
                r = self.rng(spec)
                self.assertEqual(r.status, 200)
                self.assertIsNone(r.header("Content-Range"))
                self.assertTrue(r.body == DATA)

    def test_multipart(self):
        r = self.rng("bytes=0-9, 5000-5099, -7")
        self.assertEqual(r.status, 206)
        parts = parse_multipart(r)
        self.assertEqual([(p[0], p[1]) for p in parts], [(0, 9), (5000, 5099), (SIZE - 7, SIZE - 1)])
        for first, last, total, data, head in parts:
            self.assertEqual(total, SIZE)
            self.assertEqual(data, DATA[first:last + 1])
            self.assertIn("Content-Type: application/octet-stream", head)
        self.assertEqual(int(r.header("Content-Length")), len(r.body))

    def test_overlapping_ranges_merge(self):
        r = self.rng("bytes=100-199,150-299,300-399")
        self.assertPartial(r, 100, 399)
        # One range inside another: coalesced into the outer one (RFC 9110
        # §14.3 allows it), a single part rather than two overlapping ones.
        for spec in ("bytes=0-99,10-19", "bytes=10-19,0-99"):
            with self.subTest(spec=spec):
                self.assertPartial(self.rng(spec), 0, 99)
        parts = parse_multipart(self.rng("bytes=500-599,0-99,50-149"))
        self.assertEqual([(p[0], p[1]) for p in parts], [(0, 149), (500, 599)])

    def test_amplification_is_served_whole(self):
        for spec in ("bytes=" + ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(17)),
                     "bytes=" + ",".join(["0-"] * 20),
                     "bytes=0-700000,300000-"):
            with self.subTest(spec=spec[:40]):
                r = self.rng(spec)
                self.assertEqual(r.status, 200)
                self.assertTrue(r.body == DATA)
        # Ranges adding up to exactly the file size are served as ranges; one
        # byte more and the whole file is sent instead.
        half = SIZE // 2
        r = self.rng(f"bytes=0-{half - 1},10-{SIZE - half + 9}")
        self.assertPartial(r, 0, SIZE - half + 9)
        r = self.rng(f"bytes=0-{half - 1},10-{SIZE - half + 10}")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.body == DATA)
        sixteen = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(16))
        self.assertEqual(len(parse_multipart(self.rng(sixteen))), 16)

    def test_head_ignores_range(self):
        # On one connection: a HEAD that sent the range (or anything) as a
        # body would shift the next response.
        c = self.server.client()
        r = c.request("HEAD", "/data.bin", {"Range": "bytes=0-9"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), str(SIZE))
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(r.header("Accept-Ranges"), "bytes")
        self.assertEqual(r.body, b"")
        self.assertPartial(c.request("GET", "/data.bin", {"Range": "bytes=5-14"}), 5, 14)
        c.close()

    def test_if_range(self):
        ok = self.server.get("/data.bin")
        etag, lm = ok.header("ETag"), ok.header("Last-Modified")
        self.assertPartial(self.rng("bytes=10-19", extra={"If-Range": etag}), 10, 19)
        self.assertPartial(self.rng("bytes=10-19", extra={"If-Range": lm}), 10, 19)
        for stale in ('"stale"', "W/" + etag, "Thu, 01 Jan 1970 00:00:00 GMT", etag + " junk", lm + " junk"):
            with self.subTest(if_range=stale):
                r = self.rng("bytes=10-19", extra={"If-Range": stale})
                self.assertEqual(r.status, 200)
                self.assertTrue(r.body == DATA)

    def test_offsets_past_4_gib(self):
        r = self.rng(f"bytes={MARK_AT - 3}-{MARK_AT + len(MARK) + 2}", "/sparse.bin")
        self.assertEqual(r.status, 206)
        self.assertEqual(r.header("Content-Range"), f"bytes {MARK_AT - 3}-{MARK_AT + len(MARK) + 2}/{SPARSE}")
        self.assertEqual(r.body, b"\0\0\0" + MARK + b"\0\0\0")
        r = self.rng("bytes=-10", "/sparse.bin")
        self.assertEqual(r.header("Content-Range"), f"bytes {SPARSE - 10}-{SPARSE - 1}/{SPARSE}")
        self.assertEqual(r.body, b"\0" * 10)
        r = self.server.get("/sparse.bin", method="HEAD")
        self.assertEqual(r.header("Content-Length"), str(SPARSE))


class RangesTinyPipe(Ranges):
    """Unaligned range starts against a one-page pipe."""
    server_args = ("--pipe-size", "4096", "--chain-pairs", "2")


if __name__ == "__main__":
    harness.main()
