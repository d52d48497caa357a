// Inputs the fuzzers in tests/fuzz found, kept as tests of their own: each
// failed before the fix named in its case.
#include "http/mime.hpp"
#include "http/parser.hpp"
#include "http/range.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

using namespace splicehttpd::http;

TEST_CASE("fuzz_parser: after an Error every later feed is the same Error, within the buffer")
{
    // Input "\x02\x00": a NUL byte. llhttp repeats its error on the next
    // execute with the position it kept from the first buffer, so `consumed`
    // pointed into a buffer that no longer existed.
    RequestParser p(ParseLimits{});
    const std::string nul(1, '\0');
    const ParseResult first = p.feed(nul.data(), nul.size());
    REQUIRE(first.status == ParseStatus::Error);
    CHECK(first.error_status == 400);
    const std::string more = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    for (int i = 0; i < 2; ++i) {
        const ParseResult again = p.feed(more.data(), more.size());
        CHECK(again.status == ParseStatus::Error);
        CHECK(again.error_status == 400);
        CHECK(again.consumed <= more.size());
    }
    p.reset();
    CHECK(p.feed(more.data(), more.size()).status == ParseStatus::Complete);
}

TEST_CASE("fuzz_parser: the obs-fold error does not let the following bytes through")
{
    // The fold scan returned 400 but left llhttp untouched: the next feed
    // went on parsing as if the fold had never been seen.
    RequestParser p(ParseLimits{});
    const std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n continued";
    REQUIRE(p.feed(head.data(), head.size()).status == ParseStatus::Error);
    const std::string rest = "\r\n\r\n";
    const ParseResult r = p.feed(rest.data(), rest.size());
    CHECK(r.status == ParseStatus::Error);
    CHECK(r.error_status == 400);
}

TEST_CASE("fuzz_parser: empty lines before an unknown method do not hide the verdict")
{
    // The first 32 bytes, empty lines included, decided 501 or 400; with 14
    // CRLFs first they held "BREW " and no more, the rest of the buffer was
    // never looked at, and the request waited for the header timeout.
    std::string brew;
    for (int i = 0; i < 14; ++i) brew += "\r\n";
    brew += "BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n";
    const std::string garbage = "\r\n" + std::string(30, 'j') + std::string(1, '\0'); // the fuzzer's input
    struct Row {
        int line;
        const std::string& input;
        int status;
    };
    const Row rows[] = {{__LINE__, brew, 501}, {__LINE__, garbage, 400}};
    for (const Row& row : rows) {
        CAPTURE(row.line);
        // Whole, and byte by byte: the same verdict.
        RequestParser whole(ParseLimits{});
        const ParseResult r = whole.feed(row.input.data(), row.input.size());
        CHECK(r.status == ParseStatus::Error);
        CHECK(r.error_status == row.status);
        RequestParser dribbled(ParseLimits{});
        ParseResult last;
        for (std::size_t i = 0; i < row.input.size() && last.status != ParseStatus::Error; ++i)
            last = dribbled.feed(row.input.data() + i, 1);
        CHECK(last.status == ParseStatus::Error);
        CHECK(last.error_status == row.status);
    }
}

TEST_CASE("fuzz_range: range lengths near 2^63 do not wrap the amplification check")
{
    // Five or six open ranges of a file of 2^62 bytes or more added up past
    // 2^64 and wrapped below the file size: 206 with the whole file instead
    // of the documented 200.
    struct Row {
        int line;
        std::uint64_t size;
        const char* header;
    };
    const Row rows[] = {
        {__LINE__, std::uint64_t(1) << 62, "bytes=0-,1-,2-,3-,4-"},
        {__LINE__, 0x64916c0000205fffULL, "bytes= 10-,0-,0-,0-,0-,0-"}, // the fuzzer's input
    };
    for (const Row& row : rows) {
        CAPTURE(row.line);
        const RangeResult r = parse_range(row.header, row.size);
        CHECK(r.outcome == RangeOutcome::Full);
        CHECK(r.ranges.empty());
    }
    // One range of the whole huge file is still a range.
    const RangeResult one = parse_range("bytes=0-", std::uint64_t(1) << 62);
    REQUIRE(one.outcome == RangeOutcome::Ranges);
    CHECK(one.ranges == std::vector<ByteRange>{{0, (std::uint64_t(1) << 62) - 1}});
}

TEST_CASE("fuzz_mime: a mime.types type that is not type/subtype never reaches Content-Type")
{
    // Input "\x08\x0b!": the type "\x08" (a control byte) for the extension
    // "!", which would have gone into a response head as it was.
    char path[] = "/tmp/mime-fuzz-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    {
        std::ofstream f(path, std::ios::binary);
        f << "\x08\x0b!\n"
          << "text\x01/plain ctl\n"
          << "noslash ns\n"
          << "/nosub ns2\n"
          << "image/ nosub3\n"
          << "a/b/c twoslash\n"
          << "application/vnd.ok+json ok\n";
    }
    const MimeTable t(path);
    std::remove(path);
    for (const char* name : {"x.!", "x.ctl", "x.ns", "x.ns2", "x.nosub3", "x.twoslash"}) {
        CAPTURE(name);
        CHECK(t.content_type(name) == MimeTable::kDefault);
    }
    CHECK(t.content_type("x.ok") == "application/vnd.ok+json");
}
