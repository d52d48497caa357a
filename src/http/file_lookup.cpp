#include "http/file_lookup.hpp"

#include "http/access_log.hpp"
#include "http/response.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace splicehttpd::http {

namespace {

bool fresh_sibling(const Candidate& sibling, const Candidate& original) noexcept
{
    return sibling_state(sibling, original) == SiblingState::Fresh;
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

SiblingState sibling_state(const Candidate& sibling, const Candidate& original) noexcept
{
    if (!sibling.tried) return SiblingState::NotTried;
    if (sibling.err == ENOENT || sibling.err == ENOTDIR) return SiblingState::Missing;
    if (sibling.err != 0) return SiblingState::Unusable;
    if (!sibling.regular) return SiblingState::NotRegular;
    // A stale sibling (the file was rebuilt after it) is never served.
    if (sibling.mtime_sec < original.mtime_sec) return SiblingState::Older;
    return SiblingState::Fresh;
}

std::string skipped_siblings_note(std::string_view path, const std::array<Candidate, kVariantCount>& c, Variant served)
{
    static constexpr std::string_view kSuffix[kVariantCount] = {"", ".br", ".gz"};
    std::string out;
    // Brotli is preferred to gzip: a sibling after the one served was not considered.
    for (unsigned v = kBrotli; v < kVariantCount && (served == kIdentity || v < served); ++v) {
        const SiblingState state = sibling_state(c[v], c[kIdentity]);
        if (state == SiblingState::Fresh || state == SiblingState::NotTried || state == SiblingState::Missing) continue;
        out.append(out.empty() ? "precompressed " : "; ");
        append_log_escaped(out, path);
        out.append(kSuffix[v]).append(" skipped: ");
        switch (state) {
        case SiblingState::Older:
            out.append("older than ");
            append_log_escaped(out, path);
            fmt::format_to(std::back_inserter(out), " (mtime second {} < {})", c[v].mtime_sec, c[kIdentity].mtime_sec);
            break;
        case SiblingState::NotRegular: out.append("not a regular file"); break;
        default: {
            const char* name = strerrorname_np(c[v].err);
            fmt::format_to(std::back_inserter(out), "cannot be opened ({})", name ? name : "unknown error");
        }
        }
    }
    return out;
}

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
