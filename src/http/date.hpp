// HTTP dates (RFC 9110 §5.6.7): IMF-fixdate out; IMF-fixdate, RFC 850 and
// asctime in.
#pragma once

#include "http/text.hpp"

#include <array>
#include <cstddef>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace splicehttpd::http {

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::string format_http_date(std::time_t t);
ShortText http_date_text(std::time_t t); // the same, without allocating

// Any of the three formats; nullopt for anything else (callers then ignore
// the header, as RFC 9110 requires for invalid dates).
std::optional<std::time_t> parse_http_date(std::string_view s);

// Formats Date once per second for a worker. The text lives in the cache's
// own fixed buffer, rewritten in place when the second changes and never
// moved or freed: a view from now() stays valid as long as the cache, and
// shows whichever second was formatted last.
class DateCache {
public:
    static constexpr std::size_t kSize = 29; // "Sun, 06 Nov 1994 08:49:37 GMT"

    std::string_view now(); // the clock's second
    std::string_view now(std::time_t t);

private:
    std::array<char, kSize> text_{};
    std::size_t len_ = 0;
    std::time_t last_ = 0;
    bool valid_ = false;
};

} // namespace splicehttpd::http
