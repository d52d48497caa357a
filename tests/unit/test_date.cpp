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
        // each grammar with the other's parts
        {__LINE__, "Sunday, 06 Nov 1994 08:49:37 GMT", false}, // long name, fixdate
        {__LINE__, "Sun, 06-Nov-94 08:49:37 GMT", false},      // short name, RFC 850
        {__LINE__, "Sun, 06-Nov-1994 08:49:37 GMT", false},
        {__LINE__, "Sunday, 06 Nov 94 08:49:37 GMT", false},
        {__LINE__, "Sunday, 06-Nov 94 08:49:37 GMT", false},
        {__LINE__, "Sun, 06 Nov-1994 08:49:37 GMT", false},
        {__LINE__, "Sun, 06 Nov 94 08:49:37 GMT", false},
        {__LINE__, "Sunday, 06-Nov-1994 08:49:37 GMT", false},
        {__LINE__, "Sunday, 06-Nov-94 08:49:37 UTC", false},
        {__LINE__, "Monday, 06-Nov-94 08:49:37 GMT", false},
        {__LINE__, "Sunday, 06-Nov-94 08:49:37 GMT ", false},
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
    // RFC 850's two-digit years: 70-99 in the 1900s, 00-69 in the 2000s
    CHECK(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT") == 0);
    CHECK(parse_http_date("Friday, 31-Dec-99 23:59:59 GMT") == 946684799);
    CHECK(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT") == 946684800);
    CHECK(parse_http_date("Tuesday, 01-Jan-30 00:00:00 GMT") == 1893456000);
    CHECK(parse_http_date("Tuesday, 31-Dec-69 23:59:59 GMT") == 3155759999);
}

TEST_CASE("date cache formats the current second")
{
    DateCache c;
    const std::time_t before = std::time(nullptr);
    const std::string_view s = c.now();
    const std::time_t after = std::time(nullptr);
    CHECK(s.size() == DateCache::kSize);
    auto t = parse_http_date(s);
    REQUIRE(t.has_value());
    CHECK(*t >= before);
    CHECK(*t <= after);
}

TEST_CASE("date cache follows the second, in one buffer that never moves")
{
    DateCache c;
    struct Row {
        int line;
        std::time_t t;
        const char* text;
    };
    const Row rows[] = {
        {__LINE__, 784111777, "Sun, 06 Nov 1994 08:49:37 GMT"},
        {__LINE__, 784111777, "Sun, 06 Nov 1994 08:49:37 GMT"},
        {__LINE__, 784111778, "Sun, 06 Nov 1994 08:49:38 GMT"},
        {__LINE__, 784111777, "Sun, 06 Nov 1994 08:49:37 GMT"}, // back, too
        {__LINE__, 0, "Thu, 01 Jan 1970 00:00:00 GMT"},
        {__LINE__, -1, "Wed, 31 Dec 1969 23:59:59 GMT"},
        {__LINE__, 4102444800, "Fri, 01 Jan 2100 00:00:00 GMT"},
    };
    const std::string_view first = c.now(rows[0].t);
    for (const Row& r : rows) {
        CAPTURE(r.line);
        const std::string_view v = c.now(r.t);
        CHECK(v == r.text);
        CHECK(v.data() == first.data());
        CHECK(first == r.text); // an earlier view shows the text in place
    }
    // A year of five digits is cut to the buffer, never written past it.
    CHECK(c.now(std::time_t(253402300800)).size() <= DateCache::kSize); // 10000-01-01
}
