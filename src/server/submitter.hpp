// How a connection and its units (lookup, sender) put SQEs on the ring: each
// is tagged with (op, seq, generation, connection index) and counted in
// flight, so that the connection is freed only when every completion it
// asked for has come back, and a late one for a reused slot is dropped. The
// units get this, never the connection.
#pragma once

#include "sys/assert.hpp"
#include "sys/clock.hpp"
#include "uring/ring.hpp"
#include "uring/user_data.hpp"

#include <array>
#include <cstdint>

namespace splicehttpd::server {

class Submitter {
public:
    Submitter(uring::Ring& ring, std::uint32_t index, bool debug) noexcept : ring_(ring), index_(index), debug_(debug)
    {
    }
    Submitter(const Submitter&) = delete;
    Submitter& operator=(const Submitter&) = delete;

    [[nodiscard]] uring::Ring& ring() noexcept { return ring_; }
    [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
    [[nodiscard]] std::uint16_t gen() const noexcept { return gen_; }
    [[nodiscard]] unsigned in_flight() const noexcept { return in_flight_; }

    // A fresh SQE for op, tagged and counted.
    io_uring_sqe* sqe(uring::Op op, std::uint8_t seq = 0) noexcept { return tag(ring_.get_sqe(), op, seq); }

    // Tags an SQE already taken (a linked chain's) and counts it. prep_*
    // leaves user_data alone, so this may come before or after it.
    io_uring_sqe* tag(io_uring_sqe* sqe, uring::Op op, std::uint8_t seq = 0) noexcept
    {
        SPLICEHTTPD_ASSERT(uring::op_def(op).in_flight);
        io_uring_sqe_set_data64(sqe, user_data(op, seq));
        if (debug_) submitted_ns_[std::size_t(op)] = sys::monotonic_ns();
        ++in_flight_;
        return sqe;
    }

    // An SQE whose only completion is a failure, handled by the worker
    // (IOSQE_CQE_SKIP_SUCCESS): tagged, not counted.
    void tag_uncounted(io_uring_sqe* sqe, uring::Op op) noexcept
    {
        SPLICEHTTPD_ASSERT(!uring::op_def(op).in_flight);
        io_uring_sqe_set_data64(sqe, user_data(op, 0));
    }

    // Closes a plain descriptor through the ring. Never part of a chain (a
    // broken link would cancel it and leak the descriptor); no CQE unless it
    // fails.
    void close_file(int fd) noexcept
    {
        io_uring_sqe* sqe = ring_.get_sqe();
        io_uring_prep_close(sqe, fd);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        tag_uncounted(sqe, uring::Op::CloseFile);
    }

    [[nodiscard]] std::uint64_t user_data(uring::Op op, std::uint8_t seq) const noexcept
    {
        return uring::UserData{op, seq, gen_, index_}.pack();
    }

    // One of this connection's completions came back (a multishot recv's
    // intermediate ones do not count).
    void completed() noexcept
    {
        SPLICEHTTPD_ASSERT(in_flight_ > 0);
        --in_flight_;
    }

    // The slot is free again: later completions of this generation are stale.
    // Nothing may be in flight but what the kernel will still complete for
    // the old generation (the recv linked to a failed accept).
    void next_generation() noexcept
    {
        ++gen_;
        in_flight_ = 0;
    }

    [[nodiscard]] std::uint64_t submitted_ns(uring::Op op) const noexcept { return submitted_ns_[std::size_t(op)]; }

private:
    uring::Ring& ring_;
    const std::uint32_t index_;
    const bool debug_;
    std::uint16_t gen_ = 0;
    unsigned in_flight_ = 0; // CQEs still to come (a multishot recv counts once)
    std::array<std::uint64_t, std::size_t(uring::Op::Count_)> submitted_ns_{};
};

} // namespace splicehttpd::server
