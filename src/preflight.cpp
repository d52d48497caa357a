#include "preflight.hpp"

#include "https_setup.hpp"

#include "http/mime.hpp"
#include "plural.hpp"
#include "server/site_files.hpp"
#include "sys/sandbox.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace splicehttpd {

namespace {

struct Served {
    const SiteSettings* settings;
    std::string name;       // "" for a configuration without [[site]]; else "site a.example"
    std::string root_where; // how messages name its root
};

// Every site a request can reach, and how to name its root.
std::vector<Served> served_sites(const Config& config)
{
    std::vector<Served> out;
    const auto& sites = config.site_table->all();
    for (std::size_t i = 0; i < sites.size(); ++i) {
        const Site& site = sites[i];
        const bool top = i >= config.sites.size(); // the top level, as the default site
        out.push_back({&site.settings, top ? (config.sites.empty() ? "" : "the default site") : "site " + site.label,
                       root_setting(config, i)});
    }
    return out;
}

std::string resolved(const std::string& path)
{
    char* real = ::realpath(path.c_str(), nullptr);
    std::string out = real ? real : "";
    std::free(real);
    return out;
}

// A log beneath a root would be served, and Landlock would let the server
// create and write files there.
std::string log_inside(const Config& config, const Served& site)
{
    if (config.access_log.empty() || config.access_log == "-") return {};
    std::string log = resolved(config.access_log);
    if (log.empty()) { // not there yet: where it will be made
        const auto slash = config.access_log.rfind('/');
        const std::string dir = slash == std::string::npos ? "." : config.access_log.substr(0, slash + 1);
        log = resolved(dir);
        if (log.empty()) return {}; // opening it fails with its own message
        log += "/" + config.access_log.substr(slash + 1);
    }
    const std::string root = resolved(site.settings->root);
    if (root.empty() || !log.starts_with(root == "/" ? root : root + "/")) return {};
    return fmt::format("{} {}: inside {}{} {}: it would be served, and the sandbox would let the server write "
                       "there; put it outside",
                       config.where("access-log"), config.access_log, site.name.empty() ? "" : site.name + "'s ",
                       site.name.empty() ? "--root" : "root", site.settings->root);
}

} // namespace

std::string root_setting(const Config& config, std::size_t index)
{
    if (index >= config.sites.size()) return config.where("root");
    const SiteConfig& table = config.sites[index];
    if (const auto it = table.origins.find("root"); it != table.origins.end())
        return fmt::format("{}: root", it->second);
    return fmt::format("{}: [[site]] {}: root (the top level's)", table.origin, config.site_table->all()[index].label);
}

Preflight preflight(const Config& config, bool site_files)
{
    Preflight out;
    const auto fail = [&](std::string error) {
        out.error = std::move(error);
        out.warnings.clear();
        return out;
    };
    // Here, not with --listen's checks: a config file's pieces are checked
    // one by one too, and this one needs both.
    if (config.ipv6_dual_stack && std::none_of(config.listeners.begin(), config.listeners.end(),
                                               [](const auto& l) { return server::is_dual_stack(l); }))
        return fail(config.where("ipv6-dual-stack") + ": no --listen [::] (or [::]:PORT) for it to apply to");
    if (config.tls_port >= 0 &&
        std::all_of(config.listeners.begin(), config.listeners.end(), [](const auto& l) { return l.is_unix(); }))
        return fail(fmt::format("{}: HTTPS is served on the first TCP --listen address, and every one is a unix "
                                "socket; add a TCP address",
                                config.where("tls-port")));
    // --tls-port's address beside the --listen ones, as they are checked
    // among themselves: else the bind fails at start-up, after a
    // --check-config that said ok.
    if (config.tls_port > 0) {
        const auto first =
            std::find_if(config.listeners.begin(), config.listeners.end(), [](const auto& l) { return !l.is_unix(); });
        const server::ListenAddress https = tls_port_address(config, *first);
        for (std::size_t i = 0; i < config.listeners.size(); ++i) {
            const std::string text = i < config.listen.size() ? config.listen[i] : config.listeners[i].url();
            if (std::string clash = server::listen_clash(config.listeners[i], https, text); !clash.empty())
                return fail(fmt::format("{} {}: HTTPS on {} clashes with --listen: {}", config.where("tls-port"),
                                        config.tls_port, https.url(), clash));
        }
    }

    const std::vector<Served> sites = served_sites(config);
    for (const Served& site : sites) {
        const sys::UniqueFd root(::open(site.settings->root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!root) return fail(fmt::format("{} {}: {}", site.root_where, site.settings->root, std::strerror(errno)));
        if (std::string inside = log_inside(config, site); !inside.empty()) return fail(inside);
        if (!site_files) continue;
        for (const std::string& problem : server::check_site_files(root.get(), *site.settings))
            out.warnings.push_back(site.name.empty() ? problem : site.name + ": " + problem);
    }
    if (!config.mime_types.empty()) {
        http::MimeTable scratch;
        if (std::string error; !scratch.override_from(config.mime_types, error))
            return fail(fmt::format("{} {}", config.where("mime-types"), error));
    }
    if (!config.user.empty()) {
        try {
            (void)sys::lookup_user(config.user);
        } catch (const std::exception& e) {
            // "--user NAME: no such user", named as the setting was given.
            const std::string what = e.what();
            return fail(what.starts_with("--user") ? config.where("user") + what.substr(6) : what);
        }
    }
    return out;
}

} // namespace splicehttpd
