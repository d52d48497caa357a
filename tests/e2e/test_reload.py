"""SIGHUP re-reads the configuration: the sites and their roots, through the
real binary with its sandbox on (Landlock and seccomp, as it ships).

- A deploy that swaps a `current` symlink and sends SIGHUP is served the
  new release from the next request on, under load, with no failed request;
  a download in flight finishes with the old release's bytes.
- --config: a new [[site]], a changed header, take effect; an invalid file,
  a missing root, a root the sandbox cannot read, autoindex turned on in a
  server that started without it: one error line each, and the running
  configuration keeps serving.
- A setting a reload cannot change (threads) is a warning, and stays.
- Nothing changed (file, command line, certificates rewritten as they were):
  no warning, though main() resolves --port 0, --tls-port 0 and the defaults.
"""

import hashlib
import os
import re
import shutil
import signal
import socket
import tempfile
import textwrap
import threading
import time

import harness
import tls_certs
from test_config import ConfigServer

needs_io_uring = harness.unittest.skipUnless(harness.io_uring_usable(), "io_uring unavailable")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def swap_symlink(link, target):
    """As a deploy does it: a new link beside the old, renamed over it."""
    tmp = link + ".new"
    os.symlink(target, tmp)
    os.rename(tmp, link)


class Load(threading.Thread):
    """Requests without a pause, on keep-alive connections renewed every few
    requests: every answer must be 200 with one release's page."""

    def __init__(self, port, bodies):
        super().__init__(daemon=True)
        self.port, self.bodies = port, bodies
        self.stop = threading.Event()
        self.failures, self.seen, self.count = [], [], 0

    def run(self):
        while not self.stop.is_set():
            try:
                c = harness.Client(self.port, timeout=10)
                for _ in range(20):
                    r = c.request("GET", "/index.html")
                    self.count += 1
                    if r.status != 200 or r.body not in self.bodies:
                        self.failures.append((r.status, r.body[:40]))
                    elif not self.seen or self.seen[-1] != r.body:
                        self.seen.append(r.body)
                c.close()
            except Exception as e:  # a refused, reset or cut connection
                self.failures.append(repr(e))


@needs_io_uring
class SymlinkDeploy(harness.unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="splicehttpd-reload-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.app = os.path.join(self.tmp, "app")
        self.big = os.urandom(8 << 20)
        for release in ("v1", "v2"):
            write(os.path.join(self.app, "releases", release, "index.html"), f"<p>{release}</p>\n")
            # The same name, other bytes in each release.
            write(os.path.join(self.app, "releases", release, "big.bin"),
                  self.big if release == "v1" else self.big[::-1])
        self.current = os.path.join(self.app, "current")
        os.symlink(os.path.join(self.app, "releases", "v1"), self.current)

    def test_swap_and_sighup_under_load(self):
        s = harness.Server(self.current, "--threads", "2")
        self.addCleanup(lambda: s.alive() and s.stop())
        landlock = s.wait_log(r"landlock: ")
        if "enforced" in landlock:
            # The releases' directory is readable for the reload's sake.
            self.assertIn(self.app + "/**", landlock)
        self.assertEqual(s.get("/index.html").body, b"<p>v1</p>\n")

        # A download in flight through the swap: a small receive buffer and
        # slow reads keep it going while the reload happens.
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        slow.connect(("127.0.0.1", s.port))
        slow.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        got = slow.recv(65536)

        load = Load(s.port, {b"<p>v1</p>\n", b"<p>v2</p>\n"})
        load.start()
        time.sleep(0.5)
        swap_symlink(self.current, os.path.join(self.app, "releases", "v2"))
        mark = len(s.log())
        os.kill(s.proc.pid, signal.SIGHUP)
        s.wait_log(r"SIGHUP: the command line re-read, root %s \(roots re-opened\)" % re.escape(self.current),
                   start=mark)
        time.sleep(0.5)
        load.stop.set()
        load.join(20)
        self.assertEqual(load.failures, [])
        self.assertGreater(load.count, 50)
        # v1 until the reload, v2 after it: never back.
        self.assertEqual(load.seen, [b"<p>v1</p>\n", b"<p>v2</p>\n"])
        # New requests get v2, the new release's big.bin too.
        self.assertEqual(s.get("/index.html").body, b"<p>v2</p>\n")
        self.assertEqual(hashlib.sha256(s.get("/big.bin").body).digest(), hashlib.sha256(self.big[::-1]).digest())

        # The download that began before the swap is v1's, whole.
        slow.settimeout(30)
        while True:
            chunk = slow.recv(1 << 20)
            if not chunk:
                break
            got += chunk
            if len(got) >= len(self.big) + 200 and got.find(b"\r\n\r\n") > 0:
                head, _, body = got.partition(b"\r\n\r\n")
                if len(body) >= len(self.big):
                    break
        slow.close()
        head, _, body = got.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head[:40])
        self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(self.big).digest())
        s.stop_checked()


    def test_the_old_release_is_let_go(self):
        # Once every worker has the new roots and no request holds the old
        # ones, nothing keeps the old release open: it can be removed whole
        # (an O_PATH descriptor on it would pin its directory).
        s = harness.Server(self.current, "--threads", "2")
        self.addCleanup(lambda: s.alive() and s.stop())

        def held(release):
            return [fd for fd, target in s.fds().items() if target == release]

        releases = os.path.join(self.app, "releases")
        self.assertEqual(len(held(os.path.join(releases, "v1"))), 1)  # the root, opened once
        # The start-up generation, then a reload's: each let go after the
        # next reload.
        for old, new in (("v1", "v2"), ("v2", "v1")):
            swap_symlink(self.current, os.path.join(releases, new))
            mark = len(s.log())
            os.kill(s.proc.pid, signal.SIGHUP)
            s.wait_log(r"SIGHUP: the command line re-read", start=mark)
            self.assertEqual(s.get("/index.html").body, f"<p>{new}</p>\n".encode())
            deadline = time.monotonic() + 5
            while held(os.path.join(releases, old)) and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(held(os.path.join(releases, old)), [], (old, s.fds()))
            self.assertEqual(len(held(os.path.join(releases, new))), 1)
        s.stop_checked()


