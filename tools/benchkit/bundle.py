"""tools/bench --bundle DIR: the benchmark as one folder that runs on another
x86-64 Linux host with nothing but python3 (and a glibc at least as new as this
host's): the release splicehttpd, nginx, h2o, lighttpd, wrk and the ceiling
probes, their shared libraries other than glibc's, lighttpd's modules, h2o's
share/ folder, bench.py + servers.py, and DIR/run.

The programs run with LD_LIBRARY_PATH=DIR/lib, set for them alone (python keeps
the host's libraries).  Everything else a run needs is made at run time: the
files served, the configs (which put nginx's temp paths into the run's dir, so
no /var/lib/nginx is needed), the wrk script.  No server reads /etc/mime.types
for the .bin files served (lighttpd's config maps .bin itself; splicehttpd falls
back to its built-in table), so none is shipped.  The one exception is the HTTPS
cases' certificate: the target may have no openssl command, so certs/ holds a CA
and an ECDSA P-256 leaf for localhost made here (tests/e2e/tls_certs.py) when the
bundle is built, valid for CERT_DAYS.
"""

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import servers as S

PROGRAMS = ("nginx", "h2o", "lighttpd", "wrk")
PROBES = ("ceiling", "ceiling_close")
CERT_DAYS = 365
LIGHTTPD_MODULES = Path("/usr/lib/lighttpd")
H2O_SHARE = Path("/usr/share/h2o")
# glibc's own libraries stay the host's: they must match its ld-linux (dpkg names them
# when it can, this list where it cannot)
GLIBC = ("ld-linux", "libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so", "libresolv.so",
         "libutil.so", "libanl.so", "libmvec.so", "libnss_", "libBrokenLocale.so", "libc_malloc_debug.so")

RUN = '''#!/usr/bin/env python3
"""Runs the splicehttpd benchmark from this bundle (made by tools/bench --bundle):
the same cases and results (results/results.{json,md}, .png where matplotlib
imports) as tools/bench in a checkout.  ./run --help for the flags."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "benchkit"))
import servers  # noqa: E402

servers.use_bundle(HERE)
import bench  # noqa: E402

sys.exit(bench.main(sys.argv[1:], bundle=HERE))
'''

README = '''A self-contained splicehttpd benchmark, made by `tools/bench --bundle` ({made}, {host}).

Run as root on an x86-64 Linux host with python3 (glibc {glibc} or newer):

    sudo ./run                      # five cases, every server; writes results/results.{{json,md}} here (+ .png with matplotlib)
    sudo ./run --workers 4          # four workers per server, wrk on other CPUs
    sudo ./run --seconds 2 --cases 1k-ka,1k-close   # a short look
    sudo ./run --tls                # the five and the three HTTPS cases (tls-1k-ka, tls-1m-ka, tls-1k-close)
    ./run --help                    # placement (--server-cpus, --client-cpus, --wrk-threads), cases, servers

bin/ the programs, lib/ their libraries (LD_LIBRARY_PATH for them only), lib/lighttpd/
lighttpd's modules (mod_openssl for the HTTPS cases; there for -m), share/h2o/ h2o's,
certs/ the HTTPS cases' CA and localhost certificate (ECDSA P-256, made {made}, valid
{cert_days} days; `./run --tls` or `--cases tls` runs those cases), benchkit/ the runner's
Python, bundle.json where each came from. See docs/BENCHMARKS.md in the splicehttpd
repository for the method.
'''


def _run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def shared_libs(path):
    """{soname: resolved path} of `path`'s shared libraries, transitive (ldd), glibc's left out."""
    r = _run(["ldd", str(path)])
    if r.returncode != 0:
        raise RuntimeError(f"ldd {path}: {r.stderr.strip() or r.stdout.strip()}")
    libs = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>":
            if parts[2] == "not":
                raise RuntimeError(f"{path}: {parts[0]} not found (ldd)")
            if not is_glibc(parts[2]):
                libs[parts[0]] = parts[2]
    return libs


_glibc_cache = {}


def is_glibc(path):
    if path not in _glibc_cache:
        name = Path(path).name
        owner = _run(["dpkg-query", "-S", str(Path(path).resolve())]).stdout if shutil.which("dpkg-query") else ""
        _glibc_cache[path] = owner.split(":")[0] in ("libc6", "libc6-amd64") or name.startswith(GLIBC)
    return _glibc_cache[path]


