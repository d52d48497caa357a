#include "metrics/prometheus.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace splicehttpd::metrics {

namespace {

bool name_start(char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool name_char(char c) noexcept
{
    return name_start(c) || (c >= '0' && c <= '9');
}

bool metric_name(std::string_view s) noexcept
{
    if (s.empty() || !(name_start(s[0]) || s[0] == ':')) return false;
    for (char c : s)
        if (!name_char(c) && c != ':') return false;
    return true;
}

bool label_name(std::string_view s) noexcept
{
    if (s.empty() || !name_start(s[0]) || s.starts_with("__")) return false;
    for (char c : s)
        if (!name_char(c)) return false;
    return true;
}

// The length of the UTF-8 sequence at s[i], or 0 when it is not one
// (overlong forms, surrogates and code points past U+10FFFF included).
std::size_t utf8_length(std::string_view s, std::size_t i) noexcept
{
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned c = b(i);
    if (c < 0x80) return 1;
    std::size_t n = 0;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    if (b(i + 1) < lo || b(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
    return n;
}

void append_help(std::string& out, std::string_view help)
{
    for (char c : help) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
}

[[noreturn]] void invalid(const std::string& why)
{
    throw std::invalid_argument("metrics: " + why);
}

} // namespace

void append_label_value(std::string& out, std::string_view value)
{
    for (std::size_t i = 0; i < value.size();) {
        const char c = value[i];
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else if (const std::size_t n = utf8_length(value, i); n == 0) {
            out += "\xef\xbf\xbd"; // U+FFFD
        } else {
            out.append(value.substr(i, n));
            i += n;
            continue;
        }
        ++i;
    }
}

void Exposition::family(std::string_view name, MetricType type, std::string_view help)
{
    if (!metric_name(name)) invalid(fmt::format("'{}' is not a metric name", name));
    if (type == MetricType::Counter && !name.ends_with("_total"))
        invalid(fmt::format("counter {} does not end in _total", name));
    if (!families_.emplace(name).second) invalid(fmt::format("family {} written twice", name));
    family_ = name;
    type_ = type;
    series_.clear();
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    append_help(text_, help);
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += type == MetricType::Counter ? " counter\n" : " gauge\n";
}

void Exposition::begin_sample(std::span<const Label> labels)
{
    if (family_.empty()) invalid("a sample before any family");
    std::string rendered;
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (!label_name(labels[i].name)) invalid(fmt::format("{}: '{}' is not a label name", family_, labels[i].name));
        for (std::size_t j = 0; j < i; ++j)
            if (labels[j].name == labels[i].name)
                invalid(fmt::format("{}: label {} given twice", family_, labels[i].name));
        rendered += i == 0 ? "{" : ",";
        rendered += labels[i].name;
        rendered += "=\"";
        append_label_value(rendered, labels[i].value);
        rendered += '"';
    }
    if (!labels.empty()) rendered += '}';
    if (!series_.insert(rendered).second) invalid(fmt::format("{}{} written twice", family_, rendered));
    text_ += family_;
    text_ += rendered;
    text_ += ' ';
}

void Exposition::sample(std::span<const Label> labels, std::uint64_t value)
{
    begin_sample(labels);
    text_ += std::to_string(value);
    text_ += '\n';
}

void Exposition::sample(std::span<const Label> labels, std::int64_t value)
{
    if (type_ == MetricType::Counter && value < 0 && !family_.empty())
        invalid(fmt::format("counter {} is negative ({})", family_, value));
    begin_sample(labels);
    text_ += std::to_string(value);
    text_ += '\n';
}

void Exposition::sample(std::span<const Label> labels, double value)
{
    if (type_ == MetricType::Counter && !family_.empty() && !(value >= 0))
        invalid(fmt::format("counter {} is {}", family_, value));
    begin_sample(labels);
    if (std::isnan(value))
        text_ += "NaN";
    else if (std::isinf(value))
        text_ += value > 0 ? "+Inf" : "-Inf";
    else
        text_ += fmt::format("{}", value); // shortest text that reads back the same
    text_ += '\n';
}

} // namespace splicehttpd::metrics
