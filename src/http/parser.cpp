#include "http/parser.hpp"

#include "http/text.hpp"

#include <llhttp.h>

#include <array>
#include <cstring>
#include <string_view>

namespace splicehttpd::http {

namespace {

bool is_tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

constexpr std::size_t kMethodPrefix = 32;

// An unknown method gets 501 when the line looks like a request ("TOKEN /x"
// or "TOKEN *"); anything else is garbage: 400. Undecided (nullopt) until the
// byte after the method's space has arrived.
std::optional<int> method_verdict(std::string_view line)
{
    while (!line.empty() && (line.front() == '\r' || line.front() == '\n')) line.remove_prefix(1);
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (line[i] == ' ') {
            if (i == 0) return 400;
            if (i + 1 == line.size()) return std::nullopt;
            return line[i + 1] == '/' || line[i + 1] == '*' ? 501 : 400;
        }
        if (!is_tchar(line[i]) || i + 2 >= kMethodPrefix) return 400;
    }
    return std::nullopt;
}

} // namespace

Method method_from_llhttp(std::uint8_t m) noexcept
{
    switch (m) {
    case HTTP_GET: return Method::Get;
    case HTTP_HEAD: return Method::Head;
    case HTTP_OPTIONS: return Method::Options;
    case HTTP_POST: return Method::Post;
    case HTTP_PUT: return Method::Put;
    case HTTP_DELETE: return Method::Delete;
    case HTTP_CONNECT: return Method::Connect;
    case HTTP_TRACE: return Method::Trace;
    case HTTP_PATCH: return Method::Patch;
    default: return Method::Other;
    }
}

void Request::clear() noexcept
{
    method = Method::Get;
    method_name = {};
    target.clear();
    http_major = 1;
    http_minor = 1;
    keep_alive = true;
    host_count = 0;
    for (Field* f : {&range, &if_range, &if_match, &if_none_match, &if_modified_since, &if_unmodified_since,
                     &accept_encoding, &referer, &user_agent, &host})
        f->reset();
}

const llhttp_settings_t& RequestParser::settings()
{
    static const llhttp_settings_t s = [] {
        llhttp_settings_t st;
        llhttp_settings_init(&st);
        st.on_message_begin = &RequestParser::on_message_begin;
        st.on_url = &RequestParser::on_url;
        st.on_header_field = &RequestParser::on_header_field;
        st.on_header_field_complete = &RequestParser::on_header_field_complete;
        st.on_header_value = &RequestParser::on_header_value;
        st.on_header_value_complete = &RequestParser::on_header_value_complete;
        st.on_headers_complete = &RequestParser::on_headers_complete;
        st.on_message_complete = &RequestParser::on_message_complete;
        return st;
    }();
    return s;
}

RequestParser::~RequestParser() = default;

RequestParser::RequestParser(const ParseLimits& limits) : parser_(std::make_unique<llhttp_t>()), limits_(limits)
{
    llhttp_init(parser_.get(), HTTP_REQUEST, &settings());
    parser_->data = this;
}

static RequestParser& self(llhttp_t* p)
{
    return *static_cast<RequestParser*>(p->data);
}

int RequestParser::fail(int status, const char* reason)
{
    user_error_ = status;
    llhttp_set_error_reason(parser_.get(), reason);
    return HPE_USER;
}

int RequestParser::on_message_begin(llhttp_t* p)
{
    RequestParser& s = self(p);
    s.request_.clear();
    s.field_.clear();
    s.value_.clear();
    s.header_bytes_ = 0;
    s.header_count_ = 0;
    s.in_message_ = true;
    s.complete_ = false;
    return 0;
}

int RequestParser::on_url(llhttp_t* p, const char* at, std::size_t len)
{
    RequestParser& s = self(p);
    if (s.request_.target.size() + len > s.limits_.max_uri) return s.fail(414, "URI too long");
    s.request_.target.append(at, len);
    return 0;
}

int RequestParser::on_header_field(llhttp_t* p, const char* at, std::size_t len)
{
    RequestParser& s = self(p);
    if (s.field_.empty() && ++s.header_count_ > s.limits_.max_headers) return s.fail(431, "too many header fields");
    s.header_bytes_ += len;
    if (s.header_bytes_ > s.limits_.max_header_bytes) return s.fail(431, "header section too large");
    s.field_.append(at, len);
    return 0;
}

