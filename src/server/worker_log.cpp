// What a worker reports: one --debug line per completion, the error log's
// lines through its rate limiter, the SIGUSR1 stats line, and its metrics
// (--metrics-listen).
#include "server/worker.hpp"

#include "sys/clock.hpp"
#include "uring/user_data.hpp"

#include <spdlog/spdlog.h>

#include <cstring>
#include <string>

namespace splicehttpd::server {

namespace {

using uring::Op;
using uring::UserData;

spdlog::level::level_enum spdlog_level(LogLevel level) noexcept
{
    switch (level) {
    case LogLevel::Error: return spdlog::level::err;
    case LogLevel::Warn: return spdlog::level::warn;
    case LogLevel::Info: return spdlog::level::info;
    case LogLevel::Debug: return spdlog::level::debug;
    }
    return spdlog::level::err;
}

} // namespace

std::string cqe_result_text(int res)
{
    if (res >= 0) return std::to_string(res);
    const char* name = strerrorname_np(-res);
    return name ? std::string("-") + name : std::to_string(res);
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
        spdlog::debug("w{} {}({}) {} {}us{}", id_, uring::op_name(ud.op), cqe_result_text(cqe.res), who, us, detail);
    else
        spdlog::debug("w{} {}({}) {}={} {}us{}", id_, uring::op_name(ud.op), cqe_result_text(cqe.res), who, ud.index,
                      us, detail);
}

LogLimiter::Verdict Worker::error_log_admits(const ErrorKind& kind) noexcept
{
    if (!spdlog::should_log(spdlog_level(kind.level))) return {};
    return error_limiter_.admit(kind.reason, now_ns_);
}

void Worker::error_log(const ErrorEntry& entry, const ErrorContext& context,
                       const LogLimiter::Verdict& verdict) noexcept
{
    const spdlog::level::level_enum level = spdlog_level(entry.level);
    if (verdict.suppressed > 0) spdlog::log(level, "{}", suppressed_line(entry.reason, verdict.suppressed));
    spdlog::log(level, "{}", error_line(entry, context));
}

// Each tick: the counts of kinds that went quiet while limited, so that no
// flood goes unmentioned (a warning: lines left out are worth knowing of at
// any level that let them through).
void Worker::log_suppressed() noexcept
{
    const auto level = spdlog::should_log(spdlog::level::warn) ? spdlog::level::warn : spdlog::level::err;
    for (const LogLimiter::Suppressed& s : error_limiter_.take_suppressed())
        spdlog::log(level, "{}", suppressed_line(s.key, s.count));
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
    const FileCacheStats fc = file_cache_->stats();
    spdlog::info("w{} stats: connections={} accepted={} accepts_armed={} open_files={} pipes={} pipes_free={} "
                 "pipes_draining={} pipes_drained={} pipes_replaced={} pipe_waiters={} waiting_writable={} "
                 "parked={} connection_objects={} exchanges={} cached_files={} cache_retired={} cache_bytes={} "
                 "cache_hits={} cache_misses={} refused_per_ip={}",
                 id_, live_, accepted_, accepts_armed_, files, p.total, p.free, p.draining, p.drained, p.replaced,
                 waiting_pipe, waiting_writable, pipe_queue_.parked(), made, exchanges_, fc.entries, fc.retired,
                 fc.body_bytes, fc.hits, fc.misses, refused_per_ip_);
}

// ---------------------------------------------------------------- metrics

void Worker::response_done(int status, unsigned method, std::uint64_t bytes, Body body) noexcept
{
    sample_.count_response(status, method, bytes);
    sample_.bodies_inline += body == Body::Inline;
    sample_.bodies_spliced += body == Body::Spliced;
}

// Once a second, and at the end: the counters and what is true now, for a
// scrape (any worker's) to render.
void Worker::publish_metrics() noexcept
{
    if (!setup_.metrics) return;
    const uring::PipePoolStats p = pipes_->stats();
    const FileCacheStats fc = file_cache_->stats();
    sample_.accepted = accepted_;
    sample_.refused_per_ip = refused_per_ip_;
    sample_.cache_hits = fc.hits;
    sample_.cache_misses = fc.misses;
    sample_.connections = live_;
    sample_.pipes = p.total;
    sample_.pipes_in_use = p.total - p.free;
    sample_.pipe_waiters = 0;
    for (const auto& c : conns_) sample_.pipe_waiters += c && c->waits_for_pipe();
    sample_.cached_files = fc.entries;
    sample_.io_workers = setup_.config.io_workers;
    setup_.metrics->publish(id_, sample_);
}

std::string Worker::metrics_text()
{
    if (!setup_.metrics) return {};
    publish_metrics(); // this worker's own values as of now
    return setup_.metrics->render();
}

} // namespace splicehttpd::server
