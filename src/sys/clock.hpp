#pragma once

#include <cstdint>
#include <ctime>

namespace splicehttpd::sys {

// vDSO, not a syscall: cheap enough for per-completion timing.
inline std::uint64_t monotonic_ns() noexcept
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

} // namespace splicehttpd::sys
