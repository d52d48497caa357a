"""Replacing the binary with no refused or reset connection (README:
"Upgrading the binary"), through the real binary under load.

The new process binds the same address beside the old one (SO_REUSEPORT),
then the old one gets SIGTERM: it closes its listeners at once, and the
kernel (net.ipv4.tcp_migrate_req = 1) moves the connections still queued on
them to the new process's listeners; the old one answers what it accepted,
the first request of a connection it accepted just before the stop too, and
exits 0.

Runs in a network namespace of its own (the sysctl is per namespace and
must not change the host's): root only, skipped (77) elsewhere. The load
is short connections from several threads, each request on a new
connection (a keep-alive connection the old process closes between two
requests is a race every HTTP client retries; a connection that is
refused, reset or answered short is a failure here).
"""

import os
import signal
import socket
import subprocess
import threading
import time

import harness
import netns

PORT = 8080  # the namespace is empty: any port is free


class NsServer(harness.Server):
    """The real binary inside namespace ns, on addr:PORT, marking its
    responses with X-Gen."""

    def __init__(self, ns, root, addr, gen, *extra):
        self.args = ["ip", "netns", "exec", ns, harness.BINARY, "--root", root, "--listen", addr, "--port", str(PORT),
                     "--threads", "2", "--allow-root", "--add-header", f"X-Gen: {gen}", *extra]
        self._start(self.args, 10)


class Churn(threading.Thread):
    """One GET per connection, without a pause."""

    def __init__(self, addr):
        super().__init__(daemon=True)
        self.addr = addr
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.gens, self.errors = {}, []

    def one(self):
        s = socket.create_connection((self.addr, PORT), timeout=10)
        try:
            s.sendall(b"GET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200 ") or body != b"<p>page</p>\n":
            raise AssertionError(f"bad answer {data[:80]!r}")
        gen = [line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
               if line.lower().startswith(b"x-gen:")]
        return gen[0] if gen else "?"

    def run(self):
        while not self.stop.is_set():
            try:
                gen = self.one()
                with self.lock:
                    self.gens[gen] = self.gens.get(gen, 0) + 1
            except Exception as e:  # refused, reset, cut short, timed out
                with self.lock:
                    self.errors.append(repr(e))


class HandOver(harness.unittest.TestCase):
    def test_new_binary_takes_over_under_load(self):
        links = netns.Links()
        self.addCleanup(links.close)
        link = links.add()
        subprocess.run(["ip", "netns", "exec", link.ns, "sysctl", "-qw", "net.ipv4.tcp_migrate_req=1"], check=True)
        root = harness.Root()
        self.addCleanup(root.cleanup)
        root.write("index.html", "<p>page</p>\n")

        old = NsServer(link.ns, root.path, link.ns_addr, "old")
        links.before_close.append(lambda: old.alive() and old.proc.kill())
        load = [Churn(link.ns_addr) for _ in range(4)]
        for t in load:
            t.start()
        time.sleep(1)
        # Without --take-over the address is busy, as against any program.
        refused = subprocess.run(["ip", "netns", "exec", link.ns, harness.BINARY, "--root", root.path, "--listen",
                                  link.ns_addr, "--port", str(PORT), "--allow-root"], capture_output=True, text=True,
                                 timeout=20)
        self.assertEqual(refused.returncode, 1, refused.stderr)
        self.assertIn("Address already in use", refused.stderr)
        new = NsServer(link.ns, root.path, link.ns_addr, "new", "--take-over")
        links.before_close.append(lambda: new.alive() and new.proc.kill())
        time.sleep(0.5)  # both serve: the kernel spreads connections over both

        old.proc.send_signal(signal.SIGTERM)
        self.assertEqual(old.proc.wait(30), 0, "\n".join(old.log()[-20:]))
        before = sum(t.gens.get("new", 0) for t in load)
        time.sleep(1)
        for t in load:
            t.stop.set()
        for t in load:
            t.join(30)

        errors = [e for t in load for e in t.errors]
        gens = {g: sum(t.gens.get(g, 0) for t in load) for g in ("old", "new", "?")}
        self.assertEqual(errors, [], gens)
        self.assertGreater(gens["old"], 20, gens)
        self.assertGreater(gens["new"], before, gens)  # after the old one left, the new one answers alone
        self.assertEqual(gens["?"], 0)
        new.stop_checked()


if __name__ == "__main__":
    netns.require()
    harness.main()
