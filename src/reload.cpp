#include "reload.hpp"

#include "preflight.hpp"
#include "sys/read_file.hpp"
#include "sys/sandbox.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace splicehttpd {

namespace {
// A mime.types file is small (Debian's is 60 KB).
constexpr std::size_t kMaxMimeTypesBytes = 4 << 20;
} // namespace

std::shared_ptr<server::SiteGeneration> open_site_generation(const Config& config, std::uint32_t number,
                                                             std::shared_ptr<const http::MimeTable> mime,
                                                             std::string& error)
{
    auto g = std::make_shared<server::SiteGeneration>();
    g->number = number;
    g->mime = std::move(mime);
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

Reload reload_config(const std::vector<std::string>& args, const Config& started, std::uint32_t number, bool lists,
                     const http::MimeTable& system_types)
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
    // --mime-types read again (nginx re-reads its types on a reload): a bad
    // file is refused as at start-up, and the running types stay.
    auto mime = std::make_shared<http::MimeTable>(system_types);
    if (!c.mime_types.empty()) {
        std::string why;
        const std::optional<std::string> text = sys::read_small_file(c.mime_types, kMaxMimeTypesBytes, why);
        if (!text || !mime->override_with(*text, why)) {
            out.error = fmt::format("{} {}: {}", c.where("mime-types"), c.mime_types, why);
            return out;
        }
    }
    auto sites = open_site_generation(c, number, std::move(mime), out.error);
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
    // Every top-level setting but unknown-host (it belongs to the site
    // table) was read once at start-up: the listeners, threads, rings,
    // deadline queues, parser limits, logs, the sandbox. The per-site
    // settings ([[site]], and the top level's root, headers, ...) apply.
    for (const auto& [key, value] : started.settings) {
        if (key == "unknown-host" || key == "mime-types") continue; // re-read: the generation has them
        const auto now = c.settings.find(key);
        if (now == c.settings.end() || now->second != value)
            out.warnings.push_back(fmt::format("{}: changed, which takes a restart; still as started", key));
    }
    out.sites = std::move(sites);
    return out;
}

} // namespace splicehttpd
