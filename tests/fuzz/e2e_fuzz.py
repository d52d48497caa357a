#!/usr/bin/env python3
"""End-to-end fuzzer: mutated request streams against the real binary.

    SPLICEHTTPD=build-asan/splicehttpd python3 tests/fuzz/e2e_fuzz.py [SECONDS] [--seed N] [--tls]

Starts the server (an ASan+UBSan build is the point) on a free loopback port
and, for SECONDS (default 20), has a few client threads send it generated
and mutated request streams: random cuts and dribbles, pipelining, oversized
and binary headers, Content-Length and chunked bodies, smuggling shapes,
half-closes and resets mid-request (SO_LINGER 0). Some streams are left
unmutated and their responses are checked byte for byte while the rest goes
on. Afterwards the server must be alive, answer a known file byte-exact,
become idle, hold no descriptors beyond those it started with (its pipe pool
aside, which may grow to --pipes-max), exit 0 on SIGTERM, and its log must
hold no sanitizer report. Exit status: 0 pass, 1 fail, 77 io_uring (or, for
--tls, the openssl command) missing.

--tls: the server also gets --tls-port 0 and a test certificate (made with the
openssl command, tests/e2e/tls_certs.py), and the same streams go inside TLS
connections (Python's ssl, TLS 1.3 and 1.2 mixed, SNI names, resumed sessions
now and then; the unmutated streams are still checked byte for byte). Beside
them, TLS-level hostility on raw sockets to the TLS port: real ClientHellos
(captured from an ssl.SSLObject over memory BIOs) flipped, cut, duplicated and
re-fragmented; a handshake whose later client flight is mangled; garbage
records before and after a handshake; tampered and replayed ciphertext; plain
HTTP to the TLS port; resets mid-handshake and mid-body (SO_LINGER 0);
half-closes; close_notify; ALPN offers with and without http/1.1; floods of
pipelined requests; clients that stop reading or stall mid-handshake and are
left open (the handshake deadline and --send-timeout must close them within
10 s); SIGHUP (a certificate reload) every few seconds. What the TLS port
sends a hostile peer before a handshake must be TLS records (an alert, or the
server's flight), never plaintext. The end checks also fetch known files over
TLS 1.3 and 1.2 byte for byte.

Standard library only (and the openssl command for --tls); the server is driven through tests/e2e/harness.py.
"""

import argparse
import os
import random
import re
import signal
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402
import tls_certs  # noqa: E402

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
    except (socket.timeout, ConnectionResetError, BrokenPipeError, ssl.SSLError):
        pass
    return got


def half_close(s):
    """shutdown(SHUT_WR); on a TLS socket through a duplicate, since
    SSLSocket.shutdown() drops the TLS state that the reads still need."""
    if isinstance(s, ssl.SSLSocket):
        with socket.socket(fileno=os.dup(s.fileno())) as raw:
            raw.shutdown(socket.SHUT_WR)
    else:
        s.shutdown(socket.SHUT_WR)


