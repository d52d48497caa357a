#include "http/access_log.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace splicehttpd::http;

TEST_CASE("access log: the combined format")
{
    AccessRecord r;
    r.client = "127.0.0.1";
    r.time = "26/Nov/2026:10:00:00 +0000";
    r.method = "GET";
    r.target = "/";
    r.status = 200;
    r.body_bytes = 1234;
    r.referer = "http://example.com/";
    r.user_agent = "curl/7.88.1";
    std::string out;
    append_access_line(out, r);
    CHECK(out == "127.0.0.1 - - [26/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1234 "
                 "\"http://example.com/\" \"curl/7.88.1\"\n");

    AccessRecord bad;
    bad.client = "::1";
    bad.time = "01/Jan/1970:00:00:00 +0000";
    bad.status = 400;
    out.clear();
    append_access_line(out, bad); // never parsed: no request line, no fields
    CHECK(out == "::1 - - [01/Jan/1970:00:00:00 +0000] \"-\" 400 0 \"-\" \"-\"\n");
}

TEST_CASE("access log: hostile bytes are escaped as nginx does")
{
    struct Row {
        int line;
        std::string in;
        const char* out;
    };
    const Row rows[] = {
        {__LINE__, "plain text/1.0 (x; y)", "plain text/1.0 (x; y)"},
        {__LINE__, "a\"b", "a\\x22b"},
        {__LINE__, "a\\b", "a\\x5Cb"},
        {__LINE__, "line\nforged 127.0.0.1 - -", "line\\x0Aforged 127.0.0.1 - -"},
        {__LINE__, "\r\t", "\\x0D\\x09"},
        {__LINE__, std::string("nul\0x", 5), "nul\\x00x"},
        {__LINE__, "\x7f\x80\xff", "\\x7F\\x80\\xFF"},
        {__LINE__, "caf\xc3\xa9", "caf\\xC3\\xA9"},
        {__LINE__, "\x1b[31mred", "\\x1B[31mred"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        std::string out;
        append_log_escaped(out, r.in);
        CHECK(out == r.out);
    }
    // In a whole line: the user agent cannot close its quotes or end the line.
    AccessRecord rec;
    rec.client = "10.0.0.1";
    rec.time = "t";
    rec.method = "GET";
    rec.target = "/a\"b";
    rec.status = 404;
    rec.user_agent = "x\" 200 999 \"y\n";
    std::string out;
    append_access_line(out, rec);
    CHECK(out == "10.0.0.1 - - [t] \"GET /a\\x22b HTTP/1.1\" 404 0 \"-\" \"x\\x22 200 999 \\x22y\\x0A\"\n");
}

TEST_CASE("access log: time in UTC")
{
    CHECK(format_log_time(0) == "01/Jan/1970:00:00:00 +0000");
    CHECK(format_log_time(1795687200) == "26/Nov/2026:10:00:00 +0000");
    CHECK(format_log_time(951782400) == "29/Feb/2000:00:00:00 +0000");
}
