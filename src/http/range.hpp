// Range requests (RFC 9110 §14).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
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

inline constexpr std::size_t kMaxRanges = 16;

// At most kMaxRanges ranges, held by value (no allocation per request).
class ByteRanges {
public:
    void push_back(const ByteRange& r) noexcept
    {
        if (n_ < kMaxRanges) items_[n_++] = r;
    }
    void clear() noexcept { n_ = 0; }
    void resize(std::size_t n) noexcept { n_ = std::min(n, kMaxRanges); }
    [[nodiscard]] std::size_t size() const noexcept { return n_; }
    [[nodiscard]] bool empty() const noexcept { return n_ == 0; }
    ByteRange& operator[](std::size_t i) noexcept { return items_[i]; }
    const ByteRange& operator[](std::size_t i) const noexcept { return items_[i]; }
    [[nodiscard]] const ByteRange& front() const noexcept { return items_[0]; }
    ByteRange* begin() noexcept { return items_.data(); }
    ByteRange* end() noexcept { return items_.data() + n_; }
    [[nodiscard]] const ByteRange* begin() const noexcept { return items_.data(); }
    [[nodiscard]] const ByteRange* end() const noexcept { return items_.data() + n_; }
    friend bool operator==(const ByteRanges& a, const std::vector<ByteRange>& b) noexcept
    {
        return std::equal(a.begin(), a.end(), b.begin(), b.end());
    }
    friend bool operator==(const ByteRanges& a, const ByteRanges& b) noexcept
    {
        return std::equal(a.begin(), a.end(), b.begin(), b.end());
    }

private:
    std::array<ByteRange, kMaxRanges> items_{};
    std::size_t n_ = 0;
};

struct RangeResult {
    RangeOutcome outcome = RangeOutcome::Ignore;
    ByteRanges ranges;
};

RangeResult parse_range(std::string_view header, std::uint64_t size);

} // namespace splicehttpd::http
