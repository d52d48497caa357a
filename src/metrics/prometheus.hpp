// The Prometheus text exposition format (version 0.0.4), written: each
// family's # HELP and # TYPE lines, then its samples, label values escaped.
// Pure; what a /metrics scrape will send (issue 19). Counters only grow,
// gauges say now; a name or label that breaks the format is a programming
// error and throws std::invalid_argument, so a test finds it before a
// scraper does.
//
//   # HELP splicehttpd_requests_total Requests answered, by status class.
//   # TYPE splicehttpd_requests_total counter
//   splicehttpd_requests_total{worker="0",class="2xx"} 1027
#pragma once

#include <cstdint>
#include <initializer_list>
#include <set>
#include <span>
#include <string>
#include <string_view>

namespace splicehttpd::metrics {

enum class MetricType { Counter, Gauge };

struct Label {
    std::string_view name;
    std::string_view value; // any bytes: escaped, invalid UTF-8 replaced by U+FFFD
};

// The Content-Type of a scrape's response.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

class Exposition {
public:
    // Starts a family: [a-zA-Z_:][a-zA-Z0-9_:]*, a counter's ending in
    // _total, each family once.
    void family(std::string_view name, MetricType type, std::string_view help);

    // A sample of the family begun last: label names [a-zA-Z_][a-zA-Z0-9_]*,
    // not starting with "__", each once; the same labels once per family.
    void sample(std::span<const Label> labels, std::uint64_t value);
    void sample(std::span<const Label> labels, std::int64_t value); // a counter's never negative
    void sample(std::span<const Label> labels, double value);       // NaN, +Inf, -Inf allowed for gauges
    void sample(std::initializer_list<Label> labels, std::uint64_t value)
    {
        sample(std::span<const Label>(labels.begin(), labels.size()), value);
    }
    void sample(std::initializer_list<Label> labels, std::int64_t value)
    {
        sample(std::span<const Label>(labels.begin(), labels.size()), value);
    }
    void sample(std::initializer_list<Label> labels, double value)
    {
        sample(std::span<const Label>(labels.begin(), labels.size()), value);
    }

    [[nodiscard]] const std::string& text() const noexcept { return text_; }

private:
    void begin_sample(std::span<const Label> labels);

    std::string text_;
    std::string family_; // "" before the first
    MetricType type_ = MetricType::Gauge;
    std::set<std::string, std::less<>> families_;
    std::set<std::string, std::less<>> series_; // of the current family: its label sets, as written
};

// `value` as the format writes a label value: \ " and newline escaped
// (\\ \" \n), bytes that are not UTF-8 as U+FFFD.
void append_label_value(std::string& out, std::string_view value);

} // namespace splicehttpd::metrics
