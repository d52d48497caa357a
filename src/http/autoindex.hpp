// --autoindex: the HTML listing of a directory that has no index.html, and
// the response that carries it. Pure: the entries are read off the ring
// thread (server/dir_lister), this only filters, sorts, escapes and renders.
#pragma once

#include "http/parser.hpp"
#include "http/response.hpp"

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace splicehttpd::http {

// One entry as the lister saw it (fstatat with AT_SYMLINK_NOFOLLOW): only
// regular files and directories are listed; symlinks, FIFOs, sockets and
// devices never reach here.
struct DirEntry {
    std::string name; // raw bytes from getdents64: anything but '/' and NUL
    bool is_dir = false;
    std::uint64_t size = 0;
    std::int64_t mtime = 0;
};

struct ListingOptions {
    bool dotfiles = false;           // list names starting with '.' (--dotfiles allow)
    std::size_t max_entries = 10000; // rows at most; past it a note says how many were left out
    // The page's size at most (rows stop before it; the note counts the
    // rest): 10,000 rows of long names would otherwise make pages of 10 MB
    // and more, and a listing is held whole in memory while it is sent.
    std::size_t max_bytes = 4u << 20;
};

// A rendered listing and its validators.
struct Listing {
    std::string body;           // text/html; charset=utf-8
    std::string etag;           // strong, quoted: a hash of the body
    std::int64_t last_modified; // the newest of the directory's and its listed entries' mtimes
};

// Percent-encodes everything but RFC 3986's unreserved characters
// (A-Z a-z 0-9 - . _ ~): safe in an href attribute and as a relative
// reference (no ':' that could read as a scheme, no '?', '#', '%', '/').
std::string url_escape(std::string_view name);

// HTML text: & < > " ' become entities; control bytes and bytes that are
// not valid UTF-8 become U+FFFD, so the page is valid UTF-8 whatever the
// names on disk are.
std::string html_escape(std::string_view text);

// dir_path: the request's normalised path relative to the root ("" is the
// root, "a/b" is /a/b/). Entries are sorted directories first, then by name
// in byte order; dotfiles hidden unless options.dotfiles. not_read: entries
// the lister counted but did not keep (past its own bound), added to the
// note. dir_mtime: the directory's own mtime (Last-Modified floor).
Listing render_listing(std::string_view dir_path, std::vector<DirEntry> entries, const ListingOptions& options,
                       std::int64_t dir_mtime, std::size_t not_read = 0);

// 200 text/html with the listing (no body for HEAD), or 304/412 for
// conditional requests as for files. Ranges are ignored: always the whole
// listing. The page is not copied into the plan: its body is one File
// segment over listing.body, which the connection sends from the shared,
// immutable listing it holds until the response is done (every client of
// one listing is served from one copy, however many stall).
void plan_listing(ResponsePlan& plan, const Request& req, const Listing& listing, const ResponseContext& ctx);

} // namespace splicehttpd::http
