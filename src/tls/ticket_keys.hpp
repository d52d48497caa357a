// Session-ticket keys (RFC 5077 tickets in TLS 1.2, PSK tickets in TLS 1.3):
// in memory only, never written anywhere, so a restart forgets every ticket.
// A new key encrypts tickets every `rotate_every`; the previous `kept - 1`
// keys still decrypt (the ticket is then renewed with the current key), so
// a ticket resumes for at least (kept - 1) * rotate_every after its key was
// replaced, and never once its key is kept * rotate_every old. Shared by every worker and kept across certificate reloads: one
// mutex, taken once per handshake that issues or presents a ticket.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

namespace splicehttpd::tls {

class TicketKeys {
public:
    struct Key {
        std::array<std::uint8_t, 16> name;     // sent in the clear in every ticket
        std::array<std::uint8_t, 32> aes_key;  // AES-256-CBC
        std::array<std::uint8_t, 32> hmac_key; // HMAC-SHA256
        std::chrono::steady_clock::time_point born;
    };

    static constexpr std::chrono::seconds kRotateEvery{4 * 3600};
    static constexpr std::size_t kKept = 4;

    using Clock = std::function<std::chrono::steady_clock::time_point()>;

    // `clock`: the time keys are born and age by (a test's own).
    explicit TicketKeys(std::chrono::seconds rotate_every = kRotateEvery, std::size_t kept = kKept,
                        Clock clock = std::chrono::steady_clock::now);
    ~TicketKeys();
    TicketKeys(const TicketKeys&) = delete;
    TicketKeys& operator=(const TicketKeys&) = delete;

    // The key that encrypts a new ticket (a new one first when the current
    // one is older than rotate_every).
    Key current();
    // The key a presented ticket names, and whether it is the current one
    // (an older key's ticket is renewed); nullopt when it has gone.
    std::optional<std::pair<Key, bool>> find(const std::array<std::uint8_t, 16>& name);

    // A new current key now (a test, or an operator's forced rotation); the
    // oldest goes when more than `kept` are held.
    void rotate();

    // How long a ticket may live (SSL_CTX_set_timeout): as long as its key
    // is certain to be kept.
    std::chrono::seconds ticket_lifetime() const { return rotate_every_ * long(kept_ - 1); }

private:
    void rotate_locked(std::chrono::steady_clock::time_point now);
    void age_locked(std::chrono::steady_clock::time_point now);

    std::mutex mutex_;
    std::deque<Key> keys_; // front: current
    std::chrono::seconds rotate_every_;
    std::size_t kept_;
    Clock clock_;
};

} // namespace splicehttpd::tls
