#include "http/conditional.hpp"

#include "http/date.hpp"
#include "http/text.hpp"

#include <fmt/format.h>

namespace splicehttpd::http {

namespace {

struct EntityTag {
    bool weak = false;
    std::string_view opaque; // with its quotes
};

// Reads one entity-tag from the front of s; nullopt on malformed input.
std::optional<EntityTag> next_tag(std::string_view& s)
{
    EntityTag tag;
    if (s.starts_with("W/")) {
        tag.weak = true;
        s.remove_prefix(2);
    }
    if (s.empty() || s.front() != '"') return {};
    std::size_t close = s.find('"', 1);
    if (close == std::string_view::npos) return {};
    tag.opaque = s.substr(0, close + 1);
    s.remove_prefix(close + 1);
    return tag;
}

} // namespace

std::string make_etag(std::uint64_t size, std::int64_t mtime_sec, std::uint32_t mtime_nsec, std::string_view coding)
{
    return std::string(etag_text(size, mtime_sec, mtime_nsec, coding).view());
}

ShortText etag_text(std::uint64_t size, std::int64_t mtime_sec, std::uint32_t mtime_nsec, std::string_view coding)
{
    // "\"size-mtime.nsec\"" in lower-case hex, by hand: it is made for every
    // file response. At most 1 + 16 + 1 + 17 + 1 + 8 + 1 = 45 characters, and
    // a coding's name (cut to what is left) before the closing quote.
    ShortText out;
    auto put = [&out](char c) { out.buf[out.len++] = c; };
    auto hex = [&put](std::uint64_t v) {
        char digits[16];
        int n = 0;
        do {
            digits[n++] = "0123456789abcdef"[v & 15];
            v >>= 4;
        } while (v != 0);
        while (n > 0) put(digits[--n]);
    };
    put('"');
    hex(size);
    put('-');
    if (mtime_sec < 0) put('-');
    hex(mtime_sec < 0 ? std::uint64_t(0) - std::uint64_t(mtime_sec) : std::uint64_t(mtime_sec));
    put('.');
    hex(mtime_nsec);
    if (!coding.empty()) {
        put('-');
        for (char c : coding.substr(0, out.buf.size() - out.len - 1)) put(c);
    }
    put('"');
    return out;
}

bool etag_matches(std::string_view field, std::string_view etag, bool weak)
{
    field = trim(field);
    if (field == "*") return true;
    while (!field.empty()) {
        auto tag = next_tag(field);
        if (!tag) return false;
        if ((weak || !tag->weak) && tag->opaque == etag) return true;
        field = trim(field);
        if (field.empty()) break;
        if (field.front() != ',') return false;
        field.remove_prefix(1);
        field = trim(field);
    }
    return false;
}

Precondition evaluate_preconditions(const Conditions& c, const Validators& v, bool get_or_head)
{
    // 1. If-Match, else 2. If-Unmodified-Since
    if (c.if_match) {
        if (!etag_matches(*c.if_match, v.etag, false)) return Precondition::Failed;
    } else if (c.if_unmodified_since) {
        auto date = parse_http_date(trim(*c.if_unmodified_since));
        if (date && v.last_modified > *date) return Precondition::Failed;
    }
    // 3. If-None-Match, else 4. If-Modified-Since (GET/HEAD only)
    if (c.if_none_match) {
        if (etag_matches(*c.if_none_match, v.etag, true))
            return get_or_head ? Precondition::NotModified : Precondition::Failed;
    } else if (c.if_modified_since && get_or_head) {
        auto date = parse_http_date(trim(*c.if_modified_since));
        if (date && v.last_modified <= *date) return Precondition::NotModified;
    }
    return Precondition::Proceed;
}

bool if_range_allows(std::string_view if_range, const Validators& v)
{
    if_range = trim(if_range);
    if (if_range.starts_with("\"") || if_range.starts_with("W/")) {
        std::string_view rest = if_range;
        auto tag = next_tag(rest);
        return tag && trim(rest).empty() && !tag->weak && tag->opaque == v.etag;
    }
    // A date validator must match Last-Modified exactly (§13.1.5).
    auto date = parse_http_date(if_range);
    return date && *date == v.last_modified;
}

} // namespace splicehttpd::http
