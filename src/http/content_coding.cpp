#include "http/content_coding.hpp"

#include "http/text.hpp"

#include <charconv>
#include <optional>
#include <string>

namespace splicehttpd::http {

namespace {

// q-values are "0", "0.5", "1.000": only whether it is zero matters here.
bool q_is_zero(std::string_view params)
{
    while (!params.empty()) {
        std::size_t semi = params.find(';');
        std::string_view p = trim(params.substr(0, semi));
        if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            std::string_view v = trim(p.substr(2));
            bool zero = !v.empty();
            for (char ch : v)
                if (ch != '0' && ch != '.') zero = false;
            return zero;
        }
        if (semi == std::string_view::npos) break;
        params.remove_prefix(semi + 1);
    }
    return false;
}

} // namespace

AcceptedCodings parse_accept_encoding(std::string_view field)
{
    std::optional<bool> br, gzip, star;
    while (!field.empty()) {
        std::size_t comma = field.find(',');
        std::string_view item = trim(field.substr(0, comma));
        std::size_t semi = item.find(';');
        std::string coding = ascii_lower(trim(item.substr(0, semi)));
        bool ok = !q_is_zero(semi == std::string_view::npos ? std::string_view{} : item.substr(semi + 1));
        if (coding == "br")
            br = ok;
        else if (coding == "gzip" || coding == "x-gzip")
            gzip = ok;
        else if (coding == "*")
            star = ok;
        if (comma == std::string_view::npos) break;
        field.remove_prefix(comma + 1);
    }
    AcceptedCodings a;
    a.br = br.value_or(star.value_or(false));
    a.gzip = gzip.value_or(star.value_or(false));
    return a;
}

} // namespace splicehttpd::http
