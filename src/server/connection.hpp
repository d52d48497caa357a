// One client connection: the state machine driven by its completions. It
// reads requests, hands the lookup of each to its Lookup and the response to
// its Sender (both in the Exchange it borrows while it answers), and turns
// what they report into its next state, its deadline and, at the end, its
// teardown. It builds SQEs only for its socket (accept, recv, shutdown,
// close); the units build their own and never call it.
//
// Life cycle (the enum's order is the order things happen in):
//   Accepting (an accept armed into this connection's socket slot) ->
//   Reading -> Looking (openat2, then statx on the descriptor) ->
//   [WaitingPipe] -> Sending (linked chains, resubmitted after short splices)
//   <-> WaitingWritable (POLLOUT armed: the socket was full) -> Reading ...
//   -> [Lingering (our side shut, the peer's late input read and dropped)]
//   -> Closing (waiting for in-flight work) -> Closed (socket close in
//   flight) -> Free.
// What a state allows is asked through traits(), never through the order.
#pragma once

#include "http/autoindex.hpp"
#include "server/deadlines.hpp"
#include "server/exchange.hpp"
#include "server/lookup.hpp"
#include "server/pipe_queue.hpp"
#include "server/respond.hpp"
#include "server/sender.hpp"
#include "server/services.hpp"
#include "server/site_generation.hpp"
#include "server/socket.hpp"
#include "server/submitter.hpp"
#include "server/tls_stream.hpp"
#include "sites.hpp"
#include "uring/pipe_pool.hpp"
#include "uring/user_data.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace splicehttpd::server {

// What one site (a [[site]] table, or the top level) decides about the
// requests it answers. Built once by the worker.
struct SiteOptions {
    std::string_view label;    // its first name, or "default": the error log's server, the vhost access log
    std::string_view root;     // its root as given, for the error log's paths
    bool dotfiles = false;     // serve paths with a segment starting with '.'
    bool precompressed = true; // look for x.br / x.gz
    LookupOptions lookup;
    PlanOptions plan;
};

// One worker's view of a SiteGeneration: what each site decides, typed.
// Built by the worker when it adopts a generation; a request holds it (and
// so the generation's root descriptors) until its response is done.
struct WorkerSites {
    std::shared_ptr<const SiteGeneration> generation;
    // The sites, by their index in generation->table->all(). A request's
    // Host chooses one (hosts->match); without hosts, sites[0] answers every
    // request.
    std::vector<SiteOptions> sites = std::vector<SiteOptions>(1);
    const Sites* hosts = nullptr;
    // Answers what no site does: a request that never parsed, a 421 (the
    // default site, or with unknown-host = "421" the top level's headers).
    SiteOptions unmatched;
    std::vector<std::string> cache_prefixes; // each site's, viewed by its LookupOptions
};

// Built once by the worker from the configuration: all a connection and its
// units know of it.
struct ConnectionOptions {
    std::size_t max_input = 64 * 1024; // unparsed input buffered while a response is in flight
    bool debug = false;                // --debug: SQE submission times, for the completion log
    std::uint16_t https_redirect = 0;  // --https-redirect: plain requests go to https:// on this port
    bool access_log_vhost = false;     // --access-log-format vhost: the site's label starts each line
    SenderOptions send;
    // HTTPS: the kernel's kTLS where it takes keys and the ring can hand
    // them over (--ktls auto), else nullptr: bodies encrypted in user space.
    const tls::KernelTls* kernel_tls = nullptr;
    // The newest generation of sites this worker adopted (replaced on a reload).
    std::shared_ptr<const WorkerSites> sites = std::make_shared<const WorkerSites>();
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
    // What a state allows, one row per state (adding a state means filling
    // in its row, not auditing comparisons).
    struct Traits {
        bool open;        // a socket that is not being closed: reads, answers, may be aborted
        bool responding;  // a response is planned (it waits for a pipe, or is being sent)
        bool keeps_input; // input is parsed or buffered (else: dropped)
    };
    static constexpr Traits traits(State s) noexcept
    {
        switch (s) {
        case State::Free:
        case State::Accepting: return {false, false, false};
        case State::Reading:
        case State::Looking: return {true, false, true};
        case State::WaitingPipe:
        case State::Sending:
        case State::WaitingWritable: return {true, true, true};
        case State::Lingering: return {true, false, false};
        case State::Closing:
        case State::Closed: return {false, false, false};
        }
        return {};
    }

