#include "http/range.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace splicehttpd::http;

TEST_CASE("Range header parsing")
{
    struct Row {
        int line;
        std::string header;
        std::uint64_t size;
        RangeOutcome outcome;
        std::vector<ByteRange> ranges;
    };
    const std::uint64_t big = (std::uint64_t(5) << 30) + 17; // past 4 GiB
    std::string seventeen = "bytes=";
    for (int i = 0; i < 17; ++i) seventeen += std::to_string(i * 10) + "-" + std::to_string(i * 10 + 1) + ",";
    std::string amplification = "bytes=";
    for (int i = 0; i < 10; ++i) amplification += "0-,";
    const Row rows[] = {
        {__LINE__, "bytes=0-0", 100, RangeOutcome::Ranges, {{0, 0}}},
        {__LINE__, "bytes=0-99", 100, RangeOutcome::Ranges, {{0, 99}}},
        {__LINE__, "bytes=10-", 100, RangeOutcome::Ranges, {{10, 99}}},
        {__LINE__, "bytes=-10", 100, RangeOutcome::Ranges, {{90, 99}}},
        {__LINE__, "bytes=-1000", 100, RangeOutcome::Ranges, {{0, 99}}},
        {__LINE__, "bytes=50-1000", 100, RangeOutcome::Ranges, {{50, 99}}},
        {__LINE__, "Bytes = 1-2", 100, RangeOutcome::Ranges, {{1, 2}}},
        {__LINE__, "bytes= 1-2 , 5-6", 100, RangeOutcome::Ranges, {{1, 2}, {5, 6}}},
        {__LINE__, "bytes=5-6,1-2", 100, RangeOutcome::Ranges, {{1, 2}, {5, 6}}},
        {__LINE__, "bytes=0-10,5-20", 100, RangeOutcome::Ranges, {{0, 20}}},          // overlap merged
        {__LINE__, "bytes=0-9,10-19", 100, RangeOutcome::Ranges, {{0, 19}}},          // adjacent merged
        {__LINE__, "bytes=0-9,11-19", 100, RangeOutcome::Ranges, {{0, 9}, {11, 19}}}, // a gap of one byte
        {__LINE__, "bytes=0-99,10-19", 1000, RangeOutcome::Ranges, {{0, 99}}},        // one inside another
        {__LINE__, "bytes=10-19,0-99", 1000, RangeOutcome::Ranges, {{0, 99}}},
        {__LINE__, "bytes=0-99,10-19,500-", 1000, RangeOutcome::Ranges, {{0, 99}, {500, 999}}},
        {__LINE__, "bytes=0-1,,4-5", 100, RangeOutcome::Ranges, {{0, 1}, {4, 5}}}, // empty element
        {__LINE__, "bytes=200-300,0-1", 100, RangeOutcome::Ranges, {{0, 1}}},      // unsatisfiable one dropped
        {__LINE__, "bytes=4294967296-", big, RangeOutcome::Ranges, {{4294967296, big - 1}}},
        {__LINE__, "bytes=-5", big, RangeOutcome::Ranges, {{big - 5, big - 1}}},
        // unsatisfiable
        {__LINE__, "bytes=100-", 100, RangeOutcome::Unsatisfiable, {}},
        {__LINE__, "bytes=100-200", 100, RangeOutcome::Unsatisfiable, {}},
        {__LINE__, "bytes=-0", 100, RangeOutcome::Unsatisfiable, {}},
        {__LINE__, "bytes=0-0", 0, RangeOutcome::Unsatisfiable, {}},
        {__LINE__, "bytes=-5", 0, RangeOutcome::Unsatisfiable, {}},
        // ignored: malformed or another unit
        {__LINE__, "", 100, RangeOutcome::Ignore, {}},
        {__LINE__, "bytes", 100, RangeOutcome::Ignore, {}},
        {__LINE__, "bytes=", 100, RangeOutcome::Ignore, {}},
        {__LINE__, "bytes=abc", 100, RangeOutcome::Ignore, {}},
        {__LINE__, "bytes=5-1", 100, RangeOutcome::Ignore, {}},
        {__LINE__, "bytes=1-2,x", 100, RangeOutcome::Ignore, {}},
        {__LINE__, "bytes=--1", 100, RangeOutcome::Ignore, {}},
        {__LINE__, "bytes=1--2", 100, RangeOutcome::Ignore, {}},
        {__LINE__, "bytes=+1-2", 100, RangeOutcome::Ignore, {}},
        {__LINE__, "bytes=99999999999999999999-", 100, RangeOutcome::Ignore, {}},
        {__LINE__, "items=0-1", 100, RangeOutcome::Ignore, {}},
        {__LINE__, "bytesx=0-1", 100, RangeOutcome::Ignore, {}},
        // served whole: too many ranges, or more bytes than the file (CVE-2011-3192)
        {__LINE__, seventeen, 1000, RangeOutcome::Full, {}},
        {__LINE__, amplification, 100, RangeOutcome::Full, {}},
        {__LINE__, "bytes=0-60,40-99", 100, RangeOutcome::Full, {}},
        // exactly at the file size is still ranges; one byte more is the whole file
        {__LINE__, "bytes=0-49,10-59", 100, RangeOutcome::Ranges, {{0, 59}}},
        {__LINE__, "bytes=0-49,10-60", 100, RangeOutcome::Full, {}},
        {__LINE__, "bytes=-50,0-49", 100, RangeOutcome::Ranges, {{0, 99}}},
        {__LINE__, "bytes=-51,0-49", 100, RangeOutcome::Full, {}},
        {__LINE__, "bytes=0-,0-0", 100, RangeOutcome::Full, {}},
        {__LINE__, "bytes=0-0,0-0,0-0", 3, RangeOutcome::Ranges, {{0, 0}}},
        {__LINE__, "bytes=0-0,0-0,0-0,0-0", 3, RangeOutcome::Full, {}},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        RangeResult got = parse_range(r.header, r.size);
        CHECK(got.outcome == r.outcome);
        if (r.outcome == RangeOutcome::Ranges) CHECK(got.ranges == r.ranges);
    }
}

TEST_CASE("sixteen ranges are still served as ranges")
{
    std::string h = "bytes=";
    for (int i = 0; i < 16; ++i) h += std::to_string(i * 10) + "-" + std::to_string(i * 10 + 1) + ",";
    RangeResult got = parse_range(h, 1000);
    CHECK(got.outcome == RangeOutcome::Ranges);
    CHECK(got.ranges.size() == 16);
}
