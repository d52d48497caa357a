"""--access-log: one combined-format line per response, request fields
escaped as nginx does (hostile user agents cannot forge a line or a field),
bytes actually sent, and SIGHUP reopens the file for logrotate."""

import os
import re
import signal
import time

import harness

COMBINED = re.compile(
    r'^(?P<client>\S+) - - \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000)\] '
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$')


class AccessLog(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        root.write("index.html", "<p>hi</p>\n")
        root.write("big.bin", harness.payload(4 << 20))

    @classmethod
    def setUpClass(cls):
        cls.server_args = ("--access-log", os.path.join("/tmp", f"splicehttpd-access-{os.getpid()}.log"))
        cls.log_path = cls.server_args[1]
        if os.path.exists(cls.log_path):
            os.remove(cls.log_path)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for p in (cls.log_path, cls.log_path + ".1"):
            if os.path.exists(p):
                os.remove(p)

    def lines(self, path=None, want=1, timeout=10):
        """The log's lines, once there are at least `want` of them."""
        path = path or self.log_path
        deadline = time.time() + timeout
        while True:
            try:
                with open(path, "rb") as f:
                    lines = f.read().decode("ascii").splitlines()
            except FileNotFoundError:
                lines = []
            if len(lines) >= want or time.time() > deadline:
                return lines
            time.sleep(0.05)

    def test_lines_in_combined_format(self):
        before = len(self.lines(want=0))
        r = self.server.get("/index.html", {"Referer": "http://example.com/a", "User-Agent": "curl/7.88.1"})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.server.get("/missing", {"User-Agent": "t"}).status, 404)
        self.assertEqual(self.server.get("/index.html", method="HEAD").status, 200)
        lines = self.lines(want=before + 3)[before:]
        self.assertEqual(len(lines), 3, lines)
        m = [COMBINED.match(l) for l in lines]
        self.assertTrue(all(m), lines)
        self.assertEqual(m[0]["client"], "127.0.0.1")
        self.assertEqual(m[0]["request"], "GET /index.html HTTP/1.1")
        self.assertEqual((m[0]["status"], m[0]["bytes"]), ("200", "10"))
        self.assertEqual((m[0]["referer"], m[0]["agent"]), ("http://example.com/a", "curl/7.88.1"))
        self.assertEqual((m[1]["status"], m[1]["referer"], m[1]["agent"]), ("404", "-", "t"))
        self.assertGreater(int(m[1]["bytes"]), 0)  # the error page's body
        self.assertEqual((m[2]["request"], m[2]["status"], m[2]["bytes"]), ("HEAD /index.html HTTP/1.1", "200", "0"))

    def test_hostile_fields_are_escaped(self):
        before = len(self.lines(want=0))
        agent = b'evil" 200 1 "x\\ \xff\xc3\xa9\tz'
        c = self.server.client()
        c.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\nUser-Agent: " + agent + b"\r\nReferer: a\"b\r\n\r\n")
        self.assertEqual(c.read_response().status, 200)
        c.close()
        c = self.server.client()
        c.send(b"\x16\x03\x01\x02\x00garbage\r\n\r\n")  # a TLS hello, say
        self.assertTrue(c.closed_by_peer())
        c.close()
        lines = self.lines(want=before + 2)[before:]
        self.assertEqual(len(lines), 2, lines)
        m = COMBINED.match(lines[0])
        self.assertTrue(m, lines[0])
        self.assertEqual(m["agent"], 'evil\\x22 200 1 \\x22x\\x5C \\xFF\\xC3\\xA9\\x09z')
        self.assertEqual(m["referer"], "a\\x22b")
        m = COMBINED.match(lines[1])
        self.assertTrue(m, lines[1])
        self.assertEqual((m["request"], m["status"]), ("-", "400"))

    def test_bytes_actually_sent_when_cut(self):
        before = len(self.lines(want=0))
        s = harness.small_window_socket(self.server.port)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        got = len(s.recv(4096))
        time.sleep(0.3)
        harness.reset(s)  # mid-body
        lines = self.lines(want=before + 1)[before:]
        self.assertEqual(len(lines), 1, lines)
        m = COMBINED.match(lines[0])
        self.assertEqual(m["status"], "200")
        self.assertGreater(int(m["bytes"]), 0)
        self.assertLess(int(m["bytes"]), 4 << 20)
        self.assertGreater(got, 0)

    def test_sighup_reopens_the_file(self):
        self.assertEqual(self.server.get("/index.html").status, 200)
        self.lines(want=1)
        rotated = self.log_path + ".1"
        os.rename(self.log_path, rotated)
        os.kill(self.server.pid, signal.SIGHUP)
        self.server.wait_log(r"SIGHUP")
        self.assertEqual(self.server.get("/index.html", {"User-Agent": "after-rotate"}).status, 200)
        lines = self.lines(want=1)
        self.assertTrue(any('"after-rotate"' in l for l in lines), lines)
        with open(rotated) as f:
            self.assertNotIn("after-rotate", f.read())
        self.assertTrue(self.server.alive())


