// llhttp wrapper: one Request at a time, pausing after each message so that
// pipelined requests are answered in order (resume with next()).
#pragma once

#include "http/limits.hpp"
#include "http/method.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

// llhttp stays inside parser.cpp: its state is only pointed to here.
struct llhttp__internal_s;
struct llhttp_settings_s;

namespace splicehttpd::http {

// A header's value, or its absence. Unlike std::optional<std::string> it
// keeps its buffer when cleared, so a parser reused request after request
// allocates nothing for fields it has seen before.
class Field {
public:
    explicit operator bool() const noexcept { return present_; }
    [[nodiscard]] bool has_value() const noexcept { return present_; }
    const std::string& operator*() const noexcept { return text_; }
    const std::string* operator->() const noexcept { return &text_; }
    Field& operator=(std::string_view value)
    {
        text_.assign(value);
        present_ = true;
        return *this;
    }
    // Repeated list-valued fields combine as if comma-joined (RFC 9110 §5.3).
    void add(std::string_view value)
    {
        if (present_) text_.append(", ");
        text_.append(value);
        present_ = true;
    }
    void reset() noexcept
    {
        text_.clear();
        present_ = false;
    }
    operator std::optional<std::string_view>() const noexcept // NOLINT: for Conditions
    {
        if (!present_) return std::nullopt;
        return std::string_view(text_);
    }
    friend bool operator==(const Field& f, std::string_view v) noexcept { return f.present_ && f.text_ == v; }
    friend bool operator==(const Field& a, const Field& b) noexcept
    {
        return a.present_ == b.present_ && a.text_ == b.text_;
    }

private:
    std::string text_;
    bool present_ = false;
};

struct Request {
    Method method = Method::Get;
    std::string_view method_name; // as sent ("GET", "PROPFIND"); static text
    std::string target;
    std::uint8_t http_major = 1;
    std::uint8_t http_minor = 1;
    bool keep_alive = true;
    unsigned host_count = 0; // exactly one is required of HTTP/1.1 (see route)
    Field host;              // for the error log
    Field range;
    Field if_range;
    Field if_match;
    Field if_none_match;
    Field if_modified_since;
    Field if_unmodified_since;
    Field accept_encoding;
    Field referer;    // for the access log
    Field user_agent; // for the access log

    void clear() noexcept; // keeps the buffers
};

inline Method method_of(const Request& r) noexcept
{
    return r.method;
}

enum class ParseStatus { NeedMore, Complete, Error };

struct ParseResult {
    ParseStatus status = ParseStatus::NeedMore;
    std::size_t consumed = 0; // bytes of the input that belong to this request
    int error_status = 0;     // for Error: 400, 414, 431, 501 or 505
};

class RequestParser {
public:
    explicit RequestParser(const ParseLimits& limits);
    ~RequestParser();
    RequestParser(const RequestParser&) = delete;
    RequestParser& operator=(const RequestParser&) = delete;

    // Feeds bytes until a request is complete (the parser then pauses and
    // `consumed` says where the next one starts), more bytes are needed, or
    // the input is bad. After an Error the parser stays failed.
    ParseResult feed(const char* data, std::size_t len);

    // After Complete: let the next pipelined request be parsed.
    void next();

    // A new connection: forget everything, errors included.
    void reset();

    [[nodiscard]] const Request& request() const noexcept { return request_; }
    // After an Error: what was wrong, for the error log ("URI too long",
    // llhttp's "Invalid header value char"); static text.
    [[nodiscard]] std::string_view error_reason() const noexcept { return error_reason_ ? error_reason_ : ""; }
    // Bytes of an unfinished request have been seen.
    [[nodiscard]] bool mid_request() const noexcept { return in_message_ && !complete_; }

private:
    static int on_message_begin(llhttp__internal_s* p);
    static int on_url(llhttp__internal_s* p, const char* at, std::size_t len);
    static int on_header_field(llhttp__internal_s* p, const char* at, std::size_t len);
    static int on_header_field_complete(llhttp__internal_s* p);
    static int on_header_value(llhttp__internal_s* p, const char* at, std::size_t len);
    static int on_header_value_complete(llhttp__internal_s* p);
    static int on_headers_complete(llhttp__internal_s* p);
    static int on_message_complete(llhttp__internal_s* p);
    static const llhttp_settings_s& settings();

    enum class HeadScan : std::uint8_t { Start, Line, LineFeed, LineFeedCr, Done };
    bool scan_head(const char* data, std::size_t len) noexcept;
    ParseResult parse_more(const char* data, std::size_t len);
    ParseResult method_error(std::size_t used, int status) noexcept;
    int fail(int status, const char* reason);
    int error_status_for(int llhttp_errno) const;
    void store_header();

    std::unique_ptr<llhttp__internal_s> parser_;
    ParseLimits limits_;
    Request request_;
    std::string field_;
    std::string value_;
    std::size_t header_bytes_ = 0;
    unsigned header_count_ = 0;
    int user_error_ = 0;
    bool in_message_ = false;
    bool complete_ = false;
    bool method_pending_ = false;
    std::string method_prefix_; // first bytes of a message, to tell 501 from 400
    HeadScan scan_ = HeadScan::Start;
    int failed_ = 0; // the status of the Error feed() returned; it repeats it from then on
    const char* error_reason_ = nullptr;
};

} // namespace splicehttpd::http
