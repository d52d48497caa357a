"""--metrics-listen (issue 19): /metrics in the Prometheus text format,
parsed by tests/e2e/prom.py (strict), on a port of its own that serves no
file. Counters move with the traffic and never go back; gauges say now; two
workers each have their series; HEAD works, anything else is 404; a bad
address is one line and exit 2."""

import re
import socket
import subprocess
import time
import unittest

import harness
import prom
from harness import ServerTest, payload


class Metrics(ServerTest):
    threads = 2
    server_args = ("--metrics-listen", "127.0.0.1:0")

    @classmethod
    def populate(cls, root):
        root.write("small.txt", payload(1000))
        root.write("big.bin", payload(300_000))

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        line = cls.server.wait_log(r"listening on .*metrics http://")
        cls.metrics_port = int(re.search(r"metrics http://127\.0\.0\.1:(\d+)/metrics", line).group(1))

    def scrape(self, method="GET", path="/metrics"):
        c = harness.Client(self.metrics_port)
        try:
            return c.request(method, path)
        finally:
            c.close()

    def families(self):
        r = self.scrape()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        return prom.parse(r.body.decode())

    def test_counters_move_and_never_go_back(self):
        before = self.families()
        for worker in ("0", "1"):  # every worker has its series
            self.assertIsNotNone(prom.value(before, "splicehttpd_connections_open", worker=worker))
        self.assertEqual(before["splicehttpd_requests_total"].type, "counter")
        self.assertEqual(before["splicehttpd_connections_open"].type, "gauge")
        gets = prom.total(before, "splicehttpd_requests_total", **{"class": "2xx", "method": "GET"})
        missing = prom.total(before, "splicehttpd_requests_total", **{"class": "4xx", "method": "GET"})
        heads = prom.total(before, "splicehttpd_requests_total", **{"class": "2xx", "method": "HEAD"})
        sent = prom.total(before, "splicehttpd_sent_bytes_total")
        spliced = prom.total(before, "splicehttpd_bodies_spliced_total")
        inline = prom.total(before, "splicehttpd_bodies_inline_total")
        for _ in range(5):
            self.assertEqual(self.server.get("/small.txt").status, 200)
            self.assertEqual(self.server.get("/big.bin").body, payload(300_000))
            self.assertEqual(self.server.get("/missing").status, 404)
        self.assertEqual(self.server.get("/small.txt", method="HEAD").status, 200)
        # Workers publish once a second (their tick), each on its own: wait
        # for both.
        want = {("2xx", "GET"): gets + 10, ("4xx", "GET"): missing + 5, ("2xx", "HEAD"): heads + 1}
        deadline = time.time() + 5
        while True:
            after = self.families()
            got = {k: prom.total(after, "splicehttpd_requests_total", **{"class": k[0], "method": k[1]})
                   for k in want}
            if got == want or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(got, want)
        self.assertGreaterEqual(prom.total(after, "splicehttpd_sent_bytes_total"), sent + 5 * (300_000 + 1000))
        self.assertEqual(prom.total(after, "splicehttpd_bodies_spliced_total"), spliced + 5)  # 300 KB: a pipe
        self.assertEqual(prom.total(after, "splicehttpd_bodies_inline_total"), inline + 5)  # not the HEAD
        self.assertGreaterEqual(prom.total(after, "splicehttpd_connections_accepted_total"), 16)
        self.assertGreater(prom.total(after, "splicehttpd_pipes"), 0)
        # Counters only grow, scrape after scrape.
        again = self.families()
        for name, family in after.items():
            if family.type != "counter":
                continue
            later = {(n, tuple(sorted(l.items()))): v for n, l, v in again[name].samples}
            for sample, labels, value in family.samples:
                self.assertGreaterEqual(later[(sample, tuple(sorted(labels.items())))], value, (name, labels))

    def test_only_metrics_is_served_there(self):
        head = self.scrape("HEAD")
        self.assertEqual((head.status, head.body), (200, b""))
        self.assertEqual(self.scrape(path="/small.txt").status, 404)
        self.assertEqual(self.scrape(path="/metrics/").status, 404)
        self.assertEqual(self.scrape(path="/").status, 404)
        self.assertEqual(self.scrape(method="POST").status, 405)
        # The plain port has no /metrics.
        self.assertEqual(self.server.get("/metrics").status, 404)


class MetricsFlags(unittest.TestCase):
    def test_bad_address_exits_2(self):
        for value in ("nonsense:x", "300.0.0.1:9145"):
            out = subprocess.run([harness.BINARY, "--root", "/", "--port", "0", "--metrics-listen", value,
                                  "--no-sandbox", "--allow-root"], capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 2, out.stderr)
            self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)
            self.assertIn("--metrics-listen", out.stderr)

    def test_port_taken_exits_1(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        try:
            out = subprocess.run([harness.BINARY, "--root", "/", "--port", "0", "--metrics-listen",
                                  f"127.0.0.1:{s.getsockname()[1]}", "--no-sandbox", "--allow-root"],
                                 capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 1, out.stderr)
            self.assertIn("Address already in use", out.stderr)
        finally:
            s.close()


if __name__ == "__main__":
    harness.main()
