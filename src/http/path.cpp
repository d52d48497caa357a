#include "http/path.hpp"

#include <algorithm>

#include "http/text.hpp"

#include <cstdint>

namespace splicehttpd::http {

namespace {

int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Into `out` (its buffer reused); false for a bad or NUL escape.
bool percent_decode(std::string_view in, std::string& out)
{
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return false;
            int hi = hex_value(in[i + 1]);
            int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            c = char(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0') return false;
        out.push_back(c);
    }
    return true;
}

// Strict UTF-8: overlong "/" and "." are the classic traversal disguises.
bool valid_utf8(std::string_view s) noexcept
{
    for (std::size_t i = 0, n = 0; i < s.size(); i += n)
        if ((n = utf8_sequence(s, i)) == 0) return false;
    return true;
}

} // namespace

std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept
{
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) return 1;
    std::size_t len = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2, cp = b0 & 0x1Fu, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3, cp = b0 & 0x0Fu, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4, cp = b0 & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

bool fetchable_name(std::string_view name, NormalizedPath& path, std::string& raw, std::string& scratch)
{
    // One segment, not none or several.
    if (name.empty() || name.find('/') != std::string_view::npos) return false;
    // The path a link to it would carry, '%' escaped so that nothing else
    // is decoded; normalize_path must give back the name itself.
    raw.clear();
    raw.push_back('/');
    for (char c : name) {
        if (c == '%')
            raw.append("%25");
        else
            raw.push_back(c);
    }
    return normalize_path(raw, path, scratch) && path.rel == name;
}

std::string_view request_authority(std::string_view target, std::string_view host) noexcept
{
    if (!istarts_with(target, "http://") && !istarts_with(target, "https://")) return host;
    target.remove_prefix(target.find("://") + 3);
    return target.substr(0, target.find_first_of("/?#"));
}

bool valid_host_chars(std::string_view host) noexcept
{
    return std::all_of(host.begin(), host.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("-._~!$&'()*+,;=%:[]").find(c) != std::string_view::npos;
    });
}

std::optional<Target> split_target(std::string_view raw)
{
    Target t;
    if (raw == "*") {
        t.form = TargetForm::Asterisk;
        return t;
    }
    if (istarts_with(raw, "http://") || istarts_with(raw, "https://")) {
        t.form = TargetForm::Absolute;
        raw.remove_prefix(raw.find("://") + 3);
        std::size_t end = raw.find_first_of("/?#");
        if (end == 0) return {}; // empty authority
        if (end == std::string_view::npos) {
            t.path = "/";
            return t;
        }
        raw.remove_prefix(end);
        if (raw.front() != '/') {
            // "http://host?q": the path is empty, which means "/"
            t.path = "/";
            if (raw.front() == '?') {
                std::string_view q = raw.substr(1);
                t.query = q.substr(0, q.find('#'));
                t.has_query = true;
            }
            return t;
        }
    } else if (raw.empty() || raw.front() != '/') {
        return {};
    }
    std::size_t end = raw.find_first_of("?#");
    t.path = raw.substr(0, end);
    if (end != std::string_view::npos && raw[end] == '?') {
        std::string_view q = raw.substr(end + 1);
        t.query = q.substr(0, q.find('#'));
        t.has_query = true;
    }
    return t;
}

std::optional<NormalizedPath> normalize_path(std::string_view raw_path)
{
    NormalizedPath out;
    std::string scratch;
    if (!normalize_path(raw_path, out, scratch)) return {};
    return out;
}

bool normalize_path(std::string_view raw_path, NormalizedPath& out, std::string& scratch)
{
    if (!percent_decode(raw_path, scratch) || !valid_utf8(scratch)) return false;
    std::string_view p = scratch;
    if (p.empty() || p.front() != '/') return false;

    // Segments are appended to out.rel as they come; ".." cuts the last one.
    out.rel.clear();
    out.dotfile = false;
    bool directory = false;
    std::size_t pos = 1;
    while (pos <= p.size()) {
        std::size_t slash = p.find('/', pos);
        if (slash == std::string_view::npos) slash = p.size();
        std::string_view seg = p.substr(pos, slash - pos);
        bool last = slash == p.size();
        if (seg == "..") {
            if (out.rel.empty()) return false; // would leave the root
            const std::size_t cut = out.rel.rfind('/');
            out.rel.resize(cut == std::string::npos ? 0 : cut);
            directory = last;
        } else if (seg == "." || seg.empty()) {
            // "//" collapses like nginx's merge_slashes; "." names the current dir
            directory = last;
        } else {
            if (!out.rel.empty()) out.rel.push_back('/');
            out.rel.append(seg);
            directory = false;
        }
        pos = slash + 1;
    }

    out.directory = directory || out.rel.empty();
    // A dot segment among those left (one removed by ".." does not count);
    // but /.well-known/ (RFC 8615: certbot's webroot answers its ACME
    // challenges from there) is no hidden file, what lies in it may be.
    std::string_view rest = out.rel;
    constexpr std::string_view kWellKnown = ".well-known";
    if (rest == kWellKnown || rest.starts_with(".well-known/")) rest.remove_prefix(kWellKnown.size());
    out.dotfile = rest.starts_with('.') || rest.find("/.") != std::string_view::npos;
    return true;
}

} // namespace splicehttpd::http
