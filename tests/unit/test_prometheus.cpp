#include "metrics/board.hpp"
#include "metrics/prometheus.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

using namespace splicehttpd::metrics;

TEST_CASE("Exposition: HELP and TYPE, then samples with labels")
{
    Exposition e;
    e.family("splicehttpd_requests_total", MetricType::Counter, "Requests answered, by status class.");
    e.sample({{"worker", "0"}, {"class", "2xx"}}, std::uint64_t{1027});
    e.sample({{"worker", "0"}, {"class", "4xx"}}, std::uint64_t{3});
    e.family("splicehttpd_connections", MetricType::Gauge, "Connections open now.");
    e.sample({}, std::int64_t{-1});
    e.sample({{"worker", "1"}}, 0.5);
    CHECK(e.text() == "# HELP splicehttpd_requests_total Requests answered, by status class.\n"
                      "# TYPE splicehttpd_requests_total counter\n"
                      "splicehttpd_requests_total{worker=\"0\",class=\"2xx\"} 1027\n"
                      "splicehttpd_requests_total{worker=\"0\",class=\"4xx\"} 3\n"
                      "# HELP splicehttpd_connections Connections open now.\n"
                      "# TYPE splicehttpd_connections gauge\n"
                      "splicehttpd_connections -1\n"
                      "splicehttpd_connections{worker=\"1\"} 0.5\n");
}

