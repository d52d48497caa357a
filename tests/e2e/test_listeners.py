"""Several listeners (issue 19): every --listen address served at once
(IPv4 and IPv6, unix sockets), [::] IPv6-only unless --ipv6-dual-stack, a
unix socket's client logged as "unix:", its file replaced when stale and
removed at exit, bad addresses refused with one line, and a small
--max-conns shared so that no listener waits behind another."""

import os
import re
import socket
import subprocess
import tempfile
import time
import unittest

import harness

BODY = b"<p>listeners</p>\n"


def has_ipv6():
    if not socket.has_ipv6 or not os.path.exists("/proc/net/if_inet6"):
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def start_urls(server):
    """The URLs of the start line, in order."""
    line = server.wait_log(r"listening on ")
    return re.search(r"listening on (.*) \(\d+ threads?, root ", line).group(1).split(", ")


def port_of(url):
    return int(re.search(r":(\d+)$", url).group(1))


def get_tcp(host, port, family=socket.AF_INET, path="/index.html"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect((host, port))
        return exchange(s, path)


def get_unix(path, target="/index.html"):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        return exchange(s, target)


def exchange(s, target):
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def ipv4_port_in_use(port):
    """Whether any IPv4 TCP socket is bound to the port (/proc/net/tcp: a
    dual-stack [::] shows in tcp6 only)."""
    with open("/proc/net/tcp") as f:
        next(f)
        return any(int(line.split()[1].split(":")[1], 16) == port for line in f)


def served(data):
    return data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"\r\n\r\n" + BODY)


def wait_for_line(path, pattern, timeout=10):
    """A line of the access log (flushed once a second)."""
    deadline = time.time() + timeout
    rx = re.compile(pattern)
    while time.time() < deadline:
        try:
            with open(path) as f:
                for line in f:
                    if rx.search(line):
                        return line
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    with open(path) as f:
        raise AssertionError(f"no access log line matching {pattern!r}:\n{f.read()}")


class Base(unittest.TestCase):
    def setUp(self):
        self.root = harness.Root()
        self.root.write("index.html", BODY)
        # Beside the root (a log or socket inside it would be served).
        self.dir = tempfile.mkdtemp(prefix="splicehttpd-listeners-")
        self.sock = os.path.join(self.dir, "s.sock")
        self.log = os.path.join(self.dir, "access.log")

    def tearDown(self):
        self.root.cleanup()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


