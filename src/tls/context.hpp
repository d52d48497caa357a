// The server's TLS configuration: one SSL_CTX per certificate/key pair, all
// configured alike, chosen per connection by the ClientHello's server name
// (tls/sni.hpp). Built once at start-up and again on each reload (SIGHUP):
// a reload builds a whole new set from the same paths and either returns it
// or one error line, so a bad new pair never replaces a working one. A set
// is shared (shared_ptr) by every worker and by every session made from it:
// connections that started on the old set finish on it.
//
// What every context enforces: TLS 1.3 and 1.2 only; for 1.2 ECDHE with
// AES-GCM or ChaCha20-Poly1305 only (Mozilla's "intermediate" list without
// DHE); ALPN http/1.1 (a client that offers ALPN without it is refused with
// no_application_protocol, one that offers none is served); stateless
// session tickets with rotating in-memory keys (tls/ticket_keys.hpp), no
// server-side session cache; no renegotiation; no compression; no 0-RTT.
#pragma once

#include "tls/ticket_keys.hpp"

#include <openssl/ssl.h>

#include <ctime>
#include <memory>
#include <string>
#include <vector>

namespace splicehttpd::tls {

struct CertKeyPaths {
    std::string cert; // PEM: the certificate, then its chain (intermediates)
    std::string key;  // PEM: the private key, unencrypted
};

class ContextSet {
public:
    ~ContextSet();
    ContextSet(const ContextSet&) = delete;
    ContextSet& operator=(const ContextSet&) = delete;

    // A server-side SSL for one connection, on the first pair's context
    // (the server name switches it); nullptr when OpenSSL is out of memory.
    // The caller keeps this set alive as long as the SSL (tls::Session does).
    SSL* new_ssl() const;

    std::size_t size() const { return pairs_.size(); }
    const std::vector<CertKeyPaths>& paths() const { return paths_; }
    // The subjectAltName DNS names of pair i's certificate, lower case.
    const std::vector<std::string>& names(std::size_t i) const { return names_[i]; }
    SSL_CTX* context(std::size_t i) const { return pairs_[i]; }
    TicketKeys& ticket_keys() const { return *ticket_keys_; }
    std::shared_ptr<TicketKeys> ticket_keys_shared() const { return ticket_keys_; }

    // Which pair a connection's SSL was given (after its ClientHello).
    static std::size_t pair_of(const SSL* ssl);

private:
    friend struct Loader;
    ContextSet() = default;

    std::vector<SSL_CTX*> pairs_; // owned (SSL_CTX_free)
    std::vector<std::vector<std::string>> names_;
    std::vector<CertKeyPaths> paths_;
    std::shared_ptr<TicketKeys> ticket_keys_;
};

struct LoadResult {
    std::shared_ptr<const ContextSet> set; // empty: `error` says why
    std::string error;                     // one line naming the file and what is wrong
    std::vector<std::string> warnings;     // one line each (an expired certificate, a key others can read)
};

// Reads each pair (PEM files, at most 1 MiB each: open, fstat, read, close)
// and builds the contexts. `now` decides what counts as expired (a warning:
// the operator may be about to replace it, and refusing to start would take
// the plain listener down too).
LoadResult load_contexts(const std::vector<CertKeyPaths>& pairs, std::shared_ptr<TicketKeys> ticket_keys,
                         std::time_t now = std::time(nullptr));

// The same paths and ticket keys again (SIGHUP). On error the
// caller keeps `current`.
LoadResult reload_contexts(const ContextSet& current, std::time_t now = std::time(nullptr));

// What the contexts allow, for logs and tests. The server's order decides
// (SSL_OP_CIPHER_SERVER_PREFERENCE): AES-128-GCM first, as Mozilla's
// guidelines, Go and BoringSSL order them, except that a client that puts
// ChaCha20-Poly1305 first gets it (SSL_OP_PRIORITIZE_CHACHA: such a client
// most likely lacks AES instructions). See docs/design.md, "Which cipher".
inline constexpr const char* kCiphers12 = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr const char* kCiphers13 = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
inline constexpr const char* kGroups = "X25519:P-256:P-384";

} // namespace splicehttpd::tls
