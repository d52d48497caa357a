"""HTTPS through the real binary (issue 18): --tls-port beside the plain
port, certificates made at test time (tls_certs.py, the `openssl` command).
TLS 1.3 and 1.2 from Python's ssl (OpenSSL), curl and `openssl s_client`;
bodies of 0 B to 32 MiB byte-exact (in memory, from the open-file cache's
copy, read in chunks); Range, HEAD, 304, keep-alive and pipelining; SNI;
resumption; the handshake deadline; hostile bytes; a reset mid-body; a
client that never reads; the reload on SIGHUP. The sandbox is on (Landlock,
seccomp) as in production."""

import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

import harness
import tls_certs
from harness import Client, ServerTest, payload

SIZES = {"empty": 0, "k1": 1000, "k70": 70_000, "m1": (1 << 20) + 1, "m32": 32 << 20}


class TlsClient(Client):
    """harness.Client over TLS: requests may be pipelined as on the plain port."""

    def __init__(self, port, ctx, server_hostname="localhost", timeout=30, session=None, raw=None):
        """raw: a socket connected already (harness.small_window_socket)."""
        raw = raw or socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname, session=session)
        # A bytearray: TLS hands over 16 KiB at a time, and appending to bytes
        # would copy 32 MiB thousands of times (past --send-timeout).
        self.buf = bytearray()


class TlsServerTest(ServerTest):
    """harness.ServerTest with HTTPS on --tls-port: a CA and a certificate
    for localhost made for the class (certs, pair), the files of SIZES in
    the root, more flags from tls_args(), the port in tls_port. test_ktls.py
    uses it too."""

    @classmethod
    def tls_args(cls):
        return ()

    @classmethod
    def setUpClass(cls):
        harness.require_program("openssl")
        cls.certs = tempfile.mkdtemp(prefix="splicehttpd-https-")
        cls.pair = tls_certs.make_leaf(cls.certs, "localhost")
        cls.server_args = ("--tls-port", "0", "--tls-cert", cls.pair[0], "--tls-key", cls.pair[1], *cls.tls_args())
        super().setUpClass()
        cls.tls_port = cls.server.tls_port()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.certs)

    @classmethod
    def populate(cls, root):
        for name, size in SIZES.items():
            root.write(name, payload(size))

    def context(self, version=None, ciphers=None):
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        if version:
            ctx.minimum_version = ctx.maximum_version = version
        if ciphers:
            ctx.set_ciphers(ciphers)  # TLS 1.2's; 1.3's suites go through curl
        return ctx


