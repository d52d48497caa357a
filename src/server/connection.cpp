#include "server/connection.hpp"

#include "http/access_log.hpp"
#include "http/content_coding.hpp"
#include "http/file_response.hpp"
#include "http/mime.hpp"
#include "server/services.hpp"
#include "server/shared.hpp"
#include "sys/clock.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace splicehttpd::server {

namespace {

using uring::Op;
using Kind = transfer::Step::Kind;

// An exchange's input buffer above this is given back after the response,
// so the spares do not sit on a pipelined burst.
constexpr std::size_t kKeepMemory = 16 * 1024;

// A cached body at least this large is sent from the cache's copy, after
// the head, instead of being copied into the plan first: the copy costs
// more than the second send from here on.
constexpr std::uint64_t kSendFromCacheMin = 16 * 1024;

constexpr unsigned kStatxMask = STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME;

constexpr std::string_view kVariantSuffix[http::kVariantCount] = {"", ".br", ".gz"};
constexpr std::string_view kVariantEncoding[http::kVariantCount] = {"", "br", "gzip"};

Op op_of(Kind kind) noexcept
{
    switch (kind) {
    case Kind::Read: return Op::Read;
    case Kind::Send: return Op::Send;
    case Kind::SpliceIn: return Op::SpliceIn;
    case Kind::SpliceOut: return Op::SpliceOut;
    }
    return Op::None;
}

} // namespace

void Exchange::reset(std::size_t keep_bytes) noexcept
{
    parser.reset();
    inbuf.clear();
    inbuf_off = 0;
    // What one large request or response grew is given back, so that the
    // spares do not sit on it.
    if (inbuf.capacity() > kKeepMemory) std::string().swap(inbuf);
    if (plan.memory.capacity() > keep_bytes) {
        // Not `plan = {}`: a string moved from an empty (SSO) one keeps its
        // own buffer, and the memory would stay with the spare.
        plan.clear();
        std::string().swap(plan.memory);
        std::vector<http::Segment>().swap(plan.segments);
    }
    request_parsed = false;
    step = http::LookupStep::Primary;
    pending_status = 0;
    lookup_pending = 0;
    fds = {-1, -1, -1};
    cached = {};
    opened = {};
    listing_ticket = 0;
    listing.reset();
    body_fd = -1;
    body_cache = nullptr;
    body_source = {};
    fill_cache_body = false;
    body_in_memory = false;
    outq = -1;
    outq_pending = false;
    reads.count = 0;
    chain.count = 0;
    cursor = {};
    chain_pending = 0;
}

Connection::Connection(ConnectionServices& services, std::uint32_t index)
    : services_(services), index_(index), deadline_(index)
{
}

Connection::~Connection()
{
    delete x_; // the worker is going away; nothing is in flight
}

std::size_t Connection::buffered() const noexcept
{
    return x_ ? x_->buffered() : 0;
}

void Connection::take_exchange() noexcept
{
    if (!x_) x_ = services_.acquire_exchange();
}

// Only with nothing in flight that points into it.
void Connection::give_back_exchange() noexcept
{
    if (x_) services_.release_exchange(std::exchange(x_, nullptr));
}

io_uring_sqe* Connection::tag(io_uring_sqe* sqe, Op op, std::uint8_t seq) noexcept
{
    io_uring_sqe_set_data64(sqe, uring::UserData{op, seq, gen_, index_}.pack());
    if (services_.debug()) submitted_ns_[std::size_t(op)] = sys::monotonic_ns();
    ++inflight_;
    return sqe;
}

unsigned Connection::open_files() const noexcept
{
    if (!x_) return 0;
    return unsigned(std::count_if(x_->fds.begin(), x_->fds.end(), [](int fd) { return fd >= 0; }));
}

// The one entry for this connection's completions: every CQE but a
// multishot recv's intermediate ones ends a request in flight, and after any
// of them a closing connection may be done.
void Connection::on_cqe(uring::Op op, std::uint8_t seq, const io_uring_cqe& cqe) noexcept
{
    const bool more = op == Op::Recv && (cqe.flags & IORING_CQE_F_MORE);
    if (!more) --inflight_;
    switch (op) {
    // The connection may be free now (settle does nothing then); else its
    // keep-alive timeout starts: a client that never sends a byte gets no
    // other CQE that would put it in a deadline queue.
    case Op::Accept: on_accept(cqe.res); break;
    case Op::CloseSocket: return on_close_socket();
    case Op::Recv: on_recv(cqe); break;
    case Op::Openat: on_openat(seq, cqe.res); break;
    case Op::Statx: on_statx(seq, cqe.res); break;
    case Op::Read:
    case Op::Send:
    case Op::SpliceIn:
    case Op::SpliceOut: on_transfer_step(seq, cqe.res); break;
    case Op::PollOut: on_pollout(); break;
    case Op::OutQ: on_outq(cqe.res); break;
    case Op::Cancel: recv_cancel_pending_ = false; break;
    case Op::Shutdown: break;
    default: break;
    }
    settle();
}

// ---------------------------------------------------------------- accept