TEST_CASE("Exposition: label values and HELP are escaped; values as Prometheus reads them")
{
    struct Row {
        int line;
        std::string value;
        std::string written;
    };
    const Row rows[] = {
        {__LINE__, "plain", "plain"},
        {__LINE__, "a\"b", "a\\\"b"},
        {__LINE__, "back\\slash", "back\\\\slash"},
        {__LINE__, "two\nlines", "two\\nlines"},
        {__LINE__, "tab\tstays", "tab\tstays"},
        {__LINE__, "caf\xc3\xa9", "caf\xc3\xa9"},
        {__LINE__, "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
        {__LINE__, "bad\xff", "bad\xef\xbf\xbd"},
        {__LINE__, "\xc3", "\xef\xbf\xbd"},                                 // cut short
        {__LINE__, "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                 // overlong '/'
        {__LINE__, "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, // a surrogate
        {__LINE__, std::string("nul\0in", 6), std::string("nul\0in", 6)},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        std::string out;
        append_label_value(out, r.value);
        CHECK(out == r.written);
    }
    Exposition e;
    e.family("x", MetricType::Gauge, "a \\ and\na newline");
    e.sample({}, std::numeric_limits<double>::infinity());
    e.sample({{"k", "-inf"}}, -std::numeric_limits<double>::infinity());
    e.sample({{"k", "nan"}}, std::nan(""));
    e.sample({{"k", "big"}}, 1e20);
    e.sample({{"k", "max"}}, std::numeric_limits<std::uint64_t>::max());
    CHECK(e.text() == "# HELP x a \\\\ and\\na newline\n# TYPE x gauge\nx +Inf\nx{k=\"-inf\"} -Inf\nx{k=\"nan\"} NaN\n"
                      "x{k=\"big\"} 1e+20\nx{k=\"max\"} 18446744073709551615\n");
}

TEST_CASE("Exposition: what would break the format throws")
{
    struct Row {
        int line;
        void (*write)(Exposition&);
    };
    const Row rows[] = {
        {__LINE__, [](Exposition& e) { e.family("1starts_with_a_digit", MetricType::Gauge, ""); }},
        {__LINE__, [](Exposition& e) { e.family("has-dash", MetricType::Gauge, ""); }},
        {__LINE__, [](Exposition& e) { e.family("", MetricType::Gauge, ""); }},
        {__LINE__, [](Exposition& e) { e.family("requests", MetricType::Counter, ""); }},
        {__LINE__,
         [](Exposition& e) {
             e.family("x", MetricType::Gauge, "");
             e.family("x", MetricType::Gauge, "");
         }},
        {__LINE__, [](Exposition& e) { e.sample({}, std::uint64_t{1}); }},
        {__LINE__,
         [](Exposition& e) {
             e.family("x", MetricType::Gauge, "");
             e.sample({{"__reserved", "v"}}, std::uint64_t{1});
         }},
        {__LINE__,
         [](Exposition& e) {
             e.family("x", MetricType::Gauge, "");
             e.sample({{"bad-name", "v"}}, std::uint64_t{1});
         }},
        {__LINE__,
         [](Exposition& e) {
             e.family("x", MetricType::Gauge, "");
             e.sample({{"a", "1"}, {"a", "2"}}, std::uint64_t{1});
         }},
        {__LINE__,
         [](Exposition& e) {
             e.family("x", MetricType::Gauge, "");
             e.sample({{"a", "1"}}, std::uint64_t{1});
             e.sample({{"a", "1"}}, std::uint64_t{2});
         }},
        {__LINE__,
         [](Exposition& e) {
             e.family("x_total", MetricType::Counter, "");
             e.sample({}, std::int64_t{-1});
         }},
        {__LINE__,
         [](Exposition& e) {
             e.family("x_total", MetricType::Counter, "");
             e.sample({}, std::nan(""));
         }},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        Exposition e;
        CHECK_THROWS_AS(r.write(e), std::invalid_argument);
    }
    // The same labels in two families, and a series without labels next to
    // ones with, are fine.
    Exposition e;
    e.family("a", MetricType::Gauge, "");
    e.sample({{"k", "1"}}, std::uint64_t{1});
    e.sample({}, std::uint64_t{2});
    e.family("b_total", MetricType::Counter, "");
    CHECK_NOTHROW(e.sample({{"k", "1"}}, std::uint64_t{1}));
}

TEST_CASE("Board: each worker's last copy, its responses by class and method")
{
    Board board(2);
    WorkerSample a;
    a.count_response(200, 0, 1000);
    a.count_response(404, 0, 150);
    a.count_response(206, 1, 300);
    a.count_response(99, 0, 7);  // no class: bytes only
    a.count_response(500, 9, 0); // an unknown method counts as other
    a.connections = 3;
    board.publish(0, a);
    WorkerSample b;
    b.count_response(304, 1, 0);
    board.publish(1, b);
    board.publish(2, b); // no such worker: ignored
    const std::string text = board.render();
    CHECK(text.find("splicehttpd_requests_total{worker=\"0\",class=\"2xx\",method=\"GET\"} 1\n") != std::string::npos);
    CHECK(text.find("splicehttpd_requests_total{worker=\"0\",class=\"4xx\",method=\"GET\"} 1\n") != std::string::npos);
    CHECK(text.find("splicehttpd_requests_total{worker=\"0\",class=\"2xx\",method=\"HEAD\"} 1\n") != std::string::npos);
    CHECK(text.find("splicehttpd_requests_total{worker=\"0\",class=\"5xx\",method=\"other\"} 1\n") !=
          std::string::npos);
    CHECK(text.find("splicehttpd_requests_total{worker=\"1\",class=\"3xx\",method=\"HEAD\"} 1\n") != std::string::npos);
    CHECK(text.find("splicehttpd_sent_bytes_total{worker=\"0\"} 1457\n") != std::string::npos);
    CHECK(text.find("splicehttpd_connections_open{worker=\"0\"} 3\n") != std::string::npos);
    CHECK(text.find("# TYPE splicehttpd_connections_open gauge\n") != std::string::npos);
    CHECK(text.find("worker=\"2\"") == std::string::npos);
    // A later copy replaces the earlier.
    a.count_response(200, 0, 1);
    board.publish(0, a);
    CHECK(board.render().find("splicehttpd_requests_total{worker=\"0\",class=\"2xx\",method=\"GET\"} 2\n") !=
          std::string::npos);
}
