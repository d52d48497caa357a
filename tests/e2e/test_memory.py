#!/usr/bin/env python3
"""Memory per connection: an idle keep-alive connection holds only its small
core; a request's working state (parser, buffers, lookup, plan) is lent by
the worker while the request is answered and given back after."""
import re
import resource
import socket

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


if __name__ == "__main__":
    harness.main()
