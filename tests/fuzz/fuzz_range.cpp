// libFuzzer target: http::parse_range.
//
// Input: byte 0 < 0x80 is the file size itself (0..127, small files where
// every byte can be checked); otherwise the next 8 bytes, little-endian and
// below 2^63 (what a file size can be), are the size. The rest is the Range
// field value.
//
// Invariants: Ranges means 1..kMaxRanges ranges inside the file, sorted, with
// neither overlaps nor touching neighbours (merged as documented), adding up
// to at most the file size; every other outcome has no ranges. And the result
// agrees with a reference reading of RFC 9110 §14.1.2 written independently
// (128-bit sums, a byte map for small files).
#include "fuzz_check.hpp"

#include "http/range.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

using namespace splicehttpd::http;

namespace {

std::string_view ows_trim(std::string_view s)
{
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

std::optional<std::uint64_t> digits(std::string_view s)
{
    if (s.empty()) return {};
    unsigned __int128 v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return {};
        v = v * 10 + unsigned(c - '0');
        if (v > UINT64_MAX) return {};
    }
    return std::uint64_t(v);
}

struct Reference {
    RangeOutcome outcome = RangeOutcome::Ignore;
    std::vector<ByteRange> wanted; // the satisfiable specs, clamped, in header order
};

Reference reference(std::string_view header, std::uint64_t size)
{
    Reference ref;
    header = ows_trim(header);
    const auto eq = header.find('=');
    if (eq == std::string_view::npos) return ref;
    std::string_view unit = ows_trim(header.substr(0, eq));
    if (unit.size() != 5) return ref;
    for (std::size_t i = 0; i < 5; ++i)
        if ((unit[i] | 0x20) != "bytes"[i]) return ref;

    std::size_t specs = 0;
    std::vector<ByteRange> wanted;
    std::string_view set = header.substr(eq + 1);
    for (std::size_t start = 0; start <= set.size();) {
        std::size_t end = set.find(',', start);
        if (end == std::string_view::npos) end = set.size();
        const std::string_view item = ows_trim(set.substr(start, end - start));
        start = end + 1;
        if (item.empty()) continue;
        ++specs;
        const auto dash = item.find('-');
        if (dash == std::string_view::npos) return ref;
        const std::string_view a = item.substr(0, dash), b = item.substr(dash + 1);
        if (a.empty()) { // suffix-range
            const auto n = digits(b);
            if (!n) return ref;
            if (*n > 0 && size > 0) wanted.push_back({*n >= size ? 0 : size - *n, size - 1});
            continue;
        }
        const auto first = digits(a);
        const auto last = b.empty() ? std::optional<std::uint64_t>(UINT64_MAX) : digits(b);
        if (!first || !last || *last < *first) return ref;
        if (*first < size) wanted.push_back({*first, std::min(*last, size - 1)});
    }
    if (specs == 0) return ref;
    if (specs > kMaxRanges) {
        ref.outcome = RangeOutcome::Full;
        return ref;
    }
    if (wanted.empty()) {
        ref.outcome = RangeOutcome::Unsatisfiable;
        return ref;
    }
    unsigned __int128 sum = 0;
    for (const ByteRange& r : wanted) sum += static_cast<unsigned __int128>(r.last - r.first) + 1;
    if (wanted.size() > 1 && sum > size) {
        ref.outcome = RangeOutcome::Full;
        return ref;
    }
    ref.outcome = RangeOutcome::Ranges;
    ref.wanted = std::move(wanted);
    return ref;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) return 0;
    std::uint64_t file_size = data[0];
    std::size_t skip = 1;
    if (data[0] >= 0x80) {
        if (size < 9) return 0;
        file_size = 0;
        for (int i = 8; i >= 1; --i) file_size = file_size << 8 | data[i];
        file_size &= INT64_MAX;
        skip = 9;
    }
    const std::string_view header(reinterpret_cast<const char*>(data + skip), size - skip);

    const RangeResult got = parse_range(header, file_size);
    const Reference want = reference(header, file_size);
    FUZZ_CHECK(got.outcome == want.outcome);
    if (got.outcome != RangeOutcome::Ranges) {
        FUZZ_CHECK(got.ranges.empty());
        return 0;
    }

    FUZZ_CHECK(!got.ranges.empty() && got.ranges.size() <= kMaxRanges);
    unsigned __int128 total = 0;
    for (std::size_t i = 0; i < got.ranges.size(); ++i) {
        const ByteRange& r = got.ranges[i];
        FUZZ_CHECK(r.first <= r.last && r.last < file_size);
        FUZZ_CHECK(r.length() == r.last - r.first + 1);
        if (i > 0) FUZZ_CHECK(r.first > got.ranges[i - 1].last + 1); // sorted, merged when touching
        total += r.length();
    }
    FUZZ_CHECK(total <= file_size);

    // The same bytes as the specs asked for: each spec lies inside one range,
    // and each range starts and ends where some spec does.
    for (const ByteRange& w : want.wanted) {
        bool covered = false;
        for (const ByteRange& r : got.ranges) covered = covered || (r.first <= w.first && w.last <= r.last);
        FUZZ_CHECK(covered);
    }
    for (const ByteRange& r : got.ranges) {
        bool starts = false, ends = false;
        for (const ByteRange& w : want.wanted) {
            starts = starts || w.first == r.first;
            ends = ends || w.last == r.last;
        }
        FUZZ_CHECK(starts && ends);
    }
    // And no byte more: the union of the specs, counted another way.
    std::vector<ByteRange> sorted = want.wanted;
    std::sort(sorted.begin(), sorted.end(), [](const ByteRange& x, const ByteRange& y) {
        return x.first < y.first || (x.first == y.first && x.last > y.last);
    });
    unsigned __int128 union_size = 0;
    std::uint64_t next_uncounted = 0; // bytes below this are counted
    bool any = false;
    for (const ByteRange& w : sorted) {
        const std::uint64_t from = any ? std::max(w.first, next_uncounted) : w.first;
        if (any && w.last < from) continue; // inside what is counted already
        union_size += static_cast<unsigned __int128>(w.last - from) + 1;
        next_uncounted = w.last + 1; // w.last < file_size <= INT64_MAX: no wrap
        any = true;
    }
    FUZZ_CHECK(total == union_size);
    if (file_size <= 127) {
        std::vector<bool> asked(file_size), served(file_size);
        for (const ByteRange& w : want.wanted)
            for (std::uint64_t b = w.first; b <= w.last; ++b) asked[b] = true;
        for (const ByteRange& r : got.ranges)
            for (std::uint64_t b = r.first; b <= r.last; ++b) served[b] = true;
        FUZZ_CHECK(asked == served);
    }
    return 0;
}
