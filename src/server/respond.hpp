// What a response's plan gets besides what http/ decides about it: the Date
// of this second, --add-header, --expires; and the access log line of a
// response. Pure (no SQEs): the connection calls these, then hands the plan
// to the exchange's Sender.
#pragma once

#include "http/autoindex.hpp"
#include "http/response.hpp"
#include "http/site_headers.hpp"
#include "server/exchange.hpp"
#include "server/lookup.hpp"

#include <netinet/in.h>

#include <span>
#include <string>
#include <string_view>

namespace splicehttpd::server {

// Built once by the worker from the configuration.
struct PlanOptions {
    std::string_view extra_headers; // --add-header lines, "Name: value\r\n" each
    std::span<const http::ExpiresRule> expires_rules;
    std::string_view boundary; // multipart/byteranges
};

// Each builds x.send.plan() for the request x answers. date is the Date text
// of this second: read when the plan is built, never held across a wait.
void plan_file_response(Exchange& x, const FoundFile& file, const PlanOptions& options, std::string_view date);
void plan_listing_response(Exchange& x, const http::Listing& page, const PlanOptions& options, std::string_view date);
// /metrics: the Prometheus text, not cached by anyone.
void plan_metrics_response(Exchange& x, std::string_view text, const PlanOptions& options, std::string_view date);
void plan_status_response(Exchange& x, int status, const http::ErrorExtras& extras, const PlanOptions& options,
                          std::string_view date);
// No pipe, or no room for a listing: 503 with Retry-After: 1.
void plan_busy_response(Exchange& x, const PlanOptions& options, std::string_view date);
// A directory named without its slash: status with the route's location.
void plan_redirect_response(Exchange& x, int status, const PlanOptions& options, std::string_view date);
// For a request that was never (fully) parsed: no context of its own, and
// the connection closes after it.
void plan_unparsed_response(Exchange& x, int status, const PlanOptions& options, std::string_view date,
                            const http::ErrorExtras& extras = {});

// The access log line of x's response (the peer's address, the request if
// it parsed, the status and the body bytes the peer took), appended to out.
void append_access_line(std::string& out, const Exchange& x, const sockaddr_in6& peer, std::string_view time);

} // namespace splicehttpd::server
