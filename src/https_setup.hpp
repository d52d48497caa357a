// HTTPS at start-up and on SIGHUP: the certificate/key pairs loaded into a
// ContextSet (still as root: keys are often root-only) and the kernel TLS
// probe (before Landlock, which forbids its loopback connect), for every
// TLS listener; the address --tls-port adds; and the reload that publishes
// a new set.
#pragma once

#include "config.hpp"
#include "server/listen_address.hpp"
#include "server/setup.hpp"
#include "sys/unique_fd.hpp"
#include "tls/ktls.hpp"

#include <memory>
#include <string>
#include <vector>

namespace splicehttpd {

struct HttpsStart {
    std::unique_ptr<server::TlsContextHolder> contexts;
    std::vector<std::string> warnings; // one line each, for the log
    std::string body_path;             // which body path serves, and why: one line
    tls::KernelTls kernel_tls;         // the probe's answer (unavailable with --ktls off)
};

// Whether any listener speaks TLS: --tls-port, or tls after a --listen address.
[[nodiscard]] bool serves_https(const Config& config);

// Loads the --tls-cert/--tls-key pairs. Throws std::runtime_error with one
// line (a bad pair names its file).
HttpsStart start_https(const Config& config);

// --tls-port's listener: `address` (the first TCP --listen address, or the
// first socket systemd passed) on --tls-port, with tls.
server::ListenAddress tls_port_address(const Config& config, const server::ListenAddress& address);

// The directories a reload reads from, for Landlock: each --tls-cert's and
// --tls-key's, and the directory of the file it resolves to (certbot's
// live/NAME/*.pem are symlinks into archive/NAME/, a new file at each
// renewal, which a rule on the file itself would not cover).
std::vector<std::string> https_reload_dirs(const Config& config);

// SIGHUP: the files are read again; a good set replaces the old for new
// connections, a bad one is refused and the old keeps serving. Logs either.
void reload_https(server::TlsContextHolder& contexts);

} // namespace splicehttpd
