// What a connection may use of its worker, and nothing else: the ring and its
// buffers, the pipes and their queue, the file cache, the deadline queues,
// the clock, the access log, the spare exchanges, the lister. The worker
// implements it (the unit test and the fuzz target of the connection
// implement it too); the connection never includes the worker. Nothing here
// calls the connection back: each answer is a return value.
#pragma once

#include "server/deadlines.hpp"
#include "server/dir_lister.hpp"
#include "server/error_log.hpp"
#include "server/file_cache.hpp"
#include "server/pipe_queue.hpp"
#include "tls/context.hpp"
#include "uring/pipe_pool.hpp"
#include "uring/ring.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace splicehttpd::server {

class Connection;
struct Exchange;

class ConnectionServices {
public:
    virtual uring::Ring& ring() noexcept = 0;
    virtual uring::BufRing& bufs() noexcept = 0;
    virtual uring::PipePool& pipes() noexcept = 0;
    virtual FileCache& file_cache() noexcept = 0;
    // Where a connection waits for its timeout; the tick visits expired ones only.
    virtual DeadlineQueues& deadlines() noexcept = 0;
    // Without --access-log: false. Else log_line() gives the worker's batch
    // to append one line to, then line_logged() (the worker hands full
    // batches, and each second what it holds, to the log's writer thread);
    // log_time() is the time text for lines of this second.
    [[nodiscard]] virtual bool access_log_on() const noexcept = 0;
    virtual std::string& log_line() noexcept = 0;
    virtual void line_logged() noexcept = 0;
    virtual std::string_view log_time() = 0;
    // The error log: error_log_admits() says whether a line of this kind is
    // written now (its level is on, and the worker's rate limiter lets it
    // through, counting it); only then is the line built and handed to
    // error_log() with the verdict (the lines the limiter left out before it).
    virtual LogLimiter::Verdict error_log_admits(const ErrorKind& kind) noexcept = 0;
    virtual void error_log(const ErrorEntry& entry, const ErrorContext& context,
                           const LogLimiter::Verdict& verdict) noexcept = 0;
    // The Date text of this second; read it when building a response, never
    // keep the view across a wait.
    virtual std::string_view date() = 0;
    // The time of this loop turn (read once per turn, not per event).
    [[nodiscard]] virtual std::uint64_t now_ns() const noexcept = 0;
    [[nodiscard]] virtual bool stopping() const noexcept = 0;

    // Pipes are handed out first come, first served (server/pipe_queue): a
    // pipe now, a place in the queue (the worker calls Connection::on_pipe
    // later, from its loop), or — only for a response that has not started,
    // when the queue is full — a refusal (503).
    virtual PipeQueue::Answer ask_pipe(PipeTicket ticket, bool may_refuse) = 0;
    [[nodiscard]] virtual bool pipe_waiters() const noexcept = 0;
    // The ticket waits for POLLOUT holding a pipe: the worker may take it back
    // (Connection::yield_pipe).
    virtual void park(PipeTicket ticket) = 0;

    // A request's working state, from the worker's spares (made when none is
    // spare); give it back with nothing in flight that points into it.
    virtual Exchange* lend_exchange() = 0;
    virtual void return_exchange(Exchange* x) noexcept = 0;

    // --autoindex: the lookup of connection (index, gen) found a directory
    // (dir_fd, described by stx) without index.html. Ready: the cached page
    // (dir_fd is left to the caller). Queued: the lister thread took dir_fd
    // (set to -1); the page comes to Connection::on_listing with the ticket.
    // Refused: the lister's queue or its memory budget is full (503).
    // dotfiles: the site lists names starting with '.'.
    virtual DirLister::Answer list_directory(std::uint32_t index, std::uint16_t gen, int& dir_fd,
                                             const struct statx& stx, std::string_view rel_path, bool dotfiles) = 0;

    // HTTPS: the certificates a new TLS connection starts with (a reload
    // publishes a new set; a session keeps the one it started with).
    // nullptr without a TLS listener.
    virtual std::shared_ptr<const tls::ContextSet> tls_contexts() { return nullptr; }

    // A response is done (or cut short): its status, method (0 GET, 1 HEAD,
    // 2 other or unparsed), the bytes the peer took, where its file body came
    // from. For the metrics: nothing is counted where none are kept.
    enum class Body : std::uint8_t { None, Inline, Spliced };
    virtual void response_done(int /*status*/, unsigned /*method*/, std::uint64_t /*bytes*/, Body /*body*/) noexcept {}
    // --metrics-listen: the /metrics text of every worker.
    virtual std::string metrics_text() { return {}; }

    // HTTPS: c received the start of a handshake (a ClientHello), whose
    // answer costs a key exchange and a signature. True: the worker calls
    // c.on_handshake_turn() later from its loop, after the other
    // completions of this turn. False (the default): c answers it now.
    virtual bool defer_handshake(Connection& /*c*/) noexcept { return false; }

    // c's socket slot is free again: its close completed, or its accept failed.
    virtual void slot_freed(Connection& c) noexcept = 0;
    virtual void on_accept_failed(Connection& c, int res) noexcept = 0;

protected:
    ~ConnectionServices() = default;
};

} // namespace splicehttpd::server
