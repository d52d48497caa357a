#include "server/deadlines.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <vector>

using splicehttpd::server::Deadline;
using splicehttpd::server::DeadlineLink;
using splicehttpd::server::DeadlineQueues;

namespace {

struct Fixture {
    DeadlineQueues q;
    std::vector<std::unique_ptr<DeadlineLink>> links;
    explicit Fixture(unsigned n)
    {
        for (unsigned i = 0; i < n; ++i) links.push_back(std::make_unique<DeadlineLink>(i));
    }
    std::vector<std::uint32_t> expire(Deadline d, std::uint64_t cutoff)
    {
        std::vector<std::uint32_t> out;
        q.expire(d, cutoff, [&](std::uint32_t owner) { out.push_back(owner); });
        return out;
    }
};

} // namespace

TEST_CASE("deadlines: only entries older than the cutoff expire, oldest first")
{
    Fixture f(4);
    f.q.place(*f.links[0], Deadline::Idle, 10);
    f.q.place(*f.links[1], Deadline::Idle, 20);
    f.q.place(*f.links[2], Deadline::Idle, 30);
    f.q.place(*f.links[3], Deadline::Send, 5);
    CHECK(f.q.size(Deadline::Idle) == 3);
    CHECK(f.expire(Deadline::Idle, 20) == std::vector<std::uint32_t>{0}); // 20 is not before 20
    CHECK(f.links[0]->queue == Deadline::None);
    CHECK(f.expire(Deadline::Idle, 31) == std::vector<std::uint32_t>{1, 2});
    CHECK(f.q.size(Deadline::Idle) == 0);
    CHECK(f.q.size(Deadline::Send) == 1); // other queues untouched
    CHECK(f.expire(Deadline::Send, 6) == std::vector<std::uint32_t>{3});
}

TEST_CASE("deadlines: moving to the tail restarts the timeout; None leaves")
{
    Fixture f(3);
    f.q.place(*f.links[0], Deadline::Send, 10);
    f.q.place(*f.links[1], Deadline::Send, 11);
    f.q.place(*f.links[2], Deadline::Send, 12);
    f.q.place(*f.links[0], Deadline::Send, 13); // progress: to the tail
    CHECK(f.expire(Deadline::Send, 13) == std::vector<std::uint32_t>{1, 2});
    f.q.place(*f.links[0], Deadline::None, 0);
    CHECK(f.q.size(Deadline::Send) == 0);
    CHECK(f.expire(Deadline::Send, 100).empty());
}

TEST_CASE("deadlines: a link is in one queue at a time")
{
    Fixture f(2);
    f.q.place(*f.links[0], Deadline::Request, 10);
    f.q.place(*f.links[0], Deadline::Send, 10);
    CHECK(f.q.size(Deadline::Request) == 0);
    CHECK(f.q.size(Deadline::Send) == 1);
    f.q.remove(*f.links[0]);
    f.q.remove(*f.links[0]); // twice is harmless
    CHECK(f.q.size(Deadline::Send) == 0);
}

TEST_CASE("deadlines: an older start is placed in order, not at the tail")
{
    Fixture f(4);
    f.q.place(*f.links[0], Deadline::Linger, 10);
    f.q.place(*f.links[1], Deadline::Linger, 30);
    f.q.place(*f.links[2], Deadline::Linger, 20);
    f.q.place(*f.links[3], Deadline::Linger, 5);
    CHECK(f.expire(Deadline::Linger, 25) == std::vector<std::uint32_t>{3, 0, 2});
    CHECK(f.expire(Deadline::Linger, 100) == std::vector<std::uint32_t>{1});
}

TEST_CASE("deadlines: the callback may place links again without being revisited")
{
    Fixture f(2);
    f.q.place(*f.links[0], Deadline::Idle, 1);
    f.q.place(*f.links[1], Deadline::Idle, 2);
    std::vector<std::uint32_t> seen;
    f.q.expire(Deadline::Idle, 10, [&](std::uint32_t owner) {
        seen.push_back(owner);
        f.q.place(*f.links[owner], Deadline::Idle, 3); // still expired by the cutoff
    });
    CHECK(seen == std::vector<std::uint32_t>{0, 1});
    CHECK(f.q.size(Deadline::Idle) == 2);
}
