#include "server/deadlines.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <utility>
#include <vector>

using splicehttpd::server::Deadline;
using splicehttpd::server::DeadlineLink;
using splicehttpd::server::DeadlineQueues;

namespace {

using Expired = std::vector<std::pair<Deadline, std::uint32_t>>;

DeadlineQueues::Timeouts timeouts(std::uint64_t idle, std::uint64_t send, std::uint64_t recheck = 1,
                                  std::uint64_t linger = 5)
{
    DeadlineQueues::Timeouts t{};
    t[std::size_t(Deadline::Idle)] = idle;
    t[std::size_t(Deadline::Request)] = idle;
    t[std::size_t(Deadline::Send)] = send;
    t[std::size_t(Deadline::Recheck)] = recheck;
    t[std::size_t(Deadline::Listing)] = send;
    t[std::size_t(Deadline::Linger)] = linger;
    return t;
}

struct Fixture {
    DeadlineQueues q;
    std::vector<std::unique_ptr<DeadlineLink>> links;
    Fixture(unsigned n, const DeadlineQueues::Timeouts& t) : q(t)
    {
        for (unsigned i = 0; i < n; ++i) links.push_back(std::make_unique<DeadlineLink>(i));
    }
    Expired expire(std::uint64_t now)
    {
        Expired out;
        q.expire(now, [&](Deadline kind, std::uint32_t owner) { out.emplace_back(kind, owner); });
        return out;
    }
};

} // namespace

TEST_CASE("deadlines: only entries past their kind's timeout expire, oldest first")
{
    Fixture f(4, timeouts(10, 20));
    f.q.place(*f.links[3], Deadline::Send, 5);
    f.q.place(*f.links[0], Deadline::Idle, 10);
    f.q.place(*f.links[1], Deadline::Idle, 20);
    f.q.place(*f.links[2], Deadline::Idle, 30);
    CHECK(f.q.size(Deadline::Idle) == 3);
    CHECK(f.expire(20).empty()); // 10 + 10 is not before 20
    CHECK(f.expire(21) == Expired{{Deadline::Idle, 0}});
    CHECK(f.links[0]->queue == Deadline::None);
    CHECK(f.q.size(Deadline::Send) == 1); // its own timeout: not yet
    // Kind by kind (in the enum's order), oldest first in each.
    CHECK(f.expire(41) == Expired{{Deadline::Idle, 1}, {Deadline::Idle, 2}, {Deadline::Send, 3}});
    CHECK(f.q.size(Deadline::Idle) == 0);
}

TEST_CASE("deadlines: each kind has its own timeout")
{
    Fixture f(3, timeouts(75, 60, 1));
    f.q.place(*f.links[0], Deadline::Send, 100);
    f.q.place(*f.links[1], Deadline::Recheck, 100);
    f.q.place(*f.links[2], Deadline::Idle, 100);
    CHECK(f.expire(101).empty());
    CHECK(f.expire(102) == Expired{{Deadline::Recheck, 1}}); // its own timeout, not another kind's
    CHECK(f.expire(161) == Expired{{Deadline::Send, 0}});
    CHECK(f.expire(176) == Expired{{Deadline::Idle, 2}});
    CHECK(f.q.timeout(Deadline::Send) == 60);
}

TEST_CASE("deadlines: moving to the tail restarts the timeout; None leaves")
{
    Fixture f(3, timeouts(10, 10));
    f.q.place(*f.links[0], Deadline::Send, 10);
    f.q.place(*f.links[1], Deadline::Send, 11);
    f.q.place(*f.links[2], Deadline::Send, 12);
    f.q.place(*f.links[0], Deadline::Send, 13); // progress: to the tail
    CHECK(f.expire(23) == Expired{{Deadline::Send, 1}, {Deadline::Send, 2}});
    f.q.place(*f.links[0], Deadline::None, 0);
    CHECK(f.q.size(Deadline::Send) == 0);
    CHECK(f.expire(100).empty());
}

TEST_CASE("deadlines: placing again with the same start keeps the place")
{
    Fixture f(2, timeouts(10, 10));
    f.q.place(*f.links[0], Deadline::Send, 10);
    f.q.place(*f.links[1], Deadline::Send, 12);
    f.q.place(*f.links[0], Deadline::Send, 10); // nothing changed: not moved behind link 1
    CHECK(f.expire(23) == Expired{{Deadline::Send, 0}, {Deadline::Send, 1}});
}

TEST_CASE("deadlines: a link is in one queue at a time")
{
    Fixture f(2, timeouts(10, 10));
    f.q.place(*f.links[0], Deadline::Request, 10);
    f.q.place(*f.links[0], Deadline::Send, 10);
    CHECK(f.q.size(Deadline::Request) == 0);
    CHECK(f.q.size(Deadline::Send) == 1);
    f.q.remove(*f.links[0]);
    f.q.remove(*f.links[0]); // twice is harmless
    CHECK(f.q.size(Deadline::Send) == 0);
}

TEST_CASE("deadlines: the callback may place links again without being revisited")
{
    Fixture f(2, timeouts(5, 5));
    f.q.place(*f.links[0], Deadline::Idle, 1);
    f.q.place(*f.links[1], Deadline::Idle, 2);
    Expired seen;
    f.q.expire(10, [&](Deadline kind, std::uint32_t owner) {
        seen.emplace_back(kind, owner);
        f.q.place(*f.links[owner], Deadline::Linger, 10); // where the handler's new state waits
    });
    CHECK(seen == Expired{{Deadline::Idle, 0}, {Deadline::Idle, 1}});
    CHECK(f.q.size(Deadline::Linger) == 2);
    CHECK(f.expire(15).empty());
    CHECK(f.expire(16) == Expired{{Deadline::Linger, 0}, {Deadline::Linger, 1}});
}

TEST_CASE("deadlines: a shortened timeout applies to the links already waiting")
{
    Fixture f(1, timeouts(10, 10, 1, 5));
    f.q.place(*f.links[0], Deadline::Linger, 100);
    CHECK(f.expire(101).empty());
    f.q.shorten_timeout(Deadline::Linger, 0); // stopping: lingering ends at the next tick
    CHECK(f.expire(101) == Expired{{Deadline::Linger, 0}});
}
