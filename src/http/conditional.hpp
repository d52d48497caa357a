// Validators and conditional requests (RFC 9110 §8.8, §13).
#pragma once

#include "http/text.hpp"

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace splicehttpd::http {

// Strong ETag from size and mtime with nanoseconds: any rewrite of the file,
// even within the same second, changes it, and the same files deployed with
// their mtimes (rsync -t, cp -p) give the same ETag on every host (no inode,
// no device). A precompressed sibling's names its coding ("-br", "-gzip"):
// two representations never share one, even with equal sizes and mtimes.
std::string make_etag(std::uint64_t size, std::int64_t mtime_sec, std::uint32_t mtime_nsec,
                      std::string_view coding = {});
// The same, without allocating.
ShortText etag_text(std::uint64_t size, std::int64_t mtime_sec, std::uint32_t mtime_nsec, std::string_view coding = {});

struct Validators {
    std::string_view etag; // quoted, strong
    std::time_t last_modified = 0;
};

struct Conditions {
    std::optional<std::string_view> if_match;
    std::optional<std::string_view> if_none_match;
    std::optional<std::string_view> if_modified_since;
    std::optional<std::string_view> if_unmodified_since;
};

enum class Precondition { Proceed, NotModified, Failed };

// The evaluation order of RFC 9110 §13.2.2 for a representation that exists.
Precondition evaluate_preconditions(const Conditions& c, const Validators& v, bool get_or_head);

// If-Range (§13.1.5): true when the Range may be honoured.
bool if_range_allows(std::string_view if_range, const Validators& v);

// Does an If-Match / If-None-Match field value ("*" or a list of entity tags)
// match? Weak comparison ignores W/ prefixes; strong requires both strong.
bool etag_matches(std::string_view field, std::string_view etag, bool weak);

} // namespace splicehttpd::http
