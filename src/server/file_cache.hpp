// The open-file cache of one worker: for a path, the descriptor it opened,
// the statx of that descriptor and, for a small file, its bytes — so that a
// hot file is answered without openat, statx or read (no io-wq hop), and the
// head and the bytes always come from the same open file.
//
// Entries are at most `ttl` old when used (then the lookup runs again, as
// h2o and lighttpd revalidate); a missing sibling ("x.br") is remembered the
// same way. An entry in use by a response is never closed under it: a newer
// lookup of the same path retires the old entry, which closes when its last
// user lets go. The tick drops expired entries nobody uses, so an idle server
// holds no descriptors of deleted files. Bounded by entry count and body bytes
// (least recently used go first).
#pragma once

#include "http/text.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace splicehttpd::server {

struct CachedFile {
    std::string key;
    int fd = -1; // -1: a remembered failure (err)
    int err = 0; // ENOENT for a path that does not exist
    struct statx stx {};
    std::string body; // the whole file, once read (small files only)
    bool has_body = false;
    // The validators of stx, formatted once for every response of this entry.
    http::ShortText etag;
    http::ShortText last_modified;

    // bookkeeping
    std::uint64_t fetched_ns = 0;
    unsigned refs = 0;
    bool retired = false;
    std::list<CachedFile*>::iterator lru;
};

struct FileCacheOptions {
    bool enabled = true;
    std::uint64_t ttl_ns = 1'000'000'000;
    std::size_t max_entries = 1024;
    std::size_t max_body_bytes = 64u << 20;
};

struct FileCacheStats {
    std::size_t entries = 0;
    std::size_t retired = 0;
    std::size_t body_bytes = 0;
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
};

class FileCache {
public:
    // close_fd closes a descriptor the cache owned (through the ring).
    FileCache(const FileCacheOptions& options, std::function<void(int)> close_fd);
    FileCache(const FileCache&) = delete;
    FileCache& operator=(const FileCache&) = delete;
    ~FileCache();

    // A fresh entry for path, with a reference taken (unref() it), or
    // nullptr: look it up.
    CachedFile* find(std::string_view path, std::uint64_t now_ns);
    // After a lookup found a regular file: the cache takes the descriptor
    // and returns the entry with a reference. nullptr when disabled (the
    // caller keeps its descriptor).
    CachedFile* adopt(std::string_view path, int fd, const struct statx& stx, std::uint64_t now_ns);
    // After a lookup found nothing there (ENOENT).
    void remember_missing(std::string_view path, int err, std::uint64_t now_ns);
    // Lets go of a reference find() or adopt() took.
    void unref(CachedFile* file) noexcept;
    // The file's bytes, read from its descriptor (size == stx_size).
    void set_body(CachedFile* file, std::string_view bytes);

    // Once a second: close what expired and nobody uses.
    void sweep(std::uint64_t now_ns);

    [[nodiscard]] bool enabled() const noexcept { return options_.enabled; }
    [[nodiscard]] FileCacheStats stats() const noexcept;

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using Map = std::unordered_map<std::string, std::unique_ptr<CachedFile>, Hash, std::equal_to<>>;

    CachedFile* install(std::string_view path, std::uint64_t now_ns);
    void retire(Map::iterator it) noexcept; // out of the map; closed when unused
    void destroy(CachedFile* file) noexcept;
    void trim() noexcept;
    [[nodiscard]] bool expired(const CachedFile& f, std::uint64_t now_ns) const noexcept
    {
        return now_ns - f.fetched_ns > options_.ttl_ns;
    }

    FileCacheOptions options_;
    std::function<void(int)> close_fd_;
    Map map_;
    std::list<CachedFile*> lru_; // most recently used first
    std::vector<std::unique_ptr<CachedFile>> retired_;
    std::size_t body_bytes_ = 0;
    std::uint64_t hits_ = 0;
    std::uint64_t misses_ = 0;
};

} // namespace splicehttpd::server
