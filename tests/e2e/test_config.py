"""--config FILE and --check-config through the real binary.

- The file's keys are the long flags' names; a server started with only
  --config serves what the file says (root, listen, headers, autoindex...).
- Flags on the command line win over the file (lists are replaced, not
  added to; a flag the file turned on can be turned off with --flag=false).
- Unknown keys, wrong types and bad values are one line naming
  FILE:LINE:COLUMN and the key: exit 2 at start-up, 1 under --check-config.
- --check-config runs the start-up checks that need no root (the roots, the
  access log's place, --mime-types, --user, the addresses) without binding,
  says "ok" and exits 0, or prints the first problem and exits 1; site files
  that cannot be served are warnings, as at start-up.
- Repeated --listen (and listen = [...]) are parsed and checked (served:
  test_listeners).
- [[site]] tables are checked (names, roots, duplicates with both places);
  test_vhosts serves them.

The --check-config tests need no io_uring; the ones that serve skip without.
"""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import textwrap

import harness
import tls_certs


needs_io_uring = harness.unittest.skipUnless(harness.io_uring_usable(), "io_uring unavailable")


def run(*args, timeout=20):
    return subprocess.run([harness.BINARY, *args], capture_output=True, text=True, timeout=timeout)


class ConfigServer(harness.Server):
    """harness.Server, but everything the test does not pass comes from the
    file: no --root, --listen or --threads of its own."""

    def __init__(self, config, *args):
        self.args = [harness.BINARY, "--config", config, *harness.root_args(args), *args]
        self._start(self.args, 10)


class Files(harness.unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="splicehttpd-config-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.www = os.path.join(self.tmp, "www")
        os.mkdir(self.www)
        with open(os.path.join(self.www, "index.html"), "w") as f:
            f.write("<p>www</p>\n")
        os.mkdir(os.path.join(self.www, "dir"))
        with open(os.path.join(self.www, "dir", "a.txt"), "w") as f:
            f.write("a\n")

    def config(self, text, name="splicehttpd.toml"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text).lstrip("\n").replace("WWW", self.www).replace("TMP", self.tmp))
        return path

    def assertOneLine(self, out, code, pattern):
        self.assertEqual(out.returncode, code, out.stderr)
        lines = out.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], "^splicehttpd: " + pattern)
        return lines[0]

    def assertRefused(self, text, pattern, *args):
        """The same line at start-up (exit 2) and under --check-config (exit 1)."""
        path = self.config(text)
        started = run("--config", path, *harness.ROOT_ARGS, *args)
        line = self.assertOneLine(started, 2, pattern)
        self.assertEqual(started.stdout, "")
        checked = run("--config", path, "--check-config", *args)
        self.assertEqual(self.assertOneLine(checked, 1, pattern), line)
        return line


