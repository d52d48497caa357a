#include "http/file_lookup.hpp"

#include <doctest/doctest.h>

#include <cerrno>

using namespace splicehttpd::http;
using Kind = LookupVerdict::Kind;

namespace {

Candidate file(std::int64_t mtime = 100, std::uint32_t nsec = 0)
{
    return {.tried = true, .regular = true, .mtime_sec = mtime, .mtime_nsec = nsec};
}
Candidate dir()
{
    return {.tried = true, .directory = true};
}
Candidate special() // FIFO, socket, device
{
    return {.tried = true};
}
Candidate failed(int err)
{
    return {.tried = true, .err = err};
}
const Candidate untried{};

} // namespace

TEST_CASE("decide_lookup: serve, which variant, or which status")
{
    struct Row {
        int line;
        LookupStep step;
        std::array<Candidate, kVariantCount> c;
        LookupVerdict expected;
    };
    const LookupVerdict serve_identity{Kind::Serve, 0, kIdentity};
    const Row rows[] = {
        {__LINE__, LookupStep::Primary, {file(), untried, untried}, serve_identity},
        {__LINE__, LookupStep::Primary, {failed(ENOENT), untried, untried}, {Kind::Respond, 404}},
        {__LINE__, LookupStep::Primary, {failed(ENOTDIR), untried, untried}, {Kind::Respond, 404}},
        {__LINE__, LookupStep::Primary, {failed(EXDEV), untried, untried}, {Kind::Respond, 403}}, // left the root
        {__LINE__, LookupStep::Primary, {failed(ELOOP), untried, untried}, {Kind::Respond, 403}},
        {__LINE__, LookupStep::Primary, {failed(EACCES), untried, untried}, {Kind::Respond, 403}},
        {__LINE__, LookupStep::Primary, {failed(EMFILE), untried, untried}, {Kind::Respond, 503}},
        {__LINE__, LookupStep::Primary, {failed(EIO), untried, untried}, {Kind::Respond, 500}},
        {__LINE__, LookupStep::Primary, {dir(), untried, untried}, {Kind::Redirect, 301}},
        {__LINE__, LookupStep::Primary, {special(), untried, untried}, {Kind::Respond, 403}},
        // siblings: fresh ones win, br before gzip; stale, missing or odd ones never
        {__LINE__, LookupStep::Primary, {file(100), file(100), file(100)}, {Kind::Serve, 0, kBrotli}},
        {__LINE__, LookupStep::Primary, {file(100), file(99), file(100)}, {Kind::Serve, 0, kGzip}},
        // Whole seconds: brotli -k keeps the source's mtime rounded down to
        // the second, so a sibling in the file's own second is fresh.
        {__LINE__, LookupStep::Primary, {file(100, 5), file(100, 4), file(100, 5)}, {Kind::Serve, 0, kBrotli}},
        {__LINE__, LookupStep::Primary, {file(100, 999999999), file(100, 0), untried}, {Kind::Serve, 0, kBrotli}},
        {__LINE__, LookupStep::Primary, {file(100, 999999999), untried, file(100, 0)}, {Kind::Serve, 0, kGzip}},
        {__LINE__, LookupStep::Primary, {file(100, 0), file(99, 999999999), untried}, serve_identity},
        {__LINE__, LookupStep::Primary, {file(100, 5), file(101, 0), untried}, {Kind::Serve, 0, kBrotli}},
        {__LINE__, LookupStep::Primary, {file(100), failed(ENOENT), file(200)}, {Kind::Serve, 0, kGzip}},
        {__LINE__, LookupStep::Primary, {file(100), dir(), special()}, serve_identity},
        {__LINE__, LookupStep::Primary, {file(100), failed(ENOENT), failed(ENOENT)}, serve_identity},
        {__LINE__, LookupStep::Primary, {special(), file(200), file(200)}, {Kind::Respond, 403}},
        // dir/index.html
        {__LINE__, LookupStep::DirIndex, {file(), untried, untried}, serve_identity},
        {__LINE__, LookupStep::DirIndex, {file(), untried, file(300)}, {Kind::Serve, 0, kGzip}},
        {__LINE__, LookupStep::DirIndex, {failed(ENOENT), untried, untried}, {Kind::LookUpDirectory}},
        {__LINE__, LookupStep::DirIndex, {failed(ENOTDIR), untried, untried}, {Kind::Respond, 404}},
        {__LINE__, LookupStep::DirIndex, {failed(EACCES), untried, untried}, {Kind::Respond, 403}},
        {__LINE__, LookupStep::DirIndex, {dir(), untried, untried}, {Kind::Respond, 403}},
        // no index.html: the directory itself
        {__LINE__, LookupStep::DirItself, {dir(), untried, untried}, {Kind::Respond, 403}},
        {__LINE__, LookupStep::DirItself, {file(), untried, untried}, {Kind::Respond, 404}},
        {__LINE__, LookupStep::DirItself, {failed(ENOENT), untried, untried}, {Kind::Respond, 404}},
        {__LINE__, LookupStep::DirItself, {failed(EXDEV), untried, untried}, {Kind::Respond, 403}},
        // --fallback and --error-page: their file, or 0 (the status that sent us)
        {__LINE__, LookupStep::Fallback, {file(), untried, untried}, serve_identity},
        {__LINE__, LookupStep::Fallback, {file(100), file(100), untried}, {Kind::Serve, 0, kBrotli}},
        {__LINE__, LookupStep::Fallback, {failed(ENOENT), untried, untried}, {Kind::Respond, 0}},
        {__LINE__, LookupStep::Fallback, {dir(), untried, untried}, {Kind::Respond, 0}},
        {__LINE__, LookupStep::ErrorPage, {file(), untried, untried}, serve_identity},
        {__LINE__, LookupStep::ErrorPage, {failed(EACCES), untried, untried}, {Kind::Respond, 0}},
        {__LINE__, LookupStep::ErrorPage, {special(), untried, untried}, {Kind::Respond, 0}},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        const LookupVerdict v = decide_lookup(r.step, r.c);
        CHECK(int(v.kind) == int(r.expected.kind));
        CHECK(v.status == r.expected.status);
        CHECK(v.variant == r.expected.variant);
    }
}

