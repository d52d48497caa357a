// Where to listen, as written on the command line or in the config file
// (--listen, listen = [...]), and how a client's address is written in the
// logs. Pure: parsing and formatting, no socket is made here (listener.* binds).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splicehttpd::server {

struct ListenAddress {
    sockaddr_storage addr{}; // sockaddr_in, sockaddr_in6 or sockaddr_un
    socklen_t len = 0;
    // A "::" listener that must not take IPv4 too: an IPv4 address shares
    // its port, and a dual-stack "::" would collide with it (EADDRINUSE).
    // false: IPV6_V6ONLY is left to the system (net.ipv6.bindv6only).
    bool v6only = false;

    [[nodiscard]] bool is_unix() const noexcept { return addr.ss_family == AF_UNIX; }
    [[nodiscard]] std::string unix_path() const;       // "" unless is_unix()
    [[nodiscard]] std::uint16_t port() const noexcept; // 0 for a unix socket
    void set_port(std::uint16_t port) noexcept;
    // "http://127.0.0.1:8080", "http://[::1]:8080", "unix:/run/splicehttpd.sock"
    [[nodiscard]] std::string url() const;
};

// An IPv4 or IPv6 literal and a port; nullopt for anything else.
std::optional<ListenAddress> parse_listen_address(const std::string& host, std::uint16_t port);

// One --listen value: "127.0.0.1", "127.0.0.1:8080", "::", "[::1]",
// "[::1]:8080" or "unix:/absolute/path". An address without a port takes
// default_port (--port). No names are resolved. nullopt with `error` set to
// what is wrong (one line, without the flag's name).
std::optional<ListenAddress> parse_listen(std::string_view text, std::uint16_t default_port, std::string& error);

// Every --listen value, in order. Refuses (nullopt, `bad` the index of the
// value at fault, `error` why) an address given twice and a wildcard
// (0.0.0.0, ::) next to a specific address of its family on the same port,
// which bind() would refuse anyway. A "::" that shares its port with an
// IPv4 address becomes IPv6-only (v6only), as nginx's [::] is, so that both
// bind; alone it follows net.ipv6.bindv6only (dual-stack by default).
std::optional<std::vector<ListenAddress>> plan_listeners(const std::vector<std::string>& texts,
                                                         std::uint16_t default_port, std::size_t& bad,
                                                         std::string& error);

// A client's address as the access and error logs write it: "192.0.2.1",
// "2001:db8::1", "unix:" for a unix-socket peer (it has no address), and
// an IPv4 client of a dual-stack socket (::ffff:192.0.2.1) as "192.0.2.1",
// the same client as on an IPv4 socket.
std::string client_text(const sockaddr* addr, socklen_t len);

} // namespace splicehttpd::server
