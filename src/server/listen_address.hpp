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
    // IPV6_V6ONLY for an IPv6 socket, always set explicitly: a "::" that
    // took IPv4 because net.ipv6.bindv6only=0 would collide with an IPv4
    // listener on its port (EADDRINUSE) and surprise an operator who asked
    // for IPv6; dual-stack only when --ipv6-dual-stack asks (plan_listeners).
    bool v6only = false;
    // Options after the address ("127.0.0.1:8443 tls", "unix:/run/s.sock
    // mode=0660"), as nginx's listen takes them: this listener speaks TLS
    // (with the --tls-cert/--tls-key pairs); a unix socket file's mode.
    static constexpr unsigned kDefaultSocketMode = 0666; // as nginx: the directory is the access control
    bool tls = false;
    unsigned mode = kDefaultSocketMode;

    [[nodiscard]] bool is_unix() const noexcept { return addr.ss_family == AF_UNIX; }
    [[nodiscard]] std::string unix_path() const;       // "" unless is_unix()
    [[nodiscard]] std::uint16_t port() const noexcept; // 0 for a unix socket
    void set_port(std::uint16_t port) noexcept;
    // "http://127.0.0.1:8080", "http://[::1]:8080", "https://127.0.0.1:8443"
    // (tls), "unix:/run/splicehttpd.sock" (with tls or without)
    [[nodiscard]] std::string url() const;
};

// An IPv4 or IPv6 literal and a port; nullopt for anything else.
std::optional<ListenAddress> parse_listen_address(const std::string& host, std::uint16_t port);

// One --listen value: "127.0.0.1", "127.0.0.1:8080", "::", "[::1]",
// "[::1]:8080" or "unix:/absolute/path", then options separated by spaces:
// "tls" (or nginx's "ssl"), and for a unix socket "mode=0660" (octal, at
// most 0777). An address without a port takes default_port (--port). No
// names are resolved. nullopt with `error` set to what is wrong (one line,
// without the flag's name): an unknown or repeated option, mode= on a TCP
// address or out of range.
std::optional<ListenAddress> parse_listen(std::string_view text, std::uint16_t default_port, std::string& error);

// Every --listen value, in order. Refuses (nullopt, `bad` the index of the
// value at fault, `error` why) an address given twice and a wildcard
// (0.0.0.0, ::) next to a specific address of its family on the same port,
// which bind() would refuse anyway. Every IPv6 address is IPv6-only
// (v6only), as nginx's [::] is (ipv6only=on); with dual_stack
// (--ipv6-dual-stack) a "::" takes IPv4 clients too, and then an IPv4
// address on its port is refused as an overlap.
std::optional<std::vector<ListenAddress>> plan_listeners(const std::vector<std::string>& texts,
                                                         std::uint16_t default_port, bool dual_stack, std::size_t& bad,
                                                         std::string& error);

// The same socket address (a unix socket: the same path); options aside.
[[nodiscard]] bool same_socket_address(const ListenAddress& a, const ListenAddress& b);

// Why `a` cannot be bound beside `before` (written as before_text): the
// same address, or an overlap on one port; "" when they can.
std::string listen_clash(const ListenAddress& before, const ListenAddress& a, std::string_view before_text);

// "::" with --ipv6-dual-stack: an IPv6 wildcard that takes IPv4 too.
[[nodiscard]] bool is_dual_stack(const ListenAddress& a);

// A client's address as the access and error logs write it: "192.0.2.1",
// "2001:db8::1", "unix:" for a unix-socket peer (it has no address), and
// an IPv4 client of a dual-stack socket (::ffff:192.0.2.1) as "192.0.2.1",
// the same client as on an IPv4 socket.
std::string client_text(const sockaddr* addr, socklen_t len);

} // namespace splicehttpd::server
