#include "server/lookup.hpp"

#include "http/content_coding.hpp"
#include "sys/assert.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

namespace splicehttpd::server {

namespace {

using uring::Op;
using Kind = Lookup::Result::Kind;

constexpr unsigned kStatxMask = STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME;

constexpr std::string_view kVariantSuffix[http::kVariantCount] = {"", ".br", ".gz"};
constexpr std::string_view kVariantEncoding[http::kVariantCount] = {"", "br", "gzip"};

} // namespace

void Lookup::reset() noexcept
{
    SPLICEHTTPD_ASSERT(pending_ == 0 && !page_);
    step_ = http::LookupStep::Primary;
    pending_status_ = 0;
    ticket_ = 0;
    failure_ = {};
    fds_ = {-1, -1, -1};
    cached_ = {};
    opened_ = {};
}

unsigned Lookup::open_files() const noexcept
{
    return unsigned(std::count_if(fds_.begin(), fds_.end(), [](int fd) { return fd >= 0; }));
}

Lookup::Result Lookup::start(const Env& env) noexcept
{
    const http::Route& r = env.route;
    failure_ = {};
    if (r.directory) return submit(http::LookupStep::DirIndex, r.rel_path, "index.html", env);
    return submit(http::LookupStep::Primary, r.rel_path, {}, env);
}

// The path, and its precompressed siblings when the client and the type want
// them, all in one submit.
Lookup::Result Lookup::submit(http::LookupStep step, std::string_view dir, std::string_view name,
                              const Env& env) noexcept
{
    SPLICEHTTPD_ASSERT(pending_ == 0);
    step_ = step;
    // dir/name, or dir alone; "." for the root. Into this lookup's buffer.
    served_path_.assign(dir);
    if (!name.empty()) {
        if (!served_path_.empty()) served_path_.push_back('/');
        served_path_.append(name);
    }
    if (served_path_.empty()) served_path_.assign(".");
    open_res_.fill(0);
    statx_res_.fill(0);

    // RESOLVE_BENEATH is what keeps ".." and symlinks that leave the root
    // out. O_NONBLOCK so that a FIFO in the tree cannot block the open.
    how_ = open_how{};
    how_.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    how_.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

    const http::Route& r = env.route;
    const bool variants = step != http::LookupStep::DirItself && (r.accepts_br || r.accepts_gzip) &&
                          http::is_compressible(env.options.mime->content_type(served_path_));
    const bool wanted[http::kVariantCount] = {true, variants && r.accepts_br, variants && r.accepts_gzip};
    for (unsigned v = 0; v < http::kVariantCount; ++v) {
        paths_[v].clear();
        opened_[v] = false;
        if (!wanted[v]) continue;
        // The cache's key: the site's prefix, then the path (two sites may
        // both have an index.html, and must never get each other's).
        paths_[v].append(env.options.cache_prefix).append(served_path_).append(kVariantSuffix[v]);
        // A fresh cache entry answers without the ring: its descriptor and
        // the statx of that descriptor, or the remembered ENOENT.
        if (CachedFile* f = env.cache.find(paths_[v], env.now_ns)) {
            if (f->fd >= 0) {
                cached_[v] = f;
                stx_[v] = f->stx;
            } else {
                open_res_[v] = -f->err;
                env.cache.unref(f);
            }
            continue;
        }
        io_uring_sqe* sqe = env.ops.sqe(Op::Openat, std::uint8_t(v));
        io_uring_prep_openat2(sqe, env.options.root_fd, paths_[v].c_str() + env.options.cache_prefix.size(), &how_);
        opened_[v] = true;
        ++pending_;
    }
    if (pending_ == 0) return decide(env); // all from the cache
    return {};
}

Lookup::Result Lookup::on_cqe(Op op, std::uint8_t v, int res, const Env& env, bool carry_on) noexcept
{
    SPLICEHTTPD_ASSERT(v < http::kVariantCount && pending_ > 0);
    if (v >= http::kVariantCount || pending_ == 0) return {};
    --pending_;
    if (op == Op::Openat) {
        open_res_[v] = res;
        // The descriptor is ours even if the connection is closing: close_all.
        if (res >= 0) fds_[v] = res;
        if (pending_ == 0 && carry_on) return submit_statx(env);
    } else {
        SPLICEHTTPD_ASSERT(op == Op::Statx);
        statx_res_[v] = res;
        if (pending_ == 0 && carry_on) return decide(env);
    }
    return {};
}

// statx on each descriptor that opened, all in one submit.
Lookup::Result Lookup::submit_statx(const Env& env) noexcept
{
    for (unsigned v = 0; v < http::kVariantCount; ++v) {
        // Not when the file itself failed: the answer is an error anyway.
        if (fds_[v] < 0 || open_res_[http::kIdentity] < 0) continue;
        io_uring_sqe* sqe = env.ops.sqe(Op::Statx, std::uint8_t(v));
        io_uring_prep_statx(sqe, fds_[v], "", AT_EMPTY_PATH, kStatxMask, &stx_[v]);
        ++pending_;
    }
    if (pending_ == 0) return decide(env);
    return {};
}

Lookup::Result Lookup::decide(const Env& env) noexcept
{
    std::array<http::Candidate, http::kVariantCount> c{};
    for (unsigned v = 0; v < http::kVariantCount; ++v) {
        c[v].tried = !paths_[v].empty();
        if (!c[v].tried) continue;
        c[v].err = open_res_[v] < 0 ? -open_res_[v] : statx_res_[v] < 0 ? -statx_res_[v] : 0;
        if (c[v].err) continue;
        const struct statx& s = stx_[v];
        c[v].regular = S_ISREG(s.stx_mode);
        c[v].directory = S_ISDIR(s.stx_mode);
        c[v].mtime_sec = s.stx_mtime.tv_sec;
        c[v].mtime_nsec = s.stx_mtime.tv_nsec;
    }
    // What the ring found goes into the cache: a regular file's descriptor
    // (the cache owns it from now on), or the fact that nothing is there.
    for (unsigned v = 0; v < http::kVariantCount; ++v) {
        if (!opened_[v]) continue;
        if (c[v].err == 0 && c[v].regular && fds_[v] >= 0) {
            if (CachedFile* f = env.cache.adopt(paths_[v], fds_[v], stx_[v], env.now_ns)) {
                cached_[v] = f;
                fds_[v] = -1;
            }
        } else if (c[v].err == ENOENT) {
            env.cache.remember_missing(paths_[v], ENOENT, env.now_ns);
        }
    }
    const http::LookupVerdict verdict = http::decide_lookup(step_, c, env.options.autoindex);
    note_failure(c[http::kIdentity], verdict);
    if (env.options.debug && verdict.kind == http::LookupVerdict::Kind::Serve) {
        const std::string note = http::skipped_siblings_note(served_path_, c, verdict.variant);
        if (!note.empty()) spdlog::debug("conn={} {}", env.ops.index(), note);
    }
    switch (verdict.kind) {
    case http::LookupVerdict::Kind::Serve: return {Kind::Serve, 0, verdict.variant};
    case http::LookupVerdict::Kind::Respond: close_all(env.ops, env.cache); return answer(verdict.status, env);
    case http::LookupVerdict::Kind::Redirect: close_all(env.ops, env.cache); return {Kind::Redirect, verdict.status};
    case http::LookupVerdict::Kind::LookUpDirectory:
        close_all(env.ops, env.cache);
        return submit(http::LookupStep::DirItself, env.route.rel_path, {}, env);
    case http::LookupVerdict::Kind::List: return {Kind::List};
    }
    SPLICEHTTPD_ASSERT(false); // every verdict is handled above
    close_all(env.ops, env.cache);
    return {Kind::Respond, 500};
}

// Only the request's own path: the files --fallback and --error-page name
// were checked at start-up, and a missing one answers with the status that
// sent us looking.
void Lookup::note_failure(const http::Candidate& file, const http::LookupVerdict& verdict)
{
    using FailureKind = Failure::Kind;
    if (step_ == http::LookupStep::Fallback) {
        if (verdict.kind == http::LookupVerdict::Kind::Serve) failure_ = {}; // answered, as try_files does
        return;
    }
    if (step_ == http::LookupStep::ErrorPage || verdict.kind != http::LookupVerdict::Kind::Respond) return;
    if (file.err != 0)
        failure_ = {FailureKind::Errno, file.err};
    else if (step_ == http::LookupStep::DirItself && file.directory)
        failure_ = {FailureKind::DirectoryIndex, 0};
    else if (step_ != http::LookupStep::DirItself && !file.regular)
        failure_ = {FailureKind::NotRegular, 0};
    else
        return;
    failed_path_.assign(served_path_);
}

Lookup::Result Lookup::answer(int status, const Env& env) noexcept
{
    const bool second = step_ == http::LookupStep::Fallback || step_ == http::LookupStep::ErrorPage;
    if (second && status == 0) status = pending_status_; // the page or the fallback is missing
    if (status == 404 && !env.options.fallback.empty() && !second &&
        http::fallback_applies(env.route.rel_path, env.route.directory, env.options.fallback_prefixes)) {
        pending_status_ = 404;
        return submit(http::LookupStep::Fallback, env.options.fallback, {}, env);
    }
    if (step_ != http::LookupStep::ErrorPage) {
        for (const auto& [code, path] : env.options.error_pages) {
            if (code != status) continue;
            pending_status_ = status;
            return submit(http::LookupStep::ErrorPage, path, {}, env);
        }
    }
    return {Kind::Respond, status};
}

Lookup::Result Lookup::on_lister(DirLister::Answer answer, const Env& env) noexcept
{
    switch (answer.kind) {
    case DirLister::Answer::Kind::Ready:
        close_all(env.ops, env.cache);
        page_ = std::move(answer.listing);
        return {Kind::Page};
    case DirLister::Answer::Kind::Queued: ticket_ = answer.ticket; return {}; // the lister took the descriptor
    case DirLister::Answer::Kind::Refused: break;
    }
    close_all(env.ops, env.cache);
    return {Kind::Busy};
}

Lookup::Result Lookup::on_listing(std::uint32_t ticket, std::shared_ptr<const http::Listing> page, int err,
                                  const Env& env) noexcept
{
    if (ticket == 0 || ticket != ticket_) return {}; // not the one this lookup waits for
    ticket_ = 0;
    close_all(env.ops, env.cache);
    if (!page) {
        failure_ = {Failure::Kind::ListDir, err};
        failed_path_.assign(env.route.rel_path);
        return answer(http::status_for_errno(err), env);
    }
    page_ = std::move(page);
    return {Kind::Page};
}

FoundFile Lookup::take(http::Variant variant, const Env& env) noexcept
{
    FoundFile f;
    const struct statx& stx = stx_[variant];
    f.meta.size = stx.stx_size;
    f.meta.mtime_sec = stx.stx_mtime.tv_sec;
    f.meta.mtime_nsec = stx.stx_mtime.tv_nsec;
    f.meta.content_type = env.options.mime->content_type(served_path_);
    f.meta.content_encoding = kVariantEncoding[variant];
    f.meta.vary = env.options.precompressed && http::is_compressible(f.meta.content_type);
    // Keep the descriptor served; the others close now.
    close_all_but(int(variant), env.ops, env.cache);
    f.cached = std::exchange(cached_[variant], nullptr);
    if (f.cached) {
        f.meta.etag = f.cached->etag.view();
        f.meta.last_modified = f.cached->last_modified.view();
        f.fd = f.cached->fd;
        SPLICEHTTPD_ASSERT(fds_[variant] < 0); // the cache owns it
    } else {
        f.fd = std::exchange(fds_[variant], -1);
    }
    f.path = served_path_;
    if (step_ == http::LookupStep::ErrorPage) f.as_status = pending_status_;
    return f;
}

void Lookup::close_all_but(int keep, Submitter& ops, FileCache& cache) noexcept
{
    for (unsigned v = 0; v < http::kVariantCount; ++v) {
        if (int(v) == keep) continue;
        cache.unref(std::exchange(cached_[v], nullptr));
        if (fds_[v] >= 0) ops.close_file(std::exchange(fds_[v], -1));
    }
}

} // namespace splicehttpd::server