void Connection::arm_accept(int listen_fd) noexcept
{
    state_ = State::Accepting;
    uring::Chain chain(services_.ring(), 2);
    io_uring_sqe* sqe = chain.next();
    // One accept per free slot, into that slot: a multishot accept that
    // allocates slots itself accepts a connection before it finds the table
    // full (-ENFILE), and that client is reset. Non-blocking, so that a splice
    // to a full socket returns instead of sleeping in an io-wq worker.
    peer_len_ = sizeof peer_;
    io_uring_prep_accept_direct(sqe, listen_fd, reinterpret_cast<sockaddr*>(&peer_), &peer_len_, SOCK_NONBLOCK,
                                socket_slot());
    tag(sqe, Op::Accept);
    // The first read is linked to the accept (the slot is known before the
    // socket exists): with TCP_DEFER_ACCEPT the request is already there, so
    // it is read without another loop turn. Single-shot: a connection whose
    // first response closes it never has a recv to cancel; the multishot
    // recv is armed once the connection is known to stay open.
    sqe = chain.next();
    io_uring_prep_recv(sqe, int(socket_slot()), nullptr, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = services_.bufs().group();
    tag(sqe, Op::Recv);
}

void Connection::on_accept(int res) noexcept
{
    if (res < 0) {
        // Cancelled (stopping), or the client went away before it was
        // accepted: the slot was never filled.
        reset_for_reuse();
        services_.on_accept_failed(*this, res);
        return;
    }
    open();
    if (services_.stopping()) stop();
}

// ---------------------------------------------------------------- input

void Connection::open() noexcept
{
    state_ = State::Reading;
    idle_since_ns_ = services_.now_ns();
    recv_armed_ = true; // linked to the accept
}

void Connection::reset_for_reuse() noexcept
{
    ++gen_;
    state_ = State::Free;
    services_.deadlines().remove(deadline_);
    inflight_ = 0;
    parked = false;
    recv_armed_ = false;
    recv_cancel_pending_ = false;
    input_paused_ = false;
    recv_filled_ = false;
    peer_eof_ = false;
    pipe_ = nullptr;
    aborted_ = false;
    corked_ = false;
    give_back_exchange();
}

void Connection::arm_recv() noexcept
{
    io_uring_sqe* sqe = services_.ring().get_sqe();
    io_uring_prep_recv_multishot(sqe, int(socket_slot()), nullptr, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = services_.bufs().group();
    tag(sqe, Op::Recv);
    recv_armed_ = true;
}

void Connection::maybe_arm_recv() noexcept
{
    if (recv_armed_ || peer_eof_ || state_ < State::Reading || state_ >= State::Closing) return;
    if (buffered() >= services_.shared().config.max_input || !wants_input()) return;
    input_paused_ = false;
    arm_recv();
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
    if (!x_ || x_->ctx.keep_alive || recv_filled_) return true;
    return state_ >= State::WaitingPipe && x_->plan.uses_file() && !x_->body_in_memory;
}

void Connection::on_recv(const io_uring_cqe& cqe) noexcept
{
    if (!(cqe.flags & IORING_CQE_F_MORE)) recv_armed_ = false;
    const int res = cqe.res;
    if (res > 0) {
        auto bid = std::uint16_t(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
        recv_filled_ = unsigned(res) >= services_.bufs().buf_size();
        // Lingering or closing: what the peer still sends is dropped.
        if (state_ < State::Lingering) ingest(services_.bufs().data(bid), std::size_t(res));
        services_.bufs().recycle(bid);
    } else if (res == 0) {
        peer_eof_ = true;
        if (state_ == State::Reading || state_ == State::Lingering) begin_close(false);
    } else if (res == -ENOBUFS) {
        input_paused_ = true; // unread input may wait in the kernel
    } else if (res != -ECANCELED) {
        begin_close(true); // reset by peer, or worse
    }
    // -ENOBUFS: the buffer ring ran dry and the multishot ended; buffers go
    // back as soon as they are parsed, so arming again is enough.
    maybe_arm_recv();
}

void Connection::ingest(const char* data, std::size_t len) noexcept
{
    take_exchange();
    if (state_ == State::Reading && x_->inbuf_off == x_->inbuf.size()) {
        x_->inbuf.clear();
        x_->inbuf_off = 0;
        if (!x_->parser.mid_request()) request_since_ns_ = services_.now_ns();
        std::size_t used = parse(data, len);
        if (used < len) x_->inbuf.append(data + used, len - used);
    } else {
        // Drop what was parsed before growing, so a long pipelined burst
        // costs a copy per buffer, not a quadratic erase.
        if (x_->inbuf_off > 0) {
            x_->inbuf.erase(0, x_->inbuf_off);
            x_->inbuf_off = 0;
        }
        x_->inbuf.append(data, len);
    }
    if (x_->buffered() >= services_.shared().config.max_input && recv_armed_ && !recv_cancel_pending_) {
        io_uring_sqe* sqe = services_.ring().get_sqe();
        io_uring_prep_cancel64(sqe, uring::UserData{Op::Recv, 0, gen_, index_}.pack(), 0);
        tag(sqe, Op::Cancel);
        recv_cancel_pending_ = true;
        input_paused_ = true;
    }
}

std::size_t Connection::parse(const char* data, std::size_t len) noexcept
{
    http::ParseResult r = x_->parser.feed(data, len);
    switch (r.status) {
    case http::ParseStatus::NeedMore: return len;
    case http::ParseStatus::Complete: on_request(); return r.consumed;
    case http::ParseStatus::Error:
        // The byte stream can no longer be trusted: answer and close.
        respond_and_close(r.error_status);
        return len;
    }
    return len;
}

void Connection::process_buffered() noexcept
{
    request_since_ns_ = idle_since_ns_ = services_.now_ns();
    while (state_ == State::Reading && x_->inbuf_off < x_->inbuf.size()) {
        // parse() may answer at once (an error status): the plan is built
        // from the request, never from a view into x_->inbuf.
        x_->inbuf_off += parse(x_->inbuf.data() + x_->inbuf_off, x_->inbuf.size() - x_->inbuf_off);
    }
    if (x_->inbuf_off == x_->inbuf.size()) {
        x_->inbuf.clear();
        x_->inbuf_off = 0;
    }
    if (state_ != State::Reading) return;
    // Idle: nothing buffered, no request begun, nothing in flight but the recv.
    if (x_->buffered() == 0 && !x_->parser.mid_request()) give_back_exchange();
    if (peer_eof_)
        begin_close(false);
    else
        maybe_arm_recv();
}

// ---------------------------------------------------------------- request

void Connection::on_request() noexcept
{
    const Config& config = services_.shared().config;
    http::Route& r = x_->route;
    http::route(x_->parser.request(),
                {.dotfiles = config.dotfiles, .precompressed = config.precompressed, .stopping = services_.stopping()},
                r);
    x_->ctx = r.context;
    x_->request_parsed = true;
    if (r.kind == http::Route::Kind::Respond) return respond_status(r.status, r.extras);
    if (r.directory)
        submit_lookup(http::LookupStep::DirIndex, r.rel_path, "index.html");
    else
        submit_lookup(http::LookupStep::Primary, r.rel_path);
}

// Opens the path, and its precompressed siblings when the client and the
// type want them, all in one submit. The descriptors are plain ones, not
// fixed slots: io_uring's statx takes no fixed file, and metadata must come
// from the descriptor itself (a statx by path after the open could describe
// a file renamed into place in between, or follow a symlink out of the root).
void Connection::submit_lookup(http::LookupStep step, std::string_view dir, std::string_view name) noexcept
{
    state_ = State::Looking;
    x_->step = step;
    // dir/name, or dir alone; "." for the root. Into the exchange's buffer.
    std::string& path = x_->served_path;
    path.assign(dir);
    if (!name.empty()) {
        if (!path.empty()) path.push_back('/');
        path.append(name);
    }
    if (path.empty()) path.assign(".");
    x_->open_res.fill(0);
    x_->statx_res.fill(0);

    // RESOLVE_BENEATH is what keeps ".." and symlinks that leave the root
    // out. O_NONBLOCK so that a FIFO in the tree cannot block the open.
    x_->how = open_how{};
    x_->how.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    x_->how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

    const bool variants = step != http::LookupStep::DirItself && (x_->route.accepts_br || x_->route.accepts_gzip) &&
                          http::is_compressible(services_.shared().mime.content_type(x_->served_path));
    const bool wanted[http::kVariantCount] = {true, variants && x_->route.accepts_br,
                                              variants && x_->route.accepts_gzip};
    const int root = services_.shared().root_fd;
    FileCache& cache = services_.files();
    x_->lookup_pending = 0;
    for (unsigned v = 0; v < http::kVariantCount; ++v) {
        x_->lookup_paths[v].clear();
        x_->opened[v] = false;
        if (!wanted[v]) continue;
        x_->lookup_paths[v].append(x_->served_path).append(kVariantSuffix[v]);
        // A fresh cache entry answers without the ring: its descriptor and
        // the statx of that descriptor, or the remembered ENOENT.
        if (CachedFile* f = cache.find(x_->lookup_paths[v], services_.now_ns())) {
            if (f->fd >= 0) {
                x_->cached[v] = f;
                x_->stx[v] = f->stx;
            } else {
                x_->open_res[v] = -f->err;
                cache.release(f);
            }
            continue;
        }
        io_uring_sqe* sqe = services_.ring().get_sqe();
        io_uring_prep_openat2(sqe, root, x_->lookup_paths[v].c_str(), &x_->how);
        tag(sqe, Op::Openat, std::uint8_t(v));
        x_->opened[v] = true;
        ++x_->lookup_pending;
    }
    if (x_->lookup_pending == 0) on_lookup_done(); // all from the cache
}

void Connection::on_openat(std::uint8_t v, int res) noexcept
{
    x_->open_res[v] = res;
    if (res >= 0) x_->fds[v] = res;
    // The descriptor is ours even if the connection is closing: close_files.
    if (--x_->lookup_pending == 0 && state_ == State::Looking) submit_statx();
}

// statx on each descriptor that opened, all in one submit.
void Connection::submit_statx() noexcept
{
    for (unsigned v = 0; v < http::kVariantCount; ++v) {
        // Not when the file itself failed: the answer is an error anyway.
        if (x_->fds[v] < 0 || x_->open_res[http::kIdentity] < 0) continue;
        io_uring_sqe* sqe = services_.ring().get_sqe();
        io_uring_prep_statx(sqe, x_->fds[v], "", AT_EMPTY_PATH, kStatxMask, &x_->stx[v]);
        tag(sqe, Op::Statx, std::uint8_t(v));
        ++x_->lookup_pending;
    }
    if (x_->lookup_pending == 0) on_lookup_done();
}

void Connection::on_statx(std::uint8_t v, int res) noexcept
{
    x_->statx_res[v] = res;
    if (--x_->lookup_pending == 0 && state_ == State::Looking) on_lookup_done();
}

void Connection::on_lookup_done() noexcept
{
    std::array<http::Candidate, http::kVariantCount> c{};
    for (unsigned v = 0; v < http::kVariantCount; ++v) {
        c[v].tried = !x_->lookup_paths[v].empty();
        if (!c[v].tried) continue;
        c[v].err = x_->open_res[v] < 0 ? -x_->open_res[v] : x_->statx_res[v] < 0 ? -x_->statx_res[v] : 0;
        if (c[v].err) continue;
        const struct statx& s = x_->stx[v];
        c[v].regular = S_ISREG(s.stx_mode);
        c[v].directory = S_ISDIR(s.stx_mode);
        c[v].mtime_sec = s.stx_mtime.tv_sec;
        c[v].mtime_nsec = s.stx_mtime.tv_nsec;
    }
    // What the ring found goes into the cache: a regular file's descriptor
    // (the cache owns it from now on), or the fact that nothing is there.
    FileCache& cache = services_.files();
    for (unsigned v = 0; v < http::kVariantCount; ++v) {
        if (!x_->opened[v]) continue;
        if (c[v].err == 0 && c[v].regular && x_->fds[v] >= 0) {
            if (CachedFile* f = cache.adopt(x_->lookup_paths[v], x_->fds[v], x_->stx[v], services_.now_ns())) {
                x_->cached[v] = f;
                x_->fds[v] = -1;
            }
        } else if (c[v].err == ENOENT) {
            cache.remember_missing(x_->lookup_paths[v], ENOENT, services_.now_ns());
        }
    }
    const http::LookupVerdict verdict = http::decide_lookup(x_->step, c, services_.shared().config.autoindex);
    if (services_.debug() && verdict.kind == http::LookupVerdict::Kind::Serve) {
        const std::string note = http::skipped_siblings_note(x_->served_path, c, verdict.variant);
        if (!note.empty()) spdlog::debug("conn={} {}", index_, note);
    }
    switch (verdict.kind) {
    case http::LookupVerdict::Kind::Serve: return serve(verdict.variant);
    case http::LookupVerdict::Kind::Respond: close_files(); return respond_error(verdict.status);
    case http::LookupVerdict::Kind::Redirect: {
        close_files();
        const std::string location = x_->route.slash_location();
        http::ErrorExtras extras;
        extras.location = location;
        return respond_status(verdict.status, extras);
    }
    case http::LookupVerdict::Kind::LookUpDirectory:
        close_files();
        return submit_lookup(http::LookupStep::DirItself, x_->route.rel_path);
    case http::LookupVerdict::Kind::List: return list_directory();
    }
}

// The page now (cached), or later from the lister thread (still Looking,
// with a deadline: --send-timeout), or 503 when the lister is full.
void Connection::list_directory() noexcept
{
    DirLister::Answer answer =
        services_.list_directory(index_, gen_, x_->fds[http::kIdentity], x_->stx[http::kIdentity], x_->route.rel_path);
    switch (answer.kind) {
    case DirLister::Answer::Kind::Ready: close_files(); return serve_listing(std::move(answer.listing));
    case DirLister::Answer::Kind::Queued:
        x_->listing_ticket = answer.ticket;
        progress_ns_ = services_.now_ns();
        return;
    case DirLister::Answer::Kind::Refused: break;
    }
    close_files();
    http::ErrorExtras extras;
    extras.retry_after = 1;
    respond_status(http::kStatusNoPipe, extras);
}

void Connection::on_listing(std::uint32_t ticket, std::shared_ptr<const http::Listing> listing, int err) noexcept
{
    if (state_ != State::Looking || !x_ || ticket == 0 || ticket != x_->listing_ticket) return; // not for us
    x_->listing_ticket = 0;
    close_files();
    if (listing)
        serve_listing(std::move(listing));
    else
        respond_error(http::status_for_errno(err));
    settle(); // called from the worker, not from on_cqe: the deadline follows the new state
}

void Connection::serve_listing(std::shared_ptr<const http::Listing> listing) noexcept
{
    plan_context();
    x_->listing = std::move(listing);
    http::plan_listing(x_->plan, x_->parser.request(), *x_->listing, x_->ctx);
    start_response();
}

// The Date of a response is read when its plan is built, never held across
// a wait: the worker's date text changes every second.
void Connection::plan_context() noexcept
{
    const Config& config = services_.shared().config;
    x_->ctx.date = services_.date();
    x_->ctx.now = std::time(nullptr);
    x_->ctx.extra_headers = config.extra_headers;
    x_->ctx.max_age = -1;
}

void Connection::serve(http::Variant variant) noexcept
{
    const Shared& shared = services_.shared();
    const struct statx& stx = x_->stx[variant];
    http::FileMeta meta;
    meta.size = stx.stx_size;
    meta.mtime_sec = stx.stx_mtime.tv_sec;
    meta.mtime_nsec = stx.stx_mtime.tv_nsec;
    meta.content_type = shared.mime.content_type(x_->served_path);
    meta.content_encoding = kVariantEncoding[variant];
    meta.vary = shared.config.precompressed && http::is_compressible(meta.content_type);
    // Keep the descriptor served; the others close now.
    release_lookup(int(variant));
    x_->body_cache = std::exchange(x_->cached[variant], nullptr);
    if (x_->body_cache) {
        meta.etag = x_->body_cache->etag.view();
        meta.last_modified = x_->body_cache->last_modified.view();
    }
    x_->body_fd = x_->body_cache ? x_->body_cache->fd : x_->fds[variant];
    plan_context();
    if (!shared.config.expires_rules.empty()) {
        const std::string path = "/" + x_->served_path;
        if (const http::ExpiresRule* rule = http::match_expires(shared.config.expires_rules, path))
            x_->ctx.max_age = rule->seconds;
    }
    if (x_->step == http::LookupStep::ErrorPage)
        http::plan_file_as(x_->plan, x_->pending_status, meta, x_->ctx);
    else
        http::plan_file(x_->plan, x_->parser.request(), meta, x_->ctx, shared.boundary);
    start_response();
}

// A status the lookup chose: the --fallback file answers a 404 (once), an
// --error-page is sent with its status (once); else the short built-in page.
void Connection::respond_error(int status) noexcept
{
    const Config& config = services_.shared().config;
    const bool second = x_->step == http::LookupStep::Fallback || x_->step == http::LookupStep::ErrorPage;
    if (second && status == 0) status = x_->pending_status; // the page or the fallback is missing
    if (status == 404 && !config.fallback.empty() && !second &&
        http::fallback_applies(x_->route.rel_path, x_->route.directory, config.fallback_prefixes)) {
        x_->pending_status = 404;
        return submit_lookup(http::LookupStep::Fallback, config.fallback);
    }
    if (x_->step != http::LookupStep::ErrorPage) {
        for (const auto& [code, path] : config.error_pages) {
            if (code != status) continue;
            x_->pending_status = status;
            return submit_lookup(http::LookupStep::ErrorPage, path);
        }
    }
    respond_status(status);
}

void Connection::respond_status(int status, const http::ErrorExtras& extras) noexcept
{
    plan_context();
    http::plan_status(x_->plan, status, x_->ctx, extras);
    start_response();
}

// For a request that was never (fully) parsed: no context of its own.
void Connection::respond_and_close(int status) noexcept
{
    x_->ctx = http::ResponseContext{};
    x_->ctx.keep_alive = false;
    x_->request_parsed = false;
    respond_status(status);
}

// ---------------------------------------------------------------- transfer

void Connection::start_response() noexcept
{
    x_->cursor = {};
    x_->reads.count = 0;
    progress_ns_ = services_.now_ns();
    std::uint64_t file_bytes = 0;
    for (const http::Segment& s : x_->plan.segments)
        if (s.kind == http::Segment::Kind::File) file_bytes += s.length;
    // A small body goes out from memory: no pipe, no io-wq hop, and nobody
    // to wait behind for a pipe. One already in memory (the cache's copy,
    // a listing page) is sent from there when a second send costs less than
    // copying it into the plan; else it is copied (or read) into the plan
    // and goes out with the head in one send.
    const std::uint64_t inline_max = services_.shared().config.inline_max;
    if (x_->listing)
        x_->body_source = x_->listing->body;
    else if (x_->body_cache && x_->body_cache->has_body)
        x_->body_source = x_->body_cache->body;
    const bool in_memory = x_->listing || (x_->body_cache && x_->body_cache->has_body);
    x_->body_in_memory = in_memory && (file_bytes >= kSendFromCacheMin || file_bytes > inline_max);
    if (!x_->body_in_memory && file_bytes > 0 && file_bytes <= inline_max) {
        x_->reads = transfer::inline_file_body(x_->plan);
        fill_inline_body();
    }
    if (x_->plan.uses_file() && !x_->body_in_memory)
        need_pipe();
    else
        submit_chain();
    maybe_arm_recv(); // a long response that closes the connection reads what comes meanwhile
}

// A small body the cache holds needs no read; one it does not hold yet is
// kept when the first chain reads all of it.
void Connection::fill_inline_body() noexcept
{
    if (x_->listing || (x_->body_cache && x_->body_cache->has_body)) {
        for (const transfer::Step& r : x_->reads)
            std::memcpy(x_->plan.memory.data() + r.mem, x_->body_source.data() + r.file, r.len);
        x_->reads.count = 0;
        return;
    }
    if (!x_->body_cache) return;
    const transfer::Step& r = x_->reads.steps[0];
    x_->fill_cache_body = x_->reads.count == 1 && r.file == 0 && r.len == x_->body_cache->stx.stx_size;
    x_->body_hole = r.mem;
}

// A pipe now, or a place in the worker's queue (first come, first served),
// or, for a response not yet started when the queue is full, 503.
void Connection::need_pipe() noexcept
{
    const bool started = x_->cursor.delivered > 0;
    switch (services_.ask_pipe(*this, !started)) {
    case PipeAnswer::Granted: return; // on_pipe ran
    case PipeAnswer::Queued: state_ = State::WaitingPipe; return;
    case PipeAnswer::Refused: break;
    }
    close_files();
    http::ErrorExtras extras;
    extras.retry_after = 1;
    respond_status(http::kStatusNoPipe, extras);
}

void Connection::on_pipe(uring::Pipe* pipe) noexcept
{
    pipe_ = pipe;
    progress_ns_ = services_.now_ns(); // waiting for a pipe is not the peer's fault
    submit_chain();
    update_deadline();
}

// Called while WaitingWritable: the bytes in the pipe are dropped (the pipe
// is drained before reuse) and will be spliced from the file again.
void Connection::yield_pipe() noexcept
{
    release_pipe(x_->cursor.in_pipe != 0);
}

void Connection::submit_chain() noexcept
{
    state_ = State::Sending;
    const Config& config = services_.shared().config;
    transfer::Limits limits;
    limits.pipe_capacity = pipe_ ? pipe_->capacity : 0;
    limits.pairs = config.chain_pairs;
    limits.steps = transfer::kMaxSteps - x_->reads.count;
    limits.file_in_memory = x_->body_in_memory;
    const transfer::Chain next = transfer::next_chain(x_->plan, x_->cursor, limits);

    x_->chain = x_->reads;
    x_->reads.count = 0;
    for (const transfer::Step& s : next) x_->chain.push(s);
    x_->chain_start = x_->cursor;
    x_->outcome = {};
    x_->chain_pending = x_->chain.count;

    // Close first: a response that ends the connection is corked before its
    // first bytes, so that its last partial frame waits for the close and
    // leaves with the FIN. MSG_MORE on its last step (transfer::next_chain)
    // holds the tail only during that send: on loopback the peer's ACK comes
    // back at once and pushes it out, the client reads it and closes first
    // (tests/kernel/cork_until_close.c). Hard-linked: where the kernel
    // refuses, the response goes out uncorked.
    const bool cork =
        x_->plan.close && !corked_ && x_->chain.count > 0 && services_.ring().supports(IORING_OP_URING_CMD);
    uring::Chain chain(services_.ring(), x_->chain.count + (cork ? 1 : 0));
    if (cork) {
        submit_cork(chain.next());
        chain.hard_link();
        corked_ = true;
    }
    for (unsigned seq = 0; seq < x_->chain.count; ++seq) {
        const transfer::Step& s = x_->chain.steps[seq];
        io_uring_sqe* sqe = chain.next();
        const int socket = int(socket_slot());
        switch (s.kind) {
        case Kind::Read: io_uring_prep_read(sqe, x_->body_fd, x_->plan.memory.data() + s.mem, s.len, s.file); break;
        case Kind::Send:
            io_uring_prep_send(sqe, socket,
                               s.from_file ? x_->body_source.data() + s.file : x_->plan.memory.data() + s.mem, s.len,
                               MSG_NOSIGNAL | MSG_DONTWAIT | (s.wait_all ? MSG_WAITALL : 0) | (s.more ? MSG_MORE : 0));
            sqe->flags |= IOSQE_FIXED_FILE;
            break;
        case Kind::SpliceIn:
            // Explicit offset always: the file's own position is never used.
            io_uring_prep_splice(sqe, x_->body_fd, std::int64_t(s.file), pipe_->write.get(), -1, s.len, 0);
            break;
        case Kind::SpliceOut:
            io_uring_prep_splice(sqe, pipe_->read.get(), -1, socket, -1, s.len, s.more ? SPLICE_F_MORE : 0);
            sqe->flags |= IOSQE_FIXED_FILE; // applies to fd_out, the socket
            break;
        }
        tag(sqe, op_of(s.kind), std::uint8_t(seq));
    }
    if (x_->chain.count == 0) on_chain_done(); // nothing left: cannot happen, but never hang
}

void Connection::on_transfer_step(std::uint8_t seq, int res) noexcept
{
    if (seq < x_->chain.count) {
        const std::uint64_t before = x_->cursor.delivered;
        transfer::account(x_->chain.steps[seq], res, x_->cursor, x_->outcome);
        if (x_->cursor.delivered != before) {
            progress_ns_ = services_.now_ns();
            x_->outq = -1; // a stall check starts afresh
        }
    }
    if (--x_->chain_pending == 0) on_chain_done();
}

void Connection::on_chain_done() noexcept
{
    if (state_ != State::Sending) return;
    switch (transfer::after_chain(x_->chain_start, x_->cursor, x_->plan.total(), x_->outcome)) {
    case transfer::Next::Done: return finish_response();
    case transfer::Next::Abort: return begin_close(true);
    case transfer::Next::WaitWritable: return wait_writable();
    case transfer::Next::Continue:
        // Fairness: with others queued for a pipe, an empty one goes to the
        // first of them and this connection queues behind.
        if (pipe_ && x_->cursor.in_pipe == 0 && services_.pipe_waiters()) {
            release_pipe(false);
            return need_pipe();
        }
        return submit_chain();
    }
}

// The socket is full: wait for room through the ring (no io-wq worker
// sleeps on a socket). A pipe still holding bytes stays with this
// connection, but the worker may take it back for someone else (yield_pipe);
// an empty one goes back to the pool at once.
void Connection::wait_writable() noexcept
{
    state_ = State::WaitingWritable;
    io_uring_sqe* sqe = services_.ring().get_sqe();
    io_uring_prep_poll_add(sqe, int(socket_slot()), POLLOUT);
    sqe->flags |= IOSQE_FIXED_FILE;
    tag(sqe, Op::PollOut);
    if (pipe_ && x_->cursor.in_pipe == 0)
        release_pipe(false);
    else if (pipe_)
        services_.park(*this);
}

// An error or hang-up shows in the next send or splice, so the result
// itself says nothing new.
void Connection::on_pollout() noexcept
{
    if (state_ != State::WaitingWritable) return;
    if (x_->plan.uses_file() && !x_->body_in_memory && !pipe_ && x_->cursor.delivered < x_->plan.total())
        need_pipe();
    else
        submit_chain();
}

// setsockopt(TCP_CORK, 1) through the ring (SOCKET_URING_OP_SETSOCKOPT,
// Linux 6.7). liburing 2.3 has no io_uring_prep_cmd_sock: the fields are
// filled by hand (level and optname share the addr field, optlen is in
// file_index's place, optval in addr3's). Read when the SQE is issued, so
// the value can be a constant. No CQE unless it fails (worker: Op::Cork).
void Connection::submit_cork(io_uring_sqe* sqe) noexcept
{
    constexpr std::uint32_t kSocketUringOpSetsockopt = 3; // SOCKET_URING_OP_SETSOCKOPT
    static const int kOn = 1;
    io_uring_prep_rw(IORING_OP_URING_CMD, sqe, int(socket_slot()), nullptr, 0, 0);
    sqe->cmd_op = kSocketUringOpSetsockopt;
    sqe->addr = (std::uint64_t(TCP_CORK) << 32) | std::uint32_t(IPPROTO_TCP); // level, optname
    sqe->splice_fd_in = int(sizeof kOn);                                      // optlen
    sqe->addr3 = reinterpret_cast<std::uintptr_t>(&kOn);                      // optval
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, uring::UserData{Op::Cork, 0, gen_, index_}.pack());
}

// SIOCOUTQ through the ring (a socket uring_cmd, Linux 6.7): the bytes the
// socket still holds unsent or unacknowledged.
void Connection::check_send_queue() noexcept
{
    if (x_->outq_pending) return;
    constexpr std::uint32_t kSocketUringOpSiocOutq = 1; // SOCKET_URING_OP_SIOCOUTQ
    io_uring_sqe* sqe = services_.ring().get_sqe();
    io_uring_prep_rw(IORING_OP_URING_CMD, sqe, int(socket_slot()), nullptr, 0, 0);
    sqe->cmd_op = kSocketUringOpSiocOutq;
    sqe->flags |= IOSQE_FIXED_FILE;
    tag(sqe, Op::OutQ);
    x_->outq_pending = true;
}

// The first check of a stall remembers the queue and looks again about a
// second later; a queue that shrank in between is progress (the peer is
// reading, the link is slow), one that did not is a stalled peer.
void Connection::on_outq(int res) noexcept
{
    x_->outq_pending = false;
    if (state_ != State::WaitingWritable) return; // progress, or closing, since
    const std::uint64_t timeout = services_.shared().config.send_timeout * 1'000'000'000ull;
    const std::uint64_t now = services_.now_ns();
    if (res < 0) return begin_close(true); // the kernel cannot tell: the timeout stands
    if (x_->outq < 0) {
        x_->outq = res;
        progress_ns_ = now > timeout ? now - timeout + 1'000'000'000ull : 0; // look again in a second or two
    } else if (res < x_->outq) {
        x_->outq = res;
        progress_ns_ = now;
    } else {
        begin_close(true);
    }
}

void Connection::finish_response() noexcept
{
    log_access();
    if (x_->fill_cache_body)
        services_.files().set_body(
            x_->body_cache, std::string_view(x_->plan.memory).substr(x_->body_hole, x_->body_cache->stx.stx_size));
    close_files();
    release_pipe(false);
    if (x_->plan.close || services_.stopping()) return begin_close(false);
    x_->parser.next();
    state_ = State::Reading;
    process_buffered();
}

void Connection::log_access() noexcept
{
    if (!services_.access_log_on() || !x_ || x_->plan.status == 0) return;
    char client[INET6_ADDRSTRLEN] = "";
    if (peer_.sin6_family == AF_INET6)
        inet_ntop(AF_INET6, &peer_.sin6_addr, client, sizeof client);
    else if (peer_.sin6_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(peer_).sin_addr, client, sizeof client);
    http::AccessRecord r;
    r.client = client;
    r.time = services_.log_time();
    if (x_->request_parsed) {
        const http::Request& req = x_->parser.request();
        r.method = req.method_name;
        r.target = req.target;
        r.http_major = req.http_major;
        r.http_minor = req.http_minor;
        if (req.referer) r.referer = *req.referer;
        if (req.user_agent) r.user_agent = *req.user_agent;
    }
    r.status = x_->plan.status;
    const std::uint64_t head = x_->plan.head().size();
    r.body_bytes = x_->cursor.delivered > head ? x_->cursor.delivered - head : 0;
    http::append_access_line(services_.log_line(), r);
    services_.line_logged();
}

// ---------------------------------------------------------------- teardown

void Connection::stop() noexcept
{
    // Responses in flight finish (finish_response closes when stopping);
    // a connection between requests closes now.
    if (state_ == State::Reading) begin_close(false);
}

void Connection::on_deadline(std::uint64_t now) noexcept
{
    const Config& config = services_.shared().config;
    const std::uint64_t s = 1'000'000'000;
    switch (state_) {
    case State::Reading:
        // A request under way must be complete within the header timeout
        // (counted from its first byte, so dribbling does not extend it);
        // an idle connection closes after the keep-alive timeout.
        if (x_ && (x_->parser.mid_request() || x_->buffered() > 0)) {
            if (now - request_since_ns_ > config.header_timeout * s) respond_and_close(http::kStatusHeaderTimeout);
        } else if (now - idle_since_ns_ > config.keepalive_timeout * s) {
            begin_close(false);
        }
        break;
    case State::Sending:
    case State::WaitingWritable:
        // The send timeout is about progress, not a deadline: the socket
        // took no byte for that long. Waiting for room, that can also mean a
        // slow link still draining a deep queue (POLLOUT comes only when
        // much of it has gone): the socket's queue is asked first.
        if (now - progress_ns_ <= config.send_timeout * s) break;
        if (state_ == State::WaitingWritable && services_.ring().supports(IORING_OP_URING_CMD))
            check_send_queue();
        else
            begin_close(true);
        break;
    case State::Looking:
        // Waiting for the lister thread: as long as a response may go
        // without progress. Its page, when it comes, goes to the cache.
        if (x_ && x_->listing_ticket != 0 && now - progress_ns_ > config.send_timeout * s) {
            x_->listing_ticket = 0;
            close_files();
            http::ErrorExtras extras;
            extras.retry_after = 1;
            respond_status(http::kStatusNoPipe, extras);
        }
        break;
    case State::Lingering:
        if (now - linger_since_ns_ > kLingerNs || services_.stopping()) begin_close(false);
        break;
    default: break;
    }
    update_deadline();
}

void Connection::abort() noexcept
{
    if (state_ >= State::Reading && state_ < State::Closing) begin_close(true);
}

void Connection::begin_close(bool abort) noexcept
{
    if (state_ >= State::Closing) return;
    // A response cut short is logged with what the peer got of it.
    if (abort && state_ >= State::WaitingPipe && state_ <= State::WaitingWritable) log_access();
    if (!abort && state_ != State::Lingering && must_linger()) return start_lingering();
    state_ = State::Closing;
    aborted_ = abort;
    // A graceful close finds only the multishot recv in flight: cancel it
    // (inline, unlike shutdown, which takes an io-wq hop).
    const unsigned recv_ops = unsigned(recv_armed_) + unsigned(recv_cancel_pending_);
    if (!abort && inflight_ == recv_ops) {
        if (recv_armed_ && !recv_cancel_pending_) {
            io_uring_sqe* sqe = services_.ring().get_sqe();
            io_uring_prep_cancel64(sqe, uring::UserData{Op::Recv, 0, gen_, index_}.pack(), 0);
            tag(sqe, Op::Cancel);
            recv_cancel_pending_ = true;
        }
    } else if (inflight_ > 0) {
        // shutdown rather than cancel: it also fails the links of a chain
        // that have not started yet (a cancel only finds requests already
        // issued), completes a POLLOUT wait, and ends the multishot recv.
        io_uring_sqe* sqe = services_.ring().get_sqe();
        io_uring_prep_shutdown(sqe, int(socket_slot()), SHUT_RDWR);
        sqe->flags |= IOSQE_FIXED_FILE;
        tag(sqe, Op::Shutdown);
    }
    settle();
}

// Closing a socket whose receive queue holds bytes makes the kernel send a
// reset, and a reset throws away what the send buffer still holds: the end
// of the last response. So when the peer may still be sending (it pipelined
// past "Connection: close", or input was paused), our side is shut first and
// its input is read and dropped until it closes too, or for a few seconds.
// Otherwise (nothing after the request, input never paused) the socket
// closes at once, as nginx's default lingering_close does when no more data
// is expected: a connection whose first response closes it costs an accept,
// a recv, a send and a close, and no recv to cancel.
bool Connection::must_linger() const noexcept
{
    if (peer_eof_) return false;
    return buffered() > 0 || input_paused_;
}

void Connection::start_lingering() noexcept
{
    state_ = State::Lingering;
    linger_since_ns_ = services_.now_ns();
    if (x_) {
        x_->inbuf.clear();
        x_->inbuf_off = 0;
    }
    io_uring_sqe* sqe = services_.ring().get_sqe();
    io_uring_prep_shutdown(sqe, int(socket_slot()), SHUT_WR); // FIN after the response
    sqe->flags |= IOSQE_FIXED_FILE;
    tag(sqe, Op::Shutdown);
    maybe_arm_recv();
}

void Connection::settle() noexcept
{
    if (state_ == State::Closing && inflight_ == 0) finish_close();
    update_deadline();
}

void Connection::update_deadline() noexcept
{
    Deadline queue = Deadline::None;
    std::uint64_t since = 0;
    switch (state_) {
    case State::Reading:
        if (x_ && (x_->parser.mid_request() || x_->buffered() > 0)) {
            queue = Deadline::Request;
            since = request_since_ns_;
        } else {
            queue = Deadline::Idle;
            since = idle_since_ns_;
        }
        break;
    case State::Looking:
        if (!x_ || x_->listing_ticket == 0) break;
        [[fallthrough]]; // waiting for the lister: as long as a stalled send
    case State::Sending:
    case State::WaitingWritable:
        queue = Deadline::Send;
        since = progress_ns_;
        break;
    case State::Lingering:
        queue = Deadline::Linger;
        since = linger_since_ns_;
        break;
    default: break;
    }
    services_.deadlines().place(deadline_, queue, since);
}

void Connection::finish_close() noexcept
{
    close_files();
    release_pipe(aborted_ || (x_ && x_->cursor.in_pipe != 0));
    give_back_exchange();
    io_uring_sqe* sqe = services_.ring().get_sqe();
    io_uring_prep_close_direct(sqe, socket_slot());
    tag(sqe, Op::CloseSocket);
    state_ = State::Closed;
}

void Connection::on_close_socket() noexcept
{
    reset_for_reuse();
    services_.release(*this);
}

void Connection::close_files() noexcept
{
    if (!x_) return;
    release_lookup(-1);
    x_->body_source = {};
    x_->listing.reset();
    services_.files().release(std::exchange(x_->body_cache, nullptr));
    x_->fill_cache_body = false;
    x_->body_fd = -1;
}

void Connection::release_lookup(int keep) noexcept
{
    for (unsigned v = 0; v < http::kVariantCount; ++v) {
        if (int(v) == keep) continue;
        services_.files().release(std::exchange(x_->cached[v], nullptr));
        int& fd = x_->fds[v];
        if (fd < 0) continue;
        // Not part of any chain (a broken link would cancel it and leak the
        // descriptor); no CQE unless it fails.
        io_uring_sqe* sqe = services_.ring().get_sqe();
        io_uring_prep_close(sqe, fd);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        io_uring_sqe_set_data64(sqe, uring::UserData{Op::CloseFile, 0, gen_, index_}.pack());
        fd = -1;
    }
}

// A pipe that may hold bytes (an aborted or yielded transfer) is drained
// before anyone gets it again; its bytes will be spliced from the file anew.
void Connection::release_pipe(bool maybe_dirty) noexcept
{
    if (!pipe_) return;
    services_.pipes().release(pipe_, maybe_dirty);
    pipe_ = nullptr;
    if (x_) x_->cursor.in_pipe = 0;
}

} // namespace splicehttpd::server
