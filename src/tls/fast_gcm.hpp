// AES-GCM for the record sealer from Intel's intel-ipsec-mb (Debian's
// libipsec-mb-dev, amd64), on CPUs where its AVX-512 manager runs its VAES
// code (VAES, VPCLMULQDQ, GFNI, AVX512-IFMA, SHA-NI, and AVX-512 state that
// the kernel saves: Ice Lake, Sapphire Rapids and later). There it seals a 16 KiB
// record about three times as fast as OpenSSL 3.0, whose AES-GCM has no
// VAES code (OpenSSL 3.1 added it); on a 1 MiB body in user space the
// AEAD was half of the server's CPU (docs/design.md, "TLS"). Everywhere
// else, and in a build without the library, the sealer keeps OpenSSL's.
//
// Only the sealing of records uses it: handshakes, tickets and what the
// kernel gets for kTLS stay OpenSSL's, and the records are the same bytes
// either way (test_tls_sealer seals each suite with both and compares).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace splicehttpd::tls {

class FastGcm {
public:
    // The process's engine, decided once (XGETBV, then the library's CPUID
    // check): nullptr where the library would not run its VAES code, or
    // the build has no intel-ipsec-mb.
    static const FastGcm* get() noexcept;
    // "intel-ipsec-mb 1.3.0 (VAES, AVX-512)", for the start-up line.
    [[nodiscard]] const char* name() const noexcept { return name_; }
    // What get() decides, with the library's manager made with `imb_flags`
    // (its IMB_FLAG_*: IMB_FLAG_SHANI_OFF, IMB_FLAG_GFNI_OFF make it treat
    // the CPU as one without SHA-NI or GFNI): true only where it would seal
    // with its VAES code. For tests; false in a build without the library.
    static bool vaes_gcm_with(std::uint64_t imb_flags) noexcept;

    struct Fns; // the library's functions for one key size

    // One AES-128 or AES-256 key's schedule and GHASH powers (1 KiB,
    // cache-line aligned), wiped when dropped.
    class Key {
    public:
        Key() = default;
        ~Key();
        Key(const Key&) = delete;
        Key& operator=(const Key&) = delete;
        // With the engine's functions for the key's size (get() gave the
        // engine). False: not 16 or 32 bytes, or no memory.
        bool init(const FastGcm& engine, std::span<const std::uint8_t> key) noexcept;
        [[nodiscard]] bool ready() const noexcept { return data_ != nullptr; }

        // out = AES-GCM(nonce, aad, plain || trailer), its 16-byte tag to `tag`.
        // `trailer` is TLS 1.3's content type byte (-1: none).
        void seal(const std::uint8_t (&nonce)[12], const std::uint8_t* aad, std::size_t aad_len,
                  const std::uint8_t* plain, std::size_t len, int trailer, std::uint8_t* out,
                  std::uint8_t* tag) const noexcept;

    private:
        struct Free {
            void operator()(void* p) const noexcept;
        };
        std::unique_ptr<void, Free> data_;          // struct gcm_key_data
        [[maybe_unused]] const Fns* fns_ = nullptr; // (unused in a build without the library)
    };

private:
    FastGcm() = default;
    const char* name_ = "";
    [[maybe_unused]] const Fns* aes128_ = nullptr; // (the same)
    [[maybe_unused]] const Fns* aes256_ = nullptr;
};

} // namespace splicehttpd::tls