    // How long a closing connection reads and drops what its peer still sends.
    static constexpr std::uint64_t kLingerNs = 5'000'000'000;
    // The send timeout's two deadlines, Send and Recheck. Where the socket's
    // queue can be asked (SIOCOUTQ), half of it without a byte taken brings
    // a first look at the queue and the other half a second: behind a link
    // that queues seconds (a shaper, a bloated modem) the queue's head is
    // acknowledged only a round trip or a retransmission after a loss,
    // though the client reads all it is given, so the two looks are as far
    // apart as they can be while a stalled peer is still cut about one
    // send timeout after its last byte. Without SIOCOUTQ: Send alone.
    struct SendDeadlines {
        std::uint64_t send_ns;
        std::uint64_t recheck_ns;
    };
    static constexpr SendDeadlines send_deadlines(std::uint64_t send_timeout_ns, bool queue_probe) noexcept
    {
        if (!queue_probe) return {send_timeout_ns, send_timeout_ns};
        return {send_timeout_ns / 2, send_timeout_ns - send_timeout_ns / 2};
    }

    Connection(ConnectionServices& services, const ConnectionOptions& options, std::uint32_t index);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // The socket slot of this connection is its index in the fixed-file table.
    [[nodiscard]] unsigned socket_slot() const noexcept { return index_; }

    // Which kind of listener a connection came from: a plain one, a TLS one
    // (--tls-port's, or a --listen address with tls: it speaks HTTPS), or
    // --metrics-listen's (it answers /metrics only).
    enum class Listener : std::uint8_t { Plain, Tls, Metrics };
    // Arms an accept into this connection's socket slot.
    void arm_accept(int listen_fd, Listener from = Listener::Plain) noexcept;
    [[nodiscard]] Listener listener() const noexcept { return listener_; }

    // Every completion of this connection's SQEs (seq: position in a chain,
    // or which lookup variant).
    void on_cqe(uring::Op op, std::uint8_t seq, const io_uring_cqe& cqe) noexcept;

    // The pipe it waited for in the worker's queue.
    void on_pipe(uring::Pipe* pipe) noexcept;
    // Someone else needs a pipe: give yours back if you wait for POLLOUT
    // holding one. Says whether it did.
    bool yield_pipe() noexcept;

    // --autoindex: the listing queued by ConnectionServices::list_directory
    // under `ticket` (ignored unless this connection still waits for that
    // one), or nullptr when reading the directory failed with err.
    void on_listing(std::uint32_t ticket, std::shared_ptr<const http::Listing> listing, int err) noexcept;

    // HTTPS: the worker's turn for the handshake this connection left to it
    // (ConnectionServices::defer_handshake); ignored unless it still waits.
    void on_handshake_turn() noexcept;

    void stop() noexcept; // server stopping: finish the response in flight, then close
    // Its deadline of this kind passed (the worker's deadline queues say so).
    void on_timeout(Deadline kind) noexcept;
    void abort() noexcept; // grace period over: close now

