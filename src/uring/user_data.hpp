// Every SQE's user_data is a packed (op, seq, generation, index), made and
// unmade only here, and every op has one row in kOps. The generation lets a
// completion that arrives for a connection slot which has since been reused
// be recognised and dropped.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <iterator>
#include <string_view>

namespace splicehttpd::uring {

enum class Op : std::uint8_t {
    None = 0,
    Accept,
    CancelAccept,
    Recv,
    Openat,
    Statx,
    Read,
    Send,
    SpliceIn,
    SpliceOut,
    PollOut,
    OutQ,
    KernelAlert,
    Cork,
    CloseFile,
    CloseSocket,
    Shutdown,
    CancelRecv,
    TlsSend,
    KernelTls,
    TlsCloseNotify,
    Drain,
    PipeCreate,
    Wake,
    Timeout,
    Tick,
    Listing,
    ListenPoll,
    Count_
};

// Who handles an op's completion. A connection's ops are counted in flight
// (it is freed only when none is left); the others are not.
enum class Owner : std::uint8_t {
    Worker,     // the worker's own, and failures of ops that post no CQE on success
    Pool,       // the pipe pool: drains, growth
    Connection, // the state machine: the socket's accept, recv, shutdown, close
    Lookup,     // server/lookup: openat2, statx
    Sender,     // server/sender: the steps of a response, POLLOUT, the queue probe
};

// One row per op (as the kernel's io_uring/opdef.c): what --debug calls it,
// who handles its completion, the opcode it submits and whether it counts
// as in flight for its connection. The enum, the names, the dispatch and the
// accounting are all read from here.
struct OpDef {
    Op op;
    std::string_view name;
    Owner owner;
    std::uint8_t opcode;
    bool in_flight;
};

inline constexpr OpDef kOps[] = {
    {Op::None, "none", Owner::Worker, IORING_OP_NOP, false},
    // accept into the connection's own fixed-file slot
    {Op::Accept, "accept", Owner::Connection, IORING_OP_ACCEPT, true},
    // stopping: the cancel of an armed accept (the accept completes with -ECANCELED)
    {Op::CancelAccept, "cancel-accept", Owner::Worker, IORING_OP_ASYNC_CANCEL, false},
    // the first recv (linked to the accept), then a multishot one, provided buffers
    {Op::Recv, "recv", Owner::Connection, IORING_OP_RECV, true},
    // the lookup's openat2 and statx of the opened descriptor (seq: which variant)
    {Op::Openat, "openat", Owner::Lookup, IORING_OP_OPENAT2, true},
    {Op::Statx, "statx", Owner::Lookup, IORING_OP_STATX, true},
    // the steps of a response (seq: position in its chain)
    {Op::Read, "read", Owner::Sender, IORING_OP_READ, true},
    {Op::Send, "send", Owner::Sender, IORING_OP_SEND, true},
    {Op::SpliceIn, "splice", Owner::Sender, IORING_OP_SPLICE, true},  // file -> pipe
    {Op::SpliceOut, "splice", Owner::Sender, IORING_OP_SPLICE, true}, // pipe -> socket
    // the socket was full: wait for room
    {Op::PollOut, "poll", Owner::Sender, IORING_OP_POLL_ADD, true},
    // SIOCOUTQ of a stalled socket: is its queue still draining?
    {Op::OutQ, "outq", Owner::Sender, IORING_OP_URING_CMD, true},
    // HTTPS with kTLS: close_notify after a response that ends the connection
    // (sendmsg with a TLS_SET_RECORD_TYPE cmsg: the kernel makes the record)
    {Op::KernelAlert, "close-notify", Owner::Sender, IORING_OP_SENDMSG, true},
    // TCP_CORK of a response that ends its connection: a CQE only on failure
    {Op::Cork, "cork", Owner::Worker, IORING_OP_URING_CMD, false},
    // close of a file descriptor: a CQE only on failure
    {Op::CloseFile, "close-file", Owner::Worker, IORING_OP_CLOSE, false},
    // close of the connection's socket slot
    {Op::CloseSocket, "close", Owner::Connection, IORING_OP_CLOSE, true},
    // shutdown: ends all of a connection's socket work (abort), or SHUT_WR to linger
    {Op::Shutdown, "shutdown", Owner::Connection, IORING_OP_SHUTDOWN, true},
    // cancel of the multishot recv (input back-pressure, a graceful close)
    {Op::CancelRecv, "cancel-recv", Owner::Connection, IORING_OP_ASYNC_CANCEL, true},
    // HTTPS: records (handshake, responses, alerts) from the connection's TLS session
    {Op::TlsSend, "tls-send", Owner::Connection, IORING_OP_SEND, true},
    // HTTPS with kTLS: setsockopt TCP_ULP "tls" (seq 0), then SOL_TLS TLS_TX (seq 1), linked
    {Op::KernelTls, "ktls", Owner::Connection, IORING_OP_URING_CMD, true},
    // HTTPS with kTLS: close_notify before an idle connection closes
    {Op::TlsCloseNotify, "close-notify", Owner::Connection, IORING_OP_SENDMSG, true},
    // pipe -> /dev/null before a pipe returns to the pool
    {Op::Drain, "drain", Owner::Pool, IORING_OP_SPLICE, false},
    // IORING_OP_PIPE (62) growing the pool
    {Op::PipeCreate, "pipe", Owner::Pool, 62, false},
    // eventfd read: a command from the main thread
    {Op::Wake, "wake", Owner::Worker, IORING_OP_READ, false},
    // the shutdown grace period
    {Op::Timeout, "timeout", Owner::Worker, IORING_OP_TIMEOUT, false},
    // once a second: the deadline queues, the cache sweep
    {Op::Tick, "tick", Owner::Worker, IORING_OP_TIMEOUT, false},
    // eventfd read: --autoindex listings rendered off the ring thread
    {Op::Listing, "listing", Owner::Worker, IORING_OP_READ, false},
    // a listener with no accept armed has a client waiting (seq: which listener)
    {Op::ListenPoll, "listen-poll", Owner::Worker, IORING_OP_POLL_ADD, false},
};
static_assert(std::size(kOps) == std::size_t(Op::Count_), "one row per op");
static_assert(
    [] {
        for (std::size_t i = 0; i < std::size(kOps); ++i) {
            if (std::size_t(kOps[i].op) != i) return false;
            // Counted exactly when a connection's unit handles the completion.
            const bool connection =
                kOps[i].owner == Owner::Connection || kOps[i].owner == Owner::Lookup || kOps[i].owner == Owner::Sender;
            if (kOps[i].in_flight != connection) return false;
        }
        return true;
    }(),
    "rows in enum order; in flight exactly for a connection's ops");

constexpr const OpDef& op_def(Op op) noexcept
{
    return kOps[std::size_t(op) < std::size(kOps) ? std::size_t(op) : 0];
}

constexpr std::string_view op_name(Op op) noexcept
{
    return std::size_t(op) < std::size(kOps) ? kOps[std::size_t(op)].name : "?";
}

// Layout: op (8 bits) | seq (8) | generation (16) | index (32).
// seq is the position of an SQE in its chain, so a completion knows what was
// asked of it (a short send or splice is only visible against that).
struct UserData {
    Op op = Op::None;
    std::uint8_t seq = 0;
    std::uint16_t gen = 0;
    std::uint32_t index = 0; // connection index, pipe index, ...

    [[nodiscard]] constexpr std::uint64_t pack() const noexcept
    {
        return (std::uint64_t(op) << 56) | (std::uint64_t(seq) << 48) | (std::uint64_t(gen) << 32) | index;
    }

    static constexpr UserData unpack(std::uint64_t v) noexcept
    {
        return UserData{Op(v >> 56), std::uint8_t(v >> 48), std::uint16_t(v >> 32), std::uint32_t(v)};
    }

    friend constexpr bool operator==(const UserData&, const UserData&) = default;
};

} // namespace splicehttpd::uring
