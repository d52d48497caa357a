"""prom.py, the Prometheus text parser the /metrics tests use, and
src/metrics/prometheus.*, the writer, checked against each other: the
parser reads the writer's awkward cases back exactly (PROM_SAMPLE: the
tests/unit/prom_sample program), and refuses what Prometheus refuses.

Needs no server and no io_uring: it runs in the unit suite."""

import math
import os
import subprocess
import unittest

import prom

EXAMPLE = """\
# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
"""


class Parser(unittest.TestCase):
    def test_the_example_of_the_format_documentation(self):
        families = prom.parse(EXAMPLE)
        self.assertEqual(list(families), ["http_requests_total", "msdos_file_access_time_seconds",
                                          "metric_without_timestamp_and_labels", "something_weird",
                                          "http_request_duration_seconds"])
        self.assertEqual(families["http_requests_total"].type, "counter")
        self.assertEqual(families["http_requests_total"].help, "The total number of HTTP requests.")
        self.assertEqual(prom.value(families, "http_requests_total", method="post", code="400"), 3)
        self.assertEqual(prom.total(families, "http_requests_total", method="post"), 1030)
        self.assertEqual(prom.value(families, "msdos_file_access_time_seconds", path="C:\\DIR\\FILE.TXT",
                                    error='Cannot find file:\n"FILE.TXT"'), 1.458255915e9)
        self.assertEqual(families["metric_without_timestamp_and_labels"].type, "untyped")
        self.assertEqual(prom.value(families, "something_weird", problem="division by zero"), math.inf)
        h = families["http_request_duration_seconds"]
        self.assertEqual(h.type, "histogram")
        self.assertEqual(len(h.samples), 4)
        self.assertEqual(prom.value(families, "http_request_duration_seconds_count"), 144320)

    def test_refuses_what_prometheus_refuses(self):
        bad = {
            "no newline at the end": "x 1",
            "a value that is not a number": "x one\n",
            "no value": "x\n",
            "no space before the value": 'x{a="1"}1\n',
            "three fields": "x 1 2 3\n",
            "a bad timestamp": "x 1 1.5\n",
            "a bad metric name": "1x 1\n",
            "a bad label name": 'x{1a="1"} 1\n',
            "a reserved label name": 'x{__name__="y"} 1\n',
            "an unquoted label value": "x{a=1} 1\n",
            "an unclosed label value": 'x{a="1} 1\n',
            "an unclosed label set": 'x{a="1" 1\n',
            "a bad escape": 'x{a="\\t"} 1\n',
            "a label twice": 'x{a="1",a="2"} 1\n',
            "a series twice": 'x{a="1"} 1\nx{a="1"} 2\n',
            "a series twice, labels reordered": 'x{a="1",b="2"} 1\nx{b="2",a="1"} 2\n',
            "an unknown type": "# TYPE x countr\nx 1\n",
            "two TYPE lines": "# TYPE x gauge\n# TYPE x gauge\nx 1\n",
            "two HELP lines": "# HELP x a\n# HELP x b\nx 1\n",
            "TYPE after the samples": "x 1\n# TYPE x gauge\n",
            "a family split in two": "x 1\ny 1\nx{a=\"1\"} 2\n",
            "a negative counter": "# TYPE x_total counter\nx_total -1\n",
            "a NaN counter": "# TYPE x_total counter\nx_total NaN\n",
            "a histogram sample without a suffix": "# TYPE x histogram\nx 1\n",
            "a bad escape in HELP": "# HELP x a \\q b\nx 1\n",
        }
        for why, text in bad.items():
            with self.subTest(why=why):
                with self.assertRaises(ValueError):
                    prom.parse(text)
        with self.assertRaises(UnicodeDecodeError):
            prom.parse(b"x{a=\"\xff\"} 1\n")

    def test_lookups_say_what_is_there(self):
        families = prom.parse('x{a="1"} 1\nx{a="2"} 2\n')
        self.assertEqual(prom.total(families, "x"), 3)
        with self.assertRaises(KeyError):
            prom.value(families, "x")  # two samples match no labels exactly; none has none
        with self.assertRaises(KeyError):
            prom.value(families, "y")


class Writer(unittest.TestCase):
    """The C++ writer's output, read back."""

    @classmethod
    def setUpClass(cls):
        program = os.environ.get("PROM_SAMPLE")
        if not program:
            raise unittest.SkipTest("PROM_SAMPLE not set (meson test sets it)")
        cls.raw = subprocess.run([program], capture_output=True, check=True, timeout=10).stdout
        cls.families = prom.parse(cls.raw)

    def test_families_in_order_with_help_and_type(self):
        self.assertEqual(list(self.families), ["sample_requests_total", "sample_labels", "sample_values"])
        f = self.families["sample_requests_total"]
        self.assertEqual(f.type, "counter")
        self.assertEqual(f.help, "Requests, by class.\nSecond line with \\ in it.")
        self.assertEqual(self.families["sample_labels"].type, "gauge")

    def test_counters_exactly(self):
        get = lambda **l: prom.value(self.families, "sample_requests_total", **l)
        self.assertEqual(get(worker="0", **{"class": "2xx"}), 1027)
        self.assertEqual(get(worker="0", **{"class": "4xx"}), 0)
        # 2^64-1 is written exactly (a float reads it back rounded, as Prometheus does).
        self.assertIn(b'sample_requests_total{worker="1",class="2xx"} 18446744073709551615\n', self.raw)
        self.assertEqual(prom.total(self.families, "sample_requests_total", worker="0"), 1027)

    def test_label_values_round_trip(self):
        expect = {
            'quote"d': 1, "back\\slash": 2, "new\nline": 3, "caf\u00e9": 4, "bad\ufffd": 5,
            '{curly}, comma="x"': 6, "": -7,
        }
        for v, n in expect.items():
            with self.subTest(v=v):
                self.assertEqual(prom.value(self.families, "sample_labels", v=v), n)

    def test_special_values(self):
        get = lambda k: prom.value(self.families, "sample_values", k=k)
        self.assertEqual(get("inf"), math.inf)
        self.assertEqual(get("-inf"), -math.inf)
        self.assertTrue(math.isnan(get("nan")))
        self.assertEqual(get("small"), 1.5e-9)
        self.assertEqual(get("big"), 1e20)
        self.assertEqual(prom.value(self.families, "sample_values"), 0.1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
