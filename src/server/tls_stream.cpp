#include "server/tls_stream.hpp"

#include "sys/assert.hpp"
#include "uring/user_data.hpp"

#include <linux/tls.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace splicehttpd::server {

FirstBytes sniff_first_bytes(std::string_view bytes) noexcept
{
    for (std::size_t i = 0; i < bytes.size() && i <= kMaxSniffedMethod; ++i) {
        const char c = bytes[i];
        if (c == ' ') return i > 0 ? FirstBytes::PlainHttp : FirstBytes::Other;
        if (c < 'A' || c > 'Z') return FirstBytes::Other;
    }
    return bytes.size() <= kMaxSniffedMethod ? FirstBytes::NeedMore : FirstBytes::Other;
}

void TlsStream::feed(std::string_view ciphertext)
{
    if (first_kind_ == FirstBytes::NeedMore) {
        const std::size_t n = std::min(ciphertext.size(), first_.size() - first_size_);
        std::copy_n(ciphertext.data(), n, first_.data() + first_size_);
        first_size_ += n;
        first_kind_ = sniff_first_bytes({first_.data(), first_size_});
    }
    session_.feed({ciphertext.data(), ciphertext.size()});
}

TlsStream::Step TlsStream::advance(std::span<char> scratch)
{
    Step step;
    if (first_kind_ == FirstBytes::NeedMore) return step; // NeedInput
    if (first_kind_ == FirstBytes::PlainHttp) {
        step.kind = Step::Kind::Failed;
        step.error = "client sent plain HTTP request to HTTPS port";
        step.plain_http = true;
        step.plain = std::string_view(first_.data(), first_size_);
        return step;
    }
    if (!established_) {
        tls::Session::HandshakeResult h = session_.handshake();
        switch (h.status) {
        case tls::Session::Handshake::NeedInput: step.kind = Step::Kind::NeedInput; return step;
        case tls::Session::Handshake::Failed:
            step.kind = Step::Kind::Failed;
            step.error = std::move(h.error);
            step.plain_http = h.plain_http;
            return step;
        case tls::Session::Handshake::Done: {
            established_ = true;
            step.kind = Step::Kind::Established;
            // Keys the kernel can take, else sealed here for good.
            std::optional<tls::CryptoInfo> info;
            if (kernel_) info = session_.sending_keys();
            if (info && kernel_->takes(*info)) {
                kernel_info_ = *info;
                kernel_tx_ = KernelTx::Waiting;
            }
            return step;
        }
        }
    }
    tls::Session::ReadResult r = session_.read(scratch);
    switch (r.status) {
    case tls::Session::Read::Data:
        step.kind = Step::Kind::Plain;
        step.plain = std::string_view(scratch.data(), r.size);
        break;
    case tls::Session::Read::NeedInput: step.kind = Step::Kind::NeedInput; break;
    case tls::Session::Read::Closed: step.kind = Step::Kind::Closed; break;
    case tls::Session::Read::Error:
        step.kind = Step::Kind::Failed;
        step.error = std::move(r.error);
        break;
    }
    return step;
}

bool TlsStream::install_kernel_tx(const Env& env) noexcept
{
    if (kernel_tx_ != KernelTx::Waiting || !idle()) return false;
    // liburing 2.3 has no io_uring_prep_cmd_sock: level and optname share
    // addr, optlen is in splice_fd_in's place, optval in addr3's (as the
    // sender's TCP_CORK). optval is read when each SQE runs.
    constexpr std::uint32_t kSocketUringOpSetsockopt = 3; // SOCKET_URING_OP_SETSOCKOPT
    static constexpr char kUlp[] = "tls";
    auto prep = [&](std::uint8_t seq, int level, int name, const void* value, unsigned len) {
        io_uring_sqe* sqe = env.ops.sqe(uring::Op::KernelTls, seq);
        io_uring_prep_rw(IORING_OP_URING_CMD, sqe, env.socket, nullptr, 0, 0);
        sqe->cmd_op = kSocketUringOpSetsockopt;
        sqe->addr = (std::uint64_t(std::uint32_t(name)) << 32) | std::uint32_t(level);
        sqe->splice_fd_in = int(len);
        sqe->addr3 = reinterpret_cast<std::uintptr_t>(value);
        sqe->flags |= IOSQE_FIXED_FILE;
        return sqe;
    };
    prep(0, SOL_TCP, TCP_ULP, kUlp, sizeof kUlp - 1)->flags |= IOSQE_IO_LINK;
    prep(1, SOL_TLS, TLS_TX, &kernel_info_.u, kernel_info_.size);
    kernel_tx_ = KernelTx::Installing;
    return true;
}

