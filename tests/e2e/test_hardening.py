"""Confinement after start-up, through the real binary: the user switch,
Landlock, io_uring ring restrictions, the seccomp filter (each checked by
making the forbidden call inside the running server with ptrace, inject.py,
next to a control run with the sandbox off), the root policy, clear errors when
io_uring is unusable (strace fault injection), the second-signal exit, pipe
pool growth through pipe2 under the filter, and --max-conns auto."""

import os
import resource
import signal
import socket
import subprocess
import time

import harness
import inject

BINARY = harness.BINARY
MiB = 1 << 20
NOBODY = 65534


def status(pid, task=None):
    path = f"/proc/{pid}/status" if task is None else f"/proc/{pid}/task/{task}/status"
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def open_inside(pid, path):
    """openat(AT_FDCWD, path, O_RDONLY) made by the server's main thread:
    the descriptor, or a negative errno."""
    return inject.syscall(pid, inject.SYS_openat, inject.AT_FDCWD, path.encode(), 0)


def ring_fds(pid):
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[io_uring]":
                out.append(int(fd))
        except OSError:
            pass
    return out


def run_injected(fault, *args):
    """The binary under strace with a fault injected; (exit code, stderr lines)."""
    strace = harness.require_program("strace")
    root = harness.Root()
    try:
        p = subprocess.run([strace, "-f", "-o", "/dev/null", "-e", "trace=" + fault.split(":")[0],
                            "-e", "inject=" + fault, BINARY, "--root", root.path, "--port", "0",
                            "--threads", "1", *args], capture_output=True, text=True, timeout=60)
    finally:
        root.cleanup()
    return p.returncode, [l for l in p.stderr.splitlines() if l.strip()]