class Target:
    """Where the client threads go: the plain port, and in --tls mode the TLS
    port with the client contexts, sessions to resume and the sockets left
    open for the server's deadlines to end."""

    NAMES = ["localhost", "a.example", "x.b.example", "unknown.example", None, "l" * 63 + ".example"]
    KEEP_MAX = 96
    # Every deadline of the server in this mode is 2 or 3 s: a connection left
    # open for this long must have been closed by the server.
    KEEP_CHECK_S = 10

    def __init__(self, port, tls_port=None, ca=None):
        self.port = port
        self.tls_port = tls_port
        self.tls = tls_port is not None
        self.lock = threading.Lock()
        self.sessions = {}
        self.kept = []
        # verified: check the chain and the name localhost; loose: any name,
        # no checks; odd: ALPN without http/1.1 (the handshake may fail).
        self.verified, self.loose, self.odd, self.alpn = [], [], [], set()
        if not self.tls:
            return
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            for protocols in (None, ["h2", "http/1.1"], ["h2"], ["spdy/1", "x" * 255]):
                ctx = ssl.create_default_context(cafile=ca)
                loose = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                loose.check_hostname = False
                loose.verify_mode = ssl.CERT_NONE
                for c in (ctx, loose):
                    c.minimum_version = c.maximum_version = version
                    if protocols:
                        c.set_alpn_protocols(protocols)
                if protocols and "http/1.1" not in protocols:
                    self.odd.append(loose)
                    continue
                if protocols:
                    self.alpn.add(id(ctx))
                    self.alpn.add(id(loose))
                self.verified.append(ctx)
                self.loose.append(loose)

    def pick(self, rng, odd=False):
        """A context (TLS 1.3 or 1.2, ALPN or not), a server name, maybe a
        session to resume. odd: the ALPN offer may leave out http/1.1."""
        roll = rng.random()
        if roll < 0.7:
            ctx, name = rng.choice(self.verified), "localhost"
        elif odd and roll < 0.8:
            ctx, name = rng.choice(self.odd), rng.choice(self.NAMES)
        else:
            ctx, name = rng.choice(self.loose), rng.choice(self.NAMES)
        with self.lock:
            session = self.sessions.get(id(ctx))
        return ctx, name, session if rng.random() < 0.3 else None

    def remember(self, s):
        """Keeps the session of a TLS socket that has read a response (TLS 1.3
        tickets come after the handshake) for later resumptions."""
        ctx = getattr(s, "fuzz_ctx", None)
        try:
            session = s.session if ctx is not None else None
        except (ValueError, OSError):
            session = None
        if session is not None:
            with self.lock:
                self.sessions[id(ctx)] = session

    def raw(self, timeout=5):
        s = socket.create_connection(("127.0.0.1", self.tls_port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def wrap(self, rng, raw, stats=None):
        ctx, name, session = self.pick(rng)
        try:
            s = ctx.wrap_socket(raw, server_hostname=name, session=session)
        except BaseException:
            raw.close()
            raise
        s.fuzz_ctx = ctx
        if stats and id(ctx) in self.alpn:
            stats.add("alpn_checked")
            if s.selected_alpn_protocol() != "http/1.1":
                stats.fail(f"ALPN {ctx.maximum_version.name}: {s.selected_alpn_protocol()!r} for h2, http/1.1")
        return s

    def keep(self, s, stats, what):
        """Leaves s open: the server's own deadline has to end it. Those left
        open for KEEP_CHECK_S must have been closed by the server by now."""
        stats.add("left_open")
        now = time.monotonic()
        with self.lock:
            self.kept.append((now, s, what))
            old = [k for k in self.kept if now - k[0] >= self.KEEP_CHECK_S]
            self.kept = self.kept[len(old):]
            extra = self.kept[:-self.KEEP_MAX]
            self.kept = self.kept[-self.KEEP_MAX:]
        for since, sock, what in old:
            if not closed_by_server(sock):
                stats.fail(f"a connection left open ({what}) still open after {now - since:.0f} s")
            else:
                stats.add("deadlines_checked")
            sock.close()
        for _, sock, _ in extra:
            sock.close()

    def close_kept(self):
        with self.lock:
            kept, self.kept = self.kept, []
        for _, s, _ in kept:
            s.close()


def closed_by_server(s):
    """Whether the peer has closed s (EOF or reset), reading away whatever
    came before; the raw bytes, through a duplicate, without waiting."""
    with socket.socket(fileno=os.dup(s.fileno())) as raw:
        raw.setblocking(False)
        try:
            while raw.recv(1 << 20):
                pass
            return True
        except BlockingIOError:
            return False
        except OSError:
            return True


class TlsClient(harness.Client):
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""


def open_stream(rng, target, stats):
    """A connection for a request stream: plain, or TLS on the TLS port."""
    if not target.tls:
        return connect(target.port)
    return target.wrap(rng, target.raw(), stats)


def open_client(rng, target, stats, timeout=10):
    if not target.tls:
        return harness.Client(target.port, timeout=timeout)
    return TlsClient(target.wrap(rng, target.raw(timeout), stats))


def fuzz_connection(rng, target, stats):
    """One connection with a mutated stream (inside TLS in --tls mode)."""
    stream = b"".join(random_request(rng) for _ in range(rng.choice([1, 1, 2, 3, 5])))
    if rng.random() < 0.85:
        stream = mutate(rng, stream)
    try:
        s = open_stream(rng, target, stats)
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
            half_close(s)
            stats.add("half_closes")
        elif target.tls and ending < 0.55:  # close_notify right after the requests
            stats.add("close_notify")
            s.settimeout(0.5)
            try:
                s.unwrap().close()
            except (OSError, ValueError):
                s.close()
            return
        got = drain(s)
        if got and not got.startswith(b"HTTP/1.1 "):
            stats.fail(f"response does not start with a status line: {got[:80]!r} for {stream[:200]!r}")
        stats.add("responses", got.count(b"HTTP/1.1 "))
        if target.tls and got:
            target.remember(s)
        if rng.random() < 0.3:
            reset(s)
            return
    except OSError:  # reset, broken pipe, ENOTCONN from shutdown: the server closed first
        stats.add("server_closed_early")
    s.close()


def clean_connection(rng, target, stats):
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
        c = open_client(rng, target, stats)
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
        if target.tls:
            target.remember(c.sock)
    except (OSError, AssertionError, ConnectionError) as e:
        stats.fail(f"clean GETs {paths}: {e!r}")
    finally:
        c.close()


# TLS-level hostility (--tls): raw sockets to the TLS port.

TLS_RECORD_TYPES = (0x14, 0x15, 0x16, 0x17)  # what a reply from the TLS port may start with


def bio_client(rng, target):
    ctx, name, session = target.pick(rng, odd=True)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    return ctx.wrap_bio(incoming, outgoing, server_hostname=name, session=session), incoming, outgoing


def client_hello(rng, target):
    """A real ClientHello record from Python's ssl (OpenSSL), never sent by it."""
    obj, _, outgoing = bio_client(rng, target)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def bio_handshake(rng, target, sock, stop_at=None):
    """Drives a handshake over sock through memory BIOs. Returns (obj, None)
    when it finished, or (obj, flight) with the client's flight number
    stop_at (0: the ClientHello) unsent, for the caller to mangle."""
    obj, incoming, outgoing = bio_client(rng, target)
    obj.fuzz_io = (incoming, outgoing)
    flight = 0
    while True:
        try:
            obj.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        data = outgoing.read()
        if data:
            if flight == stop_at:
                return obj, data
            sock.sendall(data)
            flight += 1
        if done:
            return obj, None
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed mid-handshake")
        incoming.write(chunk)


def split_records(data):
    """(header, body) of each TLS record; a torn last record as it is."""
    out = []
    while len(data) >= 5:
        n = int.from_bytes(data[3:5], "big")
        out.append((data[:5], data[5:5 + n]))
        data = data[5 + n:]
    if data:
        out.append((data, b""))
    return out


def refragment(rng, data):
    """The same bytes in records of other sizes: legal, if unusual."""
    out = b""
    for head, body in split_records(data):
        if len(head) < 5 or len(body) < 2:
            out += head + body
            continue
        cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randrange(1, 6))))
        for a, b in zip([0] + cuts, cuts + [len(body)]):
            out += head[:3] + (b - a).to_bytes(2, "big") + body[a:b]
    return out


