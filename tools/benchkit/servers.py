"""What tools/bench and tools/syscalls share: the servers under test, their
generated configs, start/stop on free loopback ports, pinning, and CPU
accounting of a server's whole process tree.

Every server listens on 127.0.0.1 only, runs one worker, keeps no access log,
and writes its config, pid file and error log into the run's temp dir.
"""

import argparse
import filecmp
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
BENCH_BUILD = ROOT / "build-bench"
PEERS = ("nginx", "h2o", "lighttpd")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    """A port free now; the caller retries if another process takes it first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_pins():
    """(server CPU, client CPU): servers on CPU 0, the load generator on CPU 1.
    With one CPU both share it (and the numbers say little)."""
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (cpus[0], cpus[0])


def nice_prefix(nice):
    return ["nice", "-n", str(nice)] if nice else []


def capture(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
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

def nginx_config(work, docroot, port, access_log=False):
    conf = work / "nginx.conf"
    log = f"access_log {work}/access.log combined;" if access_log else "access_log off;"
    conf.write_text(f"""\
daemon off;
master_process on;
worker_processes 1;
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
    }}
}}
""")
    return ["nginx", "-p", str(work), "-e", f"{work}/nginx-error.log", "-c", str(conf)]


def h2o_config(work, docroot, port):
    # h2o 2.2 has no sendfile: it answers files with pread + writev.
    conf = work / "h2o.conf"
    conf.write_text(f"""\
num-threads: 1
user: root
pid-file: {work}/h2o.pid
error-log: {work}/h2o-error.log
listen:
  host: 127.0.0.1
  port: {port}
hosts:
  default:
    paths:
      /:
        file.dir: {docroot}
""")
    return ["h2o", "-c", str(conf)]


def lighttpd_config(work, docroot, port):
    # server.max-worker stays at its default 0: one process.  Its default
    # max-keep-alive-requests (1000) would reconnect like nginx's.
    conf = work / "lighttpd.conf"
    conf.write_text(f"""\
server.document-root = "{docroot}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{work}/lighttpd-error.log"
server.network-backend = "sendfile"
server.max-keep-alive-requests = 1000000
server.max-fds = 16384
server.max-connections = 4096
mimetype.assign = ( ".bin" => "application/octet-stream" )
""")
    return ["lighttpd", "-D", "-f", str(conf)]


class Spec:
    """How to start one server.  kind 'file' serves the docroot; kind 'probe'
    answers every request with the same 1 KiB body (the ceiling probes)."""

    def __init__(self, name, argv_for, version, kind="file", note=""):
        self.name, self.argv_for, self.version, self.kind, self.note = name, argv_for, version, kind, note


def add_splicehttpd_args(p):
    p.add_argument("--rev", help="measure this committed revision of splicehttpd, built apart from the "
                                 "work tree into build-bench/rev-SHA/ (default: the work tree, into build-bench/)")
    p.add_argument("--splicehttpd", metavar="PATH", help="measure this binary (no build)")
    p.add_argument("--label", help=argparse.SUPPRESS)
    p.add_argument("--server-args", default="", metavar="ARGS",
                   help="extra splicehttpd flags, one string (e.g. --server-args=--sqpoll)")


def splicehttpd_spec(args, access_log=False):
    """The splicehttpd under test: args.splicehttpd (set by the wrapper) or build-bench's.
    With access_log, the row "splicehttpd+log" writes a combined-format access log."""
    binary = Path(args.splicehttpd or BENCH_BUILD / "splicehttpd").resolve()
    if not os.access(binary, os.X_OK):
        sys.exit(f"bench: {binary} is not an executable (tools/bench and tools/syscalls build it)")
    version = args.label
    if not version:
        commit = capture(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"])
        dirty = capture(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--",
                         "src", "meson.build", "subprojects"])
        version = f"splicehttpd {commit}{' + uncommitted changes' if dirty else ''}"
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
                    lambda work, docroot, port: [binary, "--root", str(docroot), "--listen", "127.0.0.1",
                                                 "--port", str(port), "--threads", "1",
                                                 "--access-log", str(work / "access.log"), *extra],
                    version + " --access-log FILE")
    return Spec("splicehttpd",
                lambda work, docroot, port: [binary, "--root", str(docroot), "--listen", "127.0.0.1",
                                             "--port", str(port), "--threads", "1", *extra],
                version)


def log_specs(args):
    """The access-log rows: splicehttpd and nginx, each writing a combined log to a file."""
    return {
        "splicehttpd+log": splicehttpd_spec(args, access_log=True),
        "nginx+log": Spec("nginx+log", lambda work, docroot, port: nginx_config(work, docroot, port, True),
                          capture(["nginx", "-v"]).replace("nginx version: ", "") + " access_log combined"),
    }


def peer_specs():
    return {
        "nginx": Spec("nginx", nginx_config, capture(["nginx", "-v"]).replace("nginx version: ", "")),
        "h2o": Spec("h2o", h2o_config, capture(["h2o", "--version"]).splitlines()[0].replace(" version", "")),
        "lighttpd": Spec("lighttpd", lighttpd_config, capture(["lighttpd", "-v"]).split(" - ")[0]),
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


def probe_spec(name, exe):
    return Spec(name, lambda work, docroot, port: [str(exe), str(port)], f"{name}.c (../shared/bench)",
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
    def __init__(self, spec, proc, port, logfile):
        self.spec, self.proc, self.port, self.logfile = spec, proc, port, logfile
        self.stopped = False

    @property
    def name(self):
        return self.spec.name

    @property
    def pid(self):
        return self.proc.pid

    def url(self, path):
        return f"http://127.0.0.1:{self.port}/{path}"

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
    """The servers of one run: started pinned, each in its own session, all
    stopped when the fleet closes (normal exit, exception, SIGINT/SIGTERM)."""

    def __init__(self, work, docroot, cpu, nice=0):
        self.work, self.docroot, self.cpu, self.nice = work, docroot, cpu, nice
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
            argv = spec.argv_for(sdir, self.docroot, port)
            logfile = sdir / "stdout.log"
            with open(logfile, "ab") as out:
                proc = subprocess.Popen([*nice_prefix(self.nice), "taskset", "-c", str(self.cpu), *argv], cwd=sdir, stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            r = Running(spec, proc, port, logfile)
            self.running.append(r)
            if wait_listening(port, proc):
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
    """curl each file from r and compare it byte for byte with the docroot;
    the probes must answer 200 with 1024 bytes.  Returns '' or what is wrong."""
    for name in names:
        out = work / f"verify-{r.name}.bin"
        res = subprocess.run(["curl", "-sS", "--max-time", "30", "-o", str(out), "-w", "%{http_code}",
                              r.url(name)], capture_output=True, text=True)
        code = res.stdout.strip()
        if res.returncode != 0 or code != "200":
            return f"GET /{name}: curl exit {res.returncode}, status {code or '-'} {res.stderr.strip()}"
        if r.spec.kind == "probe":
            ok = out.stat().st_size == 1024
        else:
            ok = filecmp.cmp(out, docroot / name, shallow=False)
        out.unlink()
        if not ok:
            return f"GET /{name}: body differs from the file"
        if r.spec.kind == "probe":
            break
    return ""


def check_pinning(r, cpu):
    """'' if every task of r's tree may run on `cpu` only, else a description."""
    bad = {comm: sorted(s) for comm, s in tree_affinities(r.pid).items() if s != {str(cpu)}}
    return "" if not bad else f"tasks not pinned to CPU {cpu}: {bad}"


def require(tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        sys.exit(f"bench: missing {', '.join(missing)} (tools/bench and tools/syscalls install them)")
