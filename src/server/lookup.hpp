// The lookup of a request's path: openat2 beneath the root (and of its
// precompressed siblings, when the client and the type want them), then
// statx of each descriptor that opened; the open-file cache answers hot
// paths without the ring. It owns the paths, the statx buffers and the
// descriptors while they are in flight, and decides what the completions
// mean (http::decide_lookup): a file to serve, a status to answer (after
// --fallback and --error-page had their turn), a redirect, or a directory
// to list. It never calls its connection: every entry returns what
// happened, and the connection chooses its next state.
//
// The descriptors are plain ones, not fixed slots: io_uring's statx takes no
// fixed file, and metadata must come from the descriptor itself (a statx by
// path after the open could describe a file renamed into place in between,
// or follow a symlink out of the root).
#pragma once

#include "http/file_lookup.hpp"
#include "http/file_response.hpp"
#include "http/mime.hpp"
#include "http/route.hpp"
#include "server/dir_lister.hpp"
#include "server/file_cache.hpp"
#include "server/submitter.hpp"

#include <linux/openat2.h>
#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace splicehttpd::server {

// Built once by the worker from the configuration.
struct LookupOptions {
    int root_fd = -1;              // O_PATH directory every path is relative to
    std::string_view cache_prefix; // put before the path in the open-file cache's key: the site's own ("" for one site)
    const http::MimeTable* mime = nullptr;                    // which types have precompressed siblings
    bool precompressed = true;                                // look for x.br / x.gz
    bool autoindex = false;                                   // a directory without index.html is listed
    std::string_view fallback;                                // --fallback, relative to the root ("": off)
    std::span<const std::string> fallback_prefixes;           // --fallback-prefix (none: anywhere)
    std::span<const std::pair<int, std::string>> error_pages; // --error-page STATUS=/path
    bool debug = false; // --debug: say why a precompressed sibling was passed over
};

// The file a lookup found, handed to the sender, which lets go of it when
// the response is done.
struct FoundFile {
    int fd = -1;                  // the body's descriptor
    CachedFile* cached = nullptr; // the cache entry holding fd (and maybe the bytes); null: fd is the holder's to close
    http::FileMeta meta;          // views into the cache entry and static text
    std::string_view path;        // the path served, relative to the root (the lookup's, until its next one)
    int as_status = 0;            // --error-page: sent whole with this status; 0: an ordinary file response
};

class Lookup {
public:
    // What a lookup works with, lent for one call.
    struct Env {
        Submitter& ops;
        FileCache& cache;
        const LookupOptions& options;
        const http::Route& route; // the request being answered
        std::uint64_t now_ns;
    };

    struct Result {
        enum class Kind : std::uint8_t {
            Pending,  // completions are still to come (on_cqe)
            Serve,    // take(variant) the file and send it
            Respond,  // answer status (nothing left open)
            Redirect, // status with the route's slash location
            List,     // a directory without index.html, --autoindex: ask the lister, then on_lister()
            Page,     // the listing to send: take_page()
            Busy,     // the lister is full: 503 with Retry-After
        };
        Kind kind = Kind::Pending;
        int status = 0;
        http::Variant variant = http::kIdentity; // Serve
        friend bool operator==(const Result&, const Result&) = default;
    };

    // Looks up the route's path (its index.html for a directory).
    Result start(const Env& env) noexcept;
    // An openat2 or statx of this lookup completed. With carry_on false (the
    // connection is closing) nothing more is submitted; what opened is kept
    // for close_all().
    Result on_cqe(uring::Op op, std::uint8_t variant, int res, const Env& env, bool carry_on) noexcept;
    // status is to be answered: a 404 looks up --fallback once, a status with
    // an --error-page looks that up once; else Respond. 0 after either: the
    // page or the fallback is missing, the status that sent us looking.
    Result answer(int status, const Env& env) noexcept;

