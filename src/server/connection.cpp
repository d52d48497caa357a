#include "server/connection.hpp"

#include "http/content_coding.hpp"
#include "http/mime.hpp"
#include "http/path.hpp"
#include "server/worker.hpp"
#include "sys/clock.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace splicehttpd::server {

namespace {

using uring::Op;

// While a response is in flight, input is only buffered; past this much the
// multishot recv is cancelled until the backlog has been parsed.
constexpr std::size_t kMaxBufferedInput = 64 * 1024;

constexpr unsigned kStatxMask = STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME;

// A pipe holds capacity/4096 pages, not bytes: a chunk starting at an offset
// that is not page-aligned fits capacity - offset % 4096 bytes. Asking for
// more makes the splice short (which breaks the link).
constexpr std::uint64_t kPage = 4096;

std::string join(const std::string& dir, std::string_view name)
{
    if (dir.empty()) return std::string(name);
    std::string out = dir;
    out.push_back('/');
    out.append(name);
    return out;
}

} // namespace

Connection::Connection(Worker& worker, std::uint32_t index)
    : worker_(worker), index_(index), parser_(worker.shared().config.limits)
{
}

io_uring_sqe* Connection::tag(io_uring_sqe* sqe, Op op, std::uint8_t seq) noexcept
{
    io_uring_sqe_set_data64(sqe, uring::UserData{op, seq, gen_, index_}.pack());
    if (worker_.debug()) submitted_ns_[std::size_t(op)] = sys::monotonic_ns();
    ++inflight_;
    return sqe;
}

unsigned Connection::file_slot(unsigned k) const noexcept
{
    return worker_.file_slot_base() + 2 * index_ + k;
}

// ---------------------------------------------------------------- input

void Connection::open(int socket_slot) noexcept
{
    socket_slot_ = socket_slot;
    state_ = State::Reading;
    idle_since_ns_ = worker_.now_ns();
    parser_.reset();
    arm_recv();
}

void Connection::reset_for_reuse() noexcept
{
    ++gen_;
    state_ = State::Free;
    socket_slot_ = -1;
    inflight_ = 0;
    inbuf_.clear();
    inbuf_.shrink_to_fit();
    recv_armed_ = false;
    recv_cancel_pending_ = false;
    peer_eof_ = false;
    slot_open_ = {};
    pipe_ = nullptr;
    pipe_bytes_ = 0;
    aborted_ = false;
    plan_ = {};
}

