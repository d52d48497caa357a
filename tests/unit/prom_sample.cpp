// Writes an exposition with the awkward cases (escapes, invalid UTF-8,
// special values, big numbers) for tests/e2e/test_prom.py, which reads it
// with prom.py, the parser the end-to-end tests of /metrics will use: the
// writer and the parser are checked against each other.
#include "metrics/prometheus.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

using namespace splicehttpd::metrics;

int main()
{
    Exposition e;
    e.family("sample_requests_total", MetricType::Counter, "Requests, by class.\nSecond line with \\ in it.");
    e.sample({{"worker", "0"}, {"class", "2xx"}}, std::uint64_t{1027});
    e.sample({{"worker", "0"}, {"class", "4xx"}}, std::uint64_t{0});
    e.sample({{"worker", "1"}, {"class", "2xx"}}, std::numeric_limits<std::uint64_t>::max());
    e.family("sample_labels", MetricType::Gauge, "Label values that need escaping.");
    e.sample({{"v", "quote\"d"}}, std::int64_t{1});
    e.sample({{"v", "back\\slash"}}, std::int64_t{2});
    e.sample({{"v", "new\nline"}}, std::int64_t{3});
    e.sample({{"v", "caf\xc3\xa9"}}, std::int64_t{4});
    e.sample({{"v", "bad\xff"}}, std::int64_t{5});
    e.sample({{"v", "{curly}, comma=\"x\""}}, std::int64_t{6});
    e.sample({{"v", ""}}, std::int64_t{-7});
    e.family("sample_values", MetricType::Gauge, "Special values.");
    e.sample({{"k", "inf"}}, std::numeric_limits<double>::infinity());
    e.sample({{"k", "-inf"}}, -std::numeric_limits<double>::infinity());
    e.sample({{"k", "nan"}}, std::nan(""));
    e.sample({{"k", "small"}}, 1.5e-9);
    e.sample({{"k", "big"}}, 1e20);
    e.sample({}, 0.1);
    std::fwrite(e.text().data(), 1, e.text().size(), stdout);
    return 0;
}
