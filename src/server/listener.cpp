#include "server/listener.hpp"

#include "sys/error.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <fmt/format.h>

namespace splicehttpd::server {

std::uint16_t ListenAddress::port() const noexcept
{
    if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
}

void ListenAddress::set_port(std::uint16_t port) noexcept
{
    if (addr.ss_family == AF_INET6)
        reinterpret_cast<sockaddr_in6&>(addr).sin6_port = htons(port);
    else
        reinterpret_cast<sockaddr_in&>(addr).sin_port = htons(port);
}

std::string ListenAddress::url() const
{
    char text[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr, text, sizeof text);
        return fmt::format("http://[{}]:{}", text, port());
    }
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, text, sizeof text);
    return fmt::format("http://{}:{}", text, port());
}

std::optional<ListenAddress> parse_listen_address(const std::string& host, std::uint16_t port)
{
    ListenAddress a;
    auto& v4 = reinterpret_cast<sockaddr_in&>(a.addr);
    auto& v6 = reinterpret_cast<sockaddr_in6&>(a.addr);
    std::string h = host;
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (inet_pton(AF_INET, h.c_str(), &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        a.len = sizeof v4;
    } else if (inet_pton(AF_INET6, h.c_str(), &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        a.len = sizeof v6;
    } else {
        return std::nullopt;
    }
    a.set_port(port);
    return a;
}

namespace {

sys::UniqueFd open_one(const ListenAddress& address)
{
    sys::UniqueFd fd(::socket(address.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) sys::throw_errno("socket");
    const int one = 1;
    sys::check_libc(setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), "SO_REUSEADDR");
    sys::check_libc(setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), "SO_REUSEPORT");
    // Accepted sockets inherit these: with multishot accept into fixed slots
    // there is no descriptor to call setsockopt on later.
    sys::check_libc(setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), "TCP_NODELAY");
    if (address.addr.ss_family == AF_INET6)
        sys::check_libc(setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one), "IPV6_V6ONLY");
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.addr), address.len) < 0)
        sys::throw_errno("bind " + address.url());
    sys::check_libc(::listen(fd.get(), SOMAXCONN), "listen");
    return fd;
}

} // namespace

std::vector<sys::UniqueFd> open_listeners(ListenAddress& address, const ListenOptions& options)
{
    std::vector<sys::UniqueFd> fds;
    for (unsigned i = 0; i < options.count; ++i) {
        fds.push_back(open_one(address));
        if (i == 0 && address.port() == 0) {
            sockaddr_storage bound{};
            socklen_t len = sizeof bound;
            sys::check_libc(getsockname(fds[0].get(), reinterpret_cast<sockaddr*>(&bound), &len), "getsockname");
            ListenAddress actual;
            actual.addr = bound;
            address.set_port(actual.port());
        }
    }
    return fds;
}

} // namespace splicehttpd::server
