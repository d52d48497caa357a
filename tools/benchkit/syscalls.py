"""tools/syscalls: syscalls per request of a server (splicehttpd by default,
nginx/h2o/lighttpd for comparison) on a 1 KiB file, counted with
`strace -f -c -p PID...` during `ab -k -c C -n N` (keep-alive) and `ab -c C -n N`
(a connection per request).  With --tls the same two runs go over HTTPS
(`ab ... https://127.0.0.1:PORT/1k.bin`) to every server set up as tools/bench's
tls- cases set it up: same listener configuration, same ECDSA certificate, the same
checks before counting.

strace stops the server at every syscall, so rates under it mean nothing;
only the counts do.  io_uring work done in the kernel (io-wq workers, task
work) is not a syscall and does not show: splicehttpd's ideal is one
io_uring_enter for many requests.
"""

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import shutil
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import servers as S  # noqa: E402

SERVERS = ("splicehttpd", *S.PEERS)
ROW = re.compile(r"^\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(\d+\s+)?(\S+)\s*$")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="tools/syscalls", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="splicehttpd",
                   help=f"comma-separated list of {', '.join(SERVERS)}, or 'all' (default: splicehttpd)")
    p.add_argument("-n", "--requests", type=int, default=20000, help="requests per ab run (default 20000)")
    p.add_argument("-c", "--concurrency", type=int, default=10, help="ab concurrency (default 10)")
    p.add_argument("--top", type=int, default=8, help="syscalls listed per run (default 8)")
    p.add_argument("--tls", action="store_true",
                   help="count over HTTPS: every server with the HTTPS listener and certificate of tools/bench's "
                        "tls- cases, ab to https://127.0.0.1:PORT/1k.bin (ab resumes no session: a full "
                        "handshake per connection)")
    p.add_argument("--out", help="also write the report (markdown) to this file")
    S.add_splicehttpd_args(p)
    a = p.parse_args(argv)
    a.servers = list(SERVERS) if a.server == "all" else [s for s in a.server.split(",") if s]
    for s in a.servers:
        if s not in SERVERS:
            p.error(f"unknown server {s!r}; known: {', '.join(SERVERS)}")
    if a.requests < 1 or a.concurrency < 1:
        p.error("-n and -c must be at least 1")
    return a


def parse_strace(text):
    """{syscall: (calls, errors)} from strace -c's table."""
    out = {}
    for line in text.splitlines():
        m = ROW.match(line)
        if m and m.group(6) != "total":
            out[m.group(6)] = (int(m.group(4)), int(m.group(5) or 0))
    return out


def ab(url, n, c, keepalive, cpu):
    cmd = ["taskset", "-c", str(cpu), "ab", "-q", "-r", "-n", str(n), "-c", str(c)] + (["-k"] if keepalive else []) + [url]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"ab failed: {r.stderr.strip()[-300:]}")

    def field(name):
        m = re.search(rf"^{re.escape(name)}:\s+(\d+)", r.stdout, re.M)
        return int(m.group(1)) if m else 0
    tls = re.search(r"^SSL/TLS Protocol:\s+(\S+)", r.stdout, re.M)
    return {"complete": field("Complete requests"), "failed": field("Failed requests"),
            "non2xx": field("Non-2xx responses"), "keepalive": field("Keep-Alive requests"),
            # "TLSv1.3,TLS_AES_256_GCM_SHA384,256,256": ab's own view of what it negotiated
            "tls": " ".join(tls.group(1).split(",")[:2]) if tls else ""}


def count(r, url, n, c, keepalive, cpu, work):
    """strace -f -c on every process of r's tree while ab runs."""
    out = work / f"strace-{r.name}-{'ka' if keepalive else 'close'}.txt"
    err = work / "strace.err"
    pids = S.tree_pids(r.pid)
    cmd = ["strace", "-f", "-c", "-o", str(out)]
    for pid in pids:
        cmd += ["-p", str(pid)]
    with open(err, "w") as ef:
        st = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=ef, start_new_session=True)
    try:
        # strace says "Process N attached" per thread (io-wq workers cannot be traced: they make no syscalls)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and st.poll() is None:
            if err.read_text().count("attached") >= len(pids):
                break
            time.sleep(0.1)
        time.sleep(0.3)
        if st.poll() is not None:
            raise RuntimeError(f"strace exited: {err.read_text().strip()[-300:]}")
        result = ab(url, n, c, keepalive, cpu)
        time.sleep(0.3)  # let the last closes reach the server
    finally:
        if st.poll() is None:
            st.send_signal(signal.SIGINT)
        try:
            st.wait(30)
        except subprocess.TimeoutExpired:
            st.kill()
            st.wait()
    calls = parse_strace(out.read_text()) if out.exists() else {}
    return result, calls


def ranked(calls):
    """calls' (syscall, (calls, errors)) pairs, the most frequent first."""
    return sorted(calls.items(), key=lambda kv: -kv[1][0])


