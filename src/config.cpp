#include "config.hpp"

#include "http/path.hpp"
#include "plural.hpp"

#include <CLI/CLI.hpp>

#include <charconv>

#include <iostream>
#include <thread>

namespace splicehttpd {

namespace {

bool on_off(const std::string& v)
{
    return v == "on" || v == "allow";
}

// The HTTPS flags go together; "" or what is wrong with them.
std::string check_tls_flags(Config& c, const std::vector<std::string>& certs, const std::vector<std::string>& keys)
{
    if (certs.size() != keys.size())
        return "--tls-cert given " + plural(certs.size(), "time") + " but --tls-key " + plural(keys.size(), "time") +
               ": one key for each certificate, in the same order";
    for (const std::string& f : certs)
        if (f.empty()) return "--tls-cert: a file name, not an empty string";
    for (const std::string& f : keys)
        if (f.empty()) return "--tls-key: a file name, not an empty string";
    if (c.tls_port < 0 && !certs.empty()) return "--tls-cert and --tls-key need --tls-port";
    if (c.tls_port < 0 && c.https_redirect) return "--https-redirect needs --tls-port";
    if (c.tls_port >= 0 && certs.empty()) return "--tls-port needs --tls-cert and --tls-key";
    if (c.tls_port > 0 && c.tls_port == c.port)
        return "--tls-port " + std::to_string(c.tls_port) + " is --port too: HTTPS needs a port of its own";
    for (std::size_t i = 0; i < certs.size(); ++i) c.tls_pairs.emplace_back(certs[i], keys[i]);
    // Until the listener and the connection speak it, say so rather than
    // start a server without the port asked for.
    if (c.tls_port >= 0) return "--tls-port: HTTPS is not served by this build yet (issue 18)";
    return {};
}

} // namespace

CliOutcome parse_command_line(int argc, char** argv)
{
    Config c;
    std::string dotfiles = "deny";
    std::string precompressed = "on";

    CLI::App app{"splicehttpd: a static-file HTTP/1.1 server on io_uring"};
    app.set_version_flag("--version", "splicehttpd " SPLICEHTTPD_VERSION);
    // The last of a repeated flag wins, so wrappers (tools/serve) can set
    // defaults that their caller overrides.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("--root", c.root, "Directory to serve")->capture_default_str();
    CLI::Option* listen = app.add_option(
        "--listen", c.listen, "Address to listen on (IPv4 or IPv6; :: takes IPv4 too unless net.ipv6.bindv6only=1)");
    listen->capture_default_str();
    app.add_option("--port", c.port, "TCP port (0: any free port, printed at start-up)")->capture_default_str();
    // A numeric flag with a range; the default is shown in --help.
    auto bounded = [&app](const char* name, auto& value, auto lo, auto hi, const char* help) {
        app.add_option(name, value, help)->check(CLI::Range(lo, hi))->capture_default_str();
    };
    app.add_option("--threads", c.threads, "Worker threads, one ring each (default: online CPUs)")
        ->check(CLI::Range(1u, 1024u));
    app.add_flag("--debug", c.debug, "Log one line per completion");
    app.add_option("--log-level", c.log_level, "error, warn, info or debug (debug: as --debug)")
        ->check(CLI::IsMember({"error", "warn", "info", "debug"}))
        ->capture_default_str();
    app.add_option("--access-log", c.access_log,
                   "Combined-format access log: a file outside --root (reopened on SIGHUP) or - for stdout; off by "
                   "default");
    // One fixed-file slot per connection; io_uring allows 2^20 per ring.
    std::string max_conns = "auto";
    app.add_option("--max-conns", max_conns,
                   "Connections per thread (auto: from RLIMIT_NOFILE and --threads, at most 16384)")
        ->check([](const std::string& v) -> std::string {
            if (v == "auto") return {};
            if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos ||
                std::stoul(v) < 1 || std::stoul(v) > 300000)
                return "'auto' or a number in [1 - 300000], not " + v; // CLI11 puts the flag's name first
            return {};
        })
        ->capture_default_str();
    bounded("--pipes", c.pipes, 1u, 4096u, "Pipes per thread created at start-up");
    bounded("--pipes-max", c.pipes_max, 1u, 4096u, "Pipes per thread the pool may grow to");
    bounded("--pipe-size", c.pipe_size, 4096u, 1u << 30, "Pipe capacity in bytes (F_SETPIPE_SZ)");
    bounded("--chain-pairs", c.chain_pairs, 1u, 16u, "splice pairs linked in one submit");
    bounded("--pipe-queue", c.pipe_queue, 0u, 1u << 20,
            "Requests per thread that may wait for a pipe (more: 503 with Retry-After)");
    bounded("--inline-max", c.inline_max, std::uint64_t(0), std::uint64_t(16) << 20,
            "Bodies up to this many bytes are read into memory and sent without a pipe");
    std::string cache = "on";
    app.add_option("--cache", cache, "Open-file cache: descriptors, metadata and small files' bytes")
        ->check(CLI::IsMember({"on", "off"}))
        ->capture_default_str();
    bounded("--cache-ttl-ms", c.cache_ttl_ms, 0u, 3600000u, "How old a cache entry may be when used (ms)");
    bounded("--cache-entries", c.cache_entries, 1u, 1u << 20, "Files per thread the cache keeps open");
    bounded("--cache-bytes", c.cache_bytes, std::uint64_t(0), std::uint64_t(1) << 36,
            "Bytes of small files per thread the cache keeps");
    bounded("--io-workers", c.io_workers, 1u, 1024u, "io-wq worker threads per ring (bounded and unbounded)");
    app.add_flag("--sqpoll", c.sqpoll,
                 "A kernel thread per ring polls for submissions (IORING_SETUP_SQPOLL): no syscall per request "
                 "under load, at the cost of a busy core per thread");
    bounded("--sqpoll-idle-ms", c.sqpoll_idle_ms, 1u, 60000u,
            "With --sqpoll: idle time before the kernel thread sleeps");
    bounded("--send-timeout", c.send_timeout, 1u, 86400u, "Seconds a response may go without the peer taking a byte");
    bounded("--keepalive-timeout", c.keepalive_timeout, 1u, 86400u, "Seconds an idle connection is kept open");
    bounded("--header-timeout", c.header_timeout, 1u, 86400u, "Seconds a client has to send a request's head");
    bounded("--shutdown-timeout", c.shutdown_timeout, 0u, 86400u,
            "Seconds responses in flight may take after SIGTERM/SIGINT (a second signal: exit at once)");
    app.add_option("--user", c.user,
                   "As root: bind, then switch to this user (and its groups) before serving (default: nobody)");
    app.add_flag("--allow-root", c.allow_root, "As root without --user: serve as root, not as nobody");
    bool no_sandbox = false;
    bool no_seccomp = false;
    app.add_flag("--no-sandbox", no_sandbox, "No Landlock, seccomp filter or io_uring restrictions (debugging)");
    app.add_flag("--no-seccomp", no_seccomp, "Keep Landlock and io_uring restrictions, drop the seccomp filter");
    std::vector<std::string> add_headers;
    std::vector<std::string> expires;
    app.add_option("--add-header", add_headers, "'Name: value' added to every response (repeatable)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--expires", expires,
                   "Cache-Control/Expires for files: '.css=7d', '/assets/=1h', '.html=off' (repeatable; first "
                   "match wins)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    std::string fallback;
    std::vector<std::string> error_pages;
    app.add_option("--fallback", fallback,
                   "A file that answers a missing path with 200 unless its last segment has an extension (single-page "
                   "apps: /index.html)");
    app.add_option("--fallback-prefix", c.fallback_prefixes,
                   "--fallback only for missing paths under this prefix, like '/app/' (repeatable)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->check([](const std::string& v) { return v.starts_with('/') ? "" : "a path prefix starting with '/'"; });
    app.add_option("--error-page", error_pages, "STATUS=/path: a page sent with that status (repeatable)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--mime-types", c.mime_types, "A mime.types file whose types win over the built-in ones");
    app.add_option("--dotfiles", dotfiles, "Serve files whose path has a segment starting with '.'")
        ->check(CLI::IsMember({"allow", "deny"}))
        ->capture_default_str();
    app.add_flag("--autoindex", c.autoindex,
                 "List a directory without index.html (HTML; dotfiles only with --dotfiles allow; symlinks never)");
    bounded("--listing-memory", c.listing_memory, std::size_t(4) << 20, std::size_t(1) << 36,
            "With --autoindex: bytes of listing pages a thread holds at once, cached or being sent (past it: 503 "
            "with Retry-After); a page is at most 4 MiB");
    app.add_option("--precompressed", precompressed, "Serve x.br / x.gz for x when the client accepts them")
        ->check(CLI::IsMember({"on", "off"}))
        ->capture_default_str();
    bounded("--max-uri-bytes", c.limits.max_uri, std::size_t(16), std::size_t(1) << 20,
            "Longest request target (longer: 414)");
    bounded("--max-header-bytes", c.limits.max_header_bytes, std::size_t(256), std::size_t(1) << 24,
            "Largest header section (larger: 431)");
    bounded("--max-input", c.max_input, std::size_t(1024), std::size_t(1) << 26,
            "Unparsed input buffered per connection while a response is in flight; past it, reading pauses");
    bounded("--max-headers", c.limits.max_headers, 1u, 10000u, "Most header fields (more: 431)");
    std::vector<std::string> tls_certs;
    std::vector<std::string> tls_keys;
    app.add_option("--tls-port", c.tls_port, "HTTPS port on the --listen address (0: any free port)")
        ->check(CLI::Range(0, 65535));
    app.add_option("--tls-cert", tls_certs,
                   "PEM certificate chain for --tls-port (repeatable: each with the --tls-key in the same place; "
                   "chosen by server name, the first for other names)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--tls-key", tls_keys, "PEM private key of the --tls-cert in the same place (repeatable)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_flag("--https-redirect", c.https_redirect,
                 "Answer plain HTTP with 308 to https:// on --tls-port (except /.well-known/acme-challenge/)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return {std::nullopt, 0};
    } catch (const CLI::CallForVersion& e) {
        std::cout << e.what() << '\n';
        return {std::nullopt, 0};
    } catch (const CLI::ParseError& e) {
        std::string msg = e.what();
        msg = msg.substr(0, msg.find('\n'));
        std::cerr << "splicehttpd: " << msg << " (see --help)\n";
        return {std::nullopt, 2};
    }
    if (listen->count() > 1) {
        std::cerr << "splicehttpd: --listen given twice; one address per server (several listeners: issue 19)\n";
        return {std::nullopt, 2};
    }
    if (auto e = check_tls_flags(c, tls_certs, tls_keys); !e.empty()) {
        std::cerr << "splicehttpd: " << e << '\n';
        return {std::nullopt, 2};
    }
    if (c.pipes > c.pipes_max) {
        std::cerr << "splicehttpd: --pipes " << c.pipes << " exceeds --pipes-max " << c.pipes_max << '\n';
        return {std::nullopt, 2};
    }
    if (c.log_level == "debug") c.debug = true;
    if (c.debug) c.log_level = "debug";
    std::string error;
    for (const std::string& spec : add_headers) {
        auto line = http::parse_add_header(spec, error);
        if (!line) {
            std::cerr << "splicehttpd: " << error << '\n';
            return {std::nullopt, 2};
        }
        c.extra_headers += *line;
    }
    for (const std::string& spec : expires) {
        auto rule = http::parse_expires(spec, error);
        if (!rule) {
            std::cerr << "splicehttpd: " << error << '\n';
            return {std::nullopt, 2};
        }
        c.expires_rules.push_back(std::move(*rule));
    }
    // Both name a file beneath the root, as a request would.
    auto file_path = [](const std::string& flag, const std::string& value) -> std::optional<std::string> {
        auto path = value.starts_with('/') ? http::normalize_path(value) : std::nullopt;
        if (!path || path->directory || path->rel.empty()) {
            std::cerr << "splicehttpd: " << flag << " " << value
                      << ": a file's path below the root, like /index.html\n";
            return std::nullopt;
        }
        return path->rel;
    };
    if (fallback.empty() && !c.fallback_prefixes.empty()) {
        std::cerr << "splicehttpd: --fallback-prefix needs --fallback\n";
        return {std::nullopt, 2};
    }
    if (!fallback.empty()) {
        auto rel = file_path("--fallback", fallback);
        if (!rel) return {std::nullopt, 2};
        c.fallback = *rel;
    }
    for (const std::string& spec : error_pages) {
        const auto eq = spec.find('=');
        int status = 0;
        const char* first = spec.data();
        const char* last = spec.data() + (eq == std::string::npos ? 0 : eq);
        const auto [end, ec] = std::from_chars(first, last, status);
        if (eq == std::string::npos || ec != std::errc() || end != last || status < 400 || status > 599) {
            std::cerr << "splicehttpd: --error-page " << spec
                      << ": expected STATUS=/path with a status from 400 to 599\n";
            return {std::nullopt, 2};
        }
        auto rel = file_path("--error-page", spec.substr(eq + 1));
        if (!rel) return {std::nullopt, 2};
        c.error_pages.emplace_back(status, *rel);
    }
    if (c.threads == 0) c.threads = std::max(1u, std::thread::hardware_concurrency());
    c.max_conns = max_conns == "auto" ? 0u : unsigned(std::stoul(max_conns));
    c.sandbox = !no_sandbox;
    c.seccomp = !no_seccomp && !no_sandbox;
    c.dotfiles = on_off(dotfiles);
    c.precompressed = on_off(precompressed);
    c.cache = on_off(cache);
    return {c, 0};
}

} // namespace splicehttpd
