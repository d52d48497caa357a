#include "tls/ticket_keys.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace splicehttpd::tls {

TicketKeys::TicketKeys(std::chrono::seconds rotate_every, std::size_t kept, Clock clock)
    : rotate_every_(rotate_every), kept_(kept < 2 ? 2 : kept), clock_(std::move(clock))
{
    std::lock_guard lock(mutex_);
    rotate_locked(clock_());
}

TicketKeys::~TicketKeys()
{
    for (Key& k : keys_) OPENSSL_cleanse(&k, sizeof k);
}

void TicketKeys::rotate_locked(std::chrono::steady_clock::time_point now)
{
    Key k{};
    if (RAND_bytes(k.name.data(), int(k.name.size())) != 1 ||
        RAND_bytes(k.aes_key.data(), int(k.aes_key.size())) != 1 ||
        RAND_bytes(k.hmac_key.data(), int(k.hmac_key.size())) != 1)
        throw std::runtime_error("session ticket keys: the random generator failed");
    k.born = now;
    keys_.push_front(k);
    OPENSSL_cleanse(&k, sizeof k);
    while (keys_.size() > kept_) {
        OPENSSL_cleanse(&keys_.back(), sizeof(Key));
        keys_.pop_back();
    }
}

void TicketKeys::rotate()
{
    std::lock_guard lock(mutex_);
    rotate_locked(clock_());
}

TicketKeys::Key TicketKeys::current()
{
    std::lock_guard lock(mutex_);
    age_locked(clock_());
    return keys_.front();
}

std::optional<std::pair<TicketKeys::Key, bool>> TicketKeys::find(const std::array<std::uint8_t, 16>& name)
{
    std::lock_guard lock(mutex_);
    age_locked(clock_());
    for (std::size_t i = 0; i < keys_.size(); ++i)
        if (CRYPTO_memcmp(keys_[i].name.data(), name.data(), name.size()) == 0) return std::pair{keys_[i], i == 0};
    return std::nullopt;
}

// Rotation is lazy (when a key is next used), so after a quiet spell the
// keys are still there by count: they also go by age, kept * rotate_every
// after they were made.
void TicketKeys::age_locked(std::chrono::steady_clock::time_point now)
{
    if (now - keys_.front().born >= rotate_every_) rotate_locked(now);
    while (keys_.size() > 1 && now - keys_.back().born >= rotate_every_ * long(kept_)) {
        OPENSSL_cleanse(&keys_.back(), sizeof(Key));
        keys_.pop_back();
    }
}

} // namespace splicehttpd::tls