def garbage_records(rng):
    out = b""
    for _ in range(rng.randrange(1, 6)):
        kind = rng.choice([0x14, 0x15, 0x16, 0x17, 0x18, rng.randrange(256)])
        version = rng.choice([0x0301, 0x0303, 0x0303, 0x0304, 0x0300, 0x0200, rng.randrange(1 << 16)])
        body = rng.randbytes(rng.choice([0, 1, 2, 4, 7, 100, 1000, 16384, 16640, 18432]))
        if kind == 0x15 and rng.random() < 0.5:
            body = bytes([rng.choice([1, 2]), rng.randrange(256)])
        length = len(body) if rng.random() < 0.8 else rng.choice([0, 1, 0x4000, 0x4001, 0x4800, 0xffff])
        out += bytes([kind]) + version.to_bytes(2, "big") + length.to_bytes(2, "big") + body
    return out


def mutate_tls(rng, data):
    """Flips, cuts, duplicates, re-fragments the bytes of TLS records."""
    data = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(9)
        if not data:
            break
        i = rng.randrange(len(data))
        if op == 0:
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # a length field somewhere: record, handshake, vectors, extensions
            data[i:i + 2] = rng.choice([0, 1, 0xff, 0x100, 0x3fff, 0x4000, 0x7fff, 0xffff]).to_bytes(2, "big")
        elif op == 2:
            del data[i:]
        elif op == 3:
            data = data + data  # the whole flight twice
        elif op == 4:
            data = bytearray(refragment(rng, bytes(data)))
        elif op == 5:
            data[i:i] = garbage_records(rng)
        elif op == 6:
            data[i] = rng.randrange(256)
        else:
            data = bytearray(mutate(rng, bytes(data)))
    return bytes(data)


