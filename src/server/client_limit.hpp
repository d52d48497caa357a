// Connections per client address, for --max-conns-per-ip N (nginx's
// limit_conn): the accept path asks try_add for a new connection and gives
// it back with remove when the connection closes; past N, the connection is
// closed at once and counted, holding no slot. ClientCounter is pure and
// single-threaded; the workers share one SharedClientCounter (the same
// behind a mutex): SO_REUSEPORT spreads one client's connections over
// every worker, so a per-worker count would not be a per-client one.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <netinet/in.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace splicehttpd::server {

// A client as the limit counts it: an IPv4 client of a dual-stack socket
// (::ffff:192.0.2.1) is the same as on an IPv4 socket; every unix-socket
// peer is one client (it has no address), as with nginx's
// $binary_remote_addr.
struct ClientKey {
    std::array<std::uint8_t, 16> bytes{}; // IPv6, or IPv4 as ::ffff:a.b.c.d
    bool is_unix = false;

    // nullopt for another family, or an address cut short.
    static std::optional<ClientKey> from(const sockaddr* addr, socklen_t len) noexcept;
    // The address an accept filled into a sockaddr_in6 (an IPv4 peer's is a
    // sockaddr_in at its start; a unix peer's family is AF_UNIX).
    static std::optional<ClientKey> of_peer(const sockaddr_in6& peer) noexcept;
    friend bool operator==(const ClientKey&, const ClientKey&) = default;
};

class ClientCounter {
public:
    // `capacity`: the most connections the server holds at once (threads x
    // --max-conns). Each address counted holds one at least, so the table
    // (fixed at construction, about 2 x capacity x 28 bytes, open
    // addressing) never fills. `seed` keys the hash, so that a client
    // cannot choose addresses that collide (give it getrandom's bytes).
    ClientCounter(std::size_t capacity, unsigned limit, std::uint64_t seed);

    // Counts a new connection of `key`; false, counting nothing, when it
    // has `limit` already (or, more connections than `capacity` being a
    // bug, when the table is full).
    [[nodiscard]] bool try_add(const ClientKey& key) noexcept;

    // The end of a connection try_add counted; false, changing nothing,
    // for an address with none counted: a count never goes below zero.
    bool remove(const ClientKey& key) noexcept;

    [[nodiscard]] unsigned count(const ClientKey& key) const noexcept;
    [[nodiscard]] std::size_t addresses() const noexcept { return used_; }    // with a connection now
    [[nodiscard]] std::uint64_t refused() const noexcept { return refused_; } // try_add said false
    [[nodiscard]] unsigned limit() const noexcept { return limit_; }

private:
    struct Slot {
        ClientKey key;
        std::uint32_t hash = 0;
        std::uint32_t count = 0; // 0: empty
    };
    [[nodiscard]] std::uint32_t hash(const ClientKey& key) const noexcept;
    [[nodiscard]] std::size_t find(const ClientKey& key, std::uint32_t h) const noexcept; // slot, or the empty one

    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    std::size_t capacity_ = 0;
    std::size_t used_ = 0;
    unsigned limit_ = 0;
    std::uint64_t seed_ = 0;
    std::uint64_t refused_ = 0;
};

// The process's one count, shared by the workers: the lock is taken once
// when a connection is accepted and once when it closes, never per request.
class SharedClientCounter {
public:
    SharedClientCounter(std::size_t capacity, unsigned limit, std::uint64_t seed) : counter_(capacity, limit, seed) {}

    [[nodiscard]] bool try_add(const ClientKey& key) noexcept
    {
        const std::lock_guard lock(mutex_);
        return counter_.try_add(key);
    }
    bool remove(const ClientKey& key) noexcept
    {
        const std::lock_guard lock(mutex_);
        return counter_.remove(key);
    }
    [[nodiscard]] unsigned count(const ClientKey& key) const noexcept
    {
        const std::lock_guard lock(mutex_);
        return counter_.count(key);
    }
    [[nodiscard]] std::size_t addresses() const noexcept
    {
        const std::lock_guard lock(mutex_);
        return counter_.addresses();
    }

private:
    mutable std::mutex mutex_;
    ClientCounter counter_;
};

} // namespace splicehttpd::server
