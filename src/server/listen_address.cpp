#include "server/listen_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstring>

namespace splicehttpd::server {

namespace {

const sockaddr_in& v4(const sockaddr_storage& s)
{
    return reinterpret_cast<const sockaddr_in&>(s);
}

const sockaddr_in6& v6(const sockaddr_storage& s)
{
    return reinterpret_cast<const sockaddr_in6&>(s);
}

bool is_wildcard(const ListenAddress& a)
{
    if (a.addr.ss_family == AF_INET) return v4(a.addr).sin_addr.s_addr == htonl(INADDR_ANY);
    if (a.addr.ss_family == AF_INET6) return IN6_IS_ADDR_UNSPECIFIED(&v6(a.addr).sin6_addr);
    return false;
}

bool same_address(const ListenAddress& a, const ListenAddress& b)
{
    if (a.addr.ss_family != b.addr.ss_family) return false;
    if (a.is_unix()) return a.unix_path() == b.unix_path();
    if (a.port() != b.port()) return false;
    if (a.addr.ss_family == AF_INET) return v4(a.addr).sin_addr.s_addr == v4(b.addr).sin_addr.s_addr;
    return std::memcmp(&v6(a.addr).sin6_addr, &v6(b.addr).sin6_addr, sizeof(in6_addr)) == 0;
}

// "8080" -> 8080; nullopt for anything but 0..65535 in decimal.
std::optional<std::uint16_t> parse_port(std::string_view text)
{
    unsigned value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || text.size() > 5 || ec != std::errc() || ptr != end || value > 65535) return std::nullopt;
    return std::uint16_t(value);
}

// What the start line and the errors call an address: its url, without
// the scheme for TCP.
std::string shown(const ListenAddress& a)
{
    std::string url = a.url();
    if (const auto scheme = url.find("://"); !a.is_unix() && scheme != std::string::npos) url.erase(0, scheme + 3);
    return url;
}

} // namespace

std::string ListenAddress::unix_path() const
{
    if (!is_unix()) return {};
    const auto& un = reinterpret_cast<const sockaddr_un&>(addr);
    return std::string(un.sun_path, strnlen(un.sun_path, sizeof un.sun_path));
}

std::uint16_t ListenAddress::port() const noexcept
{
    if (addr.ss_family == AF_INET6) return ntohs(v6(addr).sin6_port);
    if (addr.ss_family == AF_INET) return ntohs(v4(addr).sin_port);
    return 0;
}

void ListenAddress::set_port(std::uint16_t port) noexcept
{
    if (addr.ss_family == AF_INET6)
        reinterpret_cast<sockaddr_in6&>(addr).sin6_port = htons(port);
    else if (addr.ss_family == AF_INET)
        reinterpret_cast<sockaddr_in&>(addr).sin_port = htons(port);
}

std::string ListenAddress::url() const
{
    char text[INET6_ADDRSTRLEN] = {};
    if (is_unix()) return "unix:" + unix_path();
    const char* scheme = tls ? "https" : "http";
    if (addr.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &v6(addr).sin6_addr, text, sizeof text);
        return fmt::format("{}://[{}]:{}", scheme, text, port());
    }
    inet_ntop(AF_INET, &v4(addr).sin_addr, text, sizeof text);
    return fmt::format("{}://{}:{}", scheme, text, port());
}

std::optional<ListenAddress> parse_listen_address(const std::string& host, std::uint16_t port)
{
    ListenAddress a;
    auto& in4 = reinterpret_cast<sockaddr_in&>(a.addr);
    auto& in6 = reinterpret_cast<sockaddr_in6&>(a.addr);
    std::string h = host;
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (inet_pton(AF_INET, h.c_str(), &in4.sin_addr) == 1) {
        in4.sin_family = AF_INET;
        a.len = sizeof in4;
    } else if (inet_pton(AF_INET6, h.c_str(), &in6.sin6_addr) == 1) {
        in6.sin6_family = AF_INET6;
        a.len = sizeof in6;
    } else {
        return std::nullopt;
    }
    a.set_port(port);
    return a;
}

namespace {

std::optional<ListenAddress> parse_address(std::string_view text, std::uint16_t default_port, std::string& error)
{
    if (text.starts_with("unix:")) {
        const std::string_view path = text.substr(5);
        ListenAddress a;
        auto& un = reinterpret_cast<sockaddr_un&>(a.addr);
        // Relative to what? The working directory differs between a shell
        // and the unit; an abstract name (@...) has no owner or mode.
        if (!path.starts_with('/')) {
            error = "a unix socket needs an absolute path: unix:/run/splicehttpd.sock";
            return std::nullopt;
        }
        if (path.size() >= sizeof un.sun_path) {
            error =
                fmt::format("the path is {} bytes; a unix socket's is at most {}", path.size(), sizeof un.sun_path - 1);
            return std::nullopt;
        }
        if (path.find('\0') != std::string_view::npos) {
            error = "the path holds a NUL byte";
            return std::nullopt;
        }
        un.sun_family = AF_UNIX;
        std::memcpy(un.sun_path, path.data(), path.size());
        a.len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + 1);
        return a;
    }
    const char* expected = "expected ADDRESS, ADDRESS:PORT, [IPv6]:PORT or unix:/PATH with an IPv4 or IPv6 address";
    std::string_view host = text;
    std::uint16_t port = default_port;
    std::optional<std::string_view> port_text;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            error = std::string("no ']' after the IPv6 address; ") + expected;
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        const std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                error = std::string("unexpected text after ']'; ") + expected;
                return std::nullopt;
            }
            port_text = rest.substr(1);
        }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        // One colon: IPv4 and a port. More: a bare IPv6 address, no port
        // (which of "::1:80" would be the port?).
        const auto colon = text.find(':');
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    if (port_text) {
        const auto p = parse_port(*port_text);
        if (!p) {
            error = fmt::format("port '{}' is not a number from 0 to 65535", *port_text);
            return std::nullopt;
        }
        port = *p;
    }
    auto a = parse_listen_address(std::string(host), port);
    // A bracketed IPv4 address is not an IPv6 one.
    if (!a || (text.starts_with('[') && a->addr.ss_family != AF_INET6)) {
        error = text.empty() ? std::string("empty; ") + expected : expected;
        return std::nullopt;
    }
    return a;
}

bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

// "0660" -> 0660; nullopt for anything but octal digits up to 0777 (a
// socket's set-id and sticky bits mean nothing).
std::optional<unsigned> parse_mode(std::string_view text)
{
    unsigned value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value, 8);
    if (text.empty() || text.size() > 4 || ec != std::errc() || ptr != end || value > 0777) return std::nullopt;
    return value;
}

} // namespace

std::optional<ListenAddress> parse_listen(std::string_view text, std::uint16_t default_port, std::string& error)
{
    // The address, then its options, each separated by spaces (or tabs).
    std::vector<std::string_view> words;
    for (std::size_t i = 0; i < text.size();) {
        if (is_blank(text[i])) {
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end < text.size() && !is_blank(text[end])) ++end;
        words.push_back(text.substr(i, end - i));
        i = end;
    }
    auto a = parse_address(words.empty() ? std::string_view() : words.front(), default_port, error);
    if (!a) return std::nullopt;
    bool mode_given = false;
    for (std::size_t i = 1; i < words.size(); ++i) {
        const std::string_view word = words[i];
        const bool tls = word == "tls" || word == "ssl";
        const bool mode = word.starts_with("mode=");
        if (!tls && !mode) {
            error = fmt::format("unknown option '{}'; expected tls (or ssl) or, for a unix socket, mode=OCTAL", word);
            return std::nullopt;
        }
        if ((tls && a->tls) || (mode && mode_given)) {
            error = fmt::format("'{}': {} given twice", word, tls ? "tls (or ssl)" : "mode=");
            return std::nullopt;
        }
        if (tls) {
            a->tls = true;
            continue;
        }
        if (!a->is_unix()) {
            error = fmt::format("'{}': mode= is for a unix socket's file, not a TCP address", word);
            return std::nullopt;
        }
        const auto m = parse_mode(word.substr(5));
        if (!m) {
            error = fmt::format("'{}': the mode is octal, from 0 to 0777 (mode=0660)", word);
            return std::nullopt;
        }
        a->mode = *m;
        mode_given = true;
    }
    return a;
}

bool is_dual_stack(const ListenAddress& a)
{
    return a.addr.ss_family == AF_INET6 && !a.v6only;
}

bool same_socket_address(const ListenAddress& a, const ListenAddress& b)
{
    return same_address(a, b);
}

std::string listen_clash(const ListenAddress& before, const ListenAddress& a, std::string_view before_text)
{
    if (same_address(before, a)) return fmt::format("the same address as '{}'", before_text);
    // Port 0: each listener gets a port of its own, no clash.
    if (a.is_unix() || before.is_unix() || a.port() != before.port() || a.port() == 0) return {};
    if (a.addr.ss_family != before.addr.ss_family) {
        // A dual-stack "::" holds the port for IPv4 too.
        if (!is_dual_stack(a) && !is_dual_stack(before)) return {};
        return fmt::format("overlaps '{}' ({} and {}): with --ipv6-dual-stack [::] takes IPv4 clients on its port "
                           "too; give one of them",
                           before_text, shown(before), shown(a));
    }
    if (is_wildcard(a) || is_wildcard(before))
        return fmt::format("overlaps '{}' ({} and {}): a wildcard address takes the other's connections; give one "
                           "of them",
                           before_text, shown(before), shown(a));
    return {};
}

std::optional<std::vector<ListenAddress>> plan_listeners(const std::vector<std::string>& texts,
                                                         std::uint16_t default_port, bool dual_stack, std::size_t& bad,
                                                         std::string& error)
{
    std::vector<ListenAddress> out;
    for (std::size_t i = 0; i < texts.size(); ++i) {
        bad = i;
        auto a = parse_listen(texts[i], default_port, error);
        if (!a) return std::nullopt;
        if (a->addr.ss_family == AF_INET6) a->v6only = !(dual_stack && is_wildcard(*a));
        for (std::size_t j = 0; j < out.size(); ++j) {
            error = listen_clash(out[j], *a, texts[j]);
            if (!error.empty()) return std::nullopt;
        }
        out.push_back(*a);
    }
    return out;
}

std::string client_text(const sockaddr* addr, socklen_t len)
{
    char text[INET6_ADDRSTRLEN] = "";
    if (addr == nullptr || len < socklen_t(sizeof(sa_family_t))) return "-";
    switch (addr->sa_family) {
    case AF_INET:
        if (len < socklen_t(sizeof(sockaddr_in))) return "-";
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, text, sizeof text);
        return text;
    case AF_INET6: {
        if (len < socklen_t(sizeof(sockaddr_in6))) return "-";
        const in6_addr& a6 = reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a6))
            inet_ntop(AF_INET, &a6.s6_addr[12], text, sizeof text);
        else
            inet_ntop(AF_INET6, &a6, text, sizeof text);
        return text;
    }
    case AF_UNIX: return "unix:";
    default: return "-";
    }
}

} // namespace splicehttpd::server
