// The bytes of requests not yet answered, and the parser they go through:
// parsed as they come while the connection waits for a request, kept in
// order while it answers one (pipelining). Pure; it lives in the exchange.
#pragma once

#include "http/parser.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace splicehttpd::server {

class RequestBuffer {
public:
    explicit RequestBuffer(const http::ParseLimits& limits) : parser_(limits) {}

    struct Parsed {
        enum class Kind : std::uint8_t {
            NeedMore, // everything given was taken
            Request,  // a request is complete: request()
            Error,    // the byte stream can no longer be trusted: answer status and close
        };
        Kind kind = Kind::NeedMore;
        int status = 0;
    };

    // Bytes from the socket. With parse (the connection waits for a request
    // and nothing kept comes before them) they are parsed now, up to the end
    // of one request, and the rest is kept; else they are all kept.
    Parsed take(std::string_view bytes, bool parse);
    // After a response: the next request from what was kept.
    Parsed parse_kept();

    [[nodiscard]] std::size_t buffered() const noexcept { return kept_.size() - kept_off_; }
    [[nodiscard]] bool mid_request() const noexcept { return parser_.mid_request(); }
    [[nodiscard]] const http::Request& request() const noexcept { return parser_.request(); }
    // After an Error: what was wrong (static text), for the error log.
    [[nodiscard]] std::string_view error_reason() const noexcept { return parser_.error_reason(); }
    // The request was answered: the parser moves on to the next one.
    void next() { parser_.next(); }
    // Lingering: what is kept is never answered.
    void drop() noexcept;
    // For the next connection: buffers kept up to keep_bytes.
    void reset(std::size_t keep_bytes) noexcept;

private:
    http::RequestParser parser_;
    std::string kept_;         // bytes received while busy, or after a pipelined request
    std::size_t kept_off_ = 0; // kept_[0, kept_off_) is parsed already
};

} // namespace splicehttpd::server
