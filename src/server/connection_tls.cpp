// HTTPS, the connection's side (the state machine is connection.cpp; these
// are its TLS steps): the session's plaintext into the request buffer, what
// the session wrote onto the socket, a failed handshake or record, plain
// HTTP spoken to the TLS port, and the --https-redirect answer of the plain
// port.
#include "server/connection.hpp"

#include "http/path.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <utility>

namespace splicehttpd::server {

// The session's plaintext goes to the parser as a recv's bytes would, while
// less than --max-input is kept (the rest stays ciphertext until the
// backlog is answered); what the session wrote (handshake flights,
// tickets, alerts) is sent.
void Connection::pump_tls() noexcept
{
    // Plaintext is copied out of here by the request buffer before the next
    // call (as a recv's provided buffer is recycled after ingest()).
    thread_local std::array<char, tls::Session::kMaxRecordPlaintext> scratch;
    while (traits(state_).keeps_input && !tls_close_after_ && !tls_notifying_ && !tls_->handing_off()) {
        if (tls_->established() && exchange_ && exchange_->input.buffered() >= options_.max_input) break;
        const TlsStream::Step step = tls_->advance(scratch);
        // Checked before the plaintext that came with it is answered: the
        // session writes nothing until asked to, so the output check below
        // would never see it, and the response would go under the old keys.
        if (tls_->owes_key_update()) {
            if (options_.debug)
                spdlog::debug("conn={} tls: the peer asked for a KeyUpdate after the kTLS hand-off: close", index_);
            return begin_close(true);
        }
        if (step.kind == TlsStream::Step::Kind::Plain) {
            ingest(step.plain);
            continue;
        }
        if (step.kind == TlsStream::Step::Kind::Established) {
            idle_since_ns_ = services_.now_ns(); // from the handshake deadline to the keep-alive one
            if (options_.debug) {
                const tls::Session& t = tls_->session();
                spdlog::debug("conn={} tls: {} {}{} sni={} alpn={} pair={}; {}", index_, t.protocol(), t.cipher(),
                              t.resumed() ? " resumed" : "", t.server_name().empty() ? "-" : t.server_name(),
                              t.alpn().empty() ? "-" : t.alpn(), t.pair(),
                              tls_->handing_off() ? "keys to the kernel"
                              : t.sealing()       ? "records sealed here (one AEAD pass, no copy)"
                                                  : "records written by OpenSSL");
            }
            continue;
        }
        if (step.kind == TlsStream::Step::Kind::Failed) return tls_failed(step);
        // The peer's close_notify is its end of input.
        if (step.kind == TlsStream::Step::Kind::Closed && (state_ == State::Reading || state_ == State::Lingering))
            begin_close(false);
        break;
    }
    if (!traits(state_).open) return;
    if (tls_->wrote_after_hand_off()) {
        // The session wrote after its keys went to the kernel (an alert):
        // its records can no longer be sent.
        if (options_.debug) spdlog::debug("conn={} tls: the session wrote after the kTLS hand-off: close", index_);
        return begin_close(true);
    }
    tls_->flush(tls_env());
    tls_->install_kernel_tx(tls_env()); // once the tickets have gone
    if (input_backlog() >= options_.max_input && socket_.armed() && !socket_.cancelling())
        socket_.cancel(socket_env(), true);
}

// The worker's turn for the ClientHello left to it (on_recv): read what came
// meanwhile, and the peer's end if it came too.
void Connection::on_handshake_turn() noexcept
{
    if (!std::exchange(handshake_waits_, false) || !tls_ || !traits(state_).open) return;
    pump_tls();
    if ((state_ == State::Reading || state_ == State::Lingering) && socket_.at_end())
        begin_close(false);
    else
        maybe_arm_recv();
    // Called from the worker, not from on_cqe: the deadline follows the new
    // state, and a close with nothing in flight (the peer's end came while
    // it waited, so no recv is armed) finishes now.
    settle();
}

// A failed handshake, or a bad record: the alert OpenSSL wrote (if any) goes
// out, then the connection closes; a response in flight is cut.
void Connection::tls_failed(const TlsStream::Step& step) noexcept
{
    if (options_.debug) spdlog::debug("conn={} tls: {}", index_, step.error);
    if (step.plain_http && state_ == State::Reading && tls_->idle()) return answer_plain_http(step.plain);
    if (traits(state_).responding || !tls_->flush(tls_env())) return begin_close(true);
    tls_close_after_ = true;
}

// Plain HTTP on the TLS port: a plain 400 that says so, as nginx answers,
// then the close. The session goes (it was never asked to handshake, so it
// wrote nothing) and the connection is a plain one from here. The bytes
// that gave the client away stay as unanswered input: the rest of its
// request is still coming, so the close lingers (as after any 400 cut into
// a request) rather than resetting the response away.
void Connection::answer_plain_http(std::string_view first) noexcept
{
    log_plain_http();
    if (!exchange_) exchange_ = services_.lend_exchange();
    exchange_->input.take(first, false); // copied before the session (and `first`) goes
    tls_.reset();
    http::ErrorExtras extras;
    extras.detail = "The plain HTTP request was sent to HTTPS port";
    plan_unparsed_response(*exchange_, 400, plan_options(), services_.date(), extras);
    start_response();
}

void Connection::on_tls_sent(int res) noexcept
{
    if (!tls_->on_sent(res)) return begin_close(true);
    progress_ns_ = services_.now_ns();
    if (tls_close_after_) {
        if (!tls_->flush(tls_env())) begin_close(true);
        return;
    }
    if (tls_notifying_) {
        if (!tls_->flush(tls_env())) on_close_notify_sent(true);
        return;
    }
    // A response's records: it writes and sends on.
    if (state_ == State::Sending) return on_send(exchange_->send.resume(send_env()));
    if (!traits(state_).open) return;
    tls_->flush(tls_env());
    tls_->install_kernel_tx(tls_env());
}

// Between requests, a graceful close (the keep-alive timeout, a stop, the
// peer's close_notify) tells the peer first, as nginx does: close_notify,
// then the close. Not while a request is under way or unanswered input
// waits (that close answers or cuts it), nor before the keys are settled.
// Says whether the close waits for it.
bool Connection::notify_before_close() noexcept
{
    if (!tls_ || tls_notifying_ || tls_close_after_ || state_ != State::Reading) return false;
    if (exchange_ && (exchange_->input.mid_request() || exchange_->input.buffered() > 0)) return false;
    if (tls_->owes_key_update() || !tls_->send_close_notify(tls_env())) return false;
    tls_notifying_ = true;
    linger_since_ns_ = services_.now_ns(); // its deadline (deadline_wanted)
    return true;
}

// close_notify is out (or could not go): the close goes on. A deadline
// that came meanwhile closed the connection already.
void Connection::on_close_notify_sent(bool ok) noexcept
{
    tls_notifying_ = false;
    if (state_ == State::Reading) begin_close(!ok);
}

// Both setsockopts of the kTLS hand-off are in: the session's plaintext
// (held back meanwhile) goes to the parser, and responses take the plain
// path (On) or the session's records (Off).
void Connection::on_kernel_tls(std::uint8_t seq, int res) noexcept
{
    const TlsStream::KernelTxResult r = tls_->on_kernel_tx(seq, res);
    if (!r.done) return;
    if (options_.debug) {
        if (tls_->kernel_encrypts())
            spdlog::debug("conn={} tls: kernel TLS ({}): bodies spliced", index_, tls_->kernel_cipher());
        else
            spdlog::debug("conn={} tls: kernel TLS refused, {}: bodies encrypted in user space", index_, r.error);
    }
    if (state_ != State::Reading) return;
    pump_tls();
    // The peer's end came during the hand-off (on_recv left it for here):
    // nothing more is coming after what was just parsed.
    if (state_ == State::Reading && socket_.at_end()) return begin_close(false);
    maybe_arm_recv(); // paused if the ciphertext held back meanwhile passed --max-input
}

// --metrics-listen: /metrics (GET or HEAD) is the Prometheus text of every
// worker, anything else 404; the port serves no file.
void Connection::respond_metrics() noexcept
{
    Exchange& x = *exchange_;
    if (x.route.kind == http::Route::Kind::Respond) { // 400, 405, ...: as on the plain port
        plan_status_response(x, x.route.status, x.route.extras, plan_options(), services_.date());
        return start_response();
    }
    if (x.route.rel_path != "metrics" || x.route.directory) {
        plan_status_response(x, 404, {}, plan_options(), services_.date());
        return start_response();
    }
    plan_metrics_response(x, services_.metrics_text(), plan_options(), services_.date());
    start_response();
}

// --https-redirect: 308 to the same path on the TLS port, but for ACME
// challenges (certbot's webroot mode works against the plain port); a Host
// that is no name or address gets 400, never a Location built from it.
void Connection::redirect_to_https() noexcept
{
    Exchange& x = *exchange_;
    // The host the site was chosen by: an absolute-form target's authority
    // wins over Host (RFC 9112 3.2.2), here as in choose_site.
    const http::Request& req = x.input.request();
    const std::optional<std::string_view> field = req.host;
    const std::string_view host = http::request_authority(req.target, field.value_or(""));
    const std::optional<std::string> location =
        host.empty() ? std::nullopt : x.route.https_location(host, options_.https_redirect);
    http::ErrorExtras extras;
    if (location) extras.location = *location;
    plan_status_response(x, location ? 308 : 400, extras, plan_options(), services_.date());
    start_response();
}

} // namespace splicehttpd::server
