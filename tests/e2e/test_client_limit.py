"""--max-conns-per-ip N (nginx's limit_conn): past N connections from one
address, a new one is closed at once, unanswered, and counted (the stats
line's refused_per_ip); the count is the process's, over every worker
(SO_REUSEPORT spreads one client's connections over them all); closing one
lets the next in; another address is not affected."""

import socket
import time

import harness

LIMIT = 3


def connect_from(port, source, timeout=10):
    """A client bound to a source address (127.0.0.2 is loopback too)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    c = harness.Client.__new__(harness.Client)
    c.sock, c.buf = s, b""
    return c


class ClientLimit(harness.ServerTest):
    server_args = ("--max-conns-per-ip", str(LIMIT))
    threads = 2

    @classmethod
    def populate(cls, root):
        root.write("index.html", "<p>hi</p>\n")

    def served(self, c):
        r = c.request("GET", "/index.html")
        self.assertEqual((r.status, r.body), (200, b"<p>hi</p>\n"))

    def refused(self, c):
        """Closed without a byte of response."""
        try:
            c.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return True
        closed = c.closed_by_peer()
        return closed and c.buf == b""

    def test_past_the_limit_a_connection_is_closed_and_counted(self):
        before = self.server.stats()["refused_per_ip"]
        # Enough connections that both workers take some: the limit is the
        # process's, not a worker's.
        held = [self.server.client() for _ in range(LIMIT)]
        for c in held:
            self.served(c)
        extra = self.server.client()
        self.assertTrue(self.refused(extra))
        extra.close()
        # The ones held are still served.
        for c in held:
            self.served(c)
        self.assertEqual(self.server.stats()["refused_per_ip"], before + 1)

        # Another address is not affected.
        other = connect_from(self.server.port, "127.0.0.2")
        self.served(other)

        # Closing one lets the next in (once the server has seen the close).
        held.pop().close()
        deadline = time.time() + 10
        while True:
            c = self.server.client()
            try:
                self.served(c)
                break
            except (ConnectionError, AssertionError, OSError):
                c.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        held.append(c)
        late = self.server.client()
        self.assertTrue(self.refused(late))
        late.close()
        for c in held + [other]:
            c.close()
        s = self.server.wait_idle()
        self.assertGreaterEqual(s["refused_per_ip"], before + 2)

    def test_every_slot_is_given_back(self):
        """Refused and served connections alike leave nothing counted: after
        they all close, LIMIT new ones are served again."""
        for _ in range(3):
            conns = [self.server.client() for _ in range(LIMIT + 2)]
            outcomes = []
            for c in conns:
                try:
                    r = c.request("GET", "/index.html")
                    outcomes.append(r.status)
                except (ConnectionError, OSError):
                    outcomes.append(None)
            self.assertEqual(outcomes.count(200), LIMIT, outcomes)
            for c in conns:
                c.close()
            self.server.wait_idle()


if __name__ == "__main__":
    harness.main()
