#include "tls/sni.hpp"

namespace splicehttpd::tls {

namespace {

bool iequal(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

bool is_wildcard(std::string_view pattern)
{
    return pattern.size() > 2 && pattern.starts_with("*.");
}

} // namespace

bool name_matches(std::string_view pattern, std::string_view host)
{
    if (host.ends_with('.')) host.remove_suffix(1); // "example.com." names the same host
    if (host.empty() || pattern.empty()) return false;
    if (!is_wildcard(pattern)) return iequal(pattern, host);
    const auto dot = host.find('.');
    if (dot == 0 || dot == std::string_view::npos) return false;
    // The label the '*' stands for is host[0, dot): one label, not empty.
    return iequal(pattern.substr(1), host.substr(dot));
}

std::size_t pick_pair(const std::vector<std::vector<std::string>>& names, std::string_view host)
{
    for (std::size_t i = 0; i < names.size(); ++i)
        for (const std::string& n : names[i])
            if (!is_wildcard(n) && name_matches(n, host)) return i;
    for (std::size_t i = 0; i < names.size(); ++i)
        for (const std::string& n : names[i])
            if (is_wildcard(n) && name_matches(n, host)) return i;
    return 0;
}

} // namespace splicehttpd::tls
