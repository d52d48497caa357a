#!/usr/bin/env python3
"""What the server takes back: a client that connects and never sends is
closed after the keep-alive timeout; large in-memory bodies do not stay with
the spare exchanges."""
import re
import socket
import threading
import time

import harness


class SilentClient(harness.ServerTest):
    """A client that connects and never sends a byte gets no CQE after the
    accept: its keep-alive timeout must run from the accept all the same."""
    server_args = ("--keepalive-timeout", "1", "--header-timeout", "1")

    @classmethod
    def populate(cls, root):
        root.write("a.txt", "a\n")

    def test_silent_connection_is_closed(self):
        c = self.server.client()
        start = time.time()
        self.assertTrue(c.closed_by_peer(timeout=6), "a connection that never sent a byte was never closed")
        self.assertGreater(time.time() - start, 0.9)
        c.close()
        self.assertEqual(self.server.wait_idle()["connections"], 0)

    def test_many_silent_connections_are_closed(self):
        socks = [socket.create_connection(("127.0.0.1", self.server.port), timeout=10) for _ in range(50)]
        try:
            # The server accepts them all, then closes them after the timeout.
            deadline = time.time() + 5
            s = self.server.stats()
            while s["connections"] < len(socks) and time.time() < deadline:
                time.sleep(0.05)
                s = self.server.stats()
            self.assertEqual(s["connections"], len(socks), s)
            deadline = time.time() + 8
            while s["connections"] and time.time() < deadline:
                time.sleep(0.2)
                s = self.server.stats()
            self.assertEqual(s["connections"], 0, s)
        finally:
            for s in socks:
                s.close()
        self.assertServerAlive()
        self.assertEqual(self.server.get("/a.txt").body, b"a\n")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) / 1024


class LargeInlineBodies(harness.ServerTest):
    """With a large --inline-max, every exchange that served an in-memory
    body holds it. Given back to the spares (up to 256 a worker), that
    memory must not stay resident once the burst is over."""
    SIZE = 4 << 20
    CLIENTS = 30
    server_args = ("--inline-max", str(8 << 20))

    @classmethod
    def populate(cls, root):
        root.write("big.bin", harness.payload(cls.SIZE, seed=11))

    def test_spares_do_not_keep_inline_bodies(self):
        if harness.sanitized():
            self.skipTest("resident memory means nothing under ASan")
        before = rss_mib(self.server.pid)
        # All requests in flight at once (small windows), so each takes an
        # exchange of its own.
        socks = []
        for _ in range(self.CLIENTS):
            s = harness.small_window_socket(self.server.port, rcvbuf=65536)
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            socks.append(s)
        got = {}

        def drain(s):
            data = b""
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
            got[s.fileno()] = data

        threads = [threading.Thread(target=drain, args=(s,)) for s in socks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        body = harness.payload(self.SIZE, seed=11)
        self.assertEqual(sum(d.endswith(b"\r\n\r\n" + body) for d in got.values()), self.CLIENTS)
        for s in socks:
            s.close()
        stats = self.server.wait_idle()
        after = rss_mib(self.server.pid)
        # 30 bodies of 4 MiB kept would be 120 MiB.
        self.assertLess(after - before, 40, f"{before:.0f} MiB before, {after:.0f} MiB after; {stats}")


if __name__ == "__main__":
    harness.main()
