// libFuzzer target: http::RequestParser fed a byte stream in arbitrary pieces,
// pipelined requests included, the way Connection feeds it.
//
// Input: byte 0 = flags (bits 0-1: limits profile; bit 2: repeat the piece
// sizes to the end; bits 3-7: n), then n piece sizes (one byte each, 0 = 1),
// then the stream. Without repetition the stream after the last piece is fed
// at once. Seeds in corpus/fuzz_parser start with "\0": defaults, one piece.
//
// Invariants: consumed <= len; NeedMore consumes everything; an Error has one
// of the documented statuses and the parser stays failed; a complete request
// is HTTP/1.x within the limits, with no CR, LF or NUL in what the server
// uses; the outcome does not depend on how the stream was cut, and reset()
// forgets everything.
#include "fuzz_check.hpp"

#include "http/parser.hpp"
#include "http/path.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace splicehttpd::http;

namespace {

constexpr ParseLimits kProfiles[] = {
    {},                                                         // the server's defaults
    {.max_uri = 16, .max_header_bytes = 256, .max_headers = 1}, // the smallest the CLI allows
    {.max_uri = 64, .max_header_bytes = 512, .max_headers = 4},
    {.max_uri = 200, .max_header_bytes = 300, .max_headers = 8},
};

struct Event {
    bool error = false;
    int status = 0; // for errors
    Request request;
};

bool same_request(const Request& a, const Request& b)
{
    return a.method == b.method && a.target == b.target && a.http_major == b.http_major &&
           a.http_minor == b.http_minor && a.keep_alive == b.keep_alive && a.host_count == b.host_count &&
           a.range == b.range && a.if_range == b.if_range && a.if_match == b.if_match &&
           a.if_none_match == b.if_none_match && a.if_modified_since == b.if_modified_since &&
           a.if_unmodified_since == b.if_unmodified_since && a.accept_encoding == b.accept_encoding;
}

// Where a request has two faults, which one is reported first may depend on
// the cut, and both close the connection; these differences are tolerated:
// - 400 / 414 / 431: llhttp hands a span (target, field) to the callback that
//   checks the limits only when the span ends or the buffer does, so a bad
//   byte further on in the same buffer is seen first;
// - 400 for obs-fold: the fold check looks at all the bytes it is given before
//   llhttp parses any, and so can come before llhttp's own verdict (501, 505).
bool same_status(int a, int b, bool has_fold)
{
    auto syntax_or_limit = [](int s) { return s == 400 || s == 414 || s == 431; };
    return a == b || (syntax_or_limit(a) && syntax_or_limit(b)) || (has_fold && (a == 400 || b == 400));
}

bool same_events(const std::vector<Event>& a, const std::vector<Event>& b, bool has_fold)
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].error != b[i].error) return false;
        if (a[i].error ? !same_status(a[i].status, b[i].status, has_fold) : !same_request(a[i].request, b[i].request))
            return false;
    }
    return true;
}

bool clean(std::string_view s)
{
    return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool clean(const std::string& s)
{
    return clean(std::string_view(s));
}

bool clean(const Field& f)
{
    return !f || clean(std::string_view(*f));
}

void check_request(const Request& r, const ParseLimits& limits)
{
    FUZZ_CHECK(r.http_major == 1);
    FUZZ_CHECK(r.http_minor <= 9);
    FUZZ_CHECK(r.target.size() <= limits.max_uri);
    FUZZ_CHECK(!r.target.empty());
    FUZZ_CHECK(r.host_count <= limits.max_headers);
    FUZZ_CHECK(clean(r.target) && clean(r.range) && clean(r.if_range) && clean(r.if_match) && clean(r.if_none_match) &&
               clean(r.if_modified_since) && clean(r.if_unmodified_since) && clean(r.accept_encoding));
    (void)classify_method(r.method);
    // What the connection does next with the target must not crash either.
    if (auto t = split_target(r.target); t && t->form != TargetForm::Asterisk) (void)normalize_path(t->path);
}

// Feeds the pieces as Connection does: what a Complete did not consume is fed
// again (after next()) before the following piece. Stops at the first Error.
std::vector<Event> run(RequestParser& p, const ParseLimits& limits, const std::vector<std::string_view>& pieces)
{
    std::vector<Event> events;
    std::size_t total = 0;
    std::string buf;
    for (std::string_view piece : pieces) {
        total += piece.size();
        buf.append(piece);
        while (!buf.empty()) {
            const ParseResult r = p.feed(buf.data(), buf.size());
            FUZZ_CHECK(r.consumed <= buf.size());
            if (r.status == ParseStatus::NeedMore) {
                FUZZ_CHECK(r.consumed == buf.size());
                FUZZ_CHECK(r.error_status == 0);
                buf.clear();
                break;
            }
            if (r.status == ParseStatus::Error) {
                FUZZ_CHECK(r.error_status == 400 || r.error_status == 414 || r.error_status == 431 ||
                           r.error_status == 501 || r.error_status == 505);
                events.push_back({.error = true, .status = r.error_status, .request = {}});
                // Failed for good: neither the rest nor new bytes revive it.
                std::string more = buf.substr(r.consumed) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
                for (int k = 0; k < 2; ++k) {
                    const ParseResult again = p.feed(more.data(), more.size());
                    FUZZ_CHECK(again.status == ParseStatus::Error);
                    FUZZ_CHECK(again.consumed <= more.size());
                }
                return events;
            }
            FUZZ_CHECK(r.error_status == 0);
            FUZZ_CHECK(!p.mid_request());
            check_request(p.request(), limits);
            events.push_back({.error = false, .status = 0, .request = p.request()});
            // The shortest request line and head ("GET / HTTP/1.1\n\n") has 16 bytes.
            FUZZ_CHECK(events.size() * 16 <= total);
            p.next();
            buf.erase(0, r.consumed);
        }
    }
    return events;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) return 0;
    const unsigned flags = data[0];
    const ParseLimits& limits = kProfiles[flags & 3];
    const bool repeat = (flags & 4) != 0;
    const std::size_t n = std::min<std::size_t>(flags >> 3, size - 1);
    const std::uint8_t* sizes = data + 1;
    std::string_view stream(reinterpret_cast<const char*>(data + 1 + n), size - 1 - n);

    std::vector<std::string_view> pieces;
    std::size_t pos = 0;
    for (std::size_t i = 0; pos < stream.size() && n > 0 && (repeat || i < n); ++i) {
        const std::size_t len = std::min<std::size_t>(sizes[i % n] == 0 ? 1 : sizes[i % n], stream.size() - pos);
        pieces.push_back(stream.substr(pos, len));
        pos += len;
    }
    if (pos < stream.size()) pieces.push_back(stream.substr(pos));

    RequestParser p(limits);
    const std::vector<Event> whole = run(p, limits, {stream});
    p.reset();
    const std::vector<Event> cut = run(p, limits, pieces);
    const bool has_fold = stream.find("\n ") != std::string_view::npos || stream.find("\n\t") != std::string_view::npos;
    FUZZ_CHECK(same_events(whole, cut, has_fold));
    // reset() forgets everything: the same stream again gives the same outcome.
    p.reset();
    FUZZ_CHECK(same_events(run(p, limits, {stream}), whole, false));
    return 0;
}
