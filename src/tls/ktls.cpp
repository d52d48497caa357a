#include "tls/ktls.hpp"

#include "sys/unique_fd.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

namespace splicehttpd::tls {

namespace {

enum class Aead { AesGcm128, AesGcm256, Chacha20Poly1305 };

// A struct for `aead` with a zero key, salt, iv and sequence number: what
// the probe offers the kernel (only whether it takes the cipher matters).
CryptoInfo zero_info(Aead aead)
{
    CryptoInfo c;
    const auto fill = [&](auto& s, unsigned short cipher) {
        s.info.version = TLS_1_3_VERSION;
        s.info.cipher_type = cipher;
        c.size = sizeof s;
    };
    switch (aead) {
    case Aead::AesGcm128: fill(c.u.aes_gcm_128, TLS_CIPHER_AES_GCM_128); break;
    case Aead::AesGcm256: fill(c.u.aes_gcm_256, TLS_CIPHER_AES_GCM_256); break;
    case Aead::Chacha20Poly1305: fill(c.u.chacha20_poly1305, TLS_CIPHER_CHACHA20_POLY1305); break;
    }
    return c;
}

} // namespace

std::span<const std::uint8_t> CryptoInfo::key() const
{
    switch (u.info.cipher_type) {
    case TLS_CIPHER_AES_GCM_128: return u.aes_gcm_128.key;
    case TLS_CIPHER_AES_GCM_256: return u.aes_gcm_256.key;
    case TLS_CIPHER_CHACHA20_POLY1305: return u.chacha20_poly1305.key;
    }
    return {};
}

std::span<const std::uint8_t> CryptoInfo::salt() const
{
    switch (u.info.cipher_type) {
    case TLS_CIPHER_AES_GCM_128: return u.aes_gcm_128.salt;
    case TLS_CIPHER_AES_GCM_256: return u.aes_gcm_256.salt;
    }
    return {};
}

std::span<const std::uint8_t> CryptoInfo::iv() const
{
    switch (u.info.cipher_type) {
    case TLS_CIPHER_AES_GCM_128: return u.aes_gcm_128.iv;
    case TLS_CIPHER_AES_GCM_256: return u.aes_gcm_256.iv;
    case TLS_CIPHER_CHACHA20_POLY1305: return u.chacha20_poly1305.iv;
    }
    return {};
}

std::uint64_t CryptoInfo::rec_seq() const
{
    const unsigned char* p = nullptr;
    switch (u.info.cipher_type) {
    case TLS_CIPHER_AES_GCM_128: p = u.aes_gcm_128.rec_seq; break;
    case TLS_CIPHER_AES_GCM_256: p = u.aes_gcm_256.rec_seq; break;
    case TLS_CIPHER_CHACHA20_POLY1305: p = u.chacha20_poly1305.rec_seq; break;
    default: return 0;
    }
    std::uint64_t seq = 0;
    for (int i = 0; i < 8; ++i) seq = seq << 8 | p[i];
    return seq;
}

const char* CryptoInfo::cipher_name() const
{
    switch (u.info.cipher_type) {
    case TLS_CIPHER_AES_GCM_128: return "AES-GCM-128";
    case TLS_CIPHER_AES_GCM_256: return "AES-GCM-256";
    case TLS_CIPHER_CHACHA20_POLY1305: return "CHACHA20-POLY1305";
    }
    return "none";
}

int install_kernel_tls(int fd, Direction dir, const CryptoInfo& info, bool ulp_already_set)
{
    if (!ulp_already_set && ::setsockopt(fd, SOL_TCP, TCP_ULP, "tls", 3) != 0) return errno;
    if (::setsockopt(fd, SOL_TLS, dir == Direction::Tx ? TLS_TX : TLS_RX, &info.u, info.size) != 0) return errno;
    return 0;
}

bool KernelTls::takes(const CryptoInfo& info) const
{
    switch (info.u.info.cipher_type) {
    case TLS_CIPHER_AES_GCM_128: return aes_gcm_128;
    case TLS_CIPHER_AES_GCM_256: return aes_gcm_256;
    case TLS_CIPHER_CHACHA20_POLY1305: return chacha20_poly1305;
    }
    return false;
}

KernelTls probe_kernel_tls()
{
    auto failed = [](const char* what) {
        return KernelTls{.detail =
                             std::string("no kernel TLS: the probe failed: ") + what + ": " + std::strerror(errno)};
    };
    sys::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listener) return failed("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return failed("bind 127.0.0.1");
    if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return failed("getsockname");
    if (::listen(listener.get(), 4) != 0) return failed("listen");

    KernelTls k;
    std::string took, refused;
    // TLS_TX goes once per socket: a connection per AEAD.
    for (const Aead aead : {Aead::AesGcm128, Aead::AesGcm256, Aead::Chacha20Poly1305}) {
        sys::UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!client) return failed("socket");
        if (::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return failed("connect");
        sys::UniqueFd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!server) return failed("accept");
        if (::setsockopt(server.get(), SOL_TCP, TCP_ULP, "tls", 3) != 0) {
            const int err = errno;
            k.detail = err == ENOENT
                           ? "no kernel TLS: setsockopt(TCP_ULP, \"tls\") fails with ENOENT (no tls module)"
                           : std::string("no kernel TLS: setsockopt(TCP_ULP, \"tls\"): ") + std::strerror(err);
            k.detail += "; bodies are encrypted in user space";
            return k;
        }
        // A throwaway key: what matters is that the kernel has the AEAD.
        const CryptoInfo info = zero_info(aead);
        const bool ok = ::setsockopt(server.get(), SOL_TLS, TLS_TX, &info.u, info.size) == 0;
        std::string& list = ok ? took : refused;
        list += list.empty() ? "" : ", ";
        list += info.cipher_name();
        if (!ok) list += std::string(" (") + std::strerror(errno) + ")";
        (aead == Aead::AesGcm128 ? k.aes_gcm_128 : aead == Aead::AesGcm256 ? k.aes_gcm_256 : k.chacha20_poly1305) = ok;
    }
    k.available = k.aes_gcm_128 || k.aes_gcm_256 || k.chacha20_poly1305;
    if (k.available)
        k.detail = "kernel TLS: TLS_TX with " + took + (refused.empty() ? "" : "; not " + refused) +
                   "; file bodies are spliced and the kernel encrypts them";
    else
        k.detail =
            "no kernel TLS: the tls module refused TLS_TX with " + refused + "; bodies are encrypted in user space";
    return k;
}

} // namespace splicehttpd::tls