    [[nodiscard]] State state() const noexcept { return state_; }
    [[nodiscard]] std::uint16_t gen() const noexcept { return ops_.gen(); }
    [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
    [[nodiscard]] PipeTicket ticket() const noexcept { return {index_, ops_.gen()}; }
    [[nodiscard]] bool waits_for_pipe() const noexcept { return state_ == State::WaitingPipe; }
    [[nodiscard]] bool holds_pipe() const noexcept { return exchange_ && exchange_->send.holds_pipe(); }
    [[nodiscard]] unsigned in_flight() const noexcept { return ops_.in_flight(); }
    [[nodiscard]] bool has_exchange() const noexcept { return exchange_ != nullptr; }
    [[nodiscard]] unsigned open_files() const noexcept { return exchange_ ? exchange_->open_files() : 0; }
    [[nodiscard]] std::uint64_t submitted_ns(uring::Op op) const noexcept { return ops_.submitted_ns(op); }
    // The peer's address, filled by the accept (AF_INET or AF_INET6).
    [[nodiscard]] const sockaddr_in6& peer() const noexcept { return socket_.peer(); }

private:
    // completions the connection handles itself
    void on_accept(int res) noexcept;
    void on_recv(const io_uring_cqe& cqe) noexcept;
    void on_close_socket() noexcept;
    void on_tls_sent(int res) noexcept;
    void on_kernel_tls(std::uint8_t seq, int res) noexcept;
    bool notify_before_close() noexcept;
    void on_close_notify_sent(bool ok) noexcept;
    // what the units report
    void on_lookup(Lookup::Result r) noexcept;
    void on_send(Sender::Next next) noexcept;

    // input
    void open() noexcept;
    void give_back_exchange() noexcept;
    void maybe_arm_recv() noexcept;
    [[nodiscard]] bool wants_input() const noexcept;
    void ingest(std::string_view bytes) noexcept;
    void on_parsed(RequestBuffer::Parsed p) noexcept;
    void process_buffered() noexcept;
    // HTTPS: the handshake, then the session's plaintext into ingest().
    void pump_tls() noexcept;
    void tls_failed(const TlsStream::Step& step) noexcept;
    void answer_plain_http(std::string_view first) noexcept; // a plain 400 (first: the bytes that said HTTP)
    [[nodiscard]] std::size_t input_backlog() const noexcept;
    // Waiting for the socket to take bytes: POLLOUT armed, or an HTTPS
    // record send waiting in the kernel.
    [[nodiscard]] bool waits_for_room() const noexcept
    {
        return state_ == State::WaitingWritable || (state_ == State::Sending && tls_ && tls_->sending());
    }

    // request -> plan
    void choose_site(const http::Request& req) noexcept; // site_, or nullptr where none answers
    void forget_site() noexcept;
    void on_request() noexcept;
    void respond_busy() noexcept; // 503 with Retry-After: 1
    void redirect_to_https() noexcept;
    void respond_metrics() noexcept;
    void respond_and_close(int status) noexcept;

    // plan -> wire
    void start_response() noexcept;
    void need_pipe() noexcept;
    void finish_response() noexcept;
    void log_access() noexcept;
    // the error log: built only when the worker admits the line
    void log_lookup_failure() noexcept;
    void log_bad_request(std::string_view what, bool parsed) noexcept; // parsed: the request line is known
    void log_plain_http() noexcept;
    void log_timed_out() noexcept;
    void log_error(const ErrorEntry& entry, const LogLimiter::Verdict& verdict, bool parsed) noexcept;

    // teardown
    void begin_close(bool abort) noexcept;
    void start_lingering() noexcept;
    void settle() noexcept;
    struct Wait {
        Deadline kind = Deadline::None;
        std::uint64_t since = 0;
    };
    [[nodiscard]] Wait deadline_wanted() const noexcept; // the queue this state waits in, if any
    void finish_close() noexcept;
    void close_files() noexcept;
    void reset_for_reuse() noexcept;

    // What the units work with, lent for one call.
    Socket::Env socket_env() noexcept;
    Lookup::Env lookup_env() noexcept;
    Sender::Env send_env() noexcept;
    TlsStream::Env tls_env() noexcept { return {ops_, int(socket_slot())}; }

    ConnectionServices& services_;
    const ConnectionOptions& options_;
    const std::uint32_t index_;
    State state_ = State::Free;
    Submitter ops_; // tags this connection's SQEs, counts them in flight

    Socket socket_; // accept, reads, shutdown, close (the bytes read are in the exchange)
    bool aborted_ = false;
    bool answered_ = false; // a response was sent: between requests, a stop closes it

    // HTTPS: the session, from the accept to the close.
    std::unique_ptr<TlsStream> tls_;
    Listener listener_ = Listener::Plain;
    bool tls_close_after_ = false; // a failed handshake or record: the alert goes out, then the close
    bool tls_notifying_ = false;   // between requests: close_notify is on its way, then the close
    bool handshake_waits_ = false; // its ClientHello waits for the worker's turn (defer_handshake)

    // where each deadline's timeout runs from (the queues own the timeouts)
    std::uint64_t accepted_ns_ = 0;      // HTTPS: the handshake runs from the accept
    std::uint64_t idle_since_ns_ = 0;    // between requests: since the last response
    std::uint64_t request_since_ns_ = 0; // the first bytes of the request being read
    std::uint64_t progress_ns_ = 0;      // while sending: the socket last took bytes
    std::uint64_t recheck_since_ns_ = 0; // a stalled socket's queue was last asked about
    std::uint64_t listing_since_ns_ = 0; // Looking: the listing was asked for
    std::uint64_t linger_since_ns_ = 0;  // Lingering: since our side was shut

    // The site answering the request being answered (chosen by its Host);
    // nullptr between requests and for one that never parsed.
    const SiteOptions* site_ = nullptr;
    std::shared_ptr<const WorkerSites> site_generation_; // what site_ points into, held while it is set
    [[nodiscard]] const SiteOptions& site() const noexcept { return site_ ? *site_ : options_.sites->unmatched; }
    [[nodiscard]] const PlanOptions& plan_options() const noexcept { return site().plan; }

    DeadlineLink deadline_;
    Exchange* exchange_ = nullptr; // from the first byte of a request until the connection is idle again
};

inline Socket::Env Connection::socket_env() noexcept
{
    return {ops_, services_.bufs(), int(socket_slot())};
}

inline Lookup::Env Connection::lookup_env() noexcept
{
    return {ops_, services_.file_cache(), site().lookup, exchange_->route, services_.now_ns()};
}

inline Sender::Env Connection::send_env() noexcept
{
    return {ops_,
            services_.pipes(),
            services_.file_cache(),
            options_.send,
            int(socket_slot()),
            services_.pipe_waiters(),
            tls_ && !tls_->kernel_encrypts() ? tls_.get() : nullptr,
            tls_ && tls_->kernel_encrypts()};
}

} // namespace splicehttpd::server
