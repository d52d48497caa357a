// One client connection: an explicit state machine driven by its completions.
//
// Life cycle (the enum's order is the order things happen in):
//   Accepting (an accept armed into this connection's socket slot) ->
//   Reading -> Looking (openat2, then statx on the descriptor) ->
//   [WaitingPipe] -> Sending (linked chains, resubmitted after short splices)
//   <-> WaitingWritable (POLLOUT armed: the socket was full) -> Reading ...
//   -> [Lingering (our side shut, the peer's late input read and dropped)]
//   -> Closing (waiting for in-flight work) -> Closed (socket close in
//   flight) -> Free.
#pragma once

#include "http/file_lookup.hpp"
#include "http/parser.hpp"
#include "http/response.hpp"
#include "http/route.hpp"
#include "server/file_cache.hpp"
#include "server/transfer.hpp"
#include "uring/chain.hpp"
#include "uring/pipe_pool.hpp"
#include "uring/user_data.hpp"

#include <linux/openat2.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <string>

namespace splicehttpd::server {

class ConnectionServices;

class Connection {
public:
    enum class State : std::uint8_t {
        Free,
        Accepting,
        Reading,
        Looking,
        WaitingPipe,
        Sending,
        WaitingWritable,
        Lingering,
        Closing,
        Closed
    };

    Connection(ConnectionServices& services, std::uint32_t index);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // The socket slot of this connection is its index in the fixed-file table.
    [[nodiscard]] unsigned socket_slot() const noexcept { return index_; }

    // Arms an accept into this connection's socket slot.
    void arm_accept(int listen_fd) noexcept;

    // Every completion of this connection's SQEs (seq: position in a chain,
    // or which lookup variant).
    void on_cqe(uring::Op op, std::uint8_t seq, const io_uring_cqe& cqe) noexcept;

    // The worker's pipe queue: the pipe it waited for, or give yours back
    // (it waits for POLLOUT, and someone else needs a pipe).
    void on_pipe(uring::Pipe* pipe) noexcept;
    void yield_pipe() noexcept;

    void stop() noexcept; // server stopping: finish the response in flight, then close
    // Once a second: close a connection idle, slow to send its request, or
    // whose socket took no byte for too long.
    void on_tick(std::uint64_t now_ns) noexcept;
    void abort() noexcept; // grace period over: close now

