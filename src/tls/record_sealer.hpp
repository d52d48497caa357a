// The sending half of a TLS record layer, in user space: what the kernel's
// kTLS does with the keys OpenSSL hands a kTLS socket, done here where the
// kernel has no kTLS (tls/session.hpp, "Sealing"). Each record is sealed
// from the caller's plaintext straight into the output buffer, one pass of
// the AEAD, where OpenSSL's SSL_write first copies the plaintext into its
// own record buffer and the BIO then copies the record out of it.
//
// The record formats (RFC 8446 5.2 and 5.3; RFC 5288 and RFC 7905 for 1.2):
//  TLS 1.3: header 23 3 3 len; payload = AEAD(plaintext + content type),
//           nonce = iv XOR the record sequence number (left-padded), the
//           additional data is the header.
//  TLS 1.2 AES-GCM: payload = explicit nonce (8) + AEAD(plaintext), nonce =
//           salt (4) + explicit nonce, which counts up from the one after
//           the last OpenSSL wrote (CryptoInfo's iv); additional data =
//           sequence number, type, 3 3, plaintext length.
//  TLS 1.2 ChaCha20-Poly1305: no explicit nonce; nonce = iv XOR sequence
//           number, additional data as for AES-GCM.
// The tag (16 bytes) ends every record.
#pragma once

#include "tls/fast_gcm.hpp"
#include "tls/ktls.hpp"

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace splicehttpd::tls {

class RecordSealer {
public:
    static constexpr std::uint8_t kAlert = 21;
    static constexpr std::uint8_t kApplicationData = 23;
    static constexpr std::size_t kMaxPlaintext = 16 * 1024;
    // AES-GCM's limit, with margin: RFC 8446 5.5 keeps a key to 2^24.5
    // full records. seal() refuses past it (the connection ends; a
    // KeyUpdate of our own is not written).
    static constexpr std::uint64_t kMaxRecords = std::uint64_t(1) << 24;

    RecordSealer() = default;
    ~RecordSealer();
    RecordSealer(const RecordSealer&) = delete;
    RecordSealer& operator=(const RecordSealer&) = delete;

    // Whose AEAD seals: the fastest at hand (tls/fast_gcm.hpp for AES-GCM
    // where the CPU suits it), or OpenSSL's always (tests compare the two).
    enum class Aead { best, openssl };

    // The keys and sequence numbers the kernel would get (tls/ktls.hpp).
    // False: OpenSSL has no such cipher, or no memory.
    bool init(const CryptoInfo& info, Aead aead = Aead::best);
    [[nodiscard]] bool ready() const noexcept { return ctx_ != nullptr || fast_.ready(); }
    // "intel-ipsec-mb ..." or "OpenSSL".
    [[nodiscard]] const char* aead_name() const noexcept;

    // The bytes a record of `plain` bytes takes on the wire.
    [[nodiscard]] std::size_t sealed_size(std::size_t plain) const noexcept { return overhead_ + plain; }
    // One record of `type` (at most kMaxPlaintext bytes of plaintext) into
    // `out` (exactly sealed_size(plain.size()) bytes). False: refused (too
    // many records, too much plaintext) or the AEAD failed; nothing may be
    // sent under these keys after that.
    bool seal(std::uint8_t type, std::span<const char> plain, std::span<char> out) noexcept;

    [[nodiscard]] std::uint64_t records() const noexcept { return sealed_; }
    // Where the next record stands, as the kernel takes it (TLS_TX): the
    // keys, the next sequence number and, for TLS 1.2 AES-GCM, the next
    // explicit nonce. Whoever seals with it next must be the only one.
    [[nodiscard]] CryptoInfo state() const noexcept;

private:
    EVP_CIPHER_CTX* ctx_ = nullptr; // OpenSSL's AEAD, or
    FastGcm::Key fast_;             // intel-ipsec-mb's AES-GCM
    CryptoInfo info_;               // as given (the key, for state())
    bool tls13_ = false;
    bool explicit_nonce_ = false; // TLS 1.2 AES-GCM
    std::uint8_t iv_[12]{};       // the nonce base: salt + iv, or iv
    std::uint64_t seq_ = 0;       // the next record's sequence number
    std::uint64_t sealed_ = 0;    // records sealed under these keys
    std::size_t overhead_ = 0;    // header, explicit nonce, content type, tag
    bool failed_ = false;
};

} // namespace splicehttpd::tls
