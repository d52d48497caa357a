#include "http/parser.hpp"

#include <doctest/doctest.h>
#include <llhttp.h> // llhttp's method numbers, to check the mapping

#include <initializer_list>
#include <string>
#include <vector>

using namespace splicehttpd::http;

namespace {

struct Outcome {
    std::vector<Request> requests;
    int error = 0;
};

// Feeds `input` in pieces of at most `step` bytes, answering each complete
// request at once (as the server does) before feeding the rest.
Outcome run(std::string_view input, std::size_t step = 1 << 20, ParseLimits limits = {})
{
    RequestParser p(limits);
    Outcome out;
    std::size_t pos = 0;
    while (pos < input.size()) {
        std::size_t n = std::min(step, input.size() - pos);
        ParseResult r = p.feed(input.data() + pos, n);
        if (r.status == ParseStatus::Error) {
            out.error = r.error_status;
            return out;
        }
        pos += r.status == ParseStatus::Complete ? r.consumed : n;
        if (r.status == ParseStatus::Complete) {
            out.requests.push_back(p.request());
            p.next();
        }
    }
    return out;
}

} // namespace

TEST_CASE("one request, whole or byte by byte")
{
    const std::string req = "GET /a/b?c=d HTTP/1.1\r\nHost: example\r\nRange: bytes=0-1\r\n"
                            "If-None-Match: \"x\"\r\nIf-None-Match: \"y\"\r\nAccept-Encoding: br, gzip\r\n\r\n";
    for (std::size_t step : {std::size_t(1) << 20, std::size_t(1), std::size_t(7)}) {
        CAPTURE(step);
        Outcome o = run(req, step);
        REQUIRE(o.error == 0);
        REQUIRE(o.requests.size() == 1);
        const Request& r = o.requests[0];
        CHECK(r.method == Method::Get);
        CHECK(r.target == "/a/b?c=d");
        CHECK(r.host_count == 1);
        CHECK(r.keep_alive);
        CHECK(r.range == "bytes=0-1");
        CHECK(r.if_none_match == "\"x\", \"y\"");
        CHECK(r.accept_encoding == "br, gzip");
    }
}

TEST_CASE("pipelined requests come out one at a time, in order")
{
    std::string input;
    for (int i = 0; i < 30; ++i) input += "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\n\r\n";
    for (std::size_t step : {std::size_t(1) << 20, std::size_t(1), std::size_t(13)}) {
        CAPTURE(step);
        Outcome o = run(input, step);
        REQUIRE(o.error == 0);
        REQUIRE(o.requests.size() == 30);
        for (int i = 0; i < 30; ++i) CHECK(o.requests[std::size_t(i)].target == "/" + std::to_string(i));
    }
}

TEST_CASE("a body on GET is read and discarded, the next request still parses")
{
    const std::string input =
        "GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: h\r\n"
        "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n";
    for (std::size_t step : {std::size_t(1) << 20, std::size_t(1)}) {
        Outcome o = run(input, step);
        REQUIRE(o.error == 0);
        REQUIRE(o.requests.size() == 3);
        CHECK(o.requests[0].target == "/a");
        CHECK(o.requests[1].target == "/b");
        CHECK(o.requests[2].target == "/c");
    }
}

