// Connections waiting on a timeout: one queue per kind of timeout, and the
// queue owns its timeout (idle keep-alive, request head, send progress, the
// second look at a stalled socket's queue, a listing, a lingering close).
// A connection enters a queue at its tail with the time of this loop turn,
// so every queue is in deadline order by construction (place() asserts it):
// the tick looks at the expired heads only, never at every connection, and
// calls the handler of each kind.
//
// Intrusive: the link lives in the connection, and entering, moving and
// leaving a queue allocate nothing.
#pragma once

#include "sys/assert.hpp"

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace splicehttpd::server {

enum class Deadline : std::uint8_t {
    Idle,      // between requests: --keepalive-timeout
    Request,   // a request head under way: --header-timeout
    Send,      // a response whose socket took no byte: --send-timeout
    Recheck,   // a stalled socket's queue, looked at again: the send timeout's second half
    Listing,   // waiting for the lister thread: --send-timeout
    Linger,    // our side shut, the peer's late input dropped: a few seconds
    Handshake, // HTTPS: from the accept until the TLS handshake is done: --tls-handshake-timeout
    None
};
inline constexpr std::size_t kDeadlineKinds = std::size_t(Deadline::None);

struct DeadlineLink {
    explicit DeadlineLink(std::uint32_t owner_index) noexcept : owner(owner_index) {}
    DeadlineLink(const DeadlineLink&) = delete;
    DeadlineLink& operator=(const DeadlineLink&) = delete;

    const std::uint32_t owner; // the connection's index
    Deadline queue = Deadline::None;
    std::uint64_t since = 0; // the timeout runs from here
    DeadlineLink* prev = nullptr;
    DeadlineLink* next = nullptr;
};

class DeadlineQueues {
public:
    using Timeouts = std::array<std::uint64_t, kDeadlineKinds>; // nanoseconds, by kind

    explicit DeadlineQueues(const Timeouts& timeouts_ns = {}) noexcept : timeouts_(timeouts_ns) {}

    [[nodiscard]] std::uint64_t timeout(Deadline kind) const noexcept { return timeouts_[std::size_t(kind)]; }
    // Every timeout at once, before any link is placed (the worker knows
    // some only once its ring is up).
    void set_timeouts(const Timeouts& timeouts_ns) noexcept
    {
        for (const std::size_t n : size_) SPLICEHTTPD_ASSERT(n == 0);
        timeouts_ = timeouts_ns;
    }
    // A kind's timeout from now on (stopping: lingering closes end at the
    // next tick). Only ever shortened: the queue stays in deadline order.
    void shorten_timeout(Deadline kind, std::uint64_t ns) noexcept
    {
        SPLICEHTTPD_ASSERT(ns <= timeouts_[std::size_t(kind)]);
        timeouts_[std::size_t(kind)] = ns;
    }

    // Puts the link at the tail of `kind`'s queue with its timeout running
    // from `since` (moving it if it was elsewhere, or leaving it where it is
    // if nothing changed); Deadline::None takes it out of every queue.
    // `since` is the time of this loop turn or the link's own: never older
    // than the tail's.
    void place(DeadlineLink& link, Deadline kind, std::uint64_t since) noexcept
    {
        if (link.queue == kind && (kind == Deadline::None || link.since == since)) return;
        remove(link);
        if (kind == Deadline::None) return;
        Ends& q = ends_[std::size_t(kind)];
        SPLICEHTTPD_ASSERT(!q.tail || q.tail->since <= since);
        link.queue = kind;
        link.since = since;
        link.prev = q.tail;
        link.next = nullptr;
        (q.tail ? q.tail->next : q.head) = &link;
        q.tail = &link;
        ++size_[std::size_t(kind)];
    }

    void remove(DeadlineLink& link) noexcept
    {
        if (link.queue == Deadline::None) return;
        Ends& q = ends_[std::size_t(link.queue)];
        (link.prev ? link.prev->next : q.head) = link.next;
        (link.next ? link.next->prev : q.tail) = link.prev;
        SPLICEHTTPD_ASSERT(size_[std::size_t(link.queue)] > 0);
        --size_[std::size_t(link.queue)];
        link.prev = link.next = nullptr;
        link.queue = Deadline::None;
    }

    // Takes every link whose timeout ran out by `now` (more than its kind's
    // timeout since it was placed) out of its queue, then calls
    // on_expired(kind, owner) for each, kind by kind, oldest first. The
    // callback may place links again (in any queue): they are not revisited.
    template <typename F>
    void expire(std::uint64_t now, F&& on_expired)
    {
        expired_.clear();
        for (std::size_t k = 0; k < kDeadlineKinds; ++k) {
            const std::uint64_t cutoff = now > timeouts_[k] ? now - timeouts_[k] : 0;
            Ends& q = ends_[k];
            while (q.head && q.head->since < cutoff) {
                expired_.emplace_back(Deadline(k), q.head->owner);
                remove(*q.head);
            }
        }
        for (const auto& [kind, owner] : expired_) on_expired(kind, owner);
    }

    [[nodiscard]] std::size_t size(Deadline kind) const noexcept { return size_[std::size_t(kind)]; }

private:
    struct Ends {
        DeadlineLink* head = nullptr;
        DeadlineLink* tail = nullptr;
    };
    Timeouts timeouts_;
    std::array<Ends, kDeadlineKinds> ends_{};
    std::array<std::size_t, kDeadlineKinds> size_{};
    std::vector<std::pair<Deadline, std::uint32_t>> expired_; // reused: no allocation once grown
};

} // namespace splicehttpd::server
