#!/usr/bin/env python3
"""End-to-end fuzzer: mutated request streams against the real binary.

    SPLICEHTTPD=build-asan/splicehttpd python3 tests/fuzz/e2e_fuzz.py [SECONDS] [--seed N]

Starts the server (an ASan+UBSan build is the point) on a free loopback port
and, for SECONDS (default 20), has a few client threads send it generated
and mutated request streams: random cuts and dribbles, pipelining, oversized
and binary headers, Content-Length and chunked bodies, smuggling shapes,
half-closes and resets mid-request (SO_LINGER 0). Some streams are left
unmutated and their responses are checked byte for byte while the rest goes
on. Afterwards the server must be alive, answer a known file byte-exact,
become idle, hold no descriptors beyond those it started with (its pipe pool
aside, which may grow to --pipes-max), exit 0 on SIGTERM, and its log must
hold no sanitizer report. Exit status: 0 pass, 1 fail, 77 io_uring missing.

Standard library only; the server is driven through tests/e2e/harness.py.
"""

import argparse
import os
import random
import socket
import struct
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402

THREADS = 2
CLIENTS = 6
PIPES, PIPES_MAX = 2, 6
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "AddressSanitizer:",
                   "UndefinedBehaviorSanitizer")

FILES = {
    "index.html": b"<!doctype html><title>fuzz</title>\n",
    "empty.txt": b"",
    "one.bin": harness.payload(1),
    "page.bin": harness.payload(4097),
    "mid.bin": harness.payload(100_003),
    "big.bin": harness.payload((1 << 20) + 13),
    "dir/index.html": b"dir index\n",
    "dir/sub/deep.txt": b"deep\n",
    "nodir/x.txt": b"x\n",
    ".hidden": b"secret\n",
    "caf\u00e9.txt": "caf\u00e9\n".encode(),
    "sp ace.txt": b"space\n",
    "style.css": b"body{}\n",
}
KNOWN = ["/index.html", "/empty.txt", "/one.bin", "/page.bin", "/mid.bin", "/big.bin", "/dir/", "/dir/sub/deep.txt",
         "/caf%C3%A9.txt", "/sp%20ace.txt", "/style.css"]
BODIES = {p: FILES["dir/index.html" if p == "/dir/" else p.lstrip("/").replace("%C3%A9", "\u00e9").replace("%20", " ")]
          for p in KNOWN}

TARGETS = KNOWN + [
    "/", "/dir", "/nodir/", "/missing", "/.hidden", "/dir/../index.html", "/../etc/passwd", "/%2e%2e/x",
    "/a/%2e%2e/%2e%2e/x", "/%00", "/%zz", "/%C0%AE%C0%AE/", "/%ED%A0%80", "//dir//sub/", "/index.html?q=1#f",
    "*", "http://h/index.html", "https://h", "index.html", "h:443", "/" + "a" * 9000, "/dir/sub/../../.hidden",
    "/fifo", "/escape", "/big.bin", "/big.bin",
]
METHODS = ["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT",
           "PROPFIND", "BREW", "G\x00T", "get", ""]
VERSIONS = ["HTTP/1.1"] * 6 + ["HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/1", "HTTPS/1.1", ""]
DATES = ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
         "Fri, 31 Dec 9999 23:59:59 GMT", "yesterday"]
RANGES = ["bytes=0-0", "bytes=0-99", "bytes=-10", "bytes=10-", "bytes=0-1,5-9,3-4", "bytes=99999999-",
          "bytes=-0", "bytes=0-,0-,0-,0-", ",".join(["bytes=0-1"] + [f"{i}-{i}" for i in range(3, 40, 2)]),
          "items=0-1", "bytes=5-1", "bytes=18446744073709551616-"]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def fail(self, msg):
        with self.lock:
            if len(self.failures) < 20:
                self.failures.append(msg)


