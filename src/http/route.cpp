#include "http/route.hpp"

#include "http/content_coding.hpp"
#include "http/path.hpp"

namespace splicehttpd::http {

namespace {

Route respond(Route r, int status)
{
    r.kind = Route::Kind::Respond;
    r.status = status;
    return r;
}

} // namespace

std::string Route::slash_location() const
{
    std::string location = target_path + "/";
    if (has_query) location.append("?").append(query);
    return location;
}

Route route(const Request& req, const SitePolicy& site)
{
    const Method method = method_of(req);
    Route r;
    r.context.head_request = method == Method::Head;
    r.context.http10 = req.http_minor == 0;
    r.context.keep_alive = req.keep_alive && method != Method::Connect && !site.stopping;

    // RFC 9112 §3.2: a 1.1 request needs exactly one Host; none at all may
    // come with 1.0, but never two.
    if (req.host_count > 1 || (req.http_minor >= 1 && req.host_count == 0)) return respond(std::move(r), 400);

    switch (classify_method(method)) {
    case MethodClass::NotImplemented: return respond(std::move(r), 501);
    case MethodClass::NotAllowed: r.extras.allow = "GET, HEAD"; return respond(std::move(r), 405);
    case MethodClass::Options:
        r.extras.allow = "GET, HEAD";
        return respond(std::move(r), req.target == "*" ? 204 : 405);
    case MethodClass::Get:
    case MethodClass::Head: break;
    }

    auto target = split_target(req.target);
    if (!target || target->form == TargetForm::Asterisk) return respond(std::move(r), 400);
    auto path = normalize_path(target->path);
    if (!path) return respond(std::move(r), 400);
    if (path->dotfile && !site.dotfiles) return respond(std::move(r), 404);

    r.kind = Route::Kind::Lookup;
    r.rel_path = std::move(path->rel);
    r.directory = path->directory;
    r.target_path.assign(target->path);
    r.query.assign(target->query);
    r.has_query = target->has_query;
    if (site.precompressed && req.accept_encoding) {
        const AcceptedCodings codings = parse_accept_encoding(*req.accept_encoding);
        r.accepts_br = codings.br;
        r.accepts_gzip = codings.gzip;
    }
    return r;
}

} // namespace splicehttpd::http
