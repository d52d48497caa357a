#include "http/response.hpp"

#include "fixtures.hpp"

#include <doctest/doctest.h>

#include <cerrno>

using namespace splicehttpd::http;

namespace {

using splicehttpd::test::kCtx;

std::string body_of(const ResponsePlan& p)
{
    return std::string(std::string_view(p.memory).substr(p.head().size()));
}

} // namespace

TEST_CASE("errno -> status")
{
    struct Row {
        int line;
        int err;
        int status;
    };
    const Row rows[] = {
        {__LINE__, ENOENT, 404}, {__LINE__, ENOTDIR, 404}, {__LINE__, ENAMETOOLONG, 404}, {__LINE__, EACCES, 403},
        {__LINE__, EPERM, 403},  {__LINE__, EXDEV, 403},   {__LINE__, ELOOP, 403},        {__LINE__, ENXIO, 403},
        {__LINE__, ENODEV, 403}, {__LINE__, EMFILE, 503},  {__LINE__, ENFILE, 503},       {__LINE__, ENOMEM, 503},
        {__LINE__, EAGAIN, 503}, {__LINE__, EIO, 500},     {__LINE__, EINVAL, 500},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        CHECK(status_for_errno(r.err) == r.status);
    }
}

TEST_CASE("status responses: head, HTML body, framing")
{
    ResponsePlan p = plan_status(404, kCtx);
    CHECK(p.status == 404);
    CHECK_FALSE(p.close);
    CHECK(p.head().starts_with(
        "HTTP/1.1 404 Not Found\r\nServer: splicehttpd\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
    CHECK(p.head().find("Content-Type: text/html; charset=utf-8\r\n") != std::string_view::npos);
    const std::string body = body_of(p);
    CHECK(body.find("404 Not Found") != std::string::npos);
    CHECK(p.head().find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string_view::npos);
    CHECK(p.total() == p.memory.size());
    CHECK_FALSE(p.uses_file());
    REQUIRE(p.segments.size() == 1);
    CHECK(p.segments[0] == Segment{Segment::Kind::Memory, 0, p.memory.size()});
}

TEST_CASE("HEAD, 204 and 304 carry no body; close and 1.0 keep-alive are announced")
{
    ResponseContext head = kCtx;
    head.head_request = true;
    ResponsePlan p = plan_status(404, head);
    CHECK(body_of(p).empty());
    CHECK(p.head().find("Content-Length: ") != std::string_view::npos);

    ResponsePlan no_content = plan_status(204, kCtx, ErrorExtras{"GET, HEAD", {}, 0, false, 0, {}});
    CHECK(body_of(no_content).empty());
    CHECK(no_content.head().find("Content-Length") == std::string_view::npos);
    CHECK(no_content.head().find("Allow: GET, HEAD\r\n") != std::string_view::npos);

    ResponseContext closing = kCtx;
    closing.keep_alive = false;
    ResponsePlan c = plan_status(400, closing);
    CHECK(c.close);
    CHECK(c.head().find("Connection: close\r\n") != std::string_view::npos);

    ResponseContext http10 = kCtx;
    http10.http10 = true;
    CHECK(plan_status(404, http10).head().find("Connection: keep-alive\r\n") != std::string_view::npos);
    CHECK(plan_status(404, kCtx).head().find("Connection:") == std::string_view::npos);
}

TEST_CASE("extras: Location, Allow, Content-Range")
{
    ErrorExtras loc;
    loc.location = "/dir/?q=1";
    CHECK(plan_status(301, kCtx, loc).head().find("Location: /dir/?q=1\r\n") != std::string_view::npos);
    ErrorExtras range;
    range.range_size = 1234;
    range.has_range_size = true;
    CHECK(plan_status(416, kCtx, range).head().find("Content-Range: bytes */1234\r\n") != std::string_view::npos);
}

TEST_CASE("extras: a detail sentence under the heading, counted in Content-Length")
{
    ErrorExtras plain;
    plain.detail = "The plain HTTP request was sent to HTTPS port";
    ResponseContext closing = kCtx;
    closing.keep_alive = false;
    const ResponsePlan p = plan_status(400, closing, plain);
    const std::string body = body_of(p);
    CHECK(body.find("<h1>400 Bad Request</h1>\n<p>The plain HTTP request was sent to HTTPS port</p>") !=
          std::string::npos);
    CHECK(body.ends_with("</body></html>\n"));
    CHECK(p.head().find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string_view::npos);
    CHECK(p.total() == p.memory.size());
    // Without one, the body is as before.
    CHECK(body_of(plan_status(400, closing)).find("<p>") == std::string::npos);
}
