#include "plural.hpp"

#include <doctest/doctest.h>

using splicehttpd::plural;

TEST_CASE("plural: one has no s, every other count has")
{
    struct Row {
        int line;
        unsigned long long n;
        const char* want;
    };
    const Row rows[] = {
        {__LINE__, 0, "0 threads"},   {__LINE__, 1, "1 thread"},    {__LINE__, 2, "2 threads"},
        {__LINE__, 11, "11 threads"}, {__LINE__, 21, "21 threads"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        CHECK(plural(r.n, "thread") == r.want);
    }
}
