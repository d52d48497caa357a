"""Clients that reset mid-download: the server cancels their work, releases
their fixed slots and pipes (drained before reuse), and every later response
is byte-exact. A file that shrinks while it is sent aborts that connection
only."""

import os
import socket
import struct
import threading
import time

import harness

MiB = 1 << 20
BIG = 32 * MiB
RESETS = 300


def reset_mid_download(port, path, read_bytes):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    got = 0
    while got < read_bytes:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += len(chunk)
    # SO_LINGER with a zero timeout: close() sends RST, not FIN.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return got


def non_pipe_fds(server):
    return sorted(t for t in server.fds().values() if not t.startswith("pipe:"))


class Resets(harness.ServerTest):
    threads = 2
    server_args = ("--pipes", "4", "--pipes-max", "8")

    @classmethod
    def populate(cls, root):
        root.write("big.bin", harness.payload(BIG))
        for size in (1, 4097, 65537, MiB + 13, 5 * MiB + 3):
            root.write(f"f{size}.bin", harness.payload(size))

    def test_300_resets_leave_nothing_behind(self):
        # Warm up so that the baseline includes everything created lazily.
        for size in (1, 4097, MiB + 13):
            self.assertEqual(self.server.get(f"/f{size}.bin").body, harness.payload(size))
        self.server.wait_idle()
        baseline = non_pipe_fds(self.server)

        errors = []

        def worker(k):
            for i in range(RESETS // 30):
                try:
                    reset_mid_download(self.server.port, "/big.bin", (64 + 97 * (k * 10 + i)) * 1024 % (8 * MiB))
                except OSError as e:
                    errors.append(repr(e))

        ts = [threading.Thread(target=worker, args=(k,)) for k in range(30)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(300)
        self.assertEqual(errors, [])
        self.assertServerAlive()

        stats = self.server.wait_idle()
        # Descriptors: the same as before, plus two per pipe the pools grew
        # by (bounded by --pipes-max).
        self.assertEqual(non_pipe_fds(self.server), baseline)
        pipe_fds = [t for t in self.server.fds().values() if t.startswith("pipe:")]
        self.assertEqual(len(pipe_fds) - 1, 2 * stats["pipes"], pipe_fds)  # fd 2 is our stderr pipe
        self.assertLessEqual(stats["pipes"], 2 * 8)
        # Resets cut splices short, so some pipes came back holding data;
        # they were drained, never handed out dirty. A drain into /dev/null
        # does not fail, so none had to be replaced.
        self.assertGreater(stats["pipes_drained"], 0, stats)
        self.assertEqual(stats["pipes_replaced"], 0, stats)

        # Every pipe in every pool is reused now: all responses byte-exact.
        results = []

        def fetch(size):
            c = self.server.client()
            for _ in range(3):
                results.append((size, c.request("GET", f"/f{size}.bin").body == harness.payload(size)))
            c.close()

        sizes = [1, 4097, 65537, MiB + 13, 5 * MiB + 3] * 4
        ts = [threading.Thread(target=fetch, args=(s,)) for s in sizes]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        self.assertEqual(len(results), 3 * len(sizes))
        self.assertTrue(all(ok for _, ok in results), [s for s, ok in results if not ok])
        r = self.server.get("/big.bin")
        self.assertTrue(r.body == harness.payload(BIG))


class Shrink(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        cls.path = root.write("shrinking.bin", harness.payload(BIG))
        root.write("ok.txt", "still serving\n")

    def test_file_shrinks_mid_send(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(b"GET /shrinking.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        got = s.recv(65536)
        os.truncate(self.path, MiB)
        received = len(got)
        while True:
            try:
                chunk = s.recv(1 << 20)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += len(chunk)
        s.close()
        head = got.split(b"\r\n\r\n", 1)[0]
        self.assertIn(b"Content-Length: %d" % BIG, head)
        # The connection was cut short of the promised length...
        self.assertLess(received, BIG)
        # ...and the server carries on.
        self.assertEqual(self.server.get("/ok.txt").body, b"still serving\n")
        self.server.wait_idle()




class SlowReader(harness.ServerTest):
    """A peer that stops reading holds a splice on io-wq only until
    --send-timeout: then the connection is dropped and its pipe drained."""
    server_args = ("--send-timeout", "1")

    @classmethod
    def populate(cls, root):
        root.write("big.bin", harness.payload(BIG))
        root.write("ok.txt", "ok\n")

    def test_stalled_peer_is_dropped(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(self.server.get("/ok.txt").body, b"ok\n")  # others are served meanwhile
        stats = self.server.wait_idle(timeout=15)
        self.assertGreater(stats["pipes_drained"], 0, stats)
        self.assertEqual(stats["pipes_replaced"], 0, stats)
        received = 0
        try:
            while chunk := s.recv(1 << 20):
                received += len(chunk)
        except ConnectionResetError:
            pass
        s.close()
        self.assertLess(received, BIG)

    def test_stalled_peer_of_small_responses_is_dropped(self):
        # Only header-sized responses (HEAD): the sends wait on poll, which
        # SO_SNDTIMEO does not bound; the worker's tick does.
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)

        def flood():
            try:
                s.sendall(b"HEAD /ok.txt HTTP/1.1\r\nHost: t\r\n\r\n" * 200_000)
            except OSError:
                pass

        writer = threading.Thread(target=flood)
        writer.start()
        time.sleep(1)
        self.assertEqual(self.server.wait_idle(timeout=15)["connections"], 0)
        writer.join(30)
        s.close()


if __name__ == "__main__":
    harness.main()
