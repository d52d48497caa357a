// The error log's lines for denied and failed requests, worded as nginx's
// (so that the usual tools and habits read them), and a rate limiter so
// that a flood of them cannot fill a disk. Pure: the connection will build
// an entry from its lookup's errno, the worker will ask the limiter and hand
// the line to spdlog at the entry's level (issue 19).
//
//   open() "/srv/www/secret" failed (13: Permission denied), client: 192.0.2.1, server: example.com, request: "GET /secret HTTP/1.1", host: "example.com"
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace splicehttpd::server {

enum class LogLevel { Error, Warn, Info, Debug };

// What a line will be, known before anything is formatted: its level and
// the rate limiter's key. The connection asks the worker with it whether the
// line would be written (its level on, the limiter letting it through), and
// only then builds the entry: a flood of 404s formats nothing it drops.
struct ErrorKind {
    LogLevel level = LogLevel::Error;
    std::string_view reason;
    friend bool operator==(const ErrorKind&, const ErrorKind&) = default;
};

// open_failed's kind for err (root_given: as open_failed with a root).
ErrorKind open_failed_kind(int err, bool root_given) noexcept;
inline constexpr ErrorKind kNotRegular{LogLevel::Error, "not-regular"};
inline constexpr ErrorKind kOutsideRoot{LogLevel::Error, "outside-root"};
inline constexpr ErrorKind kDirectoryForbidden{LogLevel::Error, "forbidden"};
inline constexpr ErrorKind kBadRequest{LogLevel::Info, "bad-request"};
inline constexpr ErrorKind kPlainHttp{LogLevel::Info, "plain-http"};
inline constexpr ErrorKind kTimedOut{LogLevel::Info, "timed-out"};
inline constexpr ErrorKind kOpendirFailed{LogLevel::Error, "opendir-failed"};

struct ErrorEntry {
    LogLevel level = LogLevel::Error;
    std::string_view reason; // a fixed word per kind of line, the rate limiter's key: "denied", "not-found", ...
    std::string message;     // without the request's context
};

// What a line says of its request; empty fields are left out. Escaped as
// the access log escapes (a client cannot forge a line or a field).
struct ErrorContext {
    std::string_view client;  // "192.0.2.1", "unix:"
    std::string_view server;  // the site's name
    std::string_view request; // the request line as received; "" when it never parsed
    std::string_view host;
};

// openat2 of `path` (the root and the request's path) failed with `err`:
// open() "/srv/www/x" failed (13: Permission denied). A missing file is
// info (a 404 is the client's business), a denied one an error; EXDEV
// (RESOLVE_BENEATH: a symlink leaves the root) is outside_root's line when
// the root is given.
ErrorEntry open_failed(std::string_view path, int err, std::string_view root = {});

// "/srv/www/list/fifo" is not a regular file (FIFOs, sockets, devices: 403).
ErrorEntry not_regular(std::string_view path);

// "/srv/www/link" leads outside the root /srv/www (a symlink): 403.
ErrorEntry outside_root(std::string_view path, std::string_view root);

// directory index of "/srv/www/dir/" is forbidden (no index.html, no
// --autoindex: 403), as nginx words it.
ErrorEntry directory_forbidden(std::string_view path);

// The path a line names: the root as given and the path below it ("." or
// "": the root itself), joined by one '/': /srv/www + a/b -> /srv/www/a/b.
std::string root_path(std::string_view root, std::string_view rel);

// client sent a bad request: <what> (400, 414, 431...): info, as nginx's.
ErrorEntry bad_request(std::string_view what);

// --autoindex: reading the directory failed with err (the lister thread's
// getdents64; nginx's opendir()): opendir() "/srv/www/dir" failed (13:
// Permission denied). An error, whatever err, as nginx's.
ErrorEntry opendir_failed(std::string_view path, int err);

// client timed out (110: Connection timed out) while reading client request
// headers (408): info, as nginx's.
ErrorEntry client_timed_out();

// client sent plain HTTP request to HTTPS port (answered with a plain 400):
// info, as nginx's.
ErrorEntry plain_http_request();

// entry.message, then ", client: ..., server: ..., request: \"...\", host: \"...\"".
std::string error_line(const ErrorEntry& entry, const ErrorContext& context);

// Per key (an entry's reason), a token bucket: `per_second` lines a second
// with bursts of `burst`. A line refused is counted; the next line let
// through for that key carries the count, for one line saying how many were
// left out, and take_suppressed() hands over the counts of keys that went
// quiet meanwhile (the worker's tick). At most `max_keys` keys are kept;
// past them every new key shares one bucket. Time comes from the caller
// (nanoseconds of a monotonic clock): no clock is read here.
class LogLimiter {
public:
    LogLimiter(unsigned per_second, unsigned burst, std::size_t max_keys = 32);

    struct Verdict {
        bool log = false;
        std::uint64_t suppressed = 0; // with log: lines of this key left out since the last one logged
    };
    Verdict admit(std::string_view key, std::uint64_t now_ns);

    struct Suppressed {
        std::string key;
        std::uint64_t count = 0;
    };
    // Keys with lines left out and none logged since; their counts reset.
    std::vector<Suppressed> take_suppressed();

    [[nodiscard]] std::size_t keys() const noexcept { return buckets_.size(); }

private:
    struct Bucket {
        std::string key;
        std::uint64_t credit_ns = 0; // time banked toward lines, at most burst lines' worth
        std::uint64_t last_ns = 0;
        std::uint64_t suppressed = 0;
    };
    Bucket& bucket(std::string_view key, std::uint64_t now_ns);

    std::uint64_t interval_ns_; // one line's worth of time
    std::uint64_t burst_ns_;
    std::size_t max_keys_;
    std::vector<Bucket> buckets_; // few keys: a vector searched in order
    Bucket overflow_;
    bool overflow_used_ = false;
};

// "123 \"denied\" lines suppressed (error log rate limit)".
std::string suppressed_line(std::string_view key, std::uint64_t count);

} // namespace splicehttpd::server
