"""Request-level semantics: methods, versions, Host, target forms, smuggling
shapes, bodies on GET, size limits."""

import harness


class Methods(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        root.write("file.txt", "file\n")

    def send(self, raw):
        c = self.server.client()
        try:
            c.send(raw)
            return c.read_response(), c
        except Exception:
            c.close()
            raise

    def exchange(self, raw):
        r, c = self.send(raw)
        c.close()
        return r

    def test_get_and_head(self):
        self.assertEqual(self.server.get("/file.txt").body, b"file\n")
        r = self.server.get("/file.txt", method="HEAD")
        self.assertEqual((r.status, r.header("Content-Length"), r.body), (200, "5", b""))

    def test_known_methods_are_405_with_allow(self):
        for method in ("POST", "PUT", "DELETE", "PATCH", "TRACE", "OPTIONS"):
            with self.subTest(method=method):
                r = self.exchange(f"{method} /file.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
                self.assertEqual(r.status, 405)
                self.assertEqual(r.header("Allow"), "GET, HEAD")

    def test_connect_is_405_and_closes(self):
        r, c = self.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.header("Allow"), "GET, HEAD")
        self.assertTrue(c.closed_by_peer())
        c.close()

    def test_options_star(self):
        r = self.exchange("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(r.status, 204)
        self.assertEqual(r.header("Allow"), "GET, HEAD")
        self.assertIsNone(r.header("Content-Length"))

    def test_unknown_methods_are_501(self):
        for method in ("FOO", "PROPFIND", "BREW", "MKCOL"):
            with self.subTest(method=method):
                self.assertEqual(self.exchange(f"{method} /file.txt HTTP/1.1\r\nHost: t\r\n\r\n").status, 501)

    def test_versions(self):
        for raw, status in (
            ("GET /file.txt HTTP/2.0\r\nHost: t\r\n\r\n", 505),
            ("GET /file.txt HTTP/3.0\r\nHost: t\r\n\r\n", 505),
            ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
            ("GET /file.txt HTTP/1.0\r\n\r\n", 200),
            ("GET /file.txt FTP/1.1\r\nHost: t\r\n\r\n", 400),
            ("\x00\x01\x02\x03\r\n\r\n", 400),
            ("hello\r\n\r\n", 400),
        ):
            with self.subTest(raw=raw):
                self.assertEqual(self.exchange(raw).status, status)

    def test_host_rules(self):
        self.assertEqual(self.exchange("GET /file.txt HTTP/1.1\r\n\r\n").status, 400)
        self.assertEqual(self.exchange("GET /file.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status, 400)
        self.assertEqual(self.exchange("GET /file.txt HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n").status, 400)
        self.assertEqual(self.exchange("GET /file.txt HTTP/1.0\r\n\r\n").status, 200)

    def test_target_forms(self):
        r = self.exchange("GET http://example.com/file.txt HTTP/1.1\r\nHost: example.com\r\n\r\n")
        self.assertEqual((r.status, r.body), (200, b"file\n"))
        self.assertEqual(self.exchange("GET file.txt HTTP/1.1\r\nHost: t\r\n\r\n").status, 400)
        self.assertEqual(self.exchange("GET * HTTP/1.1\r\nHost: t\r\n\r\n").status, 400)

    def test_smuggling_shapes_are_400_and_close(self):
        shapes = [
            "GET /file.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET /file.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
            "GET /file.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "GET /file.txt HTTP/1.1\r\nHost : t\r\n\r\n",
            "GET /file.txt HTTP/1.1\r\nHost: t\r\nX\x01Bad: v\r\n\r\n",
            "GET /file.txt HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n",
            "GET /file.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked, identity\r\n\r\n",
        ]
        for raw in shapes:
            with self.subTest(raw=raw):
                r, c = self.send(raw)
                self.assertEqual(r.status, 400)
                self.assertEqual(r.header("Connection"), "close")
                self.assertTrue(c.closed_by_peer())
                c.close()

    def test_obs_fold_in_the_second_pipelined_request(self):
        # The first is answered; the fold in the second is refused, not
        # waved through because the first one passed.
        r, c = self.send("GET /file.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                         "GET /file.txt HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n")
        try:
            self.assertEqual((r.status, r.body), (200, b"file\n"))
            r = c.read_response()
            self.assertEqual(r.status, 400)
            self.assertEqual(r.header("Connection"), "close")
            self.assertTrue(c.closed_by_peer())
        finally:
            c.close()

    def test_percent_with_one_bad_hex_digit(self):
        for target in ("/file%2g.txt", "/file%g2.txt", "/file.tx%7", "/%4"):
            with self.subTest(target=target):
                self.assertEqual(self.exchange(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").status, 400)
        self.assertEqual(self.exchange("GET /file%2etxt HTTP/1.1\r\nHost: t\r\n\r\n").status, 200)

    def test_body_on_get_is_discarded(self):
        c = self.server.client()
        c.send("GET /file.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world"
               "GET /file.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
               "GET /file.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        for _ in range(3):
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"file\n"))
        c.close()

    def test_uri_too_long(self):
        self.assertEqual(self.exchange(f"GET /{'a' * 9000} HTTP/1.1\r\nHost: t\r\n\r\n").status, 414)
        self.assertEqual(self.exchange(f"GET /{'a' * 8000} HTTP/1.1\r\nHost: t\r\n\r\n").status, 404)

    def test_header_limits(self):
        big = "GET /file.txt HTTP/1.1\r\nHost: t\r\nX-Big: " + "b" * 17000 + "\r\n\r\n"
        self.assertEqual(self.exchange(big).status, 431)
        many = "GET /file.txt HTTP/1.1\r\nHost: t\r\n" + "".join(f"X-{i}: v\r\n" for i in range(101)) + "\r\n"
        self.assertEqual(self.exchange(many).status, 431)
        fine = "GET /file.txt HTTP/1.1\r\nHost: t\r\n" + "".join(f"X-{i}: v\r\n" for i in range(90)) + "\r\n"
        self.assertEqual(self.exchange(fine).status, 200)


class TightLimits(harness.ServerTest):
    server_args = ("--max-uri-bytes", "64", "--max-header-bytes", "512", "--max-headers", "5")

    @classmethod
    def populate(cls, root):
        root.write("file.txt", "file\n")

    def test_limits_are_flags(self):
        self.assertEqual(self.server.get("/" + "a" * 80).status, 414)
        self.assertEqual(self.server.get("/file.txt", {"X-Big": "b" * 600}).status, 431)
        self.assertEqual(self.server.get("/file.txt", {f"X-{i}": "v" for i in range(6)}).status, 431)
        self.assertEqual(self.server.get("/file.txt").status, 200)

    def test_limits_hold_exactly_at_the_boundary(self):
        # --max-uri-bytes 64: a 64-byte target is looked up, 65 bytes is 414.
        self.assertEqual(self.server.get("/file.txt?" + "q" * (64 - 10)).status, 200)
        self.assertEqual(self.server.get("/file.txt?" + "q" * (65 - 10)).status, 414)
        # --max-headers 5: Host and four more pass, a sixth field is 431.
        self.assertEqual(self.server.get("/file.txt", {f"X-{i}": "v" for i in range(4)}).status, 200)
        self.assertEqual(self.server.get("/file.txt", {f"X-{i}": "v" for i in range(5)}).status, 431)


if __name__ == "__main__":
    harness.main()
