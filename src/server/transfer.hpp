// The transfer: from a response plan and how far the socket has got, what the
// next linked chain asks of the ring, and what its completions mean. Pure: the
// sender only turns Steps into SQEs (uring::Chain links them) and feeds each
// CQE to account().
//
// Kernel facts this encodes (docs/design.md has the long version):
//  - a short splice breaks the link: what follows is cancelled, so every chain
//    resumes from the cursor, never from what was asked;
//  - a short send with MSG_WAITALL fails the link too, but a short send
//    without it does not, so a send with anything linked behind it carries
//    MSG_WAITALL (wait_all) and only the last step of a chain may be short;
//  - a send without MSG_DONTWAIT waits inside the kernel while the socket is
//    full, even on an O_NONBLOCK socket (io_uring polls and retries), holding
//    the pipe of its chain: every send carries MSG_DONTWAIT, and a full
//    socket comes back as -EAGAIN or a short count (tests/kernel/send_dontwait.c);
//  - a pipe holds capacity / kPage pages, not bytes: a chunk starting at a
//    file offset that is not page-aligned fits capacity - offset % kPage;
//  - sockets are non-blocking: a splice to a full socket returns -EAGAIN (or
//    what fitted), and the connection waits for POLLOUT through the ring.
#pragma once

#include "http/response.hpp"
#include "sys/assert.hpp"

#include <array>
#include <cstdint>

namespace splicehttpd::server::transfer {

inline constexpr std::uint64_t kPage = 4096;
// The most one send or splice is asked to move (the kernel's own limit for a
// single read/write is a little under 2 GiB).
inline constexpr std::uint32_t kMaxIo = 1u << 30;
// Steps in one chain: a response's framing sends plus its splice pairs, and
// the reads of an in-memory body (at most http::kMaxRanges holes).
inline constexpr unsigned kMaxSteps = 48;

struct Step {
    enum class Kind : std::uint8_t { Read, Send, SpliceIn, SpliceOut };
    Kind kind = Kind::Send;
    std::uint64_t mem = 0;  // Send: source offset in the plan's memory; Read: destination
    std::uint64_t file = 0; // Read, SpliceIn, Send from_file: file offset
    std::uint32_t len = 0;
    bool more = false;      // more of this response follows (MSG_MORE, SPLICE_F_MORE)
    bool wait_all = false;  // Send: a step is linked behind it (MSG_WAITALL)
    bool from_file = false; // Send: the file's bytes, from an in-memory copy of the whole file
    friend bool operator==(const Step&, const Step&) = default;
};

// The steps of one chain (or of an in-memory body's reads), in order.
struct Steps {
    std::array<Step, kMaxSteps> steps{};
    unsigned count = 0;

    void push(const Step& s) noexcept
    {
        SPLICEHTTPD_ASSERT(count < kMaxSteps);
        steps[count++] = s;
    }
    [[nodiscard]] const Step* begin() const noexcept { return steps.data(); }
    [[nodiscard]] const Step* end() const noexcept { return steps.data() + count; }
};

// How far a response has got: bytes the socket took, and bytes sitting in
// the pipe (spliced from the file, not yet to the socket).
struct Cursor {
    std::uint64_t delivered = 0;
    std::uint64_t in_pipe = 0;
    friend bool operator==(const Cursor&, const Cursor&) = default;
};

struct Limits {
    std::uint32_t pipe_capacity = 0; // 0: no pipe (a memory-only plan)
    unsigned pairs = 4;              // (file->pipe, pipe->socket) pairs per chain
    unsigned steps = kMaxSteps;
    // The whole file is in memory (the open-file cache holds its bytes):
    // file segments are sent from there, no pipe, no copy into the plan.
    bool file_in_memory = false;
    // kTLS (the kernel encrypts what the socket is given): its sendmsg
    // refuses MSG_WAITALL (EOPNOTSUPP), so a send ends its chain; and the
    // record that MSG_MORE keeps open is dropped at the close, not sent,
    // so a closing response's last step does not hold back.
    bool kernel_tls = false;
};

// The next chain, starting at the cursor: the bytes in the pipe first, then
// the plan's segments in order, until the chain is full. Empty when the
// response is complete.
Steps next_chain(const http::ResponsePlan& plan, Cursor cursor, const Limits& limits) noexcept;

// A body small enough to go out from memory: the plan is rewritten to one
// memory segment in wire order, with holes that reads from the file fill.
// Returns the chain of those reads (empty when the plan has no file bytes).
// A read runs inline in the ring when the page cache has the data, unlike a
// splice, which always takes an io-wq hop; and no pipe is needed.
Steps inline_file_body(http::ResponsePlan& plan);

// What one chain's completions added up to.
struct Outcome {
    bool failed = false;      // an error, or the file shrank: abort the connection
    bool socket_full = false; // -EAGAIN from the socket: wait for POLLOUT
};

// One completion of a step of the current chain.
void account(const Step& step, int res, Cursor& cursor, Outcome& outcome) noexcept;

enum class Next : std::uint8_t { Done, Continue, WaitWritable, Abort };

// After the chain's last completion. `start` is the cursor it began from.
Next after_chain(Cursor start, Cursor now, std::uint64_t total, Outcome outcome) noexcept;

} // namespace splicehttpd::server::transfer
