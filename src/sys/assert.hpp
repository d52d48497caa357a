// Invariants that run: SPLICEHTTPD_ASSERT(cond) checks cond in debug and
// sanitizer builds (meson defines SPLICEHTTPD_ASSERTIONS for every build type
// but release) and compiles to nothing in release builds, where the condition
// is not evaluated. A failed check prints one line naming the condition and
// where it is, then aborts: a broken invariant of the ring code (a CQE for a
// step that does not exist, an exchange given back with work in flight) is a
// bug to stop at, not to serve around.
#pragma once

#ifdef SPLICEHTTPD_ASSERTIONS
#include <cstdio>
#include <cstdlib>

namespace splicehttpd::sys {
[[noreturn]] inline void assertion_failed(const char* what, const char* file, int line) noexcept
{
    std::fprintf(stderr, "splicehttpd: assertion failed: %s (%s:%d)\n", what, file, line);
    std::fflush(stderr);
    std::abort();
}
} // namespace splicehttpd::sys

#define SPLICEHTTPD_ASSERT(cond)                                                                                       \
    ((cond) ? static_cast<void>(0) : ::splicehttpd::sys::assertion_failed(#cond, __FILE__, __LINE__))
#else
#define SPLICEHTTPD_ASSERT(cond) static_cast<void>(sizeof(static_cast<bool>(cond)))
#endif