def sniffs_as_http(data):
    """The server's rule (server/tls_stream: sniff_first_bytes): 1 to 16
    capitals then a space is plain HTTP, answered with a plain 400."""
    token = data[:17].split(b" ", 1)
    return len(token) == 2 and 0 < len(token[0]) <= 16 and all(0x41 <= b <= 0x5A for b in token[0])


def check_tls_reply(got, what, stats, plain_400=False):
    if plain_400:
        if got and not got.startswith(b"HTTP/1.1 400 Bad Request\r\n"):
            stats.fail(f"the TLS port answered {what} with no plain 400: {got[:80]!r}")
        elif got:
            stats.add("plain_400s")
        return
    if got and got[0] not in TLS_RECORD_TYPES:
        stats.fail(f"the TLS port answered {what} with non-TLS bytes: {got[:80]!r}")


def hostile_end(rng, s, target, stats, what=None, quiet=0.2, plain_400=False):
    """How a raw connection ends: reset, half-close, left open, or read until
    the server goes quiet (its reply checked if `what` says it must be TLS,
    or with plain_400 a plain 400)."""
    roll = rng.random()
    if roll < 0.3:
        stats.add("resets")
        reset(s)
        return
    if roll < 0.35:
        target.keep(s, stats, what or "raw bytes")
        return
    if roll < 0.55:
        stats.add("half_closes")
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    got = drain(s, quiet=quiet)
    if what:
        check_tls_reply(got, what, stats, plain_400)
    (reset if rng.random() < 0.3 else socket.socket.close)(s)


def hostile_hello(rng, target, stats):
    data = mutate_tls(rng, client_hello(rng, target))
    s = target.raw()
    stats.add("hellos_mutated")
    stats.add("bytes_sent", len(data))
    for part in pieces(rng, data):
        s.sendall(part)
    hostile_end(rng, s, target, stats, "a mutated ClientHello", plain_400=sniffs_as_http(data))


def hostile_bytes(rng, target, stats):
    if rng.random() < 0.5:
        data, what = garbage_records(rng), "garbage records"
        stats.add("garbage_records")
    else:  # plain HTTP to the TLS port
        data, what = b"".join(random_request(rng) for _ in range(rng.choice([1, 1, 2]))), "plain HTTP"
        stats.add("plain_http")
    s = target.raw()
    stats.add("bytes_sent", len(data))
    for part in pieces(rng, data):
        s.sendall(part)
    hostile_end(rng, s, target, stats, what, plain_400=sniffs_as_http(data))