class Sandbox(harness.unittest.TestCase):
    """Each test starts its own server: some kill it on purpose."""

    def setUp(self):
        self.root = harness.Root()
        self.root.write("small.txt", "small\n")
        self.inside = self.root.write("inside.txt", "inside\n")
        self.outside = self.root.outside("outside.txt", b"secret\n")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            if s.alive():
                if isinstance(s, Traced):
                    os.kill(s.pid, signal.SIGKILL)  # strace's child, which outlives strace
                s.proc.kill()
            s.stop()
        self.root.cleanup()

    def start(self, *args, threads=1):
        s = harness.Server(self.root.path, *args, threads=threads)
        self.servers.append(s)
        return s

    def test_status_shows_seccomp_and_no_new_privs_on_every_thread(self):
        s = self.start(threads=2)
        self.assertEqual(s.get("/small.txt").body, b"small\n")
        tasks = os.listdir(f"/proc/{s.pid}/task")
        self.assertGreaterEqual(len(tasks), 3)
        for t in tasks:
            st = status(s.pid, t)
            self.assertEqual(st["NoNewPrivs"], "1", t)
            if not harness.sanitized():  # a sanitizer build serves without seccomp
                self.assertEqual(st["Seccomp"], "2", t)
        s.wait_log(r"landlock: ABI \d+ enforced")
        s.wait_log(r"seccomp: \d+ syscalls allowed" if not harness.sanitized() else r"seccomp: not in a sanitizer build")
        self.assertEqual(s.stop(), 0)

        off = self.start("--no-sandbox")
        st = status(off.pid)
        self.assertEqual((st["NoNewPrivs"], st["Seccomp"]), ("0", "0"))
        self.assertEqual(off.get("/small.txt").status, 200)

    def test_landlock_refuses_opens_outside_the_root(self):
        # Without the syscall filter (which refuses every openat), so that
        # what refuses the open is Landlock.
        s = self.start("--no-seccomp")
        self.assertEqual(open_inside(s.pid, self.outside), -13)  # EACCES
        self.assertGreaterEqual(open_inside(s.pid, self.inside), 0)
        self.assertEqual(s.get("/small.txt").body, b"small\n")

        off = self.start("--no-sandbox")
        self.assertGreaterEqual(open_inside(off.pid, self.outside), 0)

    def test_ring_refuses_register_operations_it_does_not_need(self):
        # IORING_REGISTER_ENABLE_RINGS (12) on an enabled ring: -EBADFD when
        # unrestricted, -EACCES when restricted; IORING_REGISTER_PERSONALITY
        # (9) succeeds only on an unrestricted ring. From the worker thread:
        # a SINGLE_ISSUER ring answers anyone else -EEXIST.
        def probe(server):
            (fd,) = ring_fds(server.pid)
            worker = inject.thread_ids(server.pid)[1]
            return [inject.syscall(worker, inject.SYS_io_uring_register, fd, op, 0, 0) for op in (12, 9)]

        s = self.start("--no-seccomp")
        self.assertEqual(probe(s), [-13, -13])  # EACCES
        self.assertEqual(s.get("/small.txt").body, b"small\n")

        off = self.start("--no-sandbox")
        enable, personality = probe(off)
        self.assertEqual(enable, -77)  # EBADFD
        self.assertGreaterEqual(personality, 1)

    def test_seccomp_kills_on_a_syscall_outside_the_list(self):
        if harness.sanitized():
            self.skipTest("a sanitizer build serves without seccomp")
        s = self.start()
        # openat is refused without a kill (glibc's malloc may try it)...
        self.assertEqual(open_inside(s.pid, self.inside), -13)  # EACCES
        self.assertTrue(s.alive())
        # ...anything else outside the list kills the process with SIGSYS.
        self.assertIsNone(inject.syscall(s.pid, inject.SYS_getppid))
        self.assertEqual(s.proc.wait(10), -signal.SIGSYS)
        s.reader.join(5)
        self.assertTrue(any("seccomp: syscall getppid (110) is not allowed" in l for l in s.log()), s.log()[-5:])

        off = self.start("--no-seccomp")
        self.assertEqual(inject.syscall(off.pid, inject.SYS_getppid), os.getpid())
        self.assertTrue(off.alive())

    def test_user_switch_after_binding(self):
        s = self.start("--user", "nobody")
        s.wait_log(r"serving as nobody \(uid 65534, gid 65534, 1 group\)$")  # nogroup
        self.assertEqual(s.get("/small.txt").body, b"small\n")
        for t in os.listdir(f"/proc/{s.pid}/task"):
            st = status(s.pid, t)
            self.assertEqual(st["Uid"].split(), [str(NOBODY)] * 4, t)
            self.assertEqual(st["Gid"].split()[0], str(NOBODY))
            self.assertEqual(st["CapEff"], "0000000000000000")
        self.assertEqual(s.stop(), 0)

    def test_user_applies_to_every_file_open(self):
        """A root-owned 0600 file is refused under --user, also with
        --sqpoll, whose kernel thread keeps the credentials of whoever
        created the ring (it was created as root, and served it)."""
        if os.geteuid() != 0:
            self.skipTest("not root")
        secret = self.root.write("secret.txt", "root only\n")
        os.chmod(secret, 0o600)
        os.chmod(self.root.path, 0o755)  # the root itself: nobody must look in
        for extra in ((), ("--sqpoll",)):
            with self.subTest(extra=extra):
                s = self.start("--user", "nobody", *extra)
                s.wait_log("serving as nobody")
                self.assertEqual(s.get("/small.txt").body, b"small\n")
                self.assertEqual(s.get("/secret.txt").status, 403)
                self.assertEqual(s.stop(), 0)

    def test_pipe_size_fits_an_unprivileged_process(self):
        """Pipes are made after the user switch: a --pipe-size above
        fs.pipe-max-size is lowered to it, with a warning."""
        if os.geteuid() != 0:
            self.skipTest("not root")
        with open("/proc/sys/fs/pipe-max-size") as f:
            most = int(f.read())
        s = self.start("--user", "nobody", "--pipe-size", str(2 * most))
        s.wait_log(rf"--pipe-size {2 * most}: an unprivileged process gets at most {most} \(fs.pipe-max-size\)")
        s.wait_log(rf"pipes of {most} bytes per thread")
        self.root.write("big.bin", harness.payload(3 * MiB))
        self.assertEqual(s.get("/big.bin").body, harness.payload(3 * MiB))
        self.assertEqual(s.stop(), 0)

    def test_port_80_as_root_then_nobody(self):
        """In a network namespace of its own: port 80 needs root to bind."""
        harness.require_program("unshare")
        nsenter = harness.require_program("nsenter")
        curl = harness.require_program("curl")
        proc = subprocess.Popen(["unshare", "--net", "sh", "-c",
                                 f"ip link set lo up && exec {BINARY} --root {self.root.path} --listen 127.0.0.1 "
                                 "--port 80 --threads 1 --user nobody"], stderr=subprocess.PIPE, text=True)
        try:
            lines = []
            for line in proc.stderr:
                lines.append(line)
                if "listening on http://127.0.0.1:80 " in line:
                    break
            self.assertIn("listening on http://127.0.0.1:80 ", "".join(lines))
            body = subprocess.run([nsenter, "-t", str(proc.pid), "-n", curl, "-sf", "http://127.0.0.1/small.txt"],
                                  capture_output=True, timeout=30).stdout
            self.assertEqual(body, b"small\n")
            self.assertEqual(status(proc.pid)["Uid"].split(), [str(NOBODY)] * 4)
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(30), 0)
        finally:
            proc.stderr.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def test_root_policy(self):
        """As root without --user: serve as nobody, on every address (a
        mode-000 file is 403, not 200 as root); --allow-root stays root,
        with a warning."""
        if os.geteuid() != 0:
            self.skipTest("not root")
        harness.require_program("unshare")
        closed = self.root.write("closed.txt", "root can read this\n")
        os.chmod(closed, 0)

        s = harness.Server(self.root.path, threads=2, allow_root=False)
        self.servers.append(s)
        self.assertEqual(s.get("/closed.txt").status, 403)
        s.wait_log(r"info serving as nobody \(uid 65534, .*\): started as root without --user \(--user NAME for "
                   r"another user, --allow-root to stay root\)$")
        self.assertEqual(s.get("/small.txt").body, b"small\n")
        for t in os.listdir(f"/proc/{s.pid}/task"):
            self.assertEqual(status(s.pid, t)["Uid"].split(), [str(NOBODY)] * 4, t)
        self.assertEqual(s.stop(), 0)

        s = self.start()  # the harness passes --allow-root as root
        self.assertIn("--allow-root", s.args)
        s.wait_log(r"warning running as root \(--allow-root\): every file root may read beneath --root is served")
        self.assertEqual(s.get("/closed.txt").body, b"root can read this\n")
        self.assertFalse([l for l in s.log() if "serving as" in l])
        self.assertEqual(s.stop(), 0)

        def run(*args):
            proc = subprocess.Popen(["unshare", "--net", BINARY, "--root", self.root.path, "--port", "0",
                                     "--threads", "1", *args], stderr=subprocess.PIPE, text=True)
            lines = []
            for line in proc.stderr:
                lines.append(line)
                if "listening on" in line:
                    proc.send_signal(signal.SIGTERM)
            proc.stderr.close()
            return proc.wait(30), lines

        # Every address, not only loopback (a non-loopback one was refused).
        rc, lines = run("--listen", "0.0.0.0")
        self.assertEqual(rc, 0, lines)
        self.assertTrue(any("serving as nobody" in l for l in lines), lines)
        self.assertTrue(any("listening on http://0.0.0.0:" in l for l in lines), lines)
        rc, lines = run("--listen", "0.0.0.0", "--allow-root")
        self.assertEqual(rc, 0, lines)
        self.assertTrue(any("running as root (--allow-root)" in l for l in lines), lines)
        rc, lines = run("--user", "no-such-user-here")
        self.assertEqual((rc, len(lines)), (2, 1), lines)
        self.assertIn("--user no-such-user-here: no such user", lines[0])

    def test_second_signal_exits_at_once(self):
        self.root.write("big.bin", harness.payload(64 * MiB))
        s = self.start()
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.connect(("127.0.0.1", s.port))
        c.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        c.recv(100)  # in flight, and the client reads no more
        os.kill(s.pid, signal.SIGTERM)
        s.wait_log("SIGTERM: finishing")
        time.sleep(0.3)
        self.assertTrue(s.alive(), "the first SIGTERM must wait for the response in flight")
        started = time.time()
        os.kill(s.pid, signal.SIGINT)
        self.assertEqual(s.proc.wait(5), 1)
        self.assertLess(time.time() - started, 3)
        s.reader.join(5)
        self.assertTrue(any("second SIGINT: exiting without waiting" in l for l in s.log()))
        c.close()

    def test_pipe_pool_grows_through_the_ring_and_through_pipe2(self):
        self.root.write("big.bin", harness.payload(8 * MiB))

        def grow(server):
            socks = []
            for _ in range(4):
                c = socket.socket()
                c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                c.connect(("127.0.0.1", server.port))
                c.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
                c.recv(100)
                socks.append(c)
            deadline = time.time() + 10
            while server.stats()["pipes"] < 4 and time.time() < deadline:
                time.sleep(0.1)
            self.assertEqual(server.stats()["pipes"], 4)
            for c in socks:
                c.close()
            self.assertEqual(server.get("/small.txt").body, b"small\n")

        s = self.start("--pipes", "1", "--pipes-max", "4")
        s.wait_log("grown through IORING_OP_PIPE")
        grow(s)
        self.assertTrue(s.alive())
        self.assertEqual(s.stop(), 0)

        # The worker's 4th io_uring_register is its probe (ring fd, files,
        # io-wq, probe): without it the pool grows with pipe2, which the
        # filter must allow (with fcntl F_SETPIPE_SZ).
        wrapper = os.path.join(self.root.base, "traced")
        with open(wrapper, "w") as f:
            f.write(f"#!/bin/sh\nexec {harness.require_program('strace')} -f -o /dev/null -e trace=io_uring_register "
                    f"-e inject=io_uring_register:error=EINVAL:when=4 {BINARY} \"$@\"\n")
        os.chmod(wrapper, 0o755)
        saved = harness.BINARY
        harness.BINARY = wrapper
        try:
            traced = Traced(self.root.path, "--pipes", "1", "--pipes-max", "4")
        finally:
            harness.BINARY = saved
        self.servers.append(traced)
        traced.wait_log("grown through pipe2")
        if not harness.sanitized():
            self.assertEqual(status(traced.pid)["Seccomp"], "2")
        grow(traced)
        os.kill(traced.pid, signal.SIGTERM)
        self.assertEqual(traced.proc.wait(30), 0)
        traced.reader.join(5)
        traced.proc.stderr.close()


