"""What tools/bench and tools/syscalls share: the servers under test, their
generated configs, start/stop on free loopback ports, placement on CPUs, CPU
accounting of a server's whole process tree, and the TIME_WAIT census.

Every server listens on 127.0.0.1 only, runs --workers workers (one by
default), keeps no access log, and writes its config, pid file and error log
into the run's temp dir.  In a bundle (tools/bench --bundle) the binaries come
from the bundle's bin/ and run with its lib/ as LD_LIBRARY_PATH; see use_bundle.
"""

import argparse
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
BENCH_BUILD = ROOT / "build-bench"
PEERS = ("nginx", "h2o", "lighttpd")
# A peer set otherwise than as shipped: its program, and it runs the HTTPS cases only.
# Not among PEERS: "the best peer" is the best as shipped; the row shows a ratio with
# the cipher held equal (nginx+aes128 chooses the cipher as splicehttpd does).
VARIANTS = {"nginx+aes128": "nginx"}
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Where the programs come from.  A checkout: the system's (PATH); a bundle: its bin/,
# with its lib/ as LD_LIBRARY_PATH for those programs alone (python keeps the host's).
BUNDLE = None           # the bundle's directory, when running from one
_EXE = {}               # name -> path, set by use_bundle
_CHILD_ENV = {}         # extra environment of every server and wrk
LIGHTTPD_MODULES = None  # lighttpd -m DIR (default: its compiled-in /usr/lib/lighttpd)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def use_bundle(path):
    """Run the programs of the bundle at `path` (bin/, lib/, share/h2o) instead of PATH's."""
    global BUNDLE, LIGHTTPD_MODULES
    BUNDLE = Path(path).resolve()
    for exe in (BUNDLE / "bin").iterdir():
        _EXE[exe.name] = str(exe)
    _CHILD_ENV["LD_LIBRARY_PATH"] = str(BUNDLE / "lib")
    _CHILD_ENV["H2O_ROOT"] = str(BUNDLE)  # h2o finds share/h2o under it
    LIGHTTPD_MODULES = BUNDLE / "lib" / "lighttpd"


def exe(name):
    """The program to run for `name`: the bundle's copy, or the name (found in PATH)."""
    return _EXE.get(name, name)


def have(name):
    return name in _EXE if BUNDLE else shutil.which(name) is not None


def bundle_manifest():
    """What tools/bench --bundle recorded in BUNDLE/bundle.json (splicehttpd's label, host, date)."""
    try:
        return json.loads((BUNDLE / "bundle.json").read_text())
    except (OSError, ValueError, TypeError):
        return {}


def child_env():
    return {**os.environ, **_CHILD_ENV}


def free_port():
    """A port free now; the caller retries if another process takes it first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_pins():
    """(server CPU, client CPU) of the default placement with one worker (tools/syscalls)."""
    pl = placement()
    return pl.server_cpus[0], pl.client_cpus[0]


# ---------------------------------------------------------------- placement

def parse_cpu_list(text):
    """'0-3,8,10-11' -> [0, 1, 2, 3, 8, 10, 11]; ValueError when malformed."""
    cpus = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"empty item in CPU list {text!r}")
        lo, _, hi = part.partition("-")
        lo, hi = int(lo), int(hi) if hi else int(lo)
        if lo < 0 or hi < lo:
            raise ValueError(f"bad CPU range {part!r}")
        cpus.update(range(lo, hi + 1))
    return sorted(cpus)


def format_cpu_list(cpus):
    """[0, 1, 2, 3, 8] -> '0-3,8'."""
    out, cpus = [], sorted(cpus)
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        out.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(out)


def smt_siblings(cpu):
    """The hardware threads sharing `cpu`'s core (itself included); {cpu} when unknown."""
    try:
        text = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").read_text().strip()
        return set(parse_cpu_list(text))
    except (OSError, ValueError):
        return {cpu}


