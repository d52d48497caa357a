"""Keep-alive, pipelining, and requests that arrive a byte at a time."""

import re
import socket
import threading
import time

import harness


class KeepAlive(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        for i in range(30):
            root.write(f"p{i}.txt", f"pipelined response number {i}\n" * (i + 1))
        root.write("big.bin", harness.payload(3 << 20))
        root.write("small.txt", "small\n")

    def test_200_requests_on_one_connection(self):
        before = self.server.stats()["accepted"]
        c = self.server.client()
        for i in range(200):
            name = f"p{i % 30}.txt"
            r = c.request("GET", "/" + name)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, (f"pipelined response number {i % 30}\n" * (i % 30 + 1)).encode())
            self.assertIsNone(r.header("Connection"))
        c.close()
        self.assertEqual(self.server.stats()["accepted"] - before, 1)

    def test_30_pipelined_in_one_write(self):
        c = self.server.client()
        c.send("".join(f"GET /p{i}.txt HTTP/1.1\r\nHost: t\r\n\r\n" for i in range(30)))
        for i in range(30):
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, (f"pipelined response number {i}\n" * (i + 1)).encode())
        # and the connection is still usable
        self.assertEqual(c.request("GET", "/small.txt").body, b"small\n")
        c.close()

    def test_pipelined_mix_in_order(self):
        c = self.server.client()
        c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
               "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n"
               "HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
               "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        r = c.read_response()
        self.assertEqual((r.status, r.body == harness.payload(3 << 20)), (200, True))
        self.assertEqual(c.read_response().status, 404)
        r = c.read_response(head_request=True)
        self.assertEqual((r.status, r.header("Content-Length")), (200, str(3 << 20)))
        self.assertEqual(c.read_response().body, b"small\n")
        c.close()

    def test_request_a_byte_at_a_time(self):
        c = self.server.client()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in b"GET /p3.txt HTTP/1.1\r\nHost: t\r\nUser-Agent: dribble\r\n\r\n":
            c.send(bytes([b]))
            time.sleep(0.002)
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"pipelined response number 3\n" * 4)
        c.close()

    def test_input_backpressure(self):
        # 1000 pipelined requests (~170 KB) for 3 MiB each, written while the
        # responses are read in parallel: the server stops reading (cancels
        # its multishot recv) while its buffered input is large, and resumes.
        c = self.server.client(timeout=60)
        req = ("GET /big.bin HTTP/1.1\r\nHost: t\r\nX-Pad: " + "p" * 100 + "\r\n\r\n").encode()
        n = 1000
        writer = threading.Thread(target=lambda: c.sock.sendall(req * n))
        writer.start()
        want = harness.payload(3 << 20)
        for i in range(n):
            r = c.read_response()
            self.assertEqual(r.status, 200)
            if i % 97 == 0:
                self.assertTrue(r.body == want)
        writer.join(30)
        self.assertEqual(c.request("GET", "/small.txt").body, b"small\n")
        c.close()

    def test_http10_closes_unless_asked(self):
        c = self.server.client()
        r = c.request("GET", "/small.txt", version="HTTP/1.0")
        self.assertEqual((r.status, r.body), (200, b"small\n"))
        self.assertEqual(r.header("Connection"), "close")
        self.assertTrue(c.closed_by_peer())
        c.close()

        c = self.server.client()
        for _ in range(3):
            r = c.request("GET", "/small.txt", {"Connection": "keep-alive"}, version="HTTP/1.0")
            self.assertEqual(r.header("Connection"), "keep-alive")
            self.assertEqual(r.body, b"small\n")
        c.close()

    def test_connection_close_is_honoured(self):
        c = self.server.client()
        r = c.request("GET", "/small.txt", {"Connection": "close"})
        self.assertEqual(r.header("Connection"), "close")
        self.assertTrue(c.closed_by_peer())
        c.close()

    def test_half_close_after_pipelined_requests(self):
        # A client may send its requests and shut its side down: every
        # request is still answered before the server closes.
        c = self.server.client()
        c.send("GET /p1.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /p2.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(c.read_response().body, b"pipelined response number 1\n" * 2)
        self.assertEqual(c.read_response().body, b"pipelined response number 2\n" * 3)
        self.assertTrue(c.closed_by_peer())
        c.close()




def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


class InputBound(harness.ServerTest):
    """A client that pipelines requests and never reads the answers: once
    its responses fill the socket the server stops reading, so neither the
    client's writes nor the server's memory grow with what it sends."""
    MiB = 1 << 20

    @classmethod
    def populate(cls, root):
        root.write("chunk.bin", harness.payload(60_000))  # in memory, one send each

    def test_30_mb_of_requests_unread(self):
        self.assertEqual(self.server.get("/chunk.bin").status, 200)  # warm
        before = vm_rss_kb(self.server.pid)
        req = b"GET /chunk.bin HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 100 + b"\r\n\r\n"
        burst = req * (65536 // len(req))
        c = self.server.client()
        c.sock.setblocking(False)
        sent, last_progress = 0, time.monotonic()
        # Write until 30 MB are out or the writes have made no progress for
        # a second (the server stopped taking them).
        while sent < 30 * self.MiB and time.monotonic() - last_progress < 1:
            try:
                sent += c.sock.send(burst)
                last_progress = time.monotonic()
            except BlockingIOError:
                time.sleep(0.01)
        grown_kb = vm_rss_kb(self.server.pid) - before
        harness.reset(c.sock)
        self.assertLess(sent, 30 * self.MiB, "the server read everything")
        if not harness.sanitized():  # ASan's quarantine keeps freed memory
            self.assertLess(grown_kb, 8 * 1024, f"{sent} bytes sent")
        self.server.wait_idle()
        self.assertEqual(self.server.get("/chunk.bin").status, 200)


class TimeoutsApart(harness.ServerTest):
    """The idle and header timeouts told apart: far enough apart that a
    once-a-second tick cannot blur them, and each checked for the state it
    belongs to."""
    server_args = ("--keepalive-timeout", "1", "--header-timeout", "4")

    @classmethod
    def populate(cls, root):
        root.write("small.txt", "small\n")

    def test_idle_connection_closes_silently_after_the_keepalive_timeout(self):
        c = self.server.client()
        self.assertEqual(c.request("GET", "/small.txt").body, b"small\n")
        start = time.monotonic()
        self.assertTrue(c.closed_by_peer(timeout=3.5))  # long before 4 s
        self.assertGreater(time.monotonic() - start, 0.9)
        self.assertEqual(c.buf, b"")  # no 408 for a connection between requests
        c.close()

    def test_unfinished_head_gets_408_after_the_header_timeout(self):
        c = self.server.client()
        c.send("GET /small.txt HTTP/1.1\r\nHost: t\r\n")
        start = time.monotonic()
        r = c.read_response()
        elapsed = time.monotonic() - start
        self.assertEqual(r.status, 408)
        self.assertGreater(elapsed, 3.5)  # not the 1 s idle timeout
        self.assertLess(elapsed, 6.5)
        c.close()


class Timeouts(harness.ServerTest):
    server_args = ("--keepalive-timeout", "1", "--header-timeout", "2")

    @classmethod
    def populate(cls, root):
        root.write("small.txt", "small\n")
        root.write("big.bin", harness.payload(3 << 20))

    def test_idle_connection_is_closed(self):
        c = self.server.client()
        self.assertEqual(c.request("GET", "/small.txt").body, b"small\n")
        start = time.time()
        self.assertTrue(c.closed_by_peer(timeout=5))
        self.assertGreater(time.time() - start, 0.9)
        c.close()
        self.assertEqual(self.server.wait_idle()["connections"], 0)

    def test_slow_request_head_gets_408(self):
        c = self.server.client()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.time()
        c.send("GET /small.txt HTTP/1.1\r\n")
        # Dribbling does not extend the deadline: it counts from the first
        # byte. A line every 0.3 s, on and on, until the 408 interrupts it.
        c.sock.settimeout(0.3)
        while time.time() - start < 8 and b"\r\n\r\n" not in c.buf:
            try:
                chunk = c.sock.recv(65536)
                if not chunk:
                    break
                c.buf += chunk
            except socket.timeout:
                try:
                    c.send("X-Slow: 1\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    break
        c.sock.settimeout(30)
        r = c.read_response()
        self.assertEqual(r.status, 408)
        self.assertEqual(r.header("Connection"), "close")
        self.assertTrue(c.closed_by_peer())
        self.assertLess(time.time() - start, 4)  # 2 s and the once-a-second tick
        c.close()

    def test_busy_connections_are_not_idle(self):
        # Requests one after another, each well within the timeouts, for
        # longer than the keep-alive timeout in total.
        c = self.server.client()
        for _ in range(6):
            self.assertEqual(c.request("GET", "/big.bin").body, harness.payload(3 << 20))
            time.sleep(0.4)
        c.close()


if __name__ == "__main__":
    harness.main()
