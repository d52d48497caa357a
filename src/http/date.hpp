// HTTP dates (RFC 9110 §5.6.7): IMF-fixdate out; IMF-fixdate, RFC 850 and
// asctime in.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace splicehttpd::http {

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::string format_http_date(std::time_t t);

// Any of the three formats; nullopt for anything else (callers then ignore
// the header, as RFC 9110 requires for invalid dates).
std::optional<std::time_t> parse_http_date(std::string_view s);

// Formats Date once per second for a worker.
class DateCache {
public:
    const std::string& now();

private:
    std::time_t last_ = -1;
    std::string text_;
};

} // namespace splicehttpd::http
