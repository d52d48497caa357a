#include "server/socket.hpp"

#include "sys/assert.hpp"
#include "uring/chain.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace splicehttpd::server {

using uring::Op;

void Socket::arm_accept(int listen_fd, const Env& env) noexcept
{
    uring::Chain chain(env.ops.ring(), 2);
    // One accept per free slot, into that slot: a multishot accept that
    // allocates slots itself accepts a connection before it finds the table
    // full (-ENFILE), and that client is reset (tests/kernel/accept_enfile.c).
    // Non-blocking, so that a splice to a full socket returns instead of
    // sleeping in an io-wq worker.
    io_uring_sqe* sqe = chain.next();
    peer_len_ = sizeof peer_;
    io_uring_prep_accept_direct(sqe, listen_fd, reinterpret_cast<sockaddr*>(&peer_), &peer_len_, SOCK_NONBLOCK,
                                unsigned(env.socket));
    env.ops.tag(sqe, Op::Accept);
    sqe = chain.next();
    io_uring_prep_recv(sqe, env.socket, nullptr, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = env.bufs.group();
    env.ops.tag(sqe, Op::Recv);
}

void Socket::arm(const Env& env) noexcept
{
    SPLICEHTTPD_ASSERT(!armed_);
    io_uring_sqe* sqe = env.ops.sqe(Op::Recv);
    io_uring_prep_recv_multishot(sqe, env.socket, nullptr, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = env.bufs.group();
    armed_ = true;
    paused_ = false;
}

void Socket::cancel(const Env& env, bool back_pressure) noexcept
{
    if (!armed_ || cancelling_) return;
    if (back_pressure) paused_ = true;
    io_uring_prep_cancel64(env.ops.sqe(Op::CancelRecv), env.ops.user_data(Op::Recv, 0), 0);
    cancelling_ = true;
}

void Socket::shutdown(const Env& env, int how) noexcept
{
    io_uring_sqe* sqe = env.ops.sqe(Op::Shutdown);
    io_uring_prep_shutdown(sqe, env.socket, how);
    sqe->flags |= IOSQE_FIXED_FILE;
}

void Socket::close(const Env& env) noexcept
{
    io_uring_prep_close_direct(env.ops.sqe(Op::CloseSocket), unsigned(env.socket));
}

Socket::Received Socket::on_recv(const io_uring_cqe& cqe, const Env& env) noexcept
{
    if (!(cqe.flags & IORING_CQE_F_MORE)) armed_ = false;
    const int res = cqe.res;
    if (res > 0) {
        const auto bid = std::uint16_t(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
        filled_ = unsigned(res) >= env.bufs.buf_size();
        return {Received::Kind::Bytes, {env.bufs.data(bid), std::size_t(res)}, bid};
    }
    if (res == 0) {
        end_ = true;
        return {Received::Kind::End, {}, 0};
    }
    if (res == -ENOBUFS) {
        // The multishot ended; buffers go back as soon as they are parsed,
        // so arming again is enough.
        paused_ = true;
        return {Received::Kind::NoBuffers, {}, 0};
    }
    if (res == -ECANCELED) return {Received::Kind::Cancelled, {}, 0};
    return {Received::Kind::Failed, {}, 0};
}

void Socket::recycle(const Received& r, const Env& env) noexcept
{
    if (r.kind == Received::Kind::Bytes) env.bufs.recycle(r.buffer);
}

} // namespace splicehttpd::server
