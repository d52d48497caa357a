// One worker per thread: its own ring, listening socket (SO_REUSEPORT),
// provided buffers, pipe pool and connection table, and the CQE loop that
// drives them. Nothing here is shared with other workers.
#pragma once

#include "http/date.hpp"
#include "metrics/board.hpp"
#include "server/client_limit.hpp"
#include "server/connection.hpp"
#include "server/dir_lister.hpp"
#include "server/error_log.hpp"
#include "server/listener.hpp"
#include "server/pipe_queue.hpp"
#include "server/services.hpp"
#include "server/setup.hpp"
#include "sys/unique_fd.hpp"
#include "uring/pipe_pool.hpp"
#include "uring/ring.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

namespace splicehttpd::server {

// Commands the main thread posts (bit flags), then signals through the
// worker's eventfd.
enum Command : unsigned { kCommandStop = 1, kCommandStats = 2, kCommandSites = 4 /* adopt the newest sites */ };

// A completion's result for the logs: "42", or "-EAGAIN".
std::string cqe_result_text(int res);

class Worker final : public ConnectionServices {
public:
    // listeners: this worker's socket for each --listen address (then
    // --tls-port's), each plain or TLS; metrics_listener: --metrics-listen's
    // (one worker has it), or none.
    Worker(unsigned id, const ServerSetup& setup, std::vector<ListenSocket> listeners, sys::UniqueFd metrics_listener,
           int wake_fd, std::atomic<unsigned>& commands);
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker();

    // The CQE loop; returns once stopped and every connection has closed.
    void run();

    // ConnectionServices
    uring::Ring& ring() noexcept override { return *ring_; }
    uring::BufRing& bufs() noexcept override { return *bufs_; }
    uring::PipePool& pipes() noexcept override { return *pipes_; }
    FileCache& file_cache() noexcept override { return *file_cache_; }
    DeadlineQueues& deadlines() noexcept override { return deadlines_; }
    [[nodiscard]] bool access_log_on() const noexcept override { return setup_.access_log != nullptr; }
    std::string& log_line() noexcept override { return access_batch_; }
    void line_logged() noexcept override;
    std::string_view log_time() override;
    LogLimiter::Verdict error_log_admits(const ErrorKind& kind) noexcept override;
    void error_log(const ErrorEntry& entry, const ErrorContext& context,
                   const LogLimiter::Verdict& verdict) noexcept override;
    std::string_view date() override { return dates_.now(); }
    [[nodiscard]] std::uint64_t now_ns() const noexcept override { return now_ns_; }
    [[nodiscard]] bool stopping() const noexcept override { return stopping_; }
    PipeQueue::Answer ask_pipe(PipeTicket ticket, bool may_refuse) override;
    [[nodiscard]] bool pipe_waiters() const noexcept override { return pipe_queue_.has_waiters(); }
    void park(PipeTicket ticket) override { pipe_queue_.park(ticket); }
    bool defer_handshake(Connection& c) noexcept override;
    void slot_freed(Connection& c) noexcept override;
    void on_accept_failed(Connection& c, int res) noexcept override;
    void response_done(int status, unsigned method, std::uint64_t bytes, Body body) noexcept override;
    std::string metrics_text() override;
    std::shared_ptr<const tls::ContextSet> tls_contexts() override { return setup_.tls ? setup_.tls->get() : nullptr; }
    Exchange* lend_exchange() override;
    void return_exchange(Exchange* x) noexcept override;
    DirLister::Answer list_directory(std::uint32_t index, std::uint16_t gen, int& dir_fd, const struct statx& stx,
                                     std::string_view rel_path, bool dotfiles) override;

private:
    static constexpr std::uint32_t kWorkerIndex = 0xFFFFFFFFu; // user_data index of worker-level ops

