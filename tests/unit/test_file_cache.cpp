#include "server/file_cache.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <vector>

using namespace splicehttpd::server;

namespace {

constexpr std::uint64_t kSec = 1'000'000'000;

struct Fixture {
    std::vector<int> closed;
    FileCacheOptions options;
    Fixture() { options.ttl_ns = kSec; }
    FileCache make()
    {
        return FileCache(options, [this](int fd) { closed.push_back(fd); });
    }
};

struct statx stx_of(std::uint64_t size)
{
    struct statx s {};
    s.stx_size = size;
    return s;
}

} // namespace

TEST_CASE("file cache: a fresh entry answers; an old one does not")
{
    Fixture fx;
    FileCache cache = fx.make();
    CHECK(cache.find("a", 0) == nullptr);
    CachedFile* a = cache.adopt("a", 110, stx_of(5), 0);
    REQUIRE(a != nullptr);
    CHECK(a->refs == 1);
    cache.unref(a);
    CachedFile* hit = cache.find("a", kSec / 2);
    CHECK(hit == a);
    CHECK(hit->fd == 110);
    cache.unref(hit);
    CHECK(cache.find("a", kSec + 1) == nullptr); // older than the ttl: look it up again
    CHECK(cache.stats().hits == 1);
    CHECK(cache.stats().misses == 2);
    CHECK(fx.closed.empty());
}

TEST_CASE("file cache: a newer lookup retires the old entry, closed when its last user lets go")
{
    Fixture fx;
    FileCache cache = fx.make();
    CachedFile* old = cache.adopt("a", 110, stx_of(5), 0); // in use by a response
    CachedFile* fresh = cache.adopt("a", 111, stx_of(6), 2 * kSec);
    CHECK(fx.closed.empty()); // never under a response
    CHECK(cache.stats().retired == 1);
    CachedFile* hit = cache.find("a", 2 * kSec);
    CHECK(hit == fresh);
    cache.unref(hit);
    cache.unref(old);
    CHECK(fx.closed == std::vector<int>{110});
    CHECK(cache.stats().retired == 0);
    cache.unref(fresh);
    // Unused and replaced: closed at once.
    cache.adopt("a", 112, stx_of(7), 4 * kSec);
    CHECK(fx.closed == std::vector<int>{110, 111});
}

TEST_CASE("file cache: remembered failures, sweep, disabled")
{
    Fixture fx;
    FileCache cache = fx.make();
    cache.remember_missing("x.br", ENOENT, 0);
    CachedFile* miss = cache.find("x.br", 1);
    REQUIRE(miss != nullptr);
    CHECK(miss->fd == -1);
    CHECK(miss->err == ENOENT);
    cache.unref(miss);

    CachedFile* used = cache.adopt("used", 120, stx_of(1), 0);
    cache.unref(cache.adopt("idle", 121, stx_of(1), 0));
    cache.sweep(kSec / 2); // nothing expired yet
    CHECK(cache.stats().entries == 3);
    cache.sweep(2 * kSec); // expired and unused: closed; in use: kept
    CHECK(fx.closed == std::vector<int>{121});
    CHECK(cache.stats().entries == 1);
    cache.unref(used);
    cache.sweep(2 * kSec);
    CHECK(fx.closed == std::vector<int>{121, 120});
    CHECK(cache.stats().entries == 0);

    fx.options.enabled = false;
    FileCache off = fx.make();
    CHECK(off.adopt("a", 130, stx_of(1), 0) == nullptr); // the caller keeps its descriptor
    off.remember_missing("b", ENOENT, 0);
    CHECK(off.find("b", 0) == nullptr);
    CHECK(off.stats().entries == 0);
}

