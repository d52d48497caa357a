// Listening sockets: one per worker on the same address (SO_REUSEPORT), so
// the kernel spreads connections across rings.
#pragma once

#include "server/listen_address.hpp"
#include "sys/unique_fd.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace splicehttpd::server {

// The address a socket is bound to. Throws std::system_error.
ListenAddress local_address(int fd);

// One worker's socket for one listener, and whether its clients speak TLS
// (a --listen address with "tls", or --tls-port's).
struct ListenSocket {
    sys::UniqueFd fd;
    bool tls = false;
};

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

// A unix socket's file, as bound: removed at exit only if it is still the
// same file.
struct UnixSocketFile {
    std::string path;
    dev_t dev = 0;
    ino_t ino = 0;
};

// unix:/PATH: a socket file left by a server that is gone (a socket nobody
// accepts on: connect() is refused) is removed first; a path that is not a
// socket, or one a server listens on, is an error. One socket, of
// address.mode (0666 unless mode= says, as nginx), and options.count - 1
// copies of it for the other workers.
// `file` is what to remove at exit. Throws std::system_error.
std::vector<sys::UniqueFd> open_unix_listeners(const ListenAddress& address, const ListenOptions& options,
                                               UnixSocketFile& file);

// Unlinks each file that is still the one bound (a server started since
// may have replaced it).
void remove_socket_files(const std::vector<UnixSocketFile>& files) noexcept;

// Removes the unix socket files when the server ends. After start-up the
// server may not unlink (Landlock grants no REMOVE_FILE, seccomp no unlink,
// and --user may leave it without write access to the directory), so a
// child forked now, before the sandbox and the privilege drop, waits for
// this process to end (its pipe closes: a clean exit, a crash, SIGKILL)
// and removes each file that is still the one bound. Throws
// std::system_error. SIGCHLD must be blocked before.
class SocketRemover {
public:
    SocketRemover() = default;
    explicit SocketRemover(std::vector<UnixSocketFile> files);
    SocketRemover(SocketRemover&&) = default;
    SocketRemover& operator=(SocketRemover&&) = default;
    ~SocketRemover();
    // At a clean exit: lets the child remove the files and waits (at most
    // 2 s) for it to finish, so that they are gone when the server has exited.
    void remove_now();

private:
    sys::UniqueFd pipe_; // the write end; the child reads EOF when it closes
};

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
