#include "tls/record_sealer.hpp"

#include <openssl/crypto.h>

#include <cstring>

namespace splicehttpd::tls {

namespace {

// Fetched once per process: an implicit fetch by name per connection costs
// OpenSSL 3.0 a provider look-up under a lock each time.
const EVP_CIPHER* cipher_for(unsigned short type)
{
    static EVP_CIPHER* const aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
    static EVP_CIPHER* const aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    static EVP_CIPHER* const chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
    switch (type) {
    case TLS_CIPHER_AES_GCM_128: return aes128;
    case TLS_CIPHER_AES_GCM_256: return aes256;
    case TLS_CIPHER_CHACHA20_POLY1305: return chacha;
    }
    return nullptr;
}

// A record sequence number as TLS writes it: 8 bytes, big-endian.
void store_seq(unsigned char* out, std::uint64_t seq)
{
    for (int i = 7; i >= 0; --i, seq >>= 8) out[i] = static_cast<unsigned char>(seq & 0xff);
}

constexpr std::size_t kHeader = 5;
constexpr std::size_t kTag = 16;
constexpr std::size_t kExplicitNonce = 8;

} // namespace

RecordSealer::~RecordSealer()
{
    EVP_CIPHER_CTX_free(ctx_); // cleanses the key schedule
    OPENSSL_cleanse(iv_, sizeof iv_);
    OPENSSL_cleanse(&info_.u, sizeof info_.u);
}

CryptoInfo RecordSealer::state() const noexcept
{
    CryptoInfo c = info_;
    // The fields sit at the same offsets in the three structs but for the
    // key's length: set through the one the cipher names.
    const auto fill = [&](auto& s) {
        store_seq(s.rec_seq, seq_);
        if (explicit_nonce_) std::memcpy(s.iv, iv_ + 4, sizeof s.iv);
    };
    switch (c.u.info.cipher_type) {
    case TLS_CIPHER_AES_GCM_128: fill(c.u.aes_gcm_128); break;
    case TLS_CIPHER_AES_GCM_256: fill(c.u.aes_gcm_256); break;
    case TLS_CIPHER_CHACHA20_POLY1305: fill(c.u.chacha20_poly1305); break;
    }
    return c;
}

const char* RecordSealer::aead_name() const noexcept
{
    const FastGcm* fast = FastGcm::get();
    return fast_.ready() && fast ? fast->name() : "OpenSSL";
}

bool RecordSealer::init(const CryptoInfo& info, Aead aead)
{
    const EVP_CIPHER* cipher = cipher_for(info.u.info.cipher_type);
    const std::span<const std::uint8_t> key = info.key(), salt = info.salt(), iv = info.iv();
    if (!cipher || ready() || salt.size() + iv.size() != sizeof iv_ ||
        key.size() != std::size_t(EVP_CIPHER_get_key_length(cipher)))
        return false;
    const FastGcm* fast = aead == Aead::best ? FastGcm::get() : nullptr;
    const bool gcm = info.u.info.cipher_type != TLS_CIPHER_CHACHA20_POLY1305;
    // (The library's key fails only for want of memory: OpenSSL's then.)
    if (!(fast && gcm && fast_.init(*fast, key))) {
        EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
        if (!ctx || EVP_EncryptInit_ex(ctx, cipher, nullptr, key.data(), nullptr) != 1) {
            EVP_CIPHER_CTX_free(ctx);
            return false;
        }
        ctx_ = ctx;
    }
    info_ = info;
    tls13_ = info.u.info.version == TLS_1_3_VERSION;
    explicit_nonce_ = !tls13_ && gcm; // TLS 1.2's GCM records carry 8 bytes of their nonce
    if (!salt.empty()) std::memcpy(iv_, salt.data(), salt.size());
    std::memcpy(iv_ + salt.size(), iv.data(), iv.size());
    seq_ = info.rec_seq();
    overhead_ = kHeader + kTag + (tls13_ ? 1 : 0) + (explicit_nonce_ ? kExplicitNonce : 0);
    return true;
}

bool RecordSealer::seal(std::uint8_t type, std::span<const char> plain, std::span<char> out) noexcept
{
    if (failed_ || !ready() || plain.size() > kMaxPlaintext || out.size() != sealed_size(plain.size()) ||
        sealed_ >= kMaxRecords) {
        failed_ = true;
        return false;
    }
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    const std::size_t payload = out.size() - kHeader;
    o[0] = tls13_ ? kApplicationData : type; // 1.3 hides the type inside
    o[1] = 3;
    o[2] = 3;
    o[3] = static_cast<unsigned char>(payload >> 8);
    o[4] = static_cast<unsigned char>(payload & 0xff);

    unsigned char seq[8];
    store_seq(seq, seq_);
    unsigned char nonce[sizeof iv_];
    std::memcpy(nonce, iv_, sizeof nonce);
    unsigned char* body = o + kHeader;
    if (explicit_nonce_) {
        std::memcpy(body, iv_ + 4, kExplicitNonce); // salt + explicit: iv_ as it stands
        body += kExplicitNonce;
    } else {
        for (int i = 0; i < 8; ++i) nonce[4 + i] ^= seq[i];
    }
    unsigned char aad12[13];
    const unsigned char* aad = o;
    int aad_len = kHeader;
    if (!tls13_) {
        std::memcpy(aad12, seq, 8);
        aad12[8] = type;
        aad12[9] = 3;
        aad12[10] = 3;
        aad12[11] = static_cast<unsigned char>(plain.size() >> 8);
        aad12[12] = static_cast<unsigned char>(plain.size() & 0xff);
        aad = aad12;
        aad_len = sizeof aad12;
    }
    const int len = int(plain.size());
    const auto* in = reinterpret_cast<const unsigned char*>(plain.data());
    unsigned char* tag = o + out.size() - kTag;
    bool ok = true;
    if (fast_.ready()) {
        fast_.seal(nonce, aad, std::size_t(aad_len), in, plain.size(), tls13_ ? type : -1, body, tag);
    } else {
        int n = 0;
        ok = EVP_EncryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) == 1 &&
             EVP_EncryptUpdate(ctx_, nullptr, &n, aad, aad_len) == 1 &&
             (len == 0 || EVP_EncryptUpdate(ctx_, body, &n, in, len) == 1);
        if (ok && tls13_) ok = EVP_EncryptUpdate(ctx_, body + len, &n, &type, 1) == 1;
        ok = ok && EVP_EncryptFinal_ex(ctx_, tag, &n) == 1 &&
             EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, kTag, tag) == 1;
    }
    OPENSSL_cleanse(nonce, sizeof nonce);
    if (!ok) {
        failed_ = true;
        return false;
    }
    ++seq_;
    ++sealed_;
    if (explicit_nonce_)
        for (int i = sizeof iv_ - 1; i >= 4 && ++iv_[i] == 0; --i) {}
    return true;
}

} // namespace splicehttpd::tls
