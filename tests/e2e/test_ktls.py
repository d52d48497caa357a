"""HTTPS with kernel TLS (issue 18) through the real binary. Where the kernel
offers kTLS (the tls module, and IORING_OP_URING_CMD of Linux 6.7 to hand
the keys to a fixed slot), each connection's transmit keys go to its socket
once the handshake's last records are out, and file bodies keep the splice
chain: the kernel encrypts. TLS 1.3 with each of its three suites and TLS
1.2, bodies of 0 B to 32 MiB byte-exact and spliced, a response that closes
the connection arriving whole (kTLS drops a record MSG_MORE kept open at the
close), a client that never reads, --ktls off. Pipelining (Range, HEAD, 304)
is test_https.py's, which the suite ktls runs on this path too.

Exits 77 (skipped) with the server's own reason where the kernel has no
kTLS (this project's development machines: no tls module). `tools/test
--ktls` runs it under user-mode Linux 6.12, which has it. test_https.py
runs every HTTPS case on whichever path the kernel gives."""

import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

import harness
import tls_certs
from harness import Root, Server, payload
from test_https import SIZES, TlsClient, TlsServerTest

KERNEL_LINE = re.compile(r"conn=(\d+) tls: kernel TLS \(([A-Z0-9-]+)\): bodies spliced")


def kernel_tls_or_skip():
    """The server's start-up line says which path HTTPS bodies take: skip
    unless it is the kernel's."""
    certs = tempfile.mkdtemp(prefix="splicehttpd-ktls-probe-")
    root = Root()
    try:
        cert, key = tls_certs.make_leaf(certs, "localhost")
        server = Server(root.path, "--tls-port", "0", "--tls-cert", cert, "--tls-key", key)
        try:
            line = server.wait_log(r"HTTPS|kTLS")
        finally:
            server.stop_checked()
    finally:
        root.cleanup()
        shutil.rmtree(certs)
    if "kernel TLS: TLS_TX with" not in line or "URING_CMD" in line:
        print("skip: " + line.split(" info ", 1)[-1], flush=True)
        sys.exit(harness.SKIP)