TEST_CASE("keep-alive by version and Connection")
{
    struct Row {
        int line;
        const char* input;
        bool keep_alive;
    };
    const Row rows[] = {
        {__LINE__, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
        {__LINE__, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
        {__LINE__, "GET / HTTP/1.0\r\n\r\n", false},
        {__LINE__, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        Outcome o = run(r.input);
        REQUIRE(o.requests.size() == 1);
        CHECK(o.requests[0].keep_alive == r.keep_alive);
    }
}

TEST_CASE("bad requests map to the right status")
{
    struct Row {
        int line;
        std::string input;
        int status;
    };
    const std::string long_uri = "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n";
    std::string many_headers = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 101; ++i) many_headers += "X-" + std::to_string(i) + ": v\r\n";
    many_headers += "\r\n";
    const std::string big_header = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(17000, 'b') + "\r\n\r\n";
    const Row rows[] = {
        {__LINE__, "FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 501},
        {__LINE__, "BREWCOFFEE / HTTP/1.1\r\nHost: h\r\n\r\n", 501},
        {__LINE__, "\x01\x02\x03 garbage\r\n\r\n", 400},
        {__LINE__, "hello world\r\n\r\n", 400},
        {__LINE__, "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
        {__LINE__, "GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505},
        {__LINE__, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
        {__LINE__, "GET /\r\n\r\n", 505},
        {__LINE__, "GET / FOO/1.1\r\nHost: h\r\n\r\n", 400},
        // a malformed version is a bad request, not an unsupported version
        {__LINE__, "GET / HTTP/1.1\rHost: h\r\n\r\n", 400},
        {__LINE__, "GET / HTTP/1.1x\r\nHost: h\r\n\r\n", 400},
        {__LINE__, "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
        {__LINE__, "GET / HTTP/11.1\r\nHost: h\r\n\r\n", 400},
        {__LINE__, "GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400},
        {__LINE__, "GET / HTTP/x.1\r\nHost: h\r\n\r\n", 400},
        {__LINE__, "GET / HTTP/1,1\r\nHost: h\r\n\r\n", 400},
        {__LINE__, "GET index.html HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {__LINE__, long_uri, 414},
        {__LINE__, many_headers, 431},
        {__LINE__, big_header, 431},
        // request smuggling shapes
        {__LINE__, "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         400},
        {__LINE__, "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
        {__LINE__, "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
        {__LINE__, "GET / HTTP/1.1\r\nHo\x01st: h\r\n\r\n", 400},
        {__LINE__, "GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n", 400},
        {__LINE__, "GET / HTTP/1.1\r\nHost: h\r\nX-Folded:\r\n\tb\r\n\r\n", 400},
        {__LINE__, "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
        {__LINE__, "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400},
        // what llhttp's strict mode adds: a CR is always followed by LF, and
        // the target is visible ASCII (RFC 9112 §2.2, §3.2)
        {__LINE__, "GET / HTTP/1.1\r\nHost: h\r\n\rX", 400},
        {__LINE__, "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {__LINE__, "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {__LINE__, "GET /a\fb HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        for (std::size_t step : {std::size_t(1) << 20, std::size_t(1)}) {
            CAPTURE(step);
            CHECK(run(r.input, step).error == r.status);
        }
    }
}

namespace {

// Input, the error status it must end with (0: none) and how many requests
// come out before it, fed whole and in the given step sizes.
struct OutcomeRow {
    int line;
    std::string input;
    int status;
    std::size_t requests;
};

void check_outcomes(std::initializer_list<OutcomeRow> rows, const ParseLimits& limits,
                    std::initializer_list<std::size_t> steps)
{
    for (const OutcomeRow& r : rows) {
        CAPTURE(r.line);
        for (std::size_t step : steps) {
            CAPTURE(step);
            Outcome o = run(r.input, step, limits);
            CHECK(o.error == r.status);
            CHECK(o.requests.size() == r.requests);
        }
    }
}

} // namespace

TEST_CASE("limits hold exactly at their boundaries")
{
    // max_uri bytes of target, max_headers fields, max_header_bytes of field
    // lines as sent ("Name: value" with one space, CRLF included). A name or
    // value that has not ended yet is refused as soon as it crosses the limit.
    ParseLimits tight;
    tight.max_uri = 16;
    tight.max_headers = 2;
    tight.max_header_bytes = 256;
    const std::string host = "GET / HTTP/1.1\r\nHost: h\r\n"; // 9 header bytes
    auto uri = [](std::size_t n) { return "GET /" + std::string(n - 1, 'u'); };
    check_outcomes(
        {
            {__LINE__, uri(16) + " HTTP/1.1\r\nHost: h\r\n\r\n", 0, 1},
            {__LINE__, uri(17) + " HTTP/1.1\r\nHost: h\r\n\r\n", 414, 0},
            {__LINE__, uri(16), 0, 0},
            {__LINE__, uri(17), 414, 0},
            {__LINE__, host + "A: 1\r\n\r\n", 0, 1},
            {__LINE__, host + "A: 1\r\nB: 2\r\n\r\n", 431, 0},
            // 9 + 1 + n + 4 bytes
            {__LINE__, host + "A: " + std::string(242, 'x') + "\r\n\r\n", 0, 1},
            {__LINE__, host + "A: " + std::string(243, 'x') + "\r\n\r\n", 431, 0},
            // 9 + n + 1 + 4 bytes
            {__LINE__, host + std::string(242, 'N') + ": v\r\n\r\n", 0, 1},
            {__LINE__, host + std::string(243, 'N') + ": v\r\n\r\n", 431, 0},
            // unfinished: a name of 247 bytes may still end, 248 cannot
            {__LINE__, host + std::string(247, 'N'), 0, 0},
            {__LINE__, host + std::string(248, 'N'), 431, 0},
            {__LINE__, host + "A: " + std::string(246, 'x'), 0, 0},
            {__LINE__, host + "A: " + std::string(247, 'x'), 431, 0},
        },
        tight, {std::size_t(1) << 20, std::size_t(1), std::size_t(5)});
}

TEST_CASE("each pipelined request is checked afresh")
{
    // What one request leaves behind (the obs-fold scan, the method prefix
    // that tells 501 from 400, the limit counters) must not carry over.
    ParseLimits tight;
    tight.max_uri = 16;
    tight.max_headers = 2;
    tight.max_header_bytes = 64;
    const std::string first = "GET /1 HTTP/1.1\r\nHost: h\r\nA: " + std::string(40, 'x') + "\r\n\r\n";
    const std::string body = "GET /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    check_outcomes(
        {
            {__LINE__, first + first + first, 0, 3},
            {__LINE__, first + "GET /2 HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400, 1},
            {__LINE__, first + "GET /2 HTTP/1.1\r\nHost: h\r\nX:\r\n\tb\r\n\r\n", 400, 1},
            {__LINE__, body + "GET /2 HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400, 1},
            {__LINE__, first + "BREW /2 HTTP/1.1\r\nHost: h\r\n\r\n", 501, 1},
            {__LINE__, first + "BR{W /2 HTTP/1.1\r\nHost: h\r\n\r\n", 400, 1},
            {__LINE__, first + "GET /" + std::string(16, 'u') + " HTTP/1.1\r\n\r\n", 414, 1},
            {__LINE__, first + "GET /2 HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", 431, 1},
        },
        tight, {std::size_t(1) << 20, std::size_t(1), std::size_t(7)});
}

TEST_CASE("host counting, absolute form, upgrade requests")
{
    Outcome two = run("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    REQUIRE(two.requests.size() == 1);
    CHECK(two.requests[0].host_count == 2);

    Outcome none = run("GET / HTTP/1.1\r\n\r\n");
    REQUIRE(none.requests.size() == 1);
    CHECK(none.requests[0].host_count == 0);

    Outcome abs = run("GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n");
    REQUIRE(abs.requests.size() == 1);
    CHECK(abs.requests[0].target == "http://h/x");

    // We never switch protocols: the request after an Upgrade one is HTTP.
    Outcome up = run("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
                     "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    REQUIRE(up.error == 0);
    REQUIRE(up.requests.size() == 2);
    CHECK(up.requests[1].target == "/next");

    Outcome connect = run("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    REQUIRE(connect.requests.size() == 1);
    CHECK(connect.requests[0].method == Method::Connect);
}

TEST_CASE("methods: llhttp's numbers, Method, MethodClass, through the parser")
{
    struct Row {
        int line;
        const char* name;
        llhttp_method llhttp;
        Method method;
        MethodClass cls;
    };
    const Row rows[] = {
        {__LINE__, "GET", HTTP_GET, Method::Get, MethodClass::Get},
        {__LINE__, "HEAD", HTTP_HEAD, Method::Head, MethodClass::Head},
        {__LINE__, "OPTIONS", HTTP_OPTIONS, Method::Options, MethodClass::Options},
        {__LINE__, "POST", HTTP_POST, Method::Post, MethodClass::NotAllowed},
        {__LINE__, "PUT", HTTP_PUT, Method::Put, MethodClass::NotAllowed},
        {__LINE__, "DELETE", HTTP_DELETE, Method::Delete, MethodClass::NotAllowed},
        {__LINE__, "CONNECT", HTTP_CONNECT, Method::Connect, MethodClass::NotAllowed},
        {__LINE__, "TRACE", HTTP_TRACE, Method::Trace, MethodClass::NotAllowed},
        {__LINE__, "PATCH", HTTP_PATCH, Method::Patch, MethodClass::NotAllowed},
        {__LINE__, "PROPFIND", HTTP_PROPFIND, Method::Other, MethodClass::NotImplemented},
        {__LINE__, "MKCOL", HTTP_MKCOL, Method::Other, MethodClass::NotImplemented},
        {__LINE__, "PURGE", HTTP_PURGE, Method::Other, MethodClass::NotImplemented},
        {__LINE__, "LINK", HTTP_LINK, Method::Other, MethodClass::NotImplemented},
        {__LINE__, "REPORT", HTTP_REPORT, Method::Other, MethodClass::NotImplemented},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        CHECK(method_from_llhttp(std::uint8_t(r.llhttp)) == r.method);
        CHECK(classify_method(r.method) == r.cls);
        const std::string target = r.llhttp == HTTP_CONNECT ? "h:443" : "/";
        Outcome o = run(std::string(r.name) + " " + target + " HTTP/1.1\r\nHost: h\r\n\r\n");
        REQUIRE(o.requests.size() == 1);
        CHECK(o.requests[0].method == r.method);
        CHECK(method_of(o.requests[0]) == r.method);
    }
    // Every number llhttp may hand out, known or not, maps; only Other is
    // not implemented.
    for (int m = 0; m < 256; ++m) {
        CAPTURE(m);
        const auto n = std::uint8_t(m);
        if (method_from_llhttp(n) != Method::Other) {
            CHECK(classify_method(method_from_llhttp(n)) != MethodClass::NotImplemented);
        }
    }
}

namespace {

// RFC 9110 §5.6.2, written out here rather than borrowed from the parser.
bool rfc_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string_view::npos;
}

} // namespace

TEST_CASE("every byte that is not a tchar in a header name or the method is 400")
{
    // Each byte value goes in at each position. A tchar leaves a well-formed
    // request (a header, or an unknown method: 501); anything else must be
    // 400 before any request completes, whole or fed byte by byte. `exempt`
    // lists bytes that mean something else at that position.
    struct Row {
        int line;
        std::string before;
        std::string after;
        int tchar_status; // 0: the request parses
        std::string exempt;
    };
    const std::string head = "GET / HTTP/1.1\r\nHost: h\r\n";
    const Row rows[] = {
        // header name: first byte, inside, last byte before the colon
        {__LINE__, head, "Bad: y\r\n\r\n", 0, "\n"},           // LF here ends the header section
        {__LINE__, head + "Bad", "Header: y\r\n\r\n", 0, ":"}, // "Bad:Header: y" is a field "Bad"
        {__LINE__, head + "Bad", ": y\r\n\r\n", 0, ":"},
        {__LINE__, head + "Range: bytes=0-1\r\nX-", "Y: y\r\n\r\n", 0, ":"},
        // special names llhttp matches on their own path
        {__LINE__, head + "Content", "Length: 0\r\n\r\n", 0, ":"},
        {__LINE__, head + "Transfer-Encoding", ": identity\r\n\r\n", 0, ":"},
        {__LINE__, head + "Connection", ": close\r\n\r\n", 0, ":"},
        // method: first byte, inside, last byte
        {__LINE__, "", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 501, "\r\n"}, // empty lines may precede
        {__LINE__, "GE", "T / HTTP/1.1\r\nHost: h\r\n\r\n", 501, ""},
        {__LINE__, "GET", " / HTTP/1.1\r\nHost: h\r\n\r\n", 501, " "}, // the space ends the method
        {__LINE__, "HEAD", " / HTTP/1.1\r\nHost: h\r\n\r\n", 501, " "},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        for (int b = 0; b < 256; ++b) {
            const auto byte = static_cast<unsigned char>(b);
            if (r.exempt.find(char(byte)) != std::string::npos) continue;
            CAPTURE(b);
            const std::string input = r.before + char(byte) + r.after;
            for (std::size_t step : {std::size_t(1) << 20, std::size_t(1)}) {
                CAPTURE(step);
                Outcome o = run(input, step);
                if (rfc_tchar(byte)) {
                    CHECK(o.error == r.tchar_status);
                    CHECK(o.requests.size() == (r.tchar_status == 0 ? 1u : 0u));
                } else {
                    CHECK(o.error == 400);
                    CHECK(o.requests.empty());
                }
            }
        }
    }
}

TEST_CASE("an error says what was wrong (for the error log); the Host value is kept")
{
    struct Row {
        int line;
        std::string input;
        int status;
        const char* reason;
    };
    const std::string long_uri = "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n";
    const Row rows[] = {
        {__LINE__, long_uri, 414, "URI too long"},
        {__LINE__, "FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 501, "unknown method"},
        {__LINE__, "\x01\x02\x03 garbage\r\n\r\n", 400, "invalid method"},
        {__LINE__, "GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n", 400, "obsolete line folding"},
        {__LINE__, "GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505, "Invalid HTTP version"},
        {__LINE__, "GET / HTTP/1.1\r\nHo\x01st: h\r\n\r\n", 400, "Invalid header token"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        RequestParser p(ParseLimits{});
        const ParseResult res = p.feed(r.input.data(), r.input.size());
        CHECK(res.status == ParseStatus::Error);
        CHECK(res.error_status == r.status);
        CHECK(p.error_reason() == r.reason);
        p.reset();
        CHECK(p.error_reason().empty());
    }
    Outcome ok = run("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\nGET / HTTP/1.0\r\n\r\n");
    REQUIRE(ok.requests.size() == 2);
    CHECK(ok.requests[0].host == "example.com:8080");
    CHECK(!ok.requests[1].host);
}