TEST_CASE("file cache: bounded by entries and bytes, least recently used first")
{
    Fixture fx;
    fx.options.max_entries = 2;
    fx.options.max_body_bytes = 10;
    FileCache cache = fx.make();
    cache.unref(cache.adopt("a", 101, stx_of(4), 0));
    cache.unref(cache.adopt("b", 102, stx_of(4), 0));
    cache.unref(cache.find("a", 1)); // a is now the most recently used
    cache.unref(cache.adopt("c", 103, stx_of(4), 2));
    CHECK(fx.closed == std::vector<int>{102}); // b went
    CHECK(cache.stats().entries == 2);

    CachedFile* a = cache.find("a", 3);
    cache.set_body(a, "AAAA");
    CHECK(a->has_body);
    cache.set_body(a, "XXXX"); // once only
    CHECK(a->body == "AAAA");
    CachedFile* c = cache.find("c", 3);
    cache.set_body(c, "CC"); // not the file's size: refused
    CHECK_FALSE(c->has_body);
    cache.set_body(c, "CCCC");
    CHECK(cache.stats().body_bytes == 8);
    cache.unref(c);
    // Over the byte bound: the least recently used unused entry goes.
    cache.unref(cache.adopt("d", 104, stx_of(8), 4));
    CachedFile* d = cache.find("d", 5);
    cache.set_body(d, "DDDDDDDD");
    cache.unref(d);
    CHECK(cache.stats().body_bytes <= 10 + 4); // a is in use and stays
    CHECK(std::find(fx.closed.begin(), fx.closed.end(), 103) != fx.closed.end());
    cache.unref(a);
}

TEST_CASE("file cache: a body larger than the whole byte bound is never kept")
{
    Fixture fx;
    fx.options.max_body_bytes = 10;
    FileCache cache = fx.make();
    CachedFile* big = cache.adopt("big", 101, stx_of(11), 0);
    cache.set_body(big, "01234567890");
    CHECK_FALSE(big->has_body);
    CHECK(cache.stats().body_bytes == 0);
    CachedFile* fits = cache.adopt("fits", 102, stx_of(10), 0);
    cache.set_body(fits, "0123456789"); // exactly the bound: kept
    CHECK(fits->has_body);
    CHECK(cache.stats().body_bytes == 10);
    cache.unref(big);
    cache.unref(fits);
}

TEST_CASE("file cache: every entry in use, then one more: the new entry survives its own install")
{
    // Issue 16 A: install() added the new entry unreferenced and trimmed,
    // and with every other entry held by a stalled response the new one was
    // the only victim: adopt() wrote into freed memory and its descriptor
    // was never closed.
    Fixture fx;
    fx.options.max_entries = 2;
    FileCache cache = fx.make();
    CachedFile* a = cache.adopt("a", 101, stx_of(1), 0);
    CachedFile* b = cache.adopt("b", 102, stx_of(1), 0);
    CachedFile* c = cache.adopt("c", 103, stx_of(1), 0); // over the bound, nothing to evict
    REQUIRE(c != nullptr);
    CHECK(c->fd == 103);
    CHECK(c->refs == 1);
    CHECK(fx.closed.empty());
    CHECK(cache.stats().entries == 3); // over the bound while in use: at most one per response
    CachedFile* hit = cache.find("c", 1);
    CHECK(hit == c);
    cache.unref(hit);

    // A remembered failure with everything in use: kept or dropped, never a
    // dangling entry, and the bound holds again once it is unused.
    cache.remember_missing("m", ENOENT, 1);
    CHECK(cache.stats().entries <= 3);
    if (CachedFile* m = cache.find("m", 1)) {
        CHECK(m->err == ENOENT);
        cache.unref(m);
    }

    for (CachedFile* f : {a, b, c}) cache.unref(f);
    // Released entries go as new ones come: back to the bound, each
    // descriptor closed exactly once.
    cache.unref(cache.adopt("d", 104, stx_of(1), 2));
    CHECK(cache.stats().entries == 2);
    std::vector<int> closed = fx.closed;
    std::sort(closed.begin(), closed.end());
    CHECK(std::adjacent_find(closed.begin(), closed.end()) == closed.end());
    CHECK(closed.size() == 2);
}
