#include "config.hpp"

#include "config_file.hpp"
#include "http/path.hpp"
#include "https_flags.hpp"
#include "options.hpp"
#include "plural.hpp"

#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <set>
#include <thread>

namespace splicehttpd {

namespace {

// Asked once, at start-up: a reload re-reads the configuration under the
// seccomp filter, which has no syscall for it.
unsigned online_cpus()
{
    static const unsigned n = std::max(1u, std::thread::hardware_concurrency());
    return n;
}

using Keys = std::set<std::string, std::less<>>;

// What CLI11 fills for the settings a site may have, before they are
// checked and turned into SiteSettings.
struct SiteArgs {
    std::string root = "./htdocs";
    std::vector<std::string> add_headers;
    std::vector<std::string> expires;
    std::string fallback;
    std::vector<std::string> fallback_prefixes;
    std::vector<std::string> error_pages;
    std::string dotfiles = "deny";
    std::string precompressed = "on";
    bool autoindex = false;
};

// Everything CLI11 fills: Config's plain fields directly, the rest as text.
struct Args {
    Config c;
    SiteArgs site;
    std::string max_conns = "auto";
    std::string cache = "on";
    std::string ktls = "auto";
    std::string unknown_host = "default";
    bool no_sandbox = false;
    bool no_seccomp = false;
    std::vector<std::string> tls_certs;
    std::vector<std::string> tls_keys;
};

// The one table: every flag, and so every key of the config file.
void add_options(OptionTable& t, Args& a)
{
    using enum OptionScope;
    Config& c = a.c;
    CLI::App& app = t.app();
    app.set_version_flag("--version", "splicehttpd " SPLICEHTTPD_VERSION);
    // The last of a repeated flag wins, so wrappers (tools/serve) can set
    // defaults that their caller overrides.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    t.text("config", c.config_file,
           "A TOML file of settings named as these flags (root = \"/srv/www\", listen = [...], [[site]] tables); "
           "flags given here win over it",
           CommandLine);
    t.flag("check-config", c.check_only,
           "Read the flags and --config FILE, check what start-up checks as this user (roots, files, addresses), "
           "print the first problem and exit 1, or exit 0",
           CommandLine);
    t.flag("take-over", c.take_over,
           "Bind beside a running splicehttpd on the same addresses (SO_REUSEPORT) to replace it: then send the old "
           "one SIGTERM (see the README, Upgrading the binary)",
           CommandLine);
    t.text("root", a.site.root, "Directory to serve", Site)->capture_default_str();
    t.list("listen", c.listen,
           "ADDRESS[:PORT], [IPv6]:PORT or unix:/PATH to listen on, then options after a space: tls (or ssl) for "
           "HTTPS, mode=0660 for a unix socket's file; repeat it for several (IPv6 addresses are IPv6-only unless "
           "--ipv6-dual-stack)")
        ->capture_default_str();
    t.flag("ipv6-dual-stack", c.ipv6_dual_stack,
           "A --listen [::] takes IPv4 clients too, logged as a.b.c.d: IPV6_V6ONLY off, as nginx's ipv6only off");
    t.integer("port", c.port, "TCP port for a --listen address without one (0: any free port, printed at start-up)")
        ->capture_default_str();
    t.integer("threads", c.threads, "Worker threads, one ring each (default: online CPUs)")
        ->check(CLI::Range(1u, 1024u));
    t.flag("debug", c.debug, "Log one line per completion");
    t.text("log-level", c.log_level, "error, warn, info or debug (debug: as --debug)")
        ->check(CLI::IsMember({"error", "warn", "info", "debug"}))
        ->capture_default_str();
    t.text("metrics-listen", c.metrics_listen,
           "Serve /metrics (Prometheus text) on this address, ADDR[:PORT] (port 9145 if none); off by default");
    t.text("access-log", c.access_log,
           "Combined-format access log: a file outside --root (reopened on SIGHUP) or - for stdout; off by default");
    t.text("access-log-format", c.access_log_format,
           "combined, or vhost: each line starts with the site that answered (its first name, or default)")
        ->check(CLI::IsMember({"combined", "vhost"}))
        ->capture_default_str();
    // One fixed-file slot per connection; io_uring allows 2^20 per ring.
    t.text("max-conns", a.max_conns, "Connections per thread (auto: from RLIMIT_NOFILE and --threads, at most 16384)",
           Global, OptionKind::IntegerOrText)
        ->check([](const std::string& v) -> std::string {
            if (v == "auto") return {};
            if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos ||
                std::stoul(v) < 1 || std::stoul(v) > 300000)
                return "'auto' or a number in [1 - 300000], not " + v; // CLI11 puts the flag's name first
            return {};
        })
        ->capture_default_str();
    t.bounded("max-conns-per-ip", c.max_conns_per_ip, 0u, 1u << 20,
              "Connections at once from one client address, over all threads (0: no limit); past it a new "
              "connection is closed at once, unanswered (nginx's limit_conn)");
    t.bounded("pipes", c.pipes, 1u, 4096u, "Pipes per thread created at start-up");
    t.bounded("pipes-max", c.pipes_max, 1u, 4096u, "Pipes per thread the pool may grow to");
    t.bounded("pipe-size", c.pipe_size, 4096u, 1u << 30, "Pipe capacity in bytes (F_SETPIPE_SZ)");
    t.bounded("chain-pairs", c.chain_pairs, 1u, 16u, "splice pairs linked in one submit");
    t.bounded("pipe-queue", c.pipe_queue, 0u, 1u << 20,
              "Requests per thread that may wait for a pipe (more: 503 with Retry-After)");
    t.bounded("inline-max", c.inline_max, std::uint64_t(0), std::uint64_t(16) << 20,
              "Bodies up to this many bytes are read into memory and sent without a pipe");
    t.on_off("cache", a.cache, "on", "off", "Open-file cache: descriptors, metadata and small files' bytes");
    t.bounded("cache-ttl-ms", c.cache_ttl_ms, 0u, 3600000u, "How old a cache entry may be when used (ms)");
    t.bounded("cache-entries", c.cache_entries, 1u, 1u << 20, "Files per thread the cache keeps open");
    t.bounded("cache-bytes", c.cache_bytes, std::uint64_t(0), std::uint64_t(1) << 36,
              "Bytes of small files per thread the cache keeps");
    t.bounded("io-workers", c.io_workers, 1u, 1024u, "io-wq worker threads per ring (bounded and unbounded)");
    t.flag("sqpoll", c.sqpoll,
           "A kernel thread per ring polls for submissions (IORING_SETUP_SQPOLL): no syscall per request under "
           "load, at the cost of a busy core per thread");
    t.bounded("sqpoll-idle-ms", c.sqpoll_idle_ms, 1u, 60000u,
              "With --sqpoll: idle time before the kernel thread sleeps");
    t.bounded("send-timeout", c.send_timeout, 1u, 86400u, "Seconds a response may go without the peer taking a byte");
    t.bounded("keepalive-timeout", c.keepalive_timeout, 1u, 86400u, "Seconds an idle connection is kept open");
    t.bounded("header-timeout", c.header_timeout, 1u, 86400u, "Seconds a client has to send a request's head");
    t.bounded("shutdown-timeout", c.shutdown_timeout, 0u, 86400u,
              "Seconds responses in flight may take after SIGTERM/SIGINT (a second signal: exit at once)");
    t.text("user", c.user, "As root: bind, then switch to this user (and its groups) before serving (default: nobody)");
    t.flag("allow-root", c.allow_root, "As root without --user: serve as root, not as nobody");
    t.flag("no-sandbox", a.no_sandbox, "No Landlock, seccomp filter or io_uring restrictions (debugging)");
    t.flag("no-seccomp", a.no_seccomp, "Keep Landlock and io_uring restrictions, drop the seccomp filter");
    t.list("add-header", a.site.add_headers, "'Name: value' added to every response (repeatable)", Site);
    t.list("expires", a.site.expires,
           "Cache-Control/Expires for files: '.css=7d', '/assets/=1h', '.html=off' (repeatable; first match "
           "wins)",
           Site);
    t.text("fallback", a.site.fallback,
           "A file that answers a missing path with 200 unless its last segment has an extension (single-page "
           "apps: /index.html)",
           Site);
    t.list("fallback-prefix", a.site.fallback_prefixes,
           "--fallback only for missing paths under this prefix, like '/app/' (repeatable)", Site)
        ->check([](const std::string& v) { return v.starts_with('/') ? "" : "a path prefix starting with '/'"; });
    t.list("error-page", a.site.error_pages, "STATUS=/path: a page sent with that status (repeatable)", Site);
    t.text("mime-types", c.mime_types, "A mime.types file whose types win over the built-in ones");
    t.on_off("dotfiles", a.site.dotfiles, "allow", "deny", "Serve files whose path has a segment starting with '.'",
             Site);
    t.flag("autoindex", a.site.autoindex,
           "List a directory without index.html (HTML; dotfiles only with --dotfiles allow; symlinks never)", Site);
    t.bounded("listing-memory", c.listing_memory, std::size_t(4) << 20, std::size_t(1) << 36,
              "With --autoindex: bytes of listing pages a thread holds at once, cached or being sent (past it: 503 "
              "with Retry-After); a page is at most 4 MiB");
    t.on_off("precompressed", a.site.precompressed, "on", "off", "Serve x.br / x.gz for x when the client accepts them",
             Site);
    t.text("unknown-host", a.unknown_host,
           "With [[site]] tables in --config: a Host no site names goes to the default site, or gets 421 "
           "Misdirected Request",
           Global, OptionKind::IntegerOrText)
        ->check(CLI::IsMember({"default", "421"}))
        ->capture_default_str();
    t.bounded("max-uri-bytes", c.limits.max_uri, std::size_t(16), std::size_t(1) << 20,
              "Longest request target (longer: 414)");
    t.bounded("max-header-bytes", c.limits.max_header_bytes, std::size_t(256), std::size_t(1) << 24,
              "Largest header section (larger: 431)");
    t.bounded("max-input", c.max_input, std::size_t(1024), std::size_t(1) << 26,
              "Unparsed input buffered per connection while a response is in flight; past it, reading pauses");
    t.bounded("max-headers", c.limits.max_headers, 1u, 10000u, "Most header fields (more: 431)");
    t.integer("tls-port", c.tls_port,
              "HTTPS port on the first TCP --listen address (0: any free port); as --listen 'ADDRESS:PORT tls'")
        ->check(CLI::Range(0, 65535));
    t.list("tls-cert", a.tls_certs,
           "PEM certificate chain for the TLS listeners (repeatable: each with the --tls-key in the same place; "
           "chosen by server name, the first for other names)");
    t.list("tls-key", a.tls_keys, "PEM private key of the --tls-cert in the same place (repeatable)");
    t.bounded("tls-handshake-timeout", c.tls_handshake_timeout, 1u, 3600u,
              "Seconds a client of a TLS listener has to finish the TLS handshake");
    t.on_off("ktls", a.ktls, "auto", "off",
             "HTTPS: hand each connection's transmit keys to the kernel where it offers kTLS, so files are "
             "spliced into the socket and the kernel encrypts them (off: always encrypt in user space)");
    t.flag("https-redirect", c.https_redirect,
           "Answer plain HTTP with 308 to https:// on --tls-port, else the first TCP tls listener (except "
           "/.well-known/acme-challenge/)");
}

