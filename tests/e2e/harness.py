"""End-to-end harness: start the real binary on a free loopback port, talk to
it over raw sockets, read its log, stop it and check it exited 0.

Only the standard library: the machines have python3 from Debian and nothing
else is installed for tests.
"""

import ctypes
import errno
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BINARY = os.environ.get("SPLICEHTTPD") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "splicehttpd")

SKIP = 77  # meson's "skipped" exit status


def io_uring_problem():
    """None where io_uring can be used; else (why, skip): skip is True for
    an old kernel (ENOSYS), seccomp or kernel.io_uring_disabled (EPERM), the
    reasons to skip, and False for any other failure of the probe."""
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            if f.read().strip() == "2":
                return "io_uring disabled by sysctl", True
    except OSError:
        pass
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)  # struct io_uring_params
    fd = libc.syscall(425, 1, params)  # io_uring_setup
    if fd < 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EPERM):
            return f"io_uring_setup: {os.strerror(err)}: io_uring unavailable here", True
        return f"io_uring_setup: {os.strerror(err)}: the probe failed", False
    os.close(fd)
    return None


def io_uring_usable():
    return io_uring_problem() is None


def require_io_uring():
    """Exit 77 (skip) where io_uring cannot be used; any other failure of
    the probe is an error, not a reason to skip."""
    problem = io_uring_problem()
    if problem:
        why, skip = problem
        print(f"{why}: skipping" if skip else why)
        sys.exit(SKIP if skip else 1)


def require_program(name):
    path = shutil.which(name)
    if not path:
        print(f"{name} not installed: skipping")
        sys.exit(SKIP)
    return path


def small_window_socket(port, rcvbuf=4096, mss=1460, timeout=30):
    """A client whose receive window stays small. On loopback the kernel
    grows socket buffers to MiBs and swallows whole bodies at once, so a
    slow-client test sets SO_RCVBUF and TCP_MAXSEG, before connect() so that
    they take effect on the handshake."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def reset(sock):
    """close() that sends RST, not FIN (SO_LINGER with a zero timeout)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


def assert_bad_flags(test, flag_sets):
    """Each set of flags: one line on stderr naming the flag, exit 2."""
    for flags in flag_sets:
        out = subprocess.run([BINARY, *flags], capture_output=True, text=True, timeout=10)
        test.assertEqual(out.returncode, 2, flags)
        test.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)
        test.assertIn(flags[0], out.stderr)


def payload(size, seed=None):
    """Deterministic bytes for a file of a given size."""
    return random.Random(size if seed is None else seed).randbytes(size)


