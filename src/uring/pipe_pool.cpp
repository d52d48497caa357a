#include "uring/pipe_pool.hpp"

#include "sys/assert.hpp"
#include "sys/clock.hpp"
#include "sys/error.hpp"
#include "uring/user_data.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

namespace splicehttpd::uring {

PipePool::PipePool(Ring& ring, const PipePoolOptions& options) : ring_(ring), options_(options)
{
    devnull_.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (!devnull_) sys::throw_errno("open(/dev/null)");
    ring_pipe_ = ring_.supports(kOpPipe);
    for (unsigned i = 0; i < options_.initial; ++i) {
        int fds[2];
        sys::check_libc(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), "pipe2");
        adopt(fds[0], fds[1]);
    }
}

unsigned PipePool::live() const noexcept
{
    return unsigned(std::count_if(pipes_.begin(), pipes_.end(), [](const auto& p) { return p != nullptr; }));
}

void PipePool::adopt(int read_fd, int write_fd)
{
    auto pipe = std::make_unique<Pipe>();
    pipe->read.reset(read_fd);
    pipe->write.reset(write_fd);
    // F_SETPIPE_SZ may be refused (fs.pipe-user-pages-soft exhausted for an
    // unprivileged user); then the pipe keeps its default size and chunks
    // are cut to whatever it really holds.
    int size = ::fcntl(write_fd, F_SETPIPE_SZ, int(options_.size));
    if (size < 0) size = ::fcntl(write_fd, F_GETPIPE_SZ);
    pipe->capacity = size > 0 ? std::uint32_t(size) : 4096u;

    auto slot = std::find(pipes_.begin(), pipes_.end(), nullptr);
    if (slot == pipes_.end()) slot = pipes_.insert(pipes_.end(), nullptr);
    pipe->index = std::uint32_t(slot - pipes_.begin());
    free_.push_back(pipe.get());
    *slot = std::move(pipe);
}

Pipe* PipePool::take()
{
    if (free_.empty()) {
        grow();
        if (free_.empty()) return nullptr;
    }
    Pipe* p = free_.back();
    free_.pop_back();
    return p;
}

void PipePool::grow()
{
    if (creating_ || live() >= options_.max) return;
    if (!ring_pipe_) {
        int fds[2];
        if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) adopt(fds[0], fds[1]);
        return;
    }
    // liburing 2.3 has no io_uring_prep_pipe: same SQE layout as pipe2's
    // arguments, fds array in addr and flags in the rw_flags union.
    io_uring_sqe* sqe = ring_.get_sqe();
    io_uring_prep_rw(kOpPipe, sqe, 0, created_fds_, 0, 0);
    sqe->rw_flags = O_NONBLOCK | O_CLOEXEC;
    io_uring_sqe_set_data64(sqe, UserData{Op::PipeCreate, 0, 0, 0}.pack());
    create_submitted_ns_ = sys::monotonic_ns();
    creating_ = true;
}

void PipePool::on_created(int res) noexcept
{
    creating_ = false;
    if (res < 0) {
        // Disabled by policy or a kernel quirk: keep serving with pipe2.
        spdlog::warn("IORING_OP_PIPE failed ({}), growing the pipe pool with pipe2", -res);
        ring_pipe_ = false;
        return;
    }
    try {
        adopt(created_fds_[0], created_fds_[1]);
    } catch (...) {
        ::close(created_fds_[0]);
        ::close(created_fds_[1]);
    }
}

void PipePool::give_back(Pipe* pipe, bool maybe_dirty) noexcept
{
    // Given back once: a pipe in the free list twice would serve two chains.
    SPLICEHTTPD_ASSERT(pipe && std::find(free_.begin(), free_.end(), pipe) == free_.end());
    if (!maybe_dirty) {
        free_.push_back(pipe);
        return;
    }
    // Non-blocking splice of the whole capacity into /dev/null: it takes
    // whatever is there and returns -EAGAIN if the pipe was empty after all.
    io_uring_sqe* sqe = ring_.get_sqe();
    io_uring_prep_splice(sqe, pipe->read.get(), -1, devnull_.get(), -1, pipe->capacity, SPLICE_F_NONBLOCK);
    io_uring_sqe_set_data64(sqe, UserData{Op::Drain, 0, 0, pipe->index}.pack());
    pipe->submitted_ns = sys::monotonic_ns();
    ++draining_;
}

void PipePool::on_drain(std::uint32_t index, int res) noexcept
{
    --draining_;
    if (index >= pipes_.size() || !pipes_[index]) return;
    if (res >= 0 || res == -EAGAIN) {
        if (res > 0) ++drained_;
        free_.push_back(pipes_[index].get());
        return;
    }
    // Could not empty it: never reuse, make a new one when needed.
    discard(index);
}

void PipePool::discard(std::uint32_t index) noexcept
{
    ++replaced_;
    pipes_[index].reset();
}

PipePoolStats PipePool::stats() const noexcept
{
    return PipePoolStats{live(), unsigned(free_.size()), draining_, drained_, replaced_};
}

} // namespace splicehttpd::uring
