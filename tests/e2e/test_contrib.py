"""What packaging needs: the systemd units in contrib/, socket activation
through the real binary, the man page, and what `meson install` puts where.

- The units pass `systemd-analyze verify` without a word (ExecStart pointed
  at the built binary, the built man page on MANPATH for Documentation=),
  keep their hardening, and score "OK" in `systemd-analyze security`.
- Every system call the server makes while serving is allowed by the
  service's SystemCallFilter (strace against `systemd-analyze syscall-filter`).
- Socket activation (LISTEN_PID/LISTEN_FDS) by hand and through
  systemd-socket-activate: the inherited socket is served by every worker,
  --listen/--port bind nothing but a --listen address's tls applies to the
  inherited socket of that address, bad descriptors are one line and exit 1.
- The shipped configuration (contrib/splicehttpd.toml, the unit's --config
  file) holds every setting with its default commented out and passes
  --check-config as shipped and with every default uncommented; meson
  installs it where the installed unit looks.
- splicehttpd.1 renders without groff warnings and names every flag of --help.

Tests that run the server skip where io_uring is unavailable; tests that need
a tool skip when it is not installed (tools/test installs them all).
"""

import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

import harness
import tls_certs

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONTRIB = os.path.join(ROOT, "contrib")
BINARY = os.path.abspath(harness.BINARY)
BUILD = os.path.dirname(BINARY)
MAN_PAGE = os.path.join(BUILD, "doc", "splicehttpd.1")
UNITS = ("splicehttpd.service", "splicehttpd.socket")
PACKAGED_BINARY = "/usr/bin/splicehttpd"
PACKAGED_CONFIG = "/etc/splicehttpd/splicehttpd.toml"
SHIPPED_CONFIG = os.path.join(CONTRIB, "splicehttpd.toml")
# "# key = value": a default, commented out (examples are indented further).
COMMENTED = re.compile(r"^# ([a-z][a-z0-9-]*) = (.*)$")


def help_defaults():
    """{key: default as --help shows it, or None} for every option a
    config file may hold (not --help, --version, --config, --check-config, --take-over)."""
    out = {}
    text = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=10).stdout
    for line in text.splitlines():
        m = re.match(r"^  --([a-z][a-z0-9-]*)(.*)$", line)
        if not m or m.group(1) in ("version", "config", "check-config", "take-over"):
            continue
        spec = re.split(r"\s{2,}", m.group(2).strip())[0]  # the type, before the description
        default = spec.rsplit("=", 1)[1] if "=" in spec else None
        if default and default.endswith(" ..."):
            default = default[:-4]
        elif default and " " in default:
            # A spec exactly as wide as CLI11's column has its description
            # one space after it ("--ktls TEXT:{auto,off}=auto HTTPS: ..."):
            # no default holds a space.
            default = default.split(" ", 1)[0]
        out[m.group(1)] = default
    return out


def shipped_settings():
    """What the shipped file sets, with the commented defaults filled in."""
    import tomllib
    with open(SHIPPED_CONFIG, "rb") as f:
        settings = tomllib.load(f)
    with open(SHIPPED_CONFIG) as f:
        for line in f:
            m = COMMENTED.match(line.rstrip("\n"))
            if m and m.group(1) not in settings:
                settings.update(tomllib.loads(f"{m.group(1)} = {m.group(2)}"))
    return settings


IO_URING = harness.io_uring_usable()
needs_io_uring = harness.unittest.skipUnless(IO_URING, "io_uring unavailable")


def need(program):
    path = shutil.which(program)
    if not path:
        raise harness.unittest.SkipTest(f"{program} not installed")
    return path


def unit_settings(path):
    """{(section, key): [values]} of a unit file."""
    out, section = {}, None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            out.setdefault((section, key.strip()), []).append(value.strip())
    return out


