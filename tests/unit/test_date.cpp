#include "http/date.hpp"

#include <doctest/doctest.h>

using namespace splicehttpd::http;

TEST_CASE("the three HTTP date formats")
{
    const std::time_t t = 784111777; // Sun, 06 Nov 1994 08:49:37 GMT
    struct Row {
        int line;
        const char* text;
        bool ok;
    };
    const Row rows[] = {
        {__LINE__, "Sun, 06 Nov 1994 08:49:37 GMT", true},
        {__LINE__, "Sunday, 06-Nov-94 08:49:37 GMT", true},
        {__LINE__, "Sun Nov  6 08:49:37 1994", true},
        {__LINE__, "Mon, 06 Nov 1994 08:49:37 GMT", false}, // wrong weekday
        {__LINE__, "Sun, 06 Nov 1994 08:49:37 UTC", false},
        {__LINE__, "Sun, 6 Nov 1994 08:49:37 GMT", false},
        {__LINE__, "Sun, 31 Feb 1994 08:49:37 GMT", false},
        {__LINE__, "Sun, 06 Nov 1994 25:49:37 GMT", false},
        {__LINE__, "Sun, 06 Nov 1994 08:49:37 GMT ", false},
        {__LINE__, "yesterday", false},
        {__LINE__, "", false},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        auto got = parse_http_date(r.text);
        REQUIRE(got.has_value() == r.ok);
        if (r.ok) CHECK(*got == t);
    }
}

TEST_CASE("format is IMF-fixdate and round-trips")
{
    CHECK(format_http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
    for (std::time_t t : {std::time_t(0), std::time_t(951782400), std::time_t(1700000000), std::time_t(4102444800)})
        CHECK(parse_http_date(format_http_date(t)) == t);
    CHECK(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT") == 0);
    CHECK(parse_http_date("Tuesday, 01-Jan-30 00:00:00 GMT") == 1893456000);
}

TEST_CASE("date cache formats the current second")
{
    DateCache c;
    const std::string& s = c.now();
    CHECK(s.size() == 29);
    CHECK(parse_http_date(s).has_value());
}
