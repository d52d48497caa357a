// Everything a connection needs only while it reads, looks up and answers a
// request. Idle keep-alive connections hold none: an exchange is lent by the
// worker (from its spares) at the first byte of a request and given back
// when the connection is idle again (or closes), so 10,000 idle clients cost
// only their Connection cores, and a busy server allocates nothing per
// request. Its addresses are stable while SQEs point into it (paths, statx
// buffers, the plan's memory): it is given back only with nothing of its
// lookup or sender in flight.
#pragma once

#include "http/parser.hpp"
#include "http/response.hpp"
#include "http/route.hpp"
#include "server/lookup.hpp"
#include "server/request_buffer.hpp"
#include "server/sender.hpp"

#include <cstdint>
#include <string>

namespace splicehttpd::server {

struct Exchange {
    explicit Exchange(const http::ParseLimits& limits) : input(limits) {}

    // input: the parser, and the bytes of requests not yet answered
    RequestBuffer input;

    // the request being answered
    http::ResponseContext ctx;
    http::Route route;           // what the request asks for
    bool request_parsed = false; // the response answers a parsed request (else: "-" in the log)

    // lookup: paths, statx buffers, descriptors, the verdict, the listing waited for
    Lookup lookup;

    // transfer: the plan, the body's source, the chain, the cursor
    Sender send;

    [[nodiscard]] unsigned in_flight() const noexcept { return lookup.in_flight() + send.in_flight(); }
    [[nodiscard]] unsigned open_files() const noexcept { return lookup.open_files() + send.open_files(); }

    // Ready for the next connection's request: buffers kept, the plan's up to
    // keep_bytes (an in-memory body and its head).
    void reset(std::size_t keep_bytes) noexcept
    {
        // An input buffer above this is given back, so the spares do not sit
        // on a pipelined burst.
        constexpr std::size_t kKeepInput = 16 * 1024;
        input.reset(kKeepInput);
        request_parsed = false;
        lookup.reset();
        send.reset(keep_bytes);
    }
};

} // namespace splicehttpd::server
