// libFuzzer target: conditional requests (http/conditional.hpp) and HTTP
// dates (http/date.hpp).
//
// Input: byte 0 = flags (bits 0-4: which of If-Match, If-None-Match,
// If-Modified-Since, If-Unmodified-Since, If-Range are present; bit 5: GET or
// HEAD; bit 6: the representation's ETag is the first text field instead of
// one made by make_etag), bytes 1-8 = Last-Modified (little-endian, folded
// into the years 0000-9999), then text fields separated by '\n' in the order
// etag, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since,
// If-Range.
//
// Invariants: every date that parses formats back to the same instant, and an
// IMF-fixdate formats back to itself (leap second 60 aside); every instant of
// years 0000-9999 round-trips through format and parse; the evaluation never
// answers 304 to a method other than GET/HEAD, answers Proceed without
// conditions, and follows RFC 9110 §13.2.2 for the validators' own values;
// strong comparison matching implies weak comparison matching.
#include "fuzz_check.hpp"

#include "http/conditional.hpp"
#include "http/date.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace splicehttpd::http;

namespace {

constexpr std::int64_t kYear0 = -62167219200;     // 0000-01-01T00:00:00Z
constexpr std::int64_t kYear10000 = 253402300800; // 10000-01-01T00:00:00Z

bool imf_fixdate_shape(std::string_view s)
{
    return s.size() == 29 && s[3] == ',' && s.substr(25) == " GMT";
}

void check_date(std::string_view s)
{
    const auto t = parse_http_date(s);
    if (!t) return;
    FUZZ_CHECK(*t >= kYear0 && *t < kYear10000);
    const std::string f = format_http_date(*t);
    FUZZ_CHECK(parse_http_date(f) == t);
    if (imf_fixdate_shape(s) && s.substr(23, 2) != "60") FUZZ_CHECK(f == s);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 9) return 0;
    const unsigned flags = data[0];
    std::uint64_t raw_time = 0;
    for (int i = 8; i >= 1; --i) raw_time = raw_time << 8 | data[i];
    const std::time_t mtime = std::time_t(kYear0 + std::int64_t(raw_time % std::uint64_t(kYear10000 - kYear0)));

    std::vector<std::string_view> fields;
    std::string_view text(reinterpret_cast<const char*>(data + 9), size - 9);
    while (fields.size() < 6) {
        const auto nl = text.find('\n');
        fields.push_back(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    fields.resize(6);

    // Dates: what parses round-trips; every instant formats and parses back.
    for (std::string_view f : fields) check_date(f);
    const std::string formatted = format_http_date(mtime);
    FUZZ_CHECK(imf_fixdate_shape(formatted));
    FUZZ_CHECK(parse_http_date(formatted) == mtime);

    const std::string made = make_etag(raw_time ^ size, mtime, flags);
    const std::string etag = (flags & 0x40) ? std::string(fields[0]) : made;
    const Validators v{etag, mtime};
    const bool get_or_head = (flags & 0x20) != 0;

    Conditions c;
    if (flags & 1) c.if_match = fields[1];
    if (flags & 2) c.if_none_match = fields[2];
    if (flags & 4) c.if_modified_since = fields[3];
    if (flags & 8) c.if_unmodified_since = fields[4];

    const Precondition p = evaluate_preconditions(c, v, get_or_head);
    FUZZ_CHECK(p == Precondition::Proceed || p == Precondition::NotModified || p == Precondition::Failed);
    if (!get_or_head) FUZZ_CHECK(p != Precondition::NotModified);
    if (!(flags & 15)) FUZZ_CHECK(p == Precondition::Proceed);
    if ((flags & 16) && if_range_allows(fields[5], v)) {
        // Only the exact strong ETag or the exact date lets a range through.
        std::string_view ir = fields[5];
        while (!ir.empty() && (ir.front() == ' ' || ir.front() == '\t')) ir.remove_prefix(1);
        while (!ir.empty() && (ir.back() == ' ' || ir.back() == '\t')) ir.remove_suffix(1);
        FUZZ_CHECK((ir == etag && ir.starts_with('"')) || parse_http_date(ir) == mtime);
    }

    for (std::string_view f : fields)
        if (etag_matches(f, etag, false)) FUZZ_CHECK(etag_matches(f, etag, true));

    // The validators' own values, with the fuzzed fields around them.
    FUZZ_CHECK(etag_matches(made, made, false));
    FUZZ_CHECK(etag_matches("*", etag, false));
    FUZZ_CHECK(!etag_matches("W/" + made, made, false) && etag_matches("W/" + made, made, true));
    const std::string list = "\"x\", " + made + " ,W/\"y\"";
    FUZZ_CHECK(etag_matches(list, made, false));
    const Validators mv{made, mtime};
    FUZZ_CHECK(if_range_allows(made, mv));
    FUZZ_CHECK(!if_range_allows("W/" + made, mv));
    FUZZ_CHECK(if_range_allows(formatted, mv));
    FUZZ_CHECK(!if_range_allows(format_http_date(mtime - 1), mv));
    // §13.2.2: If-None-Match decides before If-Modified-Since, which only GET
    // and HEAD look at; a matching If-Match lets the rest decide.
    {
        Conditions k;
        k.if_none_match = made;
        k.if_modified_since = fields[3];
        FUZZ_CHECK(evaluate_preconditions(k, mv, true) == Precondition::NotModified);
        FUZZ_CHECK(evaluate_preconditions(k, mv, false) == Precondition::Failed);
    }
    {
        Conditions k;
        k.if_modified_since = formatted;
        FUZZ_CHECK(evaluate_preconditions(k, mv, true) == Precondition::NotModified);
        FUZZ_CHECK(evaluate_preconditions(k, mv, false) == Precondition::Proceed);
        const std::string earlier = format_http_date(mtime - 1);
        k.if_modified_since = earlier;
        FUZZ_CHECK(evaluate_preconditions(k, mv, true) == Precondition::Proceed);
    }
    {
        const std::string match = "\"nope\", " + made;
        Conditions k;
        k.if_match = match;
        k.if_unmodified_since = fields[4]; // ignored when If-Match is present
        FUZZ_CHECK(evaluate_preconditions(k, mv, get_or_head) == Precondition::Proceed);
        const std::string earlier = format_http_date(mtime - 1);
        Conditions u;
        u.if_unmodified_since = earlier;
        if (mtime > kYear0) FUZZ_CHECK(evaluate_preconditions(u, mv, get_or_head) == Precondition::Failed);
    }
    return 0;
}