// What went wrong, written as for the command line ("--add-header 'x': ...");
// element: which value of a list.
struct Problem {
    std::string key;
    std::string message;
    std::size_t element = 0;
};

// "--key rest" -> "ORIGIN: key rest"; a message that does not start with the
// flag gets "ORIGIN: key: " in front.
std::string restate(const std::string& message, const std::string& key, const std::string& origin)
{
    const std::string flag = "--" + key;
    if (message.starts_with(flag) &&
        (message.size() == flag.size() || message[flag.size()] == ' ' || message[flag.size()] == ':'))
        return fmt::format("{}: {}{}", origin, key, message.substr(flag.size()));
    return fmt::format("{}: {}: {}", origin, key, message);
}

// Both name a file beneath the root, as a request would.
std::optional<std::string> file_path(const std::string& value)
{
    auto path = value.starts_with('/') ? http::normalize_path(value) : std::nullopt;
    if (!path || path->directory || path->rel.empty()) return std::nullopt;
    return path->rel;
}

// The site settings CLI11 filled, for the keys given (the others keep what
// `s` has: the defaults, or the top level's for a [[site]]).
std::optional<Problem> finish_site(const SiteArgs& a, const Keys& given, SiteSettings& s)
{
    std::string error;
    if (given.contains("root")) {
        if (a.root.empty()) return Problem{"root", "--root: empty; a directory to serve"};
        s.root = a.root;
    }
    if (given.contains("add-header")) {
        s.extra_headers.clear();
        for (std::size_t i = 0; i < a.add_headers.size(); ++i) {
            auto line = http::parse_add_header(a.add_headers[i], error);
            if (!line) return Problem{"add-header", error, i};
            s.extra_headers += *line;
        }
    }
    if (given.contains("expires")) {
        s.expires_rules.clear();
        for (std::size_t i = 0; i < a.expires.size(); ++i) {
            auto rule = http::parse_expires(a.expires[i], error);
            if (!rule) return Problem{"expires", error, i};
            s.expires_rules.push_back(std::move(*rule));
        }
    }
    if (given.contains("fallback")) {
        s.fallback.clear();
        if (!a.fallback.empty()) {
            auto rel = file_path(a.fallback);
            if (!rel)
                return Problem{"fallback", fmt::format("--fallback {}: a file's path below the root, like /index.html",
                                                       a.fallback)};
            s.fallback = *rel;
        }
    }
    if (given.contains("fallback-prefix")) s.fallback_prefixes = a.fallback_prefixes;
    if (given.contains("error-page")) {
        s.error_pages.clear();
        for (std::size_t i = 0; i < a.error_pages.size(); ++i) {
            const std::string& spec = a.error_pages[i];
            const auto eq = spec.find('=');
            int status = 0;
            const char* first = spec.data();
            const char* last = spec.data() + (eq == std::string::npos ? 0 : eq);
            const auto [end, ec] = std::from_chars(first, last, status);
            if (eq == std::string::npos || ec != std::errc() || end != last || status < 400 || status > 599)
                return Problem{
                    "error-page",
                    fmt::format("--error-page {}: expected STATUS=/path with a status from 400 to 599", spec), i};
            auto rel = file_path(spec.substr(eq + 1));
            if (!rel)
                return Problem{
                    "error-page",
                    fmt::format("--error-page {}: a file's path below the root, like /index.html", spec.substr(eq + 1)),
                    i};
            s.error_pages.emplace_back(status, *rel);
        }
    }
    if (given.contains("dotfiles")) s.dotfiles = a.dotfiles == "allow";
    if (given.contains("precompressed")) s.precompressed = a.precompressed == "on";
    if (given.contains("autoindex")) s.autoindex = a.autoindex;
    return std::nullopt;
}

