#include "http/site_headers.hpp"

#include "http/text.hpp"

#include <charconv>
#include <cstring>

namespace splicehttpd::http {

namespace {

bool is_tchar(char c) noexcept
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

} // namespace

std::optional<std::string> parse_add_header(std::string_view spec, std::string& error)
{
    const auto colon = spec.find(':');
    const std::string_view name = colon == std::string_view::npos ? spec : spec.substr(0, colon);
    if (colon == std::string_view::npos || name.empty()) {
        error = "--add-header '" + std::string(spec) + "': expected 'Name: value'";
        return std::nullopt;
    }
    for (char c : name) {
        if (!is_tchar(c)) {
            error = "--add-header '" + std::string(spec) + "': the name must be a token (no spaces or separators)";
            return std::nullopt;
        }
    }
    const std::string_view value = trim(spec.substr(colon + 1));
    for (char c : value) {
        const auto b = static_cast<unsigned char>(c);
        if ((b < 0x20 && c != '\t') || b == 0x7f) {
            error = "--add-header '" + std::string(name) + "': the value holds a control character";
            return std::nullopt;
        }
    }
    for (std::string_view own : {"content-length", "content-range", "transfer-encoding", "connection", "date", "server",
                                 "content-type", "etag", "last-modified"}) {
        if (iequals(name, own)) {
            error = "--add-header '" + std::string(name) + "': the server sets this header itself";
            return std::nullopt;
        }
    }
    std::string line(name);
    line.append(": ").append(value).append("\r\n");
    return line;
}

std::optional<ExpiresRule> parse_expires(std::string_view spec, std::string& error)
{
    const auto eq = spec.rfind('=');
    auto fail = [&](const char* why) {
        error = "--expires '" + std::string(spec) + "': " + why;
        return std::nullopt;
    };
    if (eq == std::string_view::npos || eq == 0) return fail("expected '.ext=DURATION' or '/prefix/=DURATION'");
    ExpiresRule rule;
    rule.match.assign(spec.substr(0, eq));
    if (rule.match.front() == '.')
        rule.by_extension = true;
    else if (rule.match.front() != '/')
        return fail("match an extension ('.css') or a path prefix ('/assets/')");
    const std::string_view d = spec.substr(eq + 1);
    if (d == "off") return rule;
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), n);
    if (ec != std::errc() || n < 0 || end + 1 != d.data() + d.size())
        return fail("the duration is a number and one of s, m, h, d (or 'off')");
    std::int64_t unit = 1;
    switch (*end) {
    case 's': break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return fail("the duration is a number and one of s, m, h, d (or 'off')");
    }
    // Checked: "213503982334602d" wraps int64 (undefined behaviour) into a
    // small max-age. Ten years keeps now + max-age a date Expires can write.
    if (__builtin_mul_overflow(n, unit, &n) || n > std::int64_t(10) * 365 * 86400) return fail("more than ten years");
    rule.seconds = n;
    return rule;
}

const ExpiresRule* match_expires(std::span<const ExpiresRule> rules, std::string_view path) noexcept
{
    for (const ExpiresRule& r : rules) {
        if (r.by_extension ? path.ends_with(r.match) : path.starts_with(r.match)) return &r;
    }
    return nullptr;
}

} // namespace splicehttpd::http