def run(args, timeout=60, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


# ---------------------------------------------------------------- units

class Units(harness.unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="splicehttpd-units-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def built_units(self):
        """The units with ExecStart on the built binary, as verify checks
        that the command exists."""
        out = []
        for unit in UNITS:
            with open(os.path.join(CONTRIB, unit)) as f:
                text = f.read()
            if unit.endswith(".service"):
                self.assertIn(f"ExecStart={PACKAGED_BINARY} ", text)
                text = text.replace(PACKAGED_BINARY, BINARY)
            path = os.path.join(self.tmp, unit)
            with open(path, "w") as f:
                f.write(text)
            out.append(path)
        return out

    def test_verify(self):
        analyze = need("systemd-analyze")
        env = dict(os.environ)
        args = [analyze, "verify"]
        if os.path.exists(MAN_PAGE) and shutil.which("man"):
            man1 = os.path.join(self.tmp, "man", "man1")
            os.makedirs(man1)
            shutil.copy(MAN_PAGE, man1)
            env["MANPATH"] = os.path.join(self.tmp, "man")
        else:
            args.append("--man=no")  # Documentation= is checked with the man page test
        out = run(args + self.built_units(), env=env)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        # verify exits 0 on unknown keys and bad values; it must say nothing.
        self.assertEqual(out.stdout + out.stderr, "")

    def test_verify_catches_mistakes(self):
        """The check above would see a typo: verify does speak up."""
        analyze = need("systemd-analyze")
        service, socket_unit = self.built_units()
        with open(service, "a") as f:
            f.write("[Service]\nProtectSytem=strict\n")
        out = run([analyze, "verify", "--man=no", service, socket_unit])
        self.assertIn("ProtectSytem", out.stdout + out.stderr)

    def test_hardening(self):
        s = unit_settings(os.path.join(CONTRIB, "splicehttpd.service"))

        def one(key):
            values = s.get(("Service", key))
            self.assertTrue(values, f"{key}= missing")
            return values[-1]

        self.assertEqual(one("DynamicUser"), "yes")
        self.assertEqual(one("ProtectSystem"), "strict")
        # "-": a root that is gone (the site moved) must not stop the unit.
        self.assertIn("-/var/www/splicehttpd", one("ReadOnlyPaths").split())
        # The one writable place: --access-log under ProtectSystem=strict,
        # owned by the dynamic user so that SIGHUP can create the file again.
        self.assertEqual(one("LogsDirectory"), "splicehttpd")
        with open(os.path.join(CONTRIB, "splicehttpd.service")) as f:
            self.assertIn("#   SupplementaryGroups=www-data\n", f.read())  # for an nginx-style 0640 tree
        self.assertEqual(one("NoNewPrivileges"), "yes")
        self.assertEqual(one("PrivateTmp"), "yes")
        self.assertEqual(one("CapabilityBoundingSet"), "CAP_NET_BIND_SERVICE")
        self.assertEqual(one("AmbientCapabilities"), "CAP_NET_BIND_SERVICE")
        self.assertEqual(sorted(one("RestrictAddressFamilies").split()), ["AF_INET", "AF_INET6", "AF_UNIX"])
        self.assertGreaterEqual(int(one("LimitNOFILE")), 65536)
        allowed = " ".join(v for v in s[("Service", "SystemCallFilter")] if not v.startswith("~")).split()
        for call in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
            self.assertIn(call, allowed)
        # Everything else is in the configuration file, a conffile the
        # administrator edits; flags here would silently win over it.
        self.assertEqual(one("ExecStart").split(), [PACKAGED_BINARY, "--config", PACKAGED_CONFIG])
        settings = shipped_settings()
        self.assertEqual(settings["root"], "/var/www/splicehttpd")
        self.assertIn("-" + settings["root"], one("ReadOnlyPaths").split())
        # The socket unit listens where the service would bind on its own.
        self.assertEqual(settings["listen"], ["127.0.0.1"])
        sock = unit_settings(os.path.join(CONTRIB, "splicehttpd.socket"))
        self.assertEqual(sock[("Socket", "ListenStream")], [f"{settings['listen'][0]}:{settings['port']}"])
        self.assertEqual(sock[("Install", "WantedBy")], ["sockets.target"])
        self.assertEqual(s[("Install", "WantedBy")], ["multi-user.target"])
        # Started together (package installation), the socket comes first.
        self.assertEqual(s[("Unit", "Requires")], ["splicehttpd.socket"])
        self.assertIn("splicehttpd.socket", s[("Unit", "After")][-1].split())

    def test_logrotate_snippet(self):
        """contrib/splicehttpd.logrotate rotates what LogsDirectory= holds,
        and rotating a real server's log under --user works: logrotate
        moves it, the postrotate's SIGHUP makes the server (no longer root)
        create the file again in the directory its user owns."""
        logrotate = need("logrotate")
        with open(os.path.join(CONTRIB, "splicehttpd.logrotate")) as f:
            snippet = f.read()
        logs = unit_settings(os.path.join(CONTRIB, "splicehttpd.service"))[("Service", "LogsDirectory")][-1]
        self.assertIn(f"/var/log/{logs}/*.log {{", snippet)
        self.assertRegex(snippet, r"systemctl kill --signal=HUP splicehttpd\.service")
        if os.geteuid() != 0 or not IO_URING:
            self.skipTest("the rotation needs root (for --user) and io_uring")
        log_dir = os.path.join(self.tmp, "log")
        os.mkdir(log_dir)
        os.chmod(self.tmp, 0o755)
        os.chown(log_dir, 65534, 65534)  # as LogsDirectory= does for the service's user
        root = harness.Root()
        root.write("index.html", "<p>hi</p>")
        path = os.path.join(log_dir, "access.log")
        server = harness.Server(root.path, "--user", "nobody", "--access-log", path)
        try:
            conf = os.path.join(self.tmp, "logrotate.conf")
            with open(conf, "w") as f:
                f.write(snippet.replace(f"/var/log/{logs}/", log_dir + "/")
                        .replace("systemctl kill --signal=HUP splicehttpd.service", f"kill -HUP {server.pid}"))
            self.assertEqual(server.get("/", {"User-Agent": "before"}).status, 200)
            deadline = harness.time.time() + 10
            while harness.time.time() < deadline and not os.path.getsize(path):
                harness.time.sleep(0.05)
            start = len(server.log())
            out = run([logrotate, "-f", "-s", os.path.join(self.tmp, "state"), conf])
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            server.wait_log(r"SIGHUP: access log .* reopened", start=start)
            self.assertEqual(server.get("/", {"User-Agent": "after"}).status, 200)
            deadline = harness.time.time() + 10
            while harness.time.time() < deadline and not os.path.getsize(path):
                harness.time.sleep(0.05)
            with open(path) as f:
                self.assertIn('"after"', f.read())
            self.assertEqual(os.stat(path).st_uid, 65534)
            with open(path + ".1") as f:
                self.assertIn('"before"', f.read())
            server.stop_checked()
        finally:
            if server.alive():
                server.stop()
            root.cleanup()

    def test_security_exposure(self):
        analyze = need("systemd-analyze")
        service, _ = self.built_units()
        out = run([analyze, "security", "--offline=true", "--no-pager", service])
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", out.stdout)
        self.assertTrue(m, out.stdout[-2000:] + out.stderr)
        self.assertLessEqual(float(m.group(1)), 2.0, out.stdout)
        self.assertEqual(m.group(2), "OK")


# ---------------------------------------------------------------- syscalls

def syscall_groups(analyze):
    """{"@group": [names and @subgroups]} from systemd-analyze."""
    out = run([analyze, "syscall-filter", "--no-pager"]).stdout
    groups, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = line.split()[0]
            groups[current] = []
        elif current and line.strip() and not line.strip().startswith("#"):
            groups[current].append(line.split()[0])
    return groups


def expand(names, groups):
    out, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name.startswith("@"):
            todo += groups[name]
        else:
            out.add(name)
    return out


@needs_io_uring
class Syscalls(harness.unittest.TestCase):
    def test_filter_allows_what_the_server_calls(self):
        analyze = need("systemd-analyze")
        strace = need("strace")
        s = unit_settings(os.path.join(CONTRIB, "splicehttpd.service"))
        groups = syscall_groups(analyze)
        allowed, denied = set(), set()
        for value in s[("Service", "SystemCallFilter")]:
            if value.startswith("~"):
                denied |= expand(value[1:].split(), groups)
            else:
                allowed |= expand(value.split(), groups)

        root = harness.Root()
        trace = os.path.join(root.base, "strace.out")
        proc = server_pid = None
        try:
            root.write("index.html", "<p>hello</p>")
            root.write("big.bin", harness.payload(5 << 20))
            root.write("doc.txt", "text\n" * 1000)
            root.write("doc.txt.gz", b"\x1f\x8b" + b"\0" * 30)
            proc = subprocess.Popen(
                [strace, "-f", "-qq", "-o", trace, "--", BINARY, "--root", root.path, "--listen", "127.0.0.1",
                 "--port", "0", "--threads", "2", "--pipes", "1", "--pipes-max", "8",
                 # Not root under systemd (DynamicUser=): no user switch, whose
                 # setuid is in @privileged.
                 *harness.ROOT_ARGS],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=harness.traced_env())
            port = None
            for line in proc.stderr:
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if m:
                    port = int(m.group(1))
                    break
            self.assertIsNotNone(port, "server did not start under strace")
            drain = threading.Thread(target=proc.stderr.read, daemon=True)
            drain.start()
            # Signals go to the server, strace's child.
            with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                server_pid = int(f.read().split()[0])
            # A bit of everything: files, ranges, 304, 404, precompressed,
            # a large body through several pipes at once, stats.
            def download():
                c = harness.Client(port)
                try:
                    c.request("GET", "/big.bin")
                finally:
                    c.close()

            threads = []
            for _ in range(6):
                t = threading.Thread(target=download)
                t.start()
                threads.append(t)
            c = harness.Client(port)
            for path, headers in (("/", {}), ("/doc.txt", {"Range": "bytes=0-9,20-29"}),
                                  ("/doc.txt", {"Accept-Encoding": "gzip"}), ("/missing", {}),
                                  ("/", {"If-None-Match": "*"})):
                c.request("GET", path, headers)
            c.request("HEAD", "/big.bin")
            c.close()
            for t in threads:
                t.join(60)
            os.kill(server_pid, signal.SIGUSR1)
            harness.time.sleep(0.3)
            os.kill(server_pid, signal.SIGTERM)
            self.assertEqual(proc.wait(30), 0)
            server_pid = None  # gone with strace; its pid may be reused
            drain.join(5)
            proc.stderr.close()
            with open(trace) as f:
                text = f.read()
        finally:
            # On a failure: the server first (it outlives a killed strace).
            if server_pid is not None:
                try:
                    os.kill(server_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            root.cleanup()
        used = set(re.findall(r"^\d+\s+([a-z_0-9]+)\(", text, re.M))
        self.assertIn("io_uring_enter", used)
        self.assertGreater(len(used), 10, used)
        used.discard("execve")  # strace's exec of the server: systemd applies the filter before it
        self.assertEqual(sorted(used - allowed), [], "system calls SystemCallFilter= does not allow")
        self.assertEqual(sorted(used & denied), [], "system calls SystemCallFilter=~ denies")


# ---------------------------------------------------------------- socket activation

# Run as the server's own process: moves the given descriptors to 3, 4, ...,
# closes the originals, sets LISTEN_FDS and LISTEN_PID (its own pid, which
# the server keeps across exec, unless told another), then execs the server.
EXEC_ACTIVATED = r"""
import fcntl, os, sys
fds = [int(x) for x in sys.argv[1].split(",")] if sys.argv[1] else []
listen_pid = sys.argv[2] or str(os.getpid())
high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds]
for fd in fds:
    os.close(fd)
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
    os.close(fd)
os.environ["LISTEN_FDS"] = sys.argv[3] if sys.argv[3] else str(len(fds))
os.environ["LISTEN_PID"] = listen_pid
os.execv(sys.argv[4], sys.argv[4:])
"""


def activated_command(fds, *args, listen_pid="", listen_fds=""):
    return [sys.executable, "-c", EXEC_ACTIVATED, ",".join(str(fd) for fd in fds), listen_pid, listen_fds,
            BINARY, *args]


class ActivatedServer(harness.Server):
    """harness.Server, started with inherited listening sockets."""

    def __init__(self, root, sockets, *args, threads=1, listen_pid=""):
        fds = [s.fileno() for s in sockets]
        self.args = [BINARY, "--root", root, "--threads", str(threads), *harness.root_args(args), *args]
        self._start(activated_command(fds, *self.args[1:], listen_pid=listen_pid), 10, pass_fds=fds)


def listening_socket(blocking=True):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    s.setblocking(blocking)
    return s


@needs_io_uring
class Activation(harness.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = harness.Root()
        cls.body = harness.payload(300_000)
        cls.root.write("file.bin", cls.body)
        cls.root.write("index.html", "<p>activated</p>")

    @classmethod
    def tearDownClass(cls):
        cls.root.cleanup()

    def stop(self, server):
        rc = server.stop()
        self.assertEqual(rc, 0, "\n".join(server.log()[-20:]))

    def get_ok(self, port, path="/file.bin"):
        c = harness.Client(port)
        try:
            resp = c.request("GET", path)
        finally:
            c.close()
        self.assertEqual(resp.status, 200)
        return resp

    def test_one_socket_for_every_worker(self):
        # Non-blocking as systemd's NonBlocking=yes would pass it; --port
        # names the inherited socket's own port, so binding it would fail.
        s = listening_socket(blocking=False)
        port = s.getsockname()[1]
        server = ActivatedServer(self.root.path, [s], "--listen", "127.0.0.1", "--port", str(port),
                                 "--max-conns", "2", threads=3)
        s.close()
        try:
            self.assertEqual(server.port, port)
            server.wait_log(r"socket activation: 1 inherited socket \(http://127\.0\.0\.1:%d\) for 3 workers" % port)
            server.wait_log(r"listening on http://127\.0\.0\.1:%d \(3 threads" % port)
            self.assertEqual(self.get_ok(port).body, self.body)
            # The workers' descriptors are one socket: the inherited one.
            inodes = [t for t in server.fds().values() if t.startswith("socket:")]
            listener = max(set(inodes), key=inodes.count)
            self.assertEqual(inodes.count(listener), 3, server.fds())
            # Each worker takes at most 2 connections: 5 held open at once
            # and all answered means all three accept on the shared socket.
            clients = [harness.Client(port) for _ in range(5)]
            try:
                for c in clients:
                    self.assertEqual(c.request("GET", "/index.html").status, 200)
                start = len(server.log())
                os.kill(server.pid, signal.SIGUSR1)
                server.wait_log(r"w2 stats:", start=start)
                server.wait_log(r"w1 stats:", start=start)
                server.wait_log(r"w0 stats:", start=start)
                stats = [l for l in server.log()[start:] if " stats: " in l]
                busy = [int(re.search(r"connections=(\d+)", l).group(1)) for l in stats]
                self.assertEqual(len(busy), 3, stats)
                self.assertTrue(all(n > 0 for n in busy), stats)
            finally:
                for c in clients:
                    c.close()
        finally:
            self.stop(server)

    def test_two_sockets_at_least_two_workers(self):
        a, b = listening_socket(), listening_socket()
        server = ActivatedServer(self.root.path, [a, b], threads=1)
        ports = (a.getsockname()[1], b.getsockname()[1])
        a.close()
        b.close()
        try:
            server.wait_log(r"socket activation: 2 inherited sockets .* for 2 workers")
            # The start line names every socket, not only the first.
            server.wait_log(r"listening on http://127\.0\.0\.1:%d, http://127\.0\.0\.1:%d \(2 threads, root "
                            % ports)
            for port in ports:
                self.assertEqual(self.get_ok(port).body, self.body)
        finally:
            self.stop(server)

    def test_tls_of_a_listen_address_applies_to_its_inherited_socket(self):
        # systemd binds 443 and 80; --listen '...:443 tls' says which one
        # speaks TLS (it was served as plain HTTP, options ignored).
        harness.require_program("openssl")
        certs = tempfile.mkdtemp(prefix="splicehttpd-activated-tls-")
        self.addCleanup(shutil.rmtree, certs, True)
        cert, key = tls_certs.make_leaf(certs, "localhost")
        plain, tls = listening_socket(), listening_socket()
        ports = (plain.getsockname()[1], tls.getsockname()[1])
        unused = harness.free_port()
        server = ActivatedServer(self.root.path, [plain, tls], "--listen", f"127.0.0.1:{ports[1]} tls",
                                 "--listen", f"127.0.0.1:{unused} tls", "--tls-cert", cert, "--tls-key", key)
        plain.close()
        tls.close()
        try:
            server.wait_log(r"listening on http://127\.0\.0\.1:%d, https://127\.0\.0\.1:%d " % ports)
            server.wait_log(r"warning --listen 127\.0\.0\.1:%d tls: tls, but no inherited socket has that "
                            r"address" % unused)
            self.assertEqual(self.get_ok(ports[0]).body, self.body)
            ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
            with socket.create_connection(("127.0.0.1", ports[1]), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"GET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    got = b""
                    while chunk := s.recv(65536):
                        got += chunk
            self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"), got[:100])
            self.assertTrue(got.endswith(b"<p>activated</p>"))
        finally:
            self.stop(server)

    def test_sockets_meant_for_another_process_are_left_alone(self):
        s = listening_socket()
        port = s.getsockname()[1]
        server = ActivatedServer(self.root.path, [s], "--listen", "127.0.0.1", "--port", "0",
                                 listen_pid=str(os.getpid()))
        try:
            self.assertNotEqual(server.port, port)
            self.assertFalse([l for l in server.log() if "socket activation" in l])
            self.assertEqual(self.get_ok(server.port).body, self.body)
        finally:
            self.stop(server)
            s.close()

    def assertRefused(self, fds, pattern, **kw):
        out = subprocess.run(activated_command(fds, "--root", self.root.path, "--port", "0", **kw),
                             capture_output=True, text=True, pass_fds=fds, timeout=20)
        self.assertEqual(out.returncode, 1, out.stderr)
        lines = out.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"^splicehttpd: " + pattern)

    def test_bad_descriptors_are_one_line_and_exit_1(self):
        r, w = os.pipe()
        try:
            self.assertRefused([r], r"LISTEN_FDS: descriptor 3: Socket operation on non-socket")
        finally:
            os.close(r)
            os.close(w)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        unbound = socket.socket()
        unbound.bind(("127.0.0.1", 0))
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.bind("\0splicehttpd-test-%d" % os.getpid())
        unix.listen()
        good = listening_socket()
        try:
            self.assertRefused([udp.fileno()], r"LISTEN_FDS: descriptor 3 is not a TCP socket")
            self.assertRefused([unbound.fileno()], r"LISTEN_FDS: descriptor 3 is not listening")
            self.assertRefused([unix.fileno()], r"LISTEN_FDS: descriptor 3 is not a TCP socket")
            self.assertRefused([good.fileno(), udp.fileno()], r"LISTEN_FDS: descriptor 4 is not a TCP socket")
            self.assertRefused([good.fileno()], r"LISTEN_FDS=x", listen_fds="x")
            # More descriptors claimed than passed: 4 is not open.
            self.assertRefused([good.fileno()], r"LISTEN_FDS: descriptor 4: Bad file descriptor", listen_fds="2")
        finally:
            for s in (udp, unbound, unix, good):
                s.close()

    def test_systemd_socket_activate(self):
        tool = need("systemd-socket-activate")
        # The tool binds the port itself; take a free one and release it.
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        proc = subprocess.Popen([tool, "-l", f"127.0.0.1:{port}", BINARY, "--root", self.root.path,
                                 "--threads", "2", "--port", "1", *harness.ROOT_ARGS],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        log = []
        try:
            for line in proc.stderr:
                log.append(line)
                if "Listening on" in line:
                    break
            # The tool execs the server on the first connection.
            self.assertEqual(self.get_ok(port).body, self.body)
            reader = threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True)
            reader.start()
            for _ in range(3):
                self.assertEqual(self.get_ok(port, "/index.html").body, b"<p>activated</p>")
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(20), 0)
            reader.join(5)
            text = "".join(log)
            self.assertIn(f"socket activation: 1 inherited socket (http://127.0.0.1:{port}) for 2 workers", text)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()


# ---------------------------------------------------------------- the shipped configuration

class ShippedConfig(harness.unittest.TestCase):
    """contrib/splicehttpd.toml, /etc/splicehttpd/splicehttpd.toml of the
    package: every setting there with its default commented out, and the
    file as shipped (and with every default uncommented) passes
    --check-config."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="splicehttpd-shipped-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def check(self, path):
        # The packaged root may not exist here: the command line's wins.
        return run([BINARY, "--config", path, "--root", self.tmp, "--check-config"])

    def test_as_shipped(self):
        out = self.check(SHIPPED_CONFIG)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stderr, "")
        self.assertEqual(out.stdout, f"splicehttpd: {SHIPPED_CONFIG}: ok (1 site, 1 listener)\n")

    def test_every_setting_with_its_default(self):
        defaults = help_defaults()
        self.assertGreater(len(defaults), 40, defaults)
        with open(SHIPPED_CONFIG) as f:
            text = f.read()
        commented = {}
        for line in text.splitlines():
            m = COMMENTED.match(line)
            if m:
                self.assertNotIn(m.group(1), commented, f"{m.group(1)} twice")
                commented[m.group(1)] = m.group(2)
        import tomllib
        active = tomllib.loads(text)
        self.assertEqual(set(active), {"root"})  # the package's own; the rest are defaults
        for key, default in defaults.items():
            with self.subTest(key=key):
                # Shown, as a default or (no default to show) as an example.
                self.assertTrue(re.search(r"(?m)^(# |#   )?" + re.escape(key) + " = ", text), f"{key} is not in the file")
                if key in active:
                    continue
                if key not in commented:
                    self.assertIsNone(default, f"{key}: its default {default} is not written out")
                    continue
                value = tomllib.loads(f"v = {commented[key]}")["v"]
                if isinstance(value, bool):
                    self.assertIsNone(default)  # a flag: off unless given
                    self.assertFalse(value)
                elif isinstance(value, list):
                    self.assertEqual(f"[{','.join(value)}]" if value else None, default)
                else:
                    self.assertEqual(str(value), default)
        for key in commented:
            self.assertIn(key, defaults, f"{key}: no such option")

    def test_every_default_uncommented_checks(self):
        with open(SHIPPED_CONFIG) as f:
            lines = [COMMENTED.sub(r"\1 = \2", line.rstrip("\n")) for line in f]
        path = os.path.join(self.tmp, "uncommented.toml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.assertGreaterEqual(sum(1 for l in lines if re.match(r"^[a-z][a-z0-9-]* = ", l)), 35)
        out = self.check(path)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(": ok (1 site, 1 listener)", out.stdout)


# ---------------------------------------------------------------- man page

class ManPage(harness.unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="splicehttpd-man-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        if not os.path.exists(MAN_PAGE):
            if shutil.which("help2man"):
                self.fail(f"help2man is installed but {MAN_PAGE} was not built")
            self.skipTest("help2man not installed: the build has no man page")

    def render(self, *extra):
        groff = need("groff")
        return run([groff, "-man", "-Tutf8", "-ww", "-rHY=0", "-rLL=200n", *extra, MAN_PAGE],
                   env=dict(os.environ, LC_ALL="C.UTF-8"))

    def test_renders_without_warnings(self):
        out = self.render("-z")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stderr, "")
        if shutil.which("man"):
            out = run(["man", "--warnings", "-l", MAN_PAGE],
                      env=dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MANPAGER="cat", PAGER="cat"))
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stderr, "")
            self.assertIn("SPLICEHTTPD(1)", out.stdout)

    def test_mentions_every_flag_and_section(self):
        out = self.render("-P-cbou")
        self.assertEqual(out.returncode, 0, out.stderr)
        text = out.stdout.replace("\u2010", "-").replace("\u2212", "-")
        help_text = run([BINARY, "--help"]).stdout
        flags = sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", help_text)))
        self.assertGreater(len(flags), 15, flags)
        for flag in flags:
            self.assertRegex(text, r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])", f"{flag} not in the man page")
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "CONFIGURATION FILE", "SOCKET ACTIVATION",
                        "SIGNALS",
                        "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"):
            self.assertRegex(text, r"(?m)^" + section + r"$")
        version = run([BINARY, "--version"]).stdout.strip()
        self.assertIn(version, text)
        self.assertNotIn(BUILD, text, "the build directory leaked into the page")


    def section_lines(self, text, name):
        m = re.search(r"(?ms)^" + name + r"$(.*?)^(?=[A-Z][A-Z ]+$)", text)
        self.assertTrue(m, f"no {name} section")
        return m.group(1).splitlines()

    def section(self, text, name):
        """A section's text on one line, spaces collapsed."""
        return " ".join(" ".join(self.section_lines(text, name)).split())

    def test_says_what_the_server_does(self):
        """SIGHUP, --shutdown-timeout, --autoindex, which options add up,
        the user switch; and README says how to read the page unbuilt."""
        out = self.render("-P-cbou")
        text = out.stdout.replace("\u2010", "-").replace("\u2212", "-")
        signals = self.section(text, "SIGNALS")
        self.assertIn("SIGHUP Re-read the command line and its --config file", signals)
        self.assertIn("Reopen the --access-log file", signals)
        self.assertIn("for at most --shutdown-timeout seconds", signals)
        self.assertNotIn("10 seconds)", signals)
        description = self.section(text, "DESCRIPTION")
        self.assertIn("without one it is 403, or an HTML listing with --autoindex", description)
        self.assertIn("--add-header, --expires and --error-page may be repeated and add up", description)
        self.assertIn("--listen may be given several times, and every address is served", description)
        self.assertIn("unless --ipv6-dual-stack makes [::] take IPv4 clients too", description)
        self.assertIn("by default nobody", description)
        with open(os.path.join(ROOT, "README.md")) as f:
            self.assertIn("man -l build/doc/splicehttpd.1", f.read())

    def test_examples_start_as_root(self):
        """Each example command that serves starts as written (as root, in
        a network namespace of its own; directories replaced by temporary
        ones): 'splicehttpd --root /srv/www --listen 0.0.0.0' was refused as
        root."""
        if os.geteuid() != 0 or not IO_URING:
            self.skipTest("needs root (a network namespace) and io_uring")
        unshare = need("unshare")
        out = self.render("-P-cbou")
        text = out.stdout.replace("\u2010", "-").replace("\u2212", "-")
        examples = [l.strip() for l in self.section_lines(text, "EXAMPLES")
                    if l.strip().startswith("splicehttpd --root /srv/www")]
        self.assertGreaterEqual(len(examples), 2, examples)
        self.assertTrue(any("--listen 0.0.0.0" in e for e in examples), examples)
        root = harness.Root()
        root.write("index.html", "example\n")
        logs = os.path.join(self.tmp, "logs")
        os.mkdir(logs)
        os.chmod(self.tmp, 0o755)
        pair = None
        try:
            for example in examples:
                with self.subTest(example=example):
                    example = example.replace("/srv/www", root.path).replace("/var/log/splicehttpd", logs)
                    if "fullchain.pem" in example:  # HTTPS: a test certificate for the example's names
                        need("openssl")
                        pair = pair or tls_certs.make_leaf(self.tmp, "localhost")
                        example = example.replace("fullchain.pem", pair[0]).replace("privkey.pem", pair[1])
                    args = shlex.split(example)
                    args[0] = BINARY
                    proc = subprocess.Popen([unshare, "--net", *args], stderr=subprocess.PIPE, text=True)
                    lines = []
                    for line in proc.stderr:
                        lines.append(line)
                        if "listening on" in line:
                            proc.send_signal(signal.SIGTERM)
                    proc.stderr.close()
                    self.assertEqual(proc.wait(30), 0, lines)
                    self.assertTrue(any("listening on" in l for l in lines), lines)
                    self.assertTrue(any("serving as " in l for l in lines), lines)
        finally:
            root.cleanup()


# ---------------------------------------------------------------- meson install

class Install(harness.unittest.TestCase):
    def test_meson_install_layout(self):
        meson = need("meson")
        if not os.path.isdir(os.path.join(BUILD, "meson-private")):
            self.skipTest(f"{BUILD} is not a meson build directory")
        dest = tempfile.mkdtemp(prefix="splicehttpd-install-")
        try:
            out = run([meson, "install", "-C", BUILD, "--no-rebuild", "--quiet", "--destdir", dest], timeout=120)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            files = {}
            for base, _, names in os.walk(dest):
                for name in names:
                    full = os.path.join(base, name)
                    files[name] = files.get(name, []) + ["/" + os.path.relpath(full, dest)]
            binary = [f for f in files.get("splicehttpd", []) if "/logrotate.d/" not in f]
            self.assertEqual(len(binary), 1, files)
            logrotate = [f for f in files.get("splicehttpd", []) if "/logrotate.d/" in f]
            self.assertEqual(len(logrotate), 1, files)
            self.assertTrue(logrotate[0].endswith("/etc/logrotate.d/splicehttpd"), logrotate)
            self.assertTrue(binary[0].endswith("/bin/splicehttpd"), binary)
            for unit in UNITS:
                self.assertEqual(len(files.get(unit, [])), 1, files)
                self.assertRegex(files[unit][0], r"/lib/systemd/system/" + re.escape(unit) + "$")
            with open(dest + files["splicehttpd.service"][0]) as f:
                service = f.read()
            self.assertIn(f"ExecStart={binary[0]} ", service)
            # The file the installed unit names, installed where it names it.
            self.assertEqual(len(files.get("splicehttpd.toml", [])), 1, files)
            config = files["splicehttpd.toml"][0]
            self.assertTrue(config.endswith("/etc/splicehttpd/splicehttpd.toml"), config)
            self.assertIn(f"ExecStart={binary[0]} --config {config}\n", service)
            if os.path.exists(MAN_PAGE):
                self.assertEqual(len(files.get("splicehttpd.1", [])), 1, files)
                self.assertTrue(files["splicehttpd.1"][0].endswith("/man1/splicehttpd.1"))
        finally:
            shutil.rmtree(dest, ignore_errors=True)


if __name__ == "__main__":
    if not os.path.exists(BINARY):
        print(f"{BINARY} not built")
        sys.exit(1)
    harness.unittest.main(verbosity=2)
