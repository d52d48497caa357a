#include "uring/ring.hpp"

#include "sys/clock.hpp"
#include "sys/error.hpp"
#include "uring/user_data.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace splicehttpd::uring {

namespace {

constexpr unsigned kPreferredFlags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;

// --sqpoll: how long a wait spins on the CQ before it enters the kernel.
// Shorter spins (0.2 ms, 1 ms) left 0.2 and 0.16 io_uring_enter per
// request under ab -k -c 10 on a 2-core machine; 5 ms leaves ~0.01.
constexpr std::uint64_t kSqpollSpinNs = 5'000'000;

inline void cpu_relax() noexcept
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// ------------------------------------------------------------------------
// THE LIST of what a worker's ring may do. A restricted ring refuses any
// other opcode or SQE flag with -EACCES in the CQE, and any other
// io_uring_register operation with -EACCES, so submitting something new
// means adding it here (the start-up probe then checks the kernel has it).
struct Opcode {
    std::uint8_t op;
    const char* name;
    const char* since; // first kernel with it
    bool required;     // false: the server has a fallback
};
constexpr Opcode kOpcodes[] = {
    {IORING_OP_ACCEPT, "IORING_OP_ACCEPT", "5.5", true},             // accept into a socket slot
    {IORING_OP_RECV, "IORING_OP_RECV", "5.6", true},                 // multishot, provided buffers
    {IORING_OP_OPENAT2, "IORING_OP_OPENAT2", "5.6", true},           // lookup, RESOLVE_BENEATH
    {IORING_OP_STATX, "IORING_OP_STATX", "5.6", true},               // on the opened descriptor
    {IORING_OP_READ, "IORING_OP_READ", "5.6", true},                 // inline bodies, the wake eventfd
    {IORING_OP_SEND, "IORING_OP_SEND", "5.6", true},                 // heads, inline bodies
    {IORING_OP_SENDMSG, "IORING_OP_SENDMSG", "5.3", true},           // kTLS: close_notify (a cmsg)
    {IORING_OP_SPLICE, "IORING_OP_SPLICE", "5.7", true},             // file->pipe->socket, pipe drains
    {IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD", "5.1", true},         // waiting for POLLOUT
    {IORING_OP_CLOSE, "IORING_OP_CLOSE", "5.6", true},               // files, socket slots
    {IORING_OP_SHUTDOWN, "IORING_OP_SHUTDOWN", "5.11", true},        // aborting a connection
    {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL", "5.5", true}, // recv back-pressure, stop
    {IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT", "5.4", true},           // the tick, the shutdown grace
    {kOpPipe, "IORING_OP_PIPE", "6.16", false},                      // pool growth; else pipe2
    // SIOCOUTQ of a stalled socket (else the timeout alone); TCP_CORK of a
    // response that ends its connection (else MSG_MORE alone)
    {IORING_OP_URING_CMD, "IORING_OP_URING_CMD", "6.7", false},
};
// Every op the server submits is allowed (the op table names its opcode).
static_assert(
    [] {
        for (const OpDef& d : kOps) {
            if (d.op == Op::None) continue;
            bool listed = false;
            for (const Opcode& o : kOpcodes) listed = listed || o.op == d.opcode;
            if (!listed) return false;
        }
        return true;
    }(),
    "an op of kOps submits an opcode the ring restrictions refuse");
static_assert(op_def(Op::PipeCreate).opcode == kOpPipe);
constexpr std::uint8_t kSqeFlags =
    IOSQE_FIXED_FILE | IOSQE_IO_LINK | IOSQE_IO_HARDLINK | IOSQE_BUFFER_SELECT | IOSQE_CQE_SKIP_SUCCESS;
// Register operations after the ring is enabled (everything in Ring's
// constructor happens before): the provided-buffer ring (BufRing) and the
// teardown of it and of the registered ring fd.
constexpr std::uint8_t kRegisterOps[] = {IORING_REGISTER_PBUF_RING, IORING_UNREGISTER_PBUF_RING,
                                         IORING_UNREGISTER_RING_FDS};
// Features no probe shows: multishot recv (6.0), provided-buffer rings
// (5.19), direct accept and close (5.15), CQE_SKIP_SUCCESS (5.17).
constexpr int kMinMajor = 6, kMinMinor = 0;
constexpr const char* kMinWhy = "multishot recv";
// ------------------------------------------------------------------------

std::atomic<bool> g_restricted{true};

// probe: the ring's own (taken before, so the register calls stay as they
// were). Only opcodes this kernel knows are listed: it refuses the whole
// list (EINVAL) for one past its IORING_OP_LAST (IORING_OP_PIPE before
// 6.16), and an op it lacks cannot be submitted anyway.
int restrict_and_enable(io_uring* ring, const io_uring_probe* probe)
{
    std::vector<io_uring_restriction> res;
    for (const Opcode& o : kOpcodes) {
        if (!o.required && (!probe || !io_uring_opcode_supported(probe, o.op))) continue;
        io_uring_restriction r{};
        r.opcode = IORING_RESTRICTION_SQE_OP;
        r.sqe_op = o.op;
        res.push_back(r);
    }
    io_uring_restriction flags{};
    flags.opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
    flags.sqe_flags = kSqeFlags;
    res.push_back(flags);
    for (std::uint8_t op : kRegisterOps) {
        io_uring_restriction r{};
        r.opcode = IORING_RESTRICTION_REGISTER_OP;
        r.register_op = op;
        res.push_back(r);
    }
    // liburing 2.3 declares io_uring_register_restrictions and
    // io_uring_enable_rings, but Debian's liburing.so does not export them.
    auto reg = [ring](unsigned op, void* arg, unsigned nr) {
        long r = syscall(__NR_io_uring_register, ring->ring_fd, op, arg, nr);
        return r < 0 ? -errno : int(r);
    };
    int ret = reg(IORING_REGISTER_RESTRICTIONS, res.data(), unsigned(res.size()));
    if (ret < 0) return ret;
    return reg(IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
}

std::string errno_name(int err)
{
    const char* name = strerrorname_np(err);
    return fmt::format("{} ({})", std::strerror(err), name ? name : "?");
}

std::string read_sysctl(const char* path)
{
    std::string out;
    if (FILE* f = std::fopen(path, "re")) {
        char buf[64] = {};
        if (std::fgets(buf, sizeof buf, f)) out = buf;
        std::fclose(f);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

std::string setup_failure(int err, const std::string& release)
{
    std::string what = "io_uring_setup: " + errno_name(err) + ": ";
    if (err == ENOSYS)
        return what + fmt::format("Linux {} has no io_uring (CONFIG_IO_URING); splicehttpd needs Linux {}.{} or later",
                                  release, kMinMajor, kMinMinor);
    if (err == EPERM) {
        const std::string disabled = read_sysctl("/proc/sys/kernel/io_uring_disabled");
        if (disabled == "2") return what + "io_uring is disabled (sysctl kernel.io_uring_disabled=2; 0 enables it)";
        if (disabled == "1")
            return what + "io_uring is limited to root and the group in kernel.io_uring_group "
                          "(sysctl kernel.io_uring_disabled=1)";
        return what + "refused by a seccomp filter or the container runtime (Docker's default profile blocks io_uring)";
    }
    if (err == ENOMEM) return what + "out of memory for the ring (RLIMIT_MEMLOCK on kernels before 5.12)";
    if (err == EINVAL)
        return what + fmt::format("Linux {} rejects the set-up flags (IORING_SETUP_R_DISABLED needs 5.10, "
                                  "--no-sandbox does without it)",
                                  release);
    return what + "cannot create a ring";
}

bool older_than(const std::string& release, int major, int minor)
{
    int ma = 0, mi = 0;
    if (std::sscanf(release.c_str(), "%d.%d", &ma, &mi) != 2) return false;
    return ma < major || (ma == major && mi < minor);
}

} // namespace

void set_restricted(bool on) noexcept
{
    g_restricted = on;
}

KernelCheck check_kernel()
{
    KernelCheck out;
    utsname u{};
    if (uname(&u) == 0) out.release = u.release;

    io_uring ring{};
    io_uring_params params{};
    if (g_restricted) params.flags = IORING_SETUP_R_DISABLED;
    int ret = io_uring_queue_init_params(2, &ring, &params);
    if (ret < 0) {
        out.problem = setup_failure(-ret, out.release);
        return out;
    }
    struct Exit {
        io_uring* r;
        ~Exit() { io_uring_queue_exit(r); }
    } exit_ring{&ring};

    const std::size_t probe_bytes = sizeof(io_uring_probe) + 256 * sizeof(io_uring_probe_op);
    std::unique_ptr<io_uring_probe, decltype(&std::free)> probe(
        static_cast<io_uring_probe*>(std::calloc(1, probe_bytes)), &std::free);
    ret = io_uring_register_probe(&ring, probe.get(), 256);
    if (ret < 0) {
        out.problem = fmt::format("io_uring_register(IORING_REGISTER_PROBE): {}: the opcodes cannot be checked "
                                  "(Linux 5.6 has the probe; splicehttpd needs Linux {}.{})",
                                  errno_name(-ret), kMinMajor, kMinMinor);
        return out;
    }
    std::string missing;
    for (const Opcode& o : kOpcodes) {
        const bool has = io_uring_opcode_supported(probe.get(), o.op);
        if (o.op == kOpPipe) out.ring_pipe = has;
        if (!has && o.required) missing += fmt::format("{}{} (Linux {})", missing.empty() ? "" : ", ", o.name, o.since);
    }
    if (!missing.empty()) {
        out.problem = fmt::format("io_uring on Linux {} lacks {}: splicehttpd needs Linux {}.{} or later", out.release,
                                  missing, kMinMajor, kMinMinor);
        return out;
    }
    if (older_than(out.release, kMinMajor, kMinMinor)) {
        out.problem = fmt::format("Linux {} is too old: splicehttpd needs Linux {}.{} or later ({})", out.release,
                                  kMinMajor, kMinMinor, kMinWhy);
        return out;
    }
    if (g_restricted) {
        ret = restrict_and_enable(&ring, probe.get());
        if (ret < 0)
            out.problem = fmt::format("io_uring_register(IORING_REGISTER_RESTRICTIONS, ENABLE_RINGS): {}: rings "
                                      "cannot be restricted on Linux {} (5.10 has it; --no-sandbox does without)",
                                      errno_name(-ret), out.release);
    }
    return out;
}

Ring::Ring(const RingOptions& options)
{
    // Newest flags first; each fallback drops what an older kernel rejects.
    // DEFER_TASKRUN needs the submitting task to run completions, which an
    // SQPOLL ring does not have.
    const unsigned plain[] = {
        kPreferredFlags | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_SUBMIT_ALL,
        0,
    };
    const unsigned sqpoll[] = {
        IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_SQPOLL | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_SQPOLL,
    };
    const bool restricted = g_restricted;
    int ret = -EINVAL;
    for (unsigned base : options.sqpoll ? sqpoll : plain) {
        io_uring_params params{};
        params.flags = base | IORING_SETUP_CQSIZE | (restricted ? IORING_SETUP_R_DISABLED : 0);
        params.cq_entries = options.cq_entries;
        params.sq_thread_idle = options.sqpoll_idle_ms;
        ret = io_uring_queue_init_params(options.sq_entries, &ring_, &params);
        if (ret == 0) {
            flags_ = params.flags;
            break;
        }
        if (ret != -EINVAL) break;
    }
    sys::check_neg(ret, options.sqpoll ? "io_uring_setup(IORING_SETUP_SQPOLL)" : "io_uring_setup");
    sqpoll_ = (flags_ & IORING_SETUP_SQPOLL) != 0;

    try {
        // Saves an fget/fput of the ring itself on every io_uring_enter.
        io_uring_register_ring_fd(&ring_);

        if (options.fixed_files > 0) {
            sys::check_neg(io_uring_register_files_sparse(&ring_, options.fixed_files),
                           "io_uring_register_files_sparse(" + std::to_string(options.fixed_files) + ")");
            if (options.alloc_count > 0)
                sys::check_neg(io_uring_register_file_alloc_range(&ring_, options.alloc_first, options.alloc_count),
                               "io_uring_register_file_alloc_range");
        }
        if (options.iowq_bounded > 0 || options.iowq_unbounded > 0) {
            unsigned values[2] = {options.iowq_bounded, options.iowq_unbounded};
            sys::check_neg(io_uring_register_iowq_max_workers(&ring_, values), "io_uring_register_iowq_max_workers");
        }
        probe_ = io_uring_get_probe_ring(&ring_);
        // Last: from here on only what kOpcodes, kSqeFlags and kRegisterOps
        // allow. With SINGLE_ISSUER the enabling thread becomes the issuer.
        if (restricted)
            sys::check_neg(restrict_and_enable(&ring_, probe_), "io_uring_register(IORING_REGISTER_RESTRICTIONS)");
    } catch (...) {
        io_uring_queue_exit(&ring_);
        throw;
    }
}

Ring::~Ring()
{
    if (probe_) io_uring_free_probe(probe_);
    io_uring_queue_exit(&ring_);
}

io_uring_sqe* Ring::get_sqe() noexcept
{
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (!sqe) {
        io_uring_submit(&ring_);
        sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
}

void Ring::reserve(unsigned n) noexcept
{
    if (io_uring_sq_space_left(&ring_) >= n) return;
    io_uring_submit(&ring_);
    // SQPOLL: a submit only publishes the SQEs; their room comes back once
    // the SQ thread has read them. Wait for it here, or get_sqe would submit
    // the first part of a chain on its own. (The submit again wakes the
    // thread if it went to sleep; no syscall while it is awake.)
    while (sqpoll_ && io_uring_sq_space_left(&ring_) < n) {
        cpu_relax();
        io_uring_submit(&ring_);
    }
}

int Ring::submit_and_wait(unsigned wait_nr) noexcept
{
    if (sqpoll_ && wait_nr > 0) {
        // The SQ thread picks the SQEs up (a syscall only to wake it when it
        // slept); completions are waited for in user space for a while.
        const int ret = io_uring_submit(&ring_);
        if (ret < 0) return ret;
        const std::uint64_t until = sys::monotonic_ns() + kSqpollSpinNs;
        do {
            for (int i = 0; i < 64; ++i) {
                if (io_uring_cq_ready(&ring_) >= wait_nr) return 0;
                cpu_relax();
            }
        } while (sys::monotonic_ns() < until);
    }
    return io_uring_submit_and_wait(&ring_, wait_nr);
}

int Ring::submit_and_get_events() noexcept
{
    return io_uring_submit_and_get_events(&ring_);
}

bool Ring::supports(std::uint8_t opcode) const noexcept
{
    return probe_ && io_uring_opcode_supported(probe_, opcode);
}

BufRing::BufRing(Ring& ring, std::uint16_t group, unsigned entries, unsigned buf_size)
    : ring_(ring), group_(group), entries_(entries), buf_size_(buf_size)
{
    br_bytes_ = std::size_t(entries) * sizeof(io_uring_buf);
    void* mem = mmap(nullptr, br_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) sys::throw_errno("mmap(buffer ring)");
    br_ = static_cast<io_uring_buf_ring*>(mem);

    buffers_bytes_ = std::size_t(entries) * buf_size;
    mem = mmap(nullptr, buffers_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) {
        int err = errno;
        munmap(br_, br_bytes_);
        sys::throw_errno(err, "mmap(recv buffers)");
    }
    buffers_ = static_cast<char*>(mem);

    io_uring_buf_ring_init(br_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(br_);
    reg.ring_entries = entries;
    reg.bgid = group;
    int ret = io_uring_register_buf_ring(ring_.raw(), &reg, 0);
    if (ret < 0) {
        munmap(buffers_, buffers_bytes_);
        munmap(br_, br_bytes_);
        sys::throw_errno(-ret, "io_uring_register_buf_ring");
    }
    const int mask = io_uring_buf_ring_mask(entries);
    for (unsigned i = 0; i < entries; ++i)
        io_uring_buf_ring_add(br_, buffers_ + std::size_t(i) * buf_size, buf_size, std::uint16_t(i), mask, int(i));
    io_uring_buf_ring_advance(br_, int(entries));
}

BufRing::~BufRing()
{
    io_uring_unregister_buf_ring(ring_.raw(), group_);
    munmap(buffers_, buffers_bytes_);
    munmap(br_, br_bytes_);
}

void BufRing::recycle(std::uint16_t bid) noexcept
{
    io_uring_buf_ring_add(br_, buffers_ + std::size_t(bid) * buf_size_, buf_size_, bid,
                          io_uring_buf_ring_mask(entries_), 0);
    io_uring_buf_ring_advance(br_, 1);
}

} // namespace splicehttpd::uring
