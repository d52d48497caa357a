// One client connection: an explicit state machine driven by its completions.
//
// Life cycle (the enum's order is the order things happen in):
//   Reading -> Looking (statx + openat2) -> [WaitingPipe] -> Sending (send +
//   splice chain, resubmitted after short splices) -> Reading ... -> Closing
//   (shutdown issued, waiting for in-flight work) -> Closed (socket close in
//   flight) -> Free.
#pragma once

#include "http/file_response.hpp"
#include "http/parser.hpp"
#include "http/response.hpp"
#include "sys/pipe_pool.hpp"
#include "uring/chain.hpp"
#include "uring/user_data.hpp"

#include <linux/openat2.h>
#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <string>

namespace splicehttpd::server {

class Worker;

class Connection {
public:
    enum class State : std::uint8_t { Free, Reading, Looking, WaitingPipe, Sending, Closing, Closed };

    Connection(Worker& worker, std::uint32_t index);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // A client was accepted into socket_slot of the fixed-file table.
    void open(int socket_slot) noexcept;

    void on_recv(const io_uring_cqe& cqe) noexcept;
    void on_statx(int res) noexcept;
    void on_openat(int res) noexcept;
    void on_send(std::uint8_t seq, int res) noexcept;
    void on_splice_in(std::uint8_t seq, int res) noexcept;
    void on_splice_out(std::uint8_t seq, int res) noexcept;
    void on_shutdown(int res) noexcept;
    void on_cancel(int res) noexcept;
    void on_close_socket(int res) noexcept;
    void on_pipe(sys::Pipe* pipe) noexcept; // the pipe it waited for

    void stop() noexcept;  // server stopping: finish the response in flight, then close
    // Once a second: close a connection idle, slow to send its request, or
    // whose response made no progress for too long.
    void on_tick(std::uint64_t now_ns) noexcept;
    void abort() noexcept; // grace period over: close now

    // After the socket's close completed: ready for another client.
    void reset_for_reuse() noexcept;

    [[nodiscard]] State state() const noexcept { return state_; }
    [[nodiscard]] std::uint16_t gen() const noexcept { return gen_; }
    [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
    [[nodiscard]] unsigned open_file_slots() const noexcept { return unsigned(slot_open_[0]) + slot_open_[1]; }
    [[nodiscard]] std::uint64_t submitted_ns(uring::Op op) const noexcept
    {
        return submitted_ns_[std::size_t(op)];
    }

private:
    // Which lookup a statx + openat2 pair answers.
    enum class Step : std::uint8_t { Primary, DirIndex, DirItself, VariantBr, VariantGz };

    // input
    void arm_recv() noexcept;
    void maybe_arm_recv() noexcept;
    void ingest(const char* data, std::size_t len) noexcept;
    std::size_t parse(const char* data, std::size_t len) noexcept;
    void process_buffered() noexcept;

    // request -> lookup -> plan
    void on_request() noexcept;
    void submit_lookup(Step step, std::string path, unsigned slot) noexcept;
    void on_lookup_done() noexcept;
    void on_file_found() noexcept;
    bool try_variant(Step step) noexcept;
    void serve(unsigned slot, const struct statx& stx, std::string_view encoding) noexcept;
    void respond_status(int status, const http::ErrorExtras& extras = {}) noexcept;
    void respond_and_close(int status) noexcept;

    // plan -> wire
    void start_response() noexcept;
    void submit_transfer() noexcept;
    void add_send(uring::Chain& chain, const char* data, std::uint32_t len, bool more) noexcept;
    void add_splice_in(uring::Chain& chain, std::uint64_t offset, std::uint32_t len) noexcept;
    void add_splice_out(uring::Chain& chain, std::uint32_t len, bool more) noexcept;
    void chain_step_done() noexcept;
    void on_chain_done() noexcept;
    void finish_response() noexcept;

    // teardown
    void begin_close(bool abort) noexcept;
    void settle() noexcept;
    void finish_close() noexcept;
    void close_files() noexcept;
    void release_pipe(bool maybe_dirty) noexcept;

    io_uring_sqe* tag(io_uring_sqe* sqe, uring::Op op, std::uint8_t seq = 0) noexcept;
    [[nodiscard]] unsigned file_slot(unsigned k) const noexcept;

    Worker& worker_;
    const std::uint32_t index_;
    std::uint16_t gen_ = 0;
    State state_ = State::Free;
    int socket_slot_ = -1;
    unsigned inflight_ = 0; // CQEs still to come (a multishot recv counts once)

    // input
    http::RequestParser parser_;
    std::string inbuf_; // bytes received while busy, or after a pipelined request
    bool recv_armed_ = false;
    bool recv_cancel_pending_ = false;
    bool peer_eof_ = false;
    std::uint64_t idle_since_ns_ = 0;    // between requests: since the last response
    std::uint64_t request_since_ns_ = 0; // the first bytes of the request being read
    std::uint64_t progress_ns_ = 0;      // while sending: the last completion that moved bytes

    // the request being answered
    http::ResponseContext ctx_;
    std::string target_path_; // raw, for Location
    std::string query_;
    bool has_query_ = false;
    std::string rel_path_;    // normalised, relative to the root

    // lookup
    Step step_ = Step::Primary;
    unsigned lookup_slot_ = 0;
    unsigned lookup_pending_ = 0;
    int statx_res_ = 0;
    int open_res_ = 0;
    std::string lookup_path_; // must outlive the SQEs that point at it
    std::string served_path_; // the file whose siblings are looked for
    struct statx stx_ {};
    struct statx primary_ {};
    open_how how_{};
    std::array<bool, 2> slot_open_{}; // [0] the file, [1] a precompressed sibling
    bool accepts_br_ = false;
    bool accepts_gzip_ = false;

    // transfer
    http::ResponsePlan plan_;
    unsigned serving_slot_ = 0;
    sys::Pipe* pipe_ = nullptr;
    std::uint64_t total_ = 0;
    std::uint64_t delivered_ = 0;  // bytes the socket has taken
    std::uint64_t pipe_bytes_ = 0; // bytes sitting in the pipe
    unsigned chain_pending_ = 0;
    bool chain_fatal_ = false;
    std::uint64_t chain_start_delivered_ = 0;
    std::uint64_t chain_start_pipe_ = 0;
    std::array<std::uint32_t, 64> expected_{}; // requested length by chain position
    bool aborted_ = false;

    std::array<std::uint64_t, std::size_t(uring::Op::Count_)> submitted_ns_{};
};

} // namespace splicehttpd::server