class CheckConfig(Files):
    def test_ok_exits_0_and_binds_nothing(self):
        # The port is taken: --check-config does not bind, so it does not care.
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            path = self.config(f"""
                # a comment
                root = "WWW"
                listen = ["127.0.0.1:{port}"]
                threads = 2
                autoindex = true
                precompressed = false
                add-header = ["X-Frame-Options: DENY"]
                expires = [".css=7d", "/assets/=1h"]
                max-conns = "auto"
                unknown-host = "default"
                """)
            out = run("--config", path, "--check-config")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stderr, "")
            self.assertEqual(out.stdout, f"splicehttpd: {path}: ok (1 site, 1 listener)\n")
        finally:
            taken.close()
        out = run("--root", self.www, "--check-config")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "splicehttpd: the command line: ok (1 site, 1 listener)\n")

    def test_errors_name_file_line_column_and_key(self):
        cases = [
            ('root = "WWW"\nbogus = 1\n', r"PATH:2:1: unknown key 'bogus'$"),
            ('root = "WWW"\nthreads = "4"\n', r"PATH:2:11: threads: expected an integer, not a string$"),
            ('root = "WWW"\nthreads = 0\n', r"PATH:2:11: threads: Value 0 not in range 1 to 1024$"),
            ('root = "WWW"\nautoindex = "yes"\n', r"PATH:2:13: autoindex: expected true or false, not a string$"),
            ('root = "WWW"\nport = 99999\n', r"PATH:2:8: port: .*99999"),
            ('root = "WWW"\ndotfiles = "maybe"\n', r"PATH:2:12: dotfiles: .*maybe"),
            ('root = "WWW"\nadd-header = ["X-A: 1",\n  "Bad Name: x"]\n',
             r"PATH:3:3: add-header 'Bad Name: x': the name must be a token"),
            ('root = "WWW"\nadd-header = [1]\n', r"PATH:2:15: add-header: expected strings in the array, not an integer$"),
            ('root = "WWW"\nexpires = [".css=7w"]\n', r"PATH:2:12: expires '\.css=7w'"),
            ('root = "WWW"\nerror-page = ["999=/x.html"]\n', r"PATH:2:15: error-page 999=/x\.html: expected STATUS=/path"),
            ('root = "WWW"\nfallback = "index.html"\n', r"PATH:2:12: fallback index\.html: a file's path below the root"),
            ('root = "WWW"\nfallback-prefix = ["/app/"]\n', r"PATH:2:1: fallback-prefix needs fallback$"),
            ('root = "WWW"\npipes = 9\npipes-max = 4\n', r"PATH:2:9: pipes 9 exceeds pipes-max 4 \(PATH:3:13\)$"),
            ('root = "WWW"\nmax-conns = 0\n', r"PATH:2:13: max-conns: 'auto' or a number in \[1 - 300000\], not 0$"),
            ('root = "WWW"\nconfig = "other.toml"\n', r"PATH:2:1: config: only on the command line$"),
            ('root = "WWW"\nroot2 = 1\n', r"PATH:2:1: unknown key 'root2'$"),
            ('root = "WWW"\n[options]\nthreads = 1\n', r"PATH:2:2: unknown key 'options'$"),
            ('root = "WWW"\nthreads = 1\nthreads = 2\n', r"PATH:3:1?\d*: .*threads"),  # TOML itself
            ('root = "WWW"\nlisten = \n', r"PATH:2:10: "),
            ('root = "TMP/missing"\n', r"PATH:1:8: root TMP/missing: No such file or directory$"),
            ('root = "WWW/index.html"\n', r"PATH:1:8: root WWW/index\.html: Not a directory$"),
            ('root = "WWW"\nmime-types = "TMP/missing.types"\n', r"PATH:2:14: mime-types TMP/missing\.types: cannot be read$"),
            ('root = "WWW"\naccess-log = "WWW/access.log"\n', r"PATH:2:14: access-log WWW/access\.log: inside --root WWW"),
            ('root = "WWW"\nuser = "no-such-user-here"\n', r"PATH:2:8: user no-such-user-here: no such user$"),
        ]
        for text, pattern in cases:
            with self.subTest(text=text):
                path = os.path.join(self.tmp, "splicehttpd.toml")
                self.assertRefused(text.replace("WWW", self.www).replace("TMP", self.tmp),
                                   pattern.replace("PATH", re.escape(path)).replace("WWW", re.escape(self.www))
                                   .replace("TMP", re.escape(self.tmp)))

    def test_the_first_error_in_file_order(self):
        """toml++ keeps a table's keys sorted: the file's order is what counts."""
        self.assertRefused('root = "WWW"\nzzz = 1\naaa = 2\n', r".*:2:1: unknown key 'zzz'$")
        self.assertRefused('root = "WWW"\nthreads = 0\nadd-header = ["x"]\n', r".*:2:11: threads: ")

    def test_file_missing_or_not_a_file(self):
        self.assertOneLine(run("--config", os.path.join(self.tmp, "none.toml"), "--port", "0"), 2,
                           r"--config .*none\.toml: No such file or directory$")
        self.assertOneLine(run("--config", self.tmp, "--check-config"), 1,
                           r"--config .*: a directory, not a file$")
        # A bad flag under --check-config is 1 too, as everything that fails there.
        self.assertOneLine(run("--check-config", "--bogus"), 1, r".*--bogus")

    def test_overridden_values_are_still_checked(self):
        """--threads 2 wins, but a file with threads = 0 is broken without it."""
        self.assertRefused('root = "WWW"\nthreads = 0\n', r".*:2:11: threads: Value 0", "--threads", "2")

    def test_site_files_are_warnings(self):
        path = self.config("""
            root = "WWW"
            fallback = "/missing.html"
            error-page = ["404=/dir"]
            """)
        out = run("--config", path, "--check-config")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stderr.splitlines(), [
            f"splicehttpd: warning: --fallback /missing.html: no such file beneath --root {self.www}; missing paths "
            "get the built-in 404 page instead",
            "splicehttpd: warning: --error-page 404=/dir: not a regular file; 404 answers get the built-in page "
            "instead"])
        self.assertIn(": ok (", out.stdout)


