#include "server/worker.hpp"

#include "http/access_log.hpp"
#include "plural.hpp"
#include "server/access_log_file.hpp"
#include "sys/assert.hpp"
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
// Accepts kept armed at once, each into a free connection's slot. A queued
// client is accepted inline when its accept is submitted, so a few suffice.
constexpr unsigned kAcceptsArmed = 16;
// Exchanges kept for reuse when connections go idle: enough for every
// request in flight on a busy worker; past it, memory goes back.
constexpr std::size_t kSpareExchanges = 256;
// Access log bytes a worker gathers before handing them to the writer thread.
constexpr std::size_t kAccessBatch = 16 * 1024;
// A spare keeps a plan's memory up to an in-memory body of the default
// --inline-max and its head; a larger one is given back, or a burst of large
// inline bodies would stay resident (kSpareExchanges of them) for good.
constexpr std::size_t kSparePlanBytes = 64 * 1024 + 16 * 1024;

std::string result_text(int res)
{
    if (res >= 0) return std::to_string(res);
    const char* name = strerrorname_np(-res);
    return name ? std::string("-") + name : std::to_string(res);
}

} // namespace

Worker::Worker(unsigned id, const Shared& shared, sys::UniqueFd listener, int wake_fd, std::atomic<unsigned>& commands)
    : id_(id),
      shared_(shared),
      debug_(shared.config.debug),
      max_conns_(shared.config.max_conns),
      listener_(std::move(listener)),
      wake_fd_(wake_fd),
      commands_(commands)
{
    // Fixed-file table: one socket slot per connection, slot = connection
    // index. Files are plain descriptors (see Connection::submit_lookup).
    uring::RingOptions ro;
    ro.fixed_files = max_conns_;
    // Splices (and statx, and reads of cold files) run on io-wq. With
    // non-blocking sockets none of them sleeps on a peer, so a few workers
    // serve any number of connections.
    ro.iowq_bounded = shared.config.io_workers;
    ro.iowq_unbounded = shared.config.io_workers;
    ro.sqpoll = shared.config.sqpoll;
    ro.sqpoll_idle_ms = shared.config.sqpoll_idle_ms;
    ring_ = std::make_unique<uring::Ring>(ro);
    bufs_ = std::make_unique<uring::BufRing>(*ring_, 0, kRecvBuffers, kRecvBufferSize);

    const Config& c = shared.config;
    pipes_ = std::make_unique<uring::PipePool>(*ring_, uring::PipePoolOptions{c.pipes, c.pipes_max, c.pipe_size});

    if (id_ == 0) {
        const uring::Pipe* first = pipes_->pipe(0);
        spdlog::info("ring flags {:#x}; {} of {} bytes per thread (at most {}), grown through {}", ring_->setup_flags(),
                     plural(c.pipes, "pipe"), first ? first->capacity : 0, c.pipes_max,
                     pipes_->grows_through_ring() ? "IORING_OP_PIPE" : "pipe2");
    }

    FileCacheOptions fo;
    fo.enabled = c.cache;
    fo.ttl_ns = std::uint64_t(c.cache_ttl_ms) * 1'000'000;
    fo.max_entries = c.cache_entries;
    fo.max_body_bytes = c.cache_bytes;
    files_ = std::make_unique<FileCache>(fo, [this](int fd) {
        // Through the ring, like every close; a CQE only if it fails.
        io_uring_sqe* sqe = worker_sqe(Op::CloseFile);
        io_uring_prep_close(sqe, fd);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    });

    if (c.autoindex) {
        DirListerOptions lo;
        lo.listing.dotfiles = c.dotfiles;
        lo.cache = c.cache;
        lo.ttl_ns = fo.ttl_ns;
        lo.memory_budget = c.listing_memory;
        lo.worker = id_;
        lister_ = std::make_unique<DirLister>(lo);
    }

    // Connections are made when first needed, lowest index first, and kept
    // for reuse: memory follows the most clients ever at once, not the
    // --max-conns capacity.
    conns_.resize(max_conns_);
    free_conns_.reserve(max_conns_);
    for (std::uint32_t i = max_conns_; i-- > 0;) free_conns_.push_back(i);
    spare_exchanges_.reserve(kSpareExchanges);
    if (shared.access_log) access_batch_.reserve(kAccessBatch + 4096);
}

Worker::~Worker() = default;

