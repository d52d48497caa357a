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

#include "http/autoindex.hpp"
#include "http/file_lookup.hpp"
#include "http/parser.hpp"
#include "http/response.hpp"
#include "http/route.hpp"
#include "server/deadlines.hpp"
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
#include <memory>
#include <string>

namespace splicehttpd::server {

class ConnectionServices;

// Everything a connection needs only while it reads, looks up and answers a
// request. Idle keep-alive connections hold none: an exchange is taken from
// the worker's spares at the first byte of a request and given back when the
// connection is idle again (or closes), so 10,000 idle clients cost only
// their Connection cores, and a busy server allocates nothing per request.
// Its addresses are stable while SQEs point into it (paths, statx buffers,
// the plan's memory): it is given back only with nothing in flight.
struct Exchange {
    explicit Exchange(const http::ParseLimits& limits) : parser(limits) {}

    // input
    http::RequestParser parser;
    std::string inbuf;         // bytes received while busy, or after a pipelined request
    std::size_t inbuf_off = 0; // inbuf[0, inbuf_off) is parsed already
    [[nodiscard]] std::size_t buffered() const noexcept { return inbuf.size() - inbuf_off; }

    // the request being answered
    http::ResponseContext ctx;
    http::Route route;           // what on_request decided to look up
    bool request_parsed = false; // the response answers a parsed request (else: "-" in the log)

    // lookup: the file and its precompressed siblings, opened as plain
    // descriptors so that statx describes exactly what was opened
    http::LookupStep step = http::LookupStep::Primary;
    int pending_status = 0; // Fallback, ErrorPage: the status that sent us looking
    unsigned lookup_pending = 0;
    std::string served_path;                                   // the path whose siblings are looked for
    std::array<std::string, http::kVariantCount> lookup_paths; // outlive their SQEs
    std::array<struct statx, http::kVariantCount> stx{};
    std::array<int, http::kVariantCount> open_res{};
    std::array<int, http::kVariantCount> statx_res{};
    std::array<int, http::kVariantCount> fds{-1, -1, -1};  // opened by this lookup
    std::array<CachedFile*, http::kVariantCount> cached{}; // found in (or given to) the cache
    std::array<bool, http::kVariantCount> opened{};        // looked up through the ring
    open_how how{};

    // --autoindex: the listing this request waits for (0: none), and the
    // page being sent, shared with the lister's cache and every other
    // response of it (the plan's File segment is over its bytes)
    std::uint32_t listing_ticket = 0;
    std::shared_ptr<const http::Listing> listing;

    // transfer
    http::ResponsePlan plan;
    int body_fd = -1;
    CachedFile* body_cache = nullptr; // the cache entry body_fd belongs to
    // The whole body's bytes in memory, held by body_cache or listing while
    // the response is in flight; empty when the body comes from body_fd.
    std::string_view body_source;
    bool fill_cache_body = false; // the first chain reads the whole small file
    bool body_in_memory = false;  // file bytes are sent from body_source, not copied into the plan
    std::int64_t outq = -1;       // unsent bytes in the socket at the last stall check (-1: none)
    bool outq_pending = false;    // a SIOCOUTQ query is in flight
    std::uint64_t body_hole = 0;  // where in plan.memory it lands
    transfer::Chain reads;        // an in-memory body's reads, sent with the first chain
    transfer::Chain chain;        // the chain in flight, by position (user_data seq)
    transfer::Cursor cursor;
    transfer::Cursor chain_start;
    transfer::Outcome outcome;
    unsigned chain_pending = 0;

    // Ready for the next connection's request: buffers kept, the plan's up to
    // keep_bytes (an in-memory body and its head).
    void reset(std::size_t keep_bytes) noexcept;
};

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

    // How long a closing connection reads and drops what its peer still sends.
    static constexpr std::uint64_t kLingerNs = 5'000'000'000;

    Connection(ConnectionServices& services, std::uint32_t index);
    ~Connection();
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

    // --autoindex: the listing queued by ConnectionServices::list_directory
    // under `ticket` (ignored unless this connection still waits for that
    // one), or nullptr when reading the directory failed with err.
    void on_listing(std::uint32_t ticket, std::shared_ptr<const http::Listing> listing, int err) noexcept;

    void stop() noexcept; // server stopping: finish the response in flight, then close
    // Its timeout ran out (the worker's deadline queue says so): close a
    // connection idle, slow to send its request, or whose socket took no
    // byte for too long.
    void on_deadline(std::uint64_t now_ns) noexcept;
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
    void on_outq(int res) noexcept;
    void check_send_queue() noexcept;
    void submit_cork(io_uring_sqe* sqe) noexcept;
    void on_close_socket() noexcept;

    // input
    void open() noexcept;
    [[nodiscard]] std::size_t buffered() const noexcept; // unparsed input held
    void take_exchange() noexcept;
    void give_back_exchange() noexcept;
    void arm_recv() noexcept;
    void maybe_arm_recv() noexcept;
    [[nodiscard]] bool wants_input() const noexcept;
    void ingest(const char* data, std::size_t len) noexcept;
    std::size_t parse(const char* data, std::size_t len) noexcept;
    void process_buffered() noexcept;

    // request -> lookup -> plan
    void on_request() noexcept;
    // Looks up dir/name (name may be empty: dir itself).
    void submit_lookup(http::LookupStep step, std::string_view dir, std::string_view name = {}) noexcept;
    void submit_statx() noexcept;
    void on_lookup_done() noexcept;
    void serve(http::Variant variant) noexcept;
    void list_directory() noexcept;
    void serve_listing(std::shared_ptr<const http::Listing> listing) noexcept;
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
    void update_deadline() noexcept; // the queue this state waits in, if any
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

    // input (the bytes themselves are in the exchange)
    bool recv_armed_ = false;
    bool recv_cancel_pending_ = false;
    bool input_paused_ = false; // the recv stopped with input maybe unread (back-pressure, no buffers)
    bool recv_filled_ = false;  // the last read filled its buffer: more may be waiting
    bool peer_eof_ = false;
    bool aborted_ = false;
    bool corked_ = false;                // TCP_CORK asked for: the response ends the connection
    std::uint64_t idle_since_ns_ = 0;    // between requests: since the last response
    std::uint64_t request_since_ns_ = 0; // the first bytes of the request being read
    std::uint64_t progress_ns_ = 0;      // while sending: the socket last took bytes
    std::uint64_t linger_since_ns_ = 0;  // Lingering: since our side was shut

    DeadlineLink deadline_;
    uring::Pipe* pipe_ = nullptr;
    Exchange* x_ = nullptr; // from the first byte of a request until the connection is idle again

    std::array<std::uint64_t, std::size_t(uring::Op::Count_)> submitted_ns_{};
};

} // namespace splicehttpd::server
