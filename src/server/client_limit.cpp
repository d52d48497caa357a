#include "server/client_limit.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace splicehttpd::server {

namespace {

std::uint64_t mix(std::uint64_t x) noexcept
{
    // splitmix64's finalizer: every input bit moves every output bit.
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

} // namespace

std::optional<ClientKey> ClientKey::from(const sockaddr* addr, socklen_t len) noexcept
{
    ClientKey key;
    if (addr == nullptr || len < socklen_t(sizeof(sa_family_t))) return std::nullopt;
    switch (addr->sa_family) {
    case AF_INET: {
        if (len < socklen_t(sizeof(sockaddr_in))) return std::nullopt;
        const auto* in4 = reinterpret_cast<const sockaddr_in*>(addr);
        key.bytes[10] = 0xff;
        key.bytes[11] = 0xff;
        std::memcpy(&key.bytes[12], &in4->sin_addr, 4);
        return key;
    }
    case AF_INET6: {
        if (len < socklen_t(sizeof(sockaddr_in6))) return std::nullopt;
        std::memcpy(key.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, 16);
        return key;
    }
    case AF_UNIX: key.is_unix = true; return key;
    default: return std::nullopt;
    }
}

std::optional<ClientKey> ClientKey::of_peer(const sockaddr_in6& peer) noexcept
{
    const socklen_t len = peer.sin6_family == AF_INET ? socklen_t(sizeof(sockaddr_in)) : socklen_t(sizeof peer);
    // A unix peer's address is longer than sockaddr_in6, but only its family counts.
    return from(reinterpret_cast<const sockaddr*>(&peer), len);
}

ClientCounter::ClientCounter(std::size_t capacity, unsigned limit, std::uint64_t seed)
    : capacity_(std::max<std::size_t>(capacity, 1)), limit_(limit), seed_(seed)
{
    // At most half full: probes stay short.
    const std::size_t size = std::bit_ceil(std::max<std::size_t>(16, 2 * capacity_));
    slots_.resize(size);
    mask_ = size - 1;
}

std::uint32_t ClientCounter::hash(const ClientKey& key) const noexcept
{
    std::uint64_t a = 0, b = 0;
    std::memcpy(&a, key.bytes.data(), 8);
    std::memcpy(&b, key.bytes.data() + 8, 8);
    const std::uint64_t h = mix(mix(a ^ seed_) ^ b ^ (key.is_unix ? 0x9e3779b97f4a7c15ull : 0));
    return std::uint32_t(h ^ (h >> 32));
}

std::size_t ClientCounter::find(const ClientKey& key, std::uint32_t h) const noexcept
{
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
        const Slot& s = slots_[i];
        if (s.count == 0 || (s.hash == h && s.key == key)) return i;
    }
}

bool ClientCounter::try_add(const ClientKey& key) noexcept
{
    const std::uint32_t h = hash(key);
    Slot& s = slots_[find(key, h)];
    if (s.count == 0) {
        if (limit_ == 0 || used_ >= capacity_) {
            ++refused_;
            return false;
        }
        s = {key, h, 1};
        ++used_;
        return true;
    }
    if (s.count >= limit_) {
        ++refused_;
        return false;
    }
    ++s.count;
    return true;
}

bool ClientCounter::remove(const ClientKey& key) noexcept
{
    std::size_t i = find(key, hash(key));
    if (slots_[i].count == 0) return false;
    if (--slots_[i].count > 0) return true;
    // Backward-shift deletion (linear probing without tombstones): move up
    // each later entry of the cluster whose home is not between the hole and
    // it, so that every entry stays reachable from its home and the table
    // never fills with markers of the dead.
    --used_;
    for (std::size_t j = (i + 1) & mask_; slots_[j].count != 0; j = (j + 1) & mask_) {
        const std::size_t home = slots_[j].hash & mask_;
        const bool stays = i < j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        slots_[i] = slots_[j];
        i = j;
    }
    slots_[i].count = 0;
    return true;
}

unsigned ClientCounter::count(const ClientKey& key) const noexcept
{
    return slots_[find(key, hash(key))].count;
}

} // namespace splicehttpd::server