def strip(path, library=False):
    """Strip a copy (debug info and symbols a program does not need to run)."""
    if shutil.which("strip"):
        _run(["strip", "--strip-unneeded" if library else "--strip-all", str(path)])


def copy_program(src, dest):
    shutil.copyfile(src, dest)
    os.chmod(dest, 0o755)
    strip(dest)


def du(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file() and not f.is_symlink())


def make(dest, args):
    """Write the bundle into `dest` (created; a previous bundle there is replaced)."""
    dest = dest.resolve()
    if dest.exists() and any(dest.iterdir()):
        if not (dest / "bundle.json").is_file():
            print(f"bench: --bundle {dest}: not empty and not a bundle; give a new or empty directory",
                  file=sys.stderr)
            return 2
        shutil.rmtree(dest)
    (dest / "bin").mkdir(parents=True)
    (dest / "lib" / "lighttpd").mkdir(parents=True)
    notes = []

    programs = {"splicehttpd": Path(args.splicehttpd or S.BENCH_BUILD / "splicehttpd").resolve()}
    for name in PROGRAMS:
        path = shutil.which(name)
        if path is None:
            notes.append(f"{name}: not installed here, left out")
        else:
            programs[name] = Path(path).resolve()
    for name in PROBES:
        path, why = S.build_probe(name, S.BENCH_BUILD / "probes")
        if path is None:
            notes.append(f"{name}: {why}, left out")
        else:
            programs[name] = path
    elves = []
    for name, src in programs.items():
        copy_program(src, dest / "bin" / name)
        elves.append(src)
    if "lighttpd" in programs and LIGHTTPD_MODULES.is_dir():
        for mod in sorted(LIGHTTPD_MODULES.glob("mod_*.so")):
            shutil.copyfile(mod, dest / "lib" / "lighttpd" / mod.name)
            strip(dest / "lib" / "lighttpd" / mod.name, library=True)
            elves.append(mod)
    if "h2o" in programs and H2O_SHARE.is_dir():
        shutil.copytree(H2O_SHARE, dest / "share" / "h2o", symlinks=False)

    libs = {}
    for elf in elves:
        libs.update(shared_libs(elf))
    for soname, src in sorted(libs.items()):
        shutil.copyfile(src, dest / "lib" / soname)  # the real file under the name the loader asks for
        strip(dest / "lib" / soname, library=True)

    certs, why = S.make_certs(dest / "certs", days=CERT_DAYS)
    if certs is None:
        notes.append(f"HTTPS certificate: {why}; the HTTPS cases will be skipped")
    else:
        (dest / "certs" / "ca.key").unlink()  # nothing there signs anything
        (dest / "certs" / "ca.srl").unlink(missing_ok=True)

    for module in ("bench.py", "servers.py"):
        (dest / "benchkit").mkdir(exist_ok=True)
        shutil.copyfile(Path(__file__).resolve().parent / module, dest / "benchkit" / module)
    (dest / "run").write_text(RUN)
    os.chmod(dest / "run", 0o755)

    os_name = next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release")
                    if l.startswith("PRETTY_NAME=")), platform.system())
    made = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    host = f"{os_name}, kernel {platform.release()}"
    glibc = os.confstr("CS_GNU_LIBC_VERSION") or "?"
    manifest = {
        "made": made, "host": host, "glibc": glibc,
        "splicehttpd": S.splicehttpd_label(args),
        "programs": {n: str(p) for n, p in programs.items()},
        "libraries": {n: str(p) for n, p in sorted(libs.items())},
        "certs": f"certs/: CA and localhost ECDSA P-256 leaf, valid {CERT_DAYS} days" if certs else None,
        "notes": notes,
    }
    (dest / "bundle.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (dest / "README.txt").write_text(README.format(made=made, host=host, glibc=glibc.replace("glibc ", ""),
                                                   cert_days=CERT_DAYS))

    size = du(dest)
    for n in notes:
        S.log(f"bench: bundle: {n}")
    S.log(f"bench: bundle in {dest}: {len(programs)} programs, {len(libs)} libraries, {size / 2**20:.1f} MiB; "
          f"run it as root with {dest}/run [flags] (e.g. scp -r {dest} host: && ssh host sudo ./{dest.name}/run)")
    return 0
