"""The command line: bad flags are one line on stderr and exit 2; --help and
--version exit 0; SIGINT and SIGTERM exit 0."""

import os
import signal
import socket
import subprocess

import harness


def run(*args, timeout=10):
    return subprocess.run([harness.BINARY, *args], capture_output=True, timeout=timeout)


class Cli(harness.unittest.TestCase):
    def assertOneLineExit2(self, *args):
        out = run(*args)
        self.assertEqual(out.returncode, 2, out)
        lines = out.stderr.decode().strip().split("\n")
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("splicehttpd: "), lines)
        self.assertEqual(out.stdout, b"")
        return lines[0]

    def test_bad_flags(self):
        cases = [
            ("--bogus",), ("--port", "99999"), ("--port", "x"), ("--threads", "0"), ("--threads",),
            ("--pipe-size", "100"), ("--dotfiles", "maybe"), ("--precompressed", "yes"), ("extra",),
            ("--pipes", "9", "--pipes-max", "4"), ("--max-conns", "0"),
        ]
        for args in cases:
            with self.subTest(args=args):
                self.assertOneLineExit2(*args)

    def test_flag_named_once(self):
        """CLI11 puts the flag's name before a check's message: the message
        must not name it again ('--max-conns: --max-conns: ...')."""
        for args in (("--max-conns", "0"), ("--max-conns", "x"), ("--threads", "0"), ("--dotfiles", "maybe")):
            with self.subTest(args=args):
                line = self.assertOneLineExit2(*args)
                self.assertEqual(line.count(args[0]), 1, line)
        self.assertEqual(self.assertOneLineExit2("--max-conns", "0"),
                         "splicehttpd: --max-conns: 'auto' or a number in [1 - 300000], not 0 (see --help)")

    def test_bad_values_name_the_flag(self):
        self.assertIn("--root", self.assertOneLineExit2("--root", "/nonexistent/dir", "--port", "0"))
        root = harness.Root()
        try:
            line = self.assertOneLineExit2("--root", root.path, "--listen", "not-an-address", "--port", "0")
            self.assertIn("--listen", line)
        finally:
            root.cleanup()

    def test_help_and_version(self):
        out = run("--help")
        self.assertEqual(out.returncode, 0)
        for flag in (b"--root", b"--listen", b"--port", b"--threads", b"--debug"):
            self.assertIn(flag, out.stdout)
        out = run("--version")
        self.assertEqual(out.returncode, 0)
        self.assertIn(b"splicehttpd", out.stdout)

    def test_port_in_use_is_one_line(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        root = harness.Root()
        try:
            # SO_REUSEPORT only shares with sockets that also set it.
            out = run("--root", root.path, "--port", str(port), "--threads", "1")
            self.assertEqual(out.returncode, 1)
            lines = out.stderr.decode().strip().split("\n")
            self.assertEqual(len(lines), 1, lines)
            self.assertIn("Address already in use", lines[0])
        finally:
            s.close()
            root.cleanup()

    def test_second_instance_on_the_same_port_fails(self):
        """SO_REUSEPORT on every listener let a second splicehttpd join the
        first one's port and take part of its traffic (another site's
        files): it must fail as it does against any other server."""
        first_root, second_root = harness.Root(), harness.Root()
        first_root.write("which.txt", "first\n")
        second_root.write("which.txt", "second\n")
        first = harness.Server(first_root.path, threads=2)
        try:
            for threads in ("1", "3"):
                with self.subTest(threads=threads):
                    second = subprocess.Popen([harness.BINARY, "--root", second_root.path, "--port",
                                               str(first.port), "--threads", threads],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                    try:
                        rc = second.wait(10)
                    except subprocess.TimeoutExpired:
                        rc = None
                    finally:
                        if second.poll() is None:
                            second.kill()
                            second.wait()
                        err = second.stderr.read()
                        second.stderr.close()
                    self.assertEqual(rc, 1, "the second instance started:\n" + err)
                    lines = err.strip().splitlines()
                    self.assertEqual(len(lines), 1, lines)
                    self.assertRegex(lines[0], r"^splicehttpd: bind http://127\.0\.0\.1:%d: Address already in use$"
                                     % first.port)
            for _ in range(8):  # a new connection each: the kernel would spread them
                self.assertEqual(first.get("/which.txt").body, b"first\n")
        finally:
            first.stop_checked()
            first_root.cleanup()
            second_root.cleanup()

    def test_tls_flags_go_together(self):
        """--tls-port, --tls-cert/--tls-key (paired in order) and
        --https-redirect: each wrong combination is one line naming what is
        missing; a right one goes on to read the files (test_https has
        the bad pairs)."""
        cert, key = ("--tls-cert", "/etc/site.crt"), ("--tls-key", "/etc/site.key")
        cases = [
            (("--tls-port", "8443"), "splicehttpd: --tls-port needs --tls-cert and --tls-key"),
            ((*cert, *key), "splicehttpd: --tls-cert and --tls-key need a TLS listener: --tls-port, or tls after a "
             "--listen address"),
            (("--https-redirect",), "splicehttpd: --https-redirect needs a TLS listener: --tls-port, or tls after a "
             "TCP --listen address"),
            (("--tls-port", "8443", *cert), "splicehttpd: --tls-cert given 1 time but --tls-key 0 times: one key for "
             "each certificate, in the same order"),
            (("--tls-port", "8443", *cert, *key, *cert), "splicehttpd: --tls-cert given 2 times but --tls-key 1 time: "
             "one key for each certificate, in the same order"),
            (("--tls-port", "8443", "--tls-cert", "", *key), "splicehttpd: --tls-cert: a file name, not an empty "
             "string"),
            (("--port", "8443", "--tls-port", "8443", *cert, *key), "splicehttpd: --tls-port 8443 is --port too: "
             "HTTPS needs a port of its own"),
            # Right together: then the files are read, and a missing one named.
            (("--root", "/", "--port", "0", "--tls-port", "0", *cert, *key, *cert, *key, "--https-redirect"),
             "splicehttpd: certificate /etc/site.crt: No such file or directory"),
        ]
        for args, expect in cases:
            with self.subTest(args=args):
                self.assertEqual(self.assertOneLineExit2(*args), expect)
        self.assertOneLineExit2("--tls-port", "65536", *cert, *key)
        self.assertOneLineExit2("--tls-port", "x", *cert, *key)
        help_text = run("--help").stdout
        for flag in (b"--tls-port", b"--tls-cert", b"--tls-key", b"--https-redirect"):
            self.assertIn(flag, help_text)

    def test_signals_exit_0(self):
        root = harness.Root()
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with self.subTest(sig=sig):
                    server = harness.Server(root.path, threads=2)
                    os.kill(server.pid, sig)
                    self.assertEqual(server.proc.wait(10), 0)
                    self.assertEqual(server.stop(), 0)
        finally:
            root.cleanup()


if __name__ == "__main__":
    harness.main()
