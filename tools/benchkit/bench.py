"""tools/bench: splicehttpd side by side with nginx, h2o and lighttpd (and the
io_uring ceiling probes of ../shared/bench), same files, same pinning.

Run it through tools/bench, which installs the packages and builds
build-bench/ first.  A benchmark, never a timed test: numbers depend on the
machine and on whatever else runs on it.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import servers as S  # noqa: E402

FILES = {"1k.bin": 1024, "64k.bin": 64 << 10, "1m.bin": 1 << 20, "64m.bin": 64 << 20}

# id: (file, connections, Connection: close, default seconds, what it measures)
CASES = {
    "1k-ka": ("1k.bin", 50, False, 5, "1 KiB, keep-alive, 50 connections: per-request overhead"),
    "64k-ka": ("64k.bin", 50, False, 5, "64 KiB, keep-alive, 50 connections: medium bodies"),
    "1m-ka": ("1m.bin", 10, False, 5, "1 MiB, keep-alive, 10 connections: bulk transfer"),
    "64m-ka": ("64m.bin", 4, False, 15, "64 MiB, keep-alive, 4 connections: streaming (few requests, so longer)"),
    "1k-close": ("1k.bin", 50, True, 5, "1 KiB, Connection: close, 50 connections: accept/close cost"),
}
# The probe that is the "limit" for each 1 KiB case (they answer 1 KiB to anything).
CEILING_PROBE = {"1k-ka": "ceiling", "1k-close": "ceiling_close"}

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


def parse_args(argv):
    p = argparse.ArgumentParser(prog="tools/bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="cases:\n" + "\n".join(f"  {k:9} {v[4]} ({v[3]} s)" for k, v in CASES.items()))
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated case ids (default: all five)")
    p.add_argument("--servers", default="splicehttpd,nginx,h2o,lighttpd,ceiling",
                   help="comma-separated subset of splicehttpd,nginx,h2o,lighttpd,ceiling")
    p.add_argument("--secs", type=int, help="seconds of every case (default: 5, 15 for 64m-ka)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of unmeasured load before each measurement")
    p.add_argument("--reps", type=int, default=1, help="repetitions; the median by rps is reported")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 s per case, no warm-up, one repetition")
    p.add_argument("--out", default=str(S.ROOT / "bench"), help="output directory (default: bench/)")
    S.add_splicehttpd_args(p)
    p.add_argument("--nice", type=int, default=0,
                   help="run servers and wrk at this nice value (e.g. -10 on a machine others use; default 0)")
    p.add_argument("--note", default="", help="free text stored with the results (e.g. 'shared busy machine')")
    p.add_argument("--replot", action="store_true", help="only rewrite results.md/png from OUT/results.json")
    p.add_argument("--access-log", action="store_true",
                   help="also run splicehttpd and nginx with a combined-format access log to a file "
                        "(rows splicehttpd+log, nginx+log) and report what logging costs each")
    a = p.parse_args(argv)
    a.cases = [c for c in a.cases.split(",") if c]
    a.servers = [s for s in a.servers.split(",") if s]
    for c in a.cases:
        if c not in CASES:
            p.error(f"unknown case {c!r}; known: {', '.join(CASES)}")
    for s in a.servers:
        if s not in ("splicehttpd", "ceiling", *S.PEERS):
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


def run_wrk(url, conns, secs, close, cpu, lua, logf, nice):
    """wrk (one thread) pinned to `cpu`; returns wrk's summary."""
    cmd = [*S.nice_prefix(nice), "taskset", "-c", str(cpu), "wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--timeout", "10s", "-s", str(lua)]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append(url)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=secs + 60)
    except BaseException:  # interrupted or hung: no wrk left behind
        proc.kill()
        proc.wait()
        raise
    logf.write(f"$ {' '.join(cmd)}\n{out}{err}\n")
    line = next((l for l in err.splitlines() if l.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}): {err.strip()[-300:]}")
    return json.loads(line[len("WRKJSON "):])


