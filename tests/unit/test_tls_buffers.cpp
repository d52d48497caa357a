#include "tls/buffers.hpp"

#include <doctest/doctest.h>

#include <cstring>
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

TEST_CASE("OutputBuffer: reserve gives room after what is there, in a block of its own when the last lacks it")
{
    OutputBuffer out;
    out.append(std::string_view("head"));
    const char* where = out.front().data();
    auto room = out.reserve(100);
    CHECK(room.data() == where + 4); // right after, in the same block
    std::memset(room.data(), 'r', room.size());
    CHECK(out.size() == 4); // nothing counts before the commit
    out.commit(room.size());
    CHECK(out.size() == 104);
    CHECK(out.blocks() == 1);
    CHECK(std::string_view(out.front().data(), 6) == "headrr");
    // Too little room left in the last block: a new one, and what was
    // there stays put (a send may point at it).
    room = out.reserve(OutputBuffer::kBlockBytes - 50);
    CHECK(out.blocks() == 2);
    CHECK(out.front().data() == where);
    CHECK(out.front().size() == 104);
    out.commit(room.size());
    CHECK(out.size() == 104 + OutputBuffer::kBlockBytes - 50);
    out.consume(104);
    CHECK(out.front().data() == room.data());
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
