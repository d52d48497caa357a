"""SIGTERM: stop accepting, finish the responses in flight, close idle
connections, exit 0."""

import os
import signal
import socket
import time

import harness

MiB = 1 << 20
BIG = 32 * MiB


class Shutdown(harness.unittest.TestCase):
    def setUp(self):
        self.root = harness.Root()
        self.root.write("big.bin", harness.payload(BIG))
        self.root.write("small.txt", "small\n")
        # A grace period no loaded machine runs out of: these tests are about
        # what finishes, ShutdownTimeout about the limit.
        self.server = harness.Server(self.root.path, "--shutdown-timeout", "60", threads=2)

    def tearDown(self):
        if self.server.alive():
            self.server.proc.kill()
        self.server.stop()
        self.root.cleanup()

    def test_in_flight_response_completes(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        data = s.recv(65536)
        idle = self.server.client()
        self.assertEqual(idle.request("GET", "/small.txt").body, b"small\n")

        os.kill(self.server.pid, signal.SIGTERM)
        self.server.wait_log("SIGTERM")
        # Slowly: the transfer is still in flight while the server stops.
        time.sleep(0.5)
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        s.close()
        head, body = data.split(b"\r\n\r\n", 1)
        self.assertEqual(len(body), BIG)
        self.assertTrue(body == harness.payload(BIG))
        # The idle keep-alive connection was closed, not left hanging.
        self.assertTrue(idle.closed_by_peer())
        idle.close()
        self.assertEqual(self.server.proc.wait(60), 0)
        self.assertRaises(ConnectionRefusedError, socket.create_connection, ("127.0.0.1", self.server.port), 2)

    def test_new_connections_refused_after_stop(self):
        c = self.server.client()
        c.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        c.sock.recv(1024)
        os.kill(self.server.pid, signal.SIGTERM)
        self.server.wait_log("SIGTERM")
        time.sleep(0.2)
        # Refused, or at worst closed unanswered; a timeout is neither and
        # fails the test.
        try:
            n = socket.create_connection(("127.0.0.1", self.server.port), timeout=2)
        except ConnectionRefusedError:
            pass
        else:
            try:
                n.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
                answer = n.recv(100)
            except (ConnectionResetError, BrokenPipeError):
                answer = b""
            n.close()
            self.assertEqual(answer, b"")
        c.close()
        self.assertEqual(self.server.proc.wait(30), 0)


class ShutdownTimeout(harness.unittest.TestCase):
    """--shutdown-timeout bounds how long a response in flight may hold the
    exit: a client that never reads is cut when it runs out."""

    def test_a_stuck_response_is_cut_after_the_timeout(self):
        root = harness.Root()
        root.write("big.bin", harness.payload(BIG))
        server = harness.Server(root.path, "--shutdown-timeout", "1")
        try:
            s = harness.small_window_socket(server.port)
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.3)  # never read: the response cannot finish
            start = time.monotonic()
            rc = server.stop(timeout=8)
            elapsed = time.monotonic() - start
            s.close()
            self.assertEqual(rc, 0)
            self.assertGreater(elapsed, 0.8)
            self.assertLess(elapsed, 4)
            server.wait_log(r"still busy after 1s")
        finally:
            if server.alive():
                server.proc.kill()
            root.cleanup()


if __name__ == "__main__":
    harness.main()
