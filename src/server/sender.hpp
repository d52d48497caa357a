// Sending one response: its plan (head, framing, the body's segments), where
// the body comes from (the file, or bytes already in memory: a cached copy,
// a listing page), the chain in flight and the cursor. It turns the pure
// transfer arithmetic (server/transfer) into SQEs: an inline read, a send,
// splices through a pipe; a cork before a closing response; POLLOUT when the
// socket is full; SIOCOUTQ when a stalled socket may still be draining.
//
// It never calls its connection: every entry returns what happened (Next),
// and the connection decides the next state, asks its worker for a pipe, or
// closes. So "how is a body sent" is this file and transfer.*, nothing else.
#pragma once

#include "http/autoindex.hpp"
#include "http/response.hpp"
#include "server/file_cache.hpp"
#include "server/lookup.hpp"
#include "server/submitter.hpp"
#include "server/tls_stream.hpp"
#include "server/transfer.hpp"
#include "uring/pipe_pool.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string_view>

namespace splicehttpd::server {

// Built once by the worker from the configuration and the ring's probe.
struct SenderOptions {
    unsigned chain_pairs = 4;             // (file->pipe, pipe->socket) pairs per chain
    std::uint64_t inline_max = 64 * 1024; // bodies up to this go out from memory, no pipe
    bool cork = false;                    // TCP_CORK through the ring (URING_CMD setsockopt, 6.7)
    bool queue_probe = false;             // SIOCOUTQ through the ring (URING_CMD, 6.7)
};

class Sender {
public:
    // What a sender works with, lent for one call.
    struct Env {
        Submitter& ops;
        uring::PipePool& pipes;
        FileCache& cache;
        const SenderOptions& options;
        int socket;        // the connection's fixed slot
        bool pipe_waiters; // others wait for a pipe: an empty one goes to them
        // HTTPS without kernel TLS: the plan is written into this session
        // (from memory, the cache's copy, or the file read in chunks) and
        // its records are sent; no pipe, no splice. nullptr: plain.
        TlsStream* tls = nullptr;
        // HTTPS with kTLS: the plain path, but the kernel encrypts
        // (transfer::Limits::kernel_tls).
        bool kernel_tls = false;
    };

    enum class Next : std::uint8_t {
        InFlight,     // completions are still to come: nothing to do
        Submitted,    // a chain went out
        Done,         // the whole response went out: finish()
        Continue,     // a chain (or the wait for room) is over, more to send: resume()
        NeedPipe,     // ask for a pipe, then on_pipe()
        WaitWritable, // the socket is full: wait_writable()
        Abort,        // the peer went away, the file shrank, the socket stalled: close
        LookAgain,    // a stalled socket's queue: look again at the next tick (probe_queue())
        QueueDrained, // it shrank since the last look: the peer is reading, count it as progress
    };

    // Build the response here, name its body's source, then start().
    [[nodiscard]] http::ResponsePlan& plan() noexcept { return plan_; }
    [[nodiscard]] const http::ResponsePlan& plan() const noexcept { return plan_; }
    // The plan's File segments are of this file; the sender lets go of it.
    void set_file(const FoundFile& file) noexcept;
    // ... or of this page, shared with the lister's cache and every other
    // response of it.
    void set_listing(std::shared_ptr<const http::Listing> listing) noexcept;

    Next start(const Env& env) noexcept;
    Next on_pipe(uring::Pipe* pipe, const Env& env) noexcept;
    // A step, the POLLOUT wait or the queue probe completed.
    Next on_cqe(uring::Op op, std::uint8_t seq, int res) noexcept;
    // After Continue: the next chain, or NeedPipe.
    Next resume(const Env& env) noexcept;
    // After WaitWritable: POLLOUT is armed through the ring (no io-wq worker
    // sleeps on a socket). An empty pipe goes back now; one holding bytes
    // stays, but may be taken back (yield_pipe).
    void wait_writable(const Env& env) noexcept;
    // Taken back while waiting for room: the bytes in the pipe are dropped
    // (the pipe is drained before reuse) and spliced from the file again.
    void yield_pipe(uring::PipePool& pipes) noexcept;

    // Half the send timeout passed with no byte taken while waiting for
    // room, or the other half after that: ask the socket how much it still
    // holds (SIOCOUTQ). On a slow link a deep queue signals POLLOUT only when
    // much of it has gone.
    void probe_queue(Submitter& ops, int socket) noexcept;
    [[nodiscard]] bool probing() const noexcept { return probing_; }
    // A stall check is under way: the deadline is the second look.
    [[nodiscard]] bool stall_check() const noexcept { return stall_check_; }

    // Done: a small file's bytes go to the cache, the body is let go of, the
    // pipe goes back empty.
    void finish(const Env& env) noexcept;
    // The body's file (or page) is let go of: closed through the ring, or
    // its cache entry unreferenced.
    void close_body(Submitter& ops, FileCache& cache) noexcept;
    // The pipe goes back, to be drained first if it may hold bytes (an
    // aborted transfer, or bytes still in it by the cursor).
    void give_back_pipe(uring::PipePool& pipes, bool maybe_dirty) noexcept;

