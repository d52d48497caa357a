// The little text helpers HTTP field parsing needs everywhere: optional
// whitespace and ASCII case-insensitivity (RFC 9110 §5.6.3, §5.1).
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace splicehttpd::http {

// A short formatted value (a date, an ETag) held by value: no allocation.
struct ShortText {
    std::array<char, 64> buf{};
    std::size_t len = 0;
    [[nodiscard]] std::string_view view() const noexcept { return {buf.data(), len}; }
};

// fmt::format into a ShortText (cut at its size, never past it).
template <typename... Args>
ShortText short_format(fmt::format_string<Args...> format, Args&&... args)
{
    ShortText out;
    const std::size_t n = fmt::format_to_n(out.buf.data(), out.buf.size(), format, std::forward<Args>(args)...).size;
    out.len = std::min(n, out.buf.size());
    return out;
}

constexpr bool is_ows(char c) noexcept
{
    return c == ' ' || c == '\t';
}

constexpr std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

constexpr char ascii_lower(char c) noexcept
{
    return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view s)
{
    std::string out(s);
    for (char& c : out) c = ascii_lower(c);
    return out;
}

constexpr bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

constexpr bool istarts_with(std::string_view s, std::string_view prefix) noexcept
{
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

} // namespace splicehttpd::http
