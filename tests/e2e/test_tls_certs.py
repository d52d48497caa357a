"""tests/e2e/tls_certs.py, the helper the HTTPS tests and tools/bench use:
the chain it writes verifies against its CA for every name it was given
(wildcards, and 127.0.0.1 for localhost), a TLS 1.3 handshake with the pair
works, and the key is private. No server needed."""

import os
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import unittest

import tls_certs


class TlsCerts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            print("openssl not installed: skipping")
            sys.exit(77)
        cls.dir = tempfile.mkdtemp(prefix="splicehttpd-certs-")
        cls.localhost = tls_certs.make_leaf(cls.dir, "localhost")
        cls.multi = tls_certs.make_leaf(cls.dir, "a.example,*.b.example")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def handshake(self, pair, server_hostname):
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        server_ctx.load_cert_chain(*pair)
        client_ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))
        a, b = socket.socketpair()
        errors = []

        def serve():
            try:
                with server_ctx.wrap_socket(a, server_side=True) as s:
                    s.sendall(b"hello")
            except (ssl.SSLError, OSError) as e:
                errors.append(e)

        t = threading.Thread(target=serve)
        t.start()
        try:
            with client_ctx.wrap_socket(b, server_hostname=server_hostname) as c:
                self.assertEqual(c.recv(5), b"hello")
                cert = c.getpeercert()
                self.assertEqual(c.version(), "TLSv1.3")
                return cert
        finally:
            t.join()

    def test_names_verify(self):
        cert = self.handshake(self.localhost, "localhost")
        self.assertIn(("DNS", "localhost"), cert["subjectAltName"])
        self.assertIn(("IP Address", "127.0.0.1"), cert["subjectAltName"])
        self.handshake(self.localhost, "127.0.0.1")
        self.handshake(self.multi, "a.example")
        self.handshake(self.multi, "x.b.example")

    def test_other_names_do_not(self):
        for pair, name in ((self.localhost, "a.example"), (self.multi, "b.example"), (self.multi, "y.x.b.example")):
            with self.subTest(name=name), self.assertRaises(ssl.SSLCertVerificationError):
                self.handshake(pair, name)

    def test_files(self):
        cert, key = self.localhost
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        with open(cert) as f:
            self.assertEqual(f.read().count("BEGIN CERTIFICATE"), 2)  # leaf, then the CA
        with open(key) as f:
            self.assertIn("BEGIN PRIVATE KEY", f.read())
        self.assertEqual(tls_certs.main(["tls_certs.py"]), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