def hostile_flight(rng, target, stats):
    """A handshake whose client flight (the hello, or the one after the
    server's flight) is stalled part-way, reset, dropped or mangled."""
    s = target.raw()
    stop_at = rng.choice([0, 1, 1])
    _, data = bio_handshake(rng, target, s, stop_at)
    if data is None:  # the handshake took one flight less (a TLS 1.2 resumption)
        data = b""
    roll = rng.random()
    if roll < 0.15:  # part of it, then nothing: the handshake deadline
        s.sendall(data[:rng.randrange(len(data) + 1)])
        stats.add("stalled_handshakes")
        target.keep(s, stats, f"handshake stalled in flight {stop_at}")
        return
    if roll < 0.3:
        s.sendall(data[:rng.randrange(len(data) + 1)])
        stats.add("handshake_resets")
        reset(s)
        return
    if roll < 0.4:
        s.shutdown(socket.SHUT_WR)  # the flight never comes
        data = b""
    else:
        data = mutate_tls(rng, data)
        s.sendall(data)
    stats.add("flights_mangled")
    hostile_end(rng, s, target, stats, "a mutated ClientHello" if stop_at == 0 else None,
                plain_400=stop_at == 0 and sniffs_as_http(data))


def hostile_records(rng, target, stats):
    """After a finished handshake: tampered, torn, replayed, reordered
    ciphertext, or garbage records."""
    s = target.raw()
    obj, _ = bio_handshake(rng, target, s)
    incoming, outgoing = obj.fuzz_io
    paths = [rng.choice(KNOWN) for _ in range(rng.randrange(1, 3))]
    records = []
    for p in paths:
        obj.write(f"GET {p} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
        records.append(outgoing.read())
    roll = rng.randrange(6)
    if roll == 0:
        data = b"".join(records)
        i = rng.randrange(5, len(data))
        data = data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:]  # bad_record_mac
    elif roll == 1:
        data = b"".join(records)
        data = data[:rng.randrange(len(data))]  # a torn record, then nothing
    elif roll == 2:
        data = b"".join(records) * 2  # replayed: the sequence numbers no longer match
    elif roll == 3:
        data = b"".join(reversed(records)) if len(records) > 1 else records[0][5:]
    elif roll == 4:
        data = b"".join(records)
        i = rng.randrange(len(data) + 1)
        data = data[:i] + garbage_records(rng) + data[i:]
    else:
        data = mutate_tls(rng, b"".join(records))
    stats.add("records_tampered")
    stats.add("bytes_sent", len(data))
    for part in pieces(rng, data):
        s.sendall(part)
    hostile_end(rng, s, target, stats)


def stopped_reader(rng, target, stats):
    """Asks for large bodies over TLS, then resets mid-body, or stops reading
    (a small window) and is closed, reset or left for --send-timeout."""
    if rng.random() < 0.5:
        raw = harness.small_window_socket(target.tls_port, timeout=5)
    else:
        raw = target.raw()
    s = target.wrap(rng, raw)
    paths = [rng.choice(["/big.bin", "/mid.bin", "/page.bin", "/big.bin"]) for _ in range(rng.randrange(1, 4))]
    if rng.random() < 0.2:  # a flood of pipelined requests: past --max-input while the answers back up
        paths *= rng.choice([100, 1000, 3000])
        stats.add("floods")
    try:
        s.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: h\r\n\r\n".encode() for p in paths))
    except TimeoutError:  # the server stopped reading: the answers are not read either
        stats.add("floods_blocked")
    want = rng.choice([0, 1, 1000, 20000, 300000])
    got = 0
    try:
        while got < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += len(chunk)
    except (OSError, ssl.SSLError):
        pass
    roll = rng.random()
    if roll < 0.5:
        stats.add("body_resets")
        reset(s)
    elif roll < 0.7:
        stats.add("stopped_readers")
        target.keep(s, stats, f"stopped reading {paths} after {got} bytes")
    else:
        time.sleep(rng.choice([0, 0.05, 0.3]))
        s.close()