class Root:
    """A temporary document root the tests fill."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="splicehttpd-test-")
        self.path = os.path.join(self.base, "root")
        os.mkdir(self.path)

    def write(self, rel, data, mtime=None):
        full = os.path.join(self.path, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        if mtime is not None:
            os.utime(full, (mtime, mtime))
        return full

    def outside(self, name, data):
        """A file next to the root, which must never be served."""
        full = os.path.join(self.base, name)
        with open(full, "wb") as f:
            f.write(data)
        return full

    def cleanup(self):
        shutil.rmtree(self.base, ignore_errors=True)


class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) in order
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"<Response {self.status} {self.reason} {len(self.body)} bytes>"


class Client:
    """One connection; requests may be pipelined by sending first and reading
    the responses afterwards."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("connection closed by server")
        self.buf += chunk

    def read_response(self, head_request=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.1 (\d{3}) (.*)$", lines[0])
        if not m:
            raise AssertionError(f"bad status line {lines[0]!r}")
        status = int(m.group(1))
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
        resp = Response(status, m.group(2), headers, b"", head + b"\r\n\r\n")
        if head_request or status in (204, 304) or 100 <= status < 200:
            return resp
        length = resp.header("content-length")
        if length is None:
            raise AssertionError(f"response without Content-Length: {lines}")
        length = int(length)
        while len(self.buf) < length:
            self._fill()
        resp.body, self.buf = self.buf[:length], self.buf[length:]
        return resp

    def request(self, method, path, headers=None, version="HTTP/1.1", body=b""):
        hdrs = {"Host": "test"}
        hdrs.update(headers or {})
        lines = [f"{method} {path} {version}"]
        lines += [f"{k}: {v}" for k, v in hdrs.items() if v is not None]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return self.read_response(head_request=(method == "HEAD"))

    def closed_by_peer(self, timeout=5):
        """True once the server has closed its side (EOF or reset)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def traced_env():
    """The environment for a server that strace will trace: LeakSanitizer
    (in a tools/test --sanitize build) cannot run under ptrace and would
    abort the server at exit."""
    env = dict(os.environ)
    if "ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] += ":detect_leaks=0"
    return env


def sanitized():
    """A tools/test --sanitize or --tsan run: the sanitizer runtimes make
    syscalls of their own (pipe2 among them, to probe memory) and hold
    memory of their own."""
    return "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ


# The tests run as root and serve temporary trees, so the servers they
# start stay root (--allow-root) unless a test asks for a user; started as
# root without either, the server serves as nobody (test_hardening checks it).
ROOT_ARGS = ["--allow-root"] if os.geteuid() == 0 else []


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def root_args(args):
    """ROOT_ARGS, unless args choose already (--user or --allow-root)."""
    return [] if "--user" in args or "--allow-root" in args else ROOT_ARGS


class Server:
    """The real binary, on 127.0.0.1 (or `listen`) and a port it picks itself
    (--port 0). As root it stays root unless args say --user, or allow_root
    is False (then it serves as nobody)."""

    def __init__(self, root, *args, threads=1, start_timeout=10, env=None, listen="127.0.0.1", allow_root=True,
                 quiet=False):
        """quiet: args hide the "listening on" line (--log-level warn or
        error): the server gets a free port chosen here, and is ready once
        it accepts a connection (on 127.0.0.1 only)."""
        port = free_port() if quiet else 0
        self.args = [BINARY, "--root", root, "--listen", listen, "--port", str(port),
                     "--threads", str(threads), *(root_args(args) if allow_root else []), *args]
        self._start(self.args, start_timeout, env=env, port=port or None)

    def _start(self, command, start_timeout, port=None, **popen):
        """Runs command and waits for its "listening on" line, or with port
        given, until that port accepts a connection."""
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)
        self.lines = []
        self.lock = threading.Lock()
        self.port = port
        self.listening = threading.Event()
        self.reader = threading.Thread(target=self._read_log, daemon=True)
        self.reader.start()
        if port is not None:
            deadline = time.time() + start_timeout
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return
                except OSError:
                    if time.time() > deadline or self.proc.poll() is not None:
                        self.proc.kill()
                        raise AssertionError("server did not start:\n" + "\n".join(self.lines))
                    time.sleep(0.05)
        if not self.listening.wait(start_timeout):
            self.proc.kill()
            raise AssertionError("server did not start:\n" + "\n".join(self.lines))

    def _read_log(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            with self.lock:
                self.lines.append(line)
            m = re.search(r"listening on http://\S+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                self.listening.set()

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        with self.lock:
            return list(self.lines)

    def tls_port(self):
        """The --tls-port the server bound, from its start line."""
        line = self.wait_log(r"listening on .*https://")
        return int(re.search(r"https://\S+:(\d+)", line).group(1))

    def wait_log(self, pattern, timeout=10, start=0):
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while time.time() < deadline:
            for line in self.log()[start:]:
                if rx.search(line):
                    return line
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r}; log tail:\n" + "\n".join(self.log()[-20:]))

    def stats(self):
        """Asks every worker for its stats line (SIGUSR1) and sums them."""
        start = len(self.log())
        os.kill(self.pid, signal.SIGUSR1)
        totals = {}
        deadline = time.time() + 10
        threads = int(self.args[self.args.index("--threads") + 1])
        while time.time() < deadline:
            found = [l for l in self.log()[start:] if " stats: " in l]
            if len(found) >= threads:
                for line in found:
                    for k, v in re.findall(r"(\w+)=(\d+)", line.split(" stats: ", 1)[1]):
                        totals[k] = totals.get(k, 0) + int(v)
                return totals
            time.sleep(0.02)
        raise AssertionError("no stats lines")

    def wait_idle(self, timeout=20):
        """Until no connection, open file slot or draining pipe is left and
        every pipe is back in its pool; returns the summed stats."""
        deadline = time.time() + timeout
        while True:
            s = self.stats()
            if (s["connections"] == 0 and s["open_files"] == 0 and s["cached_files"] == 0 and s["cache_retired"] == 0 and s["pipe_waiters"] == 0 and s["waiting_writable"] == 0 and s["pipes_draining"] == 0
                    and s["pipes_free"] == s["pipes"]):
                return s
            if time.time() > deadline:
                raise AssertionError(f"server not idle: {s}")
            time.sleep(0.1)

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def fds(self):
        out = {}
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                out[fd] = os.readlink(f"/proc/{self.pid}/fd/{fd}")
            except OSError:
                pass
        return out

    def client(self, timeout=30):
        return Client(self.port, timeout)

    def get(self, path, headers=None, method="GET", version="HTTP/1.1"):
        c = self.client()
        try:
            return c.request(method, path, headers, version)
        finally:
            c.close()

    def stop(self, timeout=30):
        """SIGTERM; the server must exit 0 on its own."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not exit after SIGTERM")
        self.reader.join(5)
        self.proc.stderr.close()
        return rc

    def alive(self):
        return self.proc.poll() is None

    def stop_checked(self):
        """stop(); the server must have exited 0 and reported nothing."""
        rc = self.stop()
        if rc != 0:
            raise AssertionError(f"server exited {rc}:\n" + "\n".join(self.log()[-20:]))
        self.assert_no_sanitizer_reports()

    def assert_no_sanitizer_reports(self):
        """An ASan/UBSan build (tools/test --sanitize) reports on stderr and
        may carry on: any report fails the test class."""
        reports = [l for l in self.log() if "AddressSanitizer" in l or "runtime error:" in l
                   or "LeakSanitizer" in l or "ThreadSanitizer" in l or "assertion failed" in l]
        if reports:
            raise AssertionError("sanitizer report:\n" + "\n".join(self.log()[-40:]))


class ServerTest(unittest.TestCase):
    """A test class with one root and one server for all its tests.
    Subclasses fill the root in populate() and may set server_args."""

    server_args = ()
    threads = 1
    server_env = None  # the server's environment, if not ours

    @classmethod
    def populate(cls, root):
        pass

    @classmethod
    def setUpClass(cls):
        cls.root = Root()
        cls.populate(cls.root)
        cls.server = Server(cls.root.path, *cls.server_args, threads=cls.threads, env=cls.server_env)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop_checked()
        finally:
            cls.root.cleanup()

    def assertServerAlive(self):
        self.assertTrue(self.server.alive(), "server died:\n" + "\n".join(self.server.log()[-20:]))


def main():
    require_io_uring()
    if not os.path.exists(BINARY):
        print(f"{BINARY} not built")
        sys.exit(1)
    unittest.main(verbosity=2)
