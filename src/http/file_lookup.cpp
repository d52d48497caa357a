#include "http/file_lookup.hpp"

#include "http/response.hpp"

#include <cerrno>

namespace splicehttpd::http {

namespace {

// A sibling older than its original is stale: never serve it.
bool fresh_sibling(const Candidate& sibling, const Candidate& original) noexcept
{
    if (!sibling.tried || sibling.err != 0 || !sibling.regular) return false;
    return sibling.mtime_sec > original.mtime_sec ||
           (sibling.mtime_sec == original.mtime_sec && sibling.mtime_nsec >= original.mtime_nsec);
}

LookupVerdict serve(const std::array<Candidate, kVariantCount>& c) noexcept
{
    const Candidate& file = c[kIdentity];
    if (!file.regular) return {LookupVerdict::Kind::Respond, 403}; // FIFO, socket, device
    if (fresh_sibling(c[kBrotli], file)) return {LookupVerdict::Kind::Serve, 0, kBrotli};
    if (fresh_sibling(c[kGzip], file)) return {LookupVerdict::Kind::Serve, 0, kGzip};
    return {LookupVerdict::Kind::Serve, 0, kIdentity};
}

LookupVerdict respond(int status) noexcept
{
    return {LookupVerdict::Kind::Respond, status};
}

} // namespace

LookupVerdict decide_lookup(LookupStep step, const std::array<Candidate, kVariantCount>& c, bool autoindex) noexcept
{
    // openat2's verdict first: it is the one that enforces the root.
    const Candidate& file = c[kIdentity];
    switch (step) {
    case LookupStep::Primary:
        if (file.err) return respond(status_for_errno(file.err));
        if (file.directory) return {LookupVerdict::Kind::Redirect, 301};
        return serve(c);
    case LookupStep::DirIndex:
        if (file.err == ENOENT) return {LookupVerdict::Kind::LookUpDirectory};
        if (file.err) return respond(status_for_errno(file.err));
        return serve(c);
    case LookupStep::Fallback:
    case LookupStep::ErrorPage:
        if (file.err || !file.regular) return respond(0);
        return serve(c);
    case LookupStep::DirItself:
        // No index.html: a directory we list (--autoindex) or will not
        // list (403), or no such directory at all (404).
        if (file.err) return respond(status_for_errno(file.err));
        if (file.directory && autoindex) return {LookupVerdict::Kind::List};
        return respond(file.directory ? 403 : 404);
    }
    return respond(500);
}

} // namespace splicehttpd::http
