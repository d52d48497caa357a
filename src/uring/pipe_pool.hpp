// Pipes for the file -> pipe -> socket splice, created at start-up and reused.
//
// A pipe that still holds bytes would hand them to the next response (or make
// its chain hang), so a pipe comes back either known-empty or "maybe dirty";
// the latter is drained through the ring into /dev/null before anyone gets it
// again. Pipes are O_NONBLOCK so that drain can never block on an empty pipe.
// The pool grows on demand up to a bound, through IORING_OP_PIPE where the
// kernel has it (no syscall) and pipe2 otherwise.
#pragma once

#include "sys/unique_fd.hpp"
#include "uring/ring.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace splicehttpd::uring {

struct Pipe {
    sys::UniqueFd read;
    sys::UniqueFd write;
    std::uint32_t capacity = 0; // bytes, a multiple of the page size
    std::uint32_t index = 0;    // slot in the pool, used in user_data
    std::uint64_t submitted_ns = 0;
};

struct PipePoolOptions {
    unsigned initial = 4;
    unsigned max = 64;
    std::uint32_t size = 1u << 20;
};

struct PipePoolStats {
    unsigned total = 0;
    unsigned free = 0;
    unsigned draining = 0;
    std::uint64_t drained = 0;  // drains that found bytes left behind
    std::uint64_t replaced = 0; // pipes closed because a drain failed
};

class PipePool {
public:
    PipePool(Ring& ring, const PipePoolOptions& options);

    // A clean pipe, or nullptr when none is free: then the pool starts growing
    // if it may, and the caller asks again later (the worker's pipe queue
    // does, each loop turn).
    Pipe* take();
    // Back to the pool: at once when known to be empty, else drained first.
    void give_back(Pipe* pipe, bool maybe_dirty) noexcept;
    // A pipe is on its way back to the free list (being drained or created).
    [[nodiscard]] bool incoming() const noexcept { return draining_ > 0 || creating_; }

    void on_drain(std::uint32_t index, int res) noexcept;
    void on_created(int res) noexcept;

    [[nodiscard]] PipePoolStats stats() const noexcept;
    [[nodiscard]] const Pipe* pipe(std::uint32_t index) const noexcept
    {
        return index < pipes_.size() ? pipes_[index].get() : nullptr;
    }
    [[nodiscard]] std::uint64_t create_submitted_ns() const noexcept { return create_submitted_ns_; }
    [[nodiscard]] bool grows_through_ring() const noexcept { return ring_pipe_; }

private:
    void grow();
    void adopt(int read_fd, int write_fd);
    void discard(std::uint32_t index) noexcept;
    unsigned live() const noexcept;

    Ring& ring_;
    PipePoolOptions options_;
    std::vector<std::unique_ptr<Pipe>> pipes_; // stable addresses; null = empty slot
    std::vector<Pipe*> free_;
    sys::UniqueFd devnull_;
    bool ring_pipe_ = false;
    bool creating_ = false;
    int created_fds_[2] = {-1, -1}; // IORING_OP_PIPE writes here
    std::uint64_t create_submitted_ns_ = 0;
    unsigned draining_ = 0;
    std::uint64_t drained_ = 0;
    std::uint64_t replaced_ = 0;
};

} // namespace splicehttpd::uring
