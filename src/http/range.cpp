#include "http/range.hpp"

#include "http/text.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <span>

namespace splicehttpd::http {

namespace {

std::optional<std::uint64_t> number(std::string_view s)
{
    if (s.empty()) return {};
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return {};
    return v;
}

struct Spec {
    std::optional<std::uint64_t> first; // empty: suffix range
    std::optional<std::uint64_t> last;  // empty: open-ended, or the suffix length when !first
};

std::optional<Spec> parse_spec(std::string_view s)
{
    std::size_t dash = s.find('-');
    if (dash == std::string_view::npos) return {};
    std::string_view a = s.substr(0, dash);
    std::string_view b = s.substr(dash + 1);
    Spec spec;
    if (a.empty()) {
        auto n = number(b);
        if (!n) return {};
        spec.last = n;
        return spec;
    }
    spec.first = number(a);
    if (!spec.first) return {};
    if (!b.empty()) {
        spec.last = number(b);
        if (!spec.last || *spec.last < *spec.first) return {};
    }
    return spec;
}

} // namespace

RangeResult parse_range(std::string_view header, std::uint64_t size)
{
    RangeResult result;
    header = trim(header);
    std::size_t eq = header.find('=');
    if (eq == std::string_view::npos) return result;
    std::string_view unit = trim(header.substr(0, eq));
    if (!iequals(unit, "bytes")) return result;

    // Every spec is checked (one bad spec invalidates the header), the first
    // kMaxRanges kept: more than that is answered in full anyway.
    std::array<Spec, kMaxRanges> specs;
    std::size_t count = 0;
    std::string_view rest = header.substr(eq + 1);
    while (true) {
        std::size_t comma = rest.find(',');
        std::string_view item = trim(rest.substr(0, comma));
        if (!item.empty()) { // empty list elements are allowed (RFC 9110 §5.6.1)
            auto spec = parse_spec(item);
            if (!spec) return result; // one bad spec invalidates the header
            if (count < kMaxRanges) specs[count] = *spec;
            ++count;
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    if (count == 0) return result;
    if (count > kMaxRanges) {
        result.outcome = RangeOutcome::Full;
        return result;
    }

    std::uint64_t requested = 0; // stays <= size: a sum of lengths near 2^63 would wrap
    bool more_than_file = false;
    for (const Spec& s : std::span(specs.data(), count)) {
        ByteRange r;
        if (!s.first) {
            if (*s.last == 0 || size == 0) continue;
            r.first = *s.last >= size ? 0 : size - *s.last;
            r.last = size - 1;
        } else {
            if (*s.first >= size) continue;
            r.first = *s.first;
            r.last = s.last ? std::min(*s.last, size - 1) : size - 1;
        }
        if (r.length() > size - requested)
            more_than_file = true;
        else
            requested += r.length();
        result.ranges.push_back(r);
    }
    if (result.ranges.empty()) {
        result.outcome = RangeOutcome::Unsatisfiable;
        return result;
    }
    if (result.ranges.size() > 1 && more_than_file) {
        // Overlapping ranges that add up to more than the file: the
        // "bytes=0-,0-,0-..." amplification. Serve the file once instead.
        result.ranges.clear();
        result.outcome = RangeOutcome::Full;
        return result;
    }

    std::sort(result.ranges.begin(), result.ranges.end(),
              [](const ByteRange& x, const ByteRange& y) { return x.first < y.first; });
    // Merge in place: ranges[0, kept) are the merged ones so far.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < result.ranges.size(); ++i) {
        const ByteRange r = result.ranges[i];
        if (kept > 0 && r.first <= result.ranges[kept - 1].last + 1)
            result.ranges[kept - 1].last = std::max(result.ranges[kept - 1].last, r.last);
        else
            result.ranges[kept++] = r;
    }
    result.ranges.resize(kept);
    result.outcome = RangeOutcome::Ranges;
    return result;
}

} // namespace splicehttpd::http