// Everything CLI11 filled -> Config, each value checked alone. `emptied`:
// lists the file gave as [], which CLI11 never saw. `alone`: one setting of
// the file by itself (check_piece), without the checks across settings.
std::optional<Problem> finish(const Args& a, const Keys& given, Config& c, const Keys& emptied = {}, bool alone = false)
{
    c = a.c;
    if (emptied.contains("listen")) c.listen.clear();
    if (auto p = finish_site(a.site, given, c)) return p;
    if (c.log_level == "debug") c.debug = true;
    if (c.debug) c.log_level = "debug";
    if (c.threads == 0) c.threads = online_cpus();
    c.max_conns = a.max_conns == "auto" ? 0u : unsigned(std::stoul(a.max_conns));
    c.sandbox = !a.no_sandbox;
    c.seccomp = !a.no_seccomp && !a.no_sandbox;
    c.cache = a.cache == "on";
    c.ktls = a.ktls == "auto";
    c.unknown_host = a.unknown_host == "421" ? UnknownHost::Misdirected : UnknownHost::Default;
    if (c.listen.empty()) return Problem{"listen", "--listen: no address; give at least one"};
    if (c.metrics_listen.starts_with("unix:"))
        return Problem{"metrics-listen",
                       fmt::format("--metrics-listen {}: a TCP address, not a unix socket", c.metrics_listen)};
    if (c.metrics_listen.find_first_of(" \t") != std::string::npos)
        return Problem{
            "metrics-listen",
            fmt::format("--metrics-listen {}: an address without options (/metrics is plain HTTP)", c.metrics_listen)};
    std::size_t bad = 0;
    std::string error;
    auto planned = server::plan_listeners(c.listen, c.port, c.ipv6_dual_stack, bad, error);
    if (!planned) return Problem{"listen", fmt::format("--listen {}: {}", c.listen[bad], error), bad};
    c.listeners = std::move(*planned);
    // Named at the listener's own place (a config file's element).
    if (!alone && a.tls_certs.empty() && a.tls_keys.empty())
        for (std::size_t i = 0; i < c.listeners.size(); ++i)
            if (c.listeners[i].tls)
                return Problem{"listen", fmt::format("--listen {}: tls needs --tls-cert and --tls-key", c.listen[i]),
                               i};
    if (auto e = check_https_flags(c, a.tls_certs, a.tls_keys, alone); !e.empty())
        return Problem{e.starts_with("--tls-cert") ? "tls-cert"
                       : e.starts_with("--https")  ? "https-redirect"
                                                   : "tls-port",
                       e};

    return std::nullopt;
}

