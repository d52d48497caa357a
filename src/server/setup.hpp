// What every worker is given at start-up and nobody changes afterwards.
#pragma once

#include "config.hpp"
#include "http/mime.hpp"
#include "server/site_generation.hpp"
#include "tls/context.hpp"
#include "tls/ktls.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace splicehttpd::server {

class AccessLogFile;
}
namespace splicehttpd::metrics {
class Board;
}
namespace splicehttpd::server {
class SharedClientCounter;

// HTTPS: the certificate set new TLS connections start with. SIGHUP's reload
// publishes a new one; a session holds the set it started with, so open
// connections finish on the old pair. Read once per TLS accept.
class TlsContextHolder {
public:
    [[nodiscard]] std::shared_ptr<const tls::ContextSet> get() const
    {
        std::lock_guard lock(mutex_);
        return set_;
    }
    void set(std::shared_ptr<const tls::ContextSet> set)
    {
        std::lock_guard lock(mutex_);
        set_ = std::move(set);
    }

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const tls::ContextSet> set_;
};

struct ServerSetup {
    Config config;
    // The sites and their roots (a SIGHUP may publish new ones); owned by main().
    SiteGenerationHolder* sites = nullptr;
    std::string boundary;                // multipart/byteranges
    AccessLogFile* access_log = nullptr; // --access-log, owned by main()
    TlsContextHolder* tls = nullptr;     // any TLS listener's, owned by main()
    // The kernel's kTLS as probed at start-up; unavailable with --ktls off.
    tls::KernelTls kernel_tls;
    // Where --https-redirect sends plain clients: --tls-port's port, else
    // the first TCP tls listener's, as bound (port 0: the kernel's choice).
    std::uint16_t https_port = 0;
    metrics::Board* metrics = nullptr;           // --metrics-listen, owned by main()
    SharedClientCounter* client_limit = nullptr; // --max-conns-per-ip, owned by main(); shared by the workers
};

} // namespace splicehttpd::server