class Https(TlsServerTest):
    @classmethod
    def tls_args(cls):
        cls.other = tls_certs.make_leaf(cls.certs, "a.example,*.b.example")
        return ("--tls-cert", cls.other[0], "--tls-key", cls.other[1], "--tls-handshake-timeout", "2",
                "--send-timeout", "3", "--https-redirect")

    @classmethod
    def populate(cls, root):
        super().populate(root)
        root.write(".well-known/acme-challenge/token", b"challenge\n")
        root.write("records/small", payload(3000))

    def client(self, version=None, **kw):
        return TlsClient(self.tls_port, self.context(version), **kw)

    def get_tls(self, path):
        c = self.client()
        try:
            return c.request("GET", path)
        finally:
            c.close()

    def test_files_byte_exact_tls13_and_tls12(self):
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            c = self.client(version)
            try:
                self.assertEqual(c.sock.version(), version.name.replace("v1_", "v1."))
                self.assertEqual(c.sock.selected_alpn_protocol(), None)  # none offered: served anyway
                # Twice each: the second small ones come from the cache's copy.
                for _ in range(2):
                    for name, size in SIZES.items():
                        with self.subTest(version=version.name, name=name):
                            r = c.request("GET", "/" + name)
                            self.assertEqual(r.status, 200)
                            self.assertEqual(len(r.body), size)
                            self.assertEqual(hashlib.sha256(r.body).digest(), hashlib.sha256(payload(size)).digest())
            finally:
                c.close()
        self.assertServerAlive()

    def test_range_head_304_pipelined(self):
        c = self.client()
        try:
            etag = c.request("GET", "/k70").header("etag")
            reqs = (b"GET /m1 HTTP/1.1\r\nHost: t\r\nRange: bytes=100-199,1048000-\r\n\r\n"
                    b"HEAD /m32 HTTP/1.1\r\nHost: t\r\n\r\n"
                    b"GET /k70 HTTP/1.1\r\nHost: t\r\nIf-None-Match: " + etag.encode() + b"\r\n\r\n"
                    b"GET /k1 HTTP/1.1\r\nHost: t\r\nRange: bytes=-10\r\n\r\n"
                    # A suffix of the largest file, and a whole body after it:
                    # the suite ktls runs this file too, on the kernel's TLS.
                    b"GET /m32 HTTP/1.1\r\nHost: t\r\nRange: bytes=-10\r\n\r\n"
                    b"GET /k1 HTTP/1.1\r\nHost: t\r\n\r\n")
            c.send(reqs)
            multi = c.read_response()
            self.assertEqual(multi.status, 206)
            self.assertIn(payload(SIZES["m1"])[100:200], multi.body)
            self.assertIn(payload(SIZES["m1"])[1048000:], multi.body)
            head = c.read_response(head_request=True)
            self.assertEqual((head.status, head.header("content-length")), (200, str(32 << 20)))
            self.assertEqual(c.read_response().status, 304)
            tail = c.read_response()
            self.assertEqual((tail.status, tail.body), (206, payload(1000)[-10:]))
            tail = c.read_response()
            self.assertEqual((tail.status, tail.body), (206, payload(32 << 20)[-10:]))
            self.assertEqual(c.read_response().body, payload(1000))
        finally:
            c.close()

    def test_curl_and_s_client(self):
        curl = harness.require_program("curl")
        ca = os.path.join(self.certs, "ca.crt")
        for flags, proto in ((["--tlsv1.3"], "TLSv1.3"), (["--tlsv1.2", "--tls-max", "1.2"], "TLSv1.2")):
            out = subprocess.run([curl, "-sS", "-v", "--cacert", ca, *flags, "-o", "-",
                                  f"https://localhost:{self.tls_port}/k70"], capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr.decode())
            self.assertEqual(out.stdout, payload(70_000))
            err = out.stderr.decode()
            self.assertIn(f"SSL connection using {proto}", err)
            self.assertIn("ALPN: server accepted http/1.1", err)
        out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.tls_port}", "-servername",
                              "localhost", "-CAfile", ca, "-verify_return_error", "-quiet", "-ign_eof"],
                             input=b"GET /k1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertTrue(out.stdout.startswith(b"HTTP/1.1 200 OK\r\n"), out.stdout[:200])
        self.assertTrue(out.stdout.endswith(payload(1000)))

    def server_records(self, path):
        """The sizes of the application-data records the server sent for one
        GET over TLS 1.2, whose tickets come inside the handshake: every such
        record is the response's. (The bytes are checked elsewhere: -msg
        writes its lines among them.)"""
        out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.tls_port}", "-tls1_2", "-msg",
                              "-CAfile", os.path.join(self.certs, "ca.crt"), "-ign_eof"],
                             input=f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode(),
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        # (The body is on the same stdout, so a header's line need not
        # start a line.)
        sizes = [int.from_bytes(bytes.fromhex(h.decode()), "big") for h in
                 re.findall(rb"<<< TLS 1\.2, RecordHeader \[length 0005\]\n +17 03 03 ([0-9a-f]{2} [0-9a-f]{2})\n",
                            out.stdout)]
        self.assertIn(b"HTTP/1.1 200 OK\r\n", out.stdout)
        return sizes

    def test_head_and_body_share_records(self):
        # A head goes out in one record with the body after it: a small
        # file is one record, read from disk (the first time) or from the
        # cache; a larger one is full records but for the last. (AES-GCM in TLS 1.2:
        # 24 bytes of each record are its nonce and tag.)
        for path, size in (("/records/small", 3000), ("/records/small", 3000), ("/k70", 70_000)):
            with self.subTest(path=path):
                sizes = self.server_records(path)
                plain = [n - 24 for n in sizes]
                self.assertTrue(100 < sum(plain) - size < 1000, sizes)  # the head
                if size < 16384 - 1000:
                    self.assertEqual(len(plain), 1, sizes)
                else:  # full records, but the last: file chunks and output room end where records do
                    self.assertEqual(plain[:-1], [16384] * (len(plain) - 1), sizes)

    def test_plain_port_redirects_but_for_acme(self):
        """--https-redirect: 308 to the same path and query on the TLS port;
        certbot's webroot challenge is served on plain HTTP."""
        r = self.server.get("/dir/../k1?a=b%20c", headers={"Host": "www.example:8080"})
        self.assertEqual(r.status, 308)
        self.assertEqual(r.header("location"), f"https://www.example:{self.tls_port}/k1?a=b%20c")
        self.assertEqual(self.server.get("/.well-known/acme-challenge/token").body, b"challenge\n")
        self.assertEqual(self.server.get("/.well-known/acme-challenge/other").status, 404)
        # An absolute-form target's authority wins over Host (RFC 9112
        # 3.2.2), as it does when the site is chosen: the redirect names it.
        for request in (b"GET http://www.example/k1?q HTTP/1.1\r\nHost: other.example\r\n\r\n",
                        b"GET http://www.example:8080/k1?q HTTP/1.0\r\n\r\n"):
            c = self.server.client()
            try:
                c.send(request)
                r = c.read_response()
            finally:
                c.close()
            self.assertEqual((r.status, r.header("location")), (308, f"https://www.example:{self.tls_port}/k1?q"),
                             request)
        # A Host that is no name: 400, nothing of it echoed back.
        bad = self.server.get("/k1", headers={"Host": "evil.example/x"})
        self.assertEqual((bad.status, bad.header("location")), (400, None))
        # Over TLS the file itself.
        self.assertEqual(self.get_tls("/.well-known/acme-challenge/token").body, b"challenge\n")
        self.assertEqual(self.get_tls("/k1").body, payload(1000))

    def test_sni_picks_the_certificate(self):
        for name, san in (("localhost", "localhost"), ("x.b.example", "a.example"), ("a.example", "a.example")):
            with self.subTest(name=name):
                c = self.client(server_hostname=name)
                try:
                    sans = [v for k, v in c.sock.getpeercert()["subjectAltName"] if k == "DNS"]
                    self.assertEqual(sans[0], san)
                    self.assertEqual(c.request("GET", "/k1").status, 200)
                finally:
                    c.close()

    def test_resumption(self):
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            with self.subTest(version=version.name):
                ctx = self.context(version)
                first = TlsClient(self.tls_port, ctx)
                first.request("GET", "/k1")  # TLS 1.3 tickets come after the handshake
                session = first.sock.session
                first.close()
                self.assertFalse(first.sock.session_reused)
                # Each connection offers the session the one before it ended
                # with. TLS 1.3 tickets are for one use (RFC 8446, C.4): a
                # resumed handshake brings a new one (a new session id on the
                # client's side), or a client that keeps its SSL across
                # reconnects (wrk: SSL_clear) makes every other handshake a
                # full one.
                for hop in range(3):
                    with self.subTest(resumption=hop + 1):
                        again = TlsClient(self.tls_port, ctx, session=session)
                        try:
                            self.assertTrue(again.sock.session_reused)
                            self.assertEqual(again.request("GET", "/k1").body, payload(1000))
                            if version == ssl.TLSVersion.TLSv1_3:
                                self.assertNotEqual(again.sock.session.id, session.id)
                            session = again.sock.session
                        finally:
                            again.close()

    def closes_within(self, sock, seconds):
        """True when the server closes (or resets) sock within `seconds`."""
        sock.settimeout(seconds)
        try:
            while sock.recv(65536):
                pass
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def test_handshake_deadline(self):
        silent = socket.create_connection(("127.0.0.1", self.tls_port))
        half = socket.create_connection(("127.0.0.1", self.tls_port))
        # A ClientHello record header promising 512 bytes, and 20 of them.
        half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 9)
        start = time.monotonic()
        self.assertTrue(self.closes_within(silent, 6))
        self.assertTrue(self.closes_within(half, 6))
        self.assertGreater(time.monotonic() - start, 1.5)  # --tls-handshake-timeout 2, not at once
        silent.close()
        half.close()
        self.assertEqual(self.get_tls("/k1").status, 200)

    def read_to_close(self, sock, seconds):
        """All the server sends until it closes (or resets), or None past `seconds`."""
        sock.settimeout(seconds)
        got = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return got
                got += chunk
        except (ConnectionResetError, BrokenPipeError):
            return got
        except socket.timeout:
            return None

    PLAIN_400 = b"The plain HTTP request was sent to HTTPS port"

    def assert_plain_400(self, c):
        """A plain 400 that says why, then the server's close."""
        r = c.read_response()
        self.assertEqual(r.status, 400)
        self.assertEqual(r.header("connection"), "close")
        self.assertIn(self.PLAIN_400, r.body)
        self.assertTrue(c.closed_by_peer(6))
        self.assertEqual(c.buf, b"")

    def test_plain_http_to_the_tls_port_gets_a_plain_400(self):
        """As nginx answers: 400, "The plain HTTP request was sent to HTTPS
        port", and one line in the error log; then the close."""
        start = len(self.server.log())
        out = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", f"http://127.0.0.1:{self.tls_port}/k1"],
                             capture_output=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        body, _, code = out.stdout.rpartition(b"\n")
        self.assertEqual(code, b"400")
        self.assertIn(self.PLAIN_400, body)
        self.server.wait_log(r" info client sent plain HTTP request to HTTPS port, client: 127\.0\.0\.1$", start=start)
        # A raw request, whole.
        c = Client(self.tls_port, timeout=10)
        c.send(b"GET /k1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assert_plain_400(c)
        c.close()
        self.assertServerAlive()
        self.assertEqual(self.get_tls("/k1").status, 200)

    def test_plain_http_byte_by_byte(self):
        """The method's letters one at a time: the server waits for the space
        (within the handshake deadline), then answers; what the client still
        sends meanwhile does not turn the answer into a reset."""
        for method in ("GET", "OPTIONS"):
            with self.subTest(method=method):
                c = Client(self.tls_port, timeout=10)
                c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for ch in method:
                    c.send(ch.encode())
                    time.sleep(0.05)
                c.sock.settimeout(0.3)
                with self.assertRaises(socket.timeout):  # no answer, no close, before the space
                    c.sock.recv(1)
                c.sock.settimeout(10)
                rest = b" / HTTP/1.1\r\nHost: localhost\r\n\r\n"
                for i in range(len(rest)):
                    c.send(rest[i:i + 1])
                    time.sleep(0.005)
                self.assert_plain_400(c)
                c.close()
        self.assertEqual(self.get_tls("/k1").status, 200)

    def test_hostile_bytes(self):
        cases = {
            "plain http": b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
            "garbage": bytes(range(256)) * 4,
            "text that is no request": b"Hello\r\n\r\n" * 20,
            "capitals without a space": b"A" * 40 + b"\r\n\r\n",
            "zero-length records": b"\x16\x03\x03\x00\x00" * 50,
            "oversized record": b"\x16\x03\x03\xff\xff" + b"\x00" * 100,
            "alert first": b"\x15\x03\x03\x00\x02\x02\x28",
        }
        for name, data in cases.items():
            with self.subTest(case=name):
                s = socket.create_connection(("127.0.0.1", self.tls_port))
                try:
                    s.sendall(data)
                    s.shutdown(socket.SHUT_WR) if name == "zero-length records" else None
                    got = self.read_to_close(s, 6)
                    self.assertIsNotNone(got, name)
                    # Only plain HTTP gets a plain answer: the rest an alert or nothing.
                    self.assertEqual(got.startswith(b"HTTP/1.1 400"), name == "plain http", (name, got[:80]))
                finally:
                    s.close()
        # After a finished handshake, a record the session never wrote (bad_record_mac).
        c = self.client()
        raw = socket.socket(fileno=os.dup(c.sock.fileno()))
        raw.sendall(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
        self.assertTrue(self.closes_within(raw, 6))
        raw.close()
        c.close()
        self.assertServerAlive()
        self.assertEqual(self.get_tls("/k1").status, 200)

    def test_reset_mid_body_and_never_reading(self):
        c = self.client()
        c.send(b"GET /m32 HTTP/1.1\r\nHost: t\r\n\r\n")
        c.sock.recv(1000)
        harness.reset(socket.socket(fileno=os.dup(c.sock.fileno())))
        c.sock.close()
        # A client that asks for 32 MiB through a small window and never reads:
        # --send-timeout 3 ends it.
        raw = harness.small_window_socket(self.tls_port)
        s = self.context().wrap_socket(raw, server_hostname="localhost")
        s.sendall(b"GET /m32 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(5)
        self.assertTrue(self.closes_within(s, 10))
        s.close()
        self.server.wait_idle()
        self.assertServerAlive()


class HttpsReload(unittest.TestCase):
    """SIGHUP: a new pair for new handshakes, open connections finish on the
    old one; a bad pair is refused with one line and the old keeps serving."""

    def setUp(self):
        harness.require_program("openssl")
        self.certs = tempfile.mkdtemp(prefix="splicehttpd-reload-")
        self.root = harness.Root()
        self.root.write("k1", payload(1000))
        cert, key = tls_certs.make_leaf(self.certs, "localhost")
        self.cert = os.path.join(self.certs, "live.crt")
        self.key = os.path.join(self.certs, "live.key")
        shutil.copy(cert, self.cert)
        shutil.copy(key, self.key)
        os.chmod(self.key, 0o600)
        self.server = harness.Server(self.root.path, "--tls-port", "0", "--tls-cert", self.cert, "--tls-key", self.key)
        self.port = self.server.tls_port()
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))

    def tearDown(self):
        try:
            self.server.stop_checked()
        finally:
            self.root.cleanup()
            shutil.rmtree(self.certs)

    def serial(self, c):
        return c.sock.getpeercert()["serialNumber"]

    def test_reload(self):
        old = TlsClient(self.port, self.ctx)
        old_serial = self.serial(old)
        self.assertEqual(old.request("GET", "/k1").status, 200)
        # certbot renews: a new leaf from the same CA, written over the live files.
        new_cert, new_key = tls_certs.make_leaf(self.certs, "localhost,renewed.example")
        shutil.copy(new_cert, self.cert)
        shutil.copy(new_key, self.key)
        start = len(self.server.log())
        os.kill(self.server.pid, signal.SIGHUP)
        self.server.wait_log(r"SIGHUP: 1 certificate pair reloaded", start=start)
        new = TlsClient(self.port, self.ctx)
        new_serial = self.serial(new)
        self.assertNotEqual(new_serial, old_serial)
        self.assertEqual(new.request("GET", "/k1").status, 200)
        self.assertEqual(old.request("GET", "/k1").body, payload(1000))  # still on the old pair
        old.close()
        new.close()

        # A key that does not match the certificate: refused, the renewed pair serves on.
        other_cert, _ = tls_certs.make_leaf(self.certs, "other.example")
        shutil.copy(other_cert, self.cert)
        start = len(self.server.log())
        os.kill(self.server.pid, signal.SIGHUP)
        line = self.server.wait_log(r"SIGHUP: certificates not reloaded", start=start)
        self.assertIn(self.cert if "does not match" not in line else "match", line)
        again = TlsClient(self.port, self.ctx)
        try:
            self.assertEqual(self.serial(again), new_serial)
            self.assertEqual(again.request("GET", "/k1").status, 200)
        finally:
            again.close()


class HttpsSmallInput(unittest.TestCase):
    """--max-input below a TLS record's size: none of a record is plaintext
    before all of it is in, so a bound that counted a partial record's
    ciphertext would stop reading short of it for good (OpenSSL takes a
    partial record into its own buffer, which holds one record at most:
    only what lies beyond it counts)."""

    def test_a_record_larger_than_max_input(self):
        harness.require_program("openssl")
        certs = tempfile.mkdtemp(prefix="splicehttpd-input-")
        root = harness.Root()
        try:
            root.write("k1", payload(1000))
            cert, key = tls_certs.make_leaf(certs, "localhost")
            server = harness.Server(root.path, "--tls-port", "0", "--tls-cert", cert, "--tls-key", key,
                                    "--max-input", "1024", "--debug")
            try:
                ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
                sock = socket.create_connection(("127.0.0.1", server.tls_port()), timeout=10)
                incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
                while True:
                    try:
                        tls.do_handshake()
                        break
                    except ssl.SSLWantReadError:
                        sock.sendall(outgoing.read())
                        incoming.write(sock.recv(65536))
                sock.sendall(outgoing.read())
                # One record of 6 KiB, sent in two parts: the first alone is
                # past --max-input.
                tls.write(b"GET /k1 HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 6000 + b"\r\n\r\n")
                record = outgoing.read()
                sock.sendall(record[:2000])
                time.sleep(0.3)
                sock.sendall(record[2000:])
                got = b""
                while not got.endswith(payload(1000)):
                    chunk = sock.recv(65536)
                    self.assertTrue(chunk, "closed: " + got.decode(errors="replace")[:100])
                    incoming.write(chunk)
                    try:
                        while True:
                            got += tls.read(65536)
                    except ssl.SSLWantReadError:
                        pass
                self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"))
                sock.close()
                # --debug says what was agreed, and which body path serves
                # (test_ktls.py: the kernel's, where it has kTLS).
                server.wait_log(r"tls: TLSv1\.3 TLS_\S+ sni=localhost alpn=- pair=0; "
                                r"(records sealed here|keys to the kernel)")
            finally:
                server.stop_checked()
        finally:
            root.cleanup()
            shutil.rmtree(certs)


class HttpsStop(unittest.TestCase):
    """SIGTERM with a TLS response in flight and a handshake half done: the
    response finishes byte-exact, the half handshake is closed, exit 0."""

    def test_sigterm_finishes_the_response(self):
        harness.require_program("openssl")
        certs = tempfile.mkdtemp(prefix="splicehttpd-stop-")
        root = harness.Root()
        try:
            root.write("m32", payload(32 << 20))
            cert, key = tls_certs.make_leaf(certs, "localhost")
            server = harness.Server(root.path, "--tls-port", "0", "--tls-cert", cert, "--tls-key", key)
            port = server.tls_port()
            ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
            c = TlsClient(port, ctx)
            half = socket.create_connection(("127.0.0.1", port))
            half.sendall(b"\x16\x03\x01\x02\x00\x01")
            c.send(b"GET /m32 HTTP/1.1\r\nHost: t\r\n\r\n")
            c._fill()  # the response has begun
            os.kill(server.pid, signal.SIGTERM)
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(hashlib.sha256(r.body).digest(), hashlib.sha256(payload(32 << 20)).digest())
            self.assertEqual(server.proc.wait(30), 0)
            half.settimeout(5)
            self.assertEqual(half.recv(100), b"")
            half.close()
            c.close()
            server.stop_checked()
        finally:
            root.cleanup()
            shutil.rmtree(certs)


class OwnServer(unittest.TestCase):
    """A server of the test's own, with a certificate, for flags the shared one lacks."""

    def start(self, *args, files=()):
        harness.require_program("openssl")
        self.certs = tempfile.mkdtemp(prefix="splicehttpd-own-")
        self.addCleanup(shutil.rmtree, self.certs)
        self.root = harness.Root()
        self.addCleanup(self.root.cleanup)
        for name, size in files:
            self.root.write(name, payload(size))
        cert, key = tls_certs.make_leaf(self.certs, "localhost")
        self.server = harness.Server(self.root.path, "--tls-port", "0", "--tls-cert", cert, "--tls-key", key, *args)
        self.addCleanup(self.server.stop_checked)
        self.tls_port = self.server.tls_port()
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))


