// --autoindex off the ring thread. getdents64 has no io_uring opcode, and a
// directory of many thousand entries takes milliseconds to read and stat
// (10,000 files on ext4, dentries warm: 25-35 ms from getdents64 to the
// rendered 990 KB page; served from the cache: 1.3 ms end to end), so
// each worker has one lister thread: the worker hands it a directory
// descriptor its lookup opened through the ring (openat2 RESOLVE_BENEATH,
// statx said "directory"), the thread reads it with getdents64 and fstatat
// (AT_SYMLINK_NOFOLLOW), renders the HTML (http/autoindex) and closes the
// descriptor, then writes the worker's listing eventfd, whose read the
// worker keeps armed on its ring. The worker then hands the listing to the
// connection that asked, if it still waits.
// At most options.listing.max_entries entries are kept (and stat'ed); the
// rest are only counted, for the note at the end of the listing.
//
// Listings are cached on the worker's side, keyed by the directory's
// (dev, ino, mtime, ctime) and the request path the page names (a symlinked
// alias of a directory shows its own path, not the target's), for
// --cache-ttl-ms (a file in the directory that grows shows within that
// long, as for the file cache), bounded in entries and bytes. Two cold
// requests for the same directory at once read it twice.
//
// Bounded against clients that ask and then stall: a page is shared by
// every response that sends it (never copied per client) and is at most
// ListingOptions::max_bytes; the pages alive on a worker (cached, or held by
// responses in flight) are at most memory_budget bytes, and at most
// kMaxJobs directories wait for or are in the thread. Past either bound a
// request is refused (the connection answers 503 with Retry-After); the
// cache gives up unused pages first to make room.
#pragma once

#include "http/autoindex.hpp"

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace splicehttpd::server {

struct DirListerOptions {
    http::ListingOptions listing;
    bool cache = true;
    std::uint64_t ttl_ns = 1'000'000'000;
    std::size_t cache_entries = 64;        // listings kept per worker
    std::size_t cache_bytes = 16u << 20;   // bytes of listings kept per worker
    std::size_t memory_budget = 32u << 20; // --listing-memory: bytes of pages alive per worker
    unsigned worker = 0;                   // for log lines
};

class DirLister {
public:
    // Starts the thread and waits until it runs (before the seccomp filter
    // goes in, a thread still starting would be killed by its first syscall).
    // Throws std::system_error. last_ticket: where the ticket counter
    // starts (the first ticket is the one after it); a worker starts at 0,
    // the unit test next to the wrap.
    explicit DirLister(const DirListerOptions& options, std::uint32_t last_ticket = 0);
    DirLister(const DirLister&) = delete;
    DirLister& operator=(const DirLister&) = delete;
    ~DirLister(); // stops the thread; descriptors still queued are closed

    // The eventfd the worker keeps a read armed on, and where that read lands.
    [[nodiscard]] int event_fd() const noexcept { return event_fd_; }
    std::uint64_t* event_buf() noexcept { return &event_buf_; }

    // Directories waiting for the thread, or in it, at most.
    static constexpr std::size_t kMaxJobs = 16;

    struct Answer {
        enum class Kind : std::uint8_t { Ready, Queued, Refused };
        Kind kind = Kind::Refused;
        std::shared_ptr<const http::Listing> listing; // Ready
        std::uint32_t ticket = 0;                     // Queued: what take_done() will name
    };
    // On the worker's thread. Ready: a fresh cached listing of the directory
    // stx describes, as rel_path names it (dir_fd is left alone: the caller
    // closes it). Queued: the lister thread takes dir_fd (set to -1) and the
    // listing comes back through take_done() for (index, gen, ticket).
    // Refused: the queue or the memory budget is full (dir_fd left alone).
    // dotfiles: the site lists names starting with '.' (part of the key:
    // two sites may list one directory differently).
    Answer find_or_queue(std::uint32_t index, std::uint16_t gen, int& dir_fd, const struct statx& stx,
                         std::string_view rel_path, bool dotfiles, std::uint64_t now_ns);

    struct Done {
        std::uint32_t index = 0;
        std::uint16_t gen = 0;
        std::uint32_t ticket = 0;
        std::shared_ptr<const http::Listing> listing; // nullptr: reading failed with err
        int err = 0;
    };
    // On the worker's thread, after its eventfd read completed: the listings
    // rendered since, which also go into the cache.
    std::vector<Done> take_done(std::uint64_t now_ns);

    // Bytes of the pages alive now (cached or held by a response).
    [[nodiscard]] std::size_t live_bytes() const noexcept { return live_bytes_.load(std::memory_order_relaxed); }

private:
    struct Key {
        std::uint32_t dev_major = 0, dev_minor = 0;
        std::uint64_t ino = 0;
        std::int64_t mtime_sec = 0, ctime_sec = 0;
        std::uint32_t mtime_nsec = 0, ctime_nsec = 0;
        bool dotfiles = false; // listed with them
        friend bool operator==(const Key&, const Key&) = default;
    };
    struct Job {
        std::uint32_t index = 0;
        std::uint16_t gen = 0;
        std::uint32_t ticket = 0;
        int fd = -1;
        Key key;
        std::string rel_path;
    };
    struct Finished {
        Done done;
        Key key;
        std::string rel_path;
    };
    struct Cached {
        Key key;
        std::string rel_path; // the page names it: part of the key
        std::uint64_t fetched_ns = 0;
        std::shared_ptr<const http::Listing> listing;
    };

    static Key key_of(const struct statx& stx, bool dotfiles) noexcept;
    void run(); // the thread
    Finished list(Job& job);
    void remember(const Key& key, std::string rel_path, std::shared_ptr<const http::Listing> listing,
                  std::uint64_t now_ns);
    // Drops cached pages no response holds, oldest first, until the pages
    // alive fit the budget with `room` bytes to spare (or none is left to drop).
    void make_room(std::size_t room) noexcept;
    void forget(std::deque<Cached>::iterator it) noexcept;

    const DirListerOptions options_;
    int event_fd_ = -1;
    std::uint64_t event_buf_ = 0;
    // Pages alive: added by the thread as it renders one, taken off by
    // whichever thread drops the last reference (the page's deleter). Before
    // everything that holds pages, so that it outlives them.
    std::atomic<std::size_t> live_bytes_{0};

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> jobs_;       // guarded by mutex_
    std::vector<Finished> done_; // guarded by mutex_
    bool stop_ = false;          // guarded by mutex_
    std::vector<char> dirents_;  // the thread's getdents64 buffer
    std::thread thread_;

    std::deque<Cached> cache_; // the worker's thread only; oldest first
    std::size_t cache_bytes_ = 0;
    std::size_t jobs_out_ = 0;  // the worker's thread only: queued, not yet taken back
    std::uint32_t next_ticket_; // the worker's thread only: the last ticket handed out
};

} // namespace splicehttpd::server
