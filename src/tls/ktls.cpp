#include "tls/ktls.hpp"

#include "sys/unique_fd.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

namespace splicehttpd::tls {

namespace {

enum class Aead { AesGcm128, AesGcm256, Chacha20Poly1305 };

struct Suite {
    std::uint16_t id;
    bool tls13;
    Aead aead;
    const char* digest; // the suite's hash: HKDF (1.3) or PRF (1.2)
};

constexpr Suite kSuites[] = {
    {0x1301, true, Aead::AesGcm128, "SHA256"},         // TLS_AES_128_GCM_SHA256
    {0x1302, true, Aead::AesGcm256, "SHA384"},         // TLS_AES_256_GCM_SHA384
    {0x1303, true, Aead::Chacha20Poly1305, "SHA256"},  // TLS_CHACHA20_POLY1305_SHA256
    {0xC02B, false, Aead::AesGcm128, "SHA256"},        // ECDHE-ECDSA-AES128-GCM-SHA256
    {0xC02F, false, Aead::AesGcm128, "SHA256"},        // ECDHE-RSA-AES128-GCM-SHA256
    {0xC02C, false, Aead::AesGcm256, "SHA384"},        // ECDHE-ECDSA-AES256-GCM-SHA384
    {0xC030, false, Aead::AesGcm256, "SHA384"},        // ECDHE-RSA-AES256-GCM-SHA384
    {0xCCA9, false, Aead::Chacha20Poly1305, "SHA256"}, // ECDHE-ECDSA-CHACHA20-POLY1305
    {0xCCA8, false, Aead::Chacha20Poly1305, "SHA256"}, // ECDHE-RSA-CHACHA20-POLY1305
};

const Suite* find_suite(std::uint16_t id)
{
    for (const Suite& s : kSuites)
        if (s.id == id) return &s;
    return nullptr;
}

std::size_t key_bytes(Aead a)
{
    return a == Aead::AesGcm128 ? 16 : 32;
}

void put_seq(unsigned char* out, std::uint64_t seq)
{
    for (int i = 7; i >= 0; --i) {
        out[i] = static_cast<unsigned char>(seq & 0xff);
        seq >>= 8;
    }
}

// Fills the struct for `aead`: key, then the 12-byte nonce base split the
// kernel's way (salt 4 + iv 8 for AES-GCM, iv 12 for ChaCha20).
CryptoInfo make_info(Aead aead, bool tls13, std::span<const std::uint8_t> key, std::span<const std::uint8_t> salt,
                     std::span<const std::uint8_t> iv, std::uint64_t seq)
{
    CryptoInfo c;
    // The three linux/tls.h structs differ only in their sizes and ChaCha20's
    // lack of a salt.
    const auto fill = [&](auto& s, unsigned short cipher) {
        s.info.version = tls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
        s.info.cipher_type = cipher;
        std::memcpy(s.key, key.data(), sizeof s.key);
        if constexpr (requires { s.salt; }) std::memcpy(s.salt, salt.data(), sizeof s.salt);
        std::memcpy(s.iv, iv.data(), sizeof s.iv);
        put_seq(s.rec_seq, seq);
        c.size = sizeof s;
    };
    switch (aead) {
    case Aead::AesGcm128: fill(c.u.aes_gcm_128, TLS_CIPHER_AES_GCM_128); break;
    case Aead::AesGcm256: fill(c.u.aes_gcm_256, TLS_CIPHER_AES_GCM_256); break;
    case Aead::Chacha20Poly1305: fill(c.u.chacha20_poly1305, TLS_CIPHER_CHACHA20_POLY1305); break;
    }
    return c;
}

// An EVP_KDF run; the parameters are built by the caller.
bool derive(const char* kdf_name, OSSL_PARAM* params, std::span<std::uint8_t> out)
{
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, kdf_name, nullptr);
    if (!kdf) return false;
    EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (!ctx) return false;
    const bool ok = EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok;
}

void* unconst(const void* p)
{
    return const_cast<void*>(p);
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

bool kernel_has_suite(std::uint16_t suite)
{
    return find_suite(suite) != nullptr;
}

bool hkdf_expand_label(const char* digest, std::span<const std::uint8_t> secret, std::string_view label,
                       std::span<const std::uint8_t> context, std::span<std::uint8_t> out)
{
    // struct HkdfLabel { uint16 length; opaque label<7..255> = "tls13 " + label; opaque context<0..255>; }
    constexpr std::string_view kPrefix = "tls13 ";
    if (out.size() > 0xffff || kPrefix.size() + label.size() > 255 || context.size() > 255) return false;
    std::vector<unsigned char> info;
    info.push_back(static_cast<unsigned char>(out.size() >> 8));
    info.push_back(static_cast<unsigned char>(out.size() & 0xff));
    info.push_back(static_cast<unsigned char>(kPrefix.size() + label.size()));
    info.insert(info.end(), kPrefix.begin(), kPrefix.end());
    info.insert(info.end(), label.begin(), label.end());
    info.push_back(static_cast<unsigned char>(context.size()));
    info.insert(info.end(), context.begin(), context.end());
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, unconst(secret.data()), secret.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
        OSSL_PARAM_construct_end(),
    };
    return derive("HKDF", params, out);
}

bool tls12_prf(const char* digest, std::span<const std::uint8_t> secret, std::string_view label,
               std::span<const std::uint8_t> seed, std::span<std::uint8_t> out)
{
    std::vector<unsigned char> label_seed(label.begin(), label.end());
    label_seed.insert(label_seed.end(), seed.begin(), seed.end());
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, unconst(secret.data()), secret.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, label_seed.data(), label_seed.size()),
        OSSL_PARAM_construct_end(),
    };
    return derive("TLS1-PRF", params, out);
}

