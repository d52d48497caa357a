#include "tls/buffers.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace splicehttpd::tls;

TEST_CASE("OutputBuffer: bytes stay put under appends; drained blocks are freed")
{
    OutputBuffer out;
    CHECK(out.front().empty());
    out.append(std::string_view("hello"));
    const char* where = out.front().data();
    // An SQE would point at `where` now; more records arrive meanwhile.
    const std::string big(OutputBuffer::kBlockBytes, 'x');
    out.append(big);
    CHECK(out.front().data() == where);
    CHECK(std::string_view(out.front().data(), 5) == "hello");
    CHECK(out.size() == 5 + big.size());
    CHECK(out.blocks() == 2);
    CHECK(out.front().size() == OutputBuffer::kBlockBytes); // the first block is full
    out.consume(3);
    CHECK(out.front().data() == where + 3);
    out.consume(OutputBuffer::kBlockBytes - 3);
    CHECK(out.blocks() == 1);
    CHECK(out.front().size() == 5);
    out.consume(5);
    CHECK(out.size() == 0);
    CHECK(out.blocks() == 0);
    CHECK(out.front().empty());
}

TEST_CASE("OutputBuffer: a write larger than a block gets a block of its own size")
{
    OutputBuffer out;
    const std::string huge(3 * OutputBuffer::kBlockBytes, 'y');
    out.append(huge);
    CHECK(out.blocks() == 1);
    CHECK(out.front().size() == huge.size());
}

TEST_CASE("InputBuffer: takes in order, across appends")
{
    InputBuffer in;
    char buf[8];
    CHECK(in.take(buf) == 0);
    in.append(std::string_view("abcdef"));
    CHECK(in.take(std::span(buf, 4)) == 4);
    CHECK(std::string_view(buf, 4) == "abcd");
    in.append(std::string_view("gh"));
    CHECK(in.size() == 4);
    CHECK(in.take(buf) == 4);
    CHECK(std::string_view(buf, 4) == "efgh");
    CHECK(in.size() == 0);
}

namespace {

std::string record(unsigned char type, const std::string& payload)
{
    std::string r;
    r += char(type);
    r += "\x03\x03";
    r += char(payload.size() >> 8);
    r += char(payload.size() & 0xff);
    return r + payload;
}

} // namespace

TEST_CASE("RecordScanner: counts records and keeps the last one's first 8 payload bytes, in any cut")
{
    const std::string stream = record(22, "handshake") + record(20, "\x01") + record(22, "ABCDEFGHrest of it") +
                               record(23, std::string(20000, 'z'));
    for (std::size_t cut : {std::size_t(1), std::size_t(3), std::size_t(7), std::size_t(4096), stream.size()}) {
        CAPTURE(cut);
        RecordScanner s;
        std::array<std::uint8_t, 8> last{};
        CHECK_FALSE(s.last_prefix(last));
        for (std::size_t i = 0; i < stream.size(); i += cut) s.scan(std::string_view(stream).substr(i, cut));
        CHECK(s.records() == 4);
        REQUIRE(s.last_prefix(last));
        CHECK(std::string(last.begin(), last.end()) == "zzzzzzzz");
    }
    RecordScanner s;
    s.scan(record(22, "ABCDEFGHrest"));
    std::array<std::uint8_t, 8> last{};
    REQUIRE(s.last_prefix(last));
    CHECK(std::string(last.begin(), last.end()) == "ABCDEFGH");
    s.scan(record(21, "\x01")); // a record too short for 8 bytes has none
    CHECK_FALSE(s.last_prefix(last));
    CHECK(s.records() == 2);
}
