#include "http/site_headers.hpp"

#include <doctest/doctest.h>

using namespace splicehttpd::http;

TEST_CASE("--add-header: validated, formatted once")
{
    struct Row {
        int line;
        const char* spec;
        const char* out; // nullptr: refused
    };
    const Row rows[] = {
        {__LINE__, "X-Frame-Options: DENY", "X-Frame-Options: DENY\r\n"},
        {__LINE__, "Strict-Transport-Security:max-age=63072000", "Strict-Transport-Security: max-age=63072000\r\n"},
        {__LINE__, "X-A:  spaced value \t", "X-A: spaced value\r\n"},
        {__LINE__, "X-Empty:", "X-Empty: \r\n"},
        {__LINE__, "X-Tab: a\tb", "X-Tab: a\tb\r\n"},
        {__LINE__, "no colon", nullptr},
        {__LINE__, ": value", nullptr},
        {__LINE__, "Bad Name: x", nullptr},
        {__LINE__, "Bad(Name): x", nullptr},
        {__LINE__, "X-Inject: a\r\nSet-Cookie: b", nullptr},
        {__LINE__, "X-Nul: a\x01", nullptr},
        {__LINE__, "X-Del: a\x7f", nullptr},
        {__LINE__, "Content-Length: 5", nullptr},
        {__LINE__, "connection: close", nullptr},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        std::string error;
        auto out = parse_add_header(r.spec, error);
        if (r.out) {
            REQUIRE(out);
            CHECK(*out == r.out);
        } else {
            CHECK_FALSE(out);
            CHECK_FALSE(error.empty());
        }
    }
}

TEST_CASE("--expires: by extension or prefix, in order")
{
    struct Row {
        int line;
        const char* spec;
        bool ok;
        bool by_extension;
        const char* match;
        std::int64_t seconds;
    };
    const Row rows[] = {
        {__LINE__, ".css=7d", true, true, ".css", 7 * 86400},
        {__LINE__, "/assets/=1h", true, false, "/assets/", 3600},
        {__LINE__, ".html=off", true, true, ".html", -1},
        {__LINE__, "/=30m", true, false, "/", 1800},
        {__LINE__, ".js=0s", true, true, ".js", 0},
        {__LINE__, ".js=10", false, false, "", 0},
        {__LINE__, ".js=10w", false, false, "", 0},
        {__LINE__, ".js=-1d", false, false, "", 0},
        {__LINE__, ".js=d", false, false, "", 0},
        {__LINE__, "css=1d", false, false, "", 0},
        {__LINE__, "=1d", false, false, "", 0},
        {__LINE__, ".js", false, false, "", 0},
        {__LINE__, ".js=4000d", false, false, "", 0},
        {__LINE__, ".js=3650d", true, true, ".js", 3650 * 86400},
        {__LINE__, ".js=315360000s", true, true, ".js", 315360000},
        {__LINE__, ".js=315360001s", false, false, "", 0},
        // n times the unit past int64: refused, not wrapped (issue 16 F:
        // 213503982334602d was taken as max-age=61184).
        {__LINE__, ".css=213503982334602d", false, false, "", 0},
        {__LINE__, ".css=153722867280912931m", false, false, "", 0},
        {__LINE__, ".css=2562047788015216h", false, false, "", 0},
        {__LINE__, ".css=9223372036854775807d", false, false, "", 0},
        {__LINE__, ".css=9223372036854775807s", false, false, "", 0},
        {__LINE__, ".css=9223372036854775808s", false, false, "", 0},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        std::string error;
        auto rule = parse_expires(r.spec, error);
        REQUIRE(bool(rule) == r.ok);
        if (!r.ok) {
            CHECK_FALSE(error.empty());
            continue;
        }
        CHECK(rule->by_extension == r.by_extension);
        CHECK(rule->match == r.match);
        CHECK(rule->seconds == r.seconds);
    }

    std::vector<ExpiresRule> rules;
    std::string e;
    for (const char* s : {".html=off", "/img/=1h", ".css=7d", "/=1m"}) rules.push_back(*parse_expires(s, e));
    CHECK(match_expires(rules, "/index.html")->seconds == -1);
    CHECK(match_expires(rules, "/img/a.png")->seconds == 3600);
    CHECK(match_expires(rules, "/img/page.html")->seconds == -1); // the first rule that matches
    CHECK(match_expires(rules, "/css/site.css")->seconds == 7 * 86400);
    CHECK(match_expires(rules, "/other.txt")->seconds == 60);
    CHECK(match_expires({}, "/x") == nullptr);
}
