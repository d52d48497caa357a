#include "reload.hpp"

#include "preflight.hpp"
#include "sys/sandbox.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace splicehttpd {

std::shared_ptr<server::SiteGeneration> open_site_generation(const Config& config, std::uint32_t number,
                                                             std::string& error)
{
    auto g = std::make_shared<server::SiteGeneration>();
    g->number = number;
    g->table = config.site_table;
    g->top = config;
    const std::vector<Site>& sites = config.site_table->all();
    for (std::size_t i = 0; i < sites.size(); ++i) {
        const std::string& dir = sites[i].settings.root;
        sys::UniqueFd fd(sys::open_dir(dir.c_str()));
        if (!fd) {
            error = fmt::format("{} {}: {}", root_setting(config, i), dir, std::strerror(errno));
            return nullptr;
        }
        g->roots.push_back(std::move(fd));
    }
    return g;
}

std::vector<std::string> site_read_trees(const Config& config)
{
    std::vector<std::string> out;
    for (const Site& site : config.site_table->all()) {
        std::string dir = site.settings.root;
        while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
        struct stat st {};
        if (::lstat(dir.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) continue;
        out.push_back(sys::parent_directory(dir));
    }
    return out;
}

Reload reload_config(const std::vector<std::string>& args, const Config& started, std::uint32_t number, bool lists)
{
    Reload out;
    std::string message;
    CliOutcome cli = load_config(args, message);
    if (!cli.config) {
        out.error = message;
        return out;
    }
    const Config& c = *cli.config;
    if (!lists) {
        for (const Site& site : c.site_table->all())
            if (site.settings.autoindex) {
                out.error = fmt::format("{}autoindex: turned on by the reload, which takes a restart (the server "
                                        "started without directory listings, and its sandbox reads no directories)",
                                        site.names.empty() ? "" : "site " + site.label + ": ");
                return out;
            }
    }
    auto sites = open_site_generation(c, number, out.error);
    if (!sites) return out;
    // Landlock was set at start-up: a root outside what it lets the process
    // read would answer every request 403. Reading the directory says.
    const std::vector<Site>& all = c.site_table->all();
    for (std::size_t i = 0; i < all.size(); ++i) {
        const std::string probe = all[i].settings.root + "/.";
        sys::UniqueFd fd(sys::open_read(probe.c_str()));
        if (!fd) {
            out.error = fmt::format("{} {}: {}{}", root_setting(c, i), all[i].settings.root, std::strerror(errno),
                                    errno == EACCES ? " (the serving user may not read it, or the sandbox set at "
                                                      "start-up does not let it: a new root takes a restart)"
                                                    : "");
            return out;
        }
    }
    // What a reload does not change: said, so that nobody waits for it.
    auto differs = [&](const char* key, bool changed) {
        if (changed) out.warnings.push_back(fmt::format("{}: changed, which takes a restart; still as started", key));
    };
    differs("listen", c.listen != started.listen);
    differs("port", c.port != started.port);
    differs("threads", c.threads != started.threads);
    differs("access-log", c.access_log != started.access_log);
    differs("access-log-format", c.access_log_format != started.access_log_format);
    differs("log-level", c.log_level != started.log_level);
    differs("max-conns", c.max_conns != started.max_conns);
    differs("max-conns-per-ip", c.max_conns_per_ip != started.max_conns_per_ip);
    differs("pipes", c.pipes != started.pipes || c.pipes_max != started.pipes_max || c.pipe_size != started.pipe_size);
    differs("cache", c.cache != started.cache || c.cache_ttl_ms != started.cache_ttl_ms ||
                         c.cache_entries != started.cache_entries || c.cache_bytes != started.cache_bytes);
    differs("pipe-queue", c.pipe_queue != started.pipe_queue);
    differs("chain-pairs", c.chain_pairs != started.chain_pairs);
    differs("inline-max", c.inline_max != started.inline_max);
    differs("io-workers", c.io_workers != started.io_workers);
    differs("sqpoll", c.sqpoll != started.sqpoll || c.sqpoll_idle_ms != started.sqpoll_idle_ms);
    // The workers' deadline queues, the parser's limits and the stop's
    // grace were set from the started values.
    differs("keepalive-timeout", c.keepalive_timeout != started.keepalive_timeout);
    differs("header-timeout", c.header_timeout != started.header_timeout);
    differs("send-timeout", c.send_timeout != started.send_timeout);
    differs("tls-handshake-timeout", c.tls_handshake_timeout != started.tls_handshake_timeout);
    differs("shutdown-timeout", c.shutdown_timeout != started.shutdown_timeout);
    differs("max-input", c.max_input != started.max_input);
    differs("max-uri-bytes", c.limits.max_uri != started.limits.max_uri);
    differs("max-header-bytes", c.limits.max_header_bytes != started.limits.max_header_bytes);
    differs("max-headers", c.limits.max_headers != started.limits.max_headers);
    differs("listing-memory", c.listing_memory != started.listing_memory);
    differs("metrics-listen", c.metrics_listen != started.metrics_listen);
    differs("tls-port", c.tls_port != started.tls_port);
    differs("tls-cert", c.tls_pairs != started.tls_pairs);
    differs("https-redirect", c.https_redirect != started.https_redirect);
    differs("user", c.user != started.user || c.allow_root != started.allow_root);
    differs("mime-types", c.mime_types != started.mime_types);
    differs("sandbox", c.sandbox != started.sandbox || c.seccomp != started.seccomp);
    out.sites = std::move(sites);
    return out;
}

} // namespace splicehttpd
