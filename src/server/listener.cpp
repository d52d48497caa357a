#include "server/listener.hpp"

#include "plural.hpp"
#include "sys/assert.hpp"
#include "sys/error.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace splicehttpd::server {

ListenAddress local_address(int fd)
{
    ListenAddress a;
    a.len = sizeof a.addr;
    sys::check_libc(getsockname(fd, reinterpret_cast<sockaddr*>(&a.addr), &a.len), "getsockname");
    return a;
}

namespace {

sys::UniqueFd open_one(const ListenAddress& address, bool reuse_port)
{
    sys::UniqueFd fd(::socket(address.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) sys::throw_errno("socket");
    const int one = 1;
    // A restart must not wait for the TIME_WAIT connections of the last run.
    sys::check_libc(setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), "SO_REUSEADDR");
    if (reuse_port) sys::check_libc(setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), "SO_REUSEPORT");
    // Accepted sockets inherit these: with accepts into fixed slots there is
    // no descriptor to call setsockopt on later.
    sys::check_libc(setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), "TCP_NODELAY");
    // The accept completes when the request has arrived, so its recv finds
    // it at once: one ACK and one loop turn fewer per short connection, and
    // a client that connects and says nothing takes no connection slot for
    // the first second (then it is accepted and the header timeout applies).
    sys::check_libc(setsockopt(fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof one), "TCP_DEFER_ACCEPT");
    // Set either way, never left to net.ipv6.bindv6only: "::" is dual-stack
    // only when --ipv6-dual-stack asks (plan_listeners).
    if (address.addr.ss_family == AF_INET6) {
        const int v6only = address.v6only ? 1 : 0;
        sys::check_libc(setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only), "IPV6_V6ONLY");
    }
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.addr), address.len) < 0)
        sys::throw_errno("bind " + address.url());
    sys::check_libc(::listen(fd.get(), SOMAXCONN), "listen");
    return fd;
}

} // namespace

std::vector<sys::UniqueFd> open_listeners(ListenAddress& address, const ListenOptions& options)
{
    SPLICEHTTPD_ASSERT(!address.is_unix());
    // SO_REUSEPORT would let this process join the listeners of another
    // splicehttpd on the address (same uid) and split its traffic between two
    // sites. A socket without it fails with EADDRINUSE against any listener
    // there, as against nginx: listen on one first, then close it (it would
    // conflict with the workers' own) and bind theirs. Two servers started
    // within the same microseconds could still both pass; a later one cannot.
    // --take-over asks for exactly that: the old process leaves once this
    // one listens.
    if (!options.join) {
        const sys::UniqueFd probe = open_one(address, false);
        // --port 0: the workers take the port the kernel gave the probe.
        if (address.port() == 0) address.set_port(local_address(probe.get()).port());
    }
    std::vector<sys::UniqueFd> fds;
    for (unsigned i = 0; i < options.count; ++i) fds.push_back(open_one(address, true));
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address.addr);
    if (address.addr.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr)) {
        int v6only = 0;
        socklen_t len = sizeof v6only;
        sys::check_libc(getsockopt(fds[0].get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len), "IPV6_V6ONLY");
        spdlog::info("{}: {}", address.url(),
                     v6only ? "IPv6 only (--ipv6-dual-stack for IPv4 too)" : "IPv6 and IPv4 (dual-stack)");
    }
    return fds;
}

namespace {

// A socket file left behind by a server that is gone (killed, or its
// remover could not run) is replaced; anything else at the path is not
// ours to remove. Throws std::system_error.
void clear_stale_socket(const ListenAddress& address)
{
    const std::string path = address.unix_path();
    struct stat st {};
    if (::lstat(path.c_str(), &st) < 0) {
        if (errno == ENOENT) return;
        sys::throw_errno(address.url());
    }
    if (!S_ISSOCK(st.st_mode)) sys::throw_errno(EEXIST, address.url() + ": the path exists and is not a socket");
    const sys::UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe) sys::throw_errno("socket");
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address.addr), address.len) == 0)
        sys::throw_errno(EADDRINUSE, address.url() + ": a server listens there already");
    // ECONNREFUSED: a socket file that nobody listens on.
    if (errno != ECONNREFUSED) sys::throw_errno(address.url() + ": connect to the existing socket");
    if (::unlink(path.c_str()) < 0) sys::throw_errno(address.url() + ": removing the stale socket");
    spdlog::info("{}: removed a stale socket file (nobody listened on it)", address.url());
}

} // namespace

