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
