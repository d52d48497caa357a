#include "http/content_coding.hpp"

#include <doctest/doctest.h>

using namespace splicehttpd::http;

TEST_CASE("Accept-Encoding, reduced to br and gzip")
{
    struct Row {
        int line;
        const char* field;
        bool br;
        bool gzip;
    };
    const Row rows[] = {
        {__LINE__, "", false, false},
        {__LINE__, "gzip", false, true},
        {__LINE__, "br", true, false},
        {__LINE__, "gzip, deflate, br", true, true},
        {__LINE__, "GZIP;q=0.5, BR;q=1.0", true, true},
        {__LINE__, "br;q=0, gzip", false, true},
        {__LINE__, "br;q=0.000, gzip;q=0", false, false},
        {__LINE__, "*", true, true},
        {__LINE__, "*;q=0", false, false},
        {__LINE__, "*, br;q=0", false, true},
        {__LINE__, "x-gzip", false, true},
        {__LINE__, "identity", false, false},
        {__LINE__, "deflate, compress", false, false},
        {__LINE__, " br ; q=0.1 ,gzip ; q=0", true, false},
        {__LINE__, "BR;Q=0, gzip", false, true}, // parameter names are case-insensitive
        {__LINE__, "br;Q=0.0, GZip;q=0.00", false, false},
        {__LINE__, "br;q=0.001, gzip;q=0.", true, false}, // "0.001" is not zero, "0." is
        {__LINE__, "br;level=0", true, false},            // not a q-value
        {__LINE__, "br;level=1;q=0", false, false},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        AcceptedCodings a = parse_accept_encoding(r.field);
        CHECK(a.br == r.br);
        CHECK(a.gzip == r.gzip);
    }
}
