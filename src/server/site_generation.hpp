// The sites as one reload made them: the table that chooses a site by Host,
// each site's settings, and each site's root descriptor. main() builds the
// first at start-up and a new one on each SIGHUP that re-reads a valid
// configuration; a worker adopts the newest at its next wake-up, and a
// request holds the generation it started with until its response is done
// (its root descriptor stays open for the lookups in flight; the last holder
// closes it).
#pragma once

#include "http/mime.hpp"
#include "sites.hpp"
#include "sys/unique_fd.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace splicehttpd::server {

struct SiteGeneration {
    std::uint32_t number = 0;           // 0 at start-up, one more per reload
    std::shared_ptr<const Sites> table; // Host -> site; every site's settings
    SiteSettings top;                   // the top level's: what no site answers gets its headers
    std::vector<sys::UniqueFd> roots;   // O_PATH, by index in table->all()
    // File name -> Content-Type: /etc/mime.types as read at start-up, under
    // --mime-types as read by this generation (a reload re-reads it).
    std::shared_ptr<const http::MimeTable> mime;
};

// Where main() publishes a new generation for the workers.
class SiteGenerationHolder {
public:
    [[nodiscard]] std::shared_ptr<const SiteGeneration> get() const
    {
        std::lock_guard lock(mutex_);
        return current_;
    }
    void set(std::shared_ptr<const SiteGeneration> generation)
    {
        std::lock_guard lock(mutex_);
        current_ = std::move(generation);
    }

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const SiteGeneration> current_;
};

} // namespace splicehttpd::server
