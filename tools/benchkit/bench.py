"""tools/bench: splicehttpd side by side with nginx, h2o and lighttpd (and the
io_uring ceiling probes of ../shared/bench), same files, same placement on CPUs.

Run it through tools/bench, which installs the packages and builds
build-bench/ first, or as DIR/run from a bundle (tools/bench --bundle DIR).
A benchmark, never a timed test: numbers depend on the machine and on
whatever else runs on it.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import servers as S  # noqa: E402

FILES = {"1k.bin": 1024, "64k.bin": 64 << 10, "1m.bin": 1 << 20, "64m.bin": 64 << 20}

# id: (file, connections, Connection: close, default seconds, what it measures, HTTPS)
# (connections are per worker: --workers N multiplies them, --conns replaces them)
CASES = {
    "1k-ka": ("1k.bin", 50, False, 5, "1 KiB, keep-alive: per-request overhead", False),
    "64k-ka": ("64k.bin", 50, False, 5, "64 KiB, keep-alive: medium bodies", False),
    "1m-ka": ("1m.bin", 10, False, 5, "1 MiB, keep-alive: bulk transfer", False),
    "64m-ka": ("64m.bin", 4, False, 15, "64 MiB, keep-alive: streaming (few requests, so longer)", False),
    "1k-close": ("1k.bin", 50, True, 5, "1 KiB, Connection: close: accept/close cost", False),
    "tls-1k-ka": ("1k.bin", 50, False, 5, "HTTPS, 1 KiB, keep-alive: per-request overhead with TLS records", True),
    "tls-1m-ka": ("1m.bin", 10, False, 5, "HTTPS, 1 MiB, keep-alive: bulk encryption", True),
    "tls-1k-close": ("1k.bin", 50, True, 5,
                     "HTTPS, 1 KiB, Connection: close: a (resumed) TLS handshake per request", True),
}
# --cases shorthands
CASE_GROUPS = {"plain": [c for c, v in CASES.items() if not v[5]], "tls": [c for c, v in CASES.items() if v[5]]}
# The probe that is the "limit" for each 1 KiB case (they answer 1 KiB to anything).
CEILING_PROBE = {"1k-ka": "ceiling", "1k-close": "ceiling_close"}

# A side is saturated when it was busy this share of the cores it was given.  The
# server is the limit (a ratio means something) when it was saturated, or when wrk
# was not: then wrk's CPU did not hold the rate down.  Else the row is client-bound.
SATURATED_PCT = 90.0


def limit_of(server_busy_pct, client_busy_pct):
    return "server" if server_busy_pct >= SATURATED_PCT or client_busy_pct < SATURATED_PCT else "client"


def contended(row):
    """Other processes took 10 % or more of the server's CPUs and the server did not fill
    them: the rate is the shared machine's, whichever side the rule names."""
    busy = row.get("server_busy_pct", row.get("server_cpu_pct", 0))
    return row.get("server_core_other_pct", 0) >= 10 and busy < SATURATED_PCT


def row_limit(row):
    """'server' or 'client'; results from before the placement flags had one server CPU and
    one wrk thread, and their CPU % (of one core) are then the same shares."""
    if "limit" in row:
        return row["limit"]
    return limit_of(row["server_cpu_pct"], row["client_cpu_pct"])

WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.stderr:write(string.format(
    'WRKJSON {"requests":%d,"bytes":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"lat_p50_us":%d,"lat_p99_us":%d,"lat_mean_us":%.1f}\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def parse_args(argv, bundle=None):
    p = argparse.ArgumentParser(prog=f"{bundle}/run" if bundle else "tools/bench",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="cases:\n" + "\n".join(f"  {k:12} {v[4]} ({v[1]} connections, {v[3]} s)"
                                                            for k, v in CASES.items()))
    p.add_argument("--cases", default="plain",
                   help="comma-separated case ids, or 'plain' (the five over HTTP, the default) or 'tls' "
                        "(the three over HTTPS)")
    p.add_argument("--tls", action="store_true",
                   help="add the HTTPS cases (tls-1k-ka,tls-1m-ka,tls-1k-close) to --cases; the ceiling "
                        "probes have no TLS and are left out of them")
    p.add_argument("--servers", default="splicehttpd,nginx,nginx+aes128,h2o,lighttpd,ceiling",
                   help="comma-separated subset of splicehttpd,nginx,nginx+aes128,h2o,lighttpd,ceiling "
                        "(nginx+aes128: nginx choosing the cipher as splicehttpd does, in the HTTPS cases only; "
                        "not counted as a peer)")
    p.add_argument("--secs", "--seconds", dest="secs", type=int,
                   help="seconds of every case (default: 5, 15 for 64m-ka)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of unmeasured load before each measurement")
    p.add_argument("--reps", type=int, default=1, help="repetitions; the median by rps is reported")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 s per case, no warm-up, one repetition")
    default_out = Path(bundle) / "results" if bundle else S.ROOT / "bench"
    p.add_argument("--out", default=str(default_out), help=f"output directory (default: {default_out})")
    g = p.add_argument_group("placement (defaults: see docs/BENCHMARKS.md)")
    g.add_argument("--workers", type=int, default=1, metavar="N",
                   help="workers of every server: splicehttpd --threads N, nginx worker_processes N, h2o "
                        "num-threads N, lighttpd server.max-worker N (default 1; the ceiling probes run "
                        "only with 1)")
    g.add_argument("--server-cpus", metavar="LIST", help="CPUs of the servers, e.g. 0-3 (default: the first N)")
    g.add_argument("--client-cpus", metavar="LIST",
                   help="CPUs of wrk, e.g. 8-15 (default: with 8+ CPUs up to max(4, 2N) of the upper half, "
                        "else all the others)")
    g.add_argument("--wrk-threads", type=int, metavar="N",
                   help="wrk threads (default: one per client CPU; never more than a case's connections)")
    g.add_argument("--conns", type=int, metavar="N",
                   help="connections of every case (default: each case's own times --workers)")
    if not bundle:
        p.add_argument("--bundle", metavar="DIR",
                       help="write a self-contained copy of the benchmark (binaries, libraries, runner) "
                            "into DIR and run nothing; DIR/run measures on another x86-64 Linux host")
    S.add_splicehttpd_args(p, rev=not bundle)
    p.add_argument("--nice", type=int, default=0,
                   help="run servers and wrk at this nice value (e.g. -10 on a machine others use; default 0)")
    p.add_argument("--note", default="", help="free text stored with the results (e.g. 'shared busy machine')")
    p.add_argument("--replot", action="store_true", help="only rewrite results.md/png from OUT/results.json")
    p.add_argument("--metrics", action="store_true",
                   help="also run splicehttpd with --metrics-listen, its /metrics scraped 10 times a second (row "
                        "splicehttpd+metrics), and report what that costs")
    p.add_argument("--access-log", action="store_true",
                   help="also run splicehttpd and nginx with a combined-format access log to a file "
                        "(rows splicehttpd+log, nginx+log) and report what logging costs each")
    a = p.parse_args(argv)
    if bundle:
        a.bundle = None
    a.cases = [c for c in a.cases.split(",") if c] + (["tls"] if a.tls else [])
    a.cases = list(dict.fromkeys(x for c in a.cases for x in CASE_GROUPS.get(c, [c])))
    a.servers = [s for s in a.servers.split(",") if s]
    for flag in ("workers", "wrk_threads", "conns"):
        if getattr(a, flag) is not None and getattr(a, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be at least 1")
    for flag in ("server_cpus", "client_cpus"):
        if getattr(a, flag) is not None:
            try:
                setattr(a, flag, S.parse_cpu_list(getattr(a, flag)))
            except ValueError as e:
                p.error(f"--{flag.replace('_', '-')}: {e}")
    try:
        a.placement = S.placement(a.workers, a.server_cpus, a.client_cpus, a.wrk_threads)
    except ValueError as e:
        p.error(str(e))
    for c in a.cases:
        if c not in CASES:
            p.error(f"unknown case {c!r}; known: {', '.join(CASES)}, or {' / '.join(CASE_GROUPS)}")
    for s in a.servers:
        if s not in ("splicehttpd", "ceiling", *S.PEERS, *S.VARIANTS):
            p.error(f"unknown server {s!r}")
    if a.quick:
        a.secs, a.warmup, a.reps = a.secs or 1, 0, 1
    if a.reps < 1 or (a.secs is not None and a.secs < 1):
        p.error("--reps and --secs must be at least 1")
    return a


def machine_info():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    except OSError:
        pass
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "kernel": platform.release(),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
    }


def run_wrk(url, conns, secs, close, cpus, threads, lua, logf, nice):
    """wrk -tTHREADS pinned to `cpus`; returns (wrk's summary, wrk's CPU seconds, wall seconds).
    wrk's CPU time is its rusage once reaped: every thread of it, user and system."""
    cmd = [S.exe("wrk"), f"-t{threads}", f"-c{conns}", f"-d{secs}s", "--timeout", "10s", "-s", str(lua)]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append(url)
    ru0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=S.child_env(),
                            preexec_fn=S.pinned(cpus, nice))
    try:
        out, err = proc.communicate(timeout=secs + 60)
    except BaseException:  # interrupted or hung: no wrk left behind
        proc.kill()
        proc.wait()
        raise
    wall, ru1 = time.monotonic() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    logf.write(f"$ {' '.join(cmd)}  # on CPU {S.format_cpu_list(cpus)}\n{out}{err}\n")
    line = next((l for l in err.splitlines() if l.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}): {err.strip()[-300:]}")
    cpu_s = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
    return json.loads(line[len("WRKJSON "):]), cpu_s, wall


def measure(r, case, warmup, pl, lua, logf, nice):
    """One measured wrk run of `case` (a cases entry) against the running server r."""
    url, close, secs = r.url(case["file"], https=case.get("tls", False)), case["close"], case["secs"]
    conns, threads = case["conns"], case["wrk_threads"]
    server_cpus, client_cpus = pl.server_cpus, pl.client_cpus
    if warmup:
        run_wrk(url, conns, warmup, close, client_cpus, threads, lua, logf, nice)
    net0 = S.tcp_ext_counters()
    tasks0 = S.tree_task_ticks(r.pid)
    ticks0, sys0 = S.tree_cpu_ticks(r.pid), S.system_cpu_ticks()
    start = time.monotonic()
    w, wrk_cpu_s, wall = run_wrk(url, conns, secs, close, client_cpus, threads, lua, logf, nice)
    ticks1, sys1 = S.tree_cpu_ticks(r.pid), S.system_cpu_ticks()
    tasks1 = S.tree_task_ticks(r.pid)
    port = r.tls.port if case.get("tls") else r.port
    tw = S.time_wait_sides(port, start) if close else None  # right away: they last 60 s
    net1 = S.tcp_ext_counters()
    if r.proc.poll() is not None:
        raise RuntimeError(f"{r.name} exited during {case['id']} (status {r.proc.returncode}); see {r.logfile}")
    dur = w["duration_us"] / 1e6
    reqs = max(w["requests"], 1)
    busy_ticks = ticks1 - ticks0
    cpu_us = busy_ticks * 1e6 / S.CLK_TCK

    def cpus_delta(cpus, idx):  # idx 0: busy, 1: steal, 2: total ticks of those CPUs
        return sum(sys1[c][idx] - sys0[c][idx] for c in cpus)

    def share(cpus, ticks):  # percent of those CPUs' time over the run
        return 100.0 * ticks / max(cpus_delta(cpus, 2), 1)

    # busy in cores over the wall time of the wrk run (the span of both readings), and as
    # a share of the cores each side was given: its CPUs, or its workers / threads if
    # fewer (a thread runs on one core at a time; io-wq may take a server past 100 %)
    server_cores = busy_ticks / S.CLK_TCK / wall
    client_cores = wrk_cpu_s / wall
    server_given = min(len(server_cpus), pl.workers)
    client_given = min(len(client_cpus), threads)
    server_pct = 100.0 * server_cores / server_given
    client_pct = 100.0 * client_cores / client_given

    # thread breakdown: io-wq workers vs the rest; threads that exited meanwhile are "exited"
    by_kind = {"io-wq": 0, "threads": 0}
    for key, (comm, t1) in tasks1.items():
        t0 = tasks0.get(key, (comm, 0))[1]
        by_kind["io-wq" if comm.startswith("iou-wrk") else "threads"] += t1 - t0
    by_kind["exited"] = max(busy_ticks - by_kind["io-wq"] - by_kind["threads"], 0)
    row = {
        "rps": w["requests"] / dur,
        "mbps": w["bytes"] / dur / 1e6,
        "cpu_us_per_req": cpu_us / reqs,
        "server_busy_cores": server_cores,
        "server_busy_pct": server_pct,
        "server_cores_given": server_given,
        "client_busy_cores": client_cores,
        "client_busy_pct": client_pct,
        "client_cores_given": client_given,
        "limit": limit_of(server_pct, client_pct),
        # the same two in percent of one core, over wrk's own duration (older results have only these)
        "server_cpu_pct": 100.0 * cpu_us / 1e6 / dur,
        "client_cpu_pct": 100.0 * wrk_cpu_s / dur,
        "requests": w["requests"],
        "bytes": w["bytes"],
        "duration_s": dur,
        "errors": {"non2xx3xx": w["status"], "socket": w["connect"] + w["read"] + w["write"] + w["timeout"],
                   "connect": w["connect"], "read": w["read"], "write": w["write"], "timeout": w["timeout"]},
        "latency_us": {"p50": w["lat_p50_us"], "p99": w["lat_p99_us"], "mean": w["lat_mean_us"]},
        "cpu_breakdown_us_per_req": {k: v * 1e6 / S.CLK_TCK / reqs for k, v in by_kind.items()},
        # noise indicators: what else ran on the server's CPUs, and hypervisor steal
        "server_core_other_pct": max(0.0, share(server_cpus, cpus_delta(server_cpus, 0) - busy_ticks)),
        "server_core_steal_pct": share(server_cpus, cpus_delta(server_cpus, 1)),
        "client_core_busy_pct": share(client_cpus, cpus_delta(client_cpus, 0)),
        "tcp_ext": {k: net1[k] - net0[k] for k in net1 if k in net0},
    }
    if tw is not None:
        row["time_wait"] = tw  # who closed first: {"server": n, "client": m}
    return row


def summarize(samples):
    """The median sample by rps (an actual run, so its numbers belong together)."""
    ordered = sorted(samples, key=lambda s: s["rps"])
    best = dict(ordered[(len(ordered) - 1) // 2])
    if len(samples) > 1:
        best["rps_samples"] = [round(s["rps"], 1) for s in samples]
        best["cpu_us_per_req_samples"] = [round(s["cpu_us_per_req"], 2) for s in samples]
    return best


def add_ratios(results):
    """Each server's rps and CPU efficiency relative to the best of nginx/h2o/lighttpd."""
    for case, rows in results.items():
        peers = {k: v for k, v in rows.items() if k in S.PEERS}
        if not peers:
            continue
        best_rps = max(peers.items(), key=lambda kv: kv[1]["rps"])
        best_cpu = min(peers.items(), key=lambda kv: kv[1]["cpu_us_per_req"])
        for name, row in rows.items():
            row["rps_vs_best_peer"] = row["rps"] / best_rps[1]["rps"] if best_rps[1]["rps"] else None
            row["cpu_eff_vs_best_peer"] = (best_cpu[1]["cpu_us_per_req"] / row["cpu_us_per_req"]
                                           if row["cpu_us_per_req"] else None)
            row["best_peer_rps"], row["best_peer_cpu"] = best_rps[0], best_cpu[0]


# ---------------------------------------------------------------- reports

ORDER = ("splicehttpd", "splicehttpd+log", "splicehttpd+metrics", "nginx", "nginx+log", "nginx+aes128", "h2o",
         "lighttpd", "ceiling")
LOGGED = {"splicehttpd+log": "splicehttpd", "nginx+log": "nginx"}  # row with an access log: row without
SCRAPED = {"splicehttpd+metrics": "splicehttpd"}  # row with /metrics scraped: row without


def case_table(cases, names, cell, label=lambda n: n):
    """A markdown table: a row per name, a column per case, cell(name, case) in each."""
    lines = ["| server | " + " | ".join(c["id"] for c in cases) + " |",
             "| --- | " + " | ".join("---" for _ in cases) + " |"]
    for n in names:
        lines.append(f"| {label(n)} | " + " | ".join(cell(n, c) for c in cases) + " |")
    return lines


def fmt_ratio(x):
    return "–" if x is None else f"{x:.2f}×"


def fmt_busy(row, side):
    """'0.98 (98 % of 1)': cores busy, and the share of the cores that side was given."""
    if f"{side}_busy_cores" not in row:  # results from before placement: percent of one core
        return f"{row[f'{side}_cpu_pct']:.0f} % of a core"
    return f"{row[f'{side}_busy_cores']:.2f} ({row[f'{side}_busy_pct']:.0f} % of {row[f'{side}_cores_given']})"


def fmt_time_wait(row):
    """'975 / 13,851 · 0.74': TIME_WAIT on the server's / the client's side, and the client
    ports taken over from a TIME_WAIT per connection (TcpExt TWRecycled, machine-wide)."""
    tw, reused = row["time_wait"], row.get("tcp_ext", {}).get("TWRecycled")
    return f"{tw['server']:,} / {tw['client']:,}" + (
        f" · {reused / max(row['requests'], 1):.2f}" if reused is not None else "")


def placement_text(m):
    if "server_cpus" not in m:  # results from before the placement flags
        return f"servers pinned to CPU {m['server_cpu']}, wrk (1 thread) to CPU {m['client_cpu']}"
    workers = m.get("workers", 1)
    return (f"servers on CPU {S.format_cpu_list(m['server_cpus'])} ({workers} worker{'s' if workers > 1 else ''}), "
            f"wrk -t{m['wrk_threads']} on CPU {S.format_cpu_list(m['client_cpus'])}")


def write_markdown(data, path):
    m, res = data["meta"], data["results"]
    lines = [f"# tools/bench results, {m['date']}", "",
             f"Kernel {m['kernel']}, {m['nproc']} CPUs ({m['cpu_model']}); {placement_text(m)}; "
             f"load average {' '.join(m['loadavg_at_start'])} at start"
             + (f", {' '.join(m['loadavg_at_end'])} at end" if m.get("loadavg_at_end") else "") + "; "
             f"{m['reps']} repetition(s), median by rps; warm-up {m['warmup_s']} s"
             + (f"; servers and wrk at nice {m['nice']}" if m.get("nice") else "")
             + (f"; run from a bundle made {m['bundle']['made']} on {m['bundle']['host']}" if m.get("bundle") else "")
             + ".", ""]
    if m.get("note"):
        lines += [f"**Note:** {m['note']}", ""]
    if m.get("quick"):
        lines += ["**Quick smoke run: durations too short for real numbers.**", ""]
    cases = [c for c in data["cases"] if c["id"] in res]
    names = [n for n in ORDER if any(n in res[c["id"]] for c in cases)]
    threshold = m.get("saturated_pct", SATURATED_PCT)

    def ratio_cell(n, c):
        row = res[c["id"]].get(n)
        if row is None:
            return ""
        peer = res[c["id"]].get(row.get("best_peer_rps"))
        if row_limit(row) == "client":
            # Client-bound yet past a server-bound best peer: the server had
            # CPU to spare at more req/s than the peer's saturation gave, so
            # the ratio is a floor (its CPU per request, below saturation,
            # is not compared).
            r = row.get("rps_vs_best_peer")
            if peer and row_limit(peer) != "client" and r is not None and r > 1:
                return f"≥ {fmt_ratio(r)} (client-bound)"
            return "client-bound"
        mark = (" †" if peer and row_limit(peer) == "client" else "") + (" ‡" if contended(row) else "")
        return f"{fmt_ratio(row.get('rps_vs_best_peer'))} / {fmt_ratio(row.get('cpu_eff_vs_best_peer'))}{mark}"
    lines += ["## Ratio to the best peer (best of nginx/h2o/lighttpd)", "",
              "req/s ratio, then CPU efficiency ratio (best peer's CPU µs per request ÷ this server's): "
              "above 1 is better than every peer. "
              f"Shown only where the server was the limit: busy ≥ {threshold:.0f} % of its cores, or wrk below "
              f"{threshold:.0f} % of its own; \"client-bound\" where wrk's cores were full first (the ratio would "
              "measure the client); \"≥ r (client-bound)\" where wrk was full first at r times the req/s of a best "
              "peer that was itself the limit: the server had CPU to spare there, so r is a floor. † the peer with the best req/s was client-bound itself: its req/s is less "
              "than it could do. ‡ other processes took 10 % or more of the server's CPUs: the numbers are the "
              "shared machine's."
              + (" nginx+aes128 is nginx choosing the cipher as splicehttpd does (the server's order, AES-128-GCM "
                 "first): not a peer here, its row reads against the same best peer; splicehttpd ÷ nginx+aes128 "
                 "is the ratio with the cipher held equal." if "nginx+aes128" in names else ""), ""]
    lines += case_table(cases, names, ratio_cell)
    lines += ["", "## All numbers", "",
              "Busy: cores (CPU time ÷ wall time of the run), and % of the cores that side was given (its "
              "CPUs, or its workers / wrk threads if fewer). TIME_WAIT (`Connection: close` cases): sockets "
              "left in TIME_WAIT by the run, on the server's side (it closed first) / on the client's, then "
              "client ports taken over from a TIME_WAIT per request (TWRecycled).", "",
              "| case | server | req/s | MB/s | CPU µs/req | of which io-wq | server busy | wrk busy | limit | "
              "TIME_WAIT server / client · reused | p99 ms | errors (non-2xx/3xx, socket) | other load on server CPUs % |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |"]
    for c in cases:
        for n in names:
            row = res[c["id"]].get(n)
            if row is None:
                continue
            e, tw = row["errors"], row.get("time_wait")
            lines.append(f"| {c['id']} | {n} | {row['rps']:,.0f} | {row['mbps']:,.1f} | {row['cpu_us_per_req']:.2f} | "
                         f"{row['cpu_breakdown_us_per_req']['io-wq']:.2f} | "
                         f"{fmt_busy(row, 'server')} | {fmt_busy(row, 'client')} | {row_limit(row)}{' ‡' if contended(row) else ''} | "
                         + (fmt_time_wait(row) if tw else "") + " | "
                         f"{row['latency_us']['p99'] / 1000:.2f} | "
                         f"{e['non2xx3xx']}, {e['socket']} | {row['server_core_other_pct']:.0f} |")
    def cost_section(base_of, title, text):
        """Each row of base_of against its base row in the same run: req/s with ÷ without,
        and the CPU µs per request the difference adds."""
        rows = [n for n in base_of if n in names and base_of[n] in names]
        if not rows:
            return []

        def cell(n, c):
            on, off = res[c["id"]].get(n), res[c["id"]].get(base_of[n])
            if not on or not off or not off["rps"]:
                return ""
            return (f"{on['rps'] / off['rps']:.2f}× req/s, "
                    f"{on['cpu_us_per_req'] - off['cpu_us_per_req']:+.2f} µs/req")
        return ["", f"## {title}", "", text, ""] + case_table(cases, rows, cell, label=base_of.get)

    lines += cost_section(LOGGED, "Access log cost",
                          "Each server with a combined-format access log written to a file, against itself without "
                          "one in the same run: req/s with the log ÷ without, and the CPU µs per request it adds.")
    lines += cost_section(SCRAPED, "/metrics cost",
                          "splicehttpd with --metrics-listen, its /metrics scraped 10 times a second "
                          f"({m.get('scrapes', '?')}), against itself without in the same run: req/s with ÷ "
                          "without, and the CPU µs per request it adds (answering the scrapes included).")

    def case_text(c):
        conns = c.get("conns")
        wrk = f", wrk -t{c['wrk_threads']}" if c.get("wrk_threads") not in (None, m.get("wrk_threads")) else ""
        return f"`{c['id']}` {c['what']} ({c['secs']} s" + (f", {conns} connections" if conns else "") + f"{wrk})"
    tls_rows = [n for n in names if n in m.get("tls", {})]
    if tls_rows and any(c.get("tls") for c in cases):
        lines += ["", "## HTTPS", "",
                  "The `tls-` cases: every server with the same ECDSA P-256 certificate, TLS 1.3 as negotiated "
                  "with a Python client that checks the certificate, session tickets / resumption as each ships. "
                  "\"resumes\": a second connection offering the first one's session was resumed (wrk keeps each "
                  "connection's session across its reconnects, so in `tls-1k-close` such a server does "
                  "resumptions, not full handshakes). Body path: how the server sent the bodies (splicehttpd's "
                  "own start-up line).", "",
                  "| server | protocol | cipher | resumes | body path |", "| --- | --- | --- | --- | --- |"]
        for n in tls_rows:
            t = m["tls"][n]
            lines.append(f"| {n} | {t['version']} | {t['cipher']} | {'yes' if t['resumes'] else 'no'} | "
                         f"{t['body_path']} |")
    lines += ["", "Cases: " + "; ".join(case_text(c) for c in cases) + ".", "",
              "Versions: " + "; ".join(f"{k}: {v}" for k, v in m["versions"].items()) + "."]
    if m.get("skipped"):
        lines += ["", "Skipped: " + "; ".join(f"{k}: {v}" for k, v in m["skipped"].items()) + "."]
    if m.get("warnings"):
        lines += ["", "Warnings: " + "; ".join(m["warnings"]) + "."]
    path.write_text("\n".join(lines) + "\n")


def write_chart(data, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        S.log(f"bench: no chart ({e}); install python3-matplotlib")
        return False
    res = data["results"]
    cases = [c["id"] for c in data["cases"] if c["id"] in res]
    names = [n for n in ORDER if any(n in res[c] for c in cases)]
    colors = {"splicehttpd": "#d62728", "splicehttpd+log": "#f5a3a3", "splicehttpd+metrics": "#c49c94", "nginx": "#2ca02c", "nginx+log": "#a6dba0",
              "nginx+aes128": "#74c476",
              "h2o": "#1f77b4", "lighttpd": "#ff7f0e", "ceiling": "#7f7f7f"}
    fig, axes = plt.subplots(2, 1, figsize=(10, 7.5), sharex=True)
    width = 0.8 / max(len(names), 1)
    for ax, key, title in ((axes[0], "rps_vs_best_peer", "requests/s ÷ best peer's"),
                           (axes[1], "cpu_eff_vs_best_peer", "CPU efficiency (best peer's CPU µs/req ÷ this)")):
        for i, n in enumerate(names):
            xs, ys, pale = [], [], []
            for j, c in enumerate(cases):
                v = res[c].get(n, {}).get(key)
                if v is not None:
                    xs.append(j + (i - (len(names) - 1) / 2) * width)
                    ys.append(v)
                    pale.append(row_limit(res[c][n]) == "client")
            bars = ax.bar(xs, ys, width, label=n, color=colors.get(n),
                          hatch="//" if n == "ceiling" else None, edgecolor="white" if n == "ceiling" else None)
            for b, y, cb in zip(bars, ys, pale):
                if cb:  # wrk was the limit: the ratio measures the client
                    b.set_alpha(0.3)
                ax.annotate(f"{y:.2f}" + ("\ncb" if cb else ""), (b.get_x() + b.get_width() / 2, y),
                            ha="center", va="bottom", fontsize=7)
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_ylabel(title)
        ax.grid(axis="y", alpha=0.3)
    axes[1].set_xticks(range(len(cases)), cases)
    axes[0].legend(ncol=len(names), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    m = data["meta"]
    title = (f"tools/bench, {m['date'][:10]}, kernel {m['kernel']}, {m['nproc']} CPUs; {placement_text(m)}"
             + (" (quick smoke run)" if m.get("quick") else "")
             + ("\npale bars, \"cb\": client-bound, wrk was the limit" if any(
                 row_limit(r) == "client" for rows in res.values() for r in rows.values()) else ""))
    if m.get("note"):
        title += "\n" + textwrap.fill(m["note"], 140)
    fig.suptitle(title, fontsize=9, y=0.995)
    fig.tight_layout()
    fig.subplots_adjust(top=0.99 - 0.022 * (title.count("\n") + 1) - 0.05)  # title lines, then the legend
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_reports(data, out):
    write_markdown(data, out / "results.md")
    chart = write_chart(data, out / "results.png")
    S.log(f"bench: wrote {out / 'results.json'}, {out / 'results.md'}" + (f", {out / 'results.png'}" if chart else ""))


# ---------------------------------------------------------------- main

def raise_nofile(need):
    """Let the servers and wrk have `need` descriptors (children inherit the limit);
    only raised when the cases need it, since splicehttpd sizes its tables from it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need if hard == resource.RLIM_INFINITY else min(need, hard), hard))


def main(argv, bundle=None):
    """bundle: the directory of a bundle this runs from (its run script says so)."""
    a = parse_args(argv, bundle)
    out = Path(a.out)
    if a.replot:
        data = json.loads((out / "results.json").read_text())
        write_reports(data, out)
        return 0
    if a.bundle:
        import bundle as B  # noqa: E402 (only the bundle's maker needs it)
        return B.make(Path(a.bundle), a)
    S.require(["wrk"])
    pl = a.placement
    meta = machine_info()
    meta.update(server_cpus=pl.server_cpus, client_cpus=pl.client_cpus, wrk_threads=pl.wrk_threads,
                workers=pl.workers, saturated_pct=SATURATED_PCT, reps=a.reps, warmup_s=a.warmup, quick=a.quick,
                nice=a.nice, note=a.note, versions={}, skipped={}, warnings=list(pl.notes))
    if bundle:
        made = S.bundle_manifest()
        meta["bundle"] = {"made": made.get("made", "?"), "host": made.get("host", "?")}
    cases = []
    for c in a.cases:
        conns = a.conns or CASES[c][1] * pl.workers
        cases.append({"id": c, "file": CASES[c][0], "size": FILES[CASES[c][0]], "conns": conns,
                      "wrk_threads": min(pl.wrk_threads, conns), "close": CASES[c][2],
                      "secs": a.secs or CASES[c][3], "what": CASES[c][4], "tls": CASES[c][5]})
    raise_nofile(max(c["conns"] for c in cases) * 2 + 64)
    if any(c["close"] and c["secs"] > S.TIME_WAIT_S - 5 for c in cases):
        meta["warnings"].append(f"TIME_WAIT counts cover only the last {S.TIME_WAIT_S} s of a run "
                                "(older ones have expired when they are counted)")
    S.log(f"bench: {pl.describe()}" + "".join(f"; {n}" for n in pl.notes))

    specs = {}
    if "splicehttpd" in a.servers:
        specs["splicehttpd"] = S.splicehttpd_spec(a)
    if a.access_log:
        for name, spec in S.log_specs(a).items():
            if name == "nginx+log" and not S.have("nginx"):
                meta["skipped"][name] = "not installed"
            else:
                specs[name] = spec
    if a.metrics:
        specs["splicehttpd+metrics"] = S.splicehttpd_spec(a, metrics=True)
    for name, spec in S.peer_specs().items():
        if name in S.VARIANTS and not any(c["tls"] for c in cases):
            continue  # a variant has rows in the HTTPS cases only
        if name in a.servers:
            if not S.have(S.VARIANTS.get(name, name)):
                meta["skipped"][name] = "not in the bundle" if bundle else "not installed"
            else:
                specs[name] = spec
    probes = {}
    if "ceiling" in a.servers and any(c["id"] in CEILING_PROBE for c in cases):
        for probe in sorted(set(CEILING_PROBE[c["id"]] for c in cases if c["id"] in CEILING_PROBE)):
            exe, why = S.probe_exe(probe)
            if exe is not None and pl.workers > 1:
                exe, why = None, f"one thread only (the probe has no worker setting): --workers {pl.workers}"
            if exe is None:
                meta["skipped"][probe] = why
                S.log(f"bench: no ceiling row from {probe}: {why}")
            else:
                probes[probe] = S.probe_spec(probe, exe)

    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="splicehttpd-bench-"))
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    results = {c["id"]: {} for c in cases}
    samples = {}
    try:
        docroot = S.make_docroot(work / "docroot", {c["file"]: c["size"] for c in cases})
        tls = None
        tls_names = sorted({c["file"] for c in cases if c["tls"]})
        if tls_names:
            tls, why = S.tls_files(work)
            if tls is None:
                for c in [c for c in cases if c["tls"]]:
                    meta["skipped"][c["id"]] = why
                    cases.remove(c)
                    del results[c["id"]]
                S.log(f"bench: no HTTPS cases: {why}")
            else:
                meta["tls"] = {}
        lua = work / "report.lua"
        lua.write_text(WRK_LUA)
        with S.Fleet(work, docroot, pl.server_cpus, a.nice, pl.workers, tls) as fleet, \
                open(logs / "wrk.log", "w") as logf:
            running = {}
            scrapers = []
            for name, spec in {**specs, **probes}.items():
                r = fleet.start(spec)
                if r is None:
                    meta["skipped"][name] = f"did not start; see {work / name}"
                    continue
                why = S.verify(r, docroot, sorted({c["file"] for c in cases}), work)
                if why:
                    meta["skipped"][name] = f"failed the content check: {why}"
                    S.log(f"bench: skipping {name}: {why}")
                    r.stop()
                    continue
                if r.tls:
                    why, info = S.check_https(r, docroot, tls_names)
                    if why:
                        meta["skipped"][f"{name} over HTTPS"] = why
                        S.log(f"bench: no HTTPS rows of {name}: {why}")
                        r.tls = None
                    else:
                        meta["tls"][name] = info
                pin = S.check_pinning(r, pl.server_cpus)
                if pin:
                    meta["warnings"].append(f"{name}: {pin}")
                meta["versions"][name] = spec.version
                running[name] = r
                if name in SCRAPED:
                    url = S.metrics_url(r)
                    if url is None:
                        meta["warnings"].append(f"{name}: no metrics URL in its start line")
                    else:
                        scraper = S.Scraper(url)
                        scraper.start()
                        scrapers.append(scraper)
                S.log(f"bench: {name} on port {r.port}, pid {r.pid}")

            plan = []  # (case, row name, running server)
            for c in cases:
                for name in ORDER:
                    if name == "ceiling":
                        probe = CEILING_PROBE.get(c["id"])
                        if probe in running:
                            plan.append((c, name, running[probe]))
                    elif name in running and (running[name].tls if c["tls"] else name not in S.VARIANTS):
                        plan.append((c, name, running[name]))
            total = sum(c["secs"] + a.warmup for c, _, _ in plan) * a.reps
            S.log(f"bench: {len(plan) * a.reps} measurements, about {total // 60} min {total % 60} s")
            for rep in range(a.reps):
                for c in cases:
                    rows = [p for p in plan if p[0] is c]
                    rows = rows[rep % len(rows):] + rows[:rep % len(rows)] if rows else rows  # rotate the order
                    for _, name, r in rows:
                        s = measure(r, c, a.warmup, pl, lua, logf, a.nice)
                        samples.setdefault((c["id"], name), []).append(s)
                        tw = s.get("time_wait")
                        S.log(f"bench: {c['id']:9} {name:12} {s['rps']:>10,.0f} req/s {s['mbps']:>8,.1f} MB/s "
                              f"{s['cpu_us_per_req']:>7.2f} CPU µs/req  busy: server {s['server_busy_cores']:.2f}, "
                              f"wrk {s['client_busy_cores']:.2f} cores ({s['limit']}-bound)"
                              + (f"  TIME_WAIT {tw['server']}/{tw['client']}" if tw else "")
                              + f"  errors {s['errors']['non2xx3xx']}/{s['errors']['socket']}"
                              f"  other load on server CPUs {s['server_core_other_pct']:.0f}%")
            for (case, name), ss in samples.items():
                results[case][name] = summarize(ss)
                if name == "ceiling":
                    results[case][name]["probe"] = CEILING_PROBE[case]
                if name in meta.get("tls", {}) and CASES[case][5]:
                    results[case][name]["tls_body_path"] = meta["tls"][name]["body_path"]
                    results[case][name]["tls_resumes"] = meta["tls"][name]["resumes"]
            for name, r in running.items():
                if r.proc.poll() is not None:
                    meta["warnings"].append(f"{name} had exited by the end")
            for scraper in scrapers:
                scraper.halt.set()
                scraper.join(10)
                meta["scrapes"] = f"{scraper.ok:,} scrapes answered, {scraper.failed} failed"
                if scraper.failed:
                    meta["warnings"].append(f"/metrics: {scraper.failed} scrapes failed")
    finally:
        for p in work.glob("*/*error.log"):
            shutil.copy(p, logs / p.name)
        shutil.rmtree(work, ignore_errors=True)

    add_ratios(results)
    overflow = sum(r.get("tcp_ext", {}).get("TCPTimeWaitOverflow", 0) for rows in results.values() for r in rows.values())
    if overflow:
        meta["warnings"].append(f"{overflow} TIME_WAIT sockets were not kept (TCPTimeWaitOverflow: "
                                "net.ipv4.tcp_max_tw_buckets was reached), so the TIME_WAIT counts are short")
    noisy = sum(1 for rows in results.values() for r in rows.values() if contended(r))
    if noisy:
        meta["warnings"].append(f"other processes took 10 % or more of the server's CPUs in {noisy} row(s) (‡): "
                                "measure on a quiet machine")
    meta["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
    data = {"meta": meta, "cases": cases, "results": results}
    (out / "results.json").write_text(json.dumps(data, indent=1) + "\n")
    write_reports(data, out)
    print((out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