def header_lines(rng):
    """Header fields of a request: mostly sensible, some hostile."""
    h = []
    hosts = rng.choice([1, 1, 1, 1, 0, 2])
    h += [("Host", rng.choice(["h", "example.com:8080", "", "h h"]))] * hosts
    if rng.random() < 0.3:
        h.append(("Range", rng.choice(RANGES)))
    if rng.random() < 0.15:
        h.append(("If-Range", rng.choice(DATES + ['"x"', 'W/"x"'])))
    for name in ("If-Match", "If-None-Match"):
        if rng.random() < 0.1:
            h.append((name, rng.choice(["*", '"x"', 'W/"x", "y"', "garbage"])))
    for name in ("If-Modified-Since", "If-Unmodified-Since"):
        if rng.random() < 0.1:
            h.append((name, rng.choice(DATES)))
    if rng.random() < 0.2:
        h.append(("Accept-Encoding", rng.choice(["br, gzip", "gzip;q=0", "*", "identity"])))
    if rng.random() < 0.2:
        h.append(("Connection", rng.choice(["close", "keep-alive", "upgrade", "Upgrade, close"])))
    if rng.random() < 0.05:
        h.append(("Upgrade", "websocket"))
    if rng.random() < 0.05:
        h.append(("Expect", "100-continue"))
    roll = rng.random()
    if roll < 0.03:
        h.append(("X-Big", "v" * rng.choice([8000, 17000, 70000])))  # past 16 KiB: 431
    elif roll < 0.06:
        h += [(f"X-{i}", str(i)) for i in range(rng.choice([50, 101, 300]))]  # past 100 fields: 431
    elif roll < 0.10:
        h.append(("X-Bin", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))).decode("latin-1")))
    elif roll < 0.12:
        h.append((bytes(rng.randrange(256) for _ in range(rng.randrange(1, 10))).decode("latin-1"), "v"))
    elif roll < 0.14:
        h.append(("X-Fold", "a\r\n b"))  # obs-fold
    elif roll < 0.16:
        h.append(("Host ", "h"))  # whitespace before the colon
    return h


def body_part(rng, headers):
    """A body for the request and the headers that announce it."""
    roll = rng.random()
    if roll < 0.75:
        return b""
    data = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 5, 100, 5000])))
    if roll < 0.85:
        headers.append(("Content-Length", str(len(data))))
        return data
    if roll < 0.95:
        headers.append(("Transfer-Encoding", "chunked"))
        out = b""
        pos = 0
        while pos < len(data):
            n = rng.randrange(1, 2000)
            chunk = data[pos:pos + n]
            ext = rng.choice(["", ";a=b"])
            out += f"{len(chunk):x}{ext}\r\n".encode() + chunk + b"\r\n"
            pos += n
        return out + b"0\r\n" + rng.choice([b"", b"T: v\r\n"]) + b"\r\n"
    # smuggling shapes
    shape = rng.randrange(4)
    if shape == 0:
        headers += [("Content-Length", str(len(data))), ("Transfer-Encoding", "chunked")]
    elif shape == 1:
        headers += [("Content-Length", str(len(data))), ("Content-Length", str(len(data) + 1))]
    elif shape == 2:
        headers.append(("Transfer-Encoding", rng.choice(["xchunked", "chunked, identity", "chunked\x0b"])))
    else:
        headers.append(("Content-Length", rng.choice(["-1", "1e3", "18446744073709551616", " 5"])))
    return data


def random_request(rng):
    method = rng.choice(METHODS)
    target = rng.choice(TARGETS)
    version = rng.choice(VERSIONS)
    headers = header_lines(rng)
    body = body_part(rng, headers)
    rng.shuffle(headers)
    line_end = b"\r\n" if rng.random() < 0.95 else b"\n"
    head = f"{method} {target} {version}".encode("latin-1") + line_end
    head += b"".join(f"{k}: {v}".encode("latin-1") + line_end for k, v in headers)
    return head + line_end + body


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        if not data:
            data += bytes([rng.randrange(256)])
            continue
        op = rng.randrange(7)
        i = rng.randrange(len(data))
        if op == 0:
            data[i] = rng.randrange(256)
        elif op == 1:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        elif op == 2:
            del data[i:i + rng.randrange(1, 16)]
        elif op == 3:
            j = rng.randrange(len(data))
            data[j:j] = data[i:i + rng.randrange(1, 64)]
        elif op == 4:
            data[i:i] = rng.choice([b"\r\n", b"\n", b"\r", b" ", b"\t", b":", b"\x00", b"\r\n\r\n", b"%", b"\xff"])
        elif op == 5:
            del data[i:]
        else:
            data[i:i] = data[i:i + 1] * rng.randrange(1, 3000)
    return bytes(data)