void Worker::run()
{
    now_ns_ = sys::monotonic_ns();
    fill_accepts();
    arm_wake();
    arm_tick();
    if (lister_) arm_listings();
    while (!(stopping_ && live_ == 0 && accepts_armed_ == 0)) {
        int ret = ring_->submit_and_wait(1);
        now_ns_ = sys::monotonic_ns();
        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME) {
            spdlog::error("w{} io_uring_enter: {}", id_, std::strerror(-ret));
            break;
        }
        ring_->for_each_cqe([this](const io_uring_cqe& cqe) { dispatch(cqe); });
        serve_pipe_waiters();
        fill_accepts();
    }
    // Let the last closes reach the kernel before the ring goes away.
    ring_->submit_and_wait(0);
    hand_over_access_lines();
}

void Worker::dispatch(const io_uring_cqe& cqe) noexcept
{
    const UserData ud = UserData::unpack(cqe.user_data);
    if (debug_) log_completion(ud, cqe);

    switch (ud.op) {
    // worker-level
    case Op::Wake: return on_wake(cqe.res);
    case Op::Timeout: return on_grace_timeout();
    case Op::Tick: return on_tick();
    case Op::Listing: return on_listings(cqe.res);
    case Op::CancelAccept: return; // the accept itself completes with -ECANCELED
    case Op::Cork: return;         // failed (only failures post a CQE): the response goes uncorked
    case Op::Drain: return pipes_->on_drain(ud.index, cqe.res);
    case Op::PipeCreate: return pipes_->on_created(cqe.res);
    case Op::CloseFile:
        // Only failures post a CQE (IOSQE_CQE_SKIP_SUCCESS).
        spdlog::warn("w{} close of a file failed: {}", id_, result_text(cqe.res));
        return;
    default: break;
    }
    if (ud.index >= conns_.size() || !conns_[ud.index]) return;
    Connection& c = *conns_[ud.index];
    if (c.gen() != ud.gen || c.state() == Connection::State::Free) return; // stale: the slot was reused

    if (ud.op == Op::Accept) {
        --accepts_armed_;
        if (cqe.res >= 0) {
            ++live_;
            ++accepted_;
        }
    }
    c.on_cqe(ud.op, ud.seq, cqe);
}

void Worker::log_completion(const UserData& ud, const io_uring_cqe& cqe) const
{
    std::uint64_t started = 0;
    std::string_view who = ud.index == kWorkerIndex ? "worker" : "conn";
    std::string_view detail;
    switch (ud.op) {
    case Op::Wake:
        started = wake_submitted_ns_;
        who = "worker";
        break;
    case Op::Tick:
        started = tick_submitted_ns_;
        who = "worker";
        break;
    case Op::Drain:
        if (const uring::Pipe* p = pipes_->pipe(ud.index)) started = p->submitted_ns;
        who = "pipe";
        break;
    case Op::PipeCreate:
        started = pipes_->create_submitted_ns();
        who = "pool";
        break;
    default:
        if (ud.index < conns_.size() && conns_[ud.index]) started = conns_[ud.index]->submitted_ns(ud.op);
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
        spdlog::debug("w{} {}({}) {}={} {}us{}", id_, uring::op_name(ud.op), result_text(cqe.res), who, ud.index, us,
                      detail);
}

// ---------------------------------------------------------------- accept

// Keeps a few accepts armed, each into the socket slot of a free connection.
// When every connection is taken none is armed, and new clients wait in the
// listen backlog until a slot frees: never accepted only to be dropped.
void Worker::fill_accepts() noexcept
{
    while (!stopping_ && !accept_paused_ && accepts_armed_ < kAcceptsArmed && !free_conns_.empty()) {
        auto& slot = conns_[free_conns_.back()];
        free_conns_.pop_back();
        if (!slot) slot = std::make_unique<Connection>(*this, std::uint32_t(&slot - conns_.data()));
        Connection& c = *slot;
        c.arm_accept(listener_.get());
        ++accepts_armed_;
    }
}

void Worker::on_accept_failed(Connection& c, int res) noexcept
{
    free_conns_.push_back(c.index());
    if (res == -ECANCELED || res == -ECONNABORTED) return;
    // Out of descriptors or memory: do not spin; the tick tries again.
    spdlog::warn("w{} accept: {}", id_, result_text(res));
    accept_paused_ = true;
}

void Worker::release(Connection& c) noexcept
{
    free_conns_.push_back(c.index());
    --live_;
}

Exchange* Worker::acquire_exchange()
{
    if (spare_exchanges_.empty()) {
        ++exchanges_;
        return new Exchange(shared_.config.limits);
    }
    Exchange* x = spare_exchanges_.back().release();
    spare_exchanges_.pop_back();
    return x;
}

void Worker::release_exchange(Exchange* x) noexcept
{
    std::unique_ptr<Exchange> owned(x);
    if (spare_exchanges_.size() >= kSpareExchanges) {
        --exchanges_;
        return; // destroyed
    }
    owned->reset(std::min<std::size_t>(shared_.config.inline_max + 16 * 1024, kSparePlanBytes));
    spare_exchanges_.push_back(std::move(owned));
}

void Worker::line_logged() noexcept
{
    if (access_batch_.size() >= kAccessBatch) hand_over_access_lines();
}

void Worker::hand_over_access_lines() noexcept
{
    if (access_batch_.empty() || !shared_.access_log) return;
    shared_.access_log->write(access_batch_);
    access_batch_.clear();
}

std::string_view Worker::log_time()
{
    const std::time_t now = std::time(nullptr); // vDSO
    if (now != log_time_sec_) {
        log_time_ = http::format_log_time(now);
        log_time_sec_ = now;
    }
    return log_time_;
}

// ---------------------------------------------------------------- pipes

PipeAnswer Worker::ask_pipe(Connection& c, bool may_refuse)
{
    if (pipe_waiters_.empty()) {
        if (uring::Pipe* pipe = pipes_->acquire()) { // grows the pool if it may
            c.on_pipe(pipe);
            return PipeAnswer::Granted;
        }
    }
    if (may_refuse && pipe_waiters_.size() >= shared_.config.pipe_queue) return PipeAnswer::Refused;
    pipe_waiters_.emplace_back(c.index(), c.gen());
    return PipeAnswer::Queued;
}

void Worker::park(Connection& c)
{
    // Once per connection: an entry stays until taken, and is checked then.
    if (c.parked) return;
    // Entries of connections that closed are skipped when taken; drop them
    // when they pile up.
    if (parked_.size() >= max_conns_) {
        std::erase_if(parked_, [this](const Ticket& t) { return conns_[t.first]->gen() != t.second; });
    }
    c.parked = true;
    parked_.emplace_back(c.index(), c.gen());
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
        uring::Pipe* pipe = pipes_->acquire(); // grows the pool if it may
        if (!pipe) return take_back_pipe();
        pipe_waiters_.pop_front();
        c.on_pipe(pipe);
    }
}