class Traced(harness.Server):
    """A server started by strace: signals go to the server, not strace."""

    @property
    def pid(self):
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
            return int(f.read().split()[0])


class Limits(harness.unittest.TestCase):
    def test_max_conns_auto_follows_rlimit_nofile(self):
        """RLIMIT_NOFILE 2400, one thread: auto gives (2400 - 64 - 2 * 64)
        = 2208 connections, so 2000 idle keep-alive clients are all served
        at once (the old fixed 1024 would leave 976 in the backlog)."""
        clients = 2000
        prlimit = harness.require_program("prlimit")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < clients + 100:
            if hard != resource.RLIM_INFINITY and hard < clients + 100:
                self.skipTest("RLIMIT_NOFILE too low for the clients")
            resource.setrlimit(resource.RLIMIT_NOFILE, (clients + 100, hard))
        root = harness.Root()
        root.write("small.txt", "small\n")
        # The server alone gets the lower limit (prlimit execs it: same pid).
        wrapper = os.path.join(root.base, "limited")
        with open(wrapper, "w") as f:
            f.write(f"#!/bin/sh\nexec {prlimit} --nofile=2400:2400 {BINARY} \"$@\"\n")
        os.chmod(wrapper, 0o755)
        saved = harness.BINARY
        harness.BINARY = wrapper
        try:
            s = harness.Server(root.path, threads=1)
        finally:
            harness.BINARY = saved
        socks = []
        try:
            s.wait_log(r"--max-conns auto: 2208 connections per thread \(RLIMIT_NOFILE 2400, 1 thread, 64 pipes "
                       r"each\)$")
            s.wait_log(r"listening on http://127\.0\.0\.1:\d+ \(1 thread, root ")
            for i in range(clients):
                c = harness.Client(s.port, timeout=10)
                r = c.request("GET", "/small.txt")
                self.assertEqual(r.body, b"small\n", i)
                socks.append(c)
            self.assertEqual(s.stats()["connections"], clients)
            # The first is still being served on its keep-alive connection.
            self.assertEqual(socks[0].request("GET", "/small.txt").status, 200)
        finally:
            for c in socks:
                c.close()
            rc = s.stop()
            root.cleanup()
        self.assertEqual(rc, 0)


