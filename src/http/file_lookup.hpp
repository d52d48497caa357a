// The steps after a lookup's openat2 and statx completions: serve a file (and
// which precompressed variant of it), answer a status, redirect, or look up
// the directory itself. Pure: the connection turns a verdict into SQEs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace splicehttpd::http {

// Which lookup the candidates answer.
enum class LookupStep : std::uint8_t {
    Primary,   // the path as asked
    DirIndex,  // "dir/index.html" for a path ending in '/'
    DirItself, // "dir" after DirIndex found no index.html: 403 or 404, or List with --autoindex
    Fallback,  // --fallback: the file a missing path answers with (200)
    ErrorPage  // --error-page: the page sent with an error status
};

// The file itself, and its precompressed siblings "x.br" and "x.gz".
enum Variant : unsigned { kIdentity = 0, kBrotli = 1, kGzip = 2, kVariantCount = 3 };

// One opened (or not) path: what openat2 and then statx on its descriptor said.
struct Candidate {
    bool tried = false;
    int err = 0; // errno of openat2, else of statx; 0: found
    bool regular = false;
    bool directory = false;
    std::int64_t mtime_sec = 0;
    std::uint32_t mtime_nsec = 0;
};

// For Fallback and ErrorPage, Respond with status 0 means: no such file,
// answer the status that sent us looking.
struct LookupVerdict {
    enum class Kind : std::uint8_t { Serve, Respond, Redirect, LookUpDirectory, List };
    Kind kind = Kind::Respond;
    int status = 0;              // Respond
    Variant variant = kIdentity; // Serve
    friend bool operator==(const LookupVerdict&, const LookupVerdict&) = default;
};

// autoindex: a directory without index.html is listed (List), not refused.
LookupVerdict decide_lookup(LookupStep step, const std::array<Candidate, kVariantCount>& candidates,
                            bool autoindex = false) noexcept;

// What makes a precompressed sibling servable. Fresh: its mtime is not in an
// earlier second than the file's. brotli -k and older gzip keep the source's
// mtime rounded down to the second, so a finer comparison would call every
// sibling they make stale.
enum class SiblingState : std::uint8_t { Fresh, NotTried, Missing, Unusable, NotRegular, Older };
SiblingState sibling_state(const Candidate& sibling, const Candidate& original) noexcept;

// For --debug: why the siblings a Serve verdict passed over were not served,
// one clause each ("precompressed app.js.br skipped: older than app.js
// (mtime second 1700000000 < 1700000100)"); "" when there is nothing to say
// (none looked for, none on disk, or one preferred to it was served). path
// names the file itself; bytes a log line must not hold are escaped.
std::string skipped_siblings_note(std::string_view path, const std::array<Candidate, kVariantCount>& candidates,
                                  Variant served);

} // namespace splicehttpd::http
