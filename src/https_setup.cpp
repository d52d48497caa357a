#include "https_setup.hpp"

#include "plural.hpp"
#include "server/listener.hpp"
#include "tls/fast_gcm.hpp"
#include "tls/ktls.hpp"
#include "tls/ticket_keys.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <stdexcept>

namespace splicehttpd {

bool serves_https(const Config& config)
{
    return config.tls_port >= 0 || std::any_of(config.listeners.begin(), config.listeners.end(),
                                               [](const server::ListenAddress& l) { return l.tls; });
}

HttpsStart start_https(const Config& config)
{
    HttpsStart h;
    std::vector<tls::CertKeyPaths> pairs;
    for (const auto& [cert, key] : config.tls_pairs) pairs.push_back({cert, key});
    // The ticket keys live in memory only, from here on: they outlive
    // reloads, and a restart forgets every ticket.
    h.kernel_tls = config.ktls ? tls::probe_kernel_tls() : tls::KernelTls{};
    tls::LoadResult loaded = tls::load_contexts(pairs, std::make_shared<tls::TicketKeys>());
    if (!loaded.set) throw std::runtime_error(loaded.error);
    h.warnings = std::move(loaded.warnings);
    h.contexts = std::make_unique<server::TlsContextHolder>();
    h.contexts->set(std::move(loaded.set));

    // Which path HTTPS bodies take (docs/design.md, "TLS"): one line.
    if (!config.ktls)
        h.body_path = "HTTPS bodies are encrypted in user space (--ktls off)";
    else
        h.body_path = "HTTPS: " + h.kernel_tls.detail;
    // Whose AES-GCM seals the records made here (all of them without kTLS;
    // the tickets, and sessions the kernel refuses, with it).
    const tls::FastGcm* fast = tls::FastGcm::get();
    h.body_path += std::string("; AES-GCM in user space: ") + (fast ? fast->name() : "OpenSSL");
    return h;
}

server::ListenAddress tls_port_address(const Config& config, const server::ListenAddress& address)
{
    server::ListenAddress a = address;
    a.set_port(std::uint16_t(config.tls_port));
    a.tls = true;
    return a;
}

std::vector<std::string> https_reload_dirs(const Config& config)
{
    std::vector<std::string> dirs;
    auto add = [&dirs](const std::filesystem::path& file) {
        // Not `dir = "."` after the fact: GCC 12 at -O2 reports a false
        // overlap in that assignment here (-Wrestrict, an error in tools/test).
        const std::filesystem::path parent = file.parent_path();
        std::string dir = parent.empty() ? std::string(".") : parent.string();
        if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(std::move(dir));
    };
    for (const auto& [cert, key] : config.tls_pairs) {
        for (const std::string& file : {cert, key}) {
            add(std::filesystem::absolute(file));
            std::error_code ec;
            const std::filesystem::path real = std::filesystem::canonical(file, ec);
            if (!ec) add(real);
        }
    }
    return dirs;
}

void reload_https(server::TlsContextHolder& contexts)
{
    const std::shared_ptr<const tls::ContextSet> current = contexts.get();
    tls::LoadResult loaded = tls::reload_contexts(*current);
    if (!loaded.set) {
        spdlog::error("SIGHUP: certificates not reloaded, the old ones keep serving: {}", loaded.error);
        return;
    }
    for (const std::string& w : loaded.warnings) spdlog::warn("SIGHUP: {}", w);
    const std::size_t pairs = loaded.set->size();
    contexts.set(std::move(loaded.set));
    spdlog::info("SIGHUP: {} reloaded; new TLS connections use them, open ones finish on the old",
                 plural(pairs, "certificate pair"));
}

} // namespace splicehttpd
