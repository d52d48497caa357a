#!/usr/bin/env python3
"""Memory per connection: an idle keep-alive connection holds only its small
core; a request's working state (parser, buffers, lookup, plan) is lent by
the worker while the request is answered and given back after."""
import os
import re
import resource
import socket
import subprocess

import harness

IDLE = 2000
REQUEST = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


class IdleConnections(harness.ServerTest):
    server_args = ("--max-conns", str(IDLE + 600))

    @classmethod
    def populate(cls, root):
        root.write("a.txt", "a" * 100)

    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < IDLE + 500:
            raise harness.unittest.SkipTest(f"RLIMIT_NOFILE hard limit {hard} < {IDLE + 500}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        super().setUpClass()

    def answered(self, s):
        got = b""
        while not got.endswith(b"a" * 100):
            chunk = s.recv(4096)
            self.assertTrue(chunk, "connection closed before its response")
            got += chunk
        self.assertTrue(got.startswith(b"HTTP/1.1 200 "))

    def open_idle(self, count, batch=250):
        """count keep-alive connections, each answered once, then left idle."""
        socks = []
        for start in range(0, count, batch):
            group = []
            for _ in range(min(batch, count - start)):
                s = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
                s.sendall(REQUEST)
                group.append(s)
            for s in group:
                self.answered(s)
            socks += group
        return socks

    def test_idle_connections_hold_no_request_state(self):
        # Warm up: the allocator, the spare exchanges, and every buffer of
        # the recv buffer ring (1024 of 4 KiB, used in turn: they become
        # resident one by one, a fixed cost that is not per connection).
        warm = self.open_idle(500)
        for _ in range(2):
            for s in warm:
                s.sendall(REQUEST)
            for s in warm:
                self.answered(s)
        before = rss_kib(self.server.pid)
        idle = self.open_idle(IDLE)
        stats = self.server.stats()
        after = rss_kib(self.server.pid)
        try:
            self.assertEqual(stats["connections"], IDLE + 500)
            # Exchanges are made for requests in flight, at most a batch at
            # once here, and past the spare bound they are destroyed: never
            # one per connection.
            self.assertLessEqual(stats["exchanges"], 256)
            if not harness.sanitized():
                per_conn = (after - before) * 1024 / IDLE
                print(f"RSS {before} KiB -> {after} KiB: {per_conn:.0f} bytes per idle connection")
                self.assertLess(per_conn, 2048)
            # Each idle connection still answers, with a fresh exchange.
            for s in idle[:: IDLE // 20]:
                s.sendall(REQUEST)
                self.answered(s)
        finally:
            for s in warm + idle:
                s.close()
        self.server.wait_idle()


class AllocationsPerRequest(harness.ServerTest):
    """In steady state a request allocates nothing: the exchange, the
    parser's fields, the plan and the inline body reuse their buffers. The
    server runs twice under a malloc-counting preload, with 300 and with 2,300
    requests of each kind; the difference is what the extra 2,000 cost."""

    @classmethod
    def populate(cls, root):
        root.write("small.css", "b" * 3000)
        root.write("page.html", "<p>" + "x" * 20000 + "</p>")
        root.write("large.bin", harness.payload(300_000, seed=3))
        root.write("some/deeper/directory/index.html", "<p>index</p>")

    @classmethod
    def setUpClass(cls):
        cls.root = harness.Root()  # a server per run, started by the test
        cls.populate(cls.root)

    @classmethod
    def tearDownClass(cls):
        cls.root.cleanup()

    KINDS = [
        b"GET /small.css HTTP/1.1\r\nHost: x\r\nUser-Agent: test-client/1.0 (a long enough agent)\r\n\r\n",
        b"GET /page.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\n\r\n",
        b'GET /small.css HTTP/1.1\r\nHost: x\r\nIf-None-Match: "other"\r\n'
        b"If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n",
        b"HEAD /page.html HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /nothing.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /a/longer/path/that/is/missing.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /some/deeper/directory/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /page.html HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n",
        b"GET /small.css HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9,100-199,-5\r\n\r\n",
    ]

    def run_server(self, rounds):
        preload = os.environ.get("ALLOC_COUNT", "")
        env = dict(os.environ, LD_PRELOAD=preload)
        # The error log's 404 lines (info) cost formatting per line let
        # through, at most 10 a second after a burst: a cost per second, not
        # per request, which the longer run would count as per request.
        server = harness.Server(self.root.path, "--cache-ttl-ms", "600000", "--log-level", "warn", env=env,
                                quiet=True)
        try:
            c = server.client()
            for _ in range(rounds):
                for req in self.KINDS:
                    c.send(req)
                    r = c.read_response(head_request=req.startswith(b"HEAD"))
                    self.assertIn(r.status, (200, 206, 404))
            # A large body takes the splice chain; its cost is not per request
            # of the kinds above, so it is only exercised, once per run.
            self.assertEqual(c.request("GET", "/large.bin").body, harness.payload(300_000, seed=3))
            c.close()
        finally:
            server.stop_checked()
        counts = [int(m.group(1)) for l in server.log() if (m := re.match(r"allocations (\d+)$", l))]
        self.assertEqual(len(counts), 1, "no allocation count in the log: " + "\n".join(server.log()[-5:]))
        return counts[0]

    def test_no_allocation_per_request(self):
        if harness.sanitized():
            self.skipTest("the sanitizer runtime must come first: no preload")
        preload = os.environ.get("ALLOC_COUNT", "")
        if not preload or not os.path.exists(preload):
            self.fail("ALLOC_COUNT does not name the built alloc_count module (run through meson test)")
        few = self.run_server(300)
        many = self.run_server(2300)
        per_request = (many - few) / (2000 * len(self.KINDS))
        print(f"allocations: {few} with 300 rounds, {many} with 2300: {per_request:.3f} per request")
        self.assertLess(per_request, 0.01)


if __name__ == "__main__":
    harness.main()
