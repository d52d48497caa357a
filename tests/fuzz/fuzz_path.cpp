// libFuzzer target: http::split_target and http::normalize_path on a raw
// request target (the whole input).
//
// Invariants: split_target's pieces lie inside the input, the path starts with
// '/' and holds no '?' or '#'; normalize_path never yields a path that starts
// or ends with '/', has an empty, "." or ".." segment or a NUL, and is not
// valid UTF-8; its flags agree with the segments; it is idempotent; and it
// agrees with an independent decoder and resolver written differently
// (Unicode's table of well-formed byte sequences instead of code-point
// arithmetic), both on what it accepts and on what it makes of it.
#include "fuzz_check.hpp"

#include "http/path.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace splicehttpd::http;

namespace {

bool inside(std::string_view part, std::string_view whole)
{
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

std::optional<std::string> reference_decode(std::string_view in)
{
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        if (in.size() - i < 3) return {};
        unsigned v = 0;
        for (char c : in.substr(i + 1, 2)) {
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= unsigned(c - '0');
            else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
                v |= unsigned((c | 0x20) - 'a' + 10);
            else
                return {};
        }
        out += char(v);
        i += 2;
    }
    return out;
}

// Unicode 15, table 3-7: well-formed UTF-8 byte sequences.
bool reference_utf8(std::string_view s)
{
    auto in = [](unsigned char b, unsigned lo, unsigned hi) { return b >= lo && b <= hi; };
    for (std::size_t i = 0; i < s.size();) {
        const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
        const std::size_t left = s.size() - i;
        if (b(0) <= 0x7F) {
            i += 1;
        } else if (in(b(0), 0xC2, 0xDF)) {
            if (left < 2 || !in(b(1), 0x80, 0xBF)) return false;
            i += 2;
        } else if (in(b(0), 0xE0, 0xEF)) {
            unsigned lo = b(0) == 0xE0 ? 0xA0 : 0x80, hi = b(0) == 0xED ? 0x9F : 0xBF;
            if (left < 3 || !in(b(1), lo, hi) || !in(b(2), 0x80, 0xBF)) return false;
            i += 3;
        } else if (in(b(0), 0xF0, 0xF4)) {
            unsigned lo = b(0) == 0xF0 ? 0x90 : 0x80, hi = b(0) == 0xF4 ? 0x8F : 0xBF;
            if (left < 4 || !in(b(1), lo, hi) || !in(b(2), 0x80, 0xBF) || !in(b(3), 0x80, 0xBF)) return false;
            i += 4;
        } else {
            return false;
        }
    }
    return true;
}

struct Resolved {
    std::vector<std::string> segments;
    bool directory = false;
};

// A stack of segments, as RFC 3986 §5.2.4 would leave them, with empty
// segments dropped; nullopt when ".." climbs above the root.
std::optional<Resolved> reference_resolve(std::string_view p)
{
    Resolved r;
    std::string seg;
    for (std::size_t i = 1; i <= p.size(); ++i) {
        if (i < p.size() && p[i] != '/') {
            seg += p[i];
            continue;
        }
        const bool last = i == p.size();
        if (seg == "..") {
            if (r.segments.empty()) return {};
            r.segments.pop_back();
            r.directory = last;
        } else if (seg == "." || seg.empty()) {
            r.directory = last;
        } else {
            r.segments.push_back(seg);
            r.directory = false;
        }
        seg.clear();
    }
    if (r.segments.empty()) r.directory = true;
    return r;
}

std::string percent_encode_percent(std::string_view s)
{
    std::string out;
    for (char c : s) out += c == '%' ? std::string("%25") : std::string(1, c);
    return out;
}

void check_normalized(std::string_view raw_path)
{
    const auto n = normalize_path(raw_path);

    std::optional<Resolved> ref;
    auto decoded = reference_decode(raw_path);
    if (decoded && decoded->find('\0') == std::string::npos && reference_utf8(*decoded) && !decoded->empty() &&
        decoded->front() == '/')
        ref = reference_resolve(*decoded);
    FUZZ_CHECK(n.has_value() == ref.has_value());
    if (!n) return;

    const std::string& rel = n->rel;
    FUZZ_CHECK(rel.find('\0') == std::string::npos);
    FUZZ_CHECK(rel.empty() || (rel.front() != '/' && rel.back() != '/'));
    FUZZ_CHECK(reference_utf8(rel));
    bool dotfile = false;
    std::string joined;
    std::size_t count = 0;
    for (std::size_t pos = 0; !rel.empty() && pos <= rel.size(); ++count) {
        std::size_t slash = rel.find('/', pos);
        if (slash == std::string::npos) slash = rel.size();
        std::string_view seg = std::string_view(rel).substr(pos, slash - pos);
        FUZZ_CHECK(!seg.empty() && seg != "." && seg != "..");
        // A first .well-known segment is no hidden file (RFC 8615); one beneath it may be.
        dotfile = dotfile || (seg.front() == '.' && !(count == 0 && seg == ".well-known"));
        FUZZ_CHECK(count < ref->segments.size() && seg == ref->segments[count]);
        pos = slash + 1;
    }
    FUZZ_CHECK(count == ref->segments.size());
    FUZZ_CHECK(n->dotfile == dotfile);
    FUZZ_CHECK(n->directory == ref->directory);
    FUZZ_CHECK(!rel.empty() || n->directory);

    // Idempotent: the result, as a path again, names itself.
    const std::string again_raw = "/" + percent_encode_percent(rel) + (n->directory && !rel.empty() ? "/" : "");
    const auto again = normalize_path(again_raw);
    FUZZ_CHECK(again && again->rel == rel && again->directory == n->directory && again->dotfile == n->dotfile);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view raw(reinterpret_cast<const char*>(data), size);

    const auto t = split_target(raw);
    if (t) {
        FUZZ_CHECK((t->form == TargetForm::Asterisk) == (raw == "*"));
        FUZZ_CHECK(inside(t->query, raw));
        FUZZ_CHECK(t->has_query || t->query.empty());
        FUZZ_CHECK(t->query.find('#') == std::string_view::npos);
        if (t->form != TargetForm::Asterisk) {
            FUZZ_CHECK(!t->path.empty() && t->path.front() == '/');
            FUZZ_CHECK(t->path.find_first_of("?#") == std::string_view::npos);
            // "http://host" has no path in the input: "/" is a literal then.
            FUZZ_CHECK(inside(t->path, raw) || t->path == "/");
            if (t->form == TargetForm::Origin) FUZZ_CHECK(t->path.data() == raw.data());
            check_normalized(t->path);
        }
    } else {
        FUZZ_CHECK(raw.empty() || raw.front() != '/');
    }
    // The resolver alone, on anything.
    check_normalized(raw);
    return 0;
}
