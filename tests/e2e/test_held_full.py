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


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def long_names_dir(root, name, count=2000):
    """A directory whose listing page is about 1 MB (long names)."""
    base = os.path.join(root.path, name)
    os.makedirs(base)
    for i in range(count):
        with open(os.path.join(base, f"{i:05d}" + "n" * 200 + ".txt"), "wb") as f:
            f.write(b"x")


class ListingSharedByStalledClients(harness.ServerTest):
    """Issue 16 D: every response copied its listing page into its own plan,
    so each client that stopped reading held a copy: 30 of them on a 1 MB
    listing held 30 MB. Now they share the one immutable page."""
    server_args = ("--autoindex", "--send-timeout", "60")

    @classmethod
    def populate(cls, root):
        long_names_dir(root, "big")

    def test_thirty_stalled_clients_hold_one_page(self):
        page = self.server.get("/big/")
        self.assertEqual(page.status, 200)
        self.assertGreater(len(page.body), 900 * KiB)
        before = rss_bytes(self.server.pid)
        stalled = [stall(self.server.port, get_request("/big/")) for _ in range(30)]
        try:
            wait_for(lambda: self.server.stats()["connections"] == 30, "thirty stalled listings")
            time.sleep(1)  # every response planned and stalled
            grown = rss_bytes(self.server.pid) - before
            # One more copy per client would be 30 MB; the socket buffers
            # hold the kernel's copies, not ours.
            self.assertLess(grown, 8 * MiB, f"RSS grew {grown} bytes with 30 stalled listings")
            again = self.server.get("/big/")
            self.assertEqual(again.body, page.body)
        finally:
            for s in stalled:
                harness.reset(s)
        self.server.wait_idle()
        self.assertServerAlive()


class ListingMemoryHeldFull(harness.ServerTest):
    """Issue 16 D: the pages a worker holds (cached or being sent) are bounded
    by --listing-memory. With it spent by stalled clients one more listing
    gets 503 with Retry-After, not more memory; once they go, the cache
    gives its unused pages up and the listing is served."""
    # 5 MiB: room for one new page (at most 4 MiB) next to a held 1 MB one.
    server_args = ("--autoindex", "--listing-memory", str(5 * MiB), "--send-timeout", "60")

    @classmethod
    def populate(cls, root):
        for d in ("d0", "d1", "d2"):
            long_names_dir(root, d)

    def test_one_more_listing_with_the_budget_spent(self):
        stalled = []
        try:
            for d in ("d0", "d1"):
                stalled.append(stall(self.server.port, get_request(f"/{d}/")))
                wait_for(lambda: self.server.stats()["waiting_writable"] == len(stalled), f"{d} stalled")
            r = self.server.get("/d2/")
            self.assertEqual(r.status, 503)
            self.assertEqual(r.header("retry-after"), "1")
            # A listing already cached costs nothing new: still served.
            c = self.server.client()
            try:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                self.assertEqual(c.request("HEAD", "/d0/").status, 200)
            finally:
                c.close()
        finally:
            for s in stalled:
                harness.reset(s)
        self.server.wait_idle()
        r = self.server.get("/d2/")
        self.assertEqual(r.status, 200)
        self.assertIn(b"<title>Index of /d2/</title>", r.body)
        self.assertServerAlive()


if __name__ == "__main__":
    harness.main()