def report(name, version, mode, n, c, result, calls, top, tls=None):
    """tls: check_https's facts of the server when the runs went over HTTPS."""
    total = sum(v[0] for v in calls.values())
    over = " over HTTPS" if tls is not None else ""
    lines = [f"### {name}{over}: ab {'-k ' if mode == 'keep-alive' else ''}-c {c} -n {n} ({mode})", "",
             f"{version}. {result['complete']} complete, {result['failed']} failed, {result['non2xx']} non-2xx"
             + (f", {result['keepalive']} on kept-alive connections" if mode == "keep-alive" else "") + ".", ""]
    if tls is not None:
        lines += [f"TLS: ab negotiated {result['tls'] or '(ab did not say)'}; "
                  f"server resumes a session: {'yes' if tls['resumes'] else 'no'} (ab offers none); "
                  f"bodies: {tls['body_path']}.", ""]
    lines += [f"**{total / n:.2f} syscalls per request** ({total} in all).", "",
              "| syscall | calls | per request | errors |", "| --- | ---: | ---: | ---: |"]
    for sc, (k, e) in ranked(calls)[:top]:
        lines.append(f"| {sc} | {k} | {k / n:.3f} | {e} |")
    if len(calls) > top:
        rest = ranked(calls)[top:]
        lines.append(f"| ({len(rest)} others) | {sum(v[0] for _, v in rest)} | "
                     f"{sum(v[0] for _, v in rest) / n:.3f} | |")
    return "\n".join(lines) + "\n"


def summary(counted, n, c, tls, top=4):
    """counted: {server: {mode: calls}}.  A row per server: the syscalls per request of
    each run and its `top` syscalls, the table docs/BENCHMARKS.md quotes."""
    def cell(calls):
        total = sum(v[0] for v in calls.values())
        return (f"**{total / n:.2f}**",
                ", ".join(f"{sc} {k / n:.2f}" for sc, (k, _) in ranked(calls)[:top] if k / n >= 0.005) or "–")
    lines = [f"## Syscalls per request{' over HTTPS' if tls else ''}: ab -c {c} -n {n}, 1 KiB", "",
             "| server | keep-alive (`ab -k`) | top syscalls per request | close (`ab`) | top syscalls per request |",
             "| --- | ---: | --- | ---: | --- |"]
    for name, runs in counted.items():
        ka, close = (cell(runs[m]) if m in runs else ("–", "–") for m in ("keep-alive", "close"))
        lines.append(f"| {name} | {ka[0]} | {ka[1]} | {close[0]} | {close[1]} |")
    return "\n".join(lines) + "\n"


def main(argv):
    a = parse_args(argv)
    S.require(["taskset", "strace", "ab", "curl"])
    specs = {}
    if "splicehttpd" in a.servers:
        specs["splicehttpd"] = S.splicehttpd_spec(a)
    peers = S.peer_specs()
    for s in a.servers:
        if s in peers:
            specs[s] = peers[s]
    server_cpu, client_cpu = S.cpu_pins()
    work = Path(tempfile.mkdtemp(prefix="splicehttpd-syscalls-"))
    parts, counted = [], {}
    try:
        docroot = S.make_docroot(work / "docroot", {"1k.bin": 1024})
        certs = None
        if a.tls:
            certs, why = S.tls_files(work)
            if certs is None:
                sys.exit(f"syscalls: no HTTPS: {why}")
        with S.Fleet(work, docroot, server_cpu, tls_files=certs) as fleet:
            for name, spec in specs.items():
                r = fleet.start(spec)
                if r is None:
                    parts.append(f"### {name}\n\ndid not start (see the log above).\n")
                    continue
                why = S.verify(r, docroot, ["1k.bin"], work)
                if why:
                    parts.append(f"### {name}\n\nfailed the content check: {why}\n")
                    r.stop()
                    continue
                tls = None
                if a.tls:
                    why, tls = S.check_https(r, docroot, ["1k.bin"])
                    if why:
                        parts.append(f"### {name}\n\nfailed the HTTPS check: {why}\n")
                        r.stop()
                        continue
                url = r.url("1k.bin", https=a.tls)
                ab(url, 500, a.concurrency, True, client_cpu)  # warm caches; not counted
                for mode in ("keep-alive", "close"):
                    S.log(f"syscalls: {name} {mode}, {a.requests} requests under strace")
                    result, calls = count(r, url, a.requests, a.concurrency, mode == "keep-alive", client_cpu, work)
                    counted.setdefault(name, {})[mode] = calls
                    parts.append(report(name, spec.version, mode, a.requests, a.concurrency, result, calls, a.top,
                                        tls))
                r.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    head = [summary(counted, a.requests, a.concurrency, a.tls)] if counted else []
    text = "\n".join(head + parts)
    print(text)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
