#include "server/sender.hpp"

#include <linux/tls.h>

#include "sys/assert.hpp"
#include "uring/chain.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <utility>

namespace splicehttpd::server {

namespace {

using uring::Op;
using Kind = transfer::Step::Kind;

// A cached body at least this large is sent from the cache's copy, after
// the head, instead of being copied into the plan first: the copy costs
// more than the second send from here on.
constexpr std::uint64_t kSendFromCacheMin = 16 * 1024;
// HTTPS in user space: the file is read in chunks of this size, each
// written into the session (four records) before the next is read.
constexpr std::uint64_t kTlsChunk = 64 * 1024;

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

void Sender::reset(std::size_t keep_bytes) noexcept
{
    SPLICEHTTPD_ASSERT(in_flight() == 0 && !pipe_ && fd_ < 0 && !cached_ && !listing_);
    if (plan_.memory.capacity() > keep_bytes) {
        // Not `plan = {}`: a string moved from an empty (SSO) one keeps its
        // own buffer, and the memory would stay with the spare.
        plan_.clear();
        std::string().swap(plan_.memory);
        std::vector<http::Segment>().swap(plan_.segments);
    }
    if (chunk_.capacity() > keep_bytes) std::string().swap(chunk_); // as the plan's memory
    source_ = {};
    body_in_memory_ = false;
    fill_cache_ = false;
    reads_.count = 0;
    chain_.count = 0;
    cursor_ = {};
    chain_pending_ = 0;
    corked_ = false;
    polling_ = false;
    probing_ = false;
    stall_check_ = false;
    outq_ = -1;
    tls_ = nullptr;
    plain_pos_ = 0;
    chunk_file_ = chunk_len_ = 0;
    tls_fill_cache_ = false;
    tls_shut_ = false;
    tls_sent_ = 0;
    kernel_tls_ = alert_pending_ = alert_done_ = false;
}

void Sender::set_file(const FoundFile& file) noexcept
{
    SPLICEHTTPD_ASSERT(fd_ < 0 && !cached_ && !listing_);
    fd_ = file.fd;
    cached_ = file.cached;
}

void Sender::set_listing(std::shared_ptr<const http::Listing> listing) noexcept
{
    SPLICEHTTPD_ASSERT(fd_ < 0 && !cached_ && !listing_);
    listing_ = std::move(listing);
}

// A small body goes out from memory: no pipe, no io-wq hop, and nobody to
// wait behind for a pipe. One already in memory (the cache's copy, a listing
// page) is sent from there when a second send costs less than copying it
// into the plan; else it is copied (or read) into the plan and goes out with
// the head in one send.
Sender::Next Sender::start(const Env& env) noexcept
{
    SPLICEHTTPD_ASSERT(chain_pending_ == 0 && !pipe_);
    cursor_ = {};
    reads_.count = 0;
    corked_ = false;
    std::uint64_t file_bytes = 0;
    for (const http::Segment& s : plan_.segments)
        if (s.kind == http::Segment::Kind::File) file_bytes += s.length;
    const std::uint64_t inline_max = env.options.inline_max;
    if (listing_)
        source_ = listing_->body;
    else if (cached_ && cached_->has_body)
        source_ = cached_->body;
    const bool in_memory = listing_ || (cached_ && cached_->has_body);
    kernel_tls_ = env.kernel_tls;
    if (env.tls) {
        // Whatever the size, bytes in memory are written from there.
        tls_ = env.tls;
        plain_pos_ = chunk_file_ = chunk_len_ = 0;
        tls_fill_cache_ = tls_shut_ = false;
        tls_sent_ = env.tls->bytes_sent();
        body_in_memory_ = in_memory;
        return tls_pump(env);
    }
    body_in_memory_ = in_memory && (file_bytes >= kSendFromCacheMin || file_bytes > inline_max);
    if (!body_in_memory_ && file_bytes > 0 && file_bytes <= inline_max) {
        reads_ = transfer::inline_file_body(plan_);
        fill_inline_body();
    }
    if (uses_pipe()) return Next::NeedPipe;
    return submit(env);
}

// A small body in memory needs no read; one the cache does not hold yet is
// kept when the first chain reads all of it.
void Sender::fill_inline_body() noexcept
{
    if (listing_ || (cached_ && cached_->has_body)) {
        for (const transfer::Step& r : reads_) std::memcpy(plan_.memory.data() + r.mem, source_.data() + r.file, r.len);
        reads_.count = 0;
        return;
    }
    if (!cached_) return;
    const transfer::Step& r = reads_.steps[0];
    fill_cache_ = reads_.count == 1 && r.file == 0 && r.len == cached_->stx.stx_size;
    body_hole_ = r.mem;
}

Sender::Next Sender::on_pipe(uring::Pipe* pipe, const Env& env) noexcept
{
    SPLICEHTTPD_ASSERT(pipe && !pipe_);
    pipe_ = pipe;
    return submit(env);
}

Sender::Next Sender::resume(const Env& env) noexcept
{
    if (tls_) return tls_pump(env);
    if (owes_close_notify()) return submit_close_notify(env);
    // Fairness: with others queued for a pipe, an empty one goes to the
    // first of them and this response queues behind.
    if (pipe_ && cursor_.in_pipe == 0 && env.pipe_waiters) {
        return_pipe(env.pipes, false);
        return Next::NeedPipe;
    }
    // Waiting for room, the pipe went back (or was taken back).
    if (uses_pipe() && !pipe_ && cursor_.delivered < plan_.total()) return Next::NeedPipe;
    return submit(env);
}

Sender::Next Sender::submit(const Env& env) noexcept
{
    SPLICEHTTPD_ASSERT(chain_pending_ == 0);
    transfer::Limits limits;
    limits.pipe_capacity = pipe_ ? pipe_->capacity : 0;
    limits.pairs = env.options.chain_pairs;
    limits.steps = transfer::kMaxSteps - reads_.count;
    limits.file_in_memory = body_in_memory_;
    limits.kernel_tls = env.kernel_tls;
    const transfer::Steps next = transfer::next_chain(plan_, cursor_, limits);

    chain_ = reads_;
    reads_.count = 0;
    for (const transfer::Step& s : next) chain_.push(s);
    chain_start_ = cursor_;
    outcome_ = {};
    chain_pending_ = chain_.count;
    // Nothing left to send cannot happen here (the response would be done),
    // but never hang on it.
    SPLICEHTTPD_ASSERT(chain_.count > 0);
    if (chain_.count == 0) return Next::Abort;

    // Close first: a response that ends the connection is corked before its
    // first bytes, so that its last partial frame waits for the close and
    // leaves with the FIN. MSG_MORE on its last step (transfer::next_chain)
    // holds the tail only during that send: on loopback the peer's ACK comes
    // back at once and pushes it out, the client reads it and closes first
    // (tests/kernel/cork_until_close.c). Hard-linked: where the kernel
    // refuses, the response goes out uncorked.
    const bool cork = plan_.close && !corked_ && env.options.cork;
    uring::Chain chain(env.ops.ring(), chain_.count + (cork ? 1 : 0));
    if (cork) {
        submit_cork(chain.next(), env);
        chain.hard_link();
        corked_ = true;
    }
    for (unsigned seq = 0; seq < chain_.count; ++seq) {
        const transfer::Step& s = chain_.steps[seq];
        io_uring_sqe* sqe = chain.next();
        switch (s.kind) {
        case Kind::Read: io_uring_prep_read(sqe, fd_, plan_.memory.data() + s.mem, s.len, s.file); break;
        case Kind::Send:
            io_uring_prep_send(sqe, env.socket, s.from_file ? source_.data() + s.file : plan_.memory.data() + s.mem,
                               s.len,
                               MSG_NOSIGNAL | MSG_DONTWAIT | (s.wait_all ? MSG_WAITALL : 0) | (s.more ? MSG_MORE : 0));
            sqe->flags |= IOSQE_FIXED_FILE;
            break;
        case Kind::SpliceIn:
            // Explicit offset always: the file's own position is never used.
            io_uring_prep_splice(sqe, fd_, std::int64_t(s.file), pipe_->write.get(), -1, s.len, 0);
            break;
        case Kind::SpliceOut:
            io_uring_prep_splice(sqe, pipe_->read.get(), -1, env.socket, -1, s.len, s.more ? SPLICE_F_MORE : 0);
            sqe->flags |= IOSQE_FIXED_FILE; // applies to fd_out, the socket
            break;
        }
        env.ops.tag(sqe, op_of(s.kind), std::uint8_t(seq));
    }
    return Next::Submitted;
}

// setsockopt(TCP_CORK, 1) through the ring (SOCKET_URING_OP_SETSOCKOPT,
// Linux 6.7). liburing 2.3 has no io_uring_prep_cmd_sock: the fields are
// filled by hand (level and optname share the addr field, optlen is in
// file_index's place, optval in addr3's). Read when the SQE is issued, so
// the value can be a constant. No CQE unless it fails (worker: Op::Cork).
void Sender::submit_cork(io_uring_sqe* sqe, const Env& env) noexcept
{
    constexpr std::uint32_t kSocketUringOpSetsockopt = 3; // SOCKET_URING_OP_SETSOCKOPT
    static const int kOn = 1;
    io_uring_prep_rw(IORING_OP_URING_CMD, sqe, env.socket, nullptr, 0, 0);
    sqe->cmd_op = kSocketUringOpSetsockopt;
    sqe->addr = (std::uint64_t(TCP_CORK) << 32) | std::uint32_t(IPPROTO_TCP); // level, optname
    sqe->splice_fd_in = int(sizeof kOn);                                      // optlen
    sqe->addr3 = reinterpret_cast<std::uintptr_t>(&kOn);                      // optval
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_CQE_SKIP_SUCCESS;
    env.ops.tag_uncounted(sqe, Op::Cork);
}

Sender::Next Sender::on_cqe(Op op, std::uint8_t seq, int res) noexcept
{
    switch (op) {
    case Op::PollOut:
        // An error or hang-up shows in the next send or splice, so the
        // result itself says nothing new.
        SPLICEHTTPD_ASSERT(polling_);
        polling_ = false;
        return Next::Continue;
    case Op::OutQ: {
        SPLICEHTTPD_ASSERT(probing_);
        probing_ = false;
        // Progress since the question, or no longer waiting for room: the
        // answer is about a stall that is over.
        if (!stall_check_ || !(polling_ || (tls_ && tls_->sending()))) return Next::InFlight;
        if (res < 0) return Next::Abort; // the kernel cannot tell: the timeout stands
        // The first look (half the send timeout without a byte taken)
        // remembers the queue and looks again the other half later; a queue
        // that shrank in between is progress (the peer is reading, the link
        // is slow), and the next check starts afresh from a first look. One
        // that did not is a stalled peer. (Connection::send_deadlines)
        if (outq_ < 0) {
            outq_ = res;
            return Next::LookAgain;
        }
        if (res < outq_) {
            outq_ = -1;
            stall_check_ = false;
            return Next::QueueDrained;
        }
        return Next::Abort;
    }
    case Op::KernelAlert:
        // Sent or not, the response is over: the close follows.
        SPLICEHTTPD_ASSERT(alert_pending_);
        alert_pending_ = false;
        alert_done_ = true;
        return Next::Done;
    default: break;
    }
    if (tls_ && op == Op::Read) {
        // The chunk tls_next_piece asked for: a short read is fine (the
        // next piece reads on from there), none at all means the file
        // shrank under us.
        SPLICEHTTPD_ASSERT(chain_pending_ == 1);
        chain_pending_ = 0;
        if (res <= 0) return Next::Abort;
        chunk_len_ = std::uint64_t(res);
        return Next::Continue;
    }
    // A step of the chain in flight: seq is its position, and every step
    // completes exactly once (a broken link with -ECANCELED).
    SPLICEHTTPD_ASSERT(seq < chain_.count && chain_pending_ > 0);
    if (seq >= chain_.count || chain_pending_ == 0) return Next::InFlight;
    SPLICEHTTPD_ASSERT(op == op_of(chain_.steps[seq].kind));
    const std::uint64_t before = cursor_.delivered;
    transfer::account(chain_.steps[seq], res, cursor_, outcome_);
    if (cursor_.delivered != before) {
        outq_ = -1; // a stall check starts afresh
        stall_check_ = false;
    }
    if (--chain_pending_ > 0) return Next::InFlight;
    switch (transfer::after_chain(chain_start_, cursor_, plan_.total(), outcome_)) {
    case transfer::Next::Done: return owes_close_notify() ? Next::Continue : Next::Done;
    case transfer::Next::Abort: return Next::Abort;
    case transfer::Next::WaitWritable: return Next::WaitWritable;
    case transfer::Next::Continue: return Next::Continue;
    }
    return Next::Abort;
}

Sender::Next Sender::submit_close_notify(const Env& env) noexcept
{
    alert_.prep(env.ops.sqe(Op::KernelAlert), env.socket);
    alert_pending_ = true;
    return Next::Submitted;
}

void Sender::wait_writable(const Env& env) noexcept
{
    SPLICEHTTPD_ASSERT(!polling_ && chain_pending_ == 0);
    io_uring_sqe* sqe = env.ops.sqe(Op::PollOut);
    io_uring_prep_poll_add(sqe, env.socket, POLLOUT);
    sqe->flags |= IOSQE_FIXED_FILE;
    polling_ = true;
    if (pipe_ && cursor_.in_pipe == 0) return_pipe(env.pipes, false);
}

void Sender::yield_pipe(uring::PipePool& pipes) noexcept
{
    SPLICEHTTPD_ASSERT(polling_ && chain_pending_ == 0);
    return_pipe(pipes, cursor_.in_pipe != 0);
}

// SIOCOUTQ through the ring (a socket uring_cmd, Linux 6.7): the bytes the
// socket still holds unsent or unacknowledged.
void Sender::probe_queue(Submitter& ops, int socket) noexcept
{
    stall_check_ = true;
    if (probing_) return;
    constexpr std::uint32_t kSocketUringOpSiocOutq = 1; // SOCKET_URING_OP_SIOCOUTQ
    io_uring_sqe* sqe = ops.sqe(Op::OutQ);
    io_uring_prep_rw(IORING_OP_URING_CMD, sqe, socket, nullptr, 0, 0);
    sqe->cmd_op = kSocketUringOpSiocOutq;
    sqe->flags |= IOSQE_FIXED_FILE;
    probing_ = true;
}

void Sender::finish(const Env& env) noexcept
{
    SPLICEHTTPD_ASSERT(chain_pending_ == 0 && cursor_.in_pipe == 0);
    if (tls_fill_cache_ && chunk_len_ == cached_->stx.stx_size)
        env.cache.set_body(cached_, std::string_view(chunk_).substr(0, chunk_len_));
    if (fill_cache_)
        env.cache.set_body(cached_, std::string_view(plan_.memory).substr(body_hole_, cached_->stx.stx_size));
    close_body(env.ops, env.cache);
    return_pipe(env.pipes, false);
}

void Sender::close_body(Submitter& ops, FileCache& cache) noexcept
{
    source_ = {};
    listing_.reset();
    if (cached_)
        cache.unref(std::exchange(cached_, nullptr));
    else if (fd_ >= 0)
        ops.close_file(fd_);
    fd_ = -1;
    fill_cache_ = false;
}

void Sender::give_back_pipe(uring::PipePool& pipes, bool maybe_dirty) noexcept
{
    return_pipe(pipes, maybe_dirty || cursor_.in_pipe != 0);
}

// A pipe that may hold bytes (an aborted or yielded transfer) is drained
// before anyone gets it again; its bytes will be spliced from the file anew.
void Sender::return_pipe(uring::PipePool& pipes, bool maybe_dirty) noexcept
{
    if (!pipe_) return;
    pipes.give_back(std::exchange(pipe_, nullptr), maybe_dirty);
    cursor_.in_pipe = 0;
}

// ---------------------------------------------------------------- HTTPS

// Writes the plan into the session while its output is below the high
// water and nothing is being read, then sends what it wrote: one send and
// at most one read in flight, per connection at most a chunk, 64 KiB of
// output and a record. A response that ends the connection ends with
// close_notify. Done once every byte is written and sent.
Sender::Next Sender::tls_pump(const Env& env) noexcept
{
    tls::Session& session = tls_->session();
    const std::uint64_t total = plan_.total();
    while (chain_pending_ == 0 && plain_pos_ < total && session.output_size() < tls::Session::kOutputHighWater) {
        std::string_view piece = tls_next_piece(env);
        if (piece.empty()) break;
        if (piece.size() < tls::Session::kMaxRecordPlaintext && plain_pos_ + piece.size() < total) {
            piece = tls_gather(piece);
            // A head whose body is still to be read waits for it: one
            // record for both. (Only the plan's own bytes wait: a read goes
            // into chunk_, which may hold the piece.)
            const bool own = piece.data() >= plan_.memory.data() &&
                             piece.data() + piece.size() <= plan_.memory.data() + plan_.memory.size();
            if (own && piece.size() < tls::Session::kMaxRecordPlaintext && plain_pos_ + piece.size() < total &&
                tls_read_at(plain_pos_ + piece.size(), env))
                break;
        }
        const tls::Session::WriteResult w = session.write({piece.data(), piece.size()});
        if (!w.error.empty()) return Next::Abort;
        plain_pos_ += w.taken;
        if (w.taken == 0) break;
    }
    if (plain_pos_ == total && plan_.close && !tls_shut_) {
        session.shutdown();
        tls_shut_ = true;
    }
    // Read ahead: with the output full, the next chunk comes in while these
    // records go out (the chunk's bytes are all in records already), not
    // after their send completes.
    if (chain_pending_ == 0 && plain_pos_ < total && session.output_size() >= tls::Session::kOutputHighWater)
        tls_read_at(plain_pos_, env);
    tls_->flush({env.ops, env.socket});
    if (tls_->bytes_sent() != tls_sent_) {
        tls_sent_ = tls_->bytes_sent();
        outq_ = -1; // progress: a stall check starts afresh
        stall_check_ = false;
    }
    // What the peer has: the plaintext written, less what may still sit in
    // the unsent records (close enough for the log and for progress).
    const std::uint64_t unsent = std::min<std::uint64_t>(plain_pos_, session.output_size());
    cursor_.delivered = std::max(cursor_.delivered, plain_pos_ - unsent);
    if (plain_pos_ == total && chain_pending_ == 0 && tls_->idle()) {
        cursor_.delivered = total;
        return Next::Done;
    }
    return Next::Submitted;
}

// The plan's bytes at `pos`, as far as they are in memory: the plan's own,
// the cache's copy or the listing, or the chunk read last. Empty where they
// are not (a file's bytes still to be read); `file` and `left` then say
// where in the file and how many of the segment's bytes remain.
std::string_view Sender::tls_piece_at(std::uint64_t pos, std::uint64_t& file, std::uint64_t& left) const noexcept
{
    std::uint64_t at = 0;
    for (const http::Segment& seg : plan_.segments) {
        if (pos >= at + seg.length) {
            at += seg.length;
            continue;
        }
        const std::uint64_t off = pos - at;
        left = seg.length - off;
        if (seg.kind == http::Segment::Kind::Memory)
            return std::string_view(plan_.memory).substr(seg.offset + off, left);
        file = seg.offset + off;
        if (body_in_memory_) return source_.substr(file, left);
        if (file >= chunk_file_ && file < chunk_file_ + chunk_len_)
            return std::string_view(chunk_).substr(file - chunk_file_, std::min(left, chunk_file_ + chunk_len_ - file));
        return {};
    }
    left = 0;
    return {};
}

// A small piece and what follows it in memory, up to a record's worth, as
// one piece: a head and a small body go out as one record, one seal here
// and one record for the peer to open, not one per piece. The copy is
// written into the session at once (before any wait), so a thread's one
// buffer serves every connection.
std::string_view Sender::tls_gather(std::string_view first) const noexcept
{
    thread_local std::array<char, tls::Session::kMaxRecordPlaintext> gathered;
    std::size_t size = 0; // gathered; 0 until a second piece is found
    std::uint64_t pos = plain_pos_ + first.size();
    const std::uint64_t total = plan_.total();
    while (pos < total && (size == 0 ? first.size() : size) < gathered.size()) {
        std::uint64_t file = 0, left = 0;
        const std::string_view next = tls_piece_at(pos, file, left);
        if (next.empty()) break;
        if (size == 0) {
            std::memcpy(gathered.data(), first.data(), first.size());
            size = first.size();
        }
        const std::size_t take = std::min(next.size(), gathered.size() - size);
        std::memcpy(gathered.data() + size, next.data(), take);
        size += take;
        pos += take;
    }
    return size == 0 ? first : std::string_view(gathered.data(), size);
}

// The plan's bytes at plain_pos_ (tls_piece_at), or else a read of the
// next chunk goes out, and the answer is empty.
std::string_view Sender::tls_next_piece(const Env& env) noexcept
{
    std::uint64_t file = 0, left = 0;
    const std::string_view piece = tls_piece_at(plain_pos_, file, left);
    if (piece.empty()) tls_read_at(plain_pos_, env);
    return piece;
}

// A read of the chunk at `pos` into chunk_, unless its bytes are in memory
// (or past the end). Says whether it went out.
bool Sender::tls_read_at(std::uint64_t pos, const Env& env) noexcept
{
    std::uint64_t file = 0, left = 0;
    if (!tls_piece_at(pos, file, left).empty() || left == 0) return false;
    // A chunk ends where a record does: after a head, the first chunk is
    // short by the head's size, so no chunk leaves a small record behind.
    const std::uint64_t len = std::min(left, kTlsChunk - pos % tls::Session::kMaxRecordPlaintext);
    if (chunk_.size() < len) chunk_.resize(kTlsChunk);
    // A small file read whole is kept, as the plain path keeps it.
    tls_fill_cache_ =
        cached_ && !cached_->has_body && file == 0 && len == cached_->stx.stx_size && len <= env.options.inline_max;
    chunk_file_ = file;
    chunk_len_ = 0;
    io_uring_sqe* sqe = env.ops.sqe(Op::Read);
    io_uring_prep_read(sqe, fd_, chunk_.data(), unsigned(len), file);
    chain_pending_ = 1;
    return true;
}

} // namespace splicehttpd::server
