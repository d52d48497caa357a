#include "uring/ring.hpp"

#include "sys/error.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <string>

namespace splicehttpd::uring {

namespace {

constexpr unsigned kPreferredFlags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;

} // namespace

Ring::Ring(const RingOptions& options)
{
    // Newest flags first; each fallback drops what an older kernel rejects.
    const unsigned attempts[] = {
        kPreferredFlags | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_SUBMIT_ALL,
        0,
    };
    int ret = -EINVAL;
    for (unsigned base : attempts) {
        io_uring_params params{};
        params.flags = base | IORING_SETUP_CQSIZE;
        params.cq_entries = options.cq_entries;
        ret = io_uring_queue_init_params(options.sq_entries, &ring_, &params);
        if (ret == 0) {
            flags_ = params.flags;
            break;
        }
        if (ret != -EINVAL) break;
    }
    sys::check_neg(ret, "io_uring_setup");

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
    if (io_uring_sq_space_left(&ring_) < n) io_uring_submit(&ring_);
}

int Ring::submit_and_wait(unsigned wait_nr) noexcept
{
    return io_uring_submit_and_wait(&ring_, wait_nr);
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
