// Connections waiting on a timeout, one queue per kind of timeout (idle
// keep-alive, request head, send progress, lingering close). Every entry of a
// queue has the same timeout, and a connection (re)enters a queue with the
// time of this loop turn, so appending at the tail keeps each queue ordered
// by deadline: the tick looks at the expired heads only, never at every
// connection.
//
// Intrusive: the link lives in the connection, and entering, moving and
// leaving a queue allocate nothing.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace splicehttpd::server {

enum class Deadline : std::uint8_t { Idle, Request, Send, Linger, None };
inline constexpr std::size_t kDeadlineQueues = std::size_t(Deadline::None);

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
    // Puts the link in `queue` with the timeout running from `since` (moving
    // it if it was elsewhere); Deadline::None takes it out of all queues.
    void place(DeadlineLink& link, Deadline queue, std::uint64_t since) noexcept
    {
        if (link.queue == queue && (queue == Deadline::None || link.since == since)) return;
        remove(link);
        if (queue == Deadline::None) return;
        link.queue = queue;
        link.since = since;
        Ends& q = ends_[std::size_t(queue)];
        // Almost always the tail; walk back only for an older start.
        DeadlineLink* after = q.tail;
        while (after && after->since > since) after = after->prev;
        link.prev = after;
        link.next = after ? after->next : q.head;
        (link.next ? link.next->prev : q.tail) = &link;
        (after ? after->next : q.head) = &link;
        ++size_[std::size_t(queue)];
    }

    void remove(DeadlineLink& link) noexcept
    {
        if (link.queue == Deadline::None) return;
        Ends& q = ends_[std::size_t(link.queue)];
        (link.prev ? link.prev->next : q.head) = link.next;
        (link.next ? link.next->prev : q.tail) = link.prev;
        --size_[std::size_t(link.queue)];
        link.prev = link.next = nullptr;
        link.queue = Deadline::None;
    }

    // Takes every link of `queue` whose timeout started before `cutoff` out
    // of the queue, then calls on_expired(owner) for each, oldest first. The
    // callback may place links again (in any queue): they are not revisited.
    template <typename F>
    void expire(Deadline queue, std::uint64_t cutoff, F&& on_expired)
    {
        Ends& q = ends_[std::size_t(queue)];
        expired_.clear();
        while (q.head && q.head->since < cutoff) {
            expired_.push_back(q.head->owner);
            remove(*q.head);
        }
        for (std::uint32_t owner : expired_) on_expired(owner);
    }

    [[nodiscard]] std::size_t size(Deadline queue) const noexcept { return size_[std::size_t(queue)]; }

private:
    struct Ends {
        DeadlineLink* head = nullptr;
        DeadlineLink* tail = nullptr;
    };
    std::array<Ends, kDeadlineQueues> ends_{};
    std::array<std::size_t, kDeadlineQueues> size_{};
    std::vector<std::uint32_t> expired_; // reused: no allocation once grown
};

} // namespace splicehttpd::server
