// The steps after a lookup's openat2 and statx completions: serve a file (and
// which precompressed variant of it), answer a status, redirect, or look up
// the directory itself. Pure: the connection turns a verdict into SQEs.
#pragma once

#include <array>
#include <cstdint>

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

} // namespace splicehttpd::http
