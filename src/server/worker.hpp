// One worker per thread: its own ring, listening socket (SO_REUSEPORT),
// provided buffers, pipe pool and connection table, and the CQE loop that
// drives them. Nothing here is shared with other workers.
#pragma once

#include "http/date.hpp"
#include "server/connection.hpp"
#include "server/shared.hpp"
#include "sys/pipe_pool.hpp"
#include "sys/unique_fd.hpp"
#include "uring/ring.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

namespace splicehttpd::server {

// Commands the main thread posts (bit flags), then signals through the
// worker's eventfd.
enum Command : unsigned { kCommandStop = 1, kCommandStats = 2 };

enum class PipeAnswer : std::uint8_t { Granted, Queued, Refused };

class Worker {
public:
    Worker(unsigned id, const Shared& shared, sys::UniqueFd listener, int wake_fd,
           std::atomic<unsigned>& commands);
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker();

    // The CQE loop; returns once stopped and every connection has closed.
    void run();

    // For connections.
    uring::Ring& ring() noexcept { return *ring_; }
    uring::BufRing& bufs() noexcept { return *bufs_; }
    sys::PipePool& pipes() noexcept { return *pipes_; }
    const Shared& shared() const noexcept { return shared_; }
    std::string_view date() { return dates_.now(); }
    [[nodiscard]] bool stopping() const noexcept { return stopping_; }
    [[nodiscard]] bool debug() const noexcept { return debug_; }
    // The time of this loop turn (read once per turn, not per event).
    [[nodiscard]] std::uint64_t now_ns() const noexcept { return now_ns_; }

    // Pipes are handed out first come, first served: a pipe now (c.on_pipe
    // has run), a place in the queue, or — only for a response that has not
    // started, when the queue is full — a refusal (503).
    PipeAnswer ask_pipe(Connection& c, bool may_refuse);
    [[nodiscard]] bool pipe_waiters() const noexcept { return !pipe_waiters_.empty(); }
    // c waits for POLLOUT holding a pipe: the worker may take it back.
    void park(Connection& c);

    // c's socket slot is free again (its close completed, or its accept failed).
    void release(Connection& c) noexcept;
    void on_accept_failed(Connection& c, int res) noexcept;

private:
    static constexpr std::uint32_t kWorkerIndex = 0xFFFFFFFFu; // user_data index of worker-level ops

    void dispatch(const io_uring_cqe& cqe) noexcept;
    void log_completion(const uring::UserData& ud, const io_uring_cqe& cqe) const;
    void fill_accepts() noexcept;
    void arm_wake() noexcept;
    void on_wake(int res) noexcept;
    void begin_stop() noexcept;
    void on_grace_timeout() noexcept;
    void arm_tick() noexcept;
    void on_tick() noexcept;
    void serve_pipe_waiters() noexcept;
    void take_back_pipe() noexcept;
    void log_stats() const;

    const unsigned id_;
    const Shared& shared_;
    const bool debug_;
    const unsigned max_conns_;
    sys::UniqueFd listener_;
    int wake_fd_;
    std::atomic<unsigned>& commands_;

    std::unique_ptr<uring::Ring> ring_;
    std::unique_ptr<uring::BufRing> bufs_;
    std::unique_ptr<sys::PipePool> pipes_;
    std::vector<std::unique_ptr<Connection>> conns_;
    std::vector<std::uint32_t> free_conns_;
    using Ticket = std::pair<std::uint32_t, std::uint16_t>; // (index, gen): stale once gen moves on
    std::deque<Ticket> pipe_waiters_;
    std::deque<Ticket> parked_; // waiting for POLLOUT with a pipe, oldest first
    http::DateCache dates_;

    unsigned live_ = 0;            // connections with a socket
    unsigned accepts_armed_ = 0;   // connections waiting in an accept
    bool accept_paused_ = false;   // an accept failed: try again on the next tick
    bool stopping_ = false;
    std::uint64_t wake_buf_ = 0;
    __kernel_timespec grace_{};
    __kernel_timespec tick_{};
    std::uint64_t now_ns_ = 0;
    std::uint64_t wake_submitted_ns_ = 0;
    std::uint64_t tick_submitted_ns_ = 0;
    std::uint64_t accepted_ = 0;
};

} // namespace splicehttpd::server