class Listen(Files):
    def test_repeated_listen_is_parsed_and_checked(self):
        root = ("--root", self.www)
        self.assertOneLine(run(*root, "--check-config", "--listen", "127.0.0.1", "--listen", "127.0.0.1:8080"), 1,
                           r"--listen 127\.0\.0\.1:8080: the same address as '127\.0\.0\.1'$")
        self.assertOneLine(run(*root, "--check-config", "--listen", "127.0.0.1", "--listen", "localhost:80"), 1,
                           r"--listen localhost:80: expected ADDRESS, ADDRESS:PORT, \[IPv6\]:PORT or unix:/PATH")
        self.assertOneLine(run(*root, "--check-config", "--listen", "0.0.0.0", "--listen", "127.0.0.1"), 1,
                           r"--listen 127\.0\.0\.1: overlaps '0\.0\.0\.0'")
        self.assertOneLine(run(*root, "--check-config", "--listen", "[::1]:99999"), 1,
                           r"--listen \[::1\]:99999: port '99999' is not a number from 0 to 65535$")
        # Several, and unix sockets, are served (test_listeners).
        out = run(*root, "--check-config", "--listen", "127.0.0.1:0", "--listen", "[::1]:0", "--listen",
                  "unix:/run/splicehttpd-test.sock")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(": ok (1 site, 3 listeners)", out.stdout)
        self.assertOneLine(run(*root, "--check-config", "--listen", "unix:run.sock"), 1,
                           r"--listen unix:run\.sock: a unix socket needs an absolute path")

    def test_listen_in_the_file(self):
        self.assertRefused('root = "WWW"\nlisten = ["127.0.0.1",\n  "[::1]:8080x"]\n',
                           r".*:3:3: listen \[::1\]:8080x: port '8080x' is not a number from 0 to 65535$")
        self.assertRefused('root = "WWW"\nlisten = ["127.0.0.1", "127.0.0.1:8080"]\n',
                           r".*:2:24: listen 127\.0\.0\.1:8080: the same address as '127\.0\.0\.1'$")
        self.assertRefused('root = "WWW"\nlisten = []\n', r".*:2:1: listen: no address; give at least one$")
        self.assertRefused('root = "WWW"\nlisten = ["0.0.0.0:8080", "[::]:8080"]\nipv6-dual-stack = true\n',
                           r".*:2:27: listen \[::\]:8080: overlaps '0\.0\.0\.0:8080' .*with --ipv6-dual-stack")
        # Options after the address, each value named at its own place.
        self.assertRefused('root = "WWW"\nlisten = ["127.0.0.1",\n  "127.0.0.1:8443 tsl"]\n',
                           r".*:3:3: listen 127\.0\.0\.1:8443 tsl: unknown option 'tsl'; expected tls \(or ssl\)")
        self.assertRefused('root = "WWW"\nlisten = ["127.0.0.1", "unix:TMP/s.sock mode=0999"]\n',
                           r".*:2:24: listen unix:.*/s\.sock mode=0999: 'mode=0999': the mode is octal, from 0 to "
                           r"0777 \(mode=0660\)$")
        self.assertRefused('root = "WWW"\nlisten = ["127.0.0.1:8080 mode=0660"]\n',
                           r".*:2:11: listen 127\.0\.0\.1:8080 mode=0660: 'mode=0660': mode= is for a unix socket's "
                           r"file, not a TCP address$")
        self.assertRefused('root = "WWW"\nlisten = ["127.0.0.1", "127.0.0.1:8443 tls"]\n',
                           r".*:2:24: listen 127\.0\.0\.1:8443 tls: tls needs --tls-cert and --tls-key$")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "s.sock")))


