// Kernel TLS (kTLS): after the handshake the transmit keys go to the socket
// (setsockopt TCP_ULP "tls", then SOL_TLS TLS_TX) and the kernel encrypts
// whatever is sent or spliced into it, so file bodies keep the splice chain.
//
// The hand-off is pure: from OpenSSL's secrets to the kernel's
// tls12_crypto_info_* structs (linux/tls.h), unit-tested against RFC 8448,
// the TLS 1.2 PRF vector and records a live session wrote. Only
// install_kernel_tls() and probe_kernel_tls() touch a socket.
//
//  TLS 1.3: key = HKDF-Expand-Label(traffic secret, "key", "", key length),
//           iv = HKDF-Expand-Label(secret, "iv", "", 12); the kernel's salt
//           is the iv's first 4 bytes and its iv the other 8 (ChaCha20: all
//           12 in iv); rec_seq = records already sent under that secret
//           (the NewSessionTicket records, 2 with OpenSSL's default).
//  TLS 1.2: key block = PRF(master secret, "key expansion",
//           server_random + client_random): client key, server key, client
//           IV, server IV (AEAD suites have no MAC keys); salt = the 4-byte
//           fixed IV; iv = the explicit nonce of the next record (OpenSSL
//           starts it at random and counts up, so the one after the last it
//           wrote); rec_seq = records sent since ChangeCipherSpec (1: the
//           Finished).
#pragma once

#include <linux/tls.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace splicehttpd::tls {

enum class Direction {
    Tx, // the server's writes: TLS_TX
    Rx, // the client's writes, which the server reads: TLS_RX
};

// The argument of setsockopt(SOL_TLS, TLS_TX or TLS_RX).
struct CryptoInfo {
    union {
        tls_crypto_info info;
        tls12_crypto_info_aes_gcm_128 aes_gcm_128;
        tls12_crypto_info_aes_gcm_256 aes_gcm_256;
        tls12_crypto_info_chacha20_poly1305 chacha20_poly1305;
    } u{};
    unsigned size = 0; // bytes of u that setsockopt takes

    // Views for tests and logs.
    std::span<const std::uint8_t> key() const;
    std::span<const std::uint8_t> salt() const;
    std::span<const std::uint8_t> iv() const;
    std::uint64_t rec_seq() const;
    const char* cipher_name() const; // "AES-GCM-128", "AES-GCM-256", "CHACHA20-POLY1305"
};

// IANA cipher suite ids (SSL_CIPHER_get_protocol_id) the kernel can take:
// 0x1301-0x1303 (TLS 1.3) and the ECDHE AES-GCM / ChaCha20 suites of 1.2.
bool kernel_has_suite(std::uint16_t suite);

// TLS 1.3, from a traffic secret (its hash's size: 32 or 48 bytes).
std::optional<CryptoInfo> tls13_crypto_info(std::uint16_t suite, std::span<const std::uint8_t> traffic_secret,
                                            std::uint64_t rec_seq);

// TLS 1.2, from the master secret and the hello randoms. `explicit_iv`
// (AES-GCM only): the next record's explicit nonce (Tx); for Rx the kernel
// reads each record's own, so it is not used.
std::optional<CryptoInfo> tls12_crypto_info(std::uint16_t suite, std::span<const std::uint8_t> master_secret,
                                            std::span<const std::uint8_t> client_random,
                                            std::span<const std::uint8_t> server_random, Direction dir,
                                            std::uint64_t rec_seq, std::array<std::uint8_t, 8> explicit_iv);

// The building blocks, exposed for their published vectors.
bool hkdf_expand_label(const char* digest, std::span<const std::uint8_t> secret, std::string_view label,
                       std::span<const std::uint8_t> context, std::span<std::uint8_t> out);
bool tls12_prf(const char* digest, std::span<const std::uint8_t> secret, std::string_view label,
               std::span<const std::uint8_t> seed, std::span<std::uint8_t> out);

// Whether the kernel offers kTLS: setsockopt(TCP_ULP, "tls") on a connected
// loopback TCP pair, then TLS_TX with a throwaway key for each AEAD (each
// is a crypto module of its own: one may be missing). Call at start-up,
// before the sandbox (Landlock ABI 4 forbids the connect).
struct KernelTls {
    bool available = false; // the tls module and at least one AEAD
    bool aes_gcm_128 = false;
    bool aes_gcm_256 = false;
    bool chacha20_poly1305 = false;
    std::string detail; // one line: why not, or which AEADs

    // Whether a connection with these keys can hand them to the kernel.
    bool takes(const CryptoInfo& info) const;
};
KernelTls probe_kernel_tls();

// Puts the keys on a connected TCP socket: TCP_ULP "tls" (once per socket),
// then TLS_TX or TLS_RX. 0, or the errno of the call that failed (ENOENT:
// no tls module; EINVAL/ENOPROTOOPT: this cipher or version is not built).
int install_kernel_tls(int fd, Direction dir, const CryptoInfo& info, bool ulp_already_set = false);

} // namespace splicehttpd::tls