def measure(r, case, secs, warmup, pins, lua, logf, nice):
    fname, conns, close, _, _ = CASES[case]
    url = r.url(fname)
    server_cpu, client_cpu = pins
    if warmup:
        run_wrk(url, conns, warmup, close, client_cpu, lua, logf, nice)
    tasks0 = S.tree_task_ticks(r.pid)
    ticks0, sys0 = S.tree_cpu_ticks(r.pid), S.system_cpu_ticks()
    ru0 = os.times()
    w = run_wrk(url, conns, secs, close, client_cpu, lua, logf, nice)
    ru1 = os.times()
    ticks1, sys1 = S.tree_cpu_ticks(r.pid), S.system_cpu_ticks()
    tasks1 = S.tree_task_ticks(r.pid)
    if r.proc.poll() is not None:
        raise RuntimeError(f"{r.name} exited during {case} (status {r.proc.returncode}); see {r.logfile}")
    dur = w["duration_us"] / 1e6
    reqs = max(w["requests"], 1)
    busy_ticks = ticks1 - ticks0
    cpu_us = busy_ticks * 1e6 / S.CLK_TCK

    def share(cpu, ticks):  # percent of that CPU's time over the run
        return 100.0 * ticks / max(sys1[cpu][2] - sys0[cpu][2], 1)

    def sys_delta(cpu, idx):  # idx 0: busy, 1: steal
        return sys1[cpu][idx] - sys0[cpu][idx]

    # thread breakdown: io-wq workers vs the rest; threads that exited meanwhile are "exited"
    by_kind = {"io-wq": 0, "threads": 0}
    for key, (comm, t1) in tasks1.items():
        t0 = tasks0.get(key, (comm, 0))[1]
        by_kind["io-wq" if comm.startswith("iou-wrk") else "threads"] += t1 - t0
    by_kind["exited"] = max(busy_ticks - by_kind["io-wq"] - by_kind["threads"], 0)
    return {
        "rps": w["requests"] / dur,
        "mbps": w["bytes"] / dur / 1e6,
        "cpu_us_per_req": cpu_us / reqs,
        "server_cpu_pct": 100.0 * cpu_us / 1e6 / dur,
        "client_cpu_pct": 100.0 * (ru1.children_user + ru1.children_system
                                   - ru0.children_user - ru0.children_system) / dur,
        "requests": w["requests"],
        "bytes": w["bytes"],
        "duration_s": dur,
        "errors": {"non2xx3xx": w["status"], "socket": w["connect"] + w["read"] + w["write"] + w["timeout"],
                   "connect": w["connect"], "read": w["read"], "write": w["write"], "timeout": w["timeout"]},
        "latency_us": {"p50": w["lat_p50_us"], "p99": w["lat_p99_us"], "mean": w["lat_mean_us"]},
        "cpu_breakdown_us_per_req": {k: v * 1e6 / S.CLK_TCK / reqs for k, v in by_kind.items()},
        # noise indicators: what else ran on the server's CPU, and hypervisor steal
        "server_core_other_pct": max(0.0, share(server_cpu, sys_delta(server_cpu, 0) - busy_ticks)),
        "server_core_steal_pct": share(server_cpu, sys_delta(server_cpu, 1)),
        "client_core_busy_pct": share(client_cpu, sys_delta(client_cpu, 0)),
    }


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

ORDER = ("splicehttpd", "splicehttpd+log", "nginx", "nginx+log", "h2o", "lighttpd", "ceiling")
LOGGED = {"splicehttpd+log": "splicehttpd", "nginx+log": "nginx"}  # row with an access log: row without


def case_table(cases, names, cell, label=lambda n: n):
    """A markdown table: a row per name, a column per case, cell(name, case) in each."""
    lines = ["| server | " + " | ".join(c["id"] for c in cases) + " |",
             "| --- | " + " | ".join("---" for _ in cases) + " |"]
    for n in names:
        lines.append(f"| {label(n)} | " + " | ".join(cell(n, c) for c in cases) + " |")
    return lines


def fmt_ratio(x):
    return "–" if x is None else f"{x:.2f}×"


