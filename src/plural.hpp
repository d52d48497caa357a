// "1 thread", "2 threads": a count and its noun for log lines.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace splicehttpd {

// For nouns whose plural adds an s (thread, connection, group, pipe, socket,
// worker).
inline std::string plural(unsigned long long n, std::string_view noun)
{
    return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

} // namespace splicehttpd
