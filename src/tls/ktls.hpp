// Kernel TLS (kTLS): after the handshake the transmit keys go to the socket
// (setsockopt TCP_ULP "tls", then SOL_TLS TLS_TX) and the kernel encrypts
// whatever is sent or spliced into it, so file bodies keep the splice chain.
//
// The keys are OpenSSL's own: with SSL_OP_ENABLE_KTLS it hands them to the
// session's BIO in the kernel's struct (tls/session.hpp, "Sealing"), the
// session seals the tickets with them, and Session::sending_keys() gives
// the struct as it then stands (the next sequence number, and for TLS 1.2
// AES-GCM the next explicit nonce). Only install_kernel_tls() and
// probe_kernel_tls() touch a socket.
#pragma once

#include <linux/tls.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

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
