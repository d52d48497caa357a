#include "server/request_buffer.hpp"

#include "sys/assert.hpp"

namespace splicehttpd::server {

RequestBuffer::Parsed RequestBuffer::take(std::string_view bytes, bool parse)
{
    if (!parse) {
        // Drop what was parsed before growing, so a long pipelined burst
        // costs a copy per buffer, not a quadratic erase.
        if (kept_off_ > 0) {
            kept_.erase(0, kept_off_);
            kept_off_ = 0;
        }
        kept_.append(bytes);
        return {};
    }
    SPLICEHTTPD_ASSERT(buffered() == 0);
    kept_.clear();
    kept_off_ = 0;
    const http::ParseResult r = parser_.feed(bytes.data(), bytes.size());
    switch (r.status) {
    case http::ParseStatus::NeedMore: return {};
    case http::ParseStatus::Complete: kept_.append(bytes.substr(r.consumed)); return {Parsed::Kind::Request, 0};
    case http::ParseStatus::Error: return {Parsed::Kind::Error, r.error_status};
    }
    return {};
}

RequestBuffer::Parsed RequestBuffer::parse_kept()
{
    Parsed out;
    if (kept_off_ < kept_.size()) {
        // The plan is built from the request, never from a view into kept_.
        const http::ParseResult r = parser_.feed(kept_.data() + kept_off_, kept_.size() - kept_off_);
        switch (r.status) {
        case http::ParseStatus::NeedMore: kept_off_ = kept_.size(); break;
        case http::ParseStatus::Complete:
            kept_off_ += r.consumed;
            out = {Parsed::Kind::Request, 0};
            break;
        case http::ParseStatus::Error:
            kept_off_ = kept_.size();
            out = {Parsed::Kind::Error, r.error_status};
            break;
        }
    }
    if (kept_off_ == kept_.size()) drop();
    return out;
}

void RequestBuffer::drop() noexcept
{
    kept_.clear();
    kept_off_ = 0;
}

void RequestBuffer::reset(std::size_t keep_bytes) noexcept
{
    parser_.reset();
    drop();
    // What a pipelined burst grew is given back, so that the spares do not
    // sit on it.
    if (kept_.capacity() > keep_bytes) std::string().swap(kept_);
}

} // namespace splicehttpd::server