    // Serve: the variant's file, now the caller's; the other descriptors close.
    FoundFile take(http::Variant variant, const Env& env) noexcept;
    // List: the directory, opened beneath the root. A lister that takes the
    // descriptor sets it to -1.
    [[nodiscard]] int& dir_fd() noexcept { return fds_[http::kIdentity]; }
    [[nodiscard]] const struct statx& dir_stat() const noexcept { return stx_[http::kIdentity]; }
    // What the lister said (DirLister::find_or_queue): the page now (Page),
    // later through on_listing (Pending), or Busy.
    Result on_lister(DirLister::Answer answer, const Env& env) noexcept;
    // The page the lister thread rendered under ticket, or nullptr when
    // reading the directory failed with err (a status to answer). Another
    // ticket's (a listing this lookup no longer waits for): Pending.
    Result on_listing(std::uint32_t ticket, std::shared_ptr<const http::Listing> page, int err,
                      const Env& env) noexcept;
    [[nodiscard]] bool waits_for_listing() const noexcept { return ticket_ != 0; }
    // The wait is over (its deadline passed): a page that comes later only
    // goes to the lister's cache.
    void forget_listing() noexcept { ticket_ = 0; }
    [[nodiscard]] std::shared_ptr<const http::Listing> take_page() noexcept { return std::move(page_); }

    // Closes what the lookup still holds (through the ring) and lets go of
    // its cache entries.
    void close_all(Submitter& ops, FileCache& cache) noexcept { close_all_but(-1, ops, cache); }

    // Why the request's own path was not served, for the error log (a
    // --fallback that answered it clears it; an --error-page sent for it
    // does not, as nginx logs the failure behind its error_page).
    struct Failure {
        enum class Kind : std::uint8_t {
            None,
            Errno,          // openat2 (or statx) said err
            NotRegular,     // a FIFO, socket or device
            DirectoryIndex, // a directory without index.html, no --autoindex
            ListDir,        // --autoindex: the lister thread could not read it (err)
        };
        Kind kind = Kind::None;
        int err = 0;
    };
    [[nodiscard]] const Failure& failure() const noexcept { return failure_; }
    // The path that failed, relative to the root ("." for the root).
    [[nodiscard]] std::string_view failed_path() const noexcept { return failed_path_; }

    [[nodiscard]] unsigned in_flight() const noexcept { return pending_; }
    [[nodiscard]] unsigned open_files() const noexcept;
    // Ready for the next request (nothing in flight, nothing held).
    void reset() noexcept;

private:
    // Looks up dir/name (name may be empty: dir itself).
    Result submit(http::LookupStep step, std::string_view dir, std::string_view name, const Env& env) noexcept;
    Result submit_statx(const Env& env) noexcept;
    Result decide(const Env& env) noexcept;
    void close_all_but(int keep, Submitter& ops, FileCache& cache) noexcept;
    void note_failure(const http::Candidate& file, const http::LookupVerdict& verdict);

    http::LookupStep step_ = http::LookupStep::Primary;
    int pending_status_ = 0;                                // Fallback, ErrorPage: the status that sent us looking
    unsigned pending_ = 0;                                  // completions still to come
    std::string served_path_;                               // the path whose siblings are looked for
    std::array<std::string, http::kVariantCount> paths_;    // cache_prefix + path; outlive their SQEs
    std::array<struct statx, http::kVariantCount> stx_{};   // written by the kernel
    std::array<int, http::kVariantCount> open_res_{};       // what each openat2 said
    std::array<int, http::kVariantCount> statx_res_{};      // what each statx said
    std::array<int, http::kVariantCount> fds_{-1, -1, -1};  // opened by this lookup
    std::array<CachedFile*, http::kVariantCount> cached_{}; // found in (or given to) the cache
    std::array<bool, http::kVariantCount> opened_{};        // looked up through the ring
    open_how how_{};                                        // read by the kernel at submit
    std::uint32_t ticket_ = 0;                              // --autoindex: the listing waited for (0: none)
    std::shared_ptr<const http::Listing> page_;             // Page: until taken
    Failure failure_;
    std::string failed_path_; // its buffer is reused request after request
};

} // namespace splicehttpd::server
