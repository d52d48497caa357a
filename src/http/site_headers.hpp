// What a site adds to its responses, from the command line: extra headers
// (--add-header 'Name: value') and caching by extension or path prefix
// (--expires .css=7d, --expires /assets/=1h, --expires .html=off), the way
// nginx's add_header and expires do. Pure: parsed once at start-up.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splicehttpd::http {

// "Name: value" -> "Name: value\r\n"; nullopt with `error` set when the name
// is not a token or the value holds a control byte (CR and LF included).
std::optional<std::string> parse_add_header(std::string_view spec, std::string& error);

struct ExpiresRule {
    bool by_extension = false; // ".css" (else a path prefix, "/assets/")
    std::string match;
    std::int64_t seconds = -1; // -1: "off" (no caching headers for these)
};

// ".css=7d", "/assets/=1h", ".html=off", "/=30m": N plus s, m, h or d.
std::optional<ExpiresRule> parse_expires(std::string_view spec, std::string& error);

// The first rule that matches path ("/css/site.css"); nullptr for none.
const ExpiresRule* match_expires(std::span<const ExpiresRule> rules, std::string_view path) noexcept;

} // namespace splicehttpd::http
