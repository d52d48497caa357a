#!/usr/bin/env python3
"""--sqpoll: a kernel thread submits and waits spin on the CQ, so a busy
server makes (almost) no syscalls. Responses stay byte-exact."""
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

import harness

MiB = 1 << 20
CLIENTS = 4
PER_CLIENT = 500


class Sqpoll(harness.ServerTest):
    server_args = ("--sqpoll",)
    server_env = harness.traced_env()

    @classmethod
    def populate(cls, root):
        root.write("small.txt", "small\n" * 100)
        root.write("big.bin", harness.payload(3 * MiB + 7, seed=5))

    def test_ring_is_sqpoll_and_answers(self):
        line = self.server.wait_log(r"ring flags 0x[0-9a-f]+")
        flags = int(re.search(r"ring flags (0x[0-9a-f]+)", line).group(1), 16)
        self.assertTrue(flags & 0x2, f"IORING_SETUP_SQPOLL not set: {line}")
        c = self.server.client()
        self.assertEqual(c.request("GET", "/small.txt").body, b"small\n" * 100)
        self.assertEqual(c.request("GET", "/big.bin").body, harness.payload(3 * MiB + 7, seed=5))
        r = c.request("GET", "/big.bin", headers={"Range": "bytes=1000-1999"})
        self.assertEqual((r.status, r.body), (206, harness.payload(3 * MiB + 7, seed=5)[1000:2000]))
        c.close()

    def test_no_syscalls_under_load(self):
        strace = harness.require_program("strace")
        out = tempfile.NamedTemporaryFile(prefix="strace-", suffix=".txt", delete=False)
        out.close()
        tracer = subprocess.Popen([strace, "-f", "-c", "-o", out.name, "-p", str(self.server.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(l.decode() for l in tracer.stderr), daemon=True)
        reader.start()
        try:
            deadline = time.time() + 10
            while not any("attached" in l for l in lines) and time.time() < deadline:
                if any("not permitted" in l for l in lines):
                    print("strace may not attach here (ptrace not permitted): skipping\n" + "".join(lines))
                    os._exit(harness.SKIP)
                self.assertIsNone(tracer.poll(), "strace exited: " + "".join(lines))
                time.sleep(0.05)
            self.assertTrue(any("attached" in l for l in lines), "strace did not attach: " + "".join(lines))
            done = []

            def client():
                c = self.server.client(timeout=60)
                ok = sum(c.request("GET", "/small.txt").status == 200 for _ in range(PER_CLIENT))
                c.close()
                done.append(ok)

            ts = [threading.Thread(target=client) for _ in range(CLIENTS)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(120)
            self.assertEqual(sum(done), CLIENTS * PER_CLIENT)
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(30)
        with open(out.name) as f:
            report = f.read()
        os.unlink(out.name)
        total = 0
        for m in re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", report, re.M):
            if m.group(2) != "total":
                total += int(m.group(1))
        per_request = total / (CLIENTS * PER_CLIENT)
        print(f"{total} syscalls for {CLIENTS * PER_CLIENT} requests: {per_request:.3f} per request\n{report}")
        # Without --sqpoll this load costs ~0.5 io_uring_enter per request.
        self.assertLess(per_request, 0.1, report)


if __name__ == "__main__":
    harness.main()
