"""Network namespaces joined to the host by veth pairs, for tests that need a
real link instead of loopback: MTU 1500, real segmentation, and a rate limit
(tc tbf) on one link but not another.

    with netns.Links() as links:
        fast = links.add()                  # namespace + veth pair
        slow = links.add(rate="1mbit")      # tbf on the host side's egress
        server binds fast.host_addr (a host address the test made)
        slow.route_to(fast.host_addr)       # reach it across the slow link
        slow.run("get", fast.host_addr, port, ...)

Each link is a namespace named shd-<pid>-<n> and a veth pair shd<pid>h<n>
(host side) / eth0 (namespace side) with a /30 from 10.201.0.0/16 that no
host address or route overlaps. Everything is removed on exit, on an
exception, and on SIGTERM (meson's timeout); what a SIGKILLed run left
behind is removed by the next run (its pid is gone).

Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN): require() exits 77 (skipped)
with the reason when `ip netns add` is refused or `ip`/`tc` are missing.
"""

import atexit
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "shd"
SKIP = 77


def ip(*args, check=True, ns=None):
    cmd = ["ip"] + (["-n", ns] if ns else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()}")
    return p


def tc(*args):
    p = subprocess.run(["tc", *args], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"tc {' '.join(args)}: {p.stderr.strip()}")


def namespaces():
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def sweep_stale():
    """Removes what runs that died without cleaning up left behind."""
    for name in namespaces():
        m = re.fullmatch(PREFIX + r"-(\d+)-\d+", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            ip("netns", "del", name, check=False)
    for line in ip("-o", "link", "show", check=False).stdout.splitlines():
        m = re.match(r"\d+: (" + PREFIX + r"(\d+)h\d+)[@:]", line)
        if m and not os.path.exists(f"/proc/{m.group(2)}"):
            ip("link", "del", m.group(1), check=False)


def require():
    """Exits 77 (skip), saying why, where namespaces cannot be made."""
    if os.geteuid() != 0:
        print("netns: not root: skipping")
        sys.exit(SKIP)
    for prog in ("ip", "tc"):
        if not shutil.which(prog):
            print(f"netns: {prog} not installed: skipping")
            sys.exit(SKIP)
    sweep_stale()
    probe = f"{PREFIX}-{os.getpid()}-probe"
    p = ip("netns", "add", probe, check=False)
    if p.returncode != 0:
        print(f"netns: `ip netns add` refused ({p.stderr.strip()}): skipping")
        sys.exit(SKIP)
    ip("netns", "del", probe)


def used_networks():
    """Every IPv4 network the host has an address or a route in."""
    nets = []
    for line in ip("-4", "-o", "addr", "show", check=False).stdout.splitlines():
        m = re.search(r"inet (\S+)", line)
        if m:
            nets.append(ipaddress.ip_network(m.group(1), strict=False))
    for line in ip("-4", "route", "show", "table", "all", check=False).stdout.splitlines():
        first = line.split()[0] if line.split() else ""
        if first in ("default", "broadcast", "local", "unreachable", "prohibit", "blackhole"):
            first = line.split()[1] if len(line.split()) > 1 and first != "default" else ""
        try:
            net = ipaddress.ip_network(first if "/" in first else first + "/32", strict=False)
        except ValueError:
            continue
        nets.append(net)
    return nets


class Link:
    def __init__(self, index, net):
        self.ns = f"{PREFIX}-{os.getpid()}-{index}"
        self.host_if = f"{PREFIX}{os.getpid()}h{index}"
        hosts = list(net.hosts())
        self.net = net
        self.host_addr, self.ns_addr = str(hosts[0]), str(hosts[1])

    def create(self, mtu):
        ip("netns", "add", self.ns)
        ip("link", "add", self.host_if, "mtu", str(mtu), "type", "veth", "peer", "name", "eth0", "mtu", str(mtu),
           "netns", self.ns)
        ip("addr", "add", f"{self.host_addr}/30", "dev", self.host_if)
        ip("link", "set", self.host_if, "up")
        ip("addr", "add", f"{self.ns_addr}/30", "dev", "eth0", ns=self.ns)
        ip("link", "set", "eth0", "up", ns=self.ns)
        ip("link", "set", "lo", "up", ns=self.ns)

    def shape(self, rate, burst="16kb", latency="2s"):
        """tbf on the host side's egress: server-to-client traffic on this
        link goes at `rate`."""
        tc("qdisc", "replace", "dev", self.host_if, "root", "tbf", "rate", rate, "burst", burst, "latency", latency)

    def route_to(self, addr):
        """Traffic from the namespace to addr (a host address on another
        link) goes over this link."""
        ip("route", "add", f"{addr}/32", "via", self.host_addr, ns=self.ns)

    def mtu(self, inside=False):
        out = ip("-j", "link", "show", "eth0" if inside else self.host_if, ns=self.ns if inside else None).stdout
        return json.loads(out)[0]["mtu"]

    def popen(self, *args):
        """netns_client.py ARGS inside the namespace, stdin/stdout piped."""
        return subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable, os.path.join(HERE, "netns_client.py"),
                                 *map(str, args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, *args, timeout=120):
        """netns_client.py ARGS inside the namespace; its JSON answer."""
        p = self.popen(*args)
        out, _ = p.communicate("", timeout=timeout)
        lines = out.strip().splitlines()
        if p.returncode != 0 or not lines:
            raise AssertionError(f"client {args} exited {p.returncode}: {out}")
        return json.loads(lines[-1])

    def destroy(self):
        # Deleting the namespace deletes its end of the pair, and with it
        # the host end; the explicit del covers a half-made link.
        ip("netns", "del", self.ns, check=False)
        ip("link", "del", self.host_if, check=False)


class Links:
    """A set of links, all removed together when the block ends (or the
    process exits, or SIGTERM arrives)."""

    def __init__(self, mtu=1500):
        self.mtu = mtu
        self.links = []
        self.before_close = []  # called first, e.g. to stop a server bound to a link
        atexit.register(self.close)
        self.old_term = signal.signal(signal.SIGTERM, self._on_term)

    def _on_term(self, signum, frame):
        self.close()
        # Not SystemExit, which unittest would record as one test's error
        # and carry on with the next.
        raise KeyboardInterrupt(f"signal {signum}")

    def add(self, rate=None):
        used = used_networks() + [link.net for link in self.links]
        rng = random.Random()
        for _ in range(1000):
            net = ipaddress.ip_network(f"10.201.{rng.randrange(256)}.{rng.randrange(64) * 4}/30")
            if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
                break
        else:
            raise RuntimeError("no free /30 in 10.201.0.0/16")
        link = Link(len(self.links), net)
        self.links.append(link)
        link.create(self.mtu)
        if rate:
            link.shape(rate)
        return link

    def close(self):
        while self.before_close:
            try:
                self.before_close.pop()()
            except Exception:  # noqa: BLE001 - the links go regardless
                pass
        while self.links:
            self.links.pop().destroy()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        signal.signal(signal.SIGTERM, self.old_term)
        return False


def leftovers():
    """Namespaces and links of this process still present (should be none)."""
    mine = f"{PREFIX}-{os.getpid()}-"
    links = [line for line in ip("-o", "link", "show", check=False).stdout.splitlines()
             if f": {PREFIX}{os.getpid()}h" in line]
    return [n for n in namespaces() if n.startswith(mine)] + links
