#include "http/route.hpp"

#include "http/content_coding.hpp"
#include "http/path.hpp"

namespace splicehttpd::http {

namespace {

// RFC 3986 unreserved, sub-delims, ':' and '@' (pchar), plus the separator
// of the context ('/', and '?' in a query).
bool path_safe(unsigned char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           std::string_view("-._~!$&'()*+,;=:@/").find(char(c)) != std::string_view::npos;
}

void append_escaped(std::string& out, std::string_view s, bool query)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        // A query keeps its own escapes: '%' there is already one.
        if (path_safe(c) || (query && (c == '?' || c == '%'))) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
        }
    }
}

} // namespace

std::string Route::slash_location() const
{
    // Never the raw target: "//evil.example/..%2Fsub" would come back as a
    // protocol-relative URL, and browsers read "/\evil.example" the same
    // way (the WHATWG URL parser treats '\' as '/'). rel_path has no empty
    // segment and no leading '/', so "/" + rel_path starts with one '/'.
    std::string location = "/";
    append_escaped(location, rel_path, false);
    if (!rel_path.empty()) location.push_back('/');
    if (has_query) {
        location.push_back('?');
        append_escaped(location, query, true);
    }
    return location;
}

std::optional<std::string> Route::https_location(std::string_view host, std::uint16_t port) const
{
    // host = uri-host [ ":" port ]; uri-host: a reg-name of letters, digits,
    // '-' and '.', or an IPv6 literal in brackets (RFC 3986, no escapes).
    std::string_view name = host;
    if (name.starts_with('[')) {
        const std::size_t close = name.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        const std::string_view inside = name.substr(1, close - 1);
        if (inside.empty() || inside.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos)
            return std::nullopt;
        name = name.substr(0, close + 1);
        host.remove_prefix(close + 1);
    } else {
        const std::size_t colon = name.find(':');
        name = name.substr(0, colon);
        host.remove_prefix(name.size());
        if (name.empty() || name.size() > 253) return std::nullopt;
        for (const char c : name)
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
                return std::nullopt;
    }
    // What may follow the name: nothing, or ":" and digits.
    if (!host.empty() && (host.front() != ':' || host.find_first_not_of("0123456789", 1) != std::string_view::npos))
        return std::nullopt;
    std::string location = "https://";
    location.append(name);
    if (port != 443) location.append(":").append(std::to_string(port));
    location.push_back('/');
    append_escaped(location, rel_path, false);
    if (directory && !rel_path.empty()) location.push_back('/');
    if (has_query) {
        location.push_back('?');
        append_escaped(location, query, true);
    }
    return location;
}

bool fallback_applies(std::string_view rel_path, bool directory, std::span<const std::string> prefixes) noexcept
{
    if (!directory) {
        const std::size_t slash = rel_path.rfind('/');
        const std::string_view last = slash == std::string_view::npos ? rel_path : rel_path.substr(slash + 1);
        if (last.find('.', 1) != std::string_view::npos) return false;
    }
    if (prefixes.empty()) return true;
    // The request path is "/" + rel_path, and "/" more for a directory.
    for (std::string_view prefix : prefixes) {
        if (!prefix.starts_with('/')) continue;
        prefix.remove_prefix(1);
        if (rel_path.starts_with(prefix)) return true;
        if (directory && prefix.size() == rel_path.size() + 1 && prefix.starts_with(rel_path) && prefix.back() == '/')
            return true;
    }
    return false;
}

Route route(const Request& req, const SitePolicy& site)
{
    Route r;
    route(req, site, r);
    return r;
}

void route(const Request& req, const SitePolicy& site, Route& r)
{
    const Method method = method_of(req);
    r.kind = Route::Kind::Respond;
    r.context = ResponseContext{};
    r.context.head_request = method == Method::Head;
    r.context.http10 = req.http_minor == 0;
    r.context.keep_alive = req.keep_alive && method != Method::Connect && !site.stopping;
    r.status = 0;
    r.extras = ErrorExtras{};
    r.problem = {};
    r.rel_path.clear();
    r.directory = false;
    r.query.clear();
    r.has_query = false;
    r.accepts_br = false;
    r.accepts_gzip = false;
    auto respond = [&r](int status) { r.status = status; };
    auto refuse = [&r](std::string_view problem) {
        r.status = 400;
        r.problem = problem;
    };

    // RFC 9112 §3.2: a 1.1 request needs exactly one Host; none at all may
    // come with 1.0, but never two.
    if (req.host_count > 1) return refuse("more than one Host header");
    if (req.http_minor >= 1 && req.host_count == 0) return refuse("no Host header in an HTTP/1.1 request");
    // The name a site is chosen by (an absolute-form target's authority, or
    // Host) is a host, or the request is bad.
    const std::optional<std::string_view> host = req.host;
    if (!valid_host_chars(request_authority(req.target, host.value_or(""))))
        return refuse("invalid host in the request");

    switch (classify_method(method)) {
    case MethodClass::NotImplemented: return respond(501);
    case MethodClass::NotAllowed: r.extras.allow = "GET, HEAD"; return respond(405);
    case MethodClass::Options: r.extras.allow = "GET, HEAD"; return respond(req.target == "*" ? 204 : 405);
    case MethodClass::Get:
    case MethodClass::Head: break;
    }

    auto target = split_target(req.target);
    if (!target) return refuse("invalid request target");
    if (target->form == TargetForm::Asterisk) return refuse("\"*\" as the target of a GET or HEAD");
    if (!normalize_path(target->path, r.path, r.decoded)) return refuse("invalid path in the request target");
    if (r.path.dotfile && !site.dotfiles) return respond(404);

    r.kind = Route::Kind::Lookup;
    r.rel_path.assign(r.path.rel);
    r.directory = r.path.directory;
    r.query.assign(target->query);
    r.has_query = target->has_query;
    if (site.precompressed && req.accept_encoding) {
        const AcceptedCodings codings = parse_accept_encoding(*req.accept_encoding);
        r.accepts_br = codings.br;
        r.accepts_gzip = codings.gzip;
    }
}

} // namespace splicehttpd::http