class Sites(Files):
    def test_two_sites_check_and_warn(self):
        other = os.path.join(self.tmp, "other")
        os.mkdir(other)
        path = self.config(f"""
            root = "WWW"
            unknown-host = "default"

            [[site]]
            names = ["example.com", "*.example.com"]
            add-header = ["X-Site: example"]

            [[site]]
            names = ["other.org"]
            root = "{other}"
            fallback = "/missing.html"
            """)
        out = run("--config", path, "--check-config")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, f"splicehttpd: {path}: ok (3 sites, 1 listener)\n")
        self.assertEqual(out.stderr.splitlines(), [
            f"splicehttpd: warning: site other.org: --fallback /missing.html: no such file beneath --root {other}; "
            "missing paths get the built-in 404 page instead"])

    def test_bad_sites_name_both_places(self):
        cases = [
            ('root = "WWW"\n[[site]]\nnames = ["a.example", "B.example"]\n[[site]]\nnames = ["b.example."]\n',
             r"PATH:5:10: names: b\.example is given at PATH:3:23 already$"),
            ('root = "WWW"\n[[site]]\nnames = ["a b"]\n', r"PATH:3:10: names: 'a b': ' ' is not a letter"),
            ('root = "WWW"\n[[site]]\nnames = ["*.*.example"]\n', r"PATH:3:10: names: .*'\*' only as the whole"),
            ('root = "WWW"\n[[site]]\nroot = "WWW"\n', r"PATH:2:1: \[\[site\]\] without names"),
            ('root = "WWW"\n[[site]]\nnames = ["a.example"]\nthreads = 2\n',
             r"PATH:4:1: threads: not a per-site setting; give it at the top, before the first \[\[site\]\]$"),
            ('root = "WWW"\n[[site]]\nnames = ["a.example"]\nroot = "TMP/gone"\n',
             r"PATH:4:8: root TMP/gone: No such file or directory$"),
            ('root = "WWW"\n[[site]]\nnames = ["a.example"]\nautoindex = 1\n',
             r"PATH:4:13: autoindex: expected true or false, not an integer$"),
            ('root = "WWW"\n[[site]]\nnames = ["a.example"]\nnope = 1\n', r"PATH:4:1: unknown key 'nope' in a \[\[site\]\]"),
            ('root = "WWW"\n[[site]]\nnames = ["a.example"]\ndefault = true\n[[site]]\nnames = ["b.example"]\n'
             'default = true\n', r"PATH:5:1: default = true: the site a\.example is the default already$"),
            ('root = "WWW"\nunknown-host = "421"\n', r"PATH:2:16: unknown-host \"421\" without any \[\[site\]\]"),
            ('root = "WWW"\nunknown-host = "404"\n', r"PATH:2:16: unknown-host: .*404"),
            ('root = "WWW"\n[site]\nnames = ["a.example"]\n', r"PATH:2:2: site: write each site as a \[\[site\]\] table$"),
        ]
        for text, pattern in cases:
            with self.subTest(text=text):
                path = os.path.join(self.tmp, "splicehttpd.toml")
                self.assertRefused(text.replace("WWW", self.www).replace("TMP", self.tmp),
                                   pattern.replace("PATH", re.escape(path)).replace("TMP", re.escape(self.tmp)))


