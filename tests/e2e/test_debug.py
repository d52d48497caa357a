"""--debug logs one line per completion: op(result), connection, elapsed
microseconds. Without --debug nothing per request is logged."""

import re

import harness

LINE = re.compile(r" debug w\d+ (\w+)\((-?[A-Z0-9]+|-?\d+)\) (\w+)=?(\d*) (\d+)us")


class Debug(harness.ServerTest):
    server_args = ("--debug",)

    @classmethod
    def populate(cls, root):
        root.write("hello.txt", "hello\n")

    def test_one_request_names_every_completion(self):
        start = len(self.server.log())
        r = self.server.get("/hello.txt")
        self.assertEqual(r.body, b"hello\n")
        self.server.wait_log(r"close\(0\) conn=", start=start)
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
        self.assertEqual(results["openat"], "0")
        splices = [res for op, res, _ in ops if op == "splice"]
        self.assertEqual(splices, ["6", "6"])  # file->pipe, pipe->socket
        self.assertTrue(any("file->pipe" in l for l in self.server.log()[start:]))
        self.assertTrue(any("pipe->socket" in l for l in self.server.log()[start:]))

    def test_errors_are_named(self):
        start = len(self.server.log())
        self.assertEqual(self.server.get("/missing").status, 404)
        self.server.wait_log(r"openat\(-ENOENT\) conn=\d+ \d+us", start=start)
        self.server.wait_log(r"statx\(-ECANCELED\) conn=\d+ \d+us", start=start)


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
        lines = [l for l in self.server.log()[start:] if " stats: " not in l]
        self.assertEqual(lines, [])


if __name__ == "__main__":
    harness.main()
