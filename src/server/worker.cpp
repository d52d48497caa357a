#include "server/worker.hpp"

#include "sys/clock.hpp"
#include "uring/user_data.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace splicehttpd::server {

namespace {

using uring::Op;
using uring::UserData;

constexpr unsigned kRecvBuffers = 1024; // per worker, a power of two
constexpr unsigned kRecvBufferSize = 4096;
constexpr long kGraceSeconds = 10; // shutdown: how long in-flight responses may take

std::string result_text(int res)
{
    if (res >= 0) return std::to_string(res);
    const char* name = strerrorname_np(-res);
    return name ? std::string("-") + name : std::to_string(res);
}

} // namespace

Worker::Worker(unsigned id, const Shared& shared, sys::UniqueFd listener, int wake_fd,
               std::atomic<unsigned>& commands)
    : id_(id),
      shared_(shared),
      debug_(shared.config.debug),
      max_conns_(shared.config.max_conns),
      listener_(std::move(listener)),
      wake_fd_(wake_fd),
      commands_(commands)
{
    // Fixed-file table: [0, max_conns) sockets, allocated by multishot accept;
    // then two file slots per connection (the file, a precompressed sibling).
    uring::RingOptions ro;
    ro.fixed_files = 3 * max_conns_;
    ro.alloc_first = 0;
    ro.alloc_count = max_conns_;
    // SPLICE to a socket runs on io-wq (unbound work) and blocks while the
    // peer is slow; at most one per connection is ever in flight.
    ro.iowq_unbounded = max_conns_;
    ring_ = std::make_unique<uring::Ring>(ro);
    bufs_ = std::make_unique<uring::BufRing>(*ring_, 0, kRecvBuffers, kRecvBufferSize);

    const Config& c = shared.config;
    pipes_ = std::make_unique<sys::PipePool>(*ring_, sys::PipePoolOptions{c.pipes, c.pipes_max, c.pipe_size});

    if (id_ == 0) {
        const sys::Pipe* first = pipes_->pipe(0);
        spdlog::info("ring flags {:#x}; {} pipes of {} bytes per thread (at most {}), grown through {}",
                     ring_->setup_flags(), c.pipes, first ? first->capacity : 0, c.pipes_max,
                     pipes_->grows_through_ring() ? "IORING_OP_PIPE" : "pipe2");
    }

    conns_.reserve(max_conns_);
    free_conns_.reserve(max_conns_);
    for (std::uint32_t i = 0; i < max_conns_; ++i) conns_.push_back(std::make_unique<Connection>(*this, i));
    for (std::uint32_t i = max_conns_; i-- > 0;) free_conns_.push_back(i);
}

Worker::~Worker() = default;

void Worker::run()
{
    now_ns_ = sys::monotonic_ns();
    arm_accept();
    arm_wake();
    arm_tick();
    while (!(stopping_ && live_ == 0)) {
        int ret = ring_->submit_and_wait(1);
        now_ns_ = sys::monotonic_ns();
        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME) {
            spdlog::error("w{} io_uring_enter: {}", id_, std::strerror(-ret));
            break;
        }
        ring_->for_each_cqe([this](const io_uring_cqe& cqe) { dispatch(cqe); });
        serve_pipe_waiters();
    }
    // Let the last closes reach the kernel before the ring goes away.
    ring_->submit_and_wait(0);
}