int RequestParser::on_header_field_complete(llhttp_t* p)
{
    RequestParser& s = self(p);
    // llhttp is built in strict mode (subprojects/llhttp), which refuses any
    // byte outside tchar in a field name, whitespace before the colon
    // included (RFC 9112 §5.1). It still ends an empty name at a leading
    // ':' in either mode; a field name is a token, one tchar at least.
    if (s.field_.empty()) return s.fail(400, "empty field name");
    return 0;
}

int RequestParser::on_header_value(llhttp_t* p, const char* at, std::size_t len)
{
    RequestParser& s = self(p);
    s.header_bytes_ += len;
    if (s.header_bytes_ > s.limits_.max_header_bytes) return s.fail(431, "header section too large");
    s.value_.append(at, len);
    return 0;
}

int RequestParser::on_header_value_complete(llhttp_t* p)
{
    RequestParser& s = self(p);
    s.header_bytes_ += 4; // ": " and CRLF
    if (s.header_bytes_ > s.limits_.max_header_bytes) return s.fail(431, "header section too large");
    s.store_header();
    s.field_.clear();
    s.value_.clear();
    return 0;
}

void RequestParser::store_header()
{
    std::string_view name = field_;
    std::string_view value = trim(value_);
    auto set = [&](Field& slot) { slot.add(value); };
    if (iequals(name, "host")) {
        ++request_.host_count;
        set(request_.host);
    } else if (iequals(name, "range")) {
        set(request_.range);
    } else if (iequals(name, "if-range")) {
        set(request_.if_range);
    } else if (iequals(name, "if-match")) {
        set(request_.if_match);
    } else if (iequals(name, "if-none-match")) {
        set(request_.if_none_match);
    } else if (iequals(name, "if-modified-since")) {
        set(request_.if_modified_since);
    } else if (iequals(name, "if-unmodified-since")) {
        set(request_.if_unmodified_since);
    } else if (iequals(name, "accept-encoding")) {
        set(request_.accept_encoding);
    } else if (iequals(name, "referer")) {
        set(request_.referer);
    } else if (iequals(name, "user-agent")) {
        set(request_.user_agent);
    }
}

int RequestParser::on_headers_complete(llhttp_t* p)
{
    RequestParser& s = self(p);
    // Refuse before reading any body of a protocol we do not speak.
    if (p->http_major != 1) return s.fail(505, "unsupported HTTP version");
    return 0;
}

int RequestParser::on_message_complete(llhttp_t* p)
{
    RequestParser& s = self(p);
    if (p->http_major != 1) return s.fail(505, "unsupported HTTP version"); // HTTP/0.9
    Request& r = s.request_;
    r.method = method_from_llhttp(p->method);
    r.method_name = llhttp_method_name(llhttp_method_t(p->method));
    r.http_major = p->http_major;
    r.http_minor = p->http_minor;
    r.keep_alive = llhttp_should_keep_alive(p) != 0;
    s.complete_ = true;
    return HPE_PAUSED;
}

int RequestParser::error_status_for(int llhttp_errno) const
{
    const auto err = llhttp_errno_t(llhttp_errno);
    // A callback's own verdict wins; llhttp reports it as HPE_USER or, from
    // the *_complete callbacks, as HPE_CB_*.
    if (user_error_ != 0) return user_error_;
    switch (err) {
    case HPE_INVALID_VERSION:
        // Only "HTTP/3.0" and the like are a version we do not speak; no
        // dot, a second digit or no CRLF after the version is a bad line.
        return std::string_view(llhttp_get_error_reason(parser_.get())) == "Invalid HTTP version" ? 505 : 400;
    case HPE_PAUSED_H2_UPGRADE: return 505;
    default: return 400;
    }
}

