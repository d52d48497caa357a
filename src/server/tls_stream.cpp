#include "server/tls_stream.hpp"

#include "sys/assert.hpp"
#include "uring/user_data.hpp"

#include <sys/socket.h>

#include <algorithm>

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
