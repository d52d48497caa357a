// One io_uring per worker thread: set-up flags with fallback, the probe, the
// fixed-file table, and the provided-buffer ring used by multishot recv.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace splicehttpd::uring {

// liburing 2.3 predates IORING_OP_PIPE (kernel 6.16); we fill its SQE by hand.
inline constexpr std::uint8_t kOpPipe = 62;

// Whether rings created from now on are restricted (IORING_SETUP_R_DISABLED,
// then IORING_REGISTER_RESTRICTIONS to the opcodes, SQE flags and register
// operations listed in ring.cpp, then IORING_REGISTER_ENABLE_RINGS). On by
// default; main() turns it off for --no-sandbox.
void set_restricted(bool on) noexcept;

struct KernelCheck {
    std::string problem; // empty: every required opcode is there; else one line to print
    std::string release; // uname -r
    bool ring_pipe = false;
};

// The start-up probe: a small ring is set up (as the workers' will be,
// restricted unless set_restricted(false)) and every opcode the server needs
// is looked for. Names what is missing and the kernel that has it.
KernelCheck check_kernel();

struct RingOptions {
    unsigned sq_entries = 1024;
    unsigned cq_entries = 8192;
    unsigned fixed_files = 0;  // size of the sparse fixed-file table
    unsigned alloc_first = 0;  // [alloc_first, alloc_first + alloc_count) is where
    unsigned alloc_count = 0;  // multishot accept may allocate slots
    unsigned iowq_bounded = 0; // io-wq worker caps; 0 keeps the kernel default
    unsigned iowq_unbounded = 0;
    // IORING_SETUP_SQPOLL: a kernel thread submits (it sleeps after
    // sqpoll_idle_ms without work), and waiting spins on the CQ briefly
    // before it enters the kernel, so a busy ring makes no syscalls.
    bool sqpoll = false;
    unsigned sqpoll_idle_ms = 1000;
};

class Ring {
public:
    explicit Ring(const RingOptions& options);
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;
    ~Ring();

    io_uring* raw() noexcept { return &ring_; }

    // An SQE to fill; if the SQ is full what is queued is submitted first.
    io_uring_sqe* get_sqe() noexcept;

    // Makes room for n SQEs that must go in the same submit (a linked chain
    // cut in two by a submit would run its second half unlinked).
    void reserve(unsigned n) noexcept;

    // The one io_uring_enter of a loop turn (with DEFER_TASKRUN this is also
    // where completions are produced).
    int submit_and_wait(unsigned wait_nr) noexcept;
    // Submits, and makes what completed meanwhile visible without waiting:
    // under DEFER_TASKRUN completions are task work that only an enter with
    // GETEVENTS runs, which submit_and_wait(0) does not ask for.
    int submit_and_get_events() noexcept;

    [[nodiscard]] bool supports(std::uint8_t opcode) const noexcept;
    [[nodiscard]] unsigned setup_flags() const noexcept { return flags_; }

    // Calls f(const io_uring_cqe&) for every ready CQE, then marks them seen.
    template <class F>
    unsigned for_each_cqe(F&& f)
    {
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(&ring_, head, cqe)
        {
            f(*cqe);
            ++seen;
        }
        io_uring_cq_advance(&ring_, seen);
        return seen;
    }

private:
    io_uring ring_{};
    io_uring_probe* probe_ = nullptr;
    unsigned flags_ = 0;
    bool sqpoll_ = false;
};

// A provided-buffer ring (liburing 2.3 has no io_uring_setup_buf_ring, so the
// ring memory is mapped here). Each buffer goes back to the kernel as soon as
// its bytes have been parsed or copied.
class BufRing {
public:
    BufRing(Ring& ring, std::uint16_t group, unsigned entries, unsigned buf_size);
    BufRing(const BufRing&) = delete;
    BufRing& operator=(const BufRing&) = delete;
    ~BufRing();

    [[nodiscard]] std::uint16_t group() const noexcept { return group_; }
    [[nodiscard]] unsigned buf_size() const noexcept { return buf_size_; }
    [[nodiscard]] const char* data(std::uint16_t bid) const noexcept { return buffers_ + std::size_t(bid) * buf_size_; }
    void recycle(std::uint16_t bid) noexcept;

private:
    Ring& ring_;
    std::uint16_t group_;
    unsigned entries_;
    unsigned buf_size_;
    io_uring_buf_ring* br_ = nullptr;
    std::size_t br_bytes_ = 0;
    char* buffers_ = nullptr;
    std::size_t buffers_bytes_ = 0;
};

} // namespace splicehttpd::uring
