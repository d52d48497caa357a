#include "http/access_log.hpp"

#include <fmt/format.h>

#include <array>

namespace splicehttpd::http {

std::string format_log_time(std::time_t t)
{
    static constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000", tm.tm_mday, kMonths[std::size_t(tm.tm_mon)],
                       tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void append_log_escaped(std::string& out, std::string_view s)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char c : s) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b >= 0x7f || c == '"' || c == '\\') {
            out += "\\x";
            out += kHex[b >> 4];
            out += kHex[b & 0xf];
        } else {
            out += c;
        }
    }
}

namespace {

void append_field(std::string& out, std::string_view s)
{
    out += '"';
    if (s.empty())
        out += '-';
    else
        append_log_escaped(out, s);
    out += '"';
}

} // namespace

void append_access_line(std::string& out, const AccessRecord& r)
{
    out.append(r.client.empty() ? std::string_view("-") : r.client);
    out.append(" - - [").append(r.time).append("] \"");
    if (r.method.empty()) {
        out += '-';
    } else {
        append_log_escaped(out, r.method);
        out += ' ';
        append_log_escaped(out, r.target);
        fmt::format_to(std::back_inserter(out), " HTTP/{}.{}", r.http_major, r.http_minor);
    }
    fmt::format_to(std::back_inserter(out), "\" {} {} ", r.status, r.body_bytes);
    append_field(out, r.referer);
    out += ' ';
    append_field(out, r.user_agent);
    out += '\n';
}

} // namespace splicehttpd::http
