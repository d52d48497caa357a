#include "server/tls_stream.hpp"

#include "sys/assert.hpp"
#include "uring/user_data.hpp"

#include <sys/socket.h>

namespace splicehttpd::server {

TlsStream::Step TlsStream::advance(std::span<char> scratch)
{
    Step step;
    if (!established_) {
        tls::Session::HandshakeResult h = session_.handshake();
        switch (h.status) {
        case tls::Session::Handshake::NeedInput: step.kind = Step::Kind::NeedInput; return step;
        case tls::Session::Handshake::Failed:
            step.kind = Step::Kind::Failed;
            step.error = std::move(h.error);
            step.plain_http = h.plain_http;
            return step;
        case tls::Session::Handshake::Done:
            established_ = true;
            step.kind = Step::Kind::Established;
            return step;
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

bool TlsStream::flush(const Env& env) noexcept
{
    if (sending_) return true;
    const std::span<const char> out = session_.pending_output();
    if (out.empty()) return false;
    io_uring_sqe* sqe = env.ops.sqe(uring::Op::TlsSend);
    io_uring_prep_send(sqe, env.socket, out.data(), out.size(), MSG_NOSIGNAL);
    sqe->flags |= IOSQE_FIXED_FILE;
    sending_ = true;
    return true;
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
