#!/usr/bin/env python3
"""Regressions found reviewing the Connection/Exchange split, the deadline
queues, the allocation-free plans and --sqpoll."""
import socket
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


if __name__ == "__main__":
    harness.main()