TlsStream::KernelTxResult TlsStream::on_kernel_tx(std::uint8_t seq, int res) noexcept
{
    SPLICEHTTPD_ASSERT(kernel_tx_ == KernelTx::Installing);
    KernelTxResult r;
    if (seq == 0) {
        kernel_ulp_res_ = res;
        return r; // the TLS_TX one follows (-ECANCELED if this failed)
    }
    r.done = true;
    if (kernel_ulp_res_ < 0 || res < 0) {
        // The socket's write side is unchanged (a refused TLS_TX leaves
        // the ULP passing bytes through): the session encrypts.
        kernel_tx_ = KernelTx::Off;
        r.error = kernel_ulp_res_ < 0 ? std::string("setsockopt(TCP_ULP, \"tls\"): ") + std::strerror(-kernel_ulp_res_)
                                      : std::string("setsockopt(SOL_TLS, TLS_TX): ") + std::strerror(-res);
    } else {
        kernel_tx_ = KernelTx::On;
        session_.hand_off(); // the kernel seals from here: the session must not
    }
    kernel_cipher_ = kernel_info_.cipher_name();
    OPENSSL_cleanse(&kernel_info_.u, sizeof kernel_info_.u); // read by the kernel already
    return r;
}

bool TlsStream::flush(const Env& env) noexcept
{
    if (sending_) return true;
    // The kernel would wrap the session's records in records of its own.
    if (kernel_tx_ == KernelTx::On) return false;
    const std::span<const char> out = session_.pending_output();
    if (out.empty()) return false;
    io_uring_sqe* sqe = env.ops.sqe(uring::Op::TlsSend);
    io_uring_prep_send(sqe, env.socket, out.data(), out.size(), MSG_NOSIGNAL);
    sqe->flags |= IOSQE_FIXED_FILE;
    sending_ = true;
    return true;
}

void KernelCloseNotify::prep(io_uring_sqe* sqe, int socket) noexcept
{
    static constexpr char kCloseNotify[2] = {1, 0}; // level warning, close_notify
    constexpr unsigned char kAlert = 21;            // the record's content type
    iov_ = {const_cast<char*>(kCloseNotify), sizeof kCloseNotify};
    msg_ = {};
    msg_.msg_iov = &iov_;
    msg_.msg_iovlen = 1;
    msg_.msg_control = cmsg_;
    msg_.msg_controllen = sizeof cmsg_;
    cmsghdr* c = CMSG_FIRSTHDR(&msg_);
    c->cmsg_level = SOL_TLS;
    c->cmsg_type = TLS_SET_RECORD_TYPE;
    c->cmsg_len = CMSG_LEN(1);
    *CMSG_DATA(c) = kAlert;
    io_uring_prep_sendmsg(sqe, socket, &msg_, MSG_NOSIGNAL);
    sqe->flags |= IOSQE_FIXED_FILE;
}

bool TlsStream::send_close_notify(const Env& env) noexcept
{
    if (!established_ || handing_off() || close_notify_) return false;
    close_notify_ = true;
    if (kernel_tx_ == KernelTx::On) {
        kernel_alert_.prep(env.ops.sqe(uring::Op::TlsCloseNotify), env.socket);
        kernel_alert_pending_ = true;
        return true;
    }
    session_.shutdown();
    return flush(env);
}

bool TlsStream::on_sent(int res) noexcept
{
    SPLICEHTTPD_ASSERT(sending_);
    sending_ = false;
    if (res <= 0) return false;
    SPLICEHTTPD_ASSERT(std::size_t(res) <= session_.pending_output().size());
    session_.consume_output(std::size_t(res));
    sent_ += std::size_t(res);
    return true;
}

} // namespace splicehttpd::server
