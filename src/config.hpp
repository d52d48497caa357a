// The command line and --config FILE -> Config. Everything the server can
// be told. Both go through one table of CLI11 options (options.hpp); flags
// on the command line win over the file's top level.
#pragma once

#include "http/limits.hpp"
#include "server/listen_address.hpp"
#include "site_settings.hpp"
#include "sites.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splicehttpd {

// The top level's SiteSettings (root, add-header, ...) are the default
// site's, and what every [[site]] starts from.
struct Config : SiteSettings {
    std::vector<std::string> listen = {"127.0.0.1"}; // --listen, as given
    std::vector<server::ListenAddress> listeners;    // ... parsed and checked (plan_listeners)
    std::uint16_t port = 8080;                       // for a --listen address without one
    bool ipv6_dual_stack = false;                    // --ipv6-dual-stack: [::] takes IPv4 clients too
    unsigned threads = 0;                            // 0: one per online CPU
    bool debug = false;
    std::string log_level = "info";             // error, warn, info, debug (debug: as --debug)
    std::string access_log;                     // "": off; "-": stdout
    std::string access_log_format = "combined"; // or "vhost": the site first

    unsigned max_conns = 0;        // per thread; 0 ("auto"): main() derives it from RLIMIT_NOFILE
    unsigned max_conns_per_ip = 0; // connections at once per client address, all threads (0: no limit)
    unsigned pipes = 4;            // per thread, created at start-up
    unsigned pipes_max = 64;       // per thread, growth bound
    std::uint32_t pipe_size = 1u << 20;
    unsigned chain_pairs = 4;                // (file->pipe, pipe->socket) pairs per submit
    unsigned pipe_queue = 256;               // per thread: requests waiting for a pipe (more: 503)
    std::uint64_t inline_max = 64 * 1024;    // bodies up to this go out from memory, no pipe
    std::size_t max_input = 64 * 1024;       // unparsed input buffered per connection (pipelining)
    bool cache = true;                       // the open-file cache (--cache on|off)
    unsigned cache_ttl_ms = 1000;            // how old a cache entry may be when used
    unsigned cache_entries = 1024;           // per thread: descriptors it keeps open
    std::uint64_t cache_bytes = 64ull << 20; // per thread: small files' bytes it keeps
    unsigned io_workers = 8;                 // per ring, io-wq bounded and unbounded worker caps
    bool sqpoll = false;                     // --sqpoll: a kernel thread per ring submits
    unsigned sqpoll_idle_ms = 1000;          // ... and sleeps after this long without work
    unsigned send_timeout = 60;              // seconds the socket may take no byte of a response
    unsigned keepalive_timeout = 75;         // seconds an idle connection stays open
    std::string metrics_listen;              // --metrics-listen: ADDR[:PORT] of /metrics; "" off
    unsigned tls_handshake_timeout = 10;     // seconds from a TLS accept to the end of its handshake
    unsigned header_timeout = 60;            // seconds a client has to send a whole request head
    unsigned shutdown_timeout = 10;          // seconds in-flight responses may take after SIGTERM/SIGINT

    // Confinement after start-up (sys/sandbox.hpp).
    std::string user;        // --user: drop root for this user once bound ("" as root: nobody)
    bool allow_root = false; // --allow-root: as root without --user, stay root
    bool sandbox = true;     // --no-sandbox: no Landlock, seccomp or ring restrictions
    bool seccomp = true;     // --no-seccomp: the rest of the sandbox without the syscall filter

    std::string mime_types;                 // --mime-types: the server's own types ("" none)
    std::size_t listing_memory = 32u << 20; // --listing-memory: listing pages alive per thread

    // HTTPS (issue 18): its own port on the --listen address, certificate/key
    // pairs in the order given (the first answers clients whose server name
    // no certificate has), and 308s from the plain port to it.
    int tls_port = -1;                                          // -1: no HTTPS; 0: any free port
    std::vector<std::pair<std::string, std::string>> tls_pairs; // (--tls-cert, --tls-key)
    bool https_redirect = false;
    bool ktls = true; // --ktls auto: the kernel encrypts where it offers kTLS; off: always user space

    http::ParseLimits limits;

    // Virtual hosts ([[site]] in the file), each merged over the top level.
    std::vector<SiteConfig> sites;
    UnknownHost unknown_host = UnknownHost::Default;
    std::shared_ptr<const Sites> site_table; // built from the above: checked, ready for match()

    std::string config_file; // --config ("": none)
    bool check_only = false; // --check-config
    bool take_over = false;  // --take-over: join a running server's listeners, to replace it
    // Where a setting came from, for messages: "FILE:LINE:COLUMN" of its
    // value when the file gave it; absent when the command line (or the
    // default) did.
    std::map<std::string, std::string, std::less<>> origins;
    // Every top-level setting (OptionScope::Global) as read, before its
    // default is resolved ("auto", the CPU count), as text: what a reload
    // compares with the started configuration.
    std::map<std::string, std::string, std::less<>> settings;

    // How messages name a setting: "--root", or "FILE:3:8: root".
    [[nodiscard]] std::string where(std::string_view key) const;
};

struct CliOutcome {
    std::optional<Config> config; // empty: exit with exit_code
    int exit_code = 0;
};

// Reads the command line and, with --config FILE, the file (the command
// line's flags win over the file's top level). Prints --help/--version to
// stdout, and anything wrong as one line on stderr: a bad flag or setting
// exits 2, or 1 under --check-config (as nginx -t). The line names the
// flag, or FILE:LINE:COLUMN and the key.
CliOutcome parse_command_line(int argc, char** argv);

// The same without printing, for a reload: `args` without the program's
// name. On failure `message` is the line (without "splicehttpd: "); for
// --help and --version it is what they print.
CliOutcome load_config(const std::vector<std::string>& args, std::string& message);

} // namespace splicehttpd