def write_markdown(data, path):
    m, res = data["meta"], data["results"]
    lines = [f"# tools/bench results, {m['date']}", "",
             f"Kernel {m['kernel']}, {m['nproc']} CPUs ({m['cpu_model']}); servers pinned to CPU {m['server_cpu']}, "
             f"wrk (1 thread) to CPU {m['client_cpu']}; load average {' '.join(m['loadavg_at_start'])} at start"
             + (f", {' '.join(m['loadavg_at_end'])} at end" if m.get("loadavg_at_end") else "") + "; "
             f"{m['reps']} repetition(s), median by rps; warm-up {m['warmup_s']} s"
             + (f"; servers and wrk at nice {m['nice']}" if m.get("nice") else "") + ".", ""]
    if m.get("note"):
        lines += [f"**Note:** {m['note']}", ""]
    if m.get("quick"):
        lines += ["**Quick smoke run: durations too short for real numbers.**", ""]
    cases = [c for c in data["cases"] if c["id"] in res]
    names = [n for n in ORDER if any(n in res[c["id"]] for c in cases)]
    def ratio_cell(n, c):
        row = res[c["id"]].get(n)
        return "" if row is None else \
            f"{fmt_ratio(row.get('rps_vs_best_peer'))} / {fmt_ratio(row.get('cpu_eff_vs_best_peer'))}"
    lines += ["## Ratio to the best peer (best of nginx/h2o/lighttpd)", "",
              "req/s ratio, then CPU efficiency ratio (best peer's CPU µs per request ÷ this server's): "
              "above 1 is better than every peer.", ""]
    lines += case_table(cases, names, ratio_cell)
    lines += ["", "## All numbers", "",
              "| case | server | req/s | MB/s | CPU µs/req | of which io-wq | server CPU % | wrk CPU % | p99 ms | errors (non-2xx/3xx, socket) | other load on server CPU % |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for c in cases:
        for n in names:
            row = res[c["id"]].get(n)
            if row is None:
                continue
            e = row["errors"]
            lines.append(f"| {c['id']} | {n} | {row['rps']:,.0f} | {row['mbps']:,.1f} | {row['cpu_us_per_req']:.2f} | "
                         f"{row['cpu_breakdown_us_per_req']['io-wq']:.2f} | "
                         f"{row['server_cpu_pct']:.0f} | {row['client_cpu_pct']:.0f} | {row['latency_us']['p99'] / 1000:.2f} | "
                         f"{e['non2xx3xx']}, {e['socket']} | {row['server_core_other_pct']:.0f} |")
    logged = [n for n in LOGGED if n in names and LOGGED[n] in names]
    if logged:
        def cost_cell(n, c):
            on, off = res[c["id"]].get(n), res[c["id"]].get(LOGGED[n])
            if not on or not off or not off["rps"]:
                return ""
            return (f"{on['rps'] / off['rps']:.2f}× req/s, "
                    f"{on['cpu_us_per_req'] - off['cpu_us_per_req']:+.2f} µs/req")
        lines += ["", "## Access log cost", "",
                  "Each server with a combined-format access log written to a file, against itself without "
                  "one in the same run: req/s with the log ÷ without, and the CPU µs per request it adds.", ""]
        lines += case_table(cases, logged, cost_cell, label=LOGGED.get)
    lines += ["", "Cases: " + "; ".join(f"`{c['id']}` {c['what']} ({c['secs']} s)" for c in cases) + ".", "",
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
    colors = {"splicehttpd": "#d62728", "splicehttpd+log": "#f5a3a3", "nginx": "#2ca02c", "nginx+log": "#a6dba0",
              "h2o": "#1f77b4", "lighttpd": "#ff7f0e", "ceiling": "#7f7f7f"}
    fig, axes = plt.subplots(2, 1, figsize=(10, 7.5), sharex=True)
    width = 0.8 / max(len(names), 1)
    for ax, key, title in ((axes[0], "rps_vs_best_peer", "requests/s ÷ best peer's"),
                           (axes[1], "cpu_eff_vs_best_peer", "CPU efficiency (best peer's CPU µs/req ÷ this)")):
        for i, n in enumerate(names):
            xs, ys = [], []
            for j, c in enumerate(cases):
                v = res[c].get(n, {}).get(key)
                if v is not None:
                    xs.append(j + (i - (len(names) - 1) / 2) * width)
                    ys.append(v)
            bars = ax.bar(xs, ys, width, label=n, color=colors.get(n),
                          hatch="//" if n == "ceiling" else None, edgecolor="white" if n == "ceiling" else None)
            for b, y in zip(bars, ys):
                ax.annotate(f"{y:.2f}", (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom", fontsize=7)
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_ylabel(title)
        ax.grid(axis="y", alpha=0.3)
    axes[1].set_xticks(range(len(cases)), cases)
    axes[0].legend(ncol=len(names), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    m = data["meta"]
    title = (f"tools/bench, {m['date'][:10]}, kernel {m['kernel']}, {m['nproc']} CPUs"
             + (" (quick smoke run)" if m.get("quick") else ""))
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

def main(argv):
    a = parse_args(argv)
    out = Path(a.out)
    if a.replot:
        data = json.loads((out / "results.json").read_text())
        write_reports(data, out)
        return 0
    S.require(["taskset", "wrk", "curl"])
    pins = S.cpu_pins()
    meta = machine_info()
    meta.update(server_cpu=pins[0], client_cpu=pins[1], reps=a.reps, warmup_s=a.warmup, quick=a.quick, nice=a.nice,
                note=a.note, versions={}, skipped={}, warnings=[])
    if pins[0] == pins[1]:
        meta["warnings"].append("one CPU only: server and wrk share it")
    cases = [{"id": c, "file": CASES[c][0], "size": FILES[CASES[c][0]], "conns": CASES[c][1],
              "close": CASES[c][2], "secs": a.secs or CASES[c][3], "what": CASES[c][4]} for c in a.cases]

    specs = {}
    if "splicehttpd" in a.servers:
        specs["splicehttpd"] = S.splicehttpd_spec(a)
    if a.access_log:
        for name, spec in S.log_specs(a).items():
            if name == "nginx+log" and shutil.which("nginx") is None:
                meta["skipped"][name] = "not installed"
            else:
                specs[name] = spec
    for name, spec in S.peer_specs().items():
        if name in a.servers:
            if shutil.which(name) is None:
                meta["skipped"][name] = "not installed"
            else:
                specs[name] = spec
    probes = {}
    if "ceiling" in a.servers and any(c["id"] in CEILING_PROBE for c in cases):
        for probe in sorted(set(CEILING_PROBE[c["id"]] for c in cases if c["id"] in CEILING_PROBE)):
            exe, why = S.build_probe(probe, S.BENCH_BUILD / "probes")
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
        lua = work / "report.lua"
        lua.write_text(WRK_LUA)
        with S.Fleet(work, docroot, pins[0], a.nice) as fleet, open(logs / "wrk.log", "w") as logf:
            running = {}
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
                pin = S.check_pinning(r, pins[0])
                if pin:
                    meta["warnings"].append(f"{name}: {pin}")
                meta["versions"][name] = spec.version
                running[name] = r
                S.log(f"bench: {name} on port {r.port}, pid {r.pid}")

            plan = []  # (case, row name, running server)
            for c in cases:
                for name in ORDER:
                    if name == "ceiling":
                        probe = CEILING_PROBE.get(c["id"])
                        if probe in running:
                            plan.append((c, name, running[probe]))
                    elif name in running:
                        plan.append((c, name, running[name]))
            total = sum(c["secs"] + a.warmup for c, _, _ in plan) * a.reps
            S.log(f"bench: {len(plan) * a.reps} measurements, about {total // 60} min {total % 60} s")
            for rep in range(a.reps):
                for c in cases:
                    rows = [p for p in plan if p[0] is c]
                    rows = rows[rep % len(rows):] + rows[:rep % len(rows)] if rows else rows  # rotate the order
                    for _, name, r in rows:
                        s = measure(r, c["id"], c["secs"], a.warmup, pins, lua, logf, a.nice)
                        samples.setdefault((c["id"], name), []).append(s)
                        S.log(f"bench: {c['id']:9} {name:12} {s['rps']:>10,.0f} req/s {s['mbps']:>8,.1f} MB/s "
                              f"{s['cpu_us_per_req']:>7.2f} CPU µs/req  errors {s['errors']['non2xx3xx']}/"
                              f"{s['errors']['socket']}  other load on server CPU {s['server_core_other_pct']:.0f}%")
            for (case, name), ss in samples.items():
                results[case][name] = summarize(ss)
                if name == "ceiling":
                    results[case][name]["probe"] = CEILING_PROBE[case]
            for name, r in running.items():
                if r.proc.poll() is not None:
                    meta["warnings"].append(f"{name} had exited by the end")
    finally:
        for p in work.glob("*/*error.log"):
            shutil.copy(p, logs / p.name)
        shutil.rmtree(work, ignore_errors=True)

    add_ratios(results)
    meta["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
    data = {"meta": meta, "cases": cases, "results": results}
    (out / "results.json").write_text(json.dumps(data, indent=1) + "\n")
    write_reports(data, out)
    print((out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