class Ktls(TlsServerTest):
    @classmethod
    def tls_args(cls):
        return ("--send-timeout", "3", "--debug")

    def handed_off(self, start):
        """The connection whose keys went to the kernel since log line
        `start`: (its conn id, the kernel's cipher)."""
        line = self.server.wait_log(KERNEL_LINE.pattern, start=start)
        m = KERNEL_LINE.search(line)
        return m.group(1), m.group(2)

    def spliced(self, conn, start):
        """pipe->socket splices of that connection since line `start`."""
        return [l for l in self.server.log()[start:]
                if re.search(rf"splice\(\d+\) conn={conn} .*pipe->socket", l)]

    def test_tls12_each_cipher_byte_exact_and_spliced(self):
        for cipher, kernel in (("ECDHE-ECDSA-AES128-GCM-SHA256", "AES-GCM-128"),
                               ("ECDHE-ECDSA-AES256-GCM-SHA384", "AES-GCM-256"),
                               ("ECDHE-ECDSA-CHACHA20-POLY1305", "CHACHA20-POLY1305")):
            with self.subTest(cipher=cipher):
                start = len(self.server.log())
                c = TlsClient(self.tls_port, self.context(ssl.TLSVersion.TLSv1_2, cipher))
                try:
                    self.assertEqual(c.sock.cipher()[0], cipher)
                    for name, size in SIZES.items():
                        r = c.request("GET", "/" + name)
                        self.assertEqual((r.status, len(r.body)), (200, size), name)
                        self.assertEqual(hashlib.sha256(r.body).digest(), hashlib.sha256(payload(size)).digest(),
                                         name)
                finally:
                    c.close()
                conn, used = self.handed_off(start)
                self.assertEqual(used, kernel)
                # 32 MiB went through pipes into the kTLS socket, not through OpenSSL.
                self.assertGreater(sum(int(re.search(r"splice\((\d+)\)", l).group(1))
                                       for l in self.spliced(conn, start)), 32 << 20)

    def test_tls13_each_suite_through_curl(self):
        curl = harness.require_program("curl")
        ca = os.path.join(self.certs, "ca.crt")
        for suite, kernel in (("TLS_AES_128_GCM_SHA256", "AES-GCM-128"), ("TLS_AES_256_GCM_SHA384", "AES-GCM-256"),
                              ("TLS_CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305")):
            with self.subTest(suite=suite):
                start = len(self.server.log())
                urls = [f"https://localhost:{self.tls_port}/{n}" for n in ("k1", "m1", "k70", "empty")]
                out = subprocess.run([curl, "-sS", "--cacert", ca, "--tlsv1.3", "--tls13-ciphers", suite,
                                      *[a for u in urls for a in ("-o", "-", u)]],
                                     capture_output=True, timeout=60)
                self.assertEqual(out.returncode, 0, out.stderr.decode())
                self.assertEqual(out.stdout, payload(1000) + payload((1 << 20) + 1) + payload(70_000))
                conn, used = self.handed_off(start)
                self.assertEqual(used, kernel)
                self.assertTrue(self.spliced(conn, start), "the 1 MiB body was not spliced")

    def test_closing_responses_arrive_whole_then_close_notify(self):
        # The last record of a response that ends the connection must leave
        # before the close (kTLS frees a record MSG_MORE left open), and
        # close_notify after it (the kernel writes the alert record).
        for name in ("empty", "k1", "k70", "m1"):
            for request in (f"GET /{name} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                            f"GET /{name} HTTP/1.0\r\n\r\n"):
                with self.subTest(name=name, request=request.split("\r\n")[0]):
                    raw = socket.create_connection(("127.0.0.1", self.tls_port), timeout=10)
                    c = TlsClient.__new__(TlsClient)
                    # A ragged EOF (a close without close_notify) raises.
                    c.sock = self.context().wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
                    c.buf = bytearray()
                    try:
                        c.send(request.encode())
                        r = c.read_response()
                        self.assertEqual((r.status, r.body), (200, payload(SIZES[name])))
                        self.assertEqual(c.sock.recv(1), b"")  # close_notify
                    finally:
                        c.close()

    def test_a_client_that_never_reads_is_cut_and_others_are_served(self):
        start = len(self.server.log())
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000)
        raw.settimeout(30)
        raw.connect(("127.0.0.1", self.tls_port))
        stalled = self.context().wrap_socket(raw, server_hostname="localhost")
        stalled.sendall(b"GET /m32 HTTP/1.1\r\nHost: t\r\n\r\n")
        conn, _ = self.handed_off(start)
        # Meanwhile another client gets its file.
        c = TlsClient(self.tls_port, self.context())
        try:
            self.assertEqual(c.request("GET", "/m1").body, payload(SIZES["m1"]))
        finally:
            c.close()
        # --send-timeout 3: the stalled one is closed; its pipe went back.
        self.server.wait_log(rf"close\(0\) conn={conn} ", timeout=15, start=start)
        stalled.close()
        self.assertTrue(self.server.alive())

    def read_to_eof(self, sock):
        """Everything until the server's close (close_notify or a ragged EOF)."""
        got = bytearray()
        while True:
            try:
                chunk = sock.recv(65536)
            except (ssl.SSLEOFError, ConnectionResetError):
                break
            if not chunk:
                break
            got += chunk
        return bytes(got)

    def test_a_request_then_half_close_during_the_hand_off_is_answered(self):
        # The client's request (and its FIN) may come while the keys are on
        # their way to the kernel: the request is held back, and the end of
        # input must not close the connection before it is answered (as it is
        # answered on the user-space path).
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            for i in range(8):
                with self.subTest(version=version.name, i=i):
                    raw = socket.create_connection(("127.0.0.1", self.tls_port), timeout=10)
                    s = self.context(version).wrap_socket(raw, server_hostname="localhost")
                    try:
                        s.sendall(b"GET /k70 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                        socket.socket.shutdown(s, socket.SHUT_WR)  # no close_notify: the TCP FIN alone
                        got = self.read_to_eof(s)
                        self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got[:100])
                        self.assertTrue(got.endswith(payload(SIZES["k70"])))
                    finally:
                        s.close()
        self.assertTrue(self.server.alive())

    def s_client(self, lines, version="-tls1_3"):
        """openssl s_client fed `lines` one at a time (a command letter such as
        K or k on a line of its own), then its stdout, stderr."""
        openssl = harness.require_program("openssl")
        p = subprocess.Popen([openssl, "s_client", "-connect", f"127.0.0.1:{self.tls_port}", version, "-crlf",
                              "-CAfile", os.path.join(self.certs, "ca.crt"), "-servername", "localhost"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for line in lines:
                time.sleep(1.0)
                try:
                    p.stdin.write(line.encode())
                    p.stdin.flush()
                except BrokenPipeError:
                    break  # it has quit: the server closed
            time.sleep(1.5)
            out, err = p.communicate(timeout=30)  # stdin's end: s_client closes
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        return out.decode(errors="replace"), err.decode(errors="replace")

    def test_key_update_not_requested_keeps_serving(self):
        out, err = self.s_client(["GET /k1 HTTP/1.1\nHost: t\n\n", "k\n", "GET /k1 HTTP/1.1\nHost: t\n\n"])
        self.assertEqual(out.count("HTTP/1.1 200 "), 2, out[-2000:] + err)
        self.assertNotIn("bad record mac", out + err)
        self.assertTrue(self.server.alive())

    def test_key_update_requested_closes_without_garbage(self):
        # The peer asks the server to update its sending keys, which are the
        # kernel's now: the server cannot answer the KeyUpdate, so it closes
        # rather than send (RFC 8446 4.6.3) on with the old keys.
        start = len(self.server.log())
        out, err = self.s_client(["GET /k1 HTTP/1.1\nHost: t\n\n", "K\n", "GET /k1 HTTP/1.1\nHost: t\n\n"])
        self.assertEqual(out.count("HTTP/1.1 200 "), 1, out[-2000:] + err)
        self.assertNotIn("bad record mac", out + err)
        self.assertNotIn("decryption failed", out + err)
        self.server.wait_log(r"tls: the peer asked for a KeyUpdate after the kTLS hand-off: close", start=start)
        self.assertTrue(self.server.alive())

    def test_tls12_renegotiation_is_refused_without_garbage(self):
        out, err = self.s_client(["GET /k1 HTTP/1.1\nHost: t\n\n", "R\n", "GET /k1 HTTP/1.1\nHost: t\n\n"],
                                 version="-tls1_2")
        self.assertGreaterEqual(out.count("HTTP/1.1 200 "), 1, out[-2000:] + err)
        self.assertNotIn("bad record mac", out + err)
        self.assertNotIn("decryption failed", out + err)
        self.assertTrue(self.server.alive())

    def test_garbage_after_the_hand_off_closes_and_others_are_served(self):
        start = len(self.server.log())
        c = TlsClient(self.tls_port, self.context())
        try:
            self.assertEqual(c.request("GET", "/k1").body, payload(1000))
            self.handed_off(start)
            # An application-data record that does not decrypt.
            socket.socket.sendall(c.sock, b"\x17\x03\x03\x00\x40" + os.urandom(64))
            got = self.read_to_eof(c.sock)
            self.assertEqual(got, b"")
        finally:
            c.close()
        c = TlsClient(self.tls_port, self.context())
        try:
            self.assertEqual(c.request("GET", "/k70").body, payload(SIZES["k70"]))
        finally:
            c.close()
        self.assertTrue(self.server.alive())

    def test_a_reset_mid_body_frees_the_connection(self):
        start = len(self.server.log())
        c = TlsClient(self.tls_port, self.context())
        c.send(b"GET /m32 HTTP/1.1\r\nHost: t\r\n\r\n")
        c.sock.recv(4096)
        conn, _ = self.handed_off(start)
        harness.reset(c.sock)
        self.server.wait_log(rf"close\(0\) conn={conn} ", timeout=15, start=start)
        c2 = TlsClient(self.tls_port, self.context())
        try:
            self.assertEqual(c2.request("GET", "/m1").body, payload(SIZES["m1"]))
        finally:
            c2.close()

    def test_a_slow_reader_is_served_whole(self):
        # 4 KiB receive buffer, 1000-byte segments, about 8 KB/s: slower than
        # the kernel's 16 KiB records, never idle for --send-timeout (3 s).
        raw = harness.small_window_socket(self.tls_port, rcvbuf=4096, mss=1000)
        s = self.context().wrap_socket(raw, server_hostname="localhost")
        try:
            s.sendall(b"GET /k70 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            got = bytearray()
            while True:
                time.sleep(0.1)
                try:
                    chunk = s.recv(1000)
                except ssl.SSLEOFError:
                    break
                if not chunk:
                    break
                got += chunk
            self.assertTrue(bytes(got).endswith(payload(SIZES["k70"])), len(got))
        finally:
            s.close()

    def test_200_connections_at_once(self):
        clients = []
        try:
            for _ in range(200):
                c = TlsClient(self.tls_port, self.context(), timeout=60)
                c.send(b"GET /k70 HTTP/1.1\r\nHost: t\r\n\r\n")
                clients.append(c)
            for c in clients:
                self.assertEqual(c.read_response().body, payload(SIZES["k70"]))
        finally:
            for c in clients:
                c.close()
        self.assertTrue(self.server.alive())

def non_pipe_fds(server):
    return sorted(t for t in server.fds().values() if not t.startswith("pipe:"))


class KtlsHostilePeers(TlsServerTest):
    """Peers of a kTLS connection that stall, reset or crawl: each is cut by
    --send-timeout (2 s) or freed at its reset, and afterwards the server holds what it held before (descriptors,
    connections, fixed slots, pipes). Ciphertext is read straight from the
    TCP socket: Python's ssl reads whole 16 KiB records, so reading
    plaintext slowly would stall the socket for many seconds at a time."""

    SEND_TIMEOUT = 2

    @classmethod
    def tls_args(cls):
        # A pool that cannot grow: the descriptor count must come back exactly.
        return ("--send-timeout", str(cls.SEND_TIMEOUT), "--pipes", "4", "--pipes-max", "4", "--debug")

    def connect(self, rcvbuf=None, mss=None):
        raw = socket.socket()
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if mss:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        raw.settimeout(30)
        raw.connect(("127.0.0.1", self.tls_port))
        ctx = self.context()
        return ctx.wrap_socket(raw, server_hostname="localhost")

    def request_m32(self, s, start):
        """GET /m32 on s; the connection id, once its keys are the kernel's."""
        s.sendall(b"GET /m32 HTTP/1.1\r\nHost: t\r\n\r\n")
        line = self.server.wait_log(KERNEL_LINE.pattern, start=start, timeout=30)
        return KERNEL_LINE.search(line).group(1)

    def test_stalled_reset_and_crawling_peers_leave_nothing_behind(self):
        # Warm up: whatever is created at the first kTLS response is in the baseline.
        c = TlsClient(self.tls_port, self.context())
        try:
            self.assertEqual(c.request("GET", "/m1").body, payload(SIZES["m1"]))
        finally:
            c.close()
        self.server.wait_idle()
        baseline, count = non_pipe_fds(self.server), self.server.fd_count()

        # 1. Never reads a 32 MiB body: cut once its socket took nothing for
        # --send-timeout, not before.
        start = len(self.server.log())
        stalled = self.connect(rcvbuf=4096, mss=536)
        conn = self.request_m32(stalled, start)
        handed = time.monotonic()
        self.server.wait_log(rf"close\(\d+\) conn={conn} ", timeout=self.SEND_TIMEOUT + 15, start=start)
        self.assertGreaterEqual(time.monotonic() - handed, self.SEND_TIMEOUT - 0.5)
        stalled.close()

        # 2. Resets mid-body.
        start = len(self.server.log())
        resetting = self.connect()
        conn = self.request_m32(resetting, start)
        self.assertTrue(socket.socket.recv(resetting, 4096))
        harness.reset(resetting)
        self.server.wait_log(rf"close\(\d+\) conn={conn} ", timeout=15, start=start)

        # 3. Reads 1000 bytes of ciphertext a second for three send timeouts,
        # then goes away. Not asserted: that it is never cut. Its kernel
        # reopens the window only once the ~6 KB the 4 KiB buffer holds are
        # nearly all read (FIONREAD 5806 down to 306, then 3144 more), so at
        # 1 KB/s the server's socket takes nothing for up to 6 s, as on the
        # plain port: --send-timeout cuts it there too (2 s always, 5 s at
        # times), by its rule.
        start = len(self.server.log())
        crawling = self.connect(rcvbuf=4096, mss=536)
        conn = self.request_m32(crawling, start)
        got = 0
        for _ in range(3 * 2 * self.SEND_TIMEOUT):
            time.sleep(0.5)
            try:
                chunk = socket.socket.recv(crawling, 500)
            except OSError:
                break
            if not chunk:
                break
            got += len(chunk)
        self.assertGreater(got, 0)
        harness.reset(crawling)
        self.server.wait_log(rf"close\(\d+\) conn={conn} ", timeout=15, start=start)

        self.assertTrue(self.server.alive())
        self.server.wait_idle()
        self.assertEqual(non_pipe_fds(self.server), baseline)
        self.assertEqual(self.server.fd_count(), count)


class KtlsOff(unittest.TestCase):
    def test_off_encrypts_in_user_space(self):
        certs = tempfile.mkdtemp(prefix="splicehttpd-ktls-off-")
        root = Root()
        try:
            cert, key = tls_certs.make_leaf(certs, "localhost")
            root.write("m1", payload(1 << 20))
            server = Server(root.path, "--tls-port", "0", "--tls-cert", cert, "--tls-key", key, "--ktls", "off",
                            "--debug")
            try:
                # ... and whose AES-GCM seals them: the same line names it.
                server.wait_log(r"HTTPS bodies are encrypted in user space \(--ktls off\); "
                                r"AES-GCM in user space: (intel-ipsec-mb \S+ \(VAES, AVX-512\)|OpenSSL)$")
                ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
                c = TlsClient(server.tls_port(), ctx)
                try:
                    self.assertEqual(c.request("GET", "/m1").body, payload(1 << 20))
                finally:
                    c.close()
                server.wait_log(r"tls: TLSv1.3 .*; records sealed here")
                self.assertFalse([l for l in server.log() if "kernel TLS (" in l or "ktls(" in l])
            finally:
                server.stop_checked()
        finally:
            root.cleanup()
            shutil.rmtree(certs)


if __name__ == "__main__":
    harness.require_io_uring()
    harness.require_program("openssl")
    kernel_tls_or_skip()
    unittest.main(verbosity=2)