class Placement:
    """Which CPUs the servers and wrk may run on, and how many wrk threads."""

    def __init__(self, server_cpus, client_cpus, wrk_threads, workers, notes):
        self.server_cpus, self.client_cpus = server_cpus, client_cpus
        self.wrk_threads, self.workers, self.notes = wrk_threads, workers, notes

    def describe(self):
        return (f"servers on CPU {format_cpu_list(self.server_cpus)} ({self.workers} worker"
                f"{'s' if self.workers > 1 else ''}), wrk -t{self.wrk_threads} on CPU "
                f"{format_cpu_list(self.client_cpus)}")


def placement(workers=1, server_cpus=None, client_cpus=None, wrk_threads=None):
    """The defaults: the server on the first `workers` CPUs it may use; with 8 or more
    CPUs, wrk on the upper half (not on an SMT sibling of a server CPU when that
    leaves any) with max(4, 2 x workers) threads at most, so that the server, not
    wrk, is the saturated side; with fewer, wrk on all the other CPUs, a thread
    each (2 CPUs: server on CPU 0, wrk -t1 on CPU 1).  Given lists are used as they are."""
    allowed = sorted(os.sched_getaffinity(0))
    n, notes = len(allowed), []
    for given, what in ((server_cpus, "--server-cpus"), (client_cpus, "--client-cpus")):
        if given:
            bad = sorted(set(given) - set(allowed))
            if bad:
                raise ValueError(f"{what}: CPU {format_cpu_list(bad)} not available here "
                                 f"(this process may use {format_cpu_list(allowed)})")
    if not server_cpus:
        server_cpus = allowed[:max(1, min(workers, n - 1))]
    if len(server_cpus) < workers:
        notes.append(f"{workers} workers share {len(server_cpus)} server CPU(s)")
    if not client_cpus:
        rest = [c for c in allowed if c not in server_cpus]
        if n >= 8:
            siblings = set().union(*(smt_siblings(c) for c in server_cpus))
            upper = [c for c in allowed[n // 2:] if c not in server_cpus]
            client_cpus = [c for c in upper if c not in siblings] or upper or rest
            client_cpus = client_cpus[:max(4, 2 * workers)]
        else:
            client_cpus = rest or server_cpus
    if not wrk_threads:
        wrk_threads = len(client_cpus)
    shared = sorted(set(server_cpus) & set(client_cpus))
    if shared:
        notes.append(f"server and wrk share CPU {format_cpu_list(shared)}")
    siblings = sorted((set().union(*(smt_siblings(c) for c in server_cpus)) - set(server_cpus)) & set(client_cpus))
    if siblings:
        notes.append(f"wrk runs on CPU {format_cpu_list(siblings)}, SMT sibling(s) of the server's")
    return Placement(list(server_cpus), list(client_cpus), wrk_threads, workers, notes)


def pinned(cpus, nice=0):
    """A preexec_fn: run the child on `cpus` only (and at nice `nice`), as taskset/nice would."""
    cpus = set(cpus)

    def apply():
        os.sched_setaffinity(0, cpus)
        if nice:
            os.nice(nice)
    return apply


def capture(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10, env=child_env())
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"


def make_docroot(path, files):
    """files: {name: size}. Random bytes, so no layer can compress them."""
    path.mkdir(parents=True, exist_ok=True)
    for name, size in files.items():
        with open(path / name, "wb") as f:
            left = size
            while left:
                chunk = os.urandom(min(left, 1 << 20))
                f.write(chunk)
                left -= len(chunk)
    return path


# ---------------------------------------------------------------- configs

def nginx_config(work, docroot, port, workers=1, access_log=False, tls=None, server_order=False):
    conf = work / "nginx.conf"
    log = f"access_log {work}/access.log combined;" if access_log else "access_log off;"
    # HTTPS: TLS 1.3 only; ssl_session_tickets and ssl_session_cache as shipped (tickets
    # on, no server-side cache); without kTLS (ssl_conf_command Options KTLS, not set)
    # sendfile does not apply to TLS and bodies go through SSL_write.  server_order: the
    # cipher chosen as splicehttpd chooses it (AES-128-GCM first, the server's order,
    # ChaCha20 for a client that lists it first), the row nginx+aes128.
    order = ("""
        ssl_prefer_server_ciphers on;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
        ssl_conf_command Options PrioritizeChaCha;""" if server_order else "")
    https = "" if tls is None else f"""
    server {{
        listen 127.0.0.1:{tls.port} ssl;
        ssl_certificate {tls.cert};
        ssl_certificate_key {tls.key};
        ssl_protocols TLSv1.3;{order}
        root {docroot};
    }}"""
    conf.write_text(f"""\
daemon off;
master_process on;
worker_processes {workers};
user root;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    {log}
    sendfile on;
    tcp_nopush on;
    # the default (1000) would reconnect every 1000 requests; the others do not
    keepalive_requests 1000000;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    default_type application/octet-stream;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port};
        root {docroot};
    }}{https}
}}
""")
    return [exe("nginx"), "-p", str(work), "-e", f"{work}/nginx-error.log", "-c", str(conf)]


def h2o_config(work, docroot, port, workers=1, tls=None):
    # h2o 2.2 has no sendfile: it answers files with pread + writev.  Its default
    # max-connections (1024, for all threads) would turn --conns 4000 away.
    # HTTPS: 2.2 takes one listen per level, so each listener gets a host of its own
    # (a listener's only host answers whatever Host a request names).  Its
    # minimum-version knows no TLSv1.3 (OpenSSL negotiates 1.3 with a client offering
    # it; tools/bench checks the version); ssl-session-resumption as shipped (mode all:
    # an internal cache, and tickets with keys it makes itself); ocsp-update-interval 0
    # keeps it from running fetch-ocsp-response for a certificate with no OCSP URI.
    conf = work / "h2o.conf"
    paths = f"""\
    paths:
      /:
        file.dir: {docroot}
"""
    https = "" if tls is None else f"""\
  https:
    listen:
      host: 127.0.0.1
      port: {tls.port}
      ssl:
        certificate-file: {tls.cert}
        key-file: {tls.key}
        ocsp-update-interval: 0
{paths}"""
    conf.write_text(f"""\
num-threads: {workers}
max-connections: 16384
user: root
pid-file: {work}/h2o.pid
error-log: {work}/h2o-error.log
hosts:
  default:
    listen:
      host: 127.0.0.1
      port: {port}
{paths}{https}""")
    return [exe("h2o"), "-c", str(conf)]


def lighttpd_config(work, docroot, port, workers=1, tls=None):
    # One worker: server.max-worker stays at its default 0, one process that serves
    # (1 would add a master that only watches it); N > 1: a master and N workers.  Its
    # default max-keep-alive-requests (1000) would reconnect like nginx's.  Its limits
    # scale with the workers, as nginx's worker_connections (per worker) do.
    conf = work / "lighttpd.conf"
    max_worker = f"server.max-worker = {workers}\n" if workers > 1 else ""
    # HTTPS (mod_openssl, Debian's lighttpd-mod-openssl): TLS 1.3 only; session tickets as
    # shipped (on, keys made and rotated by lighttpd); no kTLS (Options KTLS not set).
    https = "" if tls is None else f"""\
server.modules += ( "mod_openssl" )
$SERVER["socket"] == "127.0.0.1:{tls.port}" {{
    ssl.engine = "enable"
    ssl.pemfile = "{tls.cert}"
    ssl.privkey = "{tls.key}"
    ssl.openssl.ssl-conf-cmd = ( "MinProtocol" => "TLSv1.3" )
}}
"""
    conf.write_text(f"""\
server.document-root = "{docroot}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{work}/lighttpd-error.log"
server.network-backend = "sendfile"
server.max-keep-alive-requests = 1000000
server.max-fds = {16384 * workers}
server.max-connections = {4096 * workers}
mimetype.assign = ( ".bin" => "application/octet-stream" )
{max_worker}{https}""")
    modules = ["-m", str(LIGHTTPD_MODULES)] if LIGHTTPD_MODULES else []
    return [exe("lighttpd"), "-D", *modules, "-f", str(conf)]


class Tls:
    """What a server's HTTPS listener uses: its port, the certificate chain and key
    (ECDSA P-256, the same for every server), and the CA that signed them."""

    def __init__(self, port, cert, key, ca):
        self.port, self.cert, self.key, self.ca = port, cert, key, ca


class Spec:
    """How to start one server: argv_for(work, docroot, port, workers), plus tls=Tls(...)
    when it is to listen for HTTPS too (only specs made with tls=True take it).  kind
    'file' serves the docroot; kind 'probe' answers every request with the same 1 KiB
    body (the ceiling probes, one thread each: they have no worker setting)."""

    def __init__(self, name, argv_for, version, kind="file", note="", tls=False):
        self.name, self.argv_for, self.version, self.kind, self.note = name, argv_for, version, kind, note
        self.tls = tls


def add_splicehttpd_args(p, rev=True):
    if rev:  # not in a bundle: nothing there to build from
        p.add_argument("--rev", help="measure this committed revision of splicehttpd, built apart from the "
                                     "work tree into build-bench/rev-SHA/ (default: the work tree, into build-bench/)")
    p.add_argument("--splicehttpd", metavar="PATH", help="measure this binary (no build)")
    p.add_argument("--label", help=argparse.SUPPRESS)
    p.add_argument("--server-args", default="", metavar="ARGS",
                   help="extra splicehttpd flags, one string (e.g. --server-args=--sqpoll)")


def splicehttpd_label(args):
    """What is measured: --label (from --rev), the bundle's record, or the checkout's commit."""
    if args.label:
        return args.label
    if BUNDLE and not args.splicehttpd:
        return bundle_manifest().get("splicehttpd", "splicehttpd (bundled)")
    commit = capture(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"])
    dirty = capture(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--",
                     "src", "meson.build", "subprojects"])
    return f"splicehttpd {commit}{' + uncommitted changes' if dirty else ''}"


def splicehttpd_spec(args, access_log=False, metrics=False):
    """The splicehttpd under test: args.splicehttpd (set by the wrapper) or build-bench's.
    With access_log, the row "splicehttpd+log" writes a combined-format access log; with
    metrics, the row "splicehttpd+metrics" serves /metrics (bench.py scrapes it)."""
    default = exe("splicehttpd") if BUNDLE else BENCH_BUILD / "splicehttpd"
    binary = Path(args.splicehttpd or default).resolve()
    if not os.access(binary, os.X_OK):
        sys.exit(f"bench: {binary} is not an executable (tools/bench and tools/syscalls build it)")
    version = splicehttpd_label(args)
    extra = shlex.split(getattr(args, "server_args", "") or "")
    if extra:
        version += " " + " ".join(extra)
    version += f" ({binary})"
    binary = str(binary)
    # As root it would serve as nobody; the bench has always measured it as
    # root, as the peers are run.
    if os.geteuid() == 0 and "--user" not in extra:
        extra = ["--allow-root", *extra]
    if access_log:
        return Spec("splicehttpd+log",
                    lambda work, docroot, port, workers=1: [
                        binary, "--root", str(docroot), "--listen", "127.0.0.1", "--port", str(port),
                        "--threads", str(workers), "--access-log", str(work / "access.log"), *extra],
                    version + " --access-log FILE")
    if metrics:
        return Spec("splicehttpd+metrics",
                    lambda work, docroot, port, workers=1: [
                        binary, "--root", str(docroot), "--listen", "127.0.0.1", "--port", str(port),
                        "--threads", str(workers), "--metrics-listen", "127.0.0.1:0", *extra],
                    version + " --metrics-listen, scraped 10 times a second")
    def argv(work, docroot, port, workers=1, tls=None):
        https = [] if tls is None else ["--tls-port", str(tls.port), "--tls-cert", str(tls.cert),
                                        "--tls-key", str(tls.key)]
        return [binary, "--root", str(docroot), "--listen", "127.0.0.1", "--port", str(port),
                "--threads", str(workers), *https, *extra]
    return Spec("splicehttpd", argv, version, tls=True)


def log_specs(args):
    """The access-log rows: splicehttpd and nginx, each writing a combined log to a file."""
    return {
        "splicehttpd+log": splicehttpd_spec(args, access_log=True),
        "nginx+log": Spec("nginx+log",
                          lambda work, docroot, port, workers=1: nginx_config(work, docroot, port, workers, True),
                          capture([exe("nginx"), "-v"]).replace("nginx version: ", "") + " access_log combined"),
    }


def metrics_url(r, timeout=10.0):
    """The /metrics URL a splicehttpd row's start line names, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(r"metrics (http://127\.0\.0\.1:\d+/metrics)", r.logfile.read_text(errors="replace"))
        if m:
            return m.group(1)
        time.sleep(0.05)
    return None


class Scraper(threading.Thread):
    """GET url every `every` seconds until stopped (a Prometheus scrapes every 15 s or so:
    this is 150 times that); counts what answered 200 and what did not."""

    def __init__(self, url, every=0.1):
        super().__init__(daemon=True)
        self.url, self.every = url, every
        self.halt = threading.Event()
        self.ok = self.failed = 0

    def run(self):
        import urllib.request
        while not self.halt.wait(self.every):
            try:
                with urllib.request.urlopen(self.url, timeout=5) as resp:
                    resp.read()
                    self.ok += resp.status == 200
                    self.failed += resp.status != 200
            except OSError:
                self.failed += 1


def peer_specs():
    nginx = capture([exe("nginx"), "-v"]).replace("nginx version: ", "")
    return {
        "nginx": Spec("nginx", nginx_config, nginx, tls=True),
        "nginx+aes128": Spec("nginx+aes128",
                             lambda work, docroot, port, workers=1, tls=None:
                                 nginx_config(work, docroot, port, workers, tls=tls, server_order=True),
                             nginx + " ssl_prefer_server_ciphers on, AES-128-GCM first, PrioritizeChaCha",
                             tls=True),
        "h2o": Spec("h2o", h2o_config, capture([exe("h2o"), "--version"]).splitlines()[0].replace(" version", ""),
                    tls=True),
        "lighttpd": Spec("lighttpd", lighttpd_config, capture([exe("lighttpd"), "-v"]).split(" - ")[0], tls=True),
    }


def build_probe(name, outdir):
    """Compile ../shared/bench/NAME.c into outdir; None (with the reason) when absent."""
    src = SHARED_BENCH / f"{name}.c"
    if not src.is_file():
        return None, f"{src} not found"
    outdir.mkdir(parents=True, exist_ok=True)
    exe = outdir / name
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        r = subprocess.run(["gcc", "-O2", "-o", str(exe), str(src), "-luring"], capture_output=True, text=True)
        if r.returncode != 0:
            return None, f"gcc {src} failed: {r.stderr.strip()[:300]}"
    return exe, ""


def probe_exe(name):
    """(path, '') of the ceiling probe NAME, or (None, why): the bundle's copy, or
    ../shared/bench/NAME.c compiled into build-bench/probes/."""
    if BUNDLE:
        return (exe(name), "") if have(name) else (None, "not in the bundle")
    return build_probe(name, BENCH_BUILD / "probes")


def probe_spec(name, path):
    return Spec(name, lambda work, docroot, port, workers=1: [str(path), str(port)], f"{name}.c (../shared/bench)",
                kind="probe")


# ---------------------------------------------------------------- processes

def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (which may hold spaces)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2:].split()


def tree_pids(root):
    """root and all its descendant processes."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(_stat_fields(d)[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu_ticks(root):
    """utime+stime+cutime+cstime summed over the process tree, in clock ticks.

    /proc/PID/stat (not .../task/TID/stat) is the whole thread group: every
    thread, including io_uring's io-wq workers (iou-wrk-*, tasks of the
    process), and also threads that exited in between, which a sum over
    task/*/stat would lose.  cutime/cstime add children reaped meanwhile."""
    total = 0
    for pid in tree_pids(root):
        try:
            f = _stat_fields(pid)
        except OSError:
            continue
        total += sum(int(x) for x in f[11:15])  # utime stime cutime cstime
    return total


def tree_task_ticks(root):
    """{(pid, tid): (comm, ticks)} for the live tasks of the tree: a breakdown by
    thread (io-wq workers show up as iou-wrk-N; one that exited is not here)."""
    out = {}
    for pid in tree_pids(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    comm = f.read().strip()
                fields = _stat_fields(f"{pid}/task/{tid}")
            except OSError:
                continue
            out[(pid, int(tid))] = (comm, int(fields[11]) + int(fields[12]))
    return out


def tree_affinities(root):
    """{comm: set of Cpus_allowed_list} over every task of the tree."""
    seen = {}
    for pid in tree_pids(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
            except OSError:
                continue
            seen.setdefault(status.get("Name", "?"), set()).add(status.get("Cpus_allowed_list", "?"))
    return seen


TIME_WAIT_S = 60  # TCP_TIMEWAIT_LEN, a constant of the kernel


def time_wait_sockets(port):
    """{(local, remote): seconds left} of the TIME_WAIT sockets (state 06 in /proc/net/tcp
    and tcp6) with `port` at either end; addresses as the kernel's hex 'ADDR:PORT'."""
    out, hexport = {}, f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    fields = line.split(None, 6)
                    if len(fields) > 5 and fields[3] == "06" and (
                            fields[1].endswith(hexport) or fields[2].endswith(hexport)):
                        # "tr:tm->when": timer 3 (TIME_WAIT), clock ticks until it ends
                        out[(fields[1], fields[2])] = int(fields[5].split(":")[1], 16) / CLK_TCK
        except (OSError, ValueError, IndexError):
            pass
    return out


def time_wait_sides(port, since):
    """TIME_WAIT sockets born since the time.monotonic() `since` (their 60 s timer has
    more left than the time since then allows an older one), split by who closed first:
    the server (its port is the local one) or the client (the remote one).  A set
    difference with an earlier census would miss the client's ports that loopback's
    tcp_tw_reuse took over and that went back to TIME_WAIT under the same addresses."""
    elapsed = time.monotonic() - since
    hexport = f":{port:04X}"
    born = [local for (local, _), left in time_wait_sockets(port).items() if left > TIME_WAIT_S - elapsed]
    server = sum(1 for local in born if local.endswith(hexport))
    return {"server": server, "client": len(born) - server}


def tcp_ext_counters(names=("TWRecycled", "TCPTimeWaitOverflow")):
    """Selected TcpExt counters of /proc/net/netstat (what `nstat` shows), {name: value}."""
    try:
        with open("/proc/net/netstat") as f:
            lines = [l.split() for l in f if l.startswith("TcpExt:")]
        table = dict(zip(lines[0][1:], (int(v) for v in lines[1][1:])))
    except (OSError, IndexError, ValueError):
        return {}
    return {n: table[n] for n in names if n in table}


def system_cpu_ticks():
    """{cpu index: (busy, steal, total)} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *vals = line.split()
                v = [int(x) for x in vals[:8]]  # user nice system idle iowait irq softirq steal
                out[int(name[3:])] = (v[0] + v[1] + v[2] + v[5] + v[6], v[7], sum(v))
    return out


def wait_listening(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Running:
    def __init__(self, spec, proc, port, logfile, tls=None):
        self.spec, self.proc, self.port, self.logfile, self.tls = spec, proc, port, logfile, tls
        self.stopped = False

    @property
    def name(self):
        return self.spec.name

    @property
    def pid(self):
        return self.proc.pid

    def url(self, path, https=False):
        return f"https://127.0.0.1:{self.tls.port}/{path}" if https else f"http://127.0.0.1:{self.port}/{path}"

    def stop(self):
        """SIGTERM the server's process group, SIGKILL what is left after 10 s."""
        if self.stopped:
            return
        self.stopped = True
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # the leader is gone; a child of it (nginx's worker) may still be in its group
        for pid in _group_members(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _group_members(pgid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if int(_stat_fields(d)[2]) == pgid:
                    out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


class Fleet:
    """The servers of one run: started pinned to `cpus` (a CPU or a list) with
    `workers` workers, each in its own session, all stopped when the fleet closes
    (normal exit, exception, SIGINT/SIGTERM)."""

    def __init__(self, work, docroot, cpus, nice=0, workers=1, tls_files=None):
        """tls_files: (cert, key, ca) when the servers that can are to listen for HTTPS too."""
        self.work, self.docroot, self.nice, self.workers = work, docroot, nice, workers
        self.tls_files = tls_files
        self.cpus = [cpus] if isinstance(cpus, int) else list(cpus)
        self.running = []

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _raise_exit)
        # a shell starts a background job with SIGINT ignored; Ctrl-C must still clean up
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return self

    def __exit__(self, *exc):
        for r in reversed(self.running):
            r.stop()
        self.running.clear()
        return False

    def start(self, spec, attempts=3):
        """Start spec on a free port; None (with the reason logged) if it never listens."""
        for attempt in range(attempts):
            port = free_port()
            sdir = self.work / spec.name
            sdir.mkdir(exist_ok=True)
            tls = None
            if self.tls_files and spec.tls:
                tls = Tls(free_port(), *self.tls_files)
                while tls.port == port:
                    tls.port = free_port()
            argv = (spec.argv_for(sdir, self.docroot, port, self.workers, tls=tls) if tls
                    else spec.argv_for(sdir, self.docroot, port, self.workers))
            logfile = sdir / "stdout.log"
            with open(logfile, "ab") as out:
                proc = subprocess.Popen(argv, cwd=sdir, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True, env=child_env(),
                                        preexec_fn=pinned(self.cpus, self.nice))
            r = Running(spec, proc, port, logfile, tls)
            self.running.append(r)
            if wait_listening(port, proc) and (tls is None or wait_listening(tls.port, proc)):
                return r
            r.stop()
            self.running.remove(r)
            tail = logfile.read_text(errors="replace").strip().splitlines()[-3:]
            log(f"bench: {spec.name} did not listen on {port} (try {attempt + 1}): {' | '.join(tail)}")
        return None


def _raise_exit(signum, frame):
    log(f"bench: {signal.Signals(signum).name}: stopping the servers")
    raise SystemExit(128 + signum)


def verify(r, docroot, names, work):
    """GET each file from r and compare it byte for byte with the docroot;
    the probes must answer 200 with 1024 bytes.  Returns '' or what is wrong.
    (http.client, not curl: a bundle's host may have no curl.)"""
    for name in names:
        conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=30)
        try:
            conn.request("GET", "/" + name)
            resp = conn.getresponse()
            if resp.status != 200:
                return f"GET /{name}: status {resp.status}"
            if r.spec.kind == "probe":
                ok = len(resp.read()) == 1024
            else:
                with open(docroot / name, "rb") as f:
                    while True:
                        chunk = resp.read(1 << 20)
                        ok = chunk == f.read(len(chunk)) if chunk else f.read(1) == b""
                        if not ok or not chunk:
                            break
        except (OSError, http.client.HTTPException) as e:
            return f"GET /{name}: {e!r}"
        finally:
            conn.close()
        if not ok:
            return f"GET /{name}: body differs from the file"
        if r.spec.kind == "probe":
            break
    return ""


def _https_get(r, name, ctx, session=None):
    """GET /name over HTTPS with Connection: close, read to the end; returns (status line,
    body, the TLS socket's facts).  Raw HTTP/1.1 on ssl, since http.client cannot hand
    a session over for resumption."""
    with socket.create_connection(("127.0.0.1", r.tls.port), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
            s.sendall(f"GET /{name} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            data = bytearray()
            while True:
                try:
                    chunk = s.recv(1 << 20)
                except ssl.SSLZeroReturnError:
                    break
                except (ssl.SSLEOFError, ConnectionResetError):
                    break  # a server that closes without close_notify: the length check below decides
                if not chunk:
                    break
                data += chunk
            facts = {"version": s.version(), "cipher": s.cipher()[0], "resumed": s.session_reused}
            session = s.session  # read after the response: TLS 1.3 tickets come after the handshake
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    return status, body, facts, session


def verify_tls(r, docroot, names):
    """Over r's HTTPS listener, verifying the certificate against the run's CA: GET each
    file and compare it with the docroot, then GET the first again offering the session
    of that connection.  Returns ('' or what is wrong, {version, cipher, resumes})."""
    ctx = ssl.create_default_context(cafile=str(r.tls.ca))
    info = {}
    try:
        session = None
        for name in names:
            status, body, facts, got = _https_get(r, name, ctx)
            if status.split(" ")[1:2] != ["200"]:
                return f"GET https /{name}: {status!r}", info
            if body != (docroot / name).read_bytes():
                return f"GET https /{name}: body differs from the file ({len(body)} bytes)", info
            info.update(version=facts["version"], cipher=facts["cipher"])
            session = session or got
        _, _, facts, _ = _https_get(r, names[0], ctx, session)
        info["resumes"] = facts["resumed"]
    except (OSError, ssl.SSLError) as e:
        return f"HTTPS: {e!r}", info
    if info.get("version") != "TLSv1.3":
        return f"HTTPS negotiated {info.get('version')}, not TLSv1.3", info
    return "", info


# How the peers send HTTPS bodies as configured here: none is given kTLS (nginx's
# ssl_conf_command Options KTLS, lighttpd's ssl.openssl.ssl-conf-cmd; h2o 2.2 has none).
PEER_TLS_BODY = "user space (SSL_write; kTLS not configured)"


def make_certs(directory, days=30):
    """A CA and an ECDSA P-256 leaf for localhost (and 127.0.0.1) in `directory`, made
    by tests/e2e/tls_certs.py with the openssl command: (cert chain, key, ca), or
    (None, why) when that cannot be done here."""
    if shutil.which("openssl") is None:
        return None, "no openssl command to make the certificate"
    import importlib.util
    path = ROOT / "tests" / "e2e" / "tls_certs.py"
    spec = importlib.util.spec_from_file_location("tls_certs", path)
    if spec is None or not path.is_file():
        return None, f"{path} not found"
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    try:
        cert, key = mod.make_leaf(str(directory), "localhost", days=days)
    except RuntimeError as e:
        return None, str(e)
    return (Path(cert), Path(key), Path(directory) / "ca.crt"), ""


def tls_files(work):
    """(cert chain, key, ca) for the HTTPS cases: a bundle's certs/ (made when it was
    built: its host may have no openssl), else new ones in work/certs; or (None, why)."""
    if BUNDLE:
        d = BUNDLE / "certs"
        files = (d / "localhost.crt", d / "localhost.key", d / "ca.crt")
        if all(f.is_file() for f in files):
            return files, ""
        return None, f"{d} lacks localhost.crt, localhost.key or ca.crt"
    return make_certs(work / "certs")


def tls_body_path(r):
    """splicehttpd's own line on how HTTPS bodies are sent (kTLS or user space), from
    its start-up log; '' when it wrote none."""
    try:
        lines = r.logfile.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in lines:
        if "HTTPS" in line and ("kernel TLS" in line or "kTLS" in line):
            return line.split(" info ", 1)[-1].strip()
    return ""


def check_https(r, docroot, names):
    """What tools/bench and tools/syscalls both ask of a server started with an HTTPS
    listener before measuring over it: verify_tls, then how it sends bodies (splicehttpd's
    start line; the peers' configuration).  Returns ('' or what is wrong, {version,
    cipher, resumes, body_path}) and logs the facts."""
    why, info = verify_tls(r, docroot, names)
    if why:
        return why, info
    info["body_path"] = (tls_body_path(r) or "not logged") if r.name == "splicehttpd" else PEER_TLS_BODY
    log(f"bench: {r.name} HTTPS on port {r.tls.port}: {info['version']} {info['cipher']}, "
        f"resumes a session: {'yes' if info['resumes'] else 'no'}; {info['body_path']}")
    return "", info


def check_pinning(r, cpus):
    """'' if every task of r's tree may run on `cpus` (a CPU or a list) only, else a description."""
    want = {cpus} if isinstance(cpus, int) else set(cpus)
    bad = {}
    for comm, lists in tree_affinities(r.pid).items():
        for text in lists:
            try:
                ok = set(parse_cpu_list(text)) == want
            except ValueError:
                ok = False
            if not ok:
                bad.setdefault(comm, []).append(text)
    return "" if not bad else f"tasks not pinned to CPU {format_cpu_list(want)}: {bad}"


def require(tools):
    missing = [t for t in tools if not have(t)]
    if missing:
        sys.exit(f"bench: missing {', '.join(missing)} (tools/bench and tools/syscalls install them)")
