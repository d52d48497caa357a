// What a connection writes to the logs: its access line, and the error
// log's line for a denied or failed request (built only when the worker's
// level and rate limiter let it through).
#include "server/connection.hpp"

#include "server/listen_address.hpp"

#include <fmt/format.h>

namespace splicehttpd::server {

void Connection::log_access() noexcept
{
    // Scrapes of /metrics are not counted in what they report.
    if (exchange_ && exchange_->send.plan().status != 0 && listener_ != Listener::Metrics) {
        const Sender& send = exchange_->send;
        const http::Method m = exchange_->input.request().method;
        const unsigned method = !exchange_->request_parsed ? 2
                                : m == http::Method::Get   ? 0
                                : m == http::Method::Head  ? 1
                                                           : 2;
        using Body = ConnectionServices::Body;
        const bool body_of_file = send.of_file() && !exchange_->ctx.head_request && send.plan().status / 100 == 2;
        const Body body = !body_of_file ? Body::None : send.uses_pipe() ? Body::Spliced : Body::Inline;
        services_.response_done(send.plan().status, method, send.delivered(), body);
    }
    if (!services_.access_log_on() || !exchange_ || exchange_->send.plan().status == 0) return;
    std::string& line = services_.log_line();
    if (options_.access_log_vhost) {
        // Apache's vhost_combined, without the port: the name as the site's
        // configuration gives it (never the client's Host).
        const std::string_view label = site().label;
        line.append(label.empty() ? "-" : label).push_back(' ');
    }
    append_access_line(line, *exchange_, socket_.peer(), services_.log_time());
    services_.line_logged();
}

// Nothing is formatted unless the worker admits the line (its level is on,
// the rate limiter lets it through): a flood of 404s costs a lookup in the
// limiter's few keys each.
void Connection::log_lookup_failure() noexcept
{
    const Lookup& lookup = exchange_->lookup;
    const Lookup::Failure& f = lookup.failure();
    ErrorKind kind;
    switch (f.kind) {
    case Lookup::Failure::Kind::None: return;
    case Lookup::Failure::Kind::Errno: kind = open_failed_kind(f.err, true); break;
    case Lookup::Failure::Kind::NotRegular: kind = kNotRegular; break;
    case Lookup::Failure::Kind::DirectoryIndex: kind = kDirectoryForbidden; break;
    case Lookup::Failure::Kind::ListDir: kind = kOpendirFailed; break;
    }
    const LogLimiter::Verdict verdict = services_.error_log_admits(kind);
    if (!verdict.log) return;
    std::string path = root_path(site().root, lookup.failed_path());
    switch (f.kind) {
    case Lookup::Failure::Kind::Errno: return log_error(open_failed(path, f.err, site().root), verdict, true);
    case Lookup::Failure::Kind::NotRegular: return log_error(not_regular(path), verdict, true);
    case Lookup::Failure::Kind::DirectoryIndex:
        if (!path.ends_with('/')) path.push_back('/');
        return log_error(directory_forbidden(path), verdict, true);
    case Lookup::Failure::Kind::ListDir:
        // As nginx names it: the root's own listing without its slash.
        if (path.size() > 1 && path.ends_with('/')) path.pop_back();
        return log_error(opendir_failed(path, f.err), verdict, true);
    case Lookup::Failure::Kind::None: return;
    }
}

void Connection::log_bad_request(std::string_view what, bool parsed) noexcept
{
    const LogLimiter::Verdict verdict = services_.error_log_admits(kBadRequest);
    if (verdict.log) log_error(bad_request(what), verdict, parsed);
}

// A request head not complete within --header-timeout (the 408): never
// parsed, so no request line to show.
void Connection::log_timed_out() noexcept
{
    const LogLimiter::Verdict verdict = services_.error_log_admits(kTimedOut);
    if (verdict.log) log_error(client_timed_out(), verdict, false);
}

void Connection::log_plain_http() noexcept
{
    const LogLimiter::Verdict verdict = services_.error_log_admits(kPlainHttp);
    if (verdict.log) log_error(plain_http_request(), verdict, false);
}

// With the request's context: the client, and the request line and Host of
// a request that parsed.
void Connection::log_error(const ErrorEntry& entry, const LogLimiter::Verdict& verdict, bool parsed) noexcept
{
    const sockaddr_in6& peer = socket_.peer();
    const socklen_t len = peer.sin6_family == AF_INET ? socklen_t(sizeof(sockaddr_in)) : socklen_t(sizeof peer);
    const std::string client = client_text(reinterpret_cast<const sockaddr*>(&peer), len);
    std::string request;
    std::string_view host;
    if (parsed && exchange_) {
        const http::Request& r = exchange_->input.request();
        request = fmt::format("{} {} HTTP/{}.{}", r.method_name, r.target, r.http_major, r.http_minor);
        if (r.host) host = *r.host;
    }
    // server: the site that answered, where Host chooses one (nginx names
    // its server block's name).
    const std::string_view server = site_ && site_generation_->hosts ? site_->label : std::string_view{};
    services_.error_log(entry, {client, server, request, host}, verdict);
}

} // namespace splicehttpd::server
