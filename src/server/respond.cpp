#include "server/respond.hpp"

#include "metrics/prometheus.hpp"

#include "http/access_log.hpp"
#include "http/file_response.hpp"
#include "http/route.hpp"
#include "server/listen_address.hpp"

#include <arpa/inet.h>

#include <ctime>

namespace splicehttpd::server {

namespace {

void start_context(http::ResponseContext& ctx, const PlanOptions& options, std::string_view date)
{
    ctx.date = date;
    ctx.now = std::time(nullptr);
    ctx.extra_headers = options.extra_headers;
    ctx.max_age = -1;
}

} // namespace

void plan_file_response(Exchange& x, const FoundFile& file, const PlanOptions& options, std::string_view date)
{
    start_context(x.ctx, options, date);
    if (!options.expires_rules.empty()) {
        std::string path = "/";
        path += file.path;
        if (const http::ExpiresRule* rule = http::match_expires(options.expires_rules, path))
            x.ctx.max_age = rule->seconds;
    }
    if (file.as_status != 0)
        http::plan_file_as(x.send.plan(), file.as_status, file.meta, x.ctx);
    else
        http::plan_file(x.send.plan(), x.input.request(), file.meta, x.ctx, options.boundary);
}

void plan_listing_response(Exchange& x, const http::Listing& page, const PlanOptions& options, std::string_view date)
{
    start_context(x.ctx, options, date);
    http::plan_listing(x.send.plan(), x.input.request(), page, x.ctx);
}

void plan_metrics_response(Exchange& x, std::string_view text, const PlanOptions& options, std::string_view date)
{
    start_context(x.ctx, options, date);
    http::ResponsePlan& plan = x.send.plan();
    http::HeadWriter(plan, 200, x.ctx)
        .add("Content-Type", metrics::kContentType)
        .add("Content-Length", std::uint64_t(text.size()))
        .add("Cache-Control", "no-store")
        .end();
    if (!x.ctx.head_request) plan.append_memory(text);
}

void plan_status_response(Exchange& x, int status, const http::ErrorExtras& extras, const PlanOptions& options,
                          std::string_view date)
{
    start_context(x.ctx, options, date);
    http::plan_status(x.send.plan(), status, x.ctx, extras);
}

void plan_busy_response(Exchange& x, const PlanOptions& options, std::string_view date)
{
    http::ErrorExtras extras;
    extras.retry_after = 1;
    plan_status_response(x, http::kStatusNoPipe, extras, options, date);
}

void plan_redirect_response(Exchange& x, int status, const PlanOptions& options, std::string_view date)
{
    const std::string location = x.route.slash_location();
    http::ErrorExtras extras;
    extras.location = location;
    plan_status_response(x, status, extras, options, date);
}

void plan_unparsed_response(Exchange& x, int status, const PlanOptions& options, std::string_view date,
                            const http::ErrorExtras& extras)
{
    x.ctx = http::ResponseContext{};
    x.ctx.keep_alive = false;
    x.request_parsed = false;
    plan_status_response(x, status, extras, options, date);
}

void append_access_line(std::string& out, const Exchange& x, const sockaddr_in6& peer, std::string_view time)
{
    // As the error log writes it: "unix:" for a unix peer, an IPv4 client
    // of a dual-stack socket as a.b.c.d.
    const socklen_t len = peer.sin6_family == AF_INET ? socklen_t(sizeof(sockaddr_in)) : socklen_t(sizeof peer);
    const std::string client = client_text(reinterpret_cast<const sockaddr*>(&peer), len);
    http::AccessRecord r;
    r.client = client;
    r.time = time;
    if (x.request_parsed) {
        const http::Request& req = x.input.request();
        r.method = req.method_name;
        r.target = req.target;
        r.http_major = req.http_major;
        r.http_minor = req.http_minor;
        if (req.referer) r.referer = *req.referer;
        if (req.user_agent) r.user_agent = *req.user_agent;
    }
    const http::ResponsePlan& plan = x.send.plan();
    r.status = plan.status;
    const std::uint64_t head = plan.head().size();
    r.body_bytes = x.send.delivered() > head ? x.send.delivered() - head : 0;
    http::append_access_line(out, r);
}

} // namespace splicehttpd::server
