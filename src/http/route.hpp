// What to do with a parsed request, before anything touches the filesystem:
// answer a status at once, or look up a path. Pure; the statuses chosen
// after a lookup are in file_lookup, those for a file in file_response,
// those for unparsable input in the parser.
#pragma once

#include "http/parser.hpp"
#include "http/path.hpp"
#include "http/response.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splicehttpd::http {

// The server's answers that no request chooses.
inline constexpr int kStatusHeaderTimeout = 408; // a request head not complete in time
inline constexpr int kStatusNoPipe = 503;        // the pipe queue is full (with Retry-After)

struct SitePolicy {
    bool dotfiles = false;     // serve paths with a segment starting with '.'
    bool precompressed = true; // look for x.br / x.gz
    bool stopping = false;     // the server is shutting down: close after this response
};

struct Route {
    enum class Kind : std::uint8_t { Respond, Lookup };
    Kind kind = Kind::Respond;
    ResponseContext context; // date left empty: set when the plan is built

    // Respond
    int status = 0;
    ErrorExtras extras;       // views into static text only
    std::string_view problem; // a 400: what was wrong, for the error log (static text)

    // Lookup
    std::string rel_path;   // normalised, relative to the root; "" is the root
    bool directory = false; // look up rel_path/index.html
    std::string query;      // raw, as sent after '?'
    bool has_query = false;
    bool accepts_br = false;
    bool accepts_gzip = false;

    // Where to send a client that named a directory without its slash: a
    // path-absolute reference built from rel_path (percent-encoded, so it
    // never starts with "//" and holds no '\', control or non-ASCII byte),
    // with the query kept.
    [[nodiscard]] std::string slash_location() const;
    // --https-redirect: the same path (and query) on https://, at `host`
    // (the request's Host, its port replaced by `port`, left out for 443).
    // nullopt when the Host is no name or address literal (the client gets
    // a 400, and no Location built from what it sent).
    [[nodiscard]] std::optional<std::string> https_location(std::string_view host, std::uint16_t port) const;
    // ACME HTTP-01 challenges (certbot's webroot) stay on plain HTTP.
    [[nodiscard]] bool acme_challenge() const noexcept { return rel_path.starts_with(".well-known/acme-challenge/"); }

    NormalizedPath path; // working space of route(): its buffers are reused
    std::string decoded;
};

// Whether --fallback answers a missing path (rel_path as in Route): only
// where an app's route can be, never for a missing asset. Its last segment
// has no extension (a '.' after its first byte: /assets/app.js and /logo.png
// stay 404, as connect-history-api-fallback's dot rule leaves them; a path
// ending in '/' names a directory, not a file, and has none), and it lies
// beneath one of prefixes, path prefixes of the request path as --expires
// matches them ("/app/"; none: the whole site), as nginx's try_files is
// scoped by its location.
bool fallback_applies(std::string_view rel_path, bool directory, std::span<const std::string> prefixes) noexcept;

Route route(const Request& req, const SitePolicy& site);
// The same into `out`, whose strings keep their buffers (a connection routes
// request after request without allocating).
void route(const Request& req, const SitePolicy& site, Route& out);

} // namespace splicehttpd::http
