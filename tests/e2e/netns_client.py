"""Clients that run inside a network namespace (netns.Link.run starts this
file under `ip netns exec`). Each mode prints one JSON object on stdout.

  crowd HOST PORT N PATH SIZE...  N keep-alive connections, all open at once
      (prints {"connected": N} and waits for a line on stdin before sending),
      then on each connection GET PATH%SIZE for every SIZE in turn; every
      body is checked byte for byte against harness.payload(SIZE).
  get HOST PORT PATH SIZE         one GET; {"ok", "elapsed", "bytes"}
  stall HOST PORT PATH            a GET whose response is not read:
      prints {"sent": true}, waits for stdin to close, then reads until the
      end; {"ended": EOF or reset seen, "bytes": received}.
"""

import json
import os
import re
import resource
import selectors
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def say(obj):
    print(json.dumps(obj), flush=True)


def parse_one(buf):
    """(status, body, rest) once buf holds a whole response, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end]
    m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
    length = int(m.group(1)) if m else 0
    if len(buf) < end + 4 + length:
        return None
    status = int(head[9:12])
    return status, buf[end + 4:end + 4 + length], buf[end + 4 + length:]


def crowd(host, port, n, path, sizes):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 64)), hard))
    expected = {size: harness.payload(size) for size in sizes}
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, port))
        conns.append({"sock": s, "buf": b"", "next": 0, "done": False, "i": i})
        sel.register(s, selectors.EVENT_WRITE, conns[-1])
    # Every connection established before any request is sent.
    pending = n
    deadline = time.monotonic() + 30
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(1):
            c = key.data
            err = c["sock"].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                say({"error": f"connection {c['i']}: {os.strerror(err)}"})
                return 1
            sel.modify(c["sock"], selectors.EVENT_READ, c)
            pending -= 1
    if pending:
        say({"error": f"{pending} of {n} connections not established"})
        return 1
    say({"connected": n})
    sys.stdin.readline()

    def send_next(c):
        size = sizes[c["next"]]
        c["sock"].sendall(f"GET {path % size} HTTP/1.1\r\nHost: t\r\n\r\n".encode())

    for c in conns:
        send_next(c)
    errors = []
    left = n
    deadline = time.monotonic() + 60
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(1):
            c = key.data
            try:
                data = c["sock"].recv(1 << 18)
            except BlockingIOError:
                continue
            except OSError as e:
                data = b""
                errors.append(f"connection {c['i']}: {e}")
            if not data:
                errors.append(f"connection {c['i']}: closed after {c['next']} responses")
                sel.unregister(c["sock"])
                left -= 1
                continue
            c["buf"] += data
            parsed = parse_one(c["buf"])
            if parsed is None:
                continue
            status, body, c["buf"] = parsed
            size = sizes[c["next"]]
            if status != 200 or body != expected[size] or c["buf"]:
                errors.append(f"connection {c['i']}: status {status}, {len(body)} bytes for {size}, "
                              f"{len(c['buf'])} extra")
            c["next"] += 1
            if c["next"] == len(sizes):
                sel.unregister(c["sock"])
                left -= 1
            else:
                send_next(c)
    if left:
        errors.append(f"{left} connections unfinished after 60 s")
    for c in conns:
        c["sock"].close()
    say({"responses": sum(c["next"] for c in conns), "errors": errors[:20]})
    return 0


def get(host, port, path, size, tls=False):
    start = time.monotonic()
    s = socket.create_connection((host, port), timeout=120)
    if tls:  # the server's HTTPS port; its test certificate is not checked here
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname="localhost")
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    buf = bytearray()
    try:
        while True:
            data = s.recv(1 << 20)
            if not data:
                break
            buf += data
    except (OSError, ssl.SSLError):
        pass  # cut: the body is short, and says so below
    s.close()
    buf = bytes(buf)
    parsed = parse_one(buf)
    ok = parsed is not None and parsed[0] == 200 and parsed[1] == harness.payload(size) and parsed[2] == b""
    say({"ok": ok, "elapsed": time.monotonic() - start, "bytes": len(buf)})
    return 0


def stall(host, port, path):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    say({"sent": True})
    sys.stdin.read()  # not a byte read until the test closes our stdin
    s.settimeout(30)
    got, ended = 0, False
    try:
        while True:
            data = s.recv(1 << 20)
            if not data:
                ended = True
                break
            got += len(data)
    except ConnectionResetError:
        ended = True
    except socket.timeout:
        pass
    s.close()
    say({"ended": ended, "bytes": got})
    return 0


def main(argv):
    mode, host, port = argv[0], argv[1], int(argv[2])
    if mode == "crowd":
        return crowd(host, port, int(argv[3]), argv[4], [int(x) for x in argv[5:]])
    if mode in ("get", "get-tls"):
        return get(host, port, argv[3], int(argv[4]), tls=mode == "get-tls")
    if mode == "stall":
        return stall(host, port, argv[3])
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
