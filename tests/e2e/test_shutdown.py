"""SIGTERM: stop accepting, finish the responses in flight, close idle
connections, exit 0."""

import os
import shutil
import signal
import socket
import tempfile
import time

import harness
import tls_certs

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


class SilentConnections(harness.unittest.TestCase):
    """A connection that was accepted but has sent nothing (or not finished
    its TLS handshake) is given a moment for its first request after SIGTERM
    (it may be on its way: a binary hand-over), not the keep-alive or the
    handshake timeout: a browser's preconnected socket must not hold every
    restart for the whole --shutdown-timeout."""

    def stop_with_silent_connections(self, server, port):
        socks = []
        try:
            socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]
            # TCP_DEFER_ACCEPT holds a connection that sent nothing in the
            # kernel for a second or more; the test needs them accepted.
            deadline = time.monotonic() + 20
            while server.stats()["connections"] < len(socks):
                self.assertLess(time.monotonic(), deadline, "the silent connections were never accepted")
                time.sleep(0.2)
            start = time.monotonic()
            rc = server.stop(timeout=40)
            elapsed = time.monotonic() - start
            self.assertEqual(rc, 0)
            # Two seconds of grace at most (and the worker's tick), not 30.
            self.assertLess(elapsed, 8, "\n".join(server.log()[-5:]))
            self.assertFalse([l for l in server.log() if "still busy" in l])
            for s in socks:  # closed, not answered: they asked nothing
                s.settimeout(5)
                try:
                    self.assertEqual(s.recv(100), b"")
                except ConnectionResetError:
                    pass
            server.assert_no_sanitizer_reports()
        finally:
            for s in socks:
                s.close()
            if server.alive():
                server.proc.kill()

    def test_silent_connections_do_not_hold_the_exit(self):
        root = harness.Root()
        self.addCleanup(root.cleanup)
        root.write("small.txt", "small\n")
        server = harness.Server(root.path, "--shutdown-timeout", "30", "--keepalive-timeout", "60", threads=2)
        self.stop_with_silent_connections(server, server.port)

    def test_silent_tls_connections_do_not_hold_the_exit(self):
        if not shutil.which("openssl"):
            self.skipTest("openssl not installed")
        certs = tempfile.mkdtemp(prefix="splicehttpd-certs-")
        self.addCleanup(shutil.rmtree, certs, True)
        cert, key = tls_certs.make_leaf(certs, "localhost")
        root = harness.Root()
        self.addCleanup(root.cleanup)
        root.write("small.txt", "small\n")
        server = harness.Server(root.path, "--tls-port", "0", "--tls-cert", cert, "--tls-key", key, "--shutdown-timeout",
                                "30", "--tls-handshake-timeout", "60", threads=2)
        self.stop_with_silent_connections(server, server.tls_port())

if __name__ == "__main__":
    harness.main()