    [[nodiscard]] bool holds_pipe() const noexcept { return pipe_ != nullptr; }
    [[nodiscard]] bool pipe_holds_bytes() const noexcept { return cursor_.in_pipe != 0; }
    // The body goes through a pipe (a file's bytes not in memory).
    [[nodiscard]] bool uses_pipe() const noexcept { return !tls_ && plan_.uses_file() && !body_in_memory_; }
    [[nodiscard]] bool started() const noexcept { return cursor_.delivered > 0; }
    // The response is of a file (its body, or a HEAD's or 304's head).
    [[nodiscard]] bool of_file() const noexcept { return fd_ >= 0 || cached_ != nullptr; }
    [[nodiscard]] std::uint64_t delivered() const noexcept { return cursor_.delivered; }
    [[nodiscard]] unsigned in_flight() const noexcept
    {
        return chain_pending_ + unsigned(probing_) + unsigned(polling_) + unsigned(alert_pending_);
    }
    [[nodiscard]] unsigned open_files() const noexcept { return fd_ >= 0 && !cached_ ? 1 : 0; }

    // Ready for the next response: nothing in flight, nothing held; the
    // plan's buffers kept up to keep_bytes.
    void reset(std::size_t keep_bytes) noexcept;

private:
    Next submit(const Env& env) noexcept;
    void submit_cork(io_uring_sqe* sqe, const Env& env) noexcept;
    void fill_inline_body() noexcept;
    void return_pipe(uring::PipePool& pipes, bool maybe_dirty) noexcept;
    // HTTPS in user space: the plan's next plaintext into the session, its
    // records to the socket.
    Next tls_pump(const Env& env) noexcept;
    std::string_view tls_next_piece(const Env& env) noexcept; // empty: a read was submitted
    std::string_view tls_piece_at(std::uint64_t pos, std::uint64_t& file, std::uint64_t& left) const noexcept;
    std::string_view tls_gather(std::string_view first) const noexcept;
    bool tls_read_at(std::uint64_t pos, const Env& env) noexcept;

    http::ResponsePlan plan_;

    // the body's source
    int fd_ = -1;                  // the file (a cache entry's, or ours to close)
    CachedFile* cached_ = nullptr; // the cache entry fd_ belongs to
    std::shared_ptr<const http::Listing> listing_;
    // The whole body's bytes in memory, held by cached_ or listing_ while
    // the response is in flight; empty when the body comes from fd_.
    std::string_view source_;
    bool body_in_memory_ = false; // file bytes are sent from source_, not copied into the plan
    bool fill_cache_ = false;     // the first chain reads the whole small file: keep it
    std::uint64_t body_hole_ = 0; // where in plan_.memory that file lands

    // the transfer
    uring::Pipe* pipe_ = nullptr;
    transfer::Steps reads_; // an in-memory body's reads, sent with the first chain
    transfer::Steps chain_; // the chain in flight, by position (user_data seq)
    transfer::Cursor cursor_;
    transfer::Cursor chain_start_;
    transfer::Outcome outcome_;
    unsigned chain_pending_ = 0;
    bool corked_ = false;  // TCP_CORK asked for: the response ends the connection
    bool polling_ = false; // POLLOUT armed

    // the stall check (SIOCOUTQ)
    bool probing_ = false;     // a query is in flight
    bool stall_check_ = false; // under way since the send timeout, until progress
    std::int64_t outq_ = -1;   // unsent bytes at the last look (-1: none yet)

    // HTTPS in user space (tls_pump): at most one read of the file in
    // flight, into chunk_ (kept by the spare exchange, at most kTlsChunk).
    TlsStream* tls_ = nullptr;
    std::uint64_t plain_pos_ = 0;  // bytes of the plan written into the session
    std::string chunk_;            // file bytes at chunk_file_
    std::uint64_t chunk_file_ = 0; // file offset of chunk_[0]
    std::uint64_t chunk_len_ = 0;  // bytes of chunk_ read
    bool tls_fill_cache_ = false;  // chunk_ is the whole small file: keep it in the cache
    bool tls_shut_ = false;        // close_notify written (a response that ends the connection)
    std::uint64_t tls_sent_ = 0;   // the stream's bytes_sent() at the last look: moved means progress

    // HTTPS with kTLS (Env::kernel_tls): a response that ends the connection
    // ends with close_notify, which the kernel writes as an alert record
    // (sendmsg, cmsg TLS_SET_RECORD_TYPE 21); the message stays here until
    // its completion.
    Next submit_close_notify(const Env& env) noexcept;
    [[nodiscard]] bool owes_close_notify() const noexcept
    {
        return kernel_tls_ && plan_.close && !alert_done_ && cursor_.delivered == plan_.total();
    }
    bool kernel_tls_ = false;
    bool alert_pending_ = false; // the sendmsg is in flight
    bool alert_done_ = false;
    KernelCloseNotify alert_;
};

} // namespace splicehttpd::server