void Connection::arm_recv() noexcept
{
    io_uring_sqe* sqe = worker_.ring().get_sqe();
    io_uring_prep_recv_multishot(sqe, socket_slot_, nullptr, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = worker_.bufs().group();
    tag(sqe, Op::Recv);
    recv_armed_ = true;
}

void Connection::maybe_arm_recv() noexcept
{
    if (!recv_armed_ && !peer_eof_ && state_ < State::Closing && inbuf_.size() < kMaxBufferedInput) arm_recv();
}

void Connection::on_recv(const io_uring_cqe& cqe) noexcept
{
    if (!(cqe.flags & IORING_CQE_F_MORE)) {
        recv_armed_ = false;
        --inflight_;
    }
    const int res = cqe.res;
    if (res > 0) {
        auto bid = std::uint16_t(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
        if (state_ < State::Closing) ingest(worker_.bufs().data(bid), std::size_t(res));
        worker_.bufs().recycle(bid);
    } else if (res == 0) {
        peer_eof_ = true;
        if (state_ == State::Reading) begin_close(false);
    } else if (res != -ENOBUFS && res != -ECANCELED) {
        begin_close(true); // reset by peer, or worse
    }
    // -ENOBUFS: the buffer ring ran dry and the multishot ended; buffers go
    // back as soon as they are parsed, so arming again is enough.
    maybe_arm_recv();
    settle();
}

void Connection::ingest(const char* data, std::size_t len) noexcept
{
    if (state_ == State::Reading && inbuf_.empty()) {
        if (!parser_.mid_request()) request_since_ns_ = worker_.now_ns();
        std::size_t used = parse(data, len);
        if (used < len) inbuf_.append(data + used, len - used);
    } else {
        inbuf_.append(data, len);
    }
    if (inbuf_.size() >= kMaxBufferedInput && recv_armed_ && !recv_cancel_pending_) {
        io_uring_sqe* sqe = worker_.ring().get_sqe();
        io_uring_prep_cancel64(sqe, uring::UserData{Op::Recv, 0, gen_, index_}.pack(), 0);
        tag(sqe, Op::Cancel);
        recv_cancel_pending_ = true;
    }
}

std::size_t Connection::parse(const char* data, std::size_t len) noexcept
{
    http::ParseResult r = parser_.feed(data, len);
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
    request_since_ns_ = idle_since_ns_ = worker_.now_ns();
    while (state_ == State::Reading && !inbuf_.empty()) {
        std::size_t used = parse(inbuf_.data(), inbuf_.size());
        inbuf_.erase(0, used);
    }
    if (state_ != State::Reading) return;
    if (peer_eof_)
        begin_close(false);
    else
        maybe_arm_recv();
}

// ---------------------------------------------------------------- request

void Connection::on_request() noexcept
{
    const http::Request& req = parser_.request();
    const Config& config = worker_.shared().config;
    ctx_.date = worker_.date();
    ctx_.head_request = req.method == HTTP_HEAD;
    ctx_.http10 = req.http_minor == 0;
    ctx_.keep_alive = req.keep_alive && req.method != HTTP_CONNECT && !worker_.stopping();

    // RFC 9112 §3.2: a 1.1 request needs exactly one Host; none at all may
    // come with 1.0, but never two.
    if (req.host_count > 1 || (req.http_minor >= 1 && req.host_count == 0)) {
        respond_status(400);
        return;
    }
    http::ErrorExtras allow;
    allow.allow = "GET, HEAD";
    switch (http::classify_method(req.method)) {
    case http::MethodClass::NotImplemented: respond_status(501); return;
    case http::MethodClass::NotAllowed: respond_status(405, allow); return;
    case http::MethodClass::Options: respond_status(req.target == "*" ? 204 : 405, allow); return;
    case http::MethodClass::Get:
    case http::MethodClass::Head: break;
    }

    auto target = http::split_target(req.target);
    if (!target || target->form == http::TargetForm::Asterisk) {
        respond_status(400);
        return;
    }
    auto path = http::normalize_path(target->path);
    if (!path) {
        respond_status(400);
        return;
    }
    if (path->dotfile && !config.dotfiles) {
        respond_status(404);
        return;
    }
    target_path_.assign(target->path);
    query_.assign(target->query);
    has_query_ = target->has_query;
    rel_path_ = std::move(path->rel);

    http::AcceptedCodings codings;
    if (config.precompressed && req.accept_encoding) codings = http::parse_accept_encoding(*req.accept_encoding);
    accepts_br_ = codings.br;
    accepts_gzip_ = codings.gzip;

    if (path->directory)
        submit_lookup(Step::DirIndex, join(rel_path_, "index.html"), 0);
    else
        submit_lookup(Step::Primary, rel_path_, 0);
}

void Connection::submit_lookup(Step step, std::string path, unsigned slot) noexcept
{
    state_ = State::Looking;
    step_ = step;
    lookup_slot_ = slot;
    lookup_path_ = path.empty() ? std::string(".") : std::move(path);
    lookup_pending_ = 2;
    statx_res_ = 0;
    open_res_ = 0;

    // openat2 first, into this connection's fixed slot: RESOLVE_BENEATH is
    // what keeps ".." and symlinks that leave the root out, and when it fails
    // the linked statx is cancelled, so nothing about a path outside the root
    // (not even whether it exists) reaches the response. statx cannot take a
    // fixed file, so it follows by path. O_NONBLOCK so that a FIFO in the
    // tree cannot block the open.
    how_ = open_how{};
    how_.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY; // no O_CLOEXEC: EINVAL for a fixed slot
    how_.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

    const int root = worker_.shared().root_fd;
    uring::Chain chain(worker_.ring(), 2);
    io_uring_sqe* sqe = chain.next();
    io_uring_prep_openat2_direct(sqe, root, lookup_path_.c_str(), &how_, file_slot(slot));
    tag(sqe, Op::Openat);
    sqe = chain.next();
    io_uring_prep_statx(sqe, root, lookup_path_.c_str(), AT_NO_AUTOMOUNT, kStatxMask, &stx_);
    tag(sqe, Op::Statx);
}

void Connection::on_statx(int res) noexcept
{
    --inflight_;
    statx_res_ = res;
    if (--lookup_pending_ == 0) on_lookup_done();
    settle();
}

void Connection::on_openat(int res) noexcept
{
    --inflight_;
    open_res_ = res;
    if (res >= 0) slot_open_[lookup_slot_] = true;
    if (--lookup_pending_ == 0) on_lookup_done();
    settle();
}

void Connection::on_lookup_done() noexcept
{
    if (state_ != State::Looking) return;
    // openat2's verdict first: it is the one that enforces the root (and when
    // it failed, statx was cancelled).
    int err = 0;
    if (open_res_ < 0)
        err = -open_res_;
    else if (statx_res_ < 0)
        err = -statx_res_;
    const mode_t mode = stx_.stx_mode;

    switch (step_) {
    case Step::Primary:
        if (err) return respond_status(http::status_for_errno(err));
        if (S_ISDIR(mode)) {
            std::string location = target_path_ + "/";
            if (has_query_) location += "?" + query_;
            http::ErrorExtras extras;
            extras.location = location;
            return respond_status(301, extras);
        }
        return on_file_found();

    case Step::DirIndex:
        if (err == ENOENT) return submit_lookup(Step::DirItself, rel_path_, 0);
        if (err) return respond_status(http::status_for_errno(err));
        return on_file_found();

    case Step::DirItself:
        // No index.html: a directory we will not list (403), or no such
        // directory at all (404).
        if (err) return respond_status(http::status_for_errno(err));
        return respond_status(S_ISDIR(mode) ? 403 : 404);

    case Step::VariantBr:
    case Step::VariantGz: {
        // A sibling older than its original is stale: never serve it.
        const bool fresh = err == 0 && S_ISREG(mode) &&
                           (stx_.stx_mtime.tv_sec > primary_.stx_mtime.tv_sec ||
                            (stx_.stx_mtime.tv_sec == primary_.stx_mtime.tv_sec &&
                             stx_.stx_mtime.tv_nsec >= primary_.stx_mtime.tv_nsec));
        if (fresh) return serve(1, stx_, step_ == Step::VariantBr ? "br" : "gzip");
        if (step_ == Step::VariantBr && try_variant(Step::VariantGz)) return;
        return serve(0, primary_, {});
    }
    }
}

// The file (or index.html) was found: serve it, or first look for a
// precompressed sibling.
void Connection::on_file_found() noexcept
{
    if (!S_ISREG(stx_.stx_mode)) return respond_status(403); // FIFO, socket, device
    primary_ = stx_;
    served_path_ = lookup_path_;
    if (try_variant(Step::VariantBr) || try_variant(Step::VariantGz)) return;
    serve(0, primary_, {});
}

// Starts the lookup of a precompressed sibling of served_path_ if the client
// and the type want one. False when there is nothing to look for.
bool Connection::try_variant(Step step) noexcept
{
    const bool wanted = step == Step::VariantBr ? accepts_br_ : accepts_gzip_;
    if (!wanted || !http::is_compressible(worker_.shared().mime.content_type(served_path_))) return false;
    submit_lookup(step, served_path_ + (step == Step::VariantBr ? ".br" : ".gz"), 1);
    return true;
}

void Connection::serve(unsigned slot, const struct statx& stx, std::string_view encoding) noexcept
{
    const Shared& shared = worker_.shared();
    http::FileMeta meta;
    meta.size = stx.stx_size;
    meta.ino = stx.stx_ino;
    meta.mtime_sec = stx.stx_mtime.tv_sec;
    meta.mtime_nsec = stx.stx_mtime.tv_nsec;
    meta.content_type = shared.mime.content_type(served_path_);
    meta.content_encoding = encoding;
    meta.vary = shared.config.precompressed && http::is_compressible(meta.content_type);
    serving_slot_ = slot;
    plan_ = http::plan_file(parser_.request(), meta, ctx_, shared.boundary);
    start_response();
}

void Connection::respond_status(int status, const http::ErrorExtras& extras) noexcept
{
    plan_ = http::plan_status(status, ctx_, extras);
    start_response();
}

// For a request that was never (fully) parsed: no context of its own.
void Connection::respond_and_close(int status) noexcept
{
    ctx_ = http::ResponseContext{.date = worker_.date(), .keep_alive = false};
    respond_status(status);
}

// ---------------------------------------------------------------- transfer

void Connection::start_response() noexcept
{
    total_ = plan_.total();
    delivered_ = 0;
    pipe_bytes_ = 0;
    if (plan_.uses_file()) {
        pipe_ = worker_.pipes().acquire();
        if (!pipe_) {
            state_ = State::WaitingPipe;
            worker_.wait_for_pipe(*this);
            return;
        }
    }
    submit_transfer();
}

void Connection::on_pipe(sys::Pipe* pipe) noexcept
{
    pipe_ = pipe;
    submit_transfer();
}

// Submits as much of the plan as one chain may hold, starting where the
// socket left off. Bytes already in the pipe (a short pipe->socket splice)
// go first.
void Connection::submit_transfer() noexcept
{
    if (state_ != State::Sending) progress_ns_ = worker_.now_ns();
    state_ = State::Sending;
    const unsigned pairs_max = worker_.shared().config.chain_pairs;
    const unsigned len_max = std::min<unsigned>(2 * pairs_max + 8, unsigned(expected_.size()));
    uring::Chain chain(worker_.ring(), len_max);
    chain_fatal_ = false;
    chain_start_delivered_ = delivered_;
    chain_start_pipe_ = pipe_bytes_;

    std::uint64_t pos = delivered_ + pipe_bytes_; // next byte to source
    if (pipe_bytes_ > 0) add_splice_out(chain, std::uint32_t(pipe_bytes_), pos < total_);

    unsigned pairs = 0;
    std::size_t seg = 0;
    std::uint64_t seg_start = 0;
    const auto& segments = plan_.segments;
    while (pos < total_) {
        while (seg_start + segments[seg].length <= pos) seg_start += segments[seg++].length;
        const http::Segment& s = segments[seg];
        const std::uint64_t left = s.length - (pos - seg_start);
        if (s.kind == http::Segment::Kind::Memory) {
            if (chain.length() + 1 > len_max) break;
            auto len = std::uint32_t(std::min<std::uint64_t>(left, 1u << 30));
            add_send(chain, plan_.memory.data() + s.offset + (pos - seg_start), len, pos + len < total_);
            pos += len;
        } else {
            if (pairs == pairs_max || chain.length() + 2 > len_max) break;
            const std::uint64_t file_off = s.offset + (pos - seg_start);
            const std::uint64_t room = pipe_->capacity - file_off % kPage;
            const auto chunk = std::uint32_t(std::min(left, room));
            add_splice_in(chain, file_off, chunk);
            add_splice_out(chain, chunk, pos + chunk < total_);
            pos += chunk;
            ++pairs;
        }
    }
    chain_pending_ = chain.length();
}

void Connection::add_send(uring::Chain& chain, const char* data, std::uint32_t len, bool more) noexcept
{
    auto seq = std::uint8_t(chain.length());
    io_uring_sqe* sqe = chain.next();
    // MSG_WAITALL: a short send would not break the link, and the splices
    // behind it would put body bytes after half a header.
    io_uring_prep_send(sqe, socket_slot_, data, len, MSG_WAITALL | MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    sqe->flags |= IOSQE_FIXED_FILE;
    tag(sqe, Op::Send, seq);
    expected_[seq] = len;
}

void Connection::add_splice_in(uring::Chain& chain, std::uint64_t offset, std::uint32_t len) noexcept
{
    auto seq = std::uint8_t(chain.length());
    io_uring_sqe* sqe = chain.next();
    // Explicit offset always: the file's own position is never used.
    io_uring_prep_splice(sqe, int(file_slot(serving_slot_)), std::int64_t(offset), pipe_->write.get(), -1, len,
                         SPLICE_F_FD_IN_FIXED);
    tag(sqe, Op::SpliceIn, seq);
    expected_[seq] = len;
}

void Connection::add_splice_out(uring::Chain& chain, std::uint32_t len, bool more) noexcept
{
    auto seq = std::uint8_t(chain.length());
    io_uring_sqe* sqe = chain.next();
    io_uring_prep_splice(sqe, pipe_->read.get(), -1, socket_slot_, -1, len, more ? SPLICE_F_MORE : 0);
    sqe->flags |= IOSQE_FIXED_FILE; // applies to fd_out, the socket
    tag(sqe, Op::SpliceOut, seq);
    expected_[seq] = len;
}

void Connection::on_send(std::uint8_t seq, int res) noexcept
{
    --inflight_;
    if (res >= 0) {
        delivered_ += std::uint64_t(res);
        if (std::uint32_t(res) < expected_[seq]) chain_fatal_ = true; // the link went on regardless
    } else if (res != -ECANCELED) {
        chain_fatal_ = true;
    }
    chain_step_done();
}

void Connection::on_splice_in(std::uint8_t, int res) noexcept
{
    --inflight_;
    if (res > 0)
        pipe_bytes_ += std::uint64_t(res); // short: the link broke, the next chain resumes
    else if (res != -ECANCELED)
        chain_fatal_ = true; // 0 is EOF: the file shrank under us
    chain_step_done();
}

void Connection::on_splice_out(std::uint8_t, int res) noexcept
{
    --inflight_;
    if (res > 0) {
        pipe_bytes_ -= std::uint64_t(res);
        delivered_ += std::uint64_t(res);
    } else if (res != -ECANCELED) {
        chain_fatal_ = true; // -EAGAIN here is SO_SNDTIMEO: the peer stopped reading
    }
    chain_step_done();
}

void Connection::chain_step_done() noexcept
{
    progress_ns_ = worker_.now_ns();
    if (--chain_pending_ == 0) on_chain_done();
    settle();
}

void Connection::on_chain_done() noexcept
{
    if (state_ != State::Sending) return;
    if (chain_fatal_) return begin_close(true);
    if (delivered_ == total_ && pipe_bytes_ == 0) return finish_response();
    if (delivered_ == chain_start_delivered_ && pipe_bytes_ == chain_start_pipe_) return begin_close(true);
    submit_transfer(); // a short splice cut the chain: carry on from here
}

void Connection::finish_response() noexcept
{
    close_files();
    release_pipe(false);
    if (plan_.close || worker_.stopping()) return begin_close(false);
    parser_.next();
    state_ = State::Reading;
    process_buffered();
}

// ---------------------------------------------------------------- teardown

void Connection::stop() noexcept
{
    // Responses in flight finish (finish_response closes when stopping);
    // a connection between requests closes now.
    if (state_ == State::Reading) begin_close(false);
}

void Connection::on_tick(std::uint64_t now) noexcept
{
    const Config& config = worker_.shared().config;
    const std::uint64_t s = 1'000'000'000;
    if (state_ == State::Reading) {
        // A request under way must be complete within the header timeout
        // (counted from its first byte, so dribbling does not extend it);
        // an idle connection closes after the keep-alive timeout.
        if (parser_.mid_request() || !inbuf_.empty()) {
            if (now - request_since_ns_ > config.header_timeout * s) respond_and_close(408);
        } else if (now - idle_since_ns_ > config.keepalive_timeout * s) {
            begin_close(false);
        }
    } else if (state_ == State::Sending) {
        // A splice blocked on a full socket gives up by itself (SO_SNDTIMEO);
        // a send waits on poll and never would. Twice the send timeout, so
        // that a splice making slow progress is not cut first.
        if (now - progress_ns_ > 2ull * config.send_timeout * s) begin_close(true);
    }
}

void Connection::abort() noexcept
{
    if (state_ < State::Closing) begin_close(true);
}

void Connection::begin_close(bool abort) noexcept
{
    if (state_ >= State::Closing) return;
    state_ = State::Closing;
    aborted_ = abort;
    if (inflight_ > 0) {
        // shutdown rather than cancel: it also fails the links of a chain that
        // have not started yet (a cancel only finds requests already issued),
        // wakes a splice blocked on a full socket, and ends the multishot recv.
        io_uring_sqe* sqe = worker_.ring().get_sqe();
        io_uring_prep_shutdown(sqe, socket_slot_, SHUT_RDWR);
        sqe->flags |= IOSQE_FIXED_FILE;
        tag(sqe, Op::Shutdown);
    }
    settle();
}

void Connection::settle() noexcept
{
    if (state_ == State::Closing && inflight_ == 0) finish_close();
}

void Connection::finish_close() noexcept
{
    close_files();
    release_pipe(aborted_);
    io_uring_sqe* sqe = worker_.ring().get_sqe();
    io_uring_prep_close_direct(sqe, unsigned(socket_slot_));
    tag(sqe, Op::CloseSocket);
    state_ = State::Closed;
}

void Connection::on_shutdown(int) noexcept
{
    --inflight_;
    settle();
}

void Connection::on_cancel(int) noexcept
{
    --inflight_;
    recv_cancel_pending_ = false;
    settle();
}

void Connection::on_close_socket(int) noexcept
{
    --inflight_;
    worker_.release(*this);
}

void Connection::close_files() noexcept
{
    for (unsigned k = 0; k < slot_open_.size(); ++k) {
        if (!slot_open_[k]) continue;
        // Not part of any chain (a broken link would cancel it and leak the
        // slot); no CQE unless it fails.
        io_uring_sqe* sqe = worker_.ring().get_sqe();
        io_uring_prep_close_direct(sqe, file_slot(k));
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        io_uring_sqe_set_data64(sqe, uring::UserData{Op::CloseFile, 0, gen_, index_}.pack());
        slot_open_[k] = false;
    }
}

void Connection::release_pipe(bool maybe_dirty) noexcept
{
    if (!pipe_) return;
    worker_.pipes().release(pipe_, maybe_dirty || pipe_bytes_ != 0);
    pipe_ = nullptr;
    pipe_bytes_ = 0;
}

} // namespace splicehttpd::server
