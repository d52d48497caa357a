#include "http/response.hpp"

#include "http/text.hpp"

#include <fmt/format.h>

#include <cerrno>

namespace splicehttpd::http {

std::string_view reason_phrase(int status) noexcept
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 412: return "Precondition Failed";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 421: return "Misdirected Request";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

int status_for_errno(int err) noexcept
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG: return 404;
    case EACCES:
    case EPERM:
    case EXDEV: // RESOLVE_BENEATH: the path (or a symlink on it) leaves the root
    case ELOOP: // too many symlinks, or RESOLVE_NO_MAGICLINKS
    case ENXIO: // a socket or a FIFO without a writer
    case ENODEV: return 403;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EAGAIN: return 503;
    default: return 500;
    }
}

std::uint64_t ResponsePlan::total() const noexcept
{
    std::uint64_t n = 0;
    for (const Segment& s : segments) n += s.length;
    return n;
}

bool ResponsePlan::uses_file() const noexcept
{
    for (const Segment& s : segments)
        if (s.kind == Segment::Kind::File && s.length > 0) return true;
    return false;
}

std::string_view ResponsePlan::head() const noexcept
{
    std::string_view m = memory;
    std::size_t end = m.find("\r\n\r\n");
    return end == std::string_view::npos ? m : m.substr(0, end + 4);
}

void ResponsePlan::append_memory(std::string_view bytes)
{
    if (!segments.empty() && segments.back().kind == Segment::Kind::Memory &&
        segments.back().offset + segments.back().length == memory.size())
        segments.back().length += bytes.size();
    else
        segments.push_back({Segment::Kind::Memory, memory.size(), bytes.size()});
    memory.append(bytes);
}

void ResponsePlan::append_file(std::uint64_t offset, std::uint64_t length)
{
    segments.push_back({Segment::Kind::File, offset, length});
}

void ResponsePlan::clear() noexcept
{
    status = 0;
    memory.clear();
    segments.clear();
    close = false;
}

HeadWriter::HeadWriter(ResponsePlan& plan, int status, const ResponseContext& ctx)
    : plan_(plan), out_(plan.memory), ctx_(ctx)
{
    plan_.clear();
    plan_.status = status;
    plan_.close = !ctx.keep_alive;
    // Plain appends: this runs once per response, and a format string would
    // be parsed every time.
    out_.append("HTTP/1.1 ").append(fmt::format_int(status).c_str()).append(" ").append(reason_phrase(status));
    out_.append("\r\nServer: splicehttpd\r\nDate: ").append(ctx.date).append("\r\n");
}

HeadWriter& HeadWriter::add(std::string_view name, std::string_view value)
{
    out_.append(name).append(": ").append(value).append("\r\n");
    return *this;
}

HeadWriter& HeadWriter::add(std::string_view name, std::uint64_t value)
{
    const fmt::format_int digits(value);
    return add(name, std::string_view(digits.data(), digits.size()));
}

void HeadWriter::end()
{
    out_.append(ctx_.extra_headers);
    if (!ctx_.keep_alive)
        out_.append("Connection: close\r\n");
    else if (ctx_.http10)
        out_.append("Connection: keep-alive\r\n");
    out_.append("\r\n");
    plan_.segments.assign(1, Segment{Segment::Kind::Memory, 0, out_.size()});
}

void plan_status(ResponsePlan& plan, int status, const ResponseContext& ctx, const ErrorExtras& extras)
{
    const bool bodyless = status == 204 || status == 304;
    const std::string_view reason = reason_phrase(status);
    // The body's length is known without formatting it first.
    constexpr std::string_view kOpen = "<!DOCTYPE html>\n<html><head><title>";
    constexpr std::string_view kMiddle = "</title></head>\n<body><h1>";
    constexpr std::string_view kClose = "</h1></body></html>\n";
    constexpr std::string_view kDetailOpen = "</h1>\n<p>";
    constexpr std::string_view kDetailClose = "</p></body></html>\n";
    const std::size_t title = fmt::formatted_size("{} {}", status, reason); // "404 Not Found"
    const std::size_t close_size =
        extras.detail.empty() ? kClose.size() : kDetailOpen.size() + extras.detail.size() + kDetailClose.size();
    const std::size_t body_size = kOpen.size() + title + kMiddle.size() + title + close_size;

    HeadWriter head(plan, status, ctx);
    if (!extras.allow.empty()) head.add("Allow", extras.allow);
    if (!extras.location.empty()) head.add("Location", extras.location);
    if (extras.has_range_size) head.add("Content-Range", short_format("bytes */{}", extras.range_size).view());
    if (extras.retry_after > 0) head.add("Retry-After", std::uint64_t(extras.retry_after));
    if (!bodyless) {
        head.add("Content-Type", "text/html; charset=utf-8");
        head.add("Content-Length", std::uint64_t(body_size));
    }
    head.end();
    if (bodyless || ctx.head_request) return;
    const std::size_t start = plan.memory.size();
    fmt::format_to(std::back_inserter(plan.memory), "{}{} {}{}{} {}", kOpen, status, reason, kMiddle, status, reason);
    if (extras.detail.empty())
        plan.memory.append(kClose);
    else
        fmt::format_to(std::back_inserter(plan.memory), "{}{}{}", kDetailOpen, extras.detail, kDetailClose);
    // The head's segment grows to take the body (append_memory's rule).
    plan.segments.back().length += plan.memory.size() - start;
}

ResponsePlan plan_status(int status, const ResponseContext& ctx, const ErrorExtras& extras)
{
    ResponsePlan plan;
    plan_status(plan, status, ctx, extras);
    return plan;
}

} // namespace splicehttpd::http