std::vector<sys::UniqueFd> open_unix_listeners(const ListenAddress& address, const ListenOptions& options,
                                               UnixSocketFile& file)
{
    clear_stale_socket(address);
    sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) sys::throw_errno("socket");
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.addr), address.len) < 0)
        sys::throw_errno("bind " + address.url());
    file.path = address.unix_path();
    struct stat st {};
    sys::check_libc(::lstat(file.path.c_str(), &st), address.url());
    file.dev = st.st_dev;
    file.ino = st.st_ino;
    // As nginx does: anyone who can reach the directory may connect (the
    // umask would otherwise decide, and a proxy in another group could not);
    // the directory's permissions are the access control, unless mode=
    // narrows it (0660: the server's group only).
    sys::check_libc(::chmod(file.path.c_str(), mode_t(address.mode)), "chmod " + address.url());
    sys::check_libc(::listen(fd.get(), SOMAXCONN), "listen");
    // One socket for every worker: SO_REUSEPORT does not exist for unix
    // sockets (a second bind to the path is EADDRINUSE). Each ring's accepts
    // on a copy of it take turns, as on an inherited socket.
    std::vector<sys::UniqueFd> fds;
    for (unsigned i = 1; i < options.count; ++i) {
        fds.emplace_back(fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
        if (!fds.back()) sys::throw_errno("dup of " + address.url());
    }
    fds.insert(fds.begin(), std::move(fd));
    return fds;
}

void remove_socket_files(const std::vector<UnixSocketFile>& files) noexcept
{
    for (const UnixSocketFile& f : files) {
        struct stat st {};
        // A server started since (it found this socket stale) has made a
        // new file there: not ours to remove.
        if (::lstat(f.path.c_str(), &st) == 0 && st.st_dev == f.dev && st.st_ino == f.ino) ::unlink(f.path.c_str());
    }
}

SocketRemover::~SocketRemover() = default;

SocketRemover::SocketRemover(std::vector<UnixSocketFile> files)
{
    if (files.empty()) return;
    int to_child[2];
    sys::check_libc(::pipe2(to_child, O_CLOEXEC), "pipe2");
    const pid_t pid = ::fork();
    if (pid < 0) sys::throw_errno("fork");
    if (pid == 0) {
        // The remover: it keeps no listener open (a child holding one would
        // leave the socket accepting into a backlog nobody serves), ignores
        // the signals meant for the server (^C reaches the whole group), and
        // waits for the server's end of the pipe to close, however it ends.
        ::close(to_child[1]);
        if (::dup2(to_child[0], 3) < 0) ::_exit(1);
        ::syscall(SYS_close_range, 4u, ~0u, 0u);
        for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGPIPE}) ::signal(sig, SIG_IGN);
        char byte = 0;
        while (::read(3, &byte, 1) < 0 && errno == EINTR) {}
        remove_socket_files(files);
        ::_exit(0);
    }
    ::close(to_child[0]);
    pipe_.reset(to_child[1]);
}

void SocketRemover::remove_now()
{
    if (!pipe_) return;
    pipe_.reset();
    // SIGCHLD is blocked (main), so it waits here; rt_sigtimedwait is in the
    // seccomp allow list, waitpid is not: the zombie goes with this process.
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    const timespec limit{2, 0};
    while (sigtimedwait(&chld, nullptr, &limit) < 0 && errno == EINTR) {}
}

namespace {

// A whole decimal number, or nullopt.
std::optional<unsigned long> parse_decimal(const std::string& text)
{
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 9)
        return std::nullopt;
    return std::stoul(text);
}

