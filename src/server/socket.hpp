// A connection's socket: the accept into its fixed slot, its reads (the
// first recv linked behind the accept, then one multishot recv with provided
// buffers while the connection may get more to read, cancelled for
// back-pressure or a graceful close), its shutdown and its close. It never
// calls its connection: on_recv() returns what came (bytes, the peer's end,
// no buffers left, a reset), and the connection decides what the bytes are
// for and whether to read on.
#pragma once

#include "server/submitter.hpp"
#include "uring/ring.hpp"

#include <netinet/in.h>

#include <cstdint>
#include <string_view>

namespace splicehttpd::server {

class Socket {
public:
    struct Env {
        Submitter& ops;
        uring::BufRing& bufs;
        int socket; // the connection's fixed slot
    };

    struct Received {
        enum class Kind : std::uint8_t {
            Bytes,     // bytes: valid until recycle()
            End,       // the peer shut its side
            NoBuffers, // the buffer ring ran dry: input may wait in the kernel
            Failed,    // reset by the peer, or worse
            Cancelled, // our cancel, or a shutdown
        };
        Kind kind = Kind::Cancelled;
        std::string_view bytes;
        std::uint16_t buffer = 0;
    };

    // An accept into the socket slot, and the first read linked behind it
    // (the slot is known before the socket exists). The read is single-shot,
    // so a connection whose first response closes it never has a recv to
    // cancel.
    void arm_accept(int listen_fd, const Env& env) noexcept;
    // The accept completed: that read is armed.
    void accepted() noexcept { armed_ = true; }
    // The peer's address, filled by the accept (a sockaddr_in fits too).
    [[nodiscard]] const sockaddr_in6& peer() const noexcept { return peer_; }
    // A multishot recv from now on.
    void arm(const Env& env) noexcept;
    // Cancels the armed recv (inline, unlike a shutdown, which takes an
    // io-wq hop). back_pressure: input may be left unread in the kernel.
    void cancel(const Env& env, bool back_pressure) noexcept;
    void on_cancelled() noexcept { cancelling_ = false; }
    // shutdown(2) through the ring. SHUT_RDWR aborts: unlike a cancel, it
    // also fails the links of a chain that have not started yet (a cancel
    // only finds requests already issued), completes a POLLOUT wait and ends
    // the multishot recv (tests/kernel/shutdown_ends_waits.c). SHUT_WR: the
    // FIN after the last response, while the peer's late input is read.
    void shutdown(const Env& env, int how) noexcept;
    // Closes the slot: the last op of a connection.
    void close(const Env& env) noexcept;
    Received on_recv(const io_uring_cqe& cqe, const Env& env) noexcept;
    void recycle(const Received& r, const Env& env) noexcept;

    [[nodiscard]] bool armed() const noexcept { return armed_; }
    [[nodiscard]] bool cancelling() const noexcept { return cancelling_; }
    // The recv stopped with input maybe unread (back-pressure, no buffers).
    [[nodiscard]] bool paused() const noexcept { return paused_; }
    // The last read filled its buffer: more may be waiting.
    [[nodiscard]] bool filled() const noexcept { return filled_; }
    [[nodiscard]] bool at_end() const noexcept { return end_; }
    // Closing a socket whose receive queue holds bytes makes the kernel send
    // a reset, and a reset throws away what the send buffer still holds: the
    // end of the last response. So when the peer may still be sending (it
    // pipelined past "Connection: close": bytes are kept, or input was
    // paused), a close must linger: our side shut first, its input read and
    // dropped until it closes too, or for a few seconds. Otherwise (nothing
    // after the request, input never paused) the socket closes at once, as
    // nginx's default lingering_close does when no more data is expected: a
    // connection whose first response closes it costs an accept, a recv, a
    // send and a close, and no recv to cancel.
    [[nodiscard]] bool peer_may_send(std::size_t kept_bytes) const noexcept
    {
        return !end_ && (kept_bytes > 0 || paused_);
    }
    // Its completions still to come.
    [[nodiscard]] unsigned in_flight() const noexcept { return unsigned(armed_) + unsigned(cancelling_); }

    void reset() noexcept { armed_ = cancelling_ = paused_ = filled_ = end_ = false; }

private:
    sockaddr_in6 peer_{};
    socklen_t peer_len_ = sizeof peer_;
    bool armed_ = false;
    bool cancelling_ = false;
    bool paused_ = false;
    bool filled_ = false;
    bool end_ = false;
};

} // namespace splicehttpd::server
