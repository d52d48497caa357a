// A connection's deadlines: which queue its state waits in (the queues own
// the timeouts, deadlines.hpp), and the one handler per kind when the time
// is up.
#include "server/connection.hpp"

#include "sys/assert.hpp"

namespace splicehttpd::server {

Connection::Wait Connection::deadline_wanted() const noexcept
{
    switch (state_) {
    case State::Reading:
        // HTTPS: the handshake must be done in its own time, counted from
        // the accept (a client that sends nothing, or half a ClientHello).
        if (tls_ && !tls_->established()) return {Deadline::Handshake, accepted_ns_};
        // close_notify on its way before a close: as long as a lingering
        // close may take, from when it went (the queues are in order of
        // `since`: the keep-alive one that ran out must not be placed again).
        if (tls_notifying_) return {Deadline::Linger, linger_since_ns_};
        // A request under way must be complete within the header timeout
        // (counted from its first byte, so dribbling does not extend it); an
        // idle connection closes after the keep-alive timeout.
        if (exchange_ && (exchange_->input.mid_request() || exchange_->input.buffered() > 0))
            return {Deadline::Request, request_since_ns_};
        return {Deadline::Idle, idle_since_ns_};
    case State::Looking:
        // Waiting for the lister thread: as long as a response may go
        // without progress.
        if (exchange_ && exchange_->lookup.waits_for_listing()) return {Deadline::Listing, listing_since_ns_};
        return {};
    case State::Sending:
    case State::WaitingWritable:
        // The send timeout is about progress, not a deadline: the socket
        // took no byte for that long. With SIOCOUTQ it is two halves: a
        // first look at the socket's queue, then a second (send_deadlines).
        if (exchange_->send.stall_check()) return {Deadline::Recheck, recheck_since_ns_};
        return {Deadline::Send, progress_ns_};
    case State::Lingering: return {Deadline::Linger, linger_since_ns_};
    case State::Free:
    case State::Accepting:
    case State::WaitingPipe: // not the peer's fault
    case State::Closing:
    case State::Closed: return {};
    }
    return {};
}

// One handler per kind: the queue owns the timeout, so the time is up.
void Connection::on_timeout(Deadline kind) noexcept
{
    // The link is always in the queue its state wants (settle, after every
    // event): a timeout of another kind means an event went unsettled.
    SPLICEHTTPD_ASSERT(deadline_wanted().kind == kind);
    if (deadline_wanted().kind != kind) return settle();
    switch (kind) {
    case Deadline::Idle:
    case Deadline::Linger: begin_close(false); break;
    case Deadline::Handshake: begin_close(true); break; // no keys yet: no alert, no response
    case Deadline::Request:
        log_timed_out();
        respond_and_close(http::kStatusHeaderTimeout);
        break;
    case Deadline::Send:
    case Deadline::Recheck:
        // Waiting for room, no byte taken can also mean a slow link still
        // draining a deep queue (POLLOUT comes only when much of it has
        // gone): half a send timeout without a byte taken, the socket's
        // queue is asked, and again the other half later
        // (send_deadlines).
        // Sending (POLLOUT came, and the chain after it moved nothing), or
        // no SIOCOUTQ on this kernel: the peer took nothing for too long.
        // (An HTTPS record send waits inside the kernel for room, as POLLOUT
        // would: the same look.)
        if (waits_for_room() && options_.send.queue_probe) {
            exchange_->send.probe_queue(ops_, int(socket_slot()));
            recheck_since_ns_ = services_.now_ns();
        } else {
            begin_close(true);
        }
        break;
    case Deadline::Listing:
        // Its page, when it comes, goes to the cache.
        exchange_->lookup.forget_listing();
        respond_busy();
        break;
    case Deadline::None: break;
    }
    settle();
}

} // namespace splicehttpd::server
