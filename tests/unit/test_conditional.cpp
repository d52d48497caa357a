#include "http/conditional.hpp"

#include <doctest/doctest.h>

#include <cstdint>

using namespace splicehttpd::http;

namespace {

const std::string kEtag = make_etag(100, 1700000000, 5);
const std::time_t kMtime = 1700000000; // Tue, 14 Nov 2023 22:13:20 GMT
const char* kLastMod = "Tue, 14 Nov 2023 22:13:20 GMT";
const char* kBefore = "Tue, 14 Nov 2023 22:13:19 GMT";
const char* kAfter = "Tue, 14 Nov 2023 22:13:21 GMT";

} // namespace

TEST_CASE("etag text: size and mtime, no inode (the same files give the same ETag on every host)")
{
    CHECK(make_etag(100, 1700000000, 5) == "\"64-6553f100.5\"");
    CHECK(make_etag(0, 0, 0) == "\"0-0.0\"");
    CHECK(make_etag(~0ull, -1, 999999999) == "\"ffffffffffffffff--1.3b9ac9ff\"");
    CHECK(make_etag(2, INT64_MIN, 0) == "\"2--8000000000000000.0\"");
    // A precompressed sibling's names its coding.
    CHECK(make_etag(100, 1700000000, 5, "br") == "\"64-6553f100.5-br\"");
    CHECK(make_etag(100, 1700000000, 5, "gzip") == "\"64-6553f100.5-gzip\"");
    // The longest fits its buffer, the coding cut to what is left.
    CHECK(make_etag(~0ull, INT64_MIN, 999999999, "gzip") == "\"ffffffffffffffff--8000000000000000.3b9ac9ff-gzip\"");
    CHECK(make_etag(~0ull, INT64_MIN, 999999999, std::string(40, 'x')).size() == 64);
}

TEST_CASE("etag is strong and changes with every input")
{
    CHECK(kEtag == "\"64-6553f100.5\"");
    CHECK(make_etag(101, 1700000000, 5) != kEtag);
    CHECK(make_etag(100, 1700000001, 5) != kEtag);
    CHECK(make_etag(100, 1700000000, 6) != kEtag);
    CHECK(make_etag(100, 1700000000, 5, "br") != kEtag);
    CHECK(make_etag(100, 1700000000, 5, "br") != make_etag(100, 1700000000, 5, "gzip"));
}

TEST_CASE("entity-tag lists")
{
    CHECK(etag_matches("*", kEtag, false));
    CHECK(etag_matches(kEtag, kEtag, false));
    CHECK(etag_matches("\"a\", " + kEtag, kEtag, false));
    CHECK(etag_matches("\"a\",W/" + kEtag + " , \"b\"", kEtag, true));
    CHECK_FALSE(etag_matches("W/" + kEtag, kEtag, false)); // strong comparison refuses weak
    CHECK_FALSE(etag_matches("\"a\", \"b\"", kEtag, true));
    CHECK_FALSE(etag_matches("garbage", kEtag, true));
    CHECK_FALSE(etag_matches("", kEtag, true));
    // Tags must be separated by commas: what follows a tag without one is
    // malformed, and the list does not match even if the tag appears later.
    CHECK_FALSE(etag_matches("\"a\" x" + kEtag, kEtag, true));
    CHECK_FALSE(etag_matches("\"a\";" + kEtag, kEtag, false));
}

TEST_CASE("RFC 9110 13.2.2 evaluation order")
{
    const Validators v{kEtag, kMtime};
    struct Row {
        int line;
        Conditions c;
        bool get;
        Precondition want;
    };
    const std::string other = "\"other\"";
    const std::string weak = "W/" + kEtag; // Conditions hold views: keep the strings alive
    const Row rows[] = {
        {__LINE__, {}, true, Precondition::Proceed},
        // If-Match
        {__LINE__, {kEtag, {}, {}, {}}, true, Precondition::Proceed},
        {__LINE__, {"*", {}, {}, {}}, true, Precondition::Proceed},
        {__LINE__, {other, {}, {}, {}}, true, Precondition::Failed},
        {__LINE__, {weak, {}, {}, {}}, true, Precondition::Failed},
        // If-Unmodified-Since, only without If-Match
        {__LINE__, {{}, {}, {}, kLastMod}, true, Precondition::Proceed},
        {__LINE__, {{}, {}, {}, kAfter}, true, Precondition::Proceed},
        {__LINE__, {{}, {}, {}, kBefore}, true, Precondition::Failed},
        {__LINE__, {{}, {}, {}, "not a date"}, true, Precondition::Proceed},
        {__LINE__, {kEtag, {}, {}, kBefore}, true, Precondition::Proceed},
        // If-None-Match
        {__LINE__, {{}, kEtag, {}, {}}, true, Precondition::NotModified},
        {__LINE__, {{}, weak, {}, {}}, true, Precondition::NotModified}, // weak comparison
        {__LINE__, {{}, "*", {}, {}}, true, Precondition::NotModified},
        {__LINE__, {{}, other, {}, {}}, true, Precondition::Proceed},
        {__LINE__, {{}, kEtag, {}, {}}, false, Precondition::Failed},
        // If-Modified-Since, only without If-None-Match
        {__LINE__, {{}, {}, kLastMod, {}}, true, Precondition::NotModified},
        {__LINE__, {{}, {}, kAfter, {}}, true, Precondition::NotModified},
        {__LINE__, {{}, {}, kBefore, {}}, true, Precondition::Proceed},
        {__LINE__, {{}, {}, "Sunday, 14-Nov-23 22:13:20 GMT", {}}, true, Precondition::Proceed},
        {__LINE__, {{}, {}, "Tue Nov 14 22:13:20 2023", {}}, true, Precondition::NotModified},
        {__LINE__, {{}, {}, "bogus", {}}, true, Precondition::Proceed},
        {__LINE__, {{}, other, kLastMod, {}}, true, Precondition::Proceed},
        {__LINE__, {{}, {}, kLastMod, {}}, false, Precondition::Proceed},
        // If-Match failing wins over a matching If-None-Match
        {__LINE__, {other, kEtag, {}, {}}, true, Precondition::Failed},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        CHECK(evaluate_preconditions(r.c, v, r.get) == r.want);
    }
}

TEST_CASE("If-Range")
{
    const Validators v{kEtag, kMtime};
    struct Row {
        int line;
        std::string field;
        bool allows;
    };
    const Row rows[] = {
        {__LINE__, kEtag, true},
        {__LINE__, " " + kEtag + " ", true},
        {__LINE__, "\"other\"", false},
        {__LINE__, "W/" + kEtag, false}, // weak tags never match If-Range
        {__LINE__, kEtag + " junk", false},
        {__LINE__, kEtag + "junk", false},
        {__LINE__, kEtag + ", " + kEtag, false},              // one validator, not a list
        {__LINE__, kEtag.substr(0, kEtag.size() - 1), false}, // unterminated
        {__LINE__, kLastMod, true},
        {__LINE__, std::string(" ") + kLastMod, true},
        {__LINE__, kAfter, false},
        {__LINE__, kBefore, false},
        {__LINE__, "garbage", false},
        {__LINE__, "", false},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        CHECK(if_range_allows(r.field, v) == r.allows);
    }
}
