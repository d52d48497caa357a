#include "tls/sni.hpp"

#include <doctest/doctest.h>

using namespace splicehttpd::tls;

TEST_CASE("name_matches: exact names ignore case; a wildcard is one leftmost label")
{
    struct Row {
        int line;
        const char* pattern;
        const char* host;
        bool match;
    };
    const Row rows[] = {
        {__LINE__, "a.example", "a.example", true},
        {__LINE__, "a.example", "A.Example", true},
        {__LINE__, "a.example", "a.example.", true}, // the absolute form names the same host
        {__LINE__, "a.example", "b.example", false},
        {__LINE__, "a.example", "a.example.org", false},
        {__LINE__, "a.example", "", false},
        {__LINE__, "*.b.example", "x.b.example", true},
        {__LINE__, "*.b.example", "X.B.EXAMPLE", true},
        {__LINE__, "*.b.example", "b.example", false}, // the label may not be empty
        {__LINE__, "*.b.example", ".b.example", false},
        {__LINE__, "*.b.example", "y.x.b.example", false}, // one label only
        {__LINE__, "*.b.example", "xb.example", false},
        {__LINE__, "w*.b.example", "www.b.example", false}, // no partial-label wildcards
        {__LINE__, "*", "a", false},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        CHECK(name_matches(r.pattern, r.host) == r.match);
    }
}

TEST_CASE("pick_pair: exact before wildcard, first pair for an unknown or missing name")
{
    const std::vector<std::vector<std::string>> names = {
        {"a.example"},
        {"*.b.example", "b.example"},
        {"www.b.example"},
        {},
    };
    CHECK(pick_pair(names, "a.example") == 0);
    CHECK(pick_pair(names, "b.example") == 1);
    CHECK(pick_pair(names, "x.b.example") == 1);
    CHECK(pick_pair(names, "www.b.example") == 2); // the exact name wins over the earlier wildcard
    CHECK(pick_pair(names, "unknown.example") == 0);
    CHECK(pick_pair(names, "") == 0);
}
