#include "server/file_cache.hpp"

#include "http/conditional.hpp"
#include "http/date.hpp"
#include "sys/assert.hpp"

#include <algorithm>

namespace splicehttpd::server {

FileCache::FileCache(const FileCacheOptions& options, std::function<void(int)> close_fd)
    : options_(options), close_fd_(std::move(close_fd))
{
}

FileCache::~FileCache()
{
    for (auto& [key, f] : map_) destroy(f.get());
    for (auto& f : retired_) destroy(f.get());
}

CachedFile* FileCache::find(std::string_view path, std::uint64_t now_ns)
{
    if (!options_.enabled) return nullptr;
    auto it = map_.find(path);
    if (it == map_.end()) {
        ++misses_;
        return nullptr;
    }
    CachedFile* f = it->second.get();
    if (expired(*f, now_ns)) {
        ++misses_;
        return nullptr; // the lookup runs again and replaces it
    }
    ++hits_;
    lru_.splice(lru_.begin(), lru_, f->lru);
    ++f->refs;
    return f;
}

// The new entry is returned with a reference taken: trim() skips entries in
// use, so it can never evict (and free) the entry it is making room for, even
// when every other entry is held by a stalled response.
CachedFile* FileCache::install(std::string_view path, std::uint64_t now_ns)
{
    auto it = map_.find(path);
    if (it != map_.end()) retire(it);
    auto f = std::make_unique<CachedFile>();
    f->key.assign(path);
    f->fetched_ns = now_ns;
    f->refs = 1;
    lru_.push_front(f.get());
    f->lru = lru_.begin();
    CachedFile* raw = f.get();
    map_.emplace(raw->key, std::move(f));
    trim();
    SPLICEHTTPD_ASSERT(raw->refs == 1 && !raw->retired);
    return raw;
}

CachedFile* FileCache::adopt(std::string_view path, int fd, const struct statx& stx, std::uint64_t now_ns)
{
    if (!options_.enabled) return nullptr;
    CachedFile* f = install(path, now_ns);
    f->fd = fd;
    f->stx = stx;
    f->etag = http::etag_text(stx.stx_size, stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec);
    f->last_modified = http::http_date_text(stx.stx_mtime.tv_sec);
    return f;
}

void FileCache::remember_missing(std::string_view path, int err, std::uint64_t now_ns)
{
    if (!options_.enabled) return;
    CachedFile* f = install(path, now_ns);
    f->err = err;
    // Nobody holds a remembered failure: it may go at once if the cache is
    // over its bound (and every other entry is in use).
    --f->refs;
    trim();
}

void FileCache::unref(CachedFile* f) noexcept
{
    if (!f) return;
    SPLICEHTTPD_ASSERT(f->refs > 0); // one unref per reference taken
    if (f->refs == 0) return;
    if (--f->refs > 0 || !f->retired) return;
    auto it = std::find_if(retired_.begin(), retired_.end(), [f](const auto& p) { return p.get() == f; });
    if (it == retired_.end()) return;
    destroy(f);
    retired_.erase(it);
}

void FileCache::set_body(CachedFile* f, std::string_view bytes)
{
    if (!f || f->has_body || f->retired || bytes.size() != f->stx.stx_size) return;
    if (bytes.size() > options_.max_body_bytes) return;
    f->body.assign(bytes);
    f->has_body = true;
    body_bytes_ += bytes.size();
    trim();
}

void FileCache::retire(Map::iterator it) noexcept
{
    CachedFile* f = it->second.get();
    lru_.erase(f->lru);
    if (f->has_body) body_bytes_ -= f->body.size();
    if (f->refs == 0) {
        destroy(f);
        map_.erase(it);
        return;
    }
    f->retired = true;
    retired_.push_back(std::move(it->second));
    map_.erase(it);
}

void FileCache::destroy(CachedFile* f) noexcept
{
    if (f->fd >= 0) close_fd_(f->fd);
    f->fd = -1;
}

// Least recently used first, skipping entries in use (they stay over the
// bound until let go: at most one per connection).
void FileCache::trim() noexcept
{
    auto it = lru_.end();
    while ((map_.size() > options_.max_entries || body_bytes_ > options_.max_body_bytes) && it != lru_.begin()) {
        --it;
        CachedFile* f = *it;
        if (f->refs > 0) continue;
        auto victim = map_.find(f->key);
        it = std::next(it); // retire() erases f's node
        retire(victim);
    }
}

void FileCache::sweep(std::uint64_t now_ns)
{
    for (auto it = map_.begin(); it != map_.end();) {
        CachedFile* f = it->second.get();
        if (f->refs == 0 && expired(*f, now_ns)) {
            lru_.erase(f->lru);
            if (f->has_body) body_bytes_ -= f->body.size();
            destroy(f);
            it = map_.erase(it);
        } else {
            ++it;
        }
    }
}

FileCacheStats FileCache::stats() const noexcept
{
    return FileCacheStats{map_.size(), retired_.size(), body_bytes_, hits_, misses_};
}

} // namespace splicehttpd::server