    void dispatch(const io_uring_cqe& cqe) noexcept;
    void adopt_sites(std::shared_ptr<const SiteGeneration> generation);
    void log_completion(const uring::UserData& ud, const io_uring_cqe& cqe) const;
    void fill_accepts() noexcept;
    // Into the last free slot; source: an index into sources_, or kNoSource.
    void arm_accept_on(int listen_fd, Connection::Listener from, std::uint8_t source) noexcept;
    void publish_metrics() noexcept;
    void arm_listen_polls() noexcept;
    void on_listen_poll(std::uint8_t source, int res) noexcept;
    void arm_wake() noexcept;
    io_uring_sqe* worker_sqe(uring::Op op) noexcept; // an SQE whose completion is the worker's
    void on_wake(int res) noexcept;
    void arm_listings() noexcept;
    void on_listings(int res) noexcept;
    void begin_stop() noexcept;
    void on_grace_timeout() noexcept;
    void arm_tick() noexcept;
    void on_tick() noexcept;
    void serve_pipe_waiters() noexcept;
    void run_handshakes() noexcept;
    [[nodiscard]] bool waits_for_pipe(PipeTicket t) const noexcept; // the ticket is live and waits
    void limit_client(Connection& c) noexcept;
    void log_stats() const;

    const unsigned id_;
    const ServerSetup& setup_;
    const bool debug_;
    const unsigned max_conns_;
    // Where connections come from: each --listen address (plain or TLS),
    // then --tls-port's; with the accepts armed on each (fill_accepts
    // shares the free slots).
    struct Source {
        sys::UniqueFd fd;
        Connection::Listener kind;
        unsigned armed = 0;
        bool polling = false; // a ListenPoll is armed on it
    };
    static constexpr std::uint8_t kNoSource = 0xFF; // the metrics listener's accept
    std::vector<Source> sources_;
    std::size_t next_source_ = 0;             // the first asked when two have as few armed
    std::vector<std::uint8_t> accept_source_; // by connection index: the source of its armed accept
    sys::UniqueFd metrics_listener_;
    metrics::WorkerSample sample_; // counted here, published to setup_.metrics once a second
    int wake_fd_;
    std::atomic<unsigned>& commands_;

    std::unique_ptr<uring::Ring> ring_;
    std::unique_ptr<uring::BufRing> bufs_;
    std::unique_ptr<uring::PipePool> pipes_;
    std::unique_ptr<FileCache> file_cache_; // before conns_: connections let go of entries into it
    std::unique_ptr<DirLister> lister_;     // --autoindex only
    DeadlineQueues deadlines_;              // before conns_: connections leave it as they go
    ConnectionOptions conn_options_;        // built once (its sites at each reload); every connection reads it
    PipeQueue pipe_queue_;
    // HTTPS: ClientHellos left for after the turn's other completions
    // (defer_handshake, run_handshakes). A ring of connection indices, each
    // in it at most once (handshake_queued_, by index): max_conns_ entries.
    // Empty without a TLS listener.
    std::vector<std::uint32_t> handshakes_;
    std::vector<std::uint8_t> handshake_queued_;
    std::size_t handshake_head_ = 0;
    std::size_t handshake_count_ = 0;
    std::vector<std::unique_ptr<Connection>> conns_;
    std::vector<std::uint32_t> free_conns_;
    // Exchanges not in use, kept for the next request (at most kSpareExchanges).
    std::vector<std::unique_ptr<Exchange>> spare_exchanges_;
    unsigned exchanges_ = 0; // made and not yet destroyed
    http::DateCache dates_;
    // Access log lines not yet handed to the writer thread: one hand-over per
    // kAccessBatch bytes or per tick, not per line (each is a queue lock and
    // often a futex wake).
    std::string access_batch_;
    void hand_over_access_lines() noexcept;
    // The error log's lines, per worker: a flood from one client that lands
    // on every worker is let through once per worker.
    LogLimiter error_limiter_;
    void log_suppressed() noexcept;
    std::string log_time_; // the access log's time text, formatted once a second
    std::time_t log_time_sec_ = -1;

    unsigned live_ = 0;                  // connections with a socket
    unsigned accepts_armed_ = 0;         // connections waiting in an accept
    unsigned metrics_accepts_armed_ = 0; // ... of them, on the metrics listener
    bool accept_paused_ = false;         // an accept failed: try again on the next tick
    bool stopping_ = false;
    std::uint64_t wake_buf_ = 0;
    __kernel_timespec grace_{};
    __kernel_timespec tick_{};
    std::uint64_t now_ns_ = 0;
    std::uint64_t wake_submitted_ns_ = 0;
    std::uint64_t tick_submitted_ns_ = 0;
    std::uint64_t accepted_ = 0;
    // --max-conns-per-ip: the address each connection was counted under
    // (by connection index), and the connections this worker refused.
    std::vector<std::optional<ClientKey>> client_keys_;
    std::uint64_t refused_per_ip_ = 0;
};

} // namespace splicehttpd::server