int socket_int_option(int fd, int name, const std::string& what)
{
    int value = 0;
    socklen_t len = sizeof value;
    sys::check_libc(getsockopt(fd, SOL_SOCKET, name, &value, &len), what);
    return value;
}

// Checks one inherited descriptor and makes it like one from open_one:
// close-on-exec, blocking (io_uring hands -EAGAIN from an O_NONBLOCK listener
// back to the worker instead of waiting), TCP_NODELAY for accepted sockets
// to inherit.
void adopt_listener(int fd)
{
    const std::string what = fmt::format("LISTEN_FDS: descriptor {}", fd);
    sys::check_libc(fcntl(fd, F_SETFD, FD_CLOEXEC), what);
    const int flags = sys::check_libc(fcntl(fd, F_GETFL), what);
    if (flags & O_NONBLOCK) sys::check_libc(fcntl(fd, F_SETFL, flags & ~O_NONBLOCK), what);
    const int domain = socket_int_option(fd, SO_DOMAIN, what);
    if (domain != AF_INET && domain != AF_INET6) sys::throw_errno(EAFNOSUPPORT, what + " is not a TCP socket");
    if (socket_int_option(fd, SO_TYPE, what) != SOCK_STREAM)
        sys::throw_errno(ESOCKTNOSUPPORT, what + " is not a TCP socket");
    if (socket_int_option(fd, SO_ACCEPTCONN, what) != 1) sys::throw_errno(EINVAL, what + " is not listening");
    const int one = 1;
    sys::check_libc(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), what + ": TCP_NODELAY");
}

} // namespace

std::vector<sys::UniqueFd> activated_listeners(ListenAddress& address, const ListenOptions& options)
{
    const char* pid_env = std::getenv("LISTEN_PID");
    const char* fds_env = std::getenv("LISTEN_FDS");
    const std::string pid_text = pid_env ? pid_env : "";
    const std::string fds_text = fds_env ? fds_env : "";
    // Like sd_listen_fds(1): whatever they said, nothing started later may
    // take them for its own.
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (!pid_env || !fds_env) return {};
    const auto pid = parse_decimal(pid_text);
    if (!pid || *pid != static_cast<unsigned long>(getpid())) return {};
    const auto count = parse_decimal(fds_text);
    if (!count || *count == 0 || *count > 1024) sys::throw_errno(EINVAL, "LISTEN_FDS=" + fds_text);

    constexpr int kFirst = 3; // SD_LISTEN_FDS_START
    const unsigned sockets = unsigned(*count);
    std::vector<sys::UniqueFd> fds;
    for (unsigned i = 0; i < sockets; ++i) fds.emplace_back(kFirst + int(i));
    for (auto& fd : fds) adopt_listener(fd.get());
    const unsigned workers = std::max(options.count, sockets);
    for (unsigned i = sockets; i < workers; ++i) {
        fds.emplace_back(fcntl(fds[i % sockets].get(), F_DUPFD_CLOEXEC, 0));
        if (!fds.back()) sys::throw_errno("dup of LISTEN_FDS descriptor");
    }

    address = local_address(fds[0].get());
    std::string urls;
    for (unsigned i = 0; i < sockets; ++i) urls += (i ? " " : "") + local_address(fds[i].get()).url();
    spdlog::info("socket activation: {} ({}) for {}; --listen binds nothing (its tls applies to the socket of "
                 "that address)",
                 plural(sockets, "inherited socket"), urls, plural(workers, "worker"));
    return fds;
}

sys::UniqueFd open_metrics_listener(const std::string& text, std::string& url)
{
    std::string error;
    std::optional<ListenAddress> address = parse_listen(text, kMetricsPort, error);
    if (!address) throw std::invalid_argument("--metrics-listen " + text + ": " + error);
    if (address->is_unix())
        throw std::invalid_argument("--metrics-listen " + text + ": a TCP address, not a unix socket");
    std::vector<sys::UniqueFd> fds = open_listeners(*address, {1});
    url = local_address(fds.front().get()).url() + "/metrics";
    return std::move(fds.front());
}

} // namespace splicehttpd::server
