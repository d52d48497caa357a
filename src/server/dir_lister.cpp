#include "server/dir_lister.hpp"

#include "sys/clock.hpp"
#include "sys/error.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <future>

namespace splicehttpd::server {

namespace {

constexpr std::size_t kDirentBuffer = 64 * 1024;

} // namespace

DirLister::DirLister(const DirListerOptions& options, std::uint32_t last_ticket)
    : options_(options), dirents_(kDirentBuffer), next_ticket_(last_ticket)
{
    // Blocking, unlike the command eventfd: the ring then waits for it with
    // an internal poll instead of completing the read with -EAGAIN.
    event_fd_ = eventfd(0, EFD_CLOEXEC);
    if (event_fd_ < 0) sys::throw_errno("eventfd (autoindex)");
    // Shared: set_value may still touch the state after the wait returned.
    auto started = std::make_shared<std::promise<void>>();
    std::future<void> running = started->get_future();
    try {
        thread_ = std::thread([this, started] {
            started->set_value();
            run();
        });
    } catch (...) {
        ::close(event_fd_);
        throw;
    }
    running.wait();
}

DirLister::~DirLister()
{
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
    for (const Job& job : jobs_) ::close(job.fd);
    ::close(event_fd_);
}

DirLister::Key DirLister::key_of(const struct statx& stx, bool dotfiles) noexcept
{
    Key k;
    k.dotfiles = dotfiles;
    k.dev_major = stx.stx_dev_major;
    k.dev_minor = stx.stx_dev_minor;
    k.ino = stx.stx_ino;
    k.mtime_sec = stx.stx_mtime.tv_sec;
    k.mtime_nsec = stx.stx_mtime.tv_nsec;
    if (stx.stx_mask & STATX_CTIME) {
        k.ctime_sec = stx.stx_ctime.tv_sec;
        k.ctime_nsec = stx.stx_ctime.tv_nsec;
    }
    return k;
}

DirLister::Answer DirLister::find_or_queue(std::uint32_t index, std::uint16_t gen, int& dir_fd, const struct statx& stx,
                                           std::string_view rel_path, bool dotfiles, std::uint64_t now_ns)
{
    const Key key = key_of(stx, dotfiles);
    for (const Cached& c : cache_)
        if (c.key == key && c.rel_path == rel_path && now_ns - c.fetched_ns <= options_.ttl_ns)
            return {Answer::Kind::Ready, c.listing, 0};
    // A new page may be up to max_bytes: room for it, or a refusal.
    make_room(options_.listing.max_bytes);
    if (jobs_out_ >= kMaxJobs || live_bytes() + options_.listing.max_bytes > options_.memory_budget)
        return {Answer::Kind::Refused, nullptr, 0};
    // 0 means "no ticket" to a lookup (Lookup::waits_for_listing): past
    // 2^32 - 1 listings the counter wraps to 1. A ticket is unique among
    // those out (at most kMaxJobs, each waited for within --send-timeout),
    // which is all a lookup compares it with.
    if (++next_ticket_ == 0) ++next_ticket_;
    const std::uint32_t ticket = next_ticket_;
    Job job{index, gen, ticket, std::exchange(dir_fd, -1), key, std::string(rel_path)};
    {
        std::lock_guard lock(mutex_);
        jobs_.push_back(std::move(job));
    }
    ++jobs_out_;
    wake_.notify_one();
    return {Answer::Kind::Queued, nullptr, ticket};
}

std::vector<DirLister::Done> DirLister::take_done(std::uint64_t now_ns)
{
    std::vector<Finished> finished;
    {
        std::lock_guard lock(mutex_);
        finished.swap(done_);
    }
    std::vector<Done> out;
    out.reserve(finished.size());
    for (Finished& f : finished) {
        --jobs_out_;
        if (f.done.listing) remember(f.key, std::move(f.rel_path), f.done.listing, now_ns);
        out.push_back(std::move(f.done));
    }
    return out;
}

void DirLister::forget(std::deque<Cached>::iterator it) noexcept
{
    cache_bytes_ -= it->listing->body.size();
    cache_.erase(it);
}

void DirLister::make_room(std::size_t room) noexcept
{
    for (auto it = cache_.begin(); it != cache_.end() && live_bytes() + room > options_.memory_budget;) {
        if (it->listing.use_count() == 1) { // only the cache holds it: dropping frees it
            forget(it);
            it = cache_.begin();
        } else {
            ++it;
        }
    }
}

// Replaces an older listing of the same directory under the same path; the
// oldest go first when the bounds are reached.
void DirLister::remember(const Key& key, std::string rel_path, std::shared_ptr<const http::Listing> listing,
                         std::uint64_t now_ns)
{
    if (!options_.cache || listing->body.size() > options_.cache_bytes) return;
    std::erase_if(cache_, [&](const Cached& c) {
        const bool drop = (c.key.dev_major == key.dev_major && c.key.dev_minor == key.dev_minor &&
                           c.key.ino == key.ino && c.key.dotfiles == key.dotfiles && c.rel_path == rel_path) ||
                          now_ns - c.fetched_ns > options_.ttl_ns;
        if (drop) cache_bytes_ -= c.listing->body.size();
        return drop;
    });
    while (!cache_.empty() &&
           (cache_.size() >= options_.cache_entries || cache_bytes_ + listing->body.size() > options_.cache_bytes))
        forget(cache_.begin());
    cache_bytes_ += listing->body.size();
    cache_.push_back({key, std::move(rel_path), now_ns, std::move(listing)});
}

// ---------------------------------------------------------------- the thread

void DirLister::run()
{
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            if (stop_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        Finished f = list(job);
        {
            std::lock_guard lock(mutex_);
            done_.push_back(std::move(f));
        }
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(event_fd_, &one, sizeof one);
    }
}

// getdents64 and fstatat(AT_SYMLINK_NOFOLLOW) on the descriptor the ring
// opened beneath the root: nothing here resolves a path but one name inside
// that directory, and a symlink is never followed (symlinks are not listed,
// so one pointing out of the root shows nothing of its target). Only
// regular files and directories are listed.
DirLister::Finished DirLister::list(Job& job)
{
    const std::uint64_t started = sys::monotonic_ns();
    const std::size_t keep = options_.listing.max_entries;
    std::vector<http::DirEntry> entries;
    std::size_t not_read = 0;
    std::size_t seen = 0;
    int err = 0;
    for (;;) {
        const ssize_t n = ::getdents64(job.fd, dirents_.data(), dirents_.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0) break;
        for (ssize_t off = 0; off < n;) {
            const auto* d = reinterpret_cast<const dirent64*>(dirents_.data() + off);
            off += d->d_reclen;
            const std::string_view name(d->d_name);
            if (name == "." || name == "..") continue;
            if (name.front() == '.' && !job.key.dotfiles) continue;
            if (d->d_type != DT_UNKNOWN && d->d_type != DT_REG && d->d_type != DT_DIR) continue; // symlinks too
            ++seen;
            if (entries.size() >= keep) {
                ++not_read;
                continue;
            }
            struct stat st {};
            if (::fstatat(job.fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue; // gone since
            if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) continue;
            entries.push_back({std::string(name), S_ISDIR(st.st_mode), std::uint64_t(st.st_size), st.st_mtim.tv_sec});
        }
    }
    ::close(job.fd);
    job.fd = -1;

    Finished f;
    f.done.index = job.index;
    f.done.gen = job.gen;
    f.done.ticket = job.ticket;
    f.key = job.key;
    f.rel_path = std::move(job.rel_path);
    if (err) {
        f.done.err = err;
        // The connection that asked logs it (the error log's wording, level
        // and rate limit); this thread has neither.
        spdlog::debug("w{} autoindex /{}: getdents64: {}", options_.worker, f.rel_path, std::strerror(err));
        return f;
    }
    // Counted while alive, wherever its last reference goes (the cache, a
    // response, a connection that gave up waiting).
    http::ListingOptions listing = options_.listing;
    listing.dotfiles = job.key.dotfiles;
    auto* page =
        new http::Listing(http::render_listing(f.rel_path, std::move(entries), listing, job.key.mtime_sec, not_read));
    const std::size_t bytes = page->body.size();
    live_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    f.done.listing = std::shared_ptr<const http::Listing>(page, [this, bytes](const http::Listing* p) {
        live_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
        delete p;
    });
    spdlog::debug("w{} autoindex /{}: {} entries ({} not listed), {} bytes in {}us", options_.worker, f.rel_path, seen,
                  not_read, bytes, (sys::monotonic_ns() - started) / 1000);
    return f;
}

} // namespace splicehttpd::server