// Someone waits for a pipe and none is free: take one back from the
// connection that has waited longest for its peer to read. Its bytes in the
// pipe are dropped (the pipe is drained) and spliced from the file again
// when the peer is ready. One at a time, and only while no pipe is already
// on its way back.
void Worker::take_back_pipe() noexcept
{
    if (pipes_->incoming()) return;
    while (!parked_.empty()) {
        auto [index, gen] = parked_.front();
        parked_.pop_front();
        Connection& c = *conns_[index];
        if (c.gen() != gen) continue; // closed since
        c.parked = false;
        if (c.state() == Connection::State::WaitingWritable && c.holds_pipe()) {
            c.yield_pipe();
            return;
        }
    }
}

// ---------------------------------------------------------------- commands

// prep_* leaves user_data alone, so it can be set before the SQE is filled.
io_uring_sqe* Worker::worker_sqe(Op op) noexcept
{
    io_uring_sqe* sqe = ring_->get_sqe();
    io_uring_sqe_set_data64(sqe, UserData{op, 0, 0, kWorkerIndex}.pack());
    return sqe;
}

void Worker::arm_wake() noexcept
{
    io_uring_prep_read(worker_sqe(Op::Wake), wake_fd_, &wake_buf_, sizeof wake_buf_, 0);
    wake_submitted_ns_ = sys::monotonic_ns();
}

void Worker::on_wake(int res) noexcept
{
    const unsigned commands = commands_.exchange(0);
    if (commands & kCommandStats) log_stats();
    if ((commands & kCommandStop) && !stopping_) begin_stop();
    if (res >= 0 || res == -EAGAIN || res == -EINTR) arm_wake();
}

// ---------------------------------------------------------------- autoindex

DirLister::Answer Worker::list_directory(std::uint32_t index, std::uint16_t gen, int& dir_fd, const struct statx& stx,
                                         std::string_view rel_path)
{
    SPLICEHTTPD_ASSERT(lister_); // decide_lookup lists only with --autoindex
    if (!lister_) return {};     // Refused
    return lister_->find_or_queue(index, gen, dir_fd, stx, rel_path, now_ns_);
}

