"""The open-file cache: a hot file is answered without openat, statx or read;
entries are revalidated after --cache-ttl-ms; missing siblings are
remembered; an idle server lets go of every descriptor; --cache off takes
the whole chain every time."""

import os
import re
import time

import harness

LINE = re.compile(r" debug w\d+ (\w+)\((-?[A-Z0-9]+|-?\d+)\) conn=(\d+) ")


def ops_between(server, start):
    return [m.group(1) for m in map(LINE.search, server.log()[start:]) if m]


class Cache(harness.ServerTest):
    server_args = ("--debug",)

    @classmethod
    def populate(cls, root):
        root.write("hot.txt", "hot\n")
        root.write("app.js", harness.payload(3000))
        root.write("big.bin", harness.payload(300_000))
        root.write("mid.bin", harness.payload(50_000, seed=9))
        root.write("tiny.txt", "tiny\n")
        root.write("swap.txt", "AAAA")

    def request_ops(self, path, headers=None):
        start = len(self.server.log())
        c = self.server.client()
        r = c.request("GET", path, headers)
        c.close()
        self.server.wait_log(r"close\(0\) conn=", start=start)
        return r, ops_between(self.server, start)

    def test_hot_small_file_needs_no_lookup_and_no_read(self):
        r1, first = self.request_ops("/hot.txt")
        self.assertEqual(r1.body, b"hot\n")
        self.assertIn("openat", first)
        self.assertIn("statx", first)
        self.assertIn("read", first)
        r2, second = self.request_ops("/hot.txt")
        self.assertEqual(r2.body, b"hot\n")
        self.assertEqual(r2.header("etag"), r1.header("etag"))
        for op in ("openat", "statx", "read", "splice"):
            self.assertNotIn(op, second)
        self.assertIn("send", second)

    def test_hot_mid_file_is_sent_from_the_cache_copy(self):
        """Above 16 KiB a cached body goes out from the cache's copy in a
        second send, not copied behind the head: two sends, no read, no
        splice, the same bytes; ranges too."""
        body = harness.payload(50_000, seed=9)
        r1, first = self.request_ops("/mid.bin")
        self.assertEqual(r1.body, body)
        self.assertIn("read", first)
        r2, second = self.request_ops("/mid.bin")
        self.assertEqual(r2.body, body)
        self.assertEqual(second.count("send"), 2, second)
        for op in ("openat", "statx", "read", "splice"):
            self.assertNotIn(op, second)
        r3, third = self.request_ops("/mid.bin", {"Range": "bytes=20000-20099,40000-"})
        self.assertEqual(r3.status, 206)
        self.assertIn(body[20000:20100], r3.body)
        self.assertIn(body[40000:], r3.body)
        self.assertNotIn("splice", third)
        # Keep-alive: a small cached file after it is one send again.
        start = len(self.server.log())
        c = self.server.client()
        for path, want in (("/mid.bin", body), ("/tiny.txt", b"tiny\n"), ("/mid.bin", body), ("/tiny.txt", b"tiny\n")):
            self.assertEqual(c.request("GET", path).body, want)
        c.close()
        self.server.wait_log(r"close\(0\) conn=", start=start)  # before the next test counts ops

    def test_large_file_keeps_its_descriptor(self):
        self.request_ops("/big.bin")
        r, ops = self.request_ops("/big.bin")
        self.assertEqual(r.body, harness.payload(300_000))
        self.assertNotIn("openat", ops)
        self.assertIn("splice", ops)

    def test_missing_siblings_are_remembered(self):
        gz = {"Accept-Encoding": "br, gzip"}
        _, first = self.request_ops("/app.js", gz)
        self.assertEqual(first.count("openat"), 3)  # app.js, app.js.br, app.js.gz
        r, second = self.request_ops("/app.js", gz)
        self.assertEqual(r.body, harness.payload(3000))
        self.assertIsNone(r.header("content-encoding"))
        self.assertNotIn("openat", second)

    def test_revalidated_after_the_ttl(self):
        path = os.path.join(self.root.path, "swap.txt")
        self.assertEqual(self.server.get("/swap.txt").body, b"AAAA")
        tmp = path + ".new"
        with open(tmp, "wb") as f:
            f.write(b"BBBBBBBB")
        os.rename(tmp, path)
        r = self.server.get("/swap.txt")  # within the ttl: the old file, whole
        self.assertIn((r.body, r.header("content-length")), [(b"AAAA", "4"), (b"BBBBBBBB", "8")])
        time.sleep(1.3)
        r = self.server.get("/swap.txt")
        self.assertEqual(r.body, b"BBBBBBBB")
        self.assertEqual(r.header("content-length"), "8")

    def test_idle_server_holds_no_deleted_file(self):
        doomed = self.root.write("doomed.bin", harness.payload(100_000))
        self.assertEqual(self.server.get("/doomed.bin").body, harness.payload(100_000))
        os.remove(doomed)
        stats = self.server.wait_idle()
        self.assertEqual(stats["cached_files"], 0)
        self.assertFalse([t for t in self.server.fds().values() if "(deleted)" in t])


class CacheOff(harness.ServerTest):
    server_args = ("--debug", "--cache", "off")

    @classmethod
    def populate(cls, root):
        root.write("hot.txt", "hot\n")

    def test_every_request_takes_the_whole_lookup(self):
        for _ in range(2):
            start = len(self.server.log())
            self.assertEqual(self.server.get("/hot.txt").body, b"hot\n")
            self.server.wait_log(r"close\(0\) conn=", start=start)
            ops = ops_between(self.server, start)
            for op in ("openat", "statx", "read", "send"):
                self.assertIn(op, ops)
        self.assertEqual(self.server.stats()["cached_files"], 0)


class CacheBounded(harness.ServerTest):
    server_args = ("--cache-entries", "2", "--cache-bytes", "100")

    @classmethod
    def populate(cls, root):
        for i in range(6):
            root.write(f"f{i}.txt", harness.payload(60, seed=i))

    def test_entries_and_bytes_are_bounded(self):
        for _ in range(2):
            for i in range(6):
                self.assertEqual(self.server.get(f"/f{i}.txt").body, harness.payload(60, seed=i))
        s = self.server.stats()
        self.assertLessEqual(s["cached_files"], 2)
        self.assertLessEqual(s["cache_bytes"], 100)


if __name__ == "__main__":
    harness.main()
