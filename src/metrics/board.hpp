// What /metrics reports (--metrics-listen): each worker counts on its own
// thread, in plain integers, and publishes a copy here once a second (its
// tick) and when it stops; a scrape renders the last copies. So reading the
// metrics costs a worker one short lock a second, never anything per
// request, and a scrape sees values at most a second old (Prometheus scrapes
// every 15 s or so).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace splicehttpd::metrics {

// Counters only grow; the rest are gauges (what is true now).
struct WorkerSample {
    static constexpr std::size_t kClasses = 5; // 1xx .. 5xx
    static constexpr std::size_t kMethods = 3; // GET, HEAD, other
    std::array<std::array<std::uint64_t, kMethods>, kClasses> requests{};
    std::uint64_t bytes_sent = 0;     // response bytes the peers took (heads and bodies)
    std::uint64_t bodies_inline = 0;  // file bodies sent from memory (read inline, or the cache's copy)
    std::uint64_t bodies_spliced = 0; // file bodies through a pipe
    std::uint64_t accepted = 0;
    std::uint64_t refused_per_ip = 0; // --max-conns-per-ip
    std::uint64_t cache_hits = 0;
    std::uint64_t cache_misses = 0;
    // gauges
    std::uint64_t connections = 0; // open now
    std::uint64_t pipes = 0;
    std::uint64_t pipes_in_use = 0;
    std::uint64_t pipe_waiters = 0;
    std::uint64_t cached_files = 0;
    std::uint64_t io_workers = 0; // the io-wq bound this worker's ring was given (--io-workers)

    // A response is done: its status, method (0 GET, 1 HEAD, 2 other) and
    // the bytes the peer took.
    void count_response(int status, unsigned method, std::uint64_t bytes) noexcept
    {
        if (status >= 100 && status < 600) ++requests[std::size_t(status / 100 - 1)][method < kMethods ? method : 2];
        bytes_sent += bytes;
    }
};

class Board {
public:
    explicit Board(unsigned workers) : slots_(workers) {}

    void publish(unsigned worker, const WorkerSample& sample);
    // The Prometheus text (metrics/prometheus.hpp) of every worker's last copy.
    [[nodiscard]] std::string render() const;

private:
    struct Slot {
        mutable std::mutex mutex;
        WorkerSample sample;
    };
    std::vector<Slot> slots_;
};

} // namespace splicehttpd::metrics
