"""--debug logs one line per completion: op(result), connection, elapsed
microseconds. Without --debug nothing per request is logged."""

import re
import socket

import harness

LINE = re.compile(r" debug w\d+ (\w+)\((-?[A-Z0-9]+|-?\d+)\) (\w+)=?(\d*) (\d+)us")


class Debug(harness.ServerTest):
    """--cache off --inline-max 0: every request takes the whole chain."""
    server_args = ("--debug", "--cache", "off", "--inline-max", "0")

    @classmethod
    def populate(cls, root):
        root.write("hello.txt", "hello\n")

    def test_one_request_names_every_completion(self):
        start = len(self.server.log())
        r = self.server.get("/hello.txt")
        self.assertEqual(r.body, b"hello\n")
        self.server.wait_log(r"splice\(6\) conn=\d+ \d+us pipe->socket", start=start)
        self.wait_closed(start)
        ops = []
        for line in self.server.log()[start:]:
            m = LINE.search(line)
            if m:
                ops.append((m.group(1), m.group(2), m.group(3)))
        names = [op for op, _, _ in ops]
        for op in ("accept", "recv", "openat", "statx", "send", "splice", "close"):
            self.assertIn(op, names, "\n".join(self.server.log()[start:]))
        results = dict((op, res) for op, res, _ in ops if op != "splice")
        self.assertEqual(results["statx"], "0")
        self.assertGreaterEqual(int(results["openat"]), 0)  # a descriptor
        splices = [res for op, res, _ in ops if op == "splice"]
        self.assertEqual(splices, ["6", "6"])  # file->pipe, pipe->socket
        self.assertTrue(any("file->pipe" in l for l in self.server.log()[start:]))
        self.assertTrue(any("pipe->socket" in l for l in self.server.log()[start:]))

    def test_errors_are_named(self):
        start = len(self.server.log())
        self.assertEqual(self.server.get("/missing").status, 404)
        self.server.wait_log(r"openat\(-ENOENT\) conn=\d+ \d+us", start=start)
        self.wait_closed(start)
        # Nothing was opened, so nothing is described: statx runs on the
        # descriptor, never by path.
        self.assertFalse([l for l in self.server.log()[start:] if " statx(" in l])

    def wait_closed(self, start):
        """Until the connection's socket close has completed and been logged."""
        self.server.wait_log(r"close\(0\) conn=", start=start)


class DebugInline(harness.ServerTest):
    """By default a small body is read into memory and goes out with its
    head in one send: no pipe, no splice."""
    server_args = ("--debug",)

    @classmethod
    def populate(cls, root):
        root.write("hello.txt", "hello\n")

    def test_small_body_is_read_then_sent(self):
        start = len(self.server.log())
        r = self.server.get("/hello.txt")
        self.assertEqual(r.body, b"hello\n")
        self.server.wait_log(r"close\(0\) conn=", start=start)
        ops = [(m.group(1), m.group(2)) for m in map(LINE.search, self.server.log()[start:]) if m]
        names = [op for op, _ in ops]
        for op in ("accept", "recv", "openat", "statx", "read", "send", "close"):
            self.assertIn(op, names, ops)
        self.assertNotIn("splice", names)
        self.assertEqual(dict(ops)["read"], "6")
        self.assertEqual(int(dict(ops)["send"]), len(r.raw_head) + 6)


class DebugInlineBoundary(harness.ServerTest):
    """--inline-max is inclusive: a body of exactly that size is read into
    memory, one byte more takes the splice chain."""
    server_args = ("--debug", "--inline-max", "4096")

    @classmethod
    def populate(cls, root):
        root.write("at.bin", harness.payload(4096))
        root.write("over.bin", harness.payload(4097))

    def ops_for(self, path, size):
        start = len(self.server.log())
        self.assertEqual(self.server.get(path).body, harness.payload(size))
        self.server.wait_log(r"close\(0\) conn=", start=start)
        return [m.group(1) for m in map(LINE.search, self.server.log()[start:]) if m]

    def test_inline_max_is_inclusive(self):
        ops = self.ops_for("/at.bin", 4096)
        self.assertIn("read", ops)
        self.assertNotIn("splice", ops)
        ops = self.ops_for("/over.bin", 4097)
        self.assertIn("splice", ops)
        self.assertNotIn("read", ops)


class PoolGrowth(harness.ServerTest):
    """With one pipe and room for a second, a second large transfer in
    flight makes the pool grow: through the ring (no syscall) where the
    kernel has IORING_OP_PIPE."""
    server_args = ("--debug", "--pipes", "1", "--pipes-max", "2")

    @classmethod
    def populate(cls, root):
        root.write("big.bin", harness.payload(16 << 20))

    def test_pool_grows(self):
        ready = self.server.wait_log(r"grown through (IORING_OP_PIPE|pipe2)")
        clients = []
        for _ in range(2):
            c = self.server.client()
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
            c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            clients.append(c)
        if "IORING_OP_PIPE" in ready:
            self.server.wait_log(r"pipe\(0\) pool=\d+ \d+us")
        for c in clients:
            self.assertTrue(c.read_response().body == harness.payload(16 << 20))
            c.close()
        self.assertEqual(self.server.stats()["pipes"], 2)


class Quiet(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        root.write("hello.txt", "hello\n")

    def test_nothing_per_request_without_debug(self):
        start = len(self.server.log())
        for _ in range(20):
            self.assertEqual(self.server.get("/hello.txt").status, 200)
            self.assertEqual(self.server.get("/missing").status, 404)
        self.server.stats()  # an info line we wait for: the log is flushed
        # The error log's lines for the 404s are not per-completion noise:
        # one per missing file (rate-limited), and nothing else.
        lines = [l for l in self.server.log()[start:] if " stats: " not in l]
        error_log = [l for l in lines if re.search(r' info open\(\) "[^"]*/missing" failed \(2: ', l)]
        self.assertEqual(len(error_log), 20)
        self.assertEqual([l for l in lines if l not in error_log], [])


if __name__ == "__main__":
    harness.main()