class KernelErrors(harness.unittest.TestCase):
    """Where io_uring cannot serve: one line naming why, exit 1."""

    def test_io_uring_setup_refused(self):
        rc, lines = run_injected("io_uring_setup:error=EPERM")
        self.assertEqual((rc, len(lines)), (1, 1), lines)
        self.assertRegex(lines[0], r"^splicehttpd: io_uring_setup: Operation not permitted \(EPERM\): "
                         r"(io_uring is disabled|io_uring is limited|refused by a seccomp filter)")

    def test_io_uring_missing(self):
        rc, lines = run_injected("io_uring_setup:error=ENOSYS")
        self.assertEqual((rc, len(lines)), (1, 1), lines)
        self.assertRegex(lines[0], r"^splicehttpd: io_uring_setup: .*\(ENOSYS\): Linux \S+ has no io_uring "
                         r"\(CONFIG_IO_URING\); splicehttpd needs Linux 6\.0 or later$")

    def test_io_uring_register_refused(self):
        rc, lines = run_injected("io_uring_register:error=EINVAL")
        self.assertEqual((rc, len(lines)), (1, 1), lines)
        self.assertRegex(lines[0], r"^splicehttpd: io_uring_register\(IORING_REGISTER_PROBE\): Invalid argument "
                         r"\(EINVAL\): the opcodes cannot be checked")

    def test_restrictions_refused(self):
        # The probe ring's 2nd register call is IORING_REGISTER_RESTRICTIONS.
        rc, lines = run_injected("io_uring_register:error=EINVAL:when=2")
        self.assertEqual((rc, len(lines)), (1, 1), lines)
        self.assertIn("IORING_REGISTER_RESTRICTIONS", lines[0])
        self.assertIn("--no-sandbox does without", lines[0])


def main():
    harness.main()


if __name__ == "__main__":
    main()