@needs_io_uring
class ConfigReload(harness.unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="splicehttpd-reload-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.srv = os.path.join(self.tmp, "srv")
        # The top level's root holds the sites' roots: Landlock lets a reload
        # open a new root only beneath what the server could read at
        # start-up.
        write(os.path.join(self.srv, "index.html"), "<p>top</p>\n")
        for name in ("a", "b"):
            write(os.path.join(self.srv, name, "index.html"), f"<p>{name}</p>\n")
            write(os.path.join(self.srv, name, "dir", "x.txt"), "x\n")
        self.path = os.path.join(self.tmp, "splicehttpd.toml")

    def write_config(self, sites, top_extra=""):
        text = textwrap.dedent(f"""
            root = "{self.srv}"
            listen = ["127.0.0.1:0"]
            threads = 1
            {top_extra}
            """).lstrip("\n") + sites
        with open(self.path, "w") as f:
            f.write(text)

    def site(self, name, header):
        return f'\n[[site]]\nnames = ["{name}.test"]\nroot = "{self.srv}/{name}"\nadd-header = ["X-Site: {header}"]\n'

    def hup(self, s, pattern, level="info"):
        mark = len(s.log())
        os.kill(s.proc.pid, signal.SIGHUP)
        return s.wait_log(r"%s SIGHUP: %s" % (level, pattern), start=mark)

    def test_the_mime_types_file_is_read_again(self):
        # As nginx re-reads its types on a reload. The file lives apart from
        # the config file and the roots: the sandbox lets its directory be read.
        elsewhere = tempfile.mkdtemp(prefix="splicehttpd-types-")  # not beneath the config file's directory
        self.addCleanup(shutil.rmtree, elsewhere, True)
        types = os.path.join(elsewhere, "site.types")
        write(types, "text/x-first splice\n")
        write(os.path.join(self.srv, "a", "f.splice"), "s\n")
        self.write_config(self.site("a", "a1"), f'mime-types = "{types}"')
        s = ConfigServer(self.path)
        self.addCleanup(lambda: s.alive() and s.stop())
        s.wait_log(r"\(1 thread, 2 sites\)")
        get = lambda: s.get("/f.splice", {"Host": "a.test"}).header("content-type")
        self.assertEqual(get(), "text/x-first; charset=utf-8")
        write(types, "text/x-second splice\n")
        mark = len(s.log())
        self.hup(s, r"%s re-read, 2 sites" % re.escape(self.path))
        self.assertEqual([l for l in s.log()[mark:] if " warning " in l], [])
        self.assertEqual(get(), "text/x-second; charset=utf-8")
        # A bad file: refused with its line, the running types stay.
        write(types, "no-slash splice\n")
        self.hup(s, r"%s:\d+:\d+: mime-types %s: .*; the running configuration stays"
                 % (re.escape(self.path), re.escape(types)), level="error")
        self.assertEqual(get(), "text/x-second; charset=utf-8")
        s.stop_checked()

    def test_sites_change_and_bad_files_are_refused(self):
        self.write_config(self.site("a", "a1"))
        s = ConfigServer(self.path)
        self.addCleanup(lambda: s.alive() and s.stop())
        s.wait_log(r"\(1 thread, 2 sites\)")
        kept = s.client()  # a keep-alive connection through every reload
        self.assertEqual(kept.request("GET", "/", {"Host": "a.test"}).header("x-site"), "a1")
        self.assertEqual(s.get("/", {"Host": "b.test"}).body, b"<p>top</p>\n")  # no b.test yet

        # A new site and a changed header.
        self.write_config(self.site("a", "a2") + self.site("b", "b1"))
        self.hup(s, r"%s re-read, 3 sites" % re.escape(self.path))
        r = kept.request("GET", "/", {"Host": "a.test"})
        self.assertEqual((r.body, r.header("x-site")), (b"<p>a</p>\n", "a2"))
        r = s.get("/", {"Host": "b.test"})
        self.assertEqual((r.body, r.header("x-site")), (b"<p>b</p>\n", "b1"))

        def refused(text, pattern):
            with open(self.path, "w") as f:
                f.write(text)
            line = self.hup(s, pattern + r"; the running configuration stays$", "error")
            # Still the last good configuration, on the old connection and new ones.
            r = kept.request("GET", "/", {"Host": "b.test"})
            self.assertEqual((r.body, r.header("x-site")), (b"<p>b</p>\n", "b1"), line)
            self.assertEqual(s.get("/", {"Host": "a.test"}).header("x-site"), "a2")

        path = re.escape(self.path)
        refused('root = "/srv"\nthreads = [\n', path + r":2:\d+: .*")  # not TOML
        refused(f'root = "{self.srv}"\nlisten = ["127.0.0.1:0"]\n[[site]]\nnames = ["a.test"]\n'
                f'root = "{self.tmp}/gone"\n', path + r":5:8: root %s/gone: No such file or directory"
                % re.escape(self.tmp))
        refused(f'root = "{self.srv}"\nlisten = ["127.0.0.1:0"]\nthreads = 1\nautoindex = true\n',
                r"autoindex: turned on by the reload, which takes a restart .*")
        if "enforced" in s.wait_log(r"landlock: "):
            outside = tempfile.mkdtemp(prefix="splicehttpd-outside-")
            self.addCleanup(shutil.rmtree, outside, True)
            refused(f'root = "{outside}"\nlisten = ["127.0.0.1:0"]\nthreads = 1\n',
                    path + r":1:8: root %s: Permission denied \(the serving user may not read it, or the sandbox set "
                    r"at start-up does not let it: a new root takes a restart\)" % re.escape(outside))

        # What a reload cannot change is a warning; the rest applies.
        self.write_config(self.site("a", "a3"), "pipes = 8")
        with open(self.path) as f:
            text = f.read().replace("threads = 1", "threads = 3")
        with open(self.path, "w") as f:
            f.write(text)
        mark = len(s.log())
        self.hup(s, r"%s re-read, 2 sites" % path)
        log = "\n".join(s.log()[mark:])
        self.assertIn("warning SIGHUP: threads: changed, which takes a restart; still as started", log)
        self.assertIn("warning SIGHUP: pipes: changed, which takes a restart; still as started", log)
        self.assertEqual(kept.request("GET", "/", {"Host": "a.test"}).header("x-site"), "a3")
        kept.close()
        s.stop_checked()

    def test_every_setting_a_reload_cannot_change_is_warned_about(self):
        # Read once at start-up (the deadline queues, the parser's limits,
        # the stop's grace, the rings): a changed value would otherwise be
        # re-read in silence and never used.
        changed = {
            "keepalive-timeout": ("75", "5"),
            "header-timeout": ("60", "7"),
            "send-timeout": ("60", "9"),
            "tls-handshake-timeout": ("10", "3"),
            "ktls": ('"auto"', '"off"'),
            "shutdown-timeout": ("10", "2"),
            "max-input": ("65536", "4096"),
            "max-uri-bytes": ("8192", "1024"),
            "max-header-bytes": ("16384", "4096"),
            "max-headers": ("100", "20"),
            "inline-max": ("65536", "1024"),
            "chain-pairs": ("4", "2"),
            "pipe-queue": ("256", "16"),
            "io-workers": ("8", "2"),
            "listing-memory": ("33554432", "8388608"),
        }
        self.write_config(self.site("a", "a1"), "\n".join(f"{k} = {old}" for k, (old, _) in changed.items()))
        s = ConfigServer(self.path)
        self.addCleanup(lambda: s.alive() and s.stop())
        s.wait_log(r"\(1 thread, 2 sites\)")
        self.write_config(self.site("a", "a2"), "\n".join(f"{k} = {new}" for k, (_, new) in changed.items()))
        mark = len(s.log())
        self.hup(s, r"%s re-read, 2 sites" % re.escape(self.path))
        log = "\n".join(s.log()[mark:])
        missing = [k for k in changed if f"warning SIGHUP: {k}: changed, which takes a restart; still as started" not in log]
        self.assertEqual(missing, [], log)
        # The sites' part applies all the same.
        self.assertEqual(s.get("/", {"Host": "a.test"}).header("x-site"), "a2")
        s.stop_checked()

    def test_an_unchanged_configuration_reloads_without_a_warning(self):
        # Nothing changed, in the file or on the command line: a reload must
        # not say that something takes a restart. Settings main() resolves
        # after start-up (--port 0, --tls-port 0, the default threads, max-conns
        # auto) are compared as given; the certificates and the access log are
        # re-read and reopened from the same paths, which is what SIGHUP is for.
        harness.require_program("openssl")
        certs = os.path.join(self.tmp, "certs")
        os.mkdir(certs)
        cert, key = tls_certs.make_leaf(certs, "localhost")
        types = os.path.join(self.tmp, "extra.types")
        write(types, "text/x-splice splice\n")
        access_log = os.path.join(self.tmp, "access.log")
        with open(self.path, "w") as f:
            f.write(textwrap.dedent(f"""
                root = "{self.srv}"
                listen = ["127.0.0.1"]
                port = 0
                max-conns = "auto"
                pipes = 8
                add-header = ["X-Top: 1"]
                mime-types = "{types}"
                """).lstrip("\n") + self.site("a", "a1"))
        s = ConfigServer(self.path, "--tls-port", "0", "--tls-cert", cert, "--tls-key", key,
                         "--access-log", access_log, "--send-timeout", "7")
        self.addCleanup(lambda: s.alive() and s.stop())
        s.tls_port()
        self.assertEqual(s.get("/", {"Host": "a.test"}).header("x-site"), "a1")
        for _ in range(2):
            mark = len(s.log())
            self.hup(s, r"%s re-read, 2 sites" % re.escape(self.path))
            s.wait_log(r"info SIGHUP: 1 certificate pair reloaded", start=mark)
            s.wait_log(r"info SIGHUP: access log .* reopened", start=mark)
            warned = [line for line in s.log()[mark:] if " warning " in line]
            self.assertEqual(warned, [])
            # The same certificate written anew (as a renewal that kept it).
            for path in (cert, key):
                with open(path, "rb") as f:
                    data = f.read()
                with open(path, "wb") as f:
                    f.write(data)
        self.assertEqual(s.get("/", {"Host": "a.test"}).header("x-site"), "a1")
        s.stop_checked()
        # The command line alone (--port 0 as the harness starts it).
        s = harness.Server(self.srv, "--max-conns-per-ip", "9", "--expires", ".txt=1h")
        self.addCleanup(lambda: s.alive() and s.stop())
        mark = len(s.log())
        self.hup(s, r"the command line re-read, root ")
        self.assertEqual([line for line in s.log()[mark:] if " warning " in line], [])
        s.stop_checked()


if __name__ == "__main__":
    harness.main()