TEST_CASE("decide_lookup with --autoindex: only a directory without index.html is listed")
{
    CHECK(decide_lookup(LookupStep::DirItself, {dir(), untried, untried}, true).kind == Kind::List);
    CHECK(decide_lookup(LookupStep::DirItself, {dir(), untried, untried}, false) == LookupVerdict{Kind::Respond, 403});
    CHECK(decide_lookup(LookupStep::DirItself, {file(), untried, untried}, true) == LookupVerdict{Kind::Respond, 404});
    CHECK(decide_lookup(LookupStep::DirItself, {failed(EXDEV), untried, untried}, true) ==
          LookupVerdict{Kind::Respond, 403});
    CHECK(decide_lookup(LookupStep::DirIndex, {file(), untried, untried}, true).kind == Kind::Serve);
    CHECK(decide_lookup(LookupStep::DirIndex, {failed(ENOENT), untried, untried}, true).kind == Kind::LookUpDirectory);
    CHECK(decide_lookup(LookupStep::Primary, {dir(), untried, untried}, true) == LookupVerdict{Kind::Redirect, 301});
    CHECK(decide_lookup(LookupStep::Fallback, {dir(), untried, untried}, true) == LookupVerdict{Kind::Respond, 0});
}

TEST_CASE("sibling_state: fresh to the second, or why not")
{
    CHECK(sibling_state(file(100, 7), file(100, 900)) == SiblingState::Fresh);
    CHECK(sibling_state(file(101, 0), file(100, 900)) == SiblingState::Fresh);
    CHECK(sibling_state(file(99, 999999999), file(100, 0)) == SiblingState::Older);
    CHECK(sibling_state(untried, file()) == SiblingState::NotTried);
    CHECK(sibling_state(failed(ENOENT), file()) == SiblingState::Missing);
    CHECK(sibling_state(failed(EACCES), file()) == SiblingState::Unusable);
    CHECK(sibling_state(dir(), file()) == SiblingState::NotRegular);
    CHECK(sibling_state(special(), file()) == SiblingState::NotRegular);
}

TEST_CASE("skipped_siblings_note: one clause per sibling passed over, for --debug")
{
    const Candidate js = file(1700000100, 5);
    CHECK(skipped_siblings_note("app.js", {js, file(1700000000), untried}, kIdentity) ==
          "precompressed app.js.br skipped: older than app.js (mtime second 1700000000 < 1700000100)");
    CHECK(skipped_siblings_note("app.js", {js, dir(), failed(EACCES)}, kIdentity) ==
          "precompressed app.js.br skipped: not a regular file; app.js.gz skipped: cannot be opened (EACCES)");
    // A stale .br passed over for a fresh .gz is named; a .gz after a served .br was never weighed.
    CHECK(skipped_siblings_note("app.js", {js, file(1), file(1700000100)}, kGzip) ==
          "precompressed app.js.br skipped: older than app.js (mtime second 1 < 1700000100)");
    CHECK(skipped_siblings_note("app.js", {js, file(1700000100), file(1)}, kBrotli).empty());
    // Nothing to say: none looked for, none on disk.
    CHECK(skipped_siblings_note("app.js", {js, untried, untried}, kIdentity).empty());
    CHECK(skipped_siblings_note("app.js", {js, failed(ENOENT), failed(ENOENT)}, kIdentity).empty());
    // The path comes from the request: a log line cannot be forged with it.
    CHECK(skipped_siblings_note("a\nb\"", {js, dir(), untried}, kIdentity) ==
          "precompressed a\\x0Ab\\x22.br skipped: not a regular file");
}