std::optional<CryptoInfo> tls13_crypto_info(std::uint16_t suite, std::span<const std::uint8_t> traffic_secret,
                                            std::uint64_t rec_seq)
{
    const Suite* s = find_suite(suite);
    if (!s || !s->tls13) return std::nullopt;
    std::array<std::uint8_t, 32> key{};
    std::array<std::uint8_t, 12> iv{};
    const std::span<std::uint8_t> k(key.data(), key_bytes(s->aead));
    if (!hkdf_expand_label(s->digest, traffic_secret, "key", {}, k) ||
        !hkdf_expand_label(s->digest, traffic_secret, "iv", {}, iv))
        return std::nullopt;
    const auto ivs = std::span<const std::uint8_t>(iv);
    CryptoInfo c = s->aead == Aead::Chacha20Poly1305
                       ? make_info(s->aead, true, k, {}, ivs, rec_seq)
                       : make_info(s->aead, true, k, ivs.first(4), ivs.subspan(4), rec_seq);
    OPENSSL_cleanse(key.data(), key.size());
    OPENSSL_cleanse(iv.data(), iv.size());
    return c;
}

std::optional<CryptoInfo> tls12_crypto_info(std::uint16_t suite, std::span<const std::uint8_t> master_secret,
                                            std::span<const std::uint8_t> client_random,
                                            std::span<const std::uint8_t> server_random, Direction dir,
                                            std::uint64_t rec_seq, std::array<std::uint8_t, 8> explicit_iv)
{
    const Suite* s = find_suite(suite);
    if (!s || s->tls13 || client_random.size() != 32 || server_random.size() != 32) return std::nullopt;
    const std::size_t klen = key_bytes(s->aead);
    const std::size_t ivlen = s->aead == Aead::Chacha20Poly1305 ? 12 : 4; // the fixed (implicit) part
    std::array<std::uint8_t, 2 * (32 + 12)> block{};
    const std::span<std::uint8_t> kb(block.data(), 2 * (klen + ivlen));
    std::array<std::uint8_t, 64> seed{};
    std::memcpy(seed.data(), server_random.data(), 32);
    std::memcpy(seed.data() + 32, client_random.data(), 32);
    if (!tls12_prf(s->digest, master_secret, "key expansion", seed, kb)) return std::nullopt;
    // client_write_key, server_write_key, client_write_IV, server_write_IV
    const bool server = dir == Direction::Tx;
    const std::span<const std::uint8_t> key = std::span<const std::uint8_t>(kb).subspan(server ? klen : 0, klen);
    const std::span<const std::uint8_t> fixed =
        std::span<const std::uint8_t>(kb).subspan(2 * klen + (server ? ivlen : 0), ivlen);
    CryptoInfo c = s->aead == Aead::Chacha20Poly1305 ? make_info(s->aead, false, key, {}, fixed, rec_seq)
                                                     : make_info(s->aead, false, key, fixed, explicit_iv, rec_seq);
    OPENSSL_cleanse(block.data(), block.size());
    return c;
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
        const std::array<std::uint8_t, 32> zero{};
        const CryptoInfo info = make_info(aead, true, zero, zero, zero, 0);
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