// llhttp still accepts obs-fold (a header line starting with whitespace
// continues the previous value). RFC 9112 §5.2 lets a server reject it, and a
// smuggling defence should: front ends disagree on how to unfold. Spans do not
// show it reliably (llhttp skips the leading whitespace), so this looks at the
// raw bytes of the head: a line break followed by SP or HTAB.
bool RequestParser::scan_head(const char* data, std::size_t len) noexcept
{
    for (std::size_t i = 0; i < len && scan_ != HeadScan::Done; ++i) {
        const char c = data[i];
        switch (scan_) {
        case HeadScan::Start: // empty lines before a request are allowed
            if (c != '\r' && c != '\n') scan_ = HeadScan::Line;
            break;
        case HeadScan::Line:
            if (c == '\n') scan_ = HeadScan::LineFeed;
            break;
        case HeadScan::LineFeed:
            if (c == ' ' || c == '\t') return false;
            scan_ = c == '\r' ? HeadScan::LineFeedCr : c == '\n' ? HeadScan::Done : HeadScan::Line;
            break;
        case HeadScan::LineFeedCr: scan_ = c == '\n' ? HeadScan::Done : HeadScan::Line; break;
        case HeadScan::Done: break;
        }
    }
    return true;
}

ParseResult RequestParser::method_error(std::size_t used, int status) noexcept
{
    error_reason_ = status == 501 ? "unknown method" : "invalid method";
    return {ParseStatus::Error, used, status};
}

ParseResult RequestParser::feed(const char* data, std::size_t len)
{
    // Stay failed: llhttp would repeat its error with a position in an old
    // buffer, and the obs-fold scan would let the bytes after the fold through.
    if (failed_ != 0) return {ParseStatus::Error, len, failed_};
    ParseResult r = parse_more(data, len);
    if (r.status == ParseStatus::Error) {
        failed_ = r.error_status;
        if (!error_reason_) error_reason_ = llhttp_get_error_reason(parser_.get());
        if (!error_reason_) error_reason_ = "malformed request";
    }
    return r;
}

ParseResult RequestParser::parse_more(const char* data, std::size_t len)
{
    if (method_pending_) {
        // The method was unknown before its end was seen: wait for the space
        // that tells a well-formed token (501) from garbage (400).
        method_prefix_.append(data, std::min(len, kMethodPrefix));
        if (auto v = method_verdict(method_prefix_)) return method_error(len, *v);
        return {ParseStatus::NeedMore, len, 0};
    }
    if (method_prefix_.size() < kMethodPrefix && !complete_) {
        // Empty lines before the request line take no room: with them counted,
        // a buffer holding the whole line could leave the verdict undecided.
        std::string_view d(data, len);
        if (method_prefix_.empty()) d.remove_prefix(std::min(d.find_first_not_of("\r\n"), d.size()));
        method_prefix_.append(d.substr(0, kMethodPrefix - method_prefix_.size()));
    }

    if (!scan_head(data, len)) {
        error_reason_ = "obsolete line folding";
        return {ParseStatus::Error, len, 400};
    }

    const char* pos = data;
    std::size_t left = len;
    while (true) {
        llhttp_errno_t err = llhttp_execute(parser_.get(), pos, left);
        if (err == HPE_OK) return {ParseStatus::NeedMore, len, 0};
        const char* stop = llhttp_get_error_pos(parser_.get());
        std::size_t used = stop ? std::size_t(stop - data) : len;
        if (err == HPE_PAUSED && complete_) return {ParseStatus::Complete, used, 0};
        if (err == HPE_PAUSED_UPGRADE) {
            // Reached when the message after an Upgrade/CONNECT request is fed;
            // we never switch protocols, so carry on parsing HTTP/1.1.
            llhttp_resume_after_upgrade(parser_.get());
            pos = stop;
            left = len - used;
            continue;
        }
        if (err == HPE_INVALID_METHOD) {
            if (auto v = method_verdict(method_prefix_)) return method_error(used, *v);
            method_pending_ = true;
            return {ParseStatus::NeedMore, len, 0};
        }
        return {ParseStatus::Error, used, error_status_for(err)};
    }
}

void RequestParser::reset()
{
    llhttp_init(parser_.get(), HTTP_REQUEST, &settings());
    parser_->data = this;
    request_.clear();
    field_.clear();
    value_.clear();
    header_bytes_ = 0;
    header_count_ = 0;
    user_error_ = 0;
    in_message_ = false;
    complete_ = false;
    method_pending_ = false;
    method_prefix_.clear();
    scan_ = HeadScan::Start;
    failed_ = 0;
    error_reason_ = nullptr;
}

void RequestParser::next()
{
    complete_ = false;
    in_message_ = false;
    method_prefix_.clear();
    scan_ = HeadScan::Start;
    llhttp_resume(parser_.get());
}

} // namespace splicehttpd::http
