"""The error log: a denied or failed request leaves one line on stderr,
worded as nginx's (open() "..." failed (13: Permission denied), "..." is
not a regular file, a symlink out of the root, a 400 with what was wrong,
a 408, an --autoindex directory that could not be read),
with the client, the request line and the Host; --log-level chooses how
much (a 404 is info, a denial an error), and a flood is rate-limited, with
the lines left out counted."""

import os
import re
import time

import harness

FLOOD = 300


class ErrorLog(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        root.write("index.html", "<p>hi</p>\n")
        closed = root.write("closed.txt", "nobody may read this\n")
        os.chmod(closed, 0)
        os.mkfifo(os.path.join(root.path, "fifo"))
        os.symlink(root.outside("secret.txt", b"outside\n"), os.path.join(root.path, "away"))

    @classmethod
    def setUpClass(cls):
        cls.root = harness.Root()
        cls.populate(cls.root)
        # As root, served as nobody (the harness would pass --allow-root, and
        # root reads a mode-000 file): the denial must be the kernel's.
        cls.server = harness.Server(cls.root.path, allow_root=False)

    def path(self, rel):
        return os.path.join(self.root.path, rel)

    def line_for(self, level, message, request=None, host="test"):
        """The log line: level, message, then the request's context."""
        context = ", client: 127.0.0.1"
        if request is not None:
            context += f', request: "{request}", host: "{host}"'
        return self.server.wait_log(r" " + level + " " + re.escape(message + context) + "$")

    def test_denied_file(self):
        self.assertEqual(self.server.get("/closed.txt").status, 403)
        self.line_for("error", f'open() "{self.path("closed.txt")}" failed (13: Permission denied)',
                      "GET /closed.txt HTTP/1.1")

    def test_missing_file_is_info(self):
        self.assertEqual(self.server.get("/missing.txt").status, 404)
        self.line_for("info", f'open() "{self.path("missing.txt")}" failed (2: No such file or directory)',
                      "GET /missing.txt HTTP/1.1")

    def test_symlink_out_of_the_root(self):
        self.assertEqual(self.server.get("/away").status, 403)
        self.line_for("error", f'"{self.path("away")}" leads outside the root {self.root.path} (a symlink)',
                      "GET /away HTTP/1.1")

    def test_fifo_is_not_a_regular_file(self):
        self.assertEqual(self.server.get("/fifo").status, 403)
        self.line_for("error", f'"{self.path("fifo")}" is not a regular file', "GET /fifo HTTP/1.1")

    def test_bad_requests_say_what_was_wrong(self):
        c = self.server.client()
        c.send(b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        self.assertEqual(c.read_response().status, 400)
        c.close()
        self.line_for("info", "client sent a bad request: more than one Host header", "GET /x HTTP/1.1", "a, b")
        # Never parsed: no request line to show.
        c = self.server.client()
        c.send(b"GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n")
        self.assertEqual(c.read_response().status, 400)
        c.close()
        self.line_for("info", "client sent a bad request: obsolete line folding")
        c = self.server.client()
        c.send(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertEqual(c.read_response().status, 414)
        c.close()
        self.line_for("info", "client sent a bad request: URI too long")

    def test_a_hostile_request_cannot_forge_a_line(self):
        c = self.server.client()
        c.send(b'GET /nope%22x HTTP/1.1\r\nHost: h\r\n\r\n')
        self.assertEqual(c.read_response().status, 404)
        c.close()
        line = self.server.wait_log(r'/nope\\x22x" failed \(2: ')
        self.assertTrue(line.endswith(r'request: "GET /nope%22x HTTP/1.1", host: "h"'), line)
        # A Host no host name has is refused (400), and logged escaped.
        c = self.server.client()
        c.send(b'GET /nope%22y HTTP/1.1\r\nHost: "evil\r\n\r\n')
        self.assertEqual(c.read_response().status, 400)
        c.close()
        line = self.server.wait_log(r"client sent a bad request: invalid host in the request")
        self.assertTrue(line.endswith(r'request: "GET /nope%22y HTTP/1.1", host: "\x22evil"'), line)

    def test_served_requests_log_nothing(self):
        start = len(self.server.log())
        self.assertEqual(self.server.get("/index.html").status, 200)
        self.assertEqual(self.server.get("/missing-marker").status, 404)  # the line after which to look
        self.server.wait_log("missing-marker", start=start)
        self.assertEqual([l for l in self.server.log()[start:] if "index.html" in l], [])


class LevelAndFlood(harness.ServerTest):
    """Servers of their own: their logs are counted."""

    @classmethod
    def populate(cls, root):
        os.mkfifo(os.path.join(root.path, "fifo"))

    @classmethod
    def setUpClass(cls):
        cls.root = harness.Root()
        cls.populate(cls.root)

    @classmethod
    def tearDownClass(cls):
        cls.root.cleanup()

    def start(self, *args, quiet=False):
        s = harness.Server(self.root.path, *args, quiet=quiet)
        self.addCleanup(s.stop_checked)
        return s

    def test_log_level_error_hides_the_info_lines(self):
        s = self.start("--log-level", "error", quiet=True)
        c = s.client()
        for path in ("/missing.txt", "/fifo"):
            c.request("GET", path)
        c.send(b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        self.assertEqual(c.read_response().status, 400)
        c.close()
        # One worker, one connection: the lines come in the order of the
        # requests, so once the last error is there, nothing else will come.
        c = s.client()
        c.request("GET", "/fifo?last")
        c.close()
        s.wait_log(r' error "[^"]*/fifo" is not a regular file.*GET /fifo\?last ')
        lines = s.log()
        self.assertEqual([l for l in lines if "missing.txt" in l or "bad request" in l], [])
        self.assertEqual(len([l for l in lines if "is not a regular file" in l]), 2, lines)

    def test_a_flood_is_rate_limited_and_counted(self):
        s = self.start()
        c = s.client()
        t0 = time.time()
        batch = 50
        for i in range(0, FLOOD, batch):
            c.send(b"".join(f"GET /flood-{i + j} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for j in range(batch)))
            for _ in range(batch):
                self.assertEqual(c.read_response().status, 404)
        elapsed = time.time() - t0
        c.close()
        # Every 404 is either a line or counted in a "suppressed" line: the
        # tick hands over the count of a kind that went quiet.
        deadline = time.time() + 10
        while True:
            lines = s.log()
            logged = len([l for l in lines if "/flood-" in l and "failed (2: " in l])
            left_out = sum(int(m.group(1)) for m in
                           (re.search(r' (\d+) "not-found" lines? suppressed \(error log rate limit\)$', l)
                            for l in lines) if m)
            if logged + left_out >= FLOOD or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(logged + left_out, FLOOD, (logged, left_out))
        self.assertGreater(left_out, 0)
        # A burst of 50, then 10 a second.
        self.assertGreaterEqual(logged, 50)
        self.assertLessEqual(logged, 50 + 10 * (elapsed + 1), elapsed)


class TimeoutAndListing(harness.ServerTest):
    """Lines for what is no lookup's failure: a request head that never
    completes (408), and a directory the lister thread could not read."""

    @classmethod
    def setUpClass(cls):
        cls.root = harness.Root()

    @classmethod
    def tearDownClass(cls):
        cls.root.cleanup()

    def start(self, root, *args):
        s = harness.Server(root, *args)
        self.addCleanup(s.stop_checked)
        return s

    def test_a_408_says_the_client_timed_out(self):
        s = self.start(self.root.path, "--header-timeout", "1")
        c = s.client()
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n")  # and nothing more
        self.assertEqual(c.read_response().status, 408)
        c.close()
        s.wait_log(r" info client timed out \(110: Connection timed out\) while reading client request headers, "
                   r"client: 127\.0\.0\.1$")
        # --log-level warn hides it (info, as nginx's).
        q = harness.Server(self.root.path, "--header-timeout", "1", "--log-level", "warn", quiet=True)
        self.addCleanup(q.stop_checked)
        c = q.client()
        c.send(b"GET / HTTP/1.1\r\n")
        self.assertEqual(c.read_response().status, 408)
        c.close()
        self.assertEqual(q.get("/marker").status, 404)
        self.assertEqual([l for l in q.log() if "timed out" in l], [])

    def test_a_directory_that_cannot_be_read(self):
        """The root removed under a running server: openat2 of it still
        works (the server holds it), its getdents64 in the lister thread
        fails with ENOENT. 404, and nginx's opendir() line."""
        gone = os.path.join(self.root.path, "gone")
        os.mkdir(gone)
        s = self.start(gone, "--autoindex")
        os.rmdir(gone)
        self.assertEqual(s.get("/").status, 404)
        s.wait_log(r" error " + re.escape(f'opendir() "{gone}" failed (2: No such file or directory), '
                                          'client: 127.0.0.1, request: "GET / HTTP/1.1", host: "test"') + "$")
        self.assertEqual([l for l in s.log() if "getdents64" in l], [])  # the thread's own line is --debug's


if __name__ == "__main__":
    harness.main()
