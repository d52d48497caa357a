"""Every bounded resource held full by stalled clients, then one more request.

The worst defects so far lived exactly there: a structure with a bound (the
open-file cache, the pipe pool, the listing memory) behaves while it has
room, and breaks when every entry is held by a client that stopped reading
and someone asks for one more. Each class here fills one bound with clients
that send a request and never read (their receive window kept small, so the
response stays in flight), then asks for more and checks that the answer is
right, prompt, and that nothing stays behind once the stalled clients go.
"""

import os
import socket
import time

import harness

KiB = 1 << 10
MiB = 1 << 20


def stall(port, request):
    """A client that sends `request` and never reads: its response stays in
    flight, holding whatever the server gave it."""
    s = harness.small_window_socket(port)
    s.sendall(request.encode())
    return s


def get_request(path, extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n"


def wait_for(predicate, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def files_open_under(server, root):
    return sorted(t for t in server.fds().values() if t.startswith(root + "/"))


class CacheHeldFull(harness.ServerTest):
    """Issue 16 A: with every cache entry held by a stalled response, the
    entry installed for one more file was freed by its own install: its
    descriptor leaked for good (and, once reused, the memory served another
    file's bytes)."""
    server_args = ("--cache-entries", "2", "--send-timeout", "60")

    @classmethod
    def populate(cls, root):
        for i in range(8):
            # Equal sizes: a mix-up of two entries would not show in the
            # length, only in the bytes.
            root.write(f"f{i}.bin", harness.payload(2 * MiB, seed=i))

    def test_one_more_file_while_every_entry_is_held(self):
        stalled = [stall(self.server.port, get_request(f"/f{i}.bin")) for i in range(2)]
        try:
            wait_for(lambda: self.server.stats()["waiting_writable"] == 2, "two stalled responses")
            for round_ in range(2):
                for i in range(2, 8):
                    r = self.server.get(f"/f{i}.bin")
                    self.assertEqual(r.status, 200)
                    self.assertEqual(r.body, harness.payload(2 * MiB, seed=i), f"f{i}.bin round {round_}")
            s = self.server.stats()
            # Over the bound only by what is in use (the two stalled).
            self.assertLessEqual(s["cached_files"], 2 + 2, s)
        finally:
            for s in stalled:
                harness.reset(s)
        self.server.wait_idle()
        # Every descriptor of a file under the root closed: the cache's own
        # and any it lost track of.
        self.assertEqual(files_open_under(self.server, self.root.path), [])
        self.assertServerAlive()


class MultipartHeldPipe(harness.ServerTest):
    """Issue 16 C: in a multipart/byteranges chain a part head's send follows
    a splice; when the splice filled the socket exactly, the send waited
    inside io_uring (the socket is non-blocking, but io_uring polls and
    retries a send), and the connection kept its pipe until --send-timeout:
    a few such clients blocked every spliced download of the worker. Now
    every send carries MSG_DONTWAIT and a full socket comes back to the
    state machine, which gives the pipe up while it waits."""
    server_args = ("--pipes", "1", "--pipes-max", "1", "--inline-max", "0", "--send-timeout", "30",
                   "--cache", "off")

    @classmethod
    def populate(cls, root):
        root.write("big.bin", harness.payload(4 * MiB))
        root.write("other.bin", harness.payload(1 * MiB, seed=7))

    def ranges(self, k):
        # Small parts: a part's bytes are about as many as its head's, so
        # the socket fills inside a send about as often as inside a splice.
        # Sizes differ per client, so the points where it fills differ too.
        size = 60 + 17 * k
        return ",".join(f"{i * 3 * size}-{i * 3 * size + size - 1}" for i in range(16))

    def test_stalled_multipart_clients_do_not_keep_the_pipe(self):
        stalled = []
        try:
            for k in range(12):
                # Pipelined: the responses that fit go out whole, and one of
                # them stalls where the socket fills.
                request = get_request("/big.bin", f"Range: bytes={self.ranges(k)}\r\n")
                stalled.append(stall(self.server.port, request * 24))
            # Every one of them has started and stopped (each took the one
            # pipe in turn, or is waiting for it).
            time.sleep(1.5)
            start = time.monotonic()
            c = self.server.client(timeout=10)
            try:
                r = c.request("GET", "/other.bin")
            finally:
                c.close()
            took = time.monotonic() - start
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, harness.payload(1 * MiB, seed=7))
            # The pipe came back from whoever held it: not after --send-timeout.
            self.assertLess(took, 5, f"a spliced download waited {took:.1f}s for the only pipe")
        finally:
            for s in stalled:
                harness.reset(s)
        self.server.wait_idle()
        self.assertServerAlive()


if __name__ == "__main__":
    harness.main()