// CLI11 reads arguments from the back.
void parse(CLI::App& app, std::vector<std::string> args)
{
    std::reverse(args.begin(), args.end());
    app.parse(args);
}

std::string first_line(const std::string& text)
{
    return text.substr(0, text.find('\n'));
}

// Checks one value of the file alone, through the same options and
// conversions as the command line, so that its error names its place.
std::optional<std::string> check_piece(const std::string& key, const FilePiece& piece)
{
    Args args;
    CLI::App app;
    OptionTable table(app);
    add_options(table, args);
    try {
        parse(app, piece.args);
    } catch (const CLI::ParseError& e) {
        return restate(first_line(e.what()), key, piece.origin);
    }
    Config scratch;
    if (auto p = finish(args, Keys{key}, scratch, {}, true)) return restate(p->message, key, piece.origin);
    return std::nullopt;
}

} // namespace

std::string Config::where(std::string_view key) const
{
    const auto it = origins.find(key);
    if (it == origins.end()) return "--" + std::string(key);
    return fmt::format("{}: {}", it->second, key);
}

CliOutcome load_config(const std::vector<std::string>& args, std::string& message)
{
    // Known before parsing: a --check-config run fails with 1, whatever fails.
    const bool check = std::find(args.begin(), args.end(), "--check-config") != args.end();
    const CliOutcome failed{std::nullopt, check ? 1 : 2};
    const auto fail = [&](std::string text) {
        message = std::move(text);
        return failed;
    };

    Args cli;
    CLI::App cli_app{"splicehttpd: a static-file HTTP/1.1 server on io_uring", "splicehttpd"};
    OptionTable table(cli_app);
    add_options(table, cli);
    try {
        parse(cli_app, args);
    } catch (const CLI::CallForHelp&) {
        message = cli_app.help();
        return {std::nullopt, 0};
    } catch (const CLI::CallForVersion& e) {
        message = std::string(e.what()) + "\n";
        return {std::nullopt, 0};
    } catch (const CLI::ParseError& e) {
        return fail(first_line(e.what()) + " (see --help)");
    }
    const auto counted = [](const OptionTable& t, const std::string& key) { return t.app().count("--" + key) > 0; };

    std::optional<ConfigFile> file;
    std::vector<std::string> file_args;
    std::map<std::string, std::string, std::less<>> origins;
    std::vector<std::string> listen_origins;
    Keys emptied;
    if (!cli.c.config_file.empty()) {
        std::string error;
        file = read_config_file(cli.c.config_file, table, error);
        if (!file) return fail(error);
        for (const FileSetting& s : file->settings) {
            if (!s.error.empty()) return fail(s.error);
            // Checked even where the command line overrides it: the file
            // must be good without that command line too.
            for (const FilePiece& piece : s.pieces)
                if (auto why = check_piece(s.key, piece)) return fail(*why);
            if (counted(table, s.key)) continue; // the command line wins
            for (const FilePiece& piece : s.pieces) {
                file_args.insert(file_args.end(), piece.args.begin(), piece.args.end());
                if (s.key == "listen") listen_origins.push_back(piece.origin);
            }
            // A list is named by its key (each value has its own place).
            const bool list = table.find(s.key)->kind == OptionKind::List;
            origins[s.key] = list || s.pieces.empty() ? s.origin : s.pieces.front().origin;
            if (s.pieces.empty()) emptied.insert(s.key);
        }
    }

    // Everything at once: the file's values first, the command line's after.
    Args all;
    CLI::App all_app;
    OptionTable all_table(all_app);
    add_options(all_table, all);
    std::vector<std::string> combined = file_args;
    combined.insert(combined.end(), args.begin(), args.end());
    try {
        parse(all_app, combined);
    } catch (const CLI::ParseError& e) {
        return fail(first_line(e.what()));
    }
    Keys given = emptied;
    for (const OptionInfo& info : all_table.all())
        if (counted(all_table, info.key)) given.insert(info.key);

    Config c;
    const auto where_is = [&](const Problem& p) -> std::string {
        if (p.key == "listen" && p.element < listen_origins.size())
            return restate(p.message, p.key, listen_origins[p.element]);
        if (const auto it = origins.find(p.key); it != origins.end()) return restate(p.message, p.key, it->second);
        return p.message;
    };
    if (auto p = finish(all, given, c, emptied)) return fail(where_is(*p));
    c.origins = origins;
    for (const OptionInfo& info : all_table.all())
        if (info.scope == OptionScope::Global) c.settings[info.key] = info.value();
    // Checks across settings name the other setting as it was given:
    // "pipes-max 4 (FILE:2:13)", "--pipes-max 4", or for a setting given
    // nowhere, "fallback" or "--fallback" as the one at fault is named.
    const auto other = [&](std::string_view fault, std::string_view key, const std::string& value) {
        const auto it = origins.find(key);
        if (it != origins.end()) return fmt::format("{} {} ({})", key, value, it->second);
        const bool file_style = !given.contains(key) && origins.contains(fault);
        return fmt::format("{}{}{}{}", file_style ? "" : "--", key, value.empty() ? "" : " ", value);
    };
    if (c.pipes > c.pipes_max)
        return fail(fmt::format("{} {} exceeds {}", c.where("pipes"), c.pipes,
                                other("pipes", "pipes-max", std::to_string(c.pipes_max))));
    if (c.fallback.empty() && !c.fallback_prefixes.empty())
        return fail(fmt::format("{} needs {}", c.where("fallback-prefix"), other("fallback-prefix", "fallback", "")));

    if (file) {
        for (const FileSite& fs : file->sites) {
            SiteConfig site;
            static_cast<SiteSettings&>(site) = c; // what the site does not say, the top level does
            site.names = fs.names;
            site.name_origins = fs.name_origins;
            site.is_default = fs.is_default;
            site.origin = fs.origin;
            std::vector<std::string> site_args;
            Keys site_given;
            for (const FileSetting& s : fs.settings) {
                if (!s.error.empty()) return fail(s.error);
                for (const FilePiece& piece : s.pieces) {
                    if (auto why = check_piece(s.key, piece)) return fail(*why);
                    site_args.insert(site_args.end(), piece.args.begin(), piece.args.end());
                }
                site_given.insert(s.key);
                const bool list = table.find(s.key)->kind == OptionKind::List;
                site.origins[s.key] = list || s.pieces.empty() ? s.origin : s.pieces.front().origin;
            }
            Args sa;
            CLI::App site_app;
            OptionTable site_table(site_app);
            add_options(site_table, sa);
            try {
                parse(site_app, site_args);
            } catch (const CLI::ParseError& e) {
                return fail(fmt::format("{}: {}", fs.origin, first_line(e.what())));
            }
            if (auto p = finish_site(sa.site, site_given, site)) {
                const auto it = site.origins.find(p->key);
                return fail(restate(p->message, p->key, it == site.origins.end() ? fs.origin : it->second));
            }
            if (site.fallback.empty() && !site.fallback_prefixes.empty()) {
                const auto it = site.origins.find("fallback-prefix");
                return fail(fmt::format("{}: fallback-prefix needs fallback",
                                        it == site.origins.end() ? fs.origin : it->second));
            }
            c.sites.push_back(std::move(site));
        }
    }
    std::string error;
    auto sites = Sites::build(c, c.sites, c.unknown_host, c.where("unknown-host"), error);
    if (!sites) return fail(error);
    c.site_table = std::make_shared<const Sites>(std::move(*sites));
    return {std::move(c), 0};
}

CliOutcome parse_command_line(int argc, char** argv)
{
    std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
    std::string message;
    CliOutcome out = load_config(args, message);
    if (out.config) return out;
    if (out.exit_code == 0)
        std::cout << message;
    else
        std::cerr << "splicehttpd: " << message << '\n';
    return out;
}

} // namespace splicehttpd
