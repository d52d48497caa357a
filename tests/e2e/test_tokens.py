"""Header names and methods are tokens (RFC 9110 §5.6.2): a byte outside
tchar in either is a bad request, answered 400 and the connection closed,
whatever follows it. tests/unit/test_parser.cpp covers all 256 byte values;
this checks a representative set through the real binary."""

import harness

# The bytes of the brief that are not tchar: whitespace, the separators,
# DEL, bytes above 0x7f, NUL and CR.
NOT_TCHAR = [b" ", b"\t", b"(", b")", b",", b"/", b":", b";", b"<", b"=", b">", b"?", b"@",
             b"[", b"\\", b"]", b"{", b"}", b'"', b"\x7f", b"\x80", b"\xff", b"\x00", b"\r"]

# A request that must never be answered once a bad one came before it.
FOLLOW_UP = b"GET /file.txt HTTP/1.1\r\nHost: t\r\n\r\n"


def header_name_request(byte):
    # ':' inside a name only ends it early ("Ba:d: y" is a field "Ba"); a
    # leading one leaves the name empty, which is what a ':' can break.
    name = byte + b"Bad" if byte == b":" else b"Ba" + byte + b"d"
    return b"GET /file.txt HTTP/1.1\r\nHost: t\r\n" + name + b": y\r\n\r\n"


def method_request(byte):
    return b"GE" + byte + b"T /file.txt HTTP/1.1\r\nHost: t\r\n\r\n"


class Tokens(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        root.write("file.txt", "file\n")

    def answer(self, raw, timeout=5):
        """The response to raw (sent with a pipelined request after it),
        whether the server then closed, and what else it sent."""
        c = self.server.client()
        try:
            c.send(raw + FOLLOW_UP)
            r = c.read_response()
            closed = c.closed_by_peer(timeout)
            return r, closed, c.buf
        finally:
            c.close()

    def test_controls_parse(self):
        # The same shapes with a tchar: a header the server ignores, an
        # unknown method. If these failed, the 400s below would prove nothing.
        r, closed, rest = self.answer(header_name_request(b"-"), timeout=0.5)
        self.assertEqual((r.status, r.body), (200, b"file\n"))
        self.assertFalse(closed)
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 "), rest)
        r, _, _ = self.answer(method_request(b"x"), timeout=0.5)
        self.assertEqual(r.status, 501)  # and closes, as the parser's errors do

    def check_bad(self, raw):
        r, closed, rest = self.answer(raw)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.header("Connection"), "close")
        self.assertTrue(closed)
        self.assertEqual(rest, b"", "a response after the 400")

    def test_header_name(self):
        for byte in NOT_TCHAR:
            with self.subTest(byte=byte):
                self.check_bad(header_name_request(byte))

    def test_method(self):
        for byte in NOT_TCHAR:
            with self.subTest(byte=byte):
                self.check_bad(method_request(byte))

    def test_server_survives(self):
        self.assertEqual(self.server.get("/file.txt").status, 200)
        self.assertServerAlive()


if __name__ == "__main__":
    harness.main()