def pieces(rng, data):
    """How the stream goes out: whole, cut at random, or dribbled."""
    roll = rng.random()
    if roll < 0.4 or len(data) < 2:
        return [data]
    if roll < 0.9:
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randrange(1, 8))))
        return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    step = rng.choice([1, 2, 3, 7])
    return [data[i:i + step] for i in range(0, min(len(data), 400), step)] + ([data[400:]] if len(data) > 400 else [])


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def reset(s):
    """close() that sends RST, not FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def drain(s, limit=4 << 20, quiet=0.05):
    """Reads what the server sends until it closes, goes quiet or the limit."""
    got = b""
    s.settimeout(quiet)
    try:
        while len(got) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    return got


def fuzz_connection(rng, port, stats):
    """One connection with a mutated stream."""
    stream = b"".join(random_request(rng) for _ in range(rng.choice([1, 1, 2, 3, 5])))
    if rng.random() < 0.85:
        stream = mutate(rng, stream)
    try:
        s = connect(port)
    except OSError as e:
        stats.fail(f"connect: {e!r}")
        time.sleep(0.1)
        return
    stats.add("connections")
    stats.add("bytes_sent", len(stream))
    ending = rng.random()
    parts = pieces(rng, stream)
    try:
        for k, part in enumerate(parts):
            if ending < 0.15 and k == len(parts) // 2:  # reset mid-request
                stats.add("resets")
                reset(s)
                return
            s.sendall(part)
            if len(parts) > 1 and rng.random() < 0.3:
                time.sleep(rng.choice([0, 0.001, 0.01]))
        if ending < 0.3:
            stats.add("resets")
            reset(s)
            return
        if ending < 0.5:
            s.shutdown(socket.SHUT_WR)
            stats.add("half_closes")
        got = drain(s)
        if got and not got.startswith(b"HTTP/1.1 "):
            stats.fail(f"response does not start with a status line: {got[:80]!r} for {stream[:200]!r}")
        stats.add("responses", got.count(b"HTTP/1.1 "))
        if rng.random() < 0.3:
            reset(s)
            return
    except OSError:  # reset, broken pipe, ENOTCONN from shutdown: the server closed first
        stats.add("server_closed_early")
    s.close()


def clean_connection(rng, port, stats):
    """Unmutated pipelined GETs of known files, cut at random: every response
    must be exact while the fuzzing goes on around it."""
    paths = [rng.choice(KNOWN) for _ in range(rng.randrange(1, 5))]
    ranged = [rng.random() < 0.3 for _ in paths]
    stream = b""
    for p, r in zip(paths, ranged):
        stream += f"GET {p} HTTP/1.1\r\nHost: h\r\n".encode()
        if r:
            stream += b"Range: bytes=1-10\r\n"
        stream += b"\r\n"
    try:
        c = harness.Client(port, timeout=10)
    except OSError as e:
        stats.fail(f"connect: {e!r}")
        return
    try:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for part in pieces(rng, stream):
            c.send(part)
        for p, r in zip(paths, ranged):
            resp = c.read_response()
            body = BODIES[p]
            if not r:
                want_status, want_body = 200, body
            elif len(body) > 1:
                want_status, want_body = 206, body[1:11]
            else:  # the range starts at or past the end
                want_status, want_body = 416, resp.body
            if resp.status != want_status or resp.body != want_body:
                stats.fail(f"clean GET {p} range={r}: {resp.status}, {len(resp.body)} bytes")
        stats.add("clean_checked", len(paths))
    except (OSError, AssertionError, ConnectionError) as e:
        stats.fail(f"clean GETs {paths}: {e!r}")
    finally:
        c.close()


def client(seed, port, deadline, stats):
    rng = random.Random(seed)
    while time.time() < deadline:
        try:
            if rng.random() < 0.1:
                clean_connection(rng, port, stats)
            else:
                fuzz_connection(rng, port, stats)
        except Exception:  # a fault of this script: report it, do not lose the thread quietly
            stats.fail("client raised:\n" + traceback.format_exc())
            return


def non_pipe_fds(server):
    return sorted(t for t in server.fds().values() if not t.startswith("pipe:"))


def pipe_fds(server):
    return [t for t in server.fds().values() if t.startswith("pipe:")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("seconds", nargs="?", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)

    harness.require_io_uring()
    if not os.path.exists(harness.BINARY):
        print(f"e2e_fuzz: {harness.BINARY} not built")
        return 1
    # Report every UBSan finding (the log is searched afterwards). ASan keeps
    # the server's own defaults: no LeakSanitizer, whose ptrace the server's
    # sandbox refuses (it would fail every exit).
    os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=0")

    root = harness.Root()
    for rel, data in FILES.items():
        root.write(rel, data)
    os.mkfifo(os.path.join(root.path, "fifo"))
    os.symlink("/etc/passwd", os.path.join(root.path, "escape"))
    server = harness.Server(root.path, "--pipes", str(PIPES), "--pipes-max", str(PIPES_MAX),
                            "--header-timeout", "3", "--keepalive-timeout", "3", threads=THREADS)
    failures = []
    stats = Stats()
    try:
        # Warm up so that the baseline holds everything created lazily.
        for p in KNOWN:
            if server.get(p).body != BODIES[p]:
                failures.append(f"warm-up GET {p} is not exact")
        start_stats = server.wait_idle()
        base_fds = non_pipe_fds(server)
        base_total = server.fd_count()

        print(f"e2e_fuzz: seed {seed}, {args.seconds:g} s, {CLIENTS} clients, server on port {server.port}",
              flush=True)
        deadline = time.time() + args.seconds
        threads = [threading.Thread(target=client, args=(seed + i, server.port, deadline, stats), daemon=True)
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + 120)
        failures += stats.failures

        if not server.alive():
            failures.append("server died")
        else:
            for p in ("/big.bin", "/mid.bin", "/index.html"):
                r = server.get(p)
                if r.status != 200 or r.body != BODIES[p]:
                    failures.append(f"GET {p} after fuzzing: {r.status}, {len(r.body)} bytes, not exact")
            r = server.get("/big.bin", {"Range": "bytes=1000-1999"})
            if r.status != 206 or r.body != BODIES["/big.bin"][1000:2000]:
                failures.append(f"ranged GET after fuzzing: {r.status}")
            try:
                end_stats = server.wait_idle(timeout=30)
                # Descriptors: the same as at the start, but for the pipes
                # the pools grew by (two each, at most --pipes-max per worker).
                grown = end_stats["pipes"] - start_stats["pipes"]
                if non_pipe_fds(server) != base_fds:
                    failures.append(f"descriptors differ: {base_fds} -> {non_pipe_fds(server)}")
                if server.fd_count() > base_total + 2 * grown:
                    failures.append(f"{server.fd_count()} descriptors, {base_total} at the start + 2 x {grown} pipes")
                if len(pipe_fds(server)) - 1 != 2 * end_stats["pipes"]:  # one is our stderr pipe
                    failures.append(f"{len(pipe_fds(server))} pipe descriptors for {end_stats['pipes']} pipes")
                if end_stats["pipes"] > PIPES_MAX * THREADS:
                    failures.append(f"{end_stats['pipes']} pipes, more than --pipes-max")
            except AssertionError as e:
                failures.append(str(e))
    finally:
        rc = server.stop(timeout=60) if server.alive() else server.proc.wait()
        root.cleanup()
    if rc != 0:
        failures.append(f"server exited {rc}; its log ends:\n" + "\n".join(server.log()[-30:]))
    reports = [l for l in server.log() if any(m in l for m in SANITIZER_MARKS)]
    if reports:
        i = server.log().index(reports[0])
        failures.append("sanitizer report:\n" + "\n".join(server.log()[max(0, i - 2):i + 40]))

    c = stats.counts
    print(f"e2e_fuzz: {c.get('connections', 0)} fuzzed connections ({c.get('bytes_sent', 0)} bytes, "
          f"{c.get('resets', 0)} resets, {c.get('half_closes', 0)} half-closes, {c.get('server_closed_early', 0)} "
          f"closed by the server mid-send), {c.get('responses', 0)} responses, "
          f"{c.get('clean_checked', 0)} clean responses checked byte for byte")
    for f in failures:
        print(f"e2e_fuzz: FAIL: {f}")
    print(f"e2e_fuzz: {'FAIL' if failures else 'PASS'} (seed {seed})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