void Worker::dispatch(const io_uring_cqe& cqe) noexcept
{
    const UserData ud = UserData::unpack(cqe.user_data);
    if (debug_) log_completion(ud, cqe);

    if (ud.index == kWorkerIndex) {
        switch (ud.op) {
        case Op::Accept: on_accept(cqe); break;
        case Op::Wake: on_wake(cqe.res); break;
        case Op::Timeout: on_grace_timeout(); break;
        case Op::Tick: on_tick(); break;
        default: break; // the accept's cancel
        }
        return;
    }
    switch (ud.op) {
    case Op::Drain: pipes_->on_drain(ud.index, cqe.res); return;
    case Op::PipeCreate: pipes_->on_created(cqe.res); return;
    case Op::CloseFile:
        // Only failures post a CQE (IOSQE_CQE_SKIP_SUCCESS).
        spdlog::warn("w{} close of a file slot failed: {}", id_, result_text(cqe.res));
        return;
    default: break;
    }
    if (ud.index >= conns_.size()) return;
    Connection& c = *conns_[ud.index];
    if (c.gen() != ud.gen || c.state() == Connection::State::Free) return; // stale: the slot was reused

    switch (ud.op) {
    case Op::Recv: c.on_recv(cqe); break;
    case Op::Statx: c.on_statx(cqe.res); break;
    case Op::Openat: c.on_openat(cqe.res); break;
    case Op::Send: c.on_send(ud.seq, cqe.res); break;
    case Op::SpliceIn: c.on_splice_in(ud.seq, cqe.res); break;
    case Op::SpliceOut: c.on_splice_out(ud.seq, cqe.res); break;
    case Op::Shutdown: c.on_shutdown(cqe.res); break;
    case Op::Cancel: c.on_cancel(cqe.res); break;
    case Op::CloseSocket: c.on_close_socket(cqe.res); break;
    default: break;
    }
}

void Worker::log_completion(const UserData& ud, const io_uring_cqe& cqe) const
{
    std::uint64_t started = 0;
    std::string_view who = "conn";
    std::string_view detail;
    switch (ud.op) {
    case Op::Accept: started = accept_submitted_ns_; who = "listener"; break;
    case Op::Wake: started = wake_submitted_ns_; who = "worker"; break;
    case Op::Tick: started = tick_submitted_ns_; who = "worker"; break;
    case Op::Drain:
        if (const sys::Pipe* p = pipes_->pipe(ud.index)) started = p->submitted_ns;
        who = "pipe";
        break;
    case Op::PipeCreate: started = pipes_->create_submitted_ns(); who = "pool"; break;
    default:
        if (ud.index < conns_.size()) started = conns_[ud.index]->submitted_ns(ud.op);
        break;
    }
    if (ud.op == Op::SpliceIn) detail = " file->pipe";
    if (ud.op == Op::SpliceOut) detail = " pipe->socket";
    if (ud.op == Op::Recv && (cqe.flags & IORING_CQE_F_MORE)) detail = " more";
    const std::uint64_t now = sys::monotonic_ns();
    const std::uint64_t us = started && now > started ? (now - started) / 1000 : 0;
    if (ud.index == kWorkerIndex)
        spdlog::debug("w{} {}({}) {} {}us{}", id_, uring::op_name(ud.op), result_text(cqe.res), who, us, detail);
    else
        spdlog::debug("w{} {}({}) {}={} {}us{}", id_, uring::op_name(ud.op), result_text(cqe.res), who, ud.index,
                      us, detail);
}

// ---------------------------------------------------------------- accept

void Worker::arm_accept() noexcept
{
    io_uring_sqe* sqe = ring_->get_sqe();
    // Blocking sockets on purpose: a splice to the socket then waits (on
    // io-wq) for room instead of failing with -EAGAIN; SO_SNDTIMEO, inherited
    // from the listener, bounds that wait.
    io_uring_prep_multishot_accept_direct(sqe, listener_.get(), nullptr, nullptr, 0);
    io_uring_sqe_set_data64(sqe, UserData{Op::Accept, 0, 0, kWorkerIndex}.pack());
    accept_submitted_ns_ = sys::monotonic_ns();
    accept_armed_ = true;
}

void Worker::on_accept(const io_uring_cqe& cqe) noexcept
{
    if (!(cqe.flags & IORING_CQE_F_MORE)) accept_armed_ = false;
    if (cqe.res >= 0) {
        if (free_conns_.empty() || stopping_) {
            io_uring_sqe* sqe = ring_->get_sqe();
            io_uring_prep_close_direct(sqe, unsigned(cqe.res));
            sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
            io_uring_sqe_set_data64(sqe, UserData{Op::CloseFile, 0, 0, kWorkerIndex}.pack());
        } else {
            std::uint32_t index = free_conns_.back();
            free_conns_.pop_back();
            ++live_;
            ++accepted_;
            conns_[index]->open(cqe.res);
        }
    } else if (cqe.res == -ENFILE) {
        accept_blocked_ = true; // every socket slot is taken
    } else if (cqe.res != -ECANCELED) {
        spdlog::warn("w{} accept: {}", id_, result_text(cqe.res));
    }
    if (!accept_armed_ && !accept_blocked_ && !stopping_) arm_accept();
}

