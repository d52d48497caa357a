#include "http/file_response.hpp"

#include "http/conditional.hpp"

#include "fixtures.hpp"

#include <doctest/doctest.h>

using namespace splicehttpd::http;

namespace {

using splicehttpd::test::kCtx;

FileMeta meta(std::uint64_t size)
{
    FileMeta m;
    m.size = size;
    m.mtime_sec = 1700000000;
    m.mtime_nsec = 5;
    m.content_type = "text/plain; charset=utf-8";
    return m;
}

std::string etag_of(const FileMeta& m)
{
    return make_etag(m.size, m.mtime_sec, m.mtime_nsec, m.content_encoding);
}

bool has(const ResponsePlan& p, const std::string& line)
{
    return p.head().find(line + "\r\n") != std::string_view::npos;
}

} // namespace

TEST_CASE("200: representation headers and one file segment")
{
    Request req;
    ResponsePlan p = plan_file(req, meta(1000), kCtx, "B");
    CHECK(p.status == 200);
    CHECK(has(p, "Content-Length: 1000"));
    CHECK(has(p, "Content-Type: text/plain; charset=utf-8"));
    CHECK(has(p, "Accept-Ranges: bytes"));
    CHECK(has(p, "Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT"));
    CHECK(has(p, "ETag: " + etag_of(meta(1000))));
    CHECK_FALSE(has(p, "Vary: Accept-Encoding"));
    REQUIRE(p.segments.size() == 2);
    CHECK(p.segments[1] == Segment{Segment::Kind::File, 0, 1000});
    CHECK(p.total() == p.head().size() + 1000);
}

TEST_CASE("empty file and HEAD: no file segment")
{
    Request req;
    ResponsePlan empty = plan_file(req, meta(0), kCtx, "B");
    CHECK(has(empty, "Content-Length: 0"));
    CHECK_FALSE(empty.uses_file());

    ResponseContext head = kCtx;
    head.head_request = true;
    req.range = "bytes=0-1"; // HEAD ignores Range
    ResponsePlan h = plan_file(req, meta(1000), head, "B");
    CHECK(h.status == 200);
    CHECK(has(h, "Content-Length: 1000"));
    CHECK_FALSE(h.uses_file());
}

TEST_CASE("single range: 206, Content-Range, file segment at the offset")
{
    Request req;
    req.range = "bytes=100-199";
    ResponsePlan p = plan_file(req, meta(1000), kCtx, "B");
    CHECK(p.status == 206);
    CHECK(has(p, "Content-Range: bytes 100-199/1000"));
    CHECK(has(p, "Content-Length: 100"));
    REQUIRE(p.segments.size() == 2);
    CHECK(p.segments[1] == Segment{Segment::Kind::File, 100, 100});
}

TEST_CASE("unsatisfiable: 416 with bytes */size; malformed: 200")
{
    Request req;
    req.range = "bytes=5000-";
    ResponsePlan p = plan_file(req, meta(1000), kCtx, "B");
    CHECK(p.status == 416);
    CHECK(has(p, "Content-Range: bytes */1000"));
    CHECK_FALSE(p.uses_file());

    req.range = "lines=1-2";
    CHECK(plan_file(req, meta(1000), kCtx, "B").status == 200);
}

TEST_CASE("multipart/byteranges: framing and exact Content-Length")
{
    Request req;
    req.range = "bytes=0-9,20-29";
    FileMeta m = meta(100);
    ResponsePlan p = plan_file(req, m, kCtx, "BOUNDARY");
    CHECK(p.status == 206);
    CHECK(has(p, "Content-Type: multipart/byteranges; boundary=BOUNDARY"));
    // head + first part head (one send), file, part head, file, tail
    REQUIRE(p.segments.size() == 5);
    CHECK(p.segments[1] == Segment{Segment::Kind::File, 0, 10});
    CHECK(p.segments[3] == Segment{Segment::Kind::File, 20, 10});
    auto mem = [&](std::size_t i) {
        return std::string_view(p.memory).substr(p.segments[i].offset, p.segments[i].length);
    };
    CHECK(mem(0) ==
          std::string(p.head()) +
              "--BOUNDARY\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-9/100\r\n\r\n");
    CHECK(mem(2) ==
          "\r\n--BOUNDARY\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 20-29/100\r\n\r\n");
    CHECK(mem(4) == "\r\n--BOUNDARY--\r\n");
    const std::uint64_t body = p.total() - p.head().size();
    CHECK(has(p, "Content-Length: " + std::to_string(body)));

    req.range = "bytes=0-9,5-19"; // merges into one range: a plain 206
    ResponsePlan merged = plan_file(req, m, kCtx, "BOUNDARY");
    CHECK(has(merged, "Content-Range: bytes 0-19/100"));
}

TEST_CASE("conditionals: 304 keeps validators, 412 has a body")
{
    FileMeta m = meta(1000);
    m.vary = true;
    m.content_encoding = "br";
    Request req;
    req.if_none_match = etag_of(m);
    ResponsePlan nm = plan_file(req, m, kCtx, "B");
    CHECK(nm.status == 304);
    CHECK(has(nm, "ETag: " + etag_of(m)));
    CHECK(has(nm, "Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT"));
    CHECK(has(nm, "Vary: Accept-Encoding"));
    CHECK(nm.head().find("Content-Length") == std::string_view::npos);
    CHECK(nm.total() == nm.head().size());

    Request pre;
    pre.if_match = "\"nope\"";
    CHECK(plan_file(pre, m, kCtx, "B").status == 412);
}

TEST_CASE("If-Range decides between 206 and 200")
{
    FileMeta m = meta(1000);
    Request req;
    req.range = "bytes=0-0";
    req.if_range = etag_of(m);
    CHECK(plan_file(req, m, kCtx, "B").status == 206);
    req.if_range = "\"stale\"";
    CHECK(plan_file(req, m, kCtx, "B").status == 200);
    req.if_range = "Tue, 14 Nov 2023 22:13:20 GMT";
    CHECK(plan_file(req, m, kCtx, "B").status == 206);
    req.if_range = "Tue, 14 Nov 2023 22:13:21 GMT";
    CHECK(plan_file(req, m, kCtx, "B").status == 200);
}

TEST_CASE("precompressed representation headers")
{
    FileMeta m = meta(10);
    m.content_encoding = "gzip";
    m.vary = true;
    Request req;
    ResponsePlan p = plan_file(req, m, kCtx, "B");
    CHECK(has(p, "Content-Encoding: gzip"));
    CHECK(has(p, "Vary: Accept-Encoding"));
    CHECK(has(p, "Content-Type: text/plain; charset=utf-8"));
}

TEST_CASE("ETag: from size and mtime; a sibling's names its coding, even beside the cache's ETag")
{
    FileMeta m = meta(10);
    const Request req;
    CHECK(has(plan_file(req, m, kCtx, "B"), "ETag: \"a-6553f100.5\""));
    m.etag = "\"a-6553f100.5\""; // made once by the open-file cache
    CHECK(has(plan_file(req, m, kCtx, "B"), "ETag: \"a-6553f100.5\""));
    m.content_encoding = "br";
    CHECK(has(plan_file(req, m, kCtx, "B"), "ETag: \"a-6553f100.5-br\""));
    m.content_encoding = "gzip";
    CHECK(has(plan_file(req, m, kCtx, "B"), "ETag: \"a-6553f100.5-gzip\""));
}
