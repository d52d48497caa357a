// Listening sockets: one per worker on the same address (SO_REUSEPORT), so
// the kernel spreads connections across rings.
#pragma once

#include "server/listen_address.hpp"
#include "sys/unique_fd.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace splicehttpd::server {

// The address a socket is bound to. Throws std::system_error.
ListenAddress local_address(int fd);

struct ListenOptions {
    unsigned count = 1;
    // --take-over: join the listeners of a running splicehttpd (same uid)
    // instead of refusing a busy address: the new binary of an upgrade.
    bool join = false;
};

// Binds `count` sockets (SO_REUSEPORT between themselves), after checking
// that nothing else listens on the address (EADDRINUSE, even from another
// splicehttpd); with port 0 the kernel picks a free port for all of them
// (address.port() is then the real one). Throws std::system_error.
std::vector<sys::UniqueFd> open_listeners(ListenAddress& address, const ListenOptions& options);

// --metrics-listen ADDR[:PORT] (port 9145 when none is given): one socket,
// whose url() goes to `url`. Throws std::invalid_argument for an address
// that does not parse (a bad flag), std::system_error when it cannot bind.
inline constexpr std::uint16_t kMetricsPort = 9145;
sys::UniqueFd open_metrics_listener(const std::string& text, std::string& url);

// Socket activation (systemd's LISTEN_PID/LISTEN_FDS protocol, by hand):
// when LISTEN_PID is this process, the LISTEN_FDS listening TCP sockets at
// descriptors 3, 4, ... are used instead of binding. Returns one descriptor
// per worker, max(options.count, sockets) of them: worker i accepts on socket
// i % sockets, through a dup when several workers share one (multishot accept
// on one socket from several rings is fine; SO_REUSEPORT cannot split an
// inherited socket). Sets on each what open_listeners sets before listen()
// and FD_CLOEXEC, unsets the variables, and stores the first socket's
// address in `address`. Empty when the variables are absent or meant for
// another process. Throws std::system_error when a descriptor is not a
// listening TCP socket.
std::vector<sys::UniqueFd> activated_listeners(ListenAddress& address, const ListenOptions& options);

} // namespace splicehttpd::server