@needs_io_uring
class Serving(Files):
    def start(self, text, *args):
        server = ConfigServer(self.config(text), *args)
        self.addCleanup(lambda: server.alive() and server.stop())
        return server

    def test_the_file_alone_starts_the_server(self):
        server = self.start("""
            root = "WWW"
            listen = ["127.0.0.1:0"]
            threads = 2
            autoindex = true
            add-header = ["X-From: file", "X-Second: 2"]
            """)
        server.wait_log(r"listening on http://127\.0\.0\.1:\d+ \(2 threads, root %s\)" % re.escape(self.www))
        r = server.get("/")
        self.assertEqual((r.status, r.body), (200, b"<p>www</p>\n"))
        self.assertEqual(r.header("x-from"), "file")
        self.assertEqual(r.header("x-second"), "2")
        self.assertIn(b"a.txt", server.get("/dir/").body)  # autoindex = true
        server.stop_checked()

    def test_listen_options_in_the_file(self):
        """listen = ["ADDRESS", "ADDRESS tls", "unix:PATH tls mode=0600"]
        with the pairs in the file; a reload that changes an option says it
        takes a restart, and the listener stays as started."""
        harness.require_program("openssl")
        cert, key = tls_certs.make_leaf(self.tmp, "localhost")
        ctx = ssl.create_default_context(cafile=os.path.join(self.tmp, "ca.crt"))
        plain, tls = harness.free_port(), harness.free_port()
        sock = os.path.join(self.tmp, "s.sock")
        text = f"""
            root = "WWW"
            listen = ["127.0.0.1:{plain}", "127.0.0.1:{tls} ssl", "unix:{sock} tls mode=0600"]
            tls-cert = ["{cert}"]
            tls-key = ["{key}"]
            """
        path = self.config(text)
        checked = run("--config", path, "--check-config")
        self.assertEqual((checked.returncode, checked.stdout), (0, f"splicehttpd: {path}: ok (1 site, 3 listeners)\n"),
                         checked.stderr)
        server = self.start(text)
        server.wait_log(r"listening on http://127\.0\.0\.1:%d, https://127\.0\.0\.1:%d, unix:%s \(" %
                        (plain, tls, re.escape(sock)))
        self.assertEqual(os.stat(sock).st_mode & 0o7777, 0o600)

        def get_tls(family, address):
            with socket.socket(family, socket.SOCK_STREAM) as raw:
                raw.settimeout(10)
                raw.connect(address)
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                    data = b""
                    while chunk := s.recv(65536):
                        data += chunk
                    return data

        self.assertEqual(server.get("/").body, b"<p>www</p>\n")
        for family, address in ((socket.AF_INET, ("127.0.0.1", tls)), (socket.AF_UNIX, sock)):
            data = get_tls(family, address)
            self.assertTrue(data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"<p>www</p>\n"), data)
        # The reload keeps the listeners as started.
        with open(path, "w") as f:
            f.write(textwrap.dedent(text.replace(" tls mode=0600", "")).replace("WWW", self.www))
        mark = len(server.log())
        os.kill(server.pid, signal.SIGHUP)
        server.wait_log(r"warning SIGHUP: listen: changed, which takes a restart; still as started", start=mark)
        server.wait_log(r"info SIGHUP: .* re-read", start=mark)
        data = get_tls(socket.AF_UNIX, sock)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
        server.stop_checked()
        self.assertFalse(os.path.exists(sock))

    def test_flags_win_over_the_file(self):
        other = os.path.join(self.tmp, "other")
        os.mkdir(other)
        with open(os.path.join(other, "index.html"), "w") as f:
            f.write("<p>other</p>\n")
        os.mkdir(os.path.join(other, "dir"))
        server = self.start("""
            root = "WWW"
            listen = "127.0.0.1:0"
            threads = 2
            autoindex = true
            add-header = ["X-From: file", "X-Second: 2"]
            """, "--root", other, "--threads", "1", "--add-header", "X-From: flag", "--autoindex=false")
        server.wait_log(r"\(1 thread, root %s\)" % re.escape(other))
        r = server.get("/")
        self.assertEqual(r.body, b"<p>other</p>\n")
        # The list is the command line's, not the file's plus the command line's.
        self.assertEqual(r.all("x-from"), ["flag"])
        self.assertIsNone(r.header("x-second"))
        self.assertEqual(server.get("/dir/").status, 403)  # --autoindex=false
        server.stop_checked()


if __name__ == "__main__":
    if not os.path.exists(harness.BINARY):
        print(f"{harness.BINARY} not built")
        raise SystemExit(1)
    harness.unittest.main(verbosity=2)
