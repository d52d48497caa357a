#include "http/file_response.hpp"

#include "http/conditional.hpp"
#include "http/date.hpp"
#include "http/range.hpp"

#include <fmt/format.h>

namespace splicehttpd::http {

namespace {

void add_representation_headers(HeadWriter& head, const FileMeta& meta, const ResponseContext& ctx,
                                std::string_view etag, std::string_view last_modified)
{
    if (ctx.max_age >= 0) {
        head.add("Cache-Control", short_format("max-age={}", ctx.max_age).view());
        head.add("Expires", http_date_text(std::time_t(ctx.now + ctx.max_age)).view());
    }
    head.add("Last-Modified", last_modified);
    head.add("ETag", etag);
    if (!meta.content_encoding.empty()) head.add("Content-Encoding", meta.content_encoding);
    if (meta.vary) head.add("Vary", "Accept-Encoding");
}

void plan_multipart(ResponsePlan& plan, const ByteRanges& ranges, const FileMeta& meta, const ResponseContext& ctx,
                    std::string_view boundary, std::string_view etag, std::string_view last_modified)
{
    // Each part's framing is formatted twice, to know the Content-Length
    // before writing the head and then to write it; fmt's memory buffer
    // holds it inline (no allocation for any sane type and boundary).
    fmt::memory_buffer text;
    auto part_head = [&](std::size_t i) -> std::string_view {
        text.clear();
        fmt::format_to(std::back_inserter(text), "{}--{}\r\nContent-Type: {}\r\nContent-Range: bytes {}-{}/{}\r\n\r\n",
                       i == 0 ? "" : "\r\n", boundary, meta.content_type, ranges[i].first, ranges[i].last, meta.size);
        return {text.data(), text.size()};
    };
    std::uint64_t length = 0;
    for (std::size_t i = 0; i < ranges.size(); ++i) length += part_head(i).size() + ranges[i].length();
    const std::size_t tail = 2 + 2 + boundary.size() + 4; // "\r\n--" boundary "--\r\n"
    length += tail;

    HeadWriter head(plan, 206, ctx);
    text.clear();
    fmt::format_to(std::back_inserter(text), "multipart/byteranges; boundary={}", boundary);
    head.add("Content-Type", std::string_view(text.data(), text.size()));
    head.add("Content-Length", length);
    head.add("Accept-Ranges", "bytes");
    add_representation_headers(head, meta, ctx, etag, last_modified);
    head.end();
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        plan.append_memory(part_head(i));
        plan.append_file(ranges[i].first, ranges[i].length());
    }
    text.clear();
    fmt::format_to(std::back_inserter(text), "\r\n--{}--\r\n", boundary);
    plan.append_memory(std::string_view(text.data(), text.size()));
}

} // namespace

Conditions preconditions_of(const Request& req) noexcept
{
    Conditions conditions;
    conditions.if_match = req.if_match;
    conditions.if_none_match = req.if_none_match;
    conditions.if_modified_since = req.if_modified_since;
    conditions.if_unmodified_since = req.if_unmodified_since;
    return conditions;
}

void plan_file(ResponsePlan& plan, const Request& req, const FileMeta& meta, const ResponseContext& ctx,
               std::string_view boundary)
{
    ShortText etag_buf;
    ShortText last_modified_buf;
    std::string_view etag = meta.etag;
    std::string_view last_modified = meta.last_modified;
    if (etag.empty() || !meta.content_encoding.empty()) {
        etag_buf = etag_text(meta.size, meta.mtime_sec, meta.mtime_nsec, meta.content_encoding);
        etag = etag_buf.view();
    }
    if (last_modified.empty()) {
        last_modified_buf = http_date_text(meta.mtime_sec);
        last_modified = last_modified_buf.view();
    }
    const Validators validators{etag, meta.mtime_sec};

    switch (evaluate_preconditions(preconditions_of(req), validators, true)) {
    case Precondition::Failed: return plan_status(plan, 412, ctx);
    case Precondition::NotModified: {
        HeadWriter head(plan, 304, ctx);
        add_representation_headers(head, meta, ctx, etag, last_modified);
        head.end();
        return;
    }
    case Precondition::Proceed: break;
    }

    RangeResult range;
    if (req.range && !ctx.head_request && (!req.if_range || if_range_allows(*req.if_range, validators)))
        range = parse_range(*req.range, meta.size);

    if (range.outcome == RangeOutcome::Unsatisfiable) {
        ErrorExtras extras;
        extras.range_size = meta.size;
        extras.has_range_size = true;
        return plan_status(plan, 416, ctx, extras);
    }

    if (range.outcome == RangeOutcome::Ranges && range.ranges.size() > 1)
        return plan_multipart(plan, range.ranges, meta, ctx, boundary, etag, last_modified);

    const bool partial = range.outcome == RangeOutcome::Ranges;
    const ByteRange body = partial ? range.ranges.front() : ByteRange{0, meta.size == 0 ? 0 : meta.size - 1};
    const std::uint64_t length = partial ? body.length() : meta.size;
    HeadWriter head(plan, partial ? 206 : 200, ctx);
    head.add("Content-Type", meta.content_type);
    head.add("Content-Length", length);
    if (partial) head.add("Content-Range", short_format("bytes {}-{}/{}", body.first, body.last, meta.size).view());
    head.add("Accept-Ranges", "bytes");
    add_representation_headers(head, meta, ctx, etag, last_modified);
    head.end();
    if (!ctx.head_request && length > 0) plan.append_file(body.first, length);
}

ResponsePlan plan_file(const Request& req, const FileMeta& meta, const ResponseContext& ctx, std::string_view boundary)
{
    ResponsePlan plan;
    plan_file(plan, req, meta, ctx, boundary);
    return plan;
}

void plan_file_as(ResponsePlan& plan, int status, const FileMeta& meta, const ResponseContext& ctx)
{
    HeadWriter head(plan, status, ctx);
    head.add("Content-Type", meta.content_type);
    head.add("Content-Length", meta.size);
    if (!meta.content_encoding.empty()) head.add("Content-Encoding", meta.content_encoding);
    if (meta.vary) head.add("Vary", "Accept-Encoding");
    head.end();
    if (!ctx.head_request && meta.size > 0) plan.append_file(0, meta.size);
}

ResponsePlan plan_file_as(int status, const FileMeta& meta, const ResponseContext& ctx)
{
    ResponsePlan plan;
    plan_file_as(plan, status, meta, ctx);
    return plan;
}

} // namespace splicehttpd::http
