// The response to GET/HEAD of a regular file: validators, conditional
// requests, ranges (single and multipart/byteranges), content coding.
#pragma once

#include "http/conditional.hpp"
#include "http/parser.hpp"
#include "http/response.hpp"

#include <cstdint>
#include <string_view>

namespace splicehttpd::http {

struct FileMeta {
    std::uint64_t size = 0;
    std::int64_t mtime_sec = 0;
    std::uint32_t mtime_nsec = 0;
    std::string_view content_type;
    std::string_view content_encoding; // "", "br" or "gzip": a precompressed sibling
    bool vary = false;                 // the type has precompressed variants
    // Made once per cached file (see server/file_cache): when set, used as
    // they are instead of being formatted for this response (the ETag only
    // for the file itself: a sibling's names its coding).
    std::string_view etag;
    std::string_view last_modified;
};

// The request's precondition fields (If-Match, If-None-Match,
// If-Modified-Since, If-Unmodified-Since), for evaluate_preconditions.
Conditions preconditions_of(const Request& req) noexcept;

// Into `plan` (its buffers reused, so a busy connection allocates nothing),
// or as a new plan.
void plan_file(ResponsePlan& plan, const Request& req, const FileMeta& meta, const ResponseContext& ctx,
               std::string_view boundary);
ResponsePlan plan_file(const Request& req, const FileMeta& meta, const ResponseContext& ctx, std::string_view boundary);

// A whole file sent with another status (a custom error page): no ranges,
// no conditionals, no validators.
void plan_file_as(ResponsePlan& plan, int status, const FileMeta& meta, const ResponseContext& ctx);
ResponsePlan plan_file_as(int status, const FileMeta& meta, const ResponseContext& ctx);

} // namespace splicehttpd::http
