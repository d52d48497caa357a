#include "tls/fast_gcm.hpp"

#include <openssl/crypto.h>

#include <cstdlib>
#include <string>

#ifdef SPLICEHTTPD_HAVE_IPSEC_MB
#include <cpuid.h>
#include <intel-ipsec-mb.h>
#endif

namespace splicehttpd::tls {

#ifdef SPLICEHTTPD_HAVE_IPSEC_MB

// The manager only dispatches: its function pointers are copied out once
// and it is freed. (Each call also zeroes the library's global error
// number, the same value from every thread; the library is assembly, out
// of reach of the sanitizers.)
struct FastGcm::Fns {
    aes_gcm_pre_t pre = nullptr;
    aes_gcm_init_t init = nullptr;
    aes_gcm_enc_dec_update_t update = nullptr;
    aes_gcm_enc_dec_finalize_t finalize = nullptr;
};

namespace {

struct Engine {
    FastGcm::Fns aes128, aes256;
    bool usable = false;
};

// Whether the kernel saves the AVX-512 registers (XCR0: SSE, AVX, opmask,
// ZMM). The library asks CPUID only, and its AVX-512 manager runs a self-test
// in AVX-512: where a kernel leaves that state off while CPUID still shows it
// (clearcpuid=avx512f, some hypervisors), the start-up would die of SIGILL.
bool os_saves_avx512()
{
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return false;
    unsigned lo = 0, hi = 0;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    constexpr unsigned kAvx512State = 0xe6;
    return (lo & kAvx512State) == kAvx512State;
}

Engine probe(std::uint64_t flags)
{
    Engine e;
    if (!os_saves_avx512()) return e;
    IMB_MGR* mgr = alloc_mb_mgr(flags);
    if (!mgr) return e;
    IMB_ARCH arch{};
    init_mb_mgr_auto(mgr, &arch);
    // Its AVX-512 manager takes the VAES code only where the CPU has all of
    // these (VAES, VPCLMULQDQ, GFNI, AVX512-IFMA, SHA-NI); short of one, its
    // older AES-NI code under the same arch.
    constexpr std::uint64_t kNeeds = IMB_CPUFLAGS_AVX512_T2;
    if (arch == IMB_ARCH_AVX512 && (mgr->features & kNeeds) == kNeeds && imb_get_errno(mgr) == 0) {
        e.aes128 = {mgr->gcm128_pre, mgr->gcm128_init, mgr->gcm128_enc_update, mgr->gcm128_enc_finalize};
        e.aes256 = {mgr->gcm256_pre, mgr->gcm256_init, mgr->gcm256_enc_update, mgr->gcm256_enc_finalize};
        e.usable = e.aes128.pre && e.aes128.init && e.aes128.update && e.aes128.finalize && e.aes256.pre &&
                   e.aes256.init && e.aes256.update && e.aes256.finalize;
    }
    free_mb_mgr(mgr);
    return e;
}

const Engine& engine()
{
    static const Engine e = probe(0);
    return e;
}

} // namespace

bool FastGcm::vaes_gcm_with(std::uint64_t imb_flags) noexcept
{
    return probe(imb_flags).usable;
}

const FastGcm* FastGcm::get() noexcept
{
    static const FastGcm* const g = []() -> const FastGcm* {
        const Engine& e = engine();
        if (!e.usable) return nullptr;
        static FastGcm f;
        // The version of the library loaded, not of the header built with.
        static const std::string name = std::string("intel-ipsec-mb ") + imb_get_version_str() + " (VAES, AVX-512)";
        f.name_ = name.c_str();
        f.aes128_ = &e.aes128;
        f.aes256_ = &e.aes256;
        return &f;
    }();
    return g;
}

void FastGcm::Key::Free::operator()(void* p) const noexcept
{
    OPENSSL_cleanse(p, sizeof(gcm_key_data));
    std::free(p);
}

FastGcm::Key::~Key() = default;

bool FastGcm::Key::init(const FastGcm& engine, std::span<const std::uint8_t> key) noexcept
{
    const Fns* fns = key.size() == IMB_GCM_128_KEY_LEN   ? engine.aes128_
                     : key.size() == IMB_GCM_256_KEY_LEN ? engine.aes256_
                                                         : nullptr;
    if (!fns || data_) return false;
    // Cache-line aligned (the library needs no alignment; its 1008 bytes
    // then take 16 lines, not 17).
    void* p = std::aligned_alloc(64, (sizeof(gcm_key_data) + 63) / 64 * 64);
    if (!p) return false;
    data_.reset(p);
    fns->pre(key.data(), static_cast<gcm_key_data*>(p));
    fns_ = fns;
    return true;
}

void FastGcm::Key::seal(const std::uint8_t (&nonce)[12], const std::uint8_t* aad, std::size_t aad_len,
                        const std::uint8_t* plain, std::size_t len, int trailer, std::uint8_t* out,
                        std::uint8_t* tag) const noexcept
{
    const auto* k = static_cast<const gcm_key_data*>(data_.get());
    gcm_context_data ctx;
    fns_->init(k, &ctx, nonce, aad, aad_len);
    // The library takes no empty update (it reports it as an error).
    if (len > 0) fns_->update(k, &ctx, out, plain, len);
    if (trailer >= 0) {
        const std::uint8_t t = static_cast<std::uint8_t>(trailer);
        fns_->update(k, &ctx, out + len, &t, 1);
    }
    fns_->finalize(k, &ctx, tag, 16);
    OPENSSL_cleanse(&ctx, sizeof ctx); // its counter block and the last key stream
}

#else // no intel-ipsec-mb in this build

struct FastGcm::Fns {};

const FastGcm* FastGcm::get() noexcept
{
    return nullptr;
}
bool FastGcm::vaes_gcm_with(std::uint64_t) noexcept
{
    return false;
}
void FastGcm::Key::Free::operator()(void* p) const noexcept
{
    std::free(p);
}
FastGcm::Key::~Key() = default;
bool FastGcm::Key::init(const FastGcm&, std::span<const std::uint8_t>) noexcept
{
    return false;
}
void FastGcm::Key::seal(const std::uint8_t (&)[12], const std::uint8_t*, std::size_t, const std::uint8_t*, std::size_t,
                        int, std::uint8_t*, std::uint8_t*) const noexcept
{
}

#endif

} // namespace splicehttpd::tls
