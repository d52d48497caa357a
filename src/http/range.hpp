// Range requests (RFC 9110 §14).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace splicehttpd::http {

struct ByteRange {
    std::uint64_t first = 0; // inclusive
    std::uint64_t last = 0;  // inclusive
    [[nodiscard]] std::uint64_t length() const noexcept { return last - first + 1; }
    friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

enum class RangeOutcome {
    Ignore,        // no Range, malformed, or an unknown unit: 200 with everything
    Full,          // too many ranges or more bytes than the file: 200 (CVE-2011-3192)
    Unsatisfiable, // 416 with "Content-Range: bytes */size"
    Ranges,        // 206: one range, or several sorted and merged
};

struct RangeResult {
    RangeOutcome outcome = RangeOutcome::Ignore;
    std::vector<ByteRange> ranges;
};

inline constexpr std::size_t kMaxRanges = 16;

RangeResult parse_range(std::string_view header, std::uint64_t size);

} // namespace splicehttpd::http