@unittest.skipUnless(has_ipv6(), "no IPv6 on this host")
class Dual(Base):
    def test_ipv4_and_ipv6_listeners_both_answer(self):
        server = harness.Server(self.root.path, "--listen", "[::1]", threads=2)
        try:
            urls = start_urls(server)
            self.assertEqual(len(urls), 2, urls)
            self.assertTrue(urls[0].startswith("http://127.0.0.1:"), urls)
            self.assertTrue(urls[1].startswith("http://[::1]:"), urls)
            for _ in range(4):  # both workers' sockets
                self.assertTrue(served(get_tcp("127.0.0.1", port_of(urls[0]))))
                self.assertTrue(served(get_tcp("::1", port_of(urls[1]), socket.AF_INET6)))
        finally:
            server.stop_checked()

    def test_any_ipv6_is_ipv6_only_unless_dual_stack_is_asked(self):
        """Whatever net.ipv6.bindv6only says: [::] alone refuses an IPv4
        client; with --ipv6-dual-stack it takes one, logged as a.b.c.d."""
        # An IPv6-only [::] leaves IPv4's port free: another test's server
        # (the suites run side by side) may take that very port on
        # 127.0.0.1 and answer. So the IPv4 port is held here first, which
        # only works where [::] does not hold it; a port someone else has
        # on IPv4 already is tried again with a new server.
        for _ in range(5):
            server = harness.Server(self.root.path, listen="::")
            try:
                port = server.port
                self.assertTrue(served(get_tcp("::1", port, socket.AF_INET6)))
                server.wait_log(r"http://\[::\]:%d: IPv6 only \(--ipv6-dual-stack for IPv4 too\)" % port)
                if ipv4_port_in_use(port):
                    continue
                with socket.socket(socket.AF_INET) as guard:
                    guard.bind(("127.0.0.1", port))  # EADDRINUSE where [::] took IPv4 too
                    with self.assertRaises(ConnectionRefusedError):
                        get_tcp("127.0.0.1", port)
                break
            finally:
                server.stop_checked()
        else:
            self.fail("five ports in a row were in use on IPv4 too")
        server = harness.Server(self.root.path, "--ipv6-dual-stack", "--access-log", self.log, listen="::")
        try:
            port = server.port
            self.assertTrue(served(get_tcp("127.0.0.1", port)))
            self.assertTrue(served(get_tcp("::1", port, socket.AF_INET6, "/index.html?v6")))
            server.wait_log(r"http://\[::\]:%d: IPv6 and IPv4 \(dual-stack\)" % port)
            wait_for_line(self.log, r'^::1 - - .*"GET /index.html\?v6 ')
            with open(self.log) as f:
                lines = f.read().splitlines()
            v4 = [l for l in lines if '"GET /index.html HTTP' in l]
            self.assertEqual(len(v4), 1, lines)
            self.assertTrue(v4[0].startswith("127.0.0.1 - - ["), v4[0])
        finally:
            server.stop_checked()

    def test_dual_stack_beside_ipv4_on_its_port_is_refused(self):
        out = subprocess.run([harness.BINARY, "--root", self.root.path, "--ipv6-dual-stack", "--listen",
                              "[::]:8080", "--listen", "127.0.0.1:8080", *harness.ROOT_ARGS],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertEqual(out.stderr.splitlines(),
                         ["splicehttpd: --listen 127.0.0.1:8080: overlaps '[::]:8080' ([::]:8080 and "
                          "127.0.0.1:8080): with --ipv6-dual-stack [::] takes IPv4 clients on its port too; "
                          "give one of them"])


class Unix(Base):
    def test_unix_socket_served_logged_and_removed(self):
        server = harness.Server(self.root.path, "--listen", "unix:" + self.sock, "--access-log", self.log,
                                "--max-conns-per-ip", "1", threads=2)
        try:
            urls = start_urls(server)
            self.assertEqual(urls[1], "unix:" + self.sock)
            # As nginx: anyone who may reach the directory may connect.
            self.assertEqual(os.stat(self.sock).st_mode & 0o7777, 0o666)
            out = subprocess.run(["curl", "-sS", "--unix-socket", self.sock, "http://t/index.html?curl"],
                                 capture_output=True, timeout=30)
            self.assertEqual((out.returncode, out.stdout), (0, BODY), out.stderr)
            # --max-conns-per-ip 1 counts no unix peers: two held at once.
            a = socket.socket(socket.AF_UNIX)
            b = socket.socket(socket.AF_UNIX)
            try:
                for s in (a, b):
                    s.settimeout(10)
                    s.connect(self.sock)
                for s in (a, b):
                    self.assertTrue(served(exchange(s, "/index.html?raw")))
            finally:
                a.close()
                b.close()
            self.assertTrue(served(get_tcp("127.0.0.1", server.port)))  # TCP still
            line = wait_for_line(self.log, r'"GET /index.html\?curl ')
            self.assertTrue(line.startswith('unix: - - ['), line)
            wait_for_line(self.log, r'^unix: - - .*"GET /index.html\?raw .* 200 ')
        finally:
            server.stop_checked()
        # At a clean exit the file goes with the server (sandbox on).
        self.assertFalse(os.path.exists(self.sock))

    def test_mode_option_sets_the_socket_files_mode(self):
        """"unix:PATH mode=0660": the group's only, not 0666 (nor the umask's)."""
        old = os.umask(0o022)
        try:
            server = harness.Server(self.root.path, "--listen", f"unix:{self.sock} mode=0660")
        finally:
            os.umask(old)
        try:
            self.assertEqual(start_urls(server)[1], "unix:" + self.sock)
            self.assertEqual(os.stat(self.sock).st_mode & 0o7777, 0o660)
            self.assertTrue(served(get_unix(self.sock)))
        finally:
            server.stop_checked()
        self.assertFalse(os.path.exists(self.sock))

    def test_socket_removed_when_serving_as_another_user(self):
        """Served as nobody, who may not unlink in this root-owned directory:
        the file is removed all the same."""
        if os.geteuid() != 0:
            self.skipTest("needs root")
        server = harness.Server(self.root.path, "--listen", "unix:" + self.sock, "--user", "nobody")
        try:
            self.assertTrue(served(get_unix(self.sock)))
        finally:
            server.stop_checked()
        self.assertFalse(os.path.exists(self.sock))

    def test_stale_socket_file_is_replaced(self):
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(self.sock)  # a file nobody accepts on
        stale.close()
        self.assertTrue(os.path.exists(self.sock))
        server = harness.Server(self.root.path, "--listen", "unix:" + self.sock)
        try:
            server.wait_log(r"unix:%s: removed a stale socket file" % re.escape(self.sock))
            self.assertTrue(served(get_unix(self.sock)))
        finally:
            server.stop_checked()

    def run_once(self, *args):
        return subprocess.run([harness.BINARY, "--root", self.root.path, "--port", "0", *harness.ROOT_ARGS, *args],
                              capture_output=True, text=True, timeout=30)

    def test_path_in_use_or_not_a_socket_is_refused(self):
        with open(self.sock, "w") as f:
            f.write("not a socket\n")
        out = self.run_once("--listen", "unix:" + self.sock)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertEqual(out.stderr.splitlines(),
                         [f"splicehttpd: unix:{self.sock}: the path exists and is not a socket: File exists"])
        with open(self.sock) as f:
            self.assertEqual(f.read(), "not a socket\n")
        os.unlink(self.sock)
        live = socket.socket(socket.AF_UNIX)
        live.bind(self.sock)
        live.listen(4)
        try:
            out = self.run_once("--listen", "unix:" + self.sock)
            self.assertEqual(out.returncode, 1, out.stderr)
            self.assertEqual(out.stderr.splitlines(),
                             [f"splicehttpd: unix:{self.sock}: a server listens there already: Address already "
                              "in use"])
            self.assertTrue(os.path.exists(self.sock))
        finally:
            live.close()

    def test_a_later_address_failing_removes_the_socket_file(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(4)
        try:
            port = taken.getsockname()[1]
            out = self.run_once("--listen", "unix:" + self.sock, "--listen", f"127.0.0.1:{port}")
            self.assertEqual(out.returncode, 1, out.stderr)
            self.assertEqual(out.stderr.splitlines(),
                             [f"splicehttpd: bind http://127.0.0.1:{port}: Address already in use"])
            self.assertFalse(os.path.exists(self.sock))
        finally:
            taken.close()

    def test_bad_listen_values_exit_2_with_one_line(self):
        cases = [
            (("--listen", "unix:relative.sock"),
             "--listen unix:relative.sock: a unix socket needs an absolute path: unix:/run/splicehttpd.sock"),
            (("--listen", "127.0.0.1", "--listen", "127.0.0.1:0"), "--listen 127.0.0.1:0: the same address as "
             "'127.0.0.1'"),
            (("--listen", "[::1"), "--listen [::1: no ']' after the IPv6 address"),
            (("--listen", "127.0.0.1", "--ipv6-dual-stack"), "--ipv6-dual-stack: no --listen [::] (or [::]:PORT) "
             "for it to apply to"),
            (("--listen", "unix:/tmp/x.sock", "--metrics-listen", "unix:/tmp/m.sock"),
             "--metrics-listen unix:/tmp/m.sock: a TCP address, not a unix socket"),
            (("--listen", "unix:/tmp/x.sock mode=888"),
             "--listen unix:/tmp/x.sock mode=888: 'mode=888': the mode is octal, from 0 to 0777 (mode=0660)"),
            (("--listen", "127.0.0.1 mode=0660"),
             "--listen 127.0.0.1 mode=0660: 'mode=0660': mode= is for a unix socket's file, not a TCP address"),
            (("--listen", "unix:/tmp/x.sock http2"), "--listen unix:/tmp/x.sock http2: unknown option 'http2'"),
        ]
        for args, expect in cases:
            with self.subTest(args=args):
                out = self.run_once(*args)
                self.assertEqual(out.returncode, 2, out.stderr)
                lines = out.stderr.splitlines()
                self.assertEqual(len(lines), 1, out.stderr)
                self.assertTrue(lines[0].startswith("splicehttpd: " + expect), lines[0])
        self.assertFalse(os.path.exists("/tmp/x.sock"))

    def test_check_config_counts_listeners(self):
        out = self.run_once("--check-config", "--listen", "127.0.0.1", "--listen", "unix:" + self.sock,
                            "--listen", "[::1]")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "splicehttpd: the command line: ok (1 site, 3 listeners)\n")
        self.assertFalse(os.path.exists(self.sock))  # checked, not bound


@unittest.skipUnless(has_ipv6(), "no IPv6 on this host")
class SmallMaxConns(Base):
    def test_every_listener_gets_accepted(self):
        """--max-conns 1, three listeners: the one slot waits on one of
        them, and a client of another is still accepted; with a connection
        held, the others wait for its slot as with one listener."""
        server = harness.Server(self.root.path, "--listen", "[::1]", "--listen", "unix:" + self.sock,
                                "--max-conns", "1")
        try:
            urls = start_urls(server)
            v4, v6 = port_of(urls[0]), port_of(urls[1])
            order = ["unix", "v6", "v4", "v6", "unix", "unix", "v4", "v4", "v6"]
            for which in order:
                with self.subTest(which=which):
                    if which == "v4":
                        self.assertTrue(served(get_tcp("127.0.0.1", v4)))
                    elif which == "v6":
                        self.assertTrue(served(get_tcp("::1", v6, socket.AF_INET6)))
                    else:
                        self.assertTrue(served(get_unix(self.sock)))
            held = socket.create_connection(("127.0.0.1", v4), timeout=10)
            try:
                held.sendall(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n")
                self.assertIn(BODY, held.recv(65536))
                waiting = socket.socket(socket.AF_UNIX)
                waiting.settimeout(10)
                waiting.connect(self.sock)  # into the backlog
                waiting.sendall(b"GET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                waiting.settimeout(0.5)
                with self.assertRaises(socket.timeout):
                    waiting.recv(65536)
            finally:
                held.close()
            waiting.settimeout(10)
            data = b""
            while True:
                chunk = waiting.recv(65536)
                if not chunk:
                    break
                data += chunk
            waiting.close()
            self.assertTrue(served(data))
        finally:
            server.stop_checked()


if __name__ == "__main__":
    harness.main()
