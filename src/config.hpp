// Command-line flags -> Config (CLI11). Everything the server can be told.
#pragma once

#include "http/limits.hpp"
#include "http/site_headers.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace splicehttpd {

struct Config {
    std::string root = "./htdocs";
    std::string listen = "127.0.0.1";
    std::uint16_t port = 8080;
    unsigned threads = 0; // 0: one per online CPU
    bool debug = false;
    std::string log_level = "info"; // error, warn, info, debug (debug: as --debug)
    std::string access_log;         // "": off; "-": stdout

    unsigned max_conns = 0;  // per thread; 0 ("auto"): main() derives it from RLIMIT_NOFILE
    unsigned pipes = 4;      // per thread, created at start-up
    unsigned pipes_max = 64; // per thread, growth bound
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
    unsigned header_timeout = 60;            // seconds a client has to send a whole request head
    unsigned shutdown_timeout = 10;          // seconds in-flight responses may take after SIGTERM/SIGINT

    // Confinement after start-up (sys/sandbox.hpp).
    std::string user;        // --user: drop root for this user once bound ("" as root: nobody)
    bool allow_root = false; // --allow-root: as root without --user, stay root
    bool sandbox = true;     // --no-sandbox: no Landlock, seccomp or ring restrictions
    bool seccomp = true;     // --no-seccomp: the rest of the sandbox without the syscall filter

    std::string extra_headers;                            // --add-header, formatted: "Name: value\r\n" each
    std::vector<http::ExpiresRule> expires_rules;         // --expires, in order
    std::string fallback;                                 // --fallback, relative to the root ("" off)
    std::vector<std::string> fallback_prefixes;           // --fallback-prefix: where it applies (none: anywhere)
    std::vector<std::pair<int, std::string>> error_pages; // --error-page STATUS=/path, relative
    std::string mime_types;                               // --mime-types: a site's own types ("" none)
    bool dotfiles = false;                                // --dotfiles allow
    bool precompressed = true;                            // serve x.br / x.gz siblings
    bool autoindex = false;                               // list directories without index.html
    std::size_t listing_memory = 32u << 20;               // --listing-memory: listing pages alive per thread

    // HTTPS (issue 18): its own port on the --listen address, certificate/key
    // pairs in the order given (the first answers clients whose server name
    // no certificate has), and 308s from the plain port to it.
    int tls_port = -1;                                          // -1: no HTTPS; 0: any free port
    std::vector<std::pair<std::string, std::string>> tls_pairs; // (--tls-cert, --tls-key)
    bool https_redirect = false;

    http::ParseLimits limits;
};

struct CliOutcome {
    std::optional<Config> config; // empty: exit with exit_code
    int exit_code = 0;
};

// Prints --help/--version to stdout, and a bad flag as one line on stderr
// (exit code 2).
CliOutcome parse_command_line(int argc, char** argv);

} // namespace splicehttpd
