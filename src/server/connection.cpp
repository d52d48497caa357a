#include "server/connection.hpp"

#include "server/listen_address.hpp"
#include "sys/assert.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <array>
#include <utility>

namespace splicehttpd::server {

using uring::Op;

Connection::Connection(ConnectionServices& services, const ConnectionOptions& options, std::uint32_t index)
    : services_(services),
      options_(options),
      index_(index),
      ops_(services.ring(), index, options.debug),
      deadline_(index)
{
}

Connection::~Connection()
{
    delete exchange_; // the worker is going away; nothing is in flight
}

void Connection::give_back_exchange() noexcept
{
    if (!exchange_) return;
    // Nothing in flight may point into it (paths, statx buffers, the plan).
    SPLICEHTTPD_ASSERT(exchange_->in_flight() == 0 && exchange_->open_files() == 0 && !exchange_->send.holds_pipe());
    services_.return_exchange(std::exchange(exchange_, nullptr));
}

// The one entry for this connection's completions: every CQE but a
// multishot recv's intermediate ones ends a request in flight; the op table
// says whose it is. After any of them a closing connection may be done.
void Connection::on_cqe(Op op, std::uint8_t seq, const io_uring_cqe& cqe) noexcept
{
    const bool more = op == Op::Recv && (cqe.flags & IORING_CQE_F_MORE);
    if (!more) ops_.completed();
    switch (uring::op_def(op).owner) {
    case uring::Owner::Lookup: {
        SPLICEHTTPD_ASSERT(exchange_);
        const Lookup::Result r = exchange_->lookup.on_cqe(op, seq, cqe.res, lookup_env(), state_ == State::Looking);
        if (state_ == State::Looking) on_lookup(r);
        break;
    }
    case uring::Owner::Sender: {
        SPLICEHTTPD_ASSERT(exchange_);
        const std::uint64_t before = exchange_->send.delivered();
        const Sender::Next next = exchange_->send.on_cqe(op, seq, cqe.res);
        if (exchange_->send.delivered() != before) progress_ns_ = services_.now_ns();
        // Only the wait this state is in goes on: a closing connection's
        // chain completes, and nothing more is sent.
        const bool room_op = op == Op::PollOut || op == Op::OutQ;
        if (room_op ? waits_for_room() : state_ == State::Sending) on_send(next);
        break;
    }
    case uring::Owner::Connection:
        switch (op) {
        // The connection may be free now (settle does nothing then); else its
        // keep-alive timeout starts: a client that never sends a byte gets no
        // other CQE that would put it in a deadline queue.
        case Op::Accept: on_accept(cqe.res); break;
        case Op::CloseSocket: return on_close_socket();
        case Op::Recv: on_recv(cqe); break;
        case Op::CancelRecv: socket_.on_cancelled(); break;
        case Op::Shutdown: break;
        case Op::TlsSend: on_tls_sent(cqe.res); break;
        case Op::KernelTls: on_kernel_tls(seq, cqe.res); break;
        case Op::TlsCloseNotify:
            tls_->on_kernel_close_notify();
            on_close_notify_sent(cqe.res > 0);
            break;
        default: SPLICEHTTPD_ASSERT(false); break; // the op table says it is ours
        }
        break;
    case uring::Owner::Worker:
    case uring::Owner::Pool: SPLICEHTTPD_ASSERT(false); break; // the worker's to handle
    }
    settle();
}

// ---------------------------------------------------------------- input

void Connection::arm_accept(int listen_fd, Listener from) noexcept
{
    SPLICEHTTPD_ASSERT(state_ == State::Free && ops_.in_flight() == 0);
    state_ = State::Accepting;
    listener_ = from;
    socket_.arm_accept(listen_fd, socket_env());
}

void Connection::on_accept(int res) noexcept
{
    if (res < 0) {
        // Cancelled (stopping), or the client went away before it was
        // accepted: the slot was never filled. The recv linked to it
        // completes with -ECANCELED for the old generation, and is dropped.
        SPLICEHTTPD_ASSERT(ops_.in_flight() <= 1);
        reset_for_reuse();
        services_.on_accept_failed(*this, res);
        return;
    }
    open();
    if (listener_ == Listener::Tls) {
        tls_ = std::make_unique<TlsStream>(services_.tls_contexts(), options_.kernel_tls);
        if (!tls_->valid()) return begin_close(true); // out of memory
    }
    if (services_.stopping()) stop();
}

void Connection::open() noexcept
{
    state_ = State::Reading;
    accepted_ns_ = idle_since_ns_ = services_.now_ns();
    socket_.accepted();
}

void Connection::reset_for_reuse() noexcept
{
    ops_.next_generation();
    state_ = State::Free;
    services_.deadlines().remove(deadline_);
    socket_.reset();
    aborted_ = false;
    give_back_exchange();
    tls_.reset();
    tls_close_after_ = false;
    tls_notifying_ = false;
    handshake_waits_ = false;
    answered_ = false;
    forget_site();
}

void Connection::maybe_arm_recv() noexcept
{
    if (socket_.armed() || socket_.at_end() || !traits(state_).open) return;
    if (input_backlog() >= options_.max_input || !wants_input()) return;
    socket_.arm(socket_env());
}

// Input is read while the connection may serve another request, and while a
// close lingers. During a response that closes the connection it is read
// only where the peer may send more before the close (which must then
// linger, or the unread input makes it a reset): a long, spliced response,
// or when the first read filled its buffer. A short response closes at once
// and never has a recv to cancel.
bool Connection::wants_input() const noexcept
{
    if (state_ == State::Reading || state_ == State::Lingering) return true;
    if (!exchange_ || exchange_->ctx.keep_alive || socket_.filled()) return true;
    return traits(state_).responding && exchange_->send.uses_pipe();
}

void Connection::on_recv(const io_uring_cqe& cqe) noexcept
{
    const Socket::Received r = socket_.on_recv(cqe, socket_env());
    switch (r.kind) {
    case Socket::Received::Kind::Bytes:
        // Lingering or closing: what the peer still sends is dropped.
        if (tls_) {
            // Copied into the session: the buffer goes back at once.
            if (traits(state_).keeps_input && !tls_close_after_) tls_->feed(r.bytes);
            socket_.recycle(r, socket_env());
            // A handshake's first step waits for the worker's turn; what
            // comes meanwhile is fed, and read then.
            if (!handshake_waits_ && tls_->greeting() && traits(state_).keeps_input)
                handshake_waits_ = services_.defer_handshake(*this);
            if (!handshake_waits_) pump_tls();
            break;
        }
        if (traits(state_).keeps_input) ingest(r.bytes);
        socket_.recycle(r, socket_env());
        break;
    case Socket::Received::Kind::End:
        // During the kTLS hand-off the session holds back what came before
        // the end (a request, then the client's FIN): it is answered once
        // the keys are in (on_kernel_tls), as the user-space path answers it.
        if (tls_ && tls_->handing_off()) break;
        // So does the end of a handshake that waits for its turn.
        if (handshake_waits_) break;
        if (state_ == State::Reading || state_ == State::Lingering) begin_close(false);
        break;
    case Socket::Received::Kind::NoBuffers:
    case Socket::Received::Kind::Cancelled: break;
    case Socket::Received::Kind::Failed: begin_close(true); break;
    }
    maybe_arm_recv();
}

// Parsed at once when the connection waits for a request and nothing kept
// comes before these bytes; else kept for after the response in flight.
void Connection::ingest(std::string_view bytes) noexcept
{
    if (!exchange_) exchange_ = services_.lend_exchange();
    RequestBuffer& in = exchange_->input;
    const bool parse = state_ == State::Reading && in.buffered() == 0;
    if (parse && !in.mid_request()) request_since_ns_ = services_.now_ns();
    on_parsed(in.take(bytes, parse));
    // Back-pressure: past --max-input, reading stops until the backlog is
    // answered.
    if (input_backlog() >= options_.max_input) socket_.cancel(socket_env(), true);
}

// Input received and not answered yet: plaintext kept, and ciphertext the
// session has not decrypted. OpenSSL takes a partial record into a buffer
// of its own (one record at most), which is not counted: a record larger
// than --max-input still comes in whole. A lingering close drops input, and
// what the session still holds must not keep its recv from draining the
// peer (closing with unread input is a reset, which loses the response's
// unsent tail).
std::size_t Connection::input_backlog() const noexcept
{
    const std::size_t plain = exchange_ ? exchange_->input.buffered() : 0;
    return plain + (tls_ && traits(state_).keeps_input ? tls_->buffered() : 0);
}

void Connection::on_parsed(RequestBuffer::Parsed p) noexcept
{
    switch (p.kind) {
    case RequestBuffer::Parsed::Kind::NeedMore: return;
    case RequestBuffer::Parsed::Kind::Request: return on_request();
    case RequestBuffer::Parsed::Kind::Error:
        log_bad_request(exchange_->input.error_reason(), false);
        return respond_and_close(p.status);
    }
}

void Connection::process_buffered() noexcept
{
    RequestBuffer& in = exchange_->input;
    request_since_ns_ = idle_since_ns_ = services_.now_ns();
    while (state_ == State::Reading && in.buffered() > 0) on_parsed(in.parse_kept());
    // Plaintext left in the session while the backlog was full.
    if (tls_ && state_ == State::Reading) pump_tls();
    if (state_ != State::Reading) return;
    // Idle: nothing buffered, no request begun, nothing in flight but the recv.
    if (in.buffered() == 0 && !in.mid_request()) give_back_exchange();
    if (socket_.at_end())
        begin_close(false);
    else
        maybe_arm_recv();
}

// ---------------------------------------------------------------- request

// The site the request's Host (or its absolute-form target's authority)
// names, from the newest generation the worker adopted; nullptr where none
// answers it (unknown-host = "421").
void Connection::choose_site(const http::Request& req) noexcept
{
    site_generation_ = options_.sites;
    const WorkerSites& w = *site_generation_;
    if (!w.hosts) {
        site_ = &w.sites.front();
        return;
    }
    const std::optional<std::string_view> host = req.host;
    const Site* site = w.hosts->match(http::request_authority(req.target, host.value_or("")));
    site_ = site ? &w.sites[w.hosts->index_of(*site)] : nullptr;
}

void Connection::forget_site() noexcept
{
    site_ = nullptr;
    site_generation_.reset();
}

void Connection::on_request() noexcept
{
    Exchange& x = *exchange_;
    const http::Request& req = x.input.request();
    if (listener_ != Listener::Metrics) choose_site(req);
    const SiteOptions& site = this->site();
    http::route(req, {.dotfiles = site.dotfiles, .precompressed = site.precompressed, .stopping = services_.stopping()},
                x.route);
    x.ctx = x.route.context;
    x.request_parsed = true;
    if (listener_ == Listener::Metrics) return respond_metrics();
    if (!site_ && x.route.kind == http::Route::Kind::Lookup) {
        // No site has this name (nginx's 421 for a server name no block has).
        plan_status_response(x, 421, {}, plan_options(), services_.date());
        return start_response();
    }
    // Not over a unix socket: the proxy in front of it has its own scheme.
    if (options_.https_redirect && !tls_ && socket_.peer().sin6_family != AF_UNIX &&
        x.route.kind == http::Route::Kind::Lookup && !x.route.acme_challenge())
        return redirect_to_https();
    if (x.route.kind == http::Route::Kind::Respond) {
        if (!x.route.problem.empty()) log_bad_request(x.route.problem, true);
        plan_status_response(x, x.route.status, x.route.extras, plan_options(), services_.date());
        return start_response();
    }
    state_ = State::Looking;
    on_lookup(x.lookup.start(lookup_env()));
}

// A lookup's verdict -> the next state.
void Connection::on_lookup(Lookup::Result r) noexcept
{
    Exchange& x = *exchange_;
    const bool answered = r.kind != Lookup::Result::Kind::Pending && r.kind != Lookup::Result::Kind::List;
    if (answered && x.lookup.failure().kind != Lookup::Failure::Kind::None) log_lookup_failure();
    switch (r.kind) {
    case Lookup::Result::Kind::Pending: return; // still Looking
    case Lookup::Result::Kind::List: {
        // The page now (cached), or later from the lister thread (still
        // Looking, with a deadline), or 503 when the lister is full.
        DirLister::Answer a = services_.list_directory(index_, ops_.gen(), x.lookup.dir_fd(), x.lookup.dir_stat(),
                                                       x.route.rel_path, site().dotfiles);
        listing_since_ns_ = services_.now_ns();
        return on_lookup(x.lookup.on_lister(std::move(a), lookup_env()));
    }
    case Lookup::Result::Kind::Busy: return respond_busy();
    case Lookup::Result::Kind::Page: {
        std::shared_ptr<const http::Listing> page = x.lookup.take_page();
        plan_listing_response(x, *page, plan_options(), services_.date());
        x.send.set_listing(std::move(page));
        break;
    }
    case Lookup::Result::Kind::Serve: {
        const FoundFile file = x.lookup.take(r.variant, lookup_env());
        x.send.set_file(file);
        plan_file_response(x, file, plan_options(), services_.date());
        break;
    }
    case Lookup::Result::Kind::Respond: plan_status_response(x, r.status, {}, plan_options(), services_.date()); break;
    case Lookup::Result::Kind::Redirect: plan_redirect_response(x, r.status, plan_options(), services_.date()); break;
    }
    start_response();
}

void Connection::on_listing(std::uint32_t ticket, std::shared_ptr<const http::Listing> listing, int err) noexcept
{
    if (state_ != State::Looking || !exchange_) return; // not waiting for one
    on_lookup(exchange_->lookup.on_listing(ticket, std::move(listing), err, lookup_env()));
    settle(); // called from the worker, not from on_cqe: the deadline follows the new state
}

// No pipe, or no room for a listing: come back in a second.
void Connection::respond_busy() noexcept
{
    close_files();
    plan_busy_response(*exchange_, plan_options(), services_.date());
    start_response();
}

// For a request that was never (fully) parsed: no context of its own.
void Connection::respond_and_close(int status) noexcept
{
    plan_unparsed_response(*exchange_, status, plan_options(), services_.date());
    start_response();
}

// ---------------------------------------------------------------- transfer

void Connection::start_response() noexcept
{
    progress_ns_ = services_.now_ns();
    state_ = State::Sending;
    on_send(exchange_->send.start(send_env()));
    maybe_arm_recv(); // a long response that closes the connection reads what comes meanwhile
}

// What the sender reports -> the next state.
void Connection::on_send(Sender::Next next) noexcept
{
    Exchange& x = *exchange_;
    switch (next) {
    case Sender::Next::InFlight: return;
    case Sender::Next::Submitted: state_ = State::Sending; return;
    case Sender::Next::Done: return finish_response();
    case Sender::Next::Continue: return on_send(x.send.resume(send_env()));
    case Sender::Next::NeedPipe: return need_pipe();
    case Sender::Next::WaitWritable:
        state_ = State::WaitingWritable;
        x.send.wait_writable(send_env());
        if (x.send.holds_pipe()) services_.park(ticket());
        return;
    case Sender::Next::Abort: return begin_close(true);
    case Sender::Next::LookAgain: return; // at the next tick: Recheck, from when it was asked
    case Sender::Next::QueueDrained: progress_ns_ = services_.now_ns(); return;
    }
}

// A pipe now, or a place in the worker's queue (first come, first served),
// or, for a response not yet started when the queue is full, 503.
void Connection::need_pipe() noexcept
{
    const PipeQueue::Answer answer = services_.ask_pipe(ticket(), !exchange_->send.started());
    switch (answer.kind) {
    case PipeQueue::Answer::Kind::Granted: return on_send(exchange_->send.on_pipe(answer.pipe, send_env()));
    case PipeQueue::Answer::Kind::Queued: state_ = State::WaitingPipe; return;
    case PipeQueue::Answer::Kind::Refused: break;
    }
    respond_busy();
}

void Connection::on_pipe(uring::Pipe* pipe) noexcept
{
    SPLICEHTTPD_ASSERT(state_ == State::WaitingPipe && exchange_);
    // Waiting for a pipe is not the peer's fault; and a stall check under way
    // rejoins its queue now, at the tail (its question was asked before the
    // wait, out of every queue: from then it would be out of order).
    progress_ns_ = recheck_since_ns_ = services_.now_ns();
    on_send(exchange_->send.on_pipe(pipe, send_env()));
    settle();
}

bool Connection::yield_pipe() noexcept
{
    if (state_ != State::WaitingWritable || !holds_pipe()) return false;
    exchange_->send.yield_pipe(services_.pipes());
    return true;
}

void Connection::finish_response() noexcept
{
    log_access();
    answered_ = true;
    forget_site(); // the next request chooses its own
    exchange_->send.finish(send_env());
    close_files();
    if (exchange_->send.plan().close) return begin_close(false);
    exchange_->input.next();
    state_ = State::Reading;
    // A response planned before the stop (so without Connection: close)
    // ends the connection now, between requests: over TLS close_notify
    // goes first, as after an idle one (begin_close).
    if (services_.stopping()) return begin_close(false);
    process_buffered();
}

// ---------------------------------------------------------------- teardown

void Connection::stop() noexcept
{
    // Responses in flight finish (finish_response closes when stopping);
    // a keep-alive connection between requests closes now. A connection
    // whose request has not come whole yet, or whose first request has not
    // come at all (accepted just before the stop: during a binary
    // hand-over its client sent it to a listener that was open), is
    // answered, with Connection: close, within the shutdown's grace.
    if (state_ == State::Reading && answered_ && !(exchange_ && exchange_->input.mid_request())) begin_close(false);
    settle();
}

void Connection::abort() noexcept
{
    if (traits(state_).open) begin_close(true);
    settle();
}

void Connection::begin_close(bool abort) noexcept
{
    if (!traits(state_).open) return; // closing already
    if (!abort && notify_before_close()) return;
    // A response cut short is logged with what the peer got of it.
    if (abort && traits(state_).responding) log_access();
    if (!abort && state_ != State::Lingering && socket_.peer_may_send(input_backlog())) return start_lingering();
    state_ = State::Closing;
    aborted_ = abort;
    // A graceful close finds only the multishot recv in flight: cancel it.
    if (!abort && ops_.in_flight() == socket_.in_flight()) {
        socket_.cancel(socket_env(), false);
    } else if (ops_.in_flight() > 0) {
        socket_.shutdown(socket_env(), SHUT_RDWR); // also what has not started yet
    }
}

void Connection::start_lingering() noexcept
{
    state_ = State::Lingering;
    linger_since_ns_ = services_.now_ns();
    if (exchange_) exchange_->input.drop();
    socket_.shutdown(socket_env(), SHUT_WR); // FIN after the response
    maybe_arm_recv();
}

// After every event: a closing connection with nothing in flight closes its
// socket, and the deadline follows the state.
void Connection::settle() noexcept
{
    if (state_ == State::Closing && ops_.in_flight() == 0) finish_close();
    const Wait w = deadline_wanted();
    services_.deadlines().place(deadline_, w.kind, w.since);
}

void Connection::finish_close() noexcept
{
    SPLICEHTTPD_ASSERT(ops_.in_flight() == 0);
    close_files();
    if (exchange_) exchange_->send.give_back_pipe(services_.pipes(), aborted_);
    give_back_exchange();
    socket_.close(socket_env());
    state_ = State::Closed;
}

void Connection::on_close_socket() noexcept
{
    SPLICEHTTPD_ASSERT(ops_.in_flight() == 0);
    reset_for_reuse();
    services_.slot_freed(*this);
}

// What the lookup and the response hold of files (not the pipe).
void Connection::close_files() noexcept
{
    if (!exchange_) return;
    exchange_->lookup.close_all(ops_, services_.file_cache());
    exchange_->send.close_body(ops_, services_.file_cache());
}

} // namespace splicehttpd::server
