// Who gets the next pipe: first come, first served. A response that needs a
// pipe gets one now (nobody waits before it and the pool has one, or can
// grow), a place in the queue, or, when the queue is full and its response
// has not started, a refusal (503). Each loop turn the worker hands free
// pipes to the waiters in order; when none is free it takes one back from
// the connection that has waited longest for its peer to read (parked: it
// waits for POLLOUT holding a pipe), whose bytes in the pipe are dropped
// (the pipe is drained) and spliced from the file again later.
//
// A ticket names a connection by (index, generation): it goes stale when
// the connection closes, and is skipped then. The queue never calls a
// connection: serve() asks the worker, through the functions it is given,
// whether a ticket still waits and hands it the pipe.
#pragma once

#include "sys/assert.hpp"
#include "uring/pipe_pool.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <vector>

namespace splicehttpd::server {

struct PipeTicket {
    std::uint32_t index = 0;
    std::uint16_t gen = 0;
    friend bool operator==(const PipeTicket&, const PipeTicket&) = default;
};

class PipeQueue {
public:
    struct Answer {
        enum class Kind : std::uint8_t { Granted, Queued, Refused };
        Kind kind = Kind::Refused;
        uring::Pipe* pipe = nullptr; // Granted
    };

    // max_waiters: --pipe-queue; connections: the size of the connection table.
    PipeQueue(std::size_t max_waiters, std::uint32_t connections)
        : max_waiters_(max_waiters), parked_gen_(connections, kNotParked)
    {
    }

    // still_waits(ticket): as for serve().
    template <typename StillWaits>
    Answer ask(PipeTicket t, bool may_refuse, uring::PipePool& pool, StillWaits&& still_waits)
    {
        if (waiters_.empty()) {
            if (uring::Pipe* pipe = pool.take()) return {Answer::Kind::Granted, pipe}; // grows the pool if it may
        }
        // Before a refusal, the tickets of connections that closed while they
        // waited go: serve() drops them only when it reaches them, and until
        // then they would count against --pipe-queue (503s with room left).
        if (may_refuse && waiters_.size() >= max_waiters_)
            std::erase_if(waiters_, [&still_waits](const PipeTicket& w) { return !still_waits(w); });
        if (may_refuse && waiters_.size() >= max_waiters_) return {Answer::Kind::Refused, nullptr};
        waiters_.push_back(t);
        return {Answer::Kind::Queued, nullptr};
    }

    [[nodiscard]] bool has_waiters() const noexcept { return !waiters_.empty(); }
    [[nodiscard]] std::size_t parked() const noexcept { return parked_.size(); }

    // t waits for POLLOUT holding a pipe: it may be taken back. Once per
    // ticket until taken: repeats are ignored.
    void park(PipeTicket t)
    {
        SPLICEHTTPD_ASSERT(t.index < parked_gen_.size());
        if (parked_gen_[t.index] == t.gen) return;
        // Entries of connections that closed are skipped when taken; drop
        // them when they pile up.
        if (parked_.size() >= parked_gen_.size())
            std::erase_if(parked_, [this](const PipeTicket& p) { return parked_gen_[p.index] != p.gen; });
        parked_gen_[t.index] = t.gen;
        parked_.push_back(t);
    }

    // Hands free pipes to the waiters, oldest first. still_waits(ticket):
    // does it still wait for a pipe (a closed connection does not);
    // grant(ticket, pipe) gives it one. When none is free, one is taken back:
    // take_back(ticket) asks a parked connection to give its pipe up, and
    // says whether it did (it may have got going or closed since).
    template <typename StillWaits, typename Grant, typename TakeBack>
    void serve(uring::PipePool& pool, StillWaits&& still_waits, Grant&& grant, TakeBack&& take_back)
    {
        while (!waiters_.empty()) {
            const PipeTicket t = waiters_.front();
            if (!still_waits(t)) {
                waiters_.pop_front(); // closed while it waited
                continue;
            }
            uring::Pipe* pipe = pool.take(); // grows the pool if it may
            if (!pipe) return take_back_one(pool, take_back);
            waiters_.pop_front();
            grant(t, pipe);
        }
    }

private:
    static constexpr std::uint32_t kNotParked = 0x10000; // no 16-bit generation

    // One at a time, and only while no pipe is already on its way back.
    template <typename TakeBack>
    void take_back_one(uring::PipePool& pool, TakeBack& take_back)
    {
        if (pool.incoming()) return;
        while (!parked_.empty()) {
            const PipeTicket t = parked_.front();
            parked_.pop_front();
            if (parked_gen_[t.index] != t.gen) continue; // closed since (and maybe parked again)
            parked_gen_[t.index] = kNotParked;
            if (take_back(t)) return;
        }
    }

    const std::size_t max_waiters_;
    std::deque<PipeTicket> waiters_;
    std::deque<PipeTicket> parked_;         // oldest first
    std::vector<std::uint32_t> parked_gen_; // by connection index: the generation parked, or kNotParked
};

} // namespace splicehttpd::server
