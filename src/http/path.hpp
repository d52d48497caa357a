// Request targets and paths: what a request may name, decoded and resolved
// before anything touches the filesystem. This is where ".." and friends die;
// openat2(RESOLVE_BENEATH) is the second line that stops symlinks.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace splicehttpd::http {

enum class TargetForm { Origin, Absolute, Asterisk };

struct Target {
    TargetForm form = TargetForm::Origin;
    std::string_view path;  // still percent-encoded; starts with '/' unless Asterisk
    std::string_view query; // after '?', without it
    bool has_query = false;
};

// origin-form "/a?b", absolute-form "http://host/a?b" and "*"; anything else
// (relative "index.html", authority-form) is nullopt -> 400.
std::optional<Target> split_target(std::string_view raw);

// The host a request names (RFC 9112 §3.2.2): an absolute-form target's
// authority ("http://Example.com:80/x" -> "Example.com:80"), which wins over
// the Host field; else the Host field ("" when there is none).
std::string_view request_authority(std::string_view target, std::string_view host) noexcept;

// Whether every byte of a Host (or an authority) may be in RFC 3986's
// host [":" port]: letters, digits, "-._~", sub-delims, '%', ':' and the
// brackets of an IP literal. A space, '/', '\\', '@', a control byte or
// anything above 0x7f is no host (400, as nginx's "invalid host header").
bool valid_host_chars(std::string_view host) noexcept;

struct NormalizedPath {
    std::string rel;        // relative to the root, no leading or trailing '/', "" = root
    bool directory = false; // the request named a directory ("/a/", "/a/b/..")
    bool dotfile = false;   // some segment starts with '.'
};

// Percent-decodes and resolves dot segments. nullopt (-> 400) for bad or
// NUL escapes, bytes that are not valid UTF-8 (overlong forms, surrogates),
// and any ".." that would climb above the root.
std::optional<NormalizedPath> normalize_path(std::string_view raw_path);
// The same into `out`, with `scratch` for the decoded bytes: both keep their
// buffers from call to call. false -> 400.
bool normalize_path(std::string_view raw_path, NormalizedPath& out, std::string& scratch);

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF; 1 for ASCII), or 0. The one UTF-8
// check: normalize_path's, and --autoindex's escaping.
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept;

// Whether a request can name a directory entry called `name`: normalize_path
// takes "/name" (its '%' escaped) back to exactly that name. No for names
// that are not valid UTF-8 (400), "." and "..". The other arguments are
// working space, reused from call to call.
bool fetchable_name(std::string_view name, NormalizedPath& path, std::string& raw, std::string& scratch);

} // namespace splicehttpd::http
