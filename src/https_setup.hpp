// HTTPS at start-up and on SIGHUP: the certificate/key pairs loaded into a
// ContextSet (still as root: keys are often root-only), the kernel TLS probe
// (before Landlock, which forbids its loopback connect), one --tls-port
// listener per worker; and the reload that publishes a new set.
#pragma once

#include "config.hpp"
#include "server/listen_address.hpp"
#include "server/setup.hpp"
#include "sys/unique_fd.hpp"

#include <memory>
#include <string>
#include <vector>

namespace splicehttpd {

struct HttpsStart {
    std::unique_ptr<server::TlsContextHolder> contexts;
    std::vector<sys::UniqueFd> listeners; // one per worker
    std::string url;                      // "https://127.0.0.1:8443"
    std::uint16_t port = 0;               // the one bound (--tls-port 0: the kernel's choice)
    std::vector<std::string> warnings;    // one line each, for the log
    std::string body_path;                // which body path serves, and why: one line
};

// `address`: --listen's, whose port is replaced by --tls-port. Throws
// std::runtime_error with one line (a bad pair names its file) or
// std::system_error (the listener).
HttpsStart start_https(const Config& config, const server::ListenAddress& address, unsigned workers);

// The directories a reload reads from, for Landlock: each --tls-cert's and
// --tls-key's, and the directory of the file it resolves to (certbot's
// live/NAME/*.pem are symlinks into archive/NAME/, a new file at each
// renewal, which a rule on the file itself would not cover).
std::vector<std::string> https_reload_dirs(const Config& config);

// SIGHUP: the files are read again; a good set replaces the old for new
// connections, a bad one is refused and the old keeps serving. Logs either.
void reload_https(server::TlsContextHolder& contexts);

} // namespace splicehttpd