void Worker::release(Connection& c) noexcept
{
    c.reset_for_reuse();
    free_conns_.push_back(c.index());
    --live_;
    if (accept_blocked_ && !stopping_) {
        accept_blocked_ = false;
        if (!accept_armed_) arm_accept();
    }
}

// ---------------------------------------------------------------- pipes

void Worker::wait_for_pipe(Connection& c)
{
    pipe_waiters_.emplace_back(c.index(), c.gen());
}

void Worker::serve_pipe_waiters() noexcept
{
    while (!pipe_waiters_.empty()) {
        auto [index, gen] = pipe_waiters_.front();
        Connection& c = *conns_[index];
        if (c.gen() != gen || c.state() != Connection::State::WaitingPipe) {
            pipe_waiters_.pop_front(); // closed while it waited
            continue;
        }
        sys::Pipe* pipe = pipes_->acquire(); // grows the pool if it may
        if (!pipe) return;
        pipe_waiters_.pop_front();
        c.on_pipe(pipe);
    }
}

// ---------------------------------------------------------------- commands

void Worker::arm_wake() noexcept
{
    io_uring_sqe* sqe = ring_->get_sqe();
    io_uring_prep_read(sqe, wake_fd_, &wake_buf_, sizeof wake_buf_, 0);
    io_uring_sqe_set_data64(sqe, UserData{Op::Wake, 0, 0, kWorkerIndex}.pack());
    wake_submitted_ns_ = sys::monotonic_ns();
}

void Worker::on_wake(int res) noexcept
{
    const unsigned commands = commands_.exchange(0);
    if (commands & kCommandStats) log_stats();
    if ((commands & kCommandStop) && !stopping_) begin_stop();
    if (res >= 0 || res == -EAGAIN || res == -EINTR) arm_wake();
}

void Worker::begin_stop() noexcept
{
    stopping_ = true;
    if (accept_armed_) {
        io_uring_sqe* sqe = ring_->get_sqe();
        io_uring_prep_cancel64(sqe, UserData{Op::Accept, 0, 0, kWorkerIndex}.pack(), 0);
        io_uring_sqe_set_data64(sqe, UserData{Op::Cancel, 0, 0, kWorkerIndex}.pack());
    }
    // New connections go nowhere; the kernel refuses them once every worker
    // has closed its listener.
    listener_.reset();
    for (auto& c : conns_) c->stop();

    grace_.tv_sec = kGraceSeconds;
    io_uring_sqe* sqe = ring_->get_sqe();
    io_uring_prep_timeout(sqe, &grace_, 0, 0);
    io_uring_sqe_set_data64(sqe, UserData{Op::Timeout, 0, 0, kWorkerIndex}.pack());
}

void Worker::arm_tick() noexcept
{
    tick_.tv_sec = 1;
    io_uring_sqe* sqe = ring_->get_sqe();
    io_uring_prep_timeout(sqe, &tick_, 0, 0);
    io_uring_sqe_set_data64(sqe, UserData{Op::Tick, 0, 0, kWorkerIndex}.pack());
    tick_submitted_ns_ = sys::monotonic_ns();
}

void Worker::on_tick() noexcept
{
    for (auto& c : conns_) c->on_tick(now_ns_);
    arm_tick();
}

void Worker::on_grace_timeout() noexcept
{
    if (live_ > 0) spdlog::warn("w{} {} connections still busy after {}s: closing them", id_, live_, kGraceSeconds);
    for (auto& c : conns_) c->abort();
}

void Worker::log_stats() const
{
    unsigned file_slots = 0;
    for (const auto& c : conns_) file_slots += c->open_file_slots();
    const sys::PipePoolStats p = pipes_->stats();
    spdlog::info("w{} stats: connections={} accepted={} file_slots={} pipes={} pipes_free={} pipes_draining={} "
                 "pipes_drained={} pipes_replaced={} pipe_waiters={}",
                 id_, live_, accepted_, file_slots, p.total, p.free, p.draining, p.drained, p.replaced,
                 pipe_waiters_.size());
}

} // namespace splicehttpd::server
