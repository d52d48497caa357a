#include "http/date.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <iterator>

namespace splicehttpd::http {

namespace {

constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// A tiny cursor over the input: every step either matches exactly or fails.
struct Scanner {
    std::string_view s;

    bool lit(std::string_view l)
    {
        if (!s.starts_with(l)) return false;
        s.remove_prefix(l.size());
        return true;
    }
    bool digits(std::size_t n, int& out)
    {
        if (s.size() < n) return false;
        int v = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
            v = v * 10 + (s[i] - '0');
        }
        out = v;
        s.remove_prefix(n);
        return true;
    }
    template <std::size_t N>
    bool one_of(const std::array<std::string_view, N>& names, int& index)
    {
        for (std::size_t i = 0; i < N; ++i)
            if (lit(names[i])) {
                index = int(i);
                return true;
            }
        return false;
    }
    bool time_of_day(std::tm& tm)
    {
        return digits(2, tm.tm_hour) && lit(":") && digits(2, tm.tm_min) && lit(":") && digits(2, tm.tm_sec);
    }
};

std::optional<std::time_t> to_time(std::tm& tm, int wday)
{
    if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) return {};
    std::tm check = tm;
    std::time_t t = timegm(&check);
    if (t == std::time_t(-1)) return {};
    // timegm normalises 31 Feb into March: reject dates that moved, and a
    // weekday that contradicts the date.
    if (check.tm_mday != tm.tm_mday || check.tm_mon != tm.tm_mon || check.tm_wday != wday) return {};
    return t;
}

// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" and RFC 850
// "Sunday, 06-Nov-94 08:49:37 GMT" are one grammar: day name, ", ", day,
// month and year with their separator, time, " GMT".
struct DayFirstGrammar {
    const std::array<std::string_view, 7>& days;
    std::string_view separator;
    std::size_t year_digits;
};

constexpr DayFirstGrammar kImfFixdate{kDays, " ", 4};
constexpr DayFirstGrammar kRfc850{kLongDays, "-", 2};

std::optional<std::time_t> parse_day_first(std::string_view s, const DayFirstGrammar& g)
{
    Scanner sc{s};
    std::tm tm{};
    int wday = 0, year = 0;
    if (!(sc.one_of(g.days, wday) && sc.lit(", ") && sc.digits(2, tm.tm_mday) && sc.lit(g.separator) &&
          sc.one_of(kMonths, tm.tm_mon) && sc.lit(g.separator) && sc.digits(g.year_digits, year) && sc.lit(" ") &&
          sc.time_of_day(tm) && sc.lit(" GMT") && sc.s.empty()))
        return {};
    // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in
    // the past century. Good enough: 70-99 -> 19xx, 00-69 -> 20xx.
    if (g.year_digits == 2) year += year < 70 ? 2000 : 1900;
    tm.tm_year = year - 1900;
    return to_time(tm, wday);
}

std::optional<std::time_t> parse_asctime(std::string_view s)
{
    // "Sun Nov  6 08:49:37 1994"
    Scanner sc{s};
    std::tm tm{};
    int wday = 0, year = 0;
    if (!(sc.one_of(kDays, wday) && sc.lit(" ") && sc.one_of(kMonths, tm.tm_mon) && sc.lit(" "))) return {};
    if (sc.lit(" ")) {
        if (!sc.digits(1, tm.tm_mday)) return {};
    } else if (!sc.digits(2, tm.tm_mday)) {
        return {};
    }
    if (!(sc.lit(" ") && sc.time_of_day(tm) && sc.lit(" ") && sc.digits(4, year) && sc.s.empty())) return {};
    tm.tm_year = year - 1900;
    return to_time(tm, wday);
}

} // namespace

namespace {

// IMF-fixdate into `out`, at most n characters (29 for years 1000-9999).
template <typename Out>
auto format_imf_fixdate(Out out, std::size_t n, std::time_t t)
{
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format_to_n(out, n, "{}, {:02d} {} {:04d} {:02d}:{:02d}:{:02d} GMT", kDays[std::size_t(tm.tm_wday)],
                            tm.tm_mday, kMonths[std::size_t(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                            tm.tm_sec);
}

} // namespace

std::string format_http_date(std::time_t t)
{
    return std::string(http_date_text(t).view());
}

ShortText http_date_text(std::time_t t)
{
    ShortText out;
    out.len = std::min(format_imf_fixdate(out.buf.data(), out.buf.size(), t).size, out.buf.size());
    return out;
}

std::optional<std::time_t> parse_http_date(std::string_view s)
{
    if (auto t = parse_day_first(s, kImfFixdate)) return t;
    if (auto t = parse_day_first(s, kRfc850)) return t;
    return parse_asctime(s);
}

std::string_view DateCache::now()
{
    return now(std::time(nullptr));
}

std::string_view DateCache::now(std::time_t t)
{
    if (!valid_ || t != last_) {
        // Cut at kSize if a year has more than four digits: never past the buffer.
        len_ = std::min(format_imf_fixdate(text_.data(), text_.size(), t).size, text_.size());
        last_ = t;
        valid_ = true;
    }
    return {text_.data(), len_};
}

} // namespace splicehttpd::http
