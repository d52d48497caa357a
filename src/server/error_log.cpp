#include "server/error_log.hpp"

#include "http/access_log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace splicehttpd::server {

namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;

// A path or request field, as the access log escapes it.
std::string escaped(std::string_view s)
{
    std::string out;
    http::append_log_escaped(out, s);
    return out;
}

} // namespace

ErrorKind open_failed_kind(int err, bool root_given) noexcept
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG: return {LogLevel::Info, "not-found"};
    case EACCES:
    case EPERM: return {LogLevel::Error, "denied"};
    // RESOLVE_BENEATH says EXDEV when the path would leave the root: an
    // error number that reads as nonsense there ("Invalid cross-device link").
    case EXDEV: return root_given ? kOutsideRoot : ErrorKind{LogLevel::Error, "outside-root"};
    case EMFILE:
    case ENFILE:
    case ENOMEM: return {LogLevel::Error, "resources"};
    default: return {LogLevel::Error, "open-failed"};
    }
}

ErrorEntry open_failed(std::string_view path, int err, std::string_view root)
{
    if (err == EXDEV && !root.empty()) return outside_root(path, root);
    const ErrorKind kind = open_failed_kind(err, false);
    return {kind.level, kind.reason,
            fmt::format("open() \"{}\" failed ({}: {})", escaped(path), err, std::strerror(err))};
}

ErrorEntry not_regular(std::string_view path)
{
    return {kNotRegular.level, kNotRegular.reason, fmt::format("\"{}\" is not a regular file", escaped(path))};
}

ErrorEntry outside_root(std::string_view path, std::string_view root)
{
    return {kOutsideRoot.level, kOutsideRoot.reason,
            fmt::format("\"{}\" leads outside the root {} (a symlink)", escaped(path), escaped(root))};
}

ErrorEntry directory_forbidden(std::string_view path)
{
    return {kDirectoryForbidden.level, kDirectoryForbidden.reason,
            fmt::format("directory index of \"{}\" is forbidden", escaped(path))};
}

std::string root_path(std::string_view root, std::string_view rel)
{
    while (root.size() > 1 && root.back() == '/') root.remove_suffix(1);
    if (rel == ".") rel = {};
    std::string out(root);
    if (out != "/" || rel.empty()) out.push_back('/');
    if (out == "//") out.pop_back();
    out.append(rel);
    return out;
}

ErrorEntry bad_request(std::string_view what)
{
    return {kBadRequest.level, kBadRequest.reason, fmt::format("client sent a bad request: {}", escaped(what))};
}

ErrorEntry opendir_failed(std::string_view path, int err)
{
    return {kOpendirFailed.level, kOpendirFailed.reason,
            fmt::format("opendir() \"{}\" failed ({}: {})", escaped(path), err, std::strerror(err))};
}

ErrorEntry client_timed_out()
{
    return {kTimedOut.level, kTimedOut.reason,
            fmt::format("client timed out ({}: {}) while reading client request headers", ETIMEDOUT,
                        std::strerror(ETIMEDOUT))};
}

ErrorEntry plain_http_request()
{
    return {kPlainHttp.level, kPlainHttp.reason, "client sent plain HTTP request to HTTPS port"};
}

std::string error_line(const ErrorEntry& entry, const ErrorContext& context)
{
    std::string out = entry.message;
    if (!context.client.empty()) out += ", client: " + escaped(context.client);
    if (!context.server.empty()) out += ", server: " + escaped(context.server);
    if (!context.request.empty()) out += ", request: \"" + escaped(context.request) + '"';
    if (!context.host.empty()) out += ", host: \"" + escaped(context.host) + '"';
    return out;
}

LogLimiter::LogLimiter(unsigned per_second, unsigned burst, std::size_t max_keys)
    : interval_ns_(kSecond / std::max(1u, per_second)),
      burst_ns_(interval_ns_ * std::max(1u, burst)),
      max_keys_(std::max<std::size_t>(1, max_keys))
{
    overflow_.key = "other";
}

LogLimiter::Bucket& LogLimiter::bucket(std::string_view key, std::uint64_t now_ns)
{
    for (Bucket& b : buckets_)
        if (b.key == key) return b;
    if (buckets_.size() >= max_keys_) {
        if (!overflow_used_) {
            overflow_used_ = true;
            overflow_.credit_ns = burst_ns_;
            overflow_.last_ns = now_ns;
        }
        return overflow_;
    }
    // A new key starts with a full bucket: its first burst is logged.
    buckets_.push_back({std::string(key), burst_ns_, now_ns, 0});
    return buckets_.back();
}

LogLimiter::Verdict LogLimiter::admit(std::string_view key, std::uint64_t now_ns)
{
    Bucket& b = bucket(key, now_ns);
    if (now_ns > b.last_ns) {
        // Saturating: a long quiet spell banks at most a burst.
        const std::uint64_t idle = now_ns - b.last_ns;
        b.credit_ns = idle >= burst_ns_ ? burst_ns_ : std::min(burst_ns_, b.credit_ns + idle);
        b.last_ns = now_ns;
    }
    if (b.credit_ns < interval_ns_) {
        ++b.suppressed;
        return {false, 0};
    }
    b.credit_ns -= interval_ns_;
    const std::uint64_t suppressed = b.suppressed;
    b.suppressed = 0;
    return {true, suppressed};
}

std::vector<LogLimiter::Suppressed> LogLimiter::take_suppressed()
{
    std::vector<Suppressed> out;
    const auto take = [&out](Bucket& b) {
        if (b.suppressed == 0) return;
        out.push_back({b.key, b.suppressed});
        b.suppressed = 0;
    };
    for (Bucket& b : buckets_) take(b);
    take(overflow_);
    return out;
}

std::string suppressed_line(std::string_view key, std::uint64_t count)
{
    return fmt::format("{} \"{}\" {} suppressed (error log rate limit)", count, key, count == 1 ? "line" : "lines");
}

} // namespace splicehttpd::server