class ReopenFails(harness.unittest.TestCase):
    """Under --user, a log in a root-owned 0755 directory cannot be
    created again after rotation: SIGHUP says so, and lines keep going to
    the file open before (they used to, under a line saying the log was
    reopened)."""

    def test_sighup_says_what_failed(self):
        if os.geteuid() != 0:
            self.skipTest("not root")
        root = harness.Root()
        root.write("index.html", "<p>hi</p>\n")
        logs = harness.tempfile.mkdtemp(prefix="splicehttpd-logs-")
        os.chmod(logs, 0o755)
        path = os.path.join(logs, "access.log")
        server = harness.Server(root.path, "--user", "nobody", "--access-log", path)
        try:
            server.wait_log("serving as nobody")
            self.assertEqual(server.get("/index.html", {"User-Agent": "before"}).status, 200)
            os.rename(path, path + ".1")
            start = len(server.log())
            os.kill(server.pid, signal.SIGHUP)
            line = server.wait_log(r"SIGHUP: .*access log", start=start)
            self.assertRegex(line, r" error SIGHUP: cannot reopen the access log %s: Permission denied; "
                             r"still writing to the file open before$" % re.escape(path))
            self.assertEqual(server.get("/index.html", {"User-Agent": "after"}).status, 200)
            deadline = time.time() + 10
            while time.time() < deadline:
                with open(path + ".1") as f:
                    rotated = f.read()
                if '"after"' in rotated:
                    break
                time.sleep(0.05)
            self.assertIn('"before"', rotated)
            self.assertIn('"after"', rotated)
            self.assertFalse(os.path.exists(path))
            self.assertFalse([l for l in server.log() if "reopened" in l], server.log())
            server.stop_checked()
        finally:
            if server.alive():
                server.stop()
            root.cleanup()
            harness.shutil.rmtree(logs, ignore_errors=True)


class LogInsideRoot(harness.unittest.TestCase):
    """A log beneath --root would be served (GET /access.log) and opens the
    sandbox for writes there: refused, one line, exit 2."""

    def test_refused(self):
        root = harness.Root()
        os.mkdir(os.path.join(root.path, "sub"))
        os.symlink(root.path, os.path.join(root.base, "link"))
        try:
            for log in (os.path.join(root.path, "access.log"), os.path.join(root.path, "sub", "..", "x.log"),
                        os.path.join(root.base, "link", "sub", "y.log")):
                with self.subTest(log=log):
                    out = harness.subprocess.run([harness.BINARY, "--root", root.path, "--port", "0", "--threads",
                                                  "1", "--access-log", log, *harness.ROOT_ARGS],
                                                 capture_output=True, text=True, timeout=10)
                    self.assertEqual(out.returncode, 2, out.stderr)
                    lines = out.stderr.strip().splitlines()
                    self.assertEqual(lines, [f"splicehttpd: --access-log {log}: inside --root {root.path}: it would "
                                             "be served, and the sandbox would let the server write there; put it "
                                             "outside"])
            # Beside the root (a name that starts like it) is fine.
            beside = root.path + "-access.log"
            root.write("index.html", "hi\n")
            server = harness.Server(root.path, "--access-log", beside)
            self.assertEqual(server.get("/").body, b"hi\n")
            server.stop_checked()
            os.remove(beside)
        finally:
            root.cleanup()


class NoAccessLog(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        root.write("index.html", "hi\n")

    def test_off_by_default(self):
        self.assertEqual(self.server.get("/index.html").status, 200)
        self.assertFalse([t for t in self.server.fds().values() if t.endswith(".log")])
        self.assertNotIn("--access-log", " ".join(self.server.args))


if __name__ == "__main__":
    harness.main()