void Worker::arm_listings() noexcept
{
    io_uring_prep_read(worker_sqe(Op::Listing), lister_->event_fd(), lister_->event_buf(), sizeof(std::uint64_t), 0);
}

// The lister thread wrote its eventfd: hand each listing to the connection
// that asked, if it still waits (a connection closed since has a new gen).
void Worker::on_listings(int res) noexcept
{
    for (DirLister::Done& d : lister_->take_done(now_ns_)) {
        if (d.index >= conns_.size() || !conns_[d.index]) continue;
        Connection& c = *conns_[d.index];
        if (c.gen() != d.gen) continue; // closed since
        c.on_listing(d.ticket, std::move(d.listing), d.err);
    }
    if (res >= 0 || res == -EAGAIN || res == -EINTR)
        arm_listings();
    else
        spdlog::error("w{} autoindex eventfd read: {}", id_, result_text(res));
}

void Worker::begin_stop() noexcept
{
    stopping_ = true;
    for (const auto& c : conns_) {
        if (!c || c->state() != Connection::State::Accepting) continue;
        io_uring_prep_cancel64(worker_sqe(Op::CancelAccept), UserData{Op::Accept, 0, c->gen(), c->index()}.pack(), 0);
    }
    // New connections go nowhere; the kernel refuses them once every worker
    // has closed its listener.
    listener_.reset();
    for (auto& c : conns_)
        if (c) c->stop();

    grace_.tv_sec = shared_.config.shutdown_timeout; // --shutdown-timeout
    io_uring_prep_timeout(worker_sqe(Op::Timeout), &grace_, 0, 0);
}

void Worker::arm_tick() noexcept
{
    tick_.tv_sec = 1;
    io_uring_prep_timeout(worker_sqe(Op::Tick), &tick_, 0, 0);
    tick_submitted_ns_ = sys::monotonic_ns();
}

void Worker::on_tick() noexcept
{
    accept_paused_ = false;
    // Only connections whose timeout ran out: each queue is in deadline order.
    const Config& config = shared_.config;
    const std::uint64_t s = 1'000'000'000;
    auto cutoff = [this](std::uint64_t timeout_ns) { return now_ns_ > timeout_ns ? now_ns_ - timeout_ns : 0; };
    auto expired = [this](std::uint32_t index) { conns_[index]->on_deadline(now_ns_); };
    deadlines_.expire(Deadline::Idle, cutoff(config.keepalive_timeout * s), expired);
    deadlines_.expire(Deadline::Request, cutoff(config.header_timeout * s), expired);
    deadlines_.expire(Deadline::Send, cutoff(config.send_timeout * s), expired);
    // Stopping: lingering closes end now, not after their few seconds.
    deadlines_.expire(Deadline::Linger, stopping_ ? UINT64_MAX : cutoff(Connection::kLingerNs), expired);
    files_->sweep(now_ns_);
    hand_over_access_lines();
    if (shared_.access_log) shared_.access_log->flush(); // lines reach the file within a second
    arm_tick();
}

void Worker::on_grace_timeout() noexcept
{
    if (live_ > 0)
        spdlog::warn("w{} {} still busy after {}s: closing {}", id_, plural(live_, "connection"),
                     shared_.config.shutdown_timeout, live_ == 1 ? "it" : "them");
    for (auto& c : conns_)
        if (c) c->abort();
}

void Worker::log_stats() const
{
    unsigned files = 0;
    unsigned waiting_pipe = 0;
    unsigned waiting_writable = 0;
    unsigned made = 0;
    for (const auto& c : conns_) {
        if (!c) continue;
        ++made;
        files += c->open_files();
        waiting_pipe += c->state() == Connection::State::WaitingPipe;
        waiting_writable += c->state() == Connection::State::WaitingWritable;
    }
    const uring::PipePoolStats p = pipes_->stats();
    const FileCacheStats fc = files_->stats();
    spdlog::info("w{} stats: connections={} accepted={} accepts_armed={} open_files={} pipes={} pipes_free={} "
                 "pipes_draining={} pipes_drained={} pipes_replaced={} pipe_waiters={} waiting_writable={} "
                 "parked={} connection_objects={} exchanges={} cached_files={} cache_retired={} cache_bytes={} "
                 "cache_hits={} cache_misses={}",
                 id_, live_, accepted_, accepts_armed_, files, p.total, p.free, p.draining, p.drained, p.replaced,
                 waiting_pipe, waiting_writable, parked_.size(), made, exchanges_, fc.entries, fc.retired,
                 fc.body_bytes, fc.hits, fc.misses);
}

} // namespace splicehttpd::server
