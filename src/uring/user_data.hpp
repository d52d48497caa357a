// Every SQE's user_data is a packed (op, seq, generation, index), made and
// unmade only here. The generation lets a completion that arrives for a connection
// slot which has since been reused be recognised and dropped.
#pragma once

#include <cstdint>
#include <string_view>

namespace splicehttpd::uring {

enum class Op : std::uint8_t {
    None = 0,
    Accept,       // accept into the connection's own fixed-file slot
    CancelAccept, // stopping: cancel of an armed accept
    Recv,         // multishot recv with provided buffers
    Openat,       // lookup: openat2 (seq: which variant)
    Statx,        // lookup: statx of the opened descriptor (seq: which variant)
    Read,         // a small body read into memory
    Send,         // response headers or in-memory body
    SpliceIn,     // file -> pipe
    SpliceOut,    // pipe -> socket
    PollOut,      // the socket was full: wait for room
    OutQ,         // SIOCOUTQ of a stalled socket: is its queue still draining?
    Cork,         // TCP_CORK of a response that ends its connection (CQE only on failure)
    CloseFile,    // close of a file descriptor (CQE only on failure)
    CloseSocket,  // close of the connection's socket slot
    Shutdown,     // shutdown(SHUT_RDWR): ends all of a connection's socket work
    Cancel,       // async cancel of a multishot recv (input back-pressure)
    Drain,        // pipe -> /dev/null before a pipe returns to the pool
    PipeCreate,   // IORING_OP_PIPE growing the pool
    Wake,         // eventfd read: a command from the main thread
    Timeout,      // shutdown grace period
    Tick,         // once a second: idle and stalled connections
    Listing,      // eventfd read: --autoindex listings rendered off the ring thread
    Count_
};

constexpr std::string_view op_name(Op op) noexcept
{
    switch (op) {
    case Op::None: return "none";
    case Op::Accept: return "accept";
    case Op::CancelAccept: return "cancel";
    case Op::Recv: return "recv";
    case Op::Statx: return "statx";
    case Op::Openat: return "openat";
    case Op::Read: return "read";
    case Op::Send: return "send";
    case Op::SpliceIn: return "splice";
    case Op::SpliceOut: return "splice";
    case Op::PollOut: return "poll";
    case Op::OutQ: return "outq";
    case Op::Cork: return "cork";
    case Op::CloseFile: return "close";
    case Op::CloseSocket: return "close";
    case Op::Shutdown: return "shutdown";
    case Op::Cancel: return "cancel";
    case Op::Drain: return "drain";
    case Op::PipeCreate: return "pipe";
    case Op::Wake: return "wake";
    case Op::Timeout: return "timeout";
    case Op::Tick: return "tick";
    case Op::Listing: return "listing";
    case Op::Count_: break;
    }
    return "?";
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