    [[nodiscard]] State state() const noexcept { return state_; }
    [[nodiscard]] std::uint16_t gen() const noexcept { return gen_; }
    [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
    [[nodiscard]] bool holds_pipe() const noexcept { return pipe_ != nullptr; }
    // In the worker's queue of connections whose pipe may be taken back.
    bool parked = false;
    [[nodiscard]] unsigned open_files() const noexcept;
    [[nodiscard]] std::uint64_t submitted_ns(uring::Op op) const noexcept { return submitted_ns_[std::size_t(op)]; }

private:
    // completions (on_cqe dispatches; it also counts them and settles)
    void on_accept(int res) noexcept;
    void on_recv(const io_uring_cqe& cqe) noexcept;
    void on_openat(std::uint8_t variant, int res) noexcept;
    void on_statx(std::uint8_t variant, int res) noexcept;
    void on_transfer_step(std::uint8_t seq, int res) noexcept; // read, send, splice
    void on_pollout() noexcept;
    void on_close_socket() noexcept;

    // input
    void open() noexcept;
    void arm_recv() noexcept;
    void maybe_arm_recv() noexcept;
    void ingest(const char* data, std::size_t len) noexcept;
    std::size_t parse(const char* data, std::size_t len) noexcept;
    void process_buffered() noexcept;

    // request -> lookup -> plan
    void on_request() noexcept;
    void submit_lookup(http::LookupStep step, std::string path) noexcept;
    void submit_statx() noexcept;
    void on_lookup_done() noexcept;
    void serve(http::Variant variant) noexcept;
    void respond_status(int status, const http::ErrorExtras& extras = {}) noexcept;
    void respond_error(int status) noexcept;
    void respond_and_close(int status) noexcept;
    void plan_context() noexcept;

    // plan -> wire
    void start_response() noexcept;
    void fill_inline_body() noexcept;
    void need_pipe() noexcept;
    void submit_chain() noexcept;
    void on_chain_done() noexcept;
    void wait_writable() noexcept;
    void finish_response() noexcept;
    void log_access() noexcept;

    // teardown
    void begin_close(bool abort) noexcept;
    [[nodiscard]] bool must_linger() const noexcept;
    void start_lingering() noexcept;
    void settle() noexcept;
    void finish_close() noexcept;
    void close_files() noexcept;
    void release_lookup(int keep) noexcept; // all but variant `keep` (-1: all)
    void release_pipe(bool maybe_dirty) noexcept;
    void reset_for_reuse() noexcept;

    io_uring_sqe* tag(io_uring_sqe* sqe, uring::Op op, std::uint8_t seq = 0) noexcept;

    ConnectionServices& services_;
    const std::uint32_t index_;
    std::uint16_t gen_ = 0;
    State state_ = State::Free;
    unsigned inflight_ = 0; // CQEs still to come (a multishot recv counts once)

    // the peer's address (filled by the accept), for the access log
    sockaddr_in6 peer_{}; // a sockaddr_in fits too
    socklen_t peer_len_ = sizeof peer_;

    // input
    http::RequestParser parser_;
    std::string inbuf_;         // bytes received while busy, or after a pipelined request
    std::size_t inbuf_off_ = 0; // inbuf_[0, inbuf_off_) is parsed already
    bool recv_armed_ = false;
    bool recv_cancel_pending_ = false;
    bool peer_eof_ = false;
    std::uint64_t idle_since_ns_ = 0;    // between requests: since the last response
    std::uint64_t request_since_ns_ = 0; // the first bytes of the request being read
    std::uint64_t progress_ns_ = 0;      // while sending: the socket last took bytes
    std::uint64_t linger_since_ns_ = 0;  // Lingering: since our side was shut

    // the request being answered
    http::ResponseContext ctx_;
    http::Route route_;           // what on_request decided to look up
    bool request_parsed_ = false; // the response answers a parsed request (else: "-" in the log)

    // lookup: the file and its precompressed siblings, opened as plain
    // descriptors so that statx describes exactly what was opened
    http::LookupStep step_ = http::LookupStep::Primary;
    int pending_status_ = 0; // Fallback, ErrorPage: the status that sent us looking
    unsigned lookup_pending_ = 0;
    std::string served_path_;                                   // the path whose siblings are looked for
    std::array<std::string, http::kVariantCount> lookup_paths_; // outlive their SQEs
    std::array<struct statx, http::kVariantCount> stx_{};
    std::array<int, http::kVariantCount> open_res_{};
    std::array<int, http::kVariantCount> statx_res_{};
    std::array<int, http::kVariantCount> fds_{-1, -1, -1};  // opened by this lookup
    std::array<CachedFile*, http::kVariantCount> cached_{}; // found in (or given to) the cache
    std::array<bool, http::kVariantCount> opened_{};        // looked up through the ring
    open_how how_{};

    // transfer
    http::ResponsePlan plan_;
    int body_fd_ = -1;
    CachedFile* body_cache_ = nullptr; // the cache entry body_fd_ belongs to
    bool fill_cache_body_ = false;     // the first chain reads the whole small file
    std::uint64_t body_hole_ = 0;      // where in plan_.memory it lands
    uring::Pipe* pipe_ = nullptr;
    transfer::Chain reads_; // an in-memory body's reads, sent with the first chain
    transfer::Chain chain_; // the chain in flight, by position (user_data seq)
    transfer::Cursor cursor_;
    transfer::Cursor chain_start_;
    transfer::Outcome outcome_;
    unsigned chain_pending_ = 0;
    bool aborted_ = false;

    std::array<std::uint64_t, std::size_t(uring::Op::Count_)> submitted_ns_{};
};

} // namespace splicehttpd::server
