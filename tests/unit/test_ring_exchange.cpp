// The ring under SQPOLL (reserve makes room for a whole chain) and what a
// spare exchange keeps.
#include "server/exchange.hpp"
#include "uring/ring.hpp"

#include <doctest/doctest.h>

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

using splicehttpd::uring::Ring;
using splicehttpd::uring::RingOptions;

namespace {

// A restricted or sandboxed environment may refuse an SQPOLL ring: skip then.
bool make_sqpoll_ring(std::unique_ptr<Ring>& out, unsigned entries)
{
    RingOptions ro;
    ro.sq_entries = entries;
    ro.cq_entries = entries * 4;
    ro.sqpoll = true;
    ro.sqpoll_idle_ms = 1; // the SQ thread sleeps almost at once
    try {
        out = std::make_unique<Ring>(ro);
    } catch (const std::exception& e) {
        MESSAGE("no SQPOLL ring here: " << e.what());
        return false;
    }
    return true;
}

} // namespace

// uring::Chain relies on reserve(n): the n SQEs of a linked chain go to the
// kernel in one submit. With SQPOLL a submit only publishes the SQEs; the
// room comes back when the SQ thread has read them, so reserve() must wait
// for it, or get_sqe() submits the chain's first half on its own (with
// IOSQE_IO_LINK on its last SQE) and the second half runs unlinked.
TEST_CASE("Ring::reserve makes room under SQPOLL")
{
    for (int attempt = 0; attempt < 5; ++attempt) {
        std::unique_ptr<Ring> ring;
        if (!make_sqpoll_ring(ring, 64)) return;
        // Let the SQ thread go to sleep: a submit then only wakes it.
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        io_uring* raw = ring->raw();
        const unsigned entries = raw->sq.ring_entries;
        for (unsigned i = 0; i < entries; ++i) {
            io_uring_sqe* sqe = io_uring_get_sqe(raw);
            REQUIRE(sqe != nullptr);
            io_uring_prep_nop(sqe);
        }
        REQUIRE(io_uring_sq_space_left(raw) == 0);
        ring->reserve(8);
        CHECK(io_uring_sq_space_left(raw) >= 8);
        // The chain's SQEs now come from that room, none by a submit.
        unsigned got = 0;
        for (unsigned i = 0; i < 8; ++i) got += io_uring_get_sqe(raw) != nullptr;
        CHECK(got == 8);
    }
}

// A spare exchange keeps its plan's memory only up to keep_bytes: past it the
// buffer must really go (`plan = {}` moves an empty, short-string-optimised
// string in, and libstdc++ then keeps the old buffer).
TEST_CASE("Exchange::reset gives a large plan's memory back")
{
    splicehttpd::server::Exchange x{splicehttpd::http::ParseLimits{}};
    splicehttpd::http::ResponsePlan& plan = x.send.plan();
    plan.status = 200;
    plan.memory.assign(1 << 20, 'x');
    plan.segments.push_back({splicehttpd::http::Segment::Kind::Memory, 0, 1 << 20});
    x.reset(80 * 1024);
    CHECK(plan.memory.empty());
    CHECK(plan.memory.capacity() <= 80 * 1024);
    CHECK(plan.segments.empty());

    // Below the bound the buffer stays, for the next response.
    plan.memory.assign(4096, 'y');
    const std::size_t kept = plan.memory.capacity();
    x.reset(80 * 1024);
    CHECK(plan.memory.capacity() == kept);
}