def half_closed_gets(rng, target, stats):
    """Unmutated GETs over TLS, then FIN without close_notify: what comes back
    must be exact."""
    paths = [rng.choice(KNOWN) for _ in range(rng.randrange(1, 4))]
    c = open_client(rng, target, stats)
    try:
        c.send(b"".join(f"GET {p} HTTP/1.1\r\nHost: h\r\n\r\n".encode() for p in paths))
        half_close(c.sock)
        stats.add("half_closes")
        for p in paths:
            try:
                resp = c.read_response()
            except TimeoutError:
                stats.fail(f"half-closed TLS GETs {paths}: no response within 10 s")
                break
            except (ConnectionError, ssl.SSLError, OSError):
                stats.add("half_closed_unanswered")
                break
            if resp.status != 200 or resp.body != BODIES[p]:
                stats.fail(f"half-closed TLS GET {p}: {resp.status}, {len(resp.body)} bytes, not exact")
            stats.add("clean_checked")
    except AssertionError as e:
        stats.fail(f"half-closed TLS GETs {paths}: {e}")
    finally:
        c.close()


def tls_hostile(rng, target, stats):
    stats.add("tls_hostile")
    case = rng.choices([hostile_hello, hostile_bytes, hostile_flight, hostile_records, stopped_reader,
                        half_closed_gets], [30, 15, 20, 15, 12, 8])[0]
    try:
        case(rng, target, stats)
    except TimeoutError:  # 5 s without a byte where the server owed some (a handshake flight)
        stats.fail(f"{case.__name__}: timed out:\n{traceback.format_exc()}")
    except (OSError, ConnectionError, ssl.SSLError):  # the server closed first
        stats.add("server_closed_early")


def client(seed, target, deadline, stats):
    rng = random.Random(seed)
    while time.time() < deadline:
        try:
            roll = rng.random()
            if roll < 0.1:
                clean_connection(rng, target, stats)
            elif target.tls and roll < 0.45:
                tls_hostile(rng, target, stats)
            else:
                fuzz_connection(rng, target, stats)
        except Exception:  # a fault of this script: report it, do not lose the thread quietly
            stats.fail("client raised:\n" + traceback.format_exc())
            return


def reloader(seed, pid, deadline, stats):
    """--tls: SIGHUP now and then, so that new handshakes switch to a freshly
    loaded certificate set while others are in flight on the old one."""
    rng = random.Random(seed)
    while time.time() < deadline:
        time.sleep(rng.uniform(0.2, 3))
        try:
            os.kill(pid, signal.SIGHUP)
            stats.add("reloads")
        except ProcessLookupError:
            return


def non_pipe_fds(server):
    return sorted(t for t in server.fds().values() if not t.startswith("pipe:"))


