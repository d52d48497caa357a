#include "uring/user_data.hpp"

#include <doctest/doctest.h>

using namespace splicehttpd::uring;

TEST_CASE("user_data packs and unpacks every field")
{
    struct Row {
        int line;
        UserData ud;
    };
    const Row rows[] = {
        {__LINE__, {Op::Accept, 0, 0, 0xFFFFFFFFu}},   {__LINE__, {Op::Recv, 0, 1, 0}},
        {__LINE__, {Op::SpliceOut, 39, 0xFFFF, 1023}}, {__LINE__, {Op::Statx, 255, 0x1234, 0x89ABCDEFu}},
        {__LINE__, {Op::Timeout, 1, 0x8000, 7}},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        const UserData back = UserData::unpack(r.ud.pack());
        CHECK(back == r.ud);
    }
}

TEST_CASE("a different generation is a different user_data")
{
    const UserData a{Op::Send, 3, 7, 42};
    UserData b = a;
    ++b.gen;
    CHECK(a.pack() != b.pack());
    CHECK(UserData::unpack(b.pack()).index == 42);
}

TEST_CASE("op names match the --debug vocabulary")
{
    CHECK(op_name(Op::Statx) == "statx");
    CHECK(op_name(Op::Openat) == "openat");
    CHECK(op_name(Op::Send) == "send");
    CHECK(op_name(Op::SpliceIn) == "splice");
    CHECK(op_name(Op::SpliceOut) == "splice");
    CHECK(op_name(Op::Accept) == "accept");
    CHECK(op_name(Op::Recv) == "recv");
}