class HttpsFewSlots(OwnServer):
    def test_both_listeners_get_a_slot(self):
        """Defect (fixed): the plain listener took its 16 accepts first and
        the TLS one what was left: with --max-conns 16 or less per thread,
        no HTTPS client was ever accepted."""
        self.start("--max-conns", "2", files=[("k1", 1000)])
        for _ in range(3):
            c = TlsClient(self.tls_port, self.ctx, timeout=5)
            try:
                self.assertEqual(c.request("GET", "/k1").body, payload(1000))
            finally:
                c.close()
            self.assertEqual(self.server.get("/k1").body, payload(1000))


class HttpsHandshakeTurns(OwnServer):
    def test_requests_go_before_a_burst_of_handshakes(self):
        """A ClientHello costs the server a key exchange and a signature, a
        request a few microseconds: of the completions that come together,
        the requests are answered first and the handshakes after
        (server/worker.cpp, run_handshakes), so a burst of new connections
        does not hold up the established ones. The server is stopped
        (SIGSTOP) while 40 ClientHellos and then one request reach it, so
        that they come in one turn or few: --debug's completion lines show
        the response's send before most handshakes', and every handshake
        then completes."""
        self.start("--debug", files=[("k1", 1000)])
        est = TlsClient(self.tls_port, self.ctx, timeout=10)
        self.addCleanup(est.close)
        self.assertEqual(est.request("GET", "/k1").body, payload(1000))
        est_conn = re.search(r"conn=(\d+) tls: TLSv1", self.server.wait_log(r"conn=\d+ tls: TLSv1")).group(1)

        n = 40
        socks, objs = [], []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", self.tls_port), timeout=10)
            self.addCleanup(s.close)
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            socks.append(s)
            objs.append((self.ctx.wrap_bio(incoming, outgoing, server_hostname="localhost"), incoming, outgoing))
        deadline = time.time() + 10
        while sum("accept(0)" in line for line in self.server.log()) < n + 1 and time.time() < deadline:
            time.sleep(0.02)
        # Once more: the file's descriptor is fresh in the cache, and the
        # response needs no lookup of its own.
        self.assertEqual(est.request("GET", "/k1").body, payload(1000))
        os.kill(self.server.proc.pid, signal.SIGSTOP)
        try:
            for s, (obj, _, outgoing) in zip(socks, objs):
                with self.assertRaises(ssl.SSLWantReadError):
                    obj.do_handshake()
                s.sendall(outgoing.read())  # the ClientHello
            start = len(self.server.log())
            est.sock.sendall(b"GET /k1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        finally:
            os.kill(self.server.proc.pid, signal.SIGCONT)
        r = est.read_response()
        self.assertEqual((r.status, r.body), (200, payload(1000)))
        # Every handshake completes, in its turn.
        for s, (obj, incoming, outgoing) in zip(socks, objs):
            while True:
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    if outgoing.pending:
                        s.sendall(outgoing.read())
                    data = s.recv(65536)
                    self.assertTrue(data, "closed mid-handshake")
                    incoming.write(data)
            if outgoing.pending:
                s.sendall(outgoing.read())  # the Finished
        # The response's send (under kTLS a plain send: the kernel seals
        # it): before all but the few flights of the first turns (a turn
        # gives the handshakes waiting a slice of 100 µs); after all 40
        # where they were answered in the order they came.
        sent = re.compile(r" w\d+ (tls-send|send)\(\d+\) conn=(\d+) ")
        flights, before = [], None
        for line in self.server.log()[start:]:
            m = sent.search(line)
            if m and m.group(2) == est_conn and before is None:
                before = len(flights)
            elif m and m.group(1) == "tls-send" and m.group(2) != est_conn:
                flights.append(line)
        self.assertGreaterEqual(len(flights), n)
        self.assertIsNotNone(before, "the response's send is not in the log")
        self.assertLess(before, n // 4, "the response waited for the handshakes:\n" + "\n".join(flights[:n // 4]))


    def test_a_waiting_handshake_whose_peer_ended_closes_at_once(self):
        """Defect (fixed, found by the end-to-end fuzzer): the turn of a
        waiting handshake (on_handshake_turn) changed the connection's state
        without settling it (the deadline its state wants, and the close once
        nothing is in flight). Here half a ClientHello, then the peer's end,
        wait behind 40 full ClientHellos (the server stopped meanwhile): the
        end comes before the turn, so no recv is armed when the turn closes
        the connection, and with nothing in flight to complete it sat in its
        close until the handshake deadline (where the assertion build died:
        not the queue the state wants). Now it closes at once."""
        self.start("--tls-handshake-timeout", "3", files=[("k1", 1000)])
        hellos = []
        for _ in range(41):
            out = ssl.MemoryBIO()
            obj = self.ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname="localhost")
            with self.assertRaises(ssl.SSLWantReadError):
                obj.do_handshake()
            hellos.append(out.read())
        socks = []
        for _ in hellos:
            s = socket.create_connection(("127.0.0.1", self.tls_port), timeout=10)
            self.addCleanup(s.close)
            socks.append(s)
        time.sleep(0.5)  # accepted
        os.kill(self.server.proc.pid, signal.SIGSTOP)
        try:
            for s, hello in zip(socks[:-1], hellos):
                s.sendall(hello)
            last = socks[-1]
            last.sendall(hellos[-1][:len(hellos[-1]) // 2])
            last.shutdown(socket.SHUT_WR)
        finally:
            os.kill(self.server.proc.pid, signal.SIGCONT)
        began = time.monotonic()
        try:
            while last.recv(4096):
                pass
        except ConnectionResetError:
            pass
        self.assertLess(time.monotonic() - began, 2.0, "closed only at the handshake deadline")
        self.assertIsNone(self.server.proc.poll(), "the server died")
        c = TlsClient(self.tls_port, self.ctx, timeout=10)
        self.addCleanup(c.close)
        self.assertEqual(c.request("GET", "/k1").body, payload(1000))


def linked_ipsec_mb():
    """Whether the binary under test links intel-ipsec-mb (tls/fast_gcm.hpp)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return False
    out = subprocess.run([ldd, harness.BINARY], capture_output=True, text=True).stdout
    return "libIPSec_MB" in out


def fast_gcm_expected():
    """intel-ipsec-mb's VAES code runs where the CPU has what its AVX-512
    VAES path needs (IMB_CPUFLAGS_AVX512_T2; its own check is CPUID, this is
    /proc/cpuinfo's, which also leaves out what the kernel does not enable)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(re.search(r"^flags\s*:(.*)$", f.read(), re.M).group(1).split())
    except (OSError, AttributeError):
        return False
    need = {"vaes", "vpclmulqdq", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512cd", "gfni", "avx512ifma",
            "sha_ni"}
    return linked_ipsec_mb() and need <= flags


class HttpsSealing(OwnServer):
    def test_records_are_sealed_by_the_server_itself(self):
        """Without kTLS, OpenSSL hands each connection's sending keys to the
        server's BIO as it would to a kTLS socket, and the server seals the
        records itself (tls/session.hpp, "Sealing"): tickets, responses of
        every size, alerts. The client must read every byte under TLS 1.3
        and 1.2, resume, and see close_notify at the end; --debug names the
        path on each handshake."""
        self.start("--debug", "--ktls", "off", files=[("k1", 1000), ("m2", 2 << 20), ("k40", 40_000)])
        sealed = r"tls: TLSv1\.[23] .*; records sealed here"
        # The start-up line names whose AES-GCM seals: intel-ipsec-mb where the
        # build links it and the CPU has its VAES/AVX-512 code, else OpenSSL.
        aead = re.search(r"; AES-GCM in user space: (.*)$", self.server.wait_log(r"AES-GCM in user space: ")).group(1)
        if fast_gcm_expected():
            self.assertRegex(aead, r"^intel-ipsec-mb \S+ \(VAES, AVX-512\)$")
        else:
            self.assertEqual(aead, "OpenSSL")
        contexts = {}
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            contexts[version] = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
            contexts[version].minimum_version = contexts[version].maximum_version = version
        session = None
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2):
            with self.subTest(version=version.name, resumed=session is not None):
                ctx = contexts[version]
                start = len(self.server.log())
                c = TlsClient(self.tls_port, ctx, timeout=10, session=session)
                c.sock.suppress_ragged_eofs = False  # a close without close_notify raises SSLEOFError
                try:
                    for path, size in (("/k1", 1000), ("/m2", 2 << 20), ("/k1", 1000), ("/k40", 40_000)):
                        r = c.request("GET", path)
                        self.assertEqual((r.status, len(r.body)), (200, size))
                        self.assertEqual(r.body, payload(size))
                    r = c.request("GET", "/k40", headers={"Connection": "close"})
                    self.assertEqual(r.body, payload(40_000))
                    self.assertEqual(c.sock.recv(100), b"")  # close_notify
                    if session is not None:
                        self.assertTrue(c.sock.session_reused)
                    session = c.sock.session if version == ssl.TLSVersion.TLSv1_2 else None
                except ssl.SSLEOFError as e:
                    self.fail(f"closed without close_notify: {e}")
                finally:
                    c.close()
                self.server.wait_log(sealed, start=start)
        # curl's OpenSSL reads it as well.
        curl = harness.require_program("curl")
        out = subprocess.run([curl, "-sS", "--cacert", os.path.join(self.certs, "ca.crt"),
                              f"https://localhost:{self.tls_port}/m2"], capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(hashlib.sha256(out.stdout).digest(), hashlib.sha256(payload(2 << 20)).digest())
        self.assertFalse([line for line in self.server.log() if "records written by OpenSSL" in line])


class HttpsLinger(OwnServer):
    def test_a_closing_response_is_not_cut_by_unread_ciphertext(self):
        """Defect (fixed): a response with Connection: close and pipelined
        requests behind it (past --max-input, here its least) closes lingering, reading and
        dropping what the peer still sends; the ciphertext left in the
        session still counted as input, so the recv was never armed again,
        the close came with unread input after the linger (a reset) and the
        client lost the end of the body. (Found by review on an earlier
        build, where this shape reproduced it; on the build it was fixed in
        it no longer did without the fix: the shape is kept as a guard.)"""
        self.start("--max-input", "1024", "--send-timeout", "3", "--pipes", "2",
                   files=[("mid.bin", 200_000), ("small.txt", 10)])
        raw = harness.small_window_socket(self.tls_port, rcvbuf=8192)
        s = self.ctx.wrap_socket(raw, server_hostname="localhost")
        junk = b"".join(b"GET /small.txt?%d HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\n\r\n" % (i, b"p" * 1000)
                        for i in range(100))
        s.sendall(b"GET /mid.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + junk)
        got = bytearray()
        s.settimeout(30)
        try:
            while True:  # about 20 KB/s: past the 5 s linger
                data = s.recv(4096)
                if not data:
                    break
                got += data
                time.sleep(0.2)
        except (OSError, ssl.SSLError) as e:
            self.fail(f"{e!r} after {len(got)} bytes")
        finally:
            s.close()
        self.assertEqual(bytes(got).partition(b"\r\n\r\n")[2], payload(200_000))


class WithCert(unittest.TestCase):
    """A certificate for localhost, its CA's context, a root with /k1."""

    def setUp(self):
        harness.require_program("openssl")
        self.certs = tempfile.mkdtemp(prefix="splicehttpd-conf-")
        self.addCleanup(shutil.rmtree, self.certs)
        self.root = harness.Root()
        self.addCleanup(self.root.cleanup)
        self.root.write("k1", payload(1000))
        self.cert, self.key = tls_certs.make_leaf(self.certs, "localhost")
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))


BIG = payload(2 << 20)


class CloseNotify(WithCert):
    """A connection closed between requests (the keep-alive timeout, SIGTERM,
    the peer's own close_notify) is told so with close_notify first, as
    nginx does: a client that treats a close without it as truncation
    (suppress_ragged_eofs off) sees a clean end."""

    def connect(self, server):
        c = TlsClient(server.tls_port(), self.ctx, timeout=10)
        c.sock.suppress_ragged_eofs = False  # a close without close_notify raises SSLEOFError
        self.assertEqual(c.request("GET", "/k1").body, payload(1000))
        return c

    def assert_clean_end(self, c):
        try:
            self.assertEqual(c.sock.recv(100), b"")
        except ssl.SSLEOFError as e:
            self.fail(f"closed without close_notify: {e}")
        finally:
            c.close()

    def test_keepalive_timeout_stop_and_the_peers_close_notify(self):
        self.root.write("big", BIG)
        server = harness.Server(self.root.path, "--tls-port", "0", "--tls-cert", self.cert, "--tls-key", self.key,
                                "--keepalive-timeout", "2")
        try:
            with self.subTest("keep-alive timeout"):
                # Two, the second idle from a tick later: the first's
                # close_notify must not put it back in the keep-alive queue
                # behind the second (that queue is in order of time; the
                # server asserted, e2e_fuzz --tls seed 4188340673).
                first = self.connect(server)
                time.sleep(1.2)  # more than a tick: the second is still in the queue when the first ends
                second = self.connect(server)
                self.assert_clean_end(first)
                self.assert_clean_end(second)
                self.assertTrue(server.alive())
            with self.subTest("the peer's close_notify"):
                c = self.connect(server)
                try:
                    c.sock.unwrap()  # sends ours, returns once the server's has come
                except (ssl.SSLError, OSError) as e:
                    self.fail(f"no close_notify in answer: {e}")
                finally:
                    c.sock.close()
            with self.subTest("SIGTERM, one idle and one in the middle of a response"):
                c = self.connect(server)
                # Its response was planned before the stop (no Connection:
                # close) and is held by a 4 KiB window when the stop comes;
                # it finishes, then close_notify goes before the close.
                # Defect (fixed): that close had no close_notify.
                raw = harness.small_window_socket(server.tls_port(), timeout=10)
                busy = TlsClient(server.tls_port(), self.ctx, timeout=10, raw=raw)
                busy.sock.suppress_ragged_eofs = False
                busy.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
                time.sleep(0.5)  # the response is under way, held by the window
                server.proc.send_signal(signal.SIGTERM)
                self.assert_clean_end(c)
                r = busy.read_response()
                self.assertEqual((r.status, r.body), (200, BIG))
                self.assertIsNone(r.header("connection"))  # planned before the stop
                self.assert_clean_end(busy)
                self.assertEqual(server.proc.wait(30), 0)  # (stop_checked then sends no second SIGTERM)
        finally:
            server.stop_checked()


class HttpsConfigFile(WithCert):
    """HTTPS set in --config FILE, as any other setting."""

    def write_config(self, text):
        path = os.path.join(self.certs, "splicehttpd.toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_tls_port_cert_and_key_in_the_file(self):
        """Defect (fixed): each setting of the file was checked alone first,
        and `tls-port` alone "needs --tls-cert and --tls-key": HTTPS could
        not be configured in a file at all."""
        path = self.write_config(f'tls-port = 0\ntls-cert = ["{self.cert}"]\ntls-key = ["{self.key}"]\n')
        server = harness.Server(self.root.path, "--config", path)
        try:
            c = TlsClient(server.tls_port(), self.ctx, timeout=10)
            try:
                self.assertEqual(c.request("GET", "/k1").body, payload(1000))
            finally:
                c.close()
        finally:
            server.stop_checked()


class UnixClient(Client):
    """harness.Client on a unix socket."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = bytearray()


class UnixTlsClient(UnixClient):
    """... over TLS."""

    def __init__(self, path, ctx, timeout=10):
        super().__init__(path, timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")


def start_urls(server):
    """The URLs of the start line, in order."""
    line = server.wait_log(r"listening on ")
    return re.search(r"listening on (.*) \(\d+ threads?, root ", line).group(1).split(", ")


class HttpsListenOptions(WithCert):
    """TLS on a --listen address ("127.0.0.1:8443 tls", nginx's `listen ...
    ssl`), TCP or unix, without --tls-port; mode= for a unix socket's file."""

    PLAIN_400 = Https.PLAIN_400

    def get(self, client, path="/k1"):
        try:
            return client.request("GET", path)
        finally:
            client.close()

    def test_plain_and_tls_listeners_without_tls_port(self):
        tls_port = harness.free_port()
        sock = os.path.join(self.certs, "s.sock")
        server = harness.Server(self.root.path, "--listen", f"127.0.0.1:{tls_port} tls", "--listen",
                                f"unix:{sock} ssl mode=0660", "--tls-cert", self.cert, "--tls-key", self.key,
                                threads=2)
        try:
            self.assertEqual(start_urls(server),
                             [f"http://127.0.0.1:{server.port}", f"https://127.0.0.1:{tls_port}", f"unix:{sock}"])
            self.assertEqual(os.stat(sock).st_mode & 0o7777, 0o660)
            r = server.get("/k1")
            self.assertEqual((r.status, r.body), (200, payload(1000)))
            r = self.get(TlsClient(tls_port, self.ctx, timeout=10))
            self.assertEqual((r.status, r.body), (200, payload(1000)))
            r = self.get(UnixTlsClient(sock, self.ctx))
            self.assertEqual((r.status, r.body), (200, payload(1000)))
            # Plain HTTP on a TLS listener: the TLS port's plain 400, then the close.
            for c in (Client(tls_port, timeout=10), UnixClient(sock)):
                try:
                    c.send(b"GET /k1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    r = c.read_response()
                    self.assertEqual(r.status, 400)
                    self.assertIn(self.PLAIN_400, r.body)
                    self.assertTrue(c.closed_by_peer(6))
                finally:
                    c.close()
            # Each kind of listener, again, on each worker's socket.
            for _ in range(4):
                self.assertEqual(self.get(TlsClient(tls_port, self.ctx, timeout=10)).status, 200)
                self.assertEqual(self.get(UnixTlsClient(sock, self.ctx)).status, 200)
                self.assertEqual(server.get("/k1").status, 200)
        finally:
            server.stop_checked()
        self.assertFalse(os.path.exists(sock))

    def test_https_redirect_names_the_first_tcp_tls_listener_or_tls_port(self):
        first, second = harness.free_port(), harness.free_port()
        sock = os.path.join(self.certs, "s.sock")
        pairs = ("--tls-cert", self.cert, "--tls-key", self.key)
        for extra in ((), ("--tls-port", "0")):
            with self.subTest(extra=extra):
                server = harness.Server(self.root.path, "--listen", f"unix:{sock} tls", "--listen",
                                        f"127.0.0.1:{first} tls", "--listen", f"127.0.0.1:{second} tls", *pairs,
                                        "--https-redirect", *extra)
                try:
                    urls = start_urls(server)
                    want = int(urls[-1].rpartition(":")[2]) if extra else first
                    r = server.get("/k1", headers={"Host": "www.example"})
                    self.assertEqual((r.status, r.header("location")), (308, f"https://www.example:{want}/k1"))
                    # A unix client is not redirected (it has no port to go to).
                    r = self.get(UnixTlsClient(sock, self.ctx))
                    self.assertEqual((r.status, r.body), (200, payload(1000)))
                finally:
                    server.stop_checked()

    def test_one_slot_serves_every_kind_of_listener(self):
        """--max-conns 1: the slot waits on one listener, and a client of
        another (plain, TLS, TLS on a unix socket) is still accepted."""
        tls_port = harness.free_port()
        sock = os.path.join(self.certs, "s.sock")
        server = harness.Server(self.root.path, "--listen", f"127.0.0.1:{tls_port} tls", "--listen",
                                f"unix:{sock} tls", "--tls-cert", self.cert, "--tls-key", self.key, "--max-conns", "1")
        try:
            for which in ["unix", "tls", "plain", "tls", "unix", "unix", "plain", "plain", "tls"]:
                with self.subTest(which=which):
                    if which == "plain":
                        r = server.get("/k1")
                    elif which == "tls":
                        r = self.get(TlsClient(tls_port, self.ctx, timeout=10))
                    else:
                        r = self.get(UnixTlsClient(sock, self.ctx))
                    self.assertEqual((r.status, r.body), (200, payload(1000)))
        finally:
            server.stop_checked()

    def test_bad_options_exit_2_with_one_line(self):
        pairs = ("--tls-cert", self.cert, "--tls-key", self.key)
        sock = os.path.join(self.certs, "s.sock")
        cases = [
            (("--listen", "127.0.0.1:8443 tsl", *pairs),
             "--listen 127.0.0.1:8443 tsl: unknown option 'tsl'; expected tls (or ssl) or, for a unix socket, "
             "mode=OCTAL"),
            (("--listen", "127.0.0.1:8443 tls ssl", *pairs),
             "--listen 127.0.0.1:8443 tls ssl: 'ssl': tls (or ssl) given twice"),
            (("--listen", "127.0.0.1:8443 mode=0660"),
             "--listen 127.0.0.1:8443 mode=0660: 'mode=0660': mode= is for a unix socket's file, not a TCP address"),
            (("--listen", f"unix:{sock} mode=999"),
             f"--listen unix:{sock} mode=999: 'mode=999': the mode is octal, from 0 to 0777 (mode=0660)"),
            (("--listen", f"unix:{sock} mode=0660 mode=0600"),
             f"--listen unix:{sock} mode=0660 mode=0600: 'mode=0600': mode= given twice"),
            (("--listen", "127.0.0.1:8443 tls"), "--listen 127.0.0.1:8443 tls: tls needs --tls-cert and --tls-key"),
            (("--listen", f"unix:{sock} tls", "--https-redirect", *pairs),
             "--https-redirect needs a TLS listener: --tls-port, or tls after a TCP --listen address"),
            (("--listen", "127.0.0.1:8443", *pairs),
             "--tls-cert and --tls-key need a TLS listener: --tls-port, or tls after a --listen address"),
            (("--metrics-listen", "127.0.0.1:9145 tls"),
             "--metrics-listen 127.0.0.1:9145 tls: an address without options (/metrics is plain HTTP)"),
        ]
        for args, expect in cases:
            with self.subTest(args=args):
                for check in ((), ("--check-config",)):
                    out = subprocess.run([harness.BINARY, "--root", self.root.path, "--port", "0", *harness.ROOT_ARGS,
                                          *args, *check], capture_output=True, text=True, timeout=30)
                    self.assertEqual(out.returncode, 1 if check else 2, out.stderr)
                    self.assertEqual(out.stderr.splitlines(), ["splicehttpd: " + expect])
        self.assertFalse(os.path.exists(sock))


class HttpsFlags(unittest.TestCase):
    def test_bad_pairs_exit_2_with_one_line(self):
        certs = tempfile.mkdtemp(prefix="splicehttpd-flags-")
        try:
            cert, key = tls_certs.make_leaf(certs, "localhost")
            other_cert, _ = tls_certs.make_leaf(certs, "other.example")
            for args, word in (([cert, os.path.join(certs, "missing.key")], "missing.key"),
                               ([other_cert, key], "match"),
                               ([key, key], "certificate")):
                out = subprocess.run([harness.BINARY, "--root", certs, "--port", "0", "--tls-port", "0",
                                      "--tls-cert", args[0],
                                      "--tls-key", args[1], "--no-sandbox", "--allow-root"],
                                     capture_output=True, text=True, timeout=10)
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)
                self.assertIn(word, out.stderr)
        finally:
            shutil.rmtree(certs)

    def test_tls_port_on_a_listen_address_exits_2_before_binding(self):
        # --tls-port's address (the first TCP --listen's, on that port)
        # beside the --listen ones: --check-config said ok and the bind then
        # failed at start-up ("Address already in use"), or with SO_REUSEPORT
        # plain and TLS would share a port.
        certs = tempfile.mkdtemp(prefix="splicehttpd-flags-")
        try:
            cert, key = tls_certs.make_leaf(certs, "localhost")
            port = str(harness.free_port())
            for listen, word in ((["127.0.0.1:" + port], "the same address as '127.0.0.1:" + port + "'"),
                                 (["127.0.0.1:1", "127.0.0.1:" + port], "the same address"),
                                 (["0.0.0.0:1", "127.0.0.1:" + port], "overlaps")):
                for check in ([], ["--check-config"]):
                    with self.subTest(listen=listen, check=check):
                        out = subprocess.run([harness.BINARY, "--root", certs, *[a for l in listen for a in
                                                                                 ("--listen", l)],
                                              "--tls-port", port, "--tls-cert", cert, "--tls-key", key,
                                              "--no-sandbox", "--allow-root", *check],
                                             capture_output=True, text=True, timeout=10)
                        self.assertEqual(out.returncode, 1 if check else 2, out.stderr)
                        self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)
                        self.assertIn(f"--tls-port {port}: HTTPS on https://", out.stderr)
                        self.assertIn(word, out.stderr)
        finally:
            shutil.rmtree(certs)


class HttpsReviewBytes(OwnServer):
    """Review of the shared head-and-body records (tls_gather): every shape
    of plan, byte-exact over TLS 1.2 and 1.3, with and without the cache
    (--cache off: each head waits for its body's read)."""

    SIZES = {"r0": 0, "r1": 1, "r16383": 16383, "r16384": 16384, "r16385": 16385, "r40000": 40000}

    def check_all(self, cache):
        self.start("--autoindex", "--cache", cache, files=list(self.SIZES.items()) + [("dir/a", 10), ("dir/b", 20)])
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
            ctx.minimum_version = ctx.maximum_version = version
            c = TlsClient(self.tls_port, ctx, timeout=10)
            try:
                for _ in range(2):
                    for name, size in self.SIZES.items():
                        with self.subTest(cache=cache, version=version.name, name=name):
                            data = payload(size)
                            r = c.request("GET", "/" + name)
                            self.assertEqual((r.status, bytes(r.body)), (200, data))
                            h = c.request("HEAD", "/" + name)
                            self.assertEqual(h.header("content-length"), str(size))
                            if size >= 2:
                                r = c.request("GET", "/" + name, {"Range": "bytes=-1"})
                                self.assertEqual((r.status, bytes(r.body)), (206, data[-1:]))
                                r = c.request("GET", "/" + name, {"Range": f"bytes=0-0,{size - 1}-"})
                                self.assertEqual(r.status, 206)
                                parts = bytes(r.body).split(b"\r\n\r\n")
                                self.assertEqual(parts[1][:1], data[:1])
                                self.assertEqual(parts[2][:1], data[-1:])
                            if size:
                                etag = c.request("GET", "/" + name).header("etag")
                                r = c.request("GET", "/" + name, {"If-None-Match": etag})
                                self.assertEqual((r.status, bytes(r.body)), (304, b""))
                    listing = c.request("GET", "/dir/")
                    self.assertEqual(listing.status, 200)
                    self.assertEqual(bytes(listing.body), self.server.get("/dir/").body)
            finally:
                c.close()

    def test_every_shape_with_the_cache(self):
        self.check_all("on")

    def test_every_shape_without_the_cache(self):
        self.check_all("off")

    def test_a_file_that_shrinks_between_requests(self):
        self.start("--cache", "off", files=[("s", 40000)])
        c = TlsClient(self.tls_port, self.ctx, timeout=10)
        try:
            self.assertEqual(bytes(c.request("GET", "/s").body), payload(40000))
            self.root.write("s", payload(40000)[:5000])
            self.assertEqual(bytes(c.request("GET", "/s").body), payload(40000)[:5000])
            self.root.write("s", b"")
            self.assertEqual(bytes(c.request("GET", "/s").body), b"")
        finally:
            c.close()
        self.server.wait_idle()


class HttpsReviewClose(OwnServer):
    """Review of close_notify between requests: the peer's odd ends, a
    peer that never reads, a stop with many idle connections."""

    def connect(self, **kw):
        c = TlsClient(self.tls_port, self.ctx, timeout=10, **kw)
        self.assertEqual(bytes(c.request("GET", "/k1").body), payload(1000))
        return c

    def bio_client(self, version):
        """A handshake over memory BIOs: the test says when the socket is read."""
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        ctx.minimum_version = ctx.maximum_version = version
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        o = ctx.wrap_bio(inc, out, server_hostname="localhost")
        s = socket.create_connection(("127.0.0.1", self.tls_port), timeout=30)
        while True:
            try:
                o.do_handshake()
                break
            except ssl.SSLWantReadError:
                s.sendall(out.read())
                inc.write(s.recv(65536))
        s.sendall(out.read())
        return o, out, s

    def test_the_peers_odd_ends(self):
        self.start("--keepalive-timeout", "1", "--max-conns", "1", files=[("k1", 1000)])
        fds = self.server.fd_count()
        with self.subTest("reset right after the server's close_notify"):
            c = self.connect()
            c.sock.settimeout(5)
            self.assertEqual(c.sock.recv(10), b"")  # close_notify came
            harness.reset(c.sock)
        with self.subTest("close_notify and FIN at once"):
            o, out, s = self.bio_client(ssl.TLSVersion.TLSv1_3)
            o.write(b"GET /k1 HTTP/1.1\r\nHost: x\r\n\r\n")
            s.sendall(out.read())
            got = s.recv(65536)
            while len(got) < 1000:  # the response has come (still sealed: the body alone is 1000)
                got += s.recv(65536)
            try:
                o.unwrap()  # ours, written into `out` (nothing is read here)
            except ssl.SSLWantReadError:
                pass
            s.sendall(out.read())
            s.shutdown(socket.SHUT_WR)
            while data := s.recv(65536):
                got += data
            # The last record is the server's alert: TLS 1.3's outer type
            # 23, 2 bytes + its type + a 16-byte tag.
            self.assertEqual(got[-24:-19], b"\x17\x03\x03\x00\x13")
            s.close()
        with self.subTest("half-close"):
            c = self.connect()
            c.sock.settimeout(5)
            socket.socket.shutdown(c.sock, socket.SHUT_WR)
            try:
                self.assertEqual(c.sock.recv(10), b"")
            except (ssl.SSLError, OSError):
                pass
            c.sock.close()
        # The one slot is free again each time: a new client is served.
        for _ in range(3):
            c = self.connect()
            c.close()
        self.server.wait_idle()
        self.assertEqual(self.server.fd_count(), fds)

    def test_a_peer_that_never_reads_frees_its_slot(self):
        self.start("--keepalive-timeout", "1", "--send-timeout", "2", "--max-conns", "1", files=[("big", 4 << 20),
                                                                                               ("k1", 1000)])
        fds = self.server.fd_count()
        raw = harness.small_window_socket(self.tls_port, rcvbuf=4096, mss=536)
        s = self.ctx.wrap_socket(raw, server_hostname="localhost")
        s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
        t0 = time.monotonic()
        c = None
        while time.monotonic() - t0 < 15:
            try:
                c = self.connect()
                break
            except (OSError, ssl.SSLError, AssertionError):
                time.sleep(0.5)
        self.assertIsNotNone(c, "the slot was never freed")
        self.assertLess(time.monotonic() - t0, 10)
        c.close()
        s.close()
        self.server.wait_idle()
        self.assertEqual(self.server.fd_count(), fds)

    def test_the_peers_close_notify_during_a_response(self):
        """Defect (fixed): close_notify that came (without a FIN) while a
        response was being sent was not acted on after it: the session said
        "no input" without asking OpenSSL, which would have said "closed"
        again, and the connection stayed open until the keep-alive timeout
        (20 s here)."""
        self.start("--keepalive-timeout", "20", files=[("big", 4 << 20)])
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            with self.subTest(version=version.name):
                o, out, s = self.bio_client(version)
                o.write(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
                s.sendall(out.read())
                got = len(s.recv(65536))  # the response has begun
                try:
                    o.unwrap()  # our close_notify (what comes is not read into the session)
                except ssl.SSLWantReadError:
                    pass
                s.sendall(out.read())
                t0 = time.monotonic()
                while data := s.recv(65536):
                    got += len(data)
                self.assertGreater(got, 4 << 20)
                self.assertLess(time.monotonic() - t0, 10)
                s.close()

    def test_sigterm_with_200_idle_connections(self):
        self.start("--max-conns", "400", files=[("k1", 1000)])
        cs = [self.connect() for _ in range(200)]
        t0 = time.monotonic()
        os.kill(self.server.pid, signal.SIGTERM)
        self.assertEqual(self.server.proc.wait(30), 0)
        self.assertLess(time.monotonic() - t0, 5)
        for c in cs:
            c.close()


def _libssl():
    """The libssl that Python's ssl module runs on (the same shared object),
    for what the ssl module does not offer: SSL_key_update, SSL_renegotiate,
    a TLS 1.3 cipher list (SSL_set_ciphersuites)."""
    import ctypes
    lib = ctypes.CDLL("libssl.so.3")
    for name, args in (("SSL_key_update", [ctypes.c_void_p, ctypes.c_int]), ("SSL_renegotiate", [ctypes.c_void_p]),
                       ("SSL_is_server", [ctypes.c_void_p]), ("SSL_version", [ctypes.c_void_p]),
                       ("SSL_set_cipher_list", [ctypes.c_void_p, ctypes.c_char_p]),
                       ("SSL_set_ciphersuites", [ctypes.c_void_p, ctypes.c_char_p])):
        getattr(lib, name).argtypes = args
        getattr(lib, name).restype = ctypes.c_int
    return lib


def ssl_pointer(sock):
    """The SSL* of an ssl.SSLSocket: CPython's PySSLSocket holds it after
    PyObject_HEAD and the weak reference to the socket (Modules/_ssl.c)."""
    import ctypes
    word = ctypes.sizeof(ctypes.c_void_p)
    return ctypes.c_void_p.from_address(id(sock._sslobj) + 3 * word).value


class HttpsSealingHostile(OwnServer):
    """Clients that push the server's own record sealing (tls/record_sealer)
    where OpenSSL's kTLS hand-off has no keys to pass on: the peer's
    KeyUpdate mid-body and between requests, a TLS 1.2 renegotiation
    mid-body, garbage records, resets, pipelined requests of mixed sizes.
    Every response must be byte-exact, or a prefix of it and then the
    connection closed; never a record the client cannot decrypt, and no
    sanitizer report (stop_checked)."""

    FILES = [("k1", 1000), ("k20", 20_000), ("k70", 70_000), ("m1", (1 << 20) + 1), ("m4", 4 << 20), ("empty", 0)]

    def setUp(self):
        self.start("--ktls", "off", "--send-timeout", "5", files=self.FILES)
        self.lib = _libssl()

    def assert_serves(self):
        c, _ = self.connect()
        try:
            self.assertEqual(c.request("GET", "/k70").body, payload(70_000))
        finally:
            c.close()

    def context(self, version):
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        ctx.minimum_version = ctx.maximum_version = version
        ctx.options &= ~ssl.OP_NO_RENEGOTIATION  # ours to ask for
        return ctx

    def connect(self, version=ssl.TLSVersion.TLSv1_3):
        c = TlsClient(self.tls_port, self.context(version), timeout=15)
        c.sock.suppress_ragged_eofs = False
        p = ssl_pointer(c.sock)
        self.assertEqual((self.lib.SSL_is_server(p), self.lib.SSL_version(p)),
                         (0, 0x304 if version == ssl.TLSVersion.TLSv1_3 else 0x303))
        return c, p

    def read_all(self, c, limit=30):
        """Everything until the end of the stream: (bytes, how it ended)."""
        end = "eof"
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                chunk = c.sock.recv(1 << 20)
            except ssl.SSLEOFError:
                return bytes(c.buf), "eof without close_notify"
            except ssl.SSLError as e:
                return bytes(c.buf), f"ssl error: {e}"
            except (ConnectionResetError, BrokenPipeError):
                return bytes(c.buf), "reset"
            except socket.timeout:
                return bytes(c.buf), "timeout"
            if not chunk:
                return bytes(c.buf), end
            c.buf += chunk
        return bytes(c.buf), "timeout"

    def assert_prefix_of_responses(self, got, sizes, ended, complete=False):
        """got: the responses for files of `sizes`, in order, byte-exact, or
        a prefix of them that stops at the close (never other bytes)."""
        self.assertNotIn("ssl error", ended, ended)
        self.assertNotEqual(ended, "timeout")
        rest, whole = got, 0
        for size in sizes:
            head_end = rest.find(b"\r\n\r\n")
            if head_end < 0:
                self.assertFalse(complete, f"{whole} whole responses, then {rest[:80]!r}")
                self.assertTrue(rest == b"" or b"HTTP/1.1 200 OK".startswith(rest[:15]), rest[:80])
                return whole
            head = rest[:head_end].decode("latin-1")
            self.assertTrue(head.startswith("HTTP/1.1 200"), head)
            self.assertIn(f"content-length: {size}", head.lower())
            body = rest[head_end + 4:head_end + 4 + size]
            self.assertEqual(body, payload(size)[:len(body)], f"response {whole}: the body differs")
            rest = rest[head_end + 4 + len(body):]
            if len(body) < size:
                self.assertFalse(complete, f"response {whole} cut at {len(body)} of {size}")
                return whole
            whole += 1
        self.assertEqual(rest, b"")
        return whole

    @staticmethod
    def get(path, close=False):
        return f"GET {path} HTTP/1.1\r\nHost: t\r\n{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n"

    def test_key_update_not_requested_mid_body_and_between_requests(self):
        """The peer's KeyUpdate(update_not_requested) changes only the keys
        it sends under: everything continues, byte-exact."""
        c, p = self.connect()
        try:
            c.send(self.get("/m4"))
            while len(c.buf) < 1 << 20:
                c.buf += c.sock.recv(1 << 16)
            self.assertEqual(self.lib.SSL_key_update(p, 0), 1)
            c.send(self.get("/k20"))  # the KeyUpdate goes first
            self.assertEqual(self.lib.SSL_key_update(p, 0), 1)
            c.send(self.get("/k1", close=True))
            got, ended = self.read_all(c)
            self.assertEqual(ended, "eof")  # close_notify
            self.assertEqual(self.assert_prefix_of_responses(got, [4 << 20, 20_000, 1000], ended, complete=True), 3)
        finally:
            c.close()

    def test_key_update_requested_mid_body(self):
        """update_requested: RFC 8446 4.6.3 wants the server's KeyUpdate
        before its next record, which OpenSSL 3.0 gives the sealer no keys
        for: the response stops, byte-exact as far as it goes, and the
        connection closes; never a record under keys the client does not
        expect."""
        for when in ("mid-body", "between requests"):
            with self.subTest(when=when):
                c, p = self.connect()
                try:
                    if when == "mid-body":
                        c.send(self.get("/m4"))
                        while len(c.buf) < 1 << 20:
                            c.buf += c.sock.recv(1 << 16)
                        sizes = [4 << 20, 1000]
                    else:
                        r = c.request("GET", "/k70")
                        self.assertEqual(r.body, payload(70_000))
                        sizes = [1000]
                    self.assertEqual(self.lib.SSL_key_update(p, 1), 1)
                    c.send(self.get("/k1"))
                    got, ended = self.read_all(c)
                    self.assert_prefix_of_responses(got, sizes, ended)
                finally:
                    c.close()
        self.assert_serves()
        c, _ = self.connect()
        self.assertEqual(c.request("GET", "/k70").body, payload(70_000))
        c.close()

    def test_tls12_renegotiation_mid_body(self):
        """The server refuses renegotiation (no_renegotiation); what it sent
        of the body stays byte-exact and the connection either goes on or
        closes."""
        c, p = self.connect(ssl.TLSVersion.TLSv1_2)
        try:
            c.send(self.get("/m4") + self.get("/k1", close=True))
            while len(c.buf) < 1 << 20:
                c.buf += c.sock.recv(1 << 16)
            # The ClientHello goes with the next SSL_read, which takes the
            # application data that comes meanwhile (SSL_do_handshake would
            # call it an unexpected record).
            self.assertEqual(self.lib.SSL_renegotiate(p), 1)
            got, ended = self.read_all(c)
            # The refusal is a warning alert (no_renegotiation), sealed like
            # any other record: the client's OpenSSL reads it and gives up.
            if ended == "ssl error: [SSL: NO_RENEGOTIATION] no renegotiation (_ssl.c:2580)":
                ended = "refused"
            self.assert_prefix_of_responses(got, [4 << 20, 1000], ended)
        finally:
            c.close()
        self.assert_serves()

    def test_garbage_records_mid_body(self):
        """A record the server cannot open, mid-body: the server's alert is
        sealed after the records already sent, and the client reads every
        byte before it."""
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            for garbage in (b"\x17\x03\x03\x00\x20" + b"\xaa" * 32, b"\x16\x03\x03\x00\x04\x01\x00\x00\x00",
                            b"\x15\x03\x03\x00\x02\x02\x28", b"\x18\x03\x03\x00\x01\x00"):
                with self.subTest(version=version.name, garbage=garbage[:6]):
                    c, _ = self.connect(version)
                    try:
                        c.send(self.get("/m4"))
                        while len(c.buf) < 1 << 19:
                            c.buf += c.sock.recv(1 << 16)
                        raw = socket.socket(fileno=os.dup(c.sock.fileno()))
                        raw.sendall(garbage)
                        raw.close()
                        got, ended = self.read_all(c)
                        # the alert itself is the client's error to see
                        if ended.startswith("ssl error") and ("ALERT" in ended.upper() or "alert" in ended):
                            ended = "alert"
                        self.assert_prefix_of_responses(got, [4 << 20], ended)
                    finally:
                        c.close()
        self.assert_serves()

    def test_pipelined_mixed_sizes_both_versions_resumed(self):
        """Tickets, then responses of every size back to back, then
        close_notify, on a full and a resumed handshake of each version:
        the sequence numbers run on across all of them."""
        sizes = [1000, 0, 70_000, 20_000, (1 << 20) + 1, 1000, 0, 20_000, 70_000, 1000]
        names = {1000: "/k1", 0: "/empty", 70_000: "/k70", 20_000: "/k20", (1 << 20) + 1: "/m1"}
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx, session = self.context(version), None
            for resumed in (False, True):
                with self.subTest(version=version.name, resumed=resumed):
                    c = TlsClient(self.tls_port, ctx, timeout=15, session=session)
                    c.sock.suppress_ragged_eofs = False
                    try:
                        c.send("".join(self.get(names[s], close=i == len(sizes) - 1) for i, s in enumerate(sizes)))
                        got, ended = self.read_all(c)
                        self.assertEqual(ended, "eof")
                        self.assert_prefix_of_responses(got, sizes, ended, complete=True)
                        self.assertEqual(c.sock.session_reused, resumed)
                        session = c.sock.session
                    finally:
                        c.close()

    def test_every_suite_through_s_client(self):
        """Each AEAD the sealer takes, under both versions, through another
        reader (openssl s_client): pipelined bodies byte-exact, then the
        close."""
        openssl = harness.require_program("openssl")
        req = (self.get("/k70") + self.get("/m1") + self.get("/empty") + self.get("/k1", close=True)).encode()
        suites = [("-tls1_3", "-ciphersuites", s) for s in
                  ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")]
        suites += [("-tls1_2", "-cipher", s) for s in
                   ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305")]
        for version, flag, suite in suites:
            with self.subTest(suite=suite):
                out = subprocess.run([openssl, "s_client", "-connect", f"127.0.0.1:{self.tls_port}", version, flag, suite,
                                      "-quiet", "-ign_eof", "-servername", "localhost",
                                      "-CAfile", os.path.join(self.certs, "ca.crt")],
                                     input=req, capture_output=True, timeout=30)
                self.assertEqual(out.returncode, 0, out.stderr[-300:])
                self.assert_prefix_of_responses(out.stdout, [70_000, (1 << 20) + 1, 0, 1000], "eof", complete=True)

    def test_the_server_order_picks_the_cipher(self):
        """The server's order decides: AES-128-GCM for a client that lists
        AES-256-GCM first (OpenSSL's, curl's and Python's default), the
        client's ChaCha20-Poly1305 where it lists that first, and what a
        client offers alone. Under TLS 1.3 and 1.2."""
        openssl = harness.require_program("openssl")
        cases = [
            ("-tls1_3", None, "TLS_AES_128_GCM_SHA256"),
            ("-tls1_3", "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
             "TLS_AES_128_GCM_SHA256"),
            ("-tls1_3", "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
            ("-tls1_3", "TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
            ("-tls1_2", None, "ECDHE-ECDSA-AES128-GCM-SHA256"),
            ("-tls1_2", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"),
            ("-tls1_2", "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"),
        ]
        for version, offer, want in cases:
            with self.subTest(version=version, offer=offer):
                flag = [] if offer is None else ["-ciphersuites" if version == "-tls1_3" else "-cipher", offer]
                out = subprocess.run([openssl, "s_client", "-brief", "-ign_eof", "-connect", f"127.0.0.1:{self.tls_port}",
                                      version, *flag, "-servername", "localhost", "-CAfile", os.path.join(self.certs, "ca.crt")],
                                     input=self.get("/k1", close=True).encode(), capture_output=True, timeout=30)
                self.assertEqual(out.returncode, 0, out.stderr[-300:])
                self.assertIn(f"Ciphersuite: {want}\n", out.stderr.decode())
                self.assertIn(b"HTTP/1.1 200 OK\r\n", out.stdout)
        c, _ = self.connect(ssl.TLSVersion.TLSv1_3)
        try:
            self.assertEqual(c.sock.cipher()[0], "TLS_AES_128_GCM_SHA256")
            self.assertEqual(c.request("GET", "/k1").status, 200)
        finally:
            c.close()

    def test_max_fragment_length_leaves_the_records_to_openssl(self):
        """A client that negotiates max_fragment_length (RFC 6066): OpenSSL
        skips the kTLS hand-off (it takes only 16 KiB records), so the
        server's BIO gets no keys and OpenSSL writes records of 512 bytes;
        s_client refuses any longer one."""
        openssl = harness.require_program("openssl")
        req = (self.get("/k70") + self.get("/k1", close=True)).encode()
        for version in ("-tls1_2", "-tls1_3"):
            with self.subTest(version=version):
                out = subprocess.run([openssl, "s_client", "-connect", f"127.0.0.1:{self.tls_port}", version,
                                      "-maxfraglen", "512", "-quiet", "-ign_eof", "-servername", "localhost",
                                      "-CAfile", os.path.join(self.certs, "ca.crt")],
                                     input=req, capture_output=True, timeout=30)
                self.assert_prefix_of_responses(out.stdout, [70_000, 1000], "eof", complete=True)

    def test_resets_and_a_small_window_that_never_reads(self):
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            c, _ = self.connect(version)
            c.send(self.get("/m4") * 3)
            c.sock.recv(1000)
            harness.reset(socket.socket(fileno=os.dup(c.sock.fileno())))
            c.sock.close()
            raw = harness.small_window_socket(self.tls_port)
            s = self.context(version).wrap_socket(raw, server_hostname="localhost")
            s.sendall(self.get("/m4").encode() * 4)
            time.sleep(1)
            harness.reset(socket.socket(fileno=os.dup(s.fileno())))
            s.close()
        # never reads at all: --send-timeout 5 ends it
        raw = harness.small_window_socket(self.tls_port)
        s = self.context(ssl.TLSVersion.TLSv1_3).wrap_socket(raw, server_hostname="localhost")
        s.sendall(self.get("/m4").encode())
        deadline = time.monotonic() + 20
        s.settimeout(1)
        time.sleep(7)
        closed = False
        try:
            while time.monotonic() < deadline:
                if not s.recv(1 << 16):
                    closed = True
                    break
        except (ssl.SSLError, ConnectionResetError, socket.timeout, OSError):
            closed = True
        s.close()
        self.assertTrue(closed)
        self.server.wait_idle()
        self.assert_serves()


class HttpsGcmThreads(OwnServer):
    """The server's own AES-GCM sealing (tls/fast_gcm.hpp: intel-ipsec-mb's
    VAES code where the CPU has it, else OpenSSL's) in two worker threads at
    once: AES-128-GCM and AES-256-GCM under TLS 1.3 and 1.2, bodies of 1 to
    32 MiB on concurrent connections, byte-exact, while other clients reset
    mid-body and one never reads through a 4 KiB window."""

    FILES = [("m1", 1 << 20), ("m3", (3 << 20) + 5), ("m8", (8 << 20) - 1), ("m32", 32 << 20)]
    # curl's names for the four suites: (version flags, cipher flag).
    SUITES = {
        "TLS_AES_128_GCM_SHA256": (["--tlsv1.3", "--tls-max", "1.3"], ["--tls13-ciphers", "TLS_AES_128_GCM_SHA256"]),
        "TLS_AES_256_GCM_SHA384": (["--tlsv1.3", "--tls-max", "1.3"], ["--tls13-ciphers", "TLS_AES_256_GCM_SHA384"]),
        "ECDHE-ECDSA-AES128-GCM-SHA256": (["--tlsv1.2", "--tls-max", "1.2"],
                                          ["--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"]),
        "ECDHE-ECDSA-AES256-GCM-SHA384": (["--tlsv1.2", "--tls-max", "1.2"],
                                          ["--ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"]),
    }

    def test_concurrent_downloads_every_gcm_suite_with_resets_and_a_stalled_peer(self):
        curl = harness.require_program("curl")
        self.start("--threads", "2", "--ktls", "off", "--send-timeout", "5", files=self.FILES)
        aead = re.search(r"; AES-GCM in user space: (.*)$", self.server.wait_log(r"AES-GCM in user space: ")).group(1)
        self.assertEqual(aead.startswith("intel-ipsec-mb"), fast_gcm_expected(), aead)
        self.server.wait_log(r"listening on .*\(2 threads")
        digests = {name: hashlib.sha256(payload(size)).hexdigest() for name, size in self.FILES}
        out_dir = tempfile.mkdtemp(prefix="splicehttpd-gcm-")
        self.addCleanup(shutil.rmtree, out_dir)
        ca = os.path.join(self.certs, "ca.crt")
        # Two keep-alive connections a suite: 45 MiB each, eight at once.
        plans = [["m32", "m1"], ["m1", "m3", "m8"]]
        procs = []
        for suite, (version, cipher) in self.SUITES.items():
            for i, names in enumerate(plans):
                args = [curl, "-sS", "-v", "--cacert", ca, *version, *cipher]
                for name in names:
                    args += [f"https://localhost:{self.tls_port}/{name}",
                             "-o", os.path.join(out_dir, f"{suite}.{i}.{name}")]
                procs.append((suite, i, names, subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                                                stderr=subprocess.PIPE)))
        # Meanwhile: resets mid-body under both versions, and a peer with a
        # 4 KiB window that never reads (--send-timeout 5 ends it).
        stalled = harness.small_window_socket(self.tls_port)
        ctx13 = ssl.create_default_context(cafile=ca)
        ctx13.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx12 = ssl.create_default_context(cafile=ca)
        ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx12.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
        stalled = ctx12.wrap_socket(stalled, server_hostname="localhost")
        stalled.sendall(b"GET /m32 HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
        stalled_at = time.monotonic()
        for round_ in range(6):
            ctx = ctx13 if round_ % 2 else ctx12
            c = TlsClient(self.tls_port, ctx, timeout=30)
            try:
                c.send("GET /m32 HTTP/1.1\r\nHost: t\r\n\r\nGET /m8 HTTP/1.1\r\nHost: t\r\n\r\n")
                got = 0
                while got < (round_ + 1) * 150_000:
                    chunk = c.sock.recv(1 << 16)
                    self.assertTrue(chunk)
                    got += len(chunk)
            finally:
                harness.reset(socket.socket(fileno=os.dup(c.sock.fileno())))
                c.close()
        failures = []
        for suite, i, names, p in procs:
            _, err = p.communicate(timeout=300)
            err = err.decode("latin-1", "replace")
            if p.returncode != 0:
                failures.append(f"{suite}.{i}: curl exit {p.returncode}: {err[-300:]}")
                continue
            if not re.search(rf"SSL connection using TLSv1\.[23] / {re.escape(suite)}\b", err):
                failures.append(f"{suite}.{i}: another suite: {re.findall(r'SSL connection using .*', err)}")
            for name in names:
                with open(os.path.join(out_dir, f"{suite}.{i}.{name}"), "rb") as f:
                    if hashlib.sha256(f.read()).hexdigest() != digests[name]:
                        failures.append(f"{suite}.{i}: /{name} differs")
        self.assertEqual(failures, [])
        # The stalled peer: closed by the server past its send timeout, its
        # responses cut (read from here on, it would get them whole).
        time.sleep(max(0.0, stalled_at + 7 - time.monotonic()))
        stalled.settimeout(20)
        got, ended = 0, None
        try:
            while chunk := stalled.recv(1 << 16):
                got += len(chunk)
            ended = "eof"
        except (ssl.SSLError, ConnectionResetError) as e:
            ended = f"{type(e).__name__}"
        except socket.timeout:
            ended = "still open"
        stalled.close()
        self.assertNotEqual(ended, "still open")
        self.assertLess(got, 2 * (32 << 20))
        self.server.wait_idle()
        c = TlsClient(self.tls_port, ctx13, timeout=30)
        try:
            self.assertEqual(c.request("GET", "/m3").body, payload((3 << 20) + 5))
        finally:
            c.close()


def server_socket_info(server_port, client_port):
    """What `ss` says of the server's end of one TCP connection: skmem's w
    (bytes queued, with each buffer's overhead) and tb (the send buffer),
    mss, notsent, bytes_acked and Send-Q; None once the socket is gone."""
    out = subprocess.run(["ss", "-Htnmi", "state", "all", f"( sport = :{server_port} and dport = :{client_port} )"],
                         capture_output=True, text=True, check=True).stdout.split()
    if not out:
        return None
    text = " ".join(out)
    info = {"state": out[0], "send_q": int(out[2])}
    for key in ("w", "tb"):
        info[key] = int(re.search(rf"[(,]{key}(\d+)", text).group(1))
    for key in ("mss", "notsent", "bytes_acked"):
        m = re.search(rf"\b{key}:(\d+)", text)
        info[key] = int(m.group(1)) if m else 0
    return info


class CloseNotifyHeldFull(OwnServer):
    """A TLS connection whose peer stopped reading, so that what the server
    sends cannot progress: a response (the send timeout bounds it, or on
    SIGTERM the shutdown timeout), or close_notify after a response that
    went whole (the lingering close's 5 s bound it: Connection::kLingerNs,
    the Linger deadline of a connection that notifies); then every slot
    held so. User-space records (--ktls off): what the session sends is an
    io_uring send that waits in the kernel for room."""

    TIMEOUT = 2  # --send-timeout, --shutdown-timeout, --keepalive-timeout
    TICK = 1  # deadlines are looked at once a second
    MARGIN = 3  # for the close itself and a loaded machine

    def start(self, *args, files=()):
        super().start("--ktls", "off", *args, files=[("big", 4 << 20), ("k1", 1000), *files])
        self.fds = self.server.fd_count()

    def stalled(self, path="/big"):
        """A keep-alive TLS client with a 4 KiB window that asks for `path`
        and never reads."""
        raw = harness.small_window_socket(self.tls_port, rcvbuf=4096, mss=536, timeout=10)
        s = self.ctx.wrap_socket(raw, server_hostname="localhost")
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.addCleanup(s.close)
        return s

    def connections(self):
        return self.server.stats()["connections"]

    def wait_connections(self, n, limit):
        """Seconds until the server holds n connections; fails after `limit`."""
        t0 = time.monotonic()
        while self.connections() != n:
            self.assertTrue(self.server.alive(), "server died:\n" + "\n".join(self.server.log()[-20:]))
            self.assertLess(time.monotonic() - t0, limit, f"still {self.connections()} connections, not {n}")
            time.sleep(0.1)
        return time.monotonic() - t0

    def assert_serves(self, timeout=10):
        c = TlsClient(self.tls_port, self.ctx, timeout=timeout)
        try:
            self.assertEqual(bytes(c.request("GET", "/k1").body), payload(1000))
        finally:
            c.close()

    def assert_all_freed(self):
        self.server.wait_idle()
        self.assertEqual(self.server.fd_count(), self.fds)

    def test_a_stalled_response_ends_at_the_send_timeout(self):
        self.start("--send-timeout", str(self.TIMEOUT), "--keepalive-timeout", "60")
        self.stalled()
        self.wait_connections(1, 5)
        t0 = time.monotonic()
        time.sleep(self.TIMEOUT / 2)
        self.assertEqual(self.connections(), 1)  # held, not done: 4 MiB cannot pass a 4 KiB window
        # Bound: --send-timeout without a byte taken (its two halves), at
        # the next tick; the close is an abort (nothing else is sent).
        gone = time.monotonic() - t0 + self.wait_connections(0, self.TIMEOUT + self.TICK + self.MARGIN)
        self.assertLess(gone, self.TIMEOUT + self.TICK + self.MARGIN)
        self.assert_serves()
        self.assert_all_freed()

    def test_sigterm_during_a_stalled_response_exits_0_within_the_shutdown_timeout(self):
        self.start("--send-timeout", "60", "--keepalive-timeout", "60", "--shutdown-timeout", str(self.TIMEOUT))
        self.stalled()
        self.wait_connections(1, 5)
        time.sleep(1)
        t0 = time.monotonic()
        self.server.proc.send_signal(signal.SIGTERM)
        # Bound: --shutdown-timeout (the grace; then the response is cut).
        self.assertEqual(self.server.proc.wait(self.TIMEOUT + self.MARGIN + 5), 0)
        self.assertLess(time.monotonic() - t0, self.TIMEOUT + self.MARGIN)
        self.assertGreater(time.monotonic() - t0, self.TIMEOUT - 0.5)  # the response had its grace
        self.server.wait_log(r"1 connection still busy after 2s")

    def full_path_after_a_whole_response(self):
        """A client with the smallest window (SO_RCVBUF 1, MSS 536) that
        never reads, and responses that went whole into the server's socket
        until its send buffer is full, the last buffer of its queue full too:
        the connection is idle (between requests) and the 24 bytes of
        close_notify cannot go in (a write to a full socket goes into the
        last unsent buffer while that has room, past the buffer's size).
        Returns (socket, the client's port)."""
        if not shutil.which("ss"):
            self.skipTest("no ss (iproute2): the socket's queue cannot be seen")
        ctx = self.ctx  # TLS 1.3

        def sent(port):
            """All the server's socket has taken: acknowledged or not."""
            info = server_socket_info(self.tls_port, port)
            return info["bytes_acked"] + info["send_q"]

        def settled(port):
            """Until TLS 1.3's tickets, written after the handshake, are in."""
            last = sent(port)
            while True:
                time.sleep(0.3)
                now = sent(port)
                if now == last:
                    return
                last = now

        # The segment's size with a window this small (the socket's, once it
        # has sent: the handshake): each buffer of the queue holds one.
        raw = harness.small_window_socket(self.tls_port, rcvbuf=1, mss=536, timeout=10)
        probe_port = raw.getsockname()[1]
        with ctx.wrap_socket(raw, server_hostname="localhost"):
            mss = server_socket_info(self.tls_port, probe_port)["mss"]
        # Files whose responses are whole multiples of it on the wire (one
        # record: its header, type byte and tag), sized with a client that
        # reads.
        cal = TlsClient(self.tls_port, ctx, timeout=10)
        self.addCleanup(cal.close)
        cal_port = cal.sock.getsockname()[1]
        settled(cal_port)

        def file_of(name, wire):
            body = wire - 300
            for i in range(4):
                path = f"/{name}{i}"
                self.root.write(path[1:], payload(body))
                before = sent(cal_port)
                self.assertEqual(bytes(cal.request("GET", path).body), payload(body))
                got = sent(cal_port) - before
                if got == wire:
                    return path
                body += wire - got
            self.fail(f"no body makes a response of {wire} bytes")

        fill, one = file_of("fill", 8 * mss), file_of("one", mss)
        cal.close()

        # The client reads nothing from here (a read would open its window
        # wider, and the buffers would be two segments).
        raw = harness.small_window_socket(self.tls_port, rcvbuf=1, mss=536, timeout=10)
        cport = raw.getsockname()[1]
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.addCleanup(s.close)
        settled(cport)

        def written(before, size):
            """Bytes the server's socket took since `before` (its written
            total) once a response of `size` has gone in, or the wait ran
            out; the total; what ss says."""
            deadline = time.monotonic() + 5
            while True:
                total, info = sent(cport), server_socket_info(self.tls_port, cport)
                if before is None or total - before >= size or time.monotonic() > deadline:
                    return (None if before is None else total - before), total, info
                time.sleep(0.01)

        # The first closes the little window the client has; the buffers
        # are cut where the window ended, not in the last one.
        _, total, _ = written(None, 0)
        s.sendall(f"GET {fill} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        took, total, info = written(total, 8 * mss)
        self.assertEqual(took, 8 * mss, info)  # went whole
        for _ in range(500):
            s.sendall(f"GET {one} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            took, total, info = written(total, mss)
            self.assertEqual(took, mss, info)  # went whole: the connection waits for a request
            if info["w"] >= info["tb"]:
                return s, cport
        self.fail(f"the send buffer never filled: {info}")

    def test_close_notify_into_a_full_path_is_bounded_by_the_linger_timeout(self):
        self.start("--keepalive-timeout", str(self.TIMEOUT), "--send-timeout", "60")
        s, cport = self.full_path_after_a_whole_response()
        t0 = time.monotonic()
        queued = server_socket_info(self.tls_port, cport)["notsent"]
        time.sleep(self.TIMEOUT + self.TICK + 0.5)
        # The keep-alive timeout has passed: close_notify is on its way and
        # cannot go in (nothing more was queued, nor the FIN).
        info = server_socket_info(self.tls_port, cport)
        self.assertEqual((info["state"], info["notsent"]), ("ESTAB", queued), info)
        self.assertEqual(self.connections(), 1)
        # Bound: the keep-alive timeout, then the Linger deadline (5 s)
        # from when close_notify went; then the shut-down socket's send
        # fails and the close is an abort.
        limit = self.TIMEOUT + self.TICK + 5 + self.TICK + self.MARGIN
        gone = time.monotonic() - t0 + self.wait_connections(0, limit)
        self.assertLess(gone, limit)
        self.assert_serves()
        self.assert_all_freed()

    def test_sigterm_while_close_notify_cannot_go_in_exits_0_at_once(self):
        """The stop closes the idle connection with close_notify first, which
        cannot go in; the stop ends lingering closes at the next tick, and
        that one's with it (the send is cut by the shutdown)."""
        self.start("--keepalive-timeout", "60", "--send-timeout", "60", "--shutdown-timeout", "30")
        s, cport = self.full_path_after_a_whole_response()
        queued = server_socket_info(self.tls_port, cport)["notsent"]
        t0 = time.monotonic()
        self.server.proc.send_signal(signal.SIGTERM)
        # Bound: a tick or two (the Linger deadline is 0 once stopping), far
        # below --shutdown-timeout 30.
        self.assertEqual(self.server.proc.wait(2 * self.TICK + self.MARGIN), 0)
        self.assertLess(time.monotonic() - t0, 2 * self.TICK + self.MARGIN)
        self.assertFalse([l for l in self.server.log() if "still busy" in l])
        # close_notify never went in: the socket, closed, queued its FIN
        # alone (or it is gone).
        info = server_socket_info(self.tls_port, cport)
        self.assertTrue(info is None or info["notsent"] - queued <= 1, (queued, info))

    def test_every_slot_held_by_a_stalled_tls_client_then_one_more(self):
        self.start("--max-conns", "4", "--send-timeout", str(self.TIMEOUT), "--keepalive-timeout", "60")
        for _ in range(4):
            self.stalled()
        self.wait_connections(4, 5)
        t0 = time.monotonic()
        # Accepted once a slot is free: the stalled ones are cut by
        # --send-timeout; not before is fine.
        self.assert_serves(timeout=self.TIMEOUT + self.TICK + self.MARGIN + 5)
        self.assertLess(time.monotonic() - t0, self.TIMEOUT + self.TICK + self.MARGIN)
        self.assertTrue(self.server.alive())
        self.wait_connections(0, self.TIMEOUT + self.TICK + self.MARGIN)
        for _ in range(4):  # every slot serves again
            self.assert_serves()
        self.assert_all_freed()


class HttpsResumptionCipher(OwnServer):
    def test_a_ticket_whose_cipher_the_client_no_longer_offers(self):
        """Defect (fixed, found by a hostile client of the fuzz-tls run):
        a TLS 1.2 client that resumes with a ticket of a cipher it no
        longer offers (its list changed, the server's order chose another)
        had OpenSSL resume it and then fail the handshake (illegal_parameter,
        "required cipher missing"). The ticket is now ignored: a full
        handshake and a new ticket, as Go and BoringSSL do; a ticket of a
        cipher still offered resumes. TLS 1.3 the same: a ticket of another
        hash is a full handshake, one of the same hash resumes."""
        self.start(files=[("k1", 1000)])
        lib = _libssl()
        ctxs = {}
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctxs[version] = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
            ctxs[version].minimum_version = ctxs[version].maximum_version = version

        def connect(version, suites, session=None):
            raw = socket.create_connection(("127.0.0.1", self.tls_port), timeout=10)
            sock = ctxs[version].wrap_socket(raw, server_hostname="localhost", session=session,
                                             do_handshake_on_connect=False)
            c = TlsClient.__new__(TlsClient)  # around a socket whose suites are set before its handshake
            c.sock, c.buf = sock, bytearray()
            self.addCleanup(c.close)
            set_suites = lib.SSL_set_ciphersuites if version == ssl.TLSVersion.TLSv1_3 else lib.SSL_set_cipher_list
            self.assertEqual(set_suites(ssl_pointer(sock), suites.encode()), 1)
            sock.do_handshake()
            self.assertEqual(c.request("GET", "/k1").body, payload(1000))  # and the ticket (1.3) has come
            return c

        tls12 = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305")
        cases = [(ssl.TLSVersion.TLSv1_2, first, then, first == then) for first in tls12 for then in tls12]
        cases += [(ssl.TLSVersion.TLSv1_3, "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", False),
                  (ssl.TLSVersion.TLSv1_3, "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256", True),
                  (ssl.TLSVersion.TLSv1_3, "TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", True)]
        for version, first, then, resumed in cases:
            with self.subTest(first=first, then=then):
                session = connect(version, first).sock.session
                c = connect(version, then, session)
                self.assertEqual((c.sock.cipher()[0], c.sock.session_reused), (then, resumed))
                # The new ticket resumes with the cipher now offered.
                self.assertTrue(connect(version, then, c.sock.session).sock.session_reused)
        self.assertIsNone(self.server.proc.poll(), "the server died")


if __name__ == "__main__":
    harness.main()