def pipe_fds(server):
    return [t for t in server.fds().values() if t.startswith("pipe:")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("seconds", nargs="?", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--tls", action="store_true", help="also HTTPS: streams inside TLS, TLS-level hostility")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)

    harness.require_io_uring()
    if args.tls:
        harness.require_program("openssl")
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
    tls_args = []
    certs = None
    if args.tls:
        certs = tempfile.mkdtemp(prefix="splicehttpd-fuzz-tls-")
        for names in ("localhost", "a.example,*.b.example"):
            cert, key = tls_certs.make_leaf(certs, names)
            tls_args += ["--tls-cert", cert, "--tls-key", key]
        # Short deadlines, so that the connections left open end within the idle wait.
        tls_args += ["--tls-port", "0", "--tls-handshake-timeout", "2", "--send-timeout", "3"]
    server = harness.Server(root.path, "--pipes", str(PIPES), "--pipes-max", str(PIPES_MAX),
                            "--header-timeout", "3", "--keepalive-timeout", "3", *tls_args, threads=THREADS)
    failures = []
    stats = Stats()
    target = Target(server.port)
    if args.tls:
        line = server.wait_log(r"listening on .*https://")
        target = Target(server.port, int(re.search(r"https://\S+:(\d+)", line).group(1)),
                        os.path.join(certs, "ca.crt"))

    def tls_get(ctx, path, headers=""):
        c = TlsClient(ctx.wrap_socket(target.raw(10), server_hostname="localhost"))
        try:
            c.send(f"GET {path} HTTP/1.1\r\nHost: h\r\n{headers}\r\n".encode())
            return c.read_response()
        finally:
            c.close()

    try:
        # Warm up so that the baseline holds everything created lazily.
        for p in KNOWN:
            if server.get(p).body != BODIES[p]:
                failures.append(f"warm-up GET {p} is not exact")
            for ctx in target.verified:
                if tls_get(ctx, p).body != BODIES[p]:
                    failures.append(f"warm-up GET {p} over {ctx.maximum_version.name} is not exact")
        start_stats = server.wait_idle()
        base_fds = non_pipe_fds(server)
        base_total = server.fd_count()

        mode = f", TLS on port {target.tls_port}" if args.tls else ""
        print(f"e2e_fuzz: seed {seed}, {args.seconds:g} s, {CLIENTS} clients, server on port {server.port}{mode}",
              flush=True)
        deadline = time.time() + args.seconds
        threads = [threading.Thread(target=client, args=(seed + i, target, deadline, stats), daemon=True)
                   for i in range(CLIENTS)]
        if args.tls:
            threads.append(threading.Thread(target=reloader, args=(seed, server.pid, deadline, stats), daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + 120)
        failures += stats.failures

        if args.tls:
            reloaded = len([l for l in server.log() if re.search(r"SIGHUP: .*reloaded; new TLS", l)])
            refused = [l for l in server.log() if "certificates not reloaded" in l]
            if refused:
                failures.append(f"a reload was refused: {refused[0]}")
            if stats.counts.get("reloads", 0) and not reloaded:
                failures.append(f"{stats.counts['reloads']} SIGHUPs, no reload in the log")
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
            for ctx in target.verified:
                name = ctx.maximum_version.name + (" with ALPN" if id(ctx) in target.alpn else "")
                try:
                    for p in ("/big.bin", "/mid.bin", "/index.html"):
                        r = tls_get(ctx, p)
                        if r.status != 200 or r.body != BODIES[p]:
                            failures.append(f"GET {p} over {name} after fuzzing: {r.status}, {len(r.body)} bytes")
                    r = tls_get(ctx, "/big.bin", "Range: bytes=1000-1999\r\n")
                    if r.status != 206 or r.body != BODIES["/big.bin"][1000:2000]:
                        failures.append(f"ranged GET over {name} after fuzzing: {r.status}")
                except (OSError, AssertionError, ConnectionError) as e:
                    failures.append(f"GET over {name} after fuzzing: {e!r}")
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
        target.close_kept()
        rc = server.stop(timeout=60) if server.alive() else server.proc.wait()
        root.cleanup()
        if certs:
            shutil.rmtree(certs)
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
    if args.tls:
        print(f"e2e_fuzz: tls: {c.get('tls_hostile', 0)} hostile raw connections: {c.get('hellos_mutated', 0)} mutated "
              f"ClientHellos, {c.get('flights_mangled', 0)} mangled flights, {c.get('stalled_handshakes', 0)} "
              f"stalled and {c.get('handshake_resets', 0)} reset handshakes, {c.get('garbage_records', 0)} garbage, "
              f"{c.get('plain_http', 0)} plain HTTP ({c.get('plain_400s', 0)} plain 400s seen), "
              f"{c.get('records_tampered', 0)} tampered after the handshake, "
              f"{c.get('body_resets', 0)} resets mid-body, {c.get('stopped_readers', 0)} stopped readers, "
              f"{c.get('floods', 0)} floods, {c.get('close_notify', 0)} close_notify, "
              f"{c.get('alpn_checked', 0)} ALPN answers checked, {c.get('left_open', 0)} left open "
              f"({c.get('deadlines_checked', 0)} seen closed by the server's deadlines), "
              f"{c.get('half_closed_unanswered', 0)} half-closed unanswered, "
              f"{c.get('reloads', 0)} certificate reloads (SIGHUP)")
    for f in failures:
        print(f"e2e_fuzz: FAIL: {f}")
    print(f"e2e_fuzz: {'FAIL' if failures else 'PASS'} (seed {seed})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
