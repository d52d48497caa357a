#include "metrics/board.hpp"

#include "metrics/prometheus.hpp"

namespace splicehttpd::metrics {

void Board::publish(unsigned worker, const WorkerSample& sample)
{
    if (worker >= slots_.size()) return;
    std::lock_guard lock(slots_[worker].mutex);
    slots_[worker].sample = sample;
}

std::string Board::render() const
{
    std::vector<WorkerSample> samples;
    samples.reserve(slots_.size());
    for (const Slot& s : slots_) {
        std::lock_guard lock(s.mutex);
        samples.push_back(s.sample);
    }
    std::vector<std::string> ids;
    for (std::size_t w = 0; w < samples.size(); ++w) ids.push_back(std::to_string(w));

    Exposition e;
    static constexpr const char* kClass[WorkerSample::kClasses] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    static constexpr const char* kMethod[WorkerSample::kMethods] = {"GET", "HEAD", "other"};
    e.family("splicehttpd_requests_total", MetricType::Counter, "Responses finished, by status class and method.");
    for (std::size_t w = 0; w < samples.size(); ++w)
        for (std::size_t c = 0; c < WorkerSample::kClasses; ++c)
            for (std::size_t m = 0; m < WorkerSample::kMethods; ++m)
                e.sample({{"worker", ids[w]}, {"class", kClass[c]}, {"method", kMethod[m]}}, samples[w].requests[c][m]);

    // One family per field: (name, type, help, the field).
    struct Field {
        const char* name;
        MetricType type;
        const char* help;
        std::uint64_t WorkerSample::*value;
    };
    static constexpr Field kFields[] = {
        {"splicehttpd_sent_bytes_total", MetricType::Counter, "Response bytes the peers took.",
         &WorkerSample::bytes_sent},
        {"splicehttpd_bodies_inline_total", MetricType::Counter,
         "File bodies sent from memory (read inline, or the open-file cache's copy).", &WorkerSample::bodies_inline},
        {"splicehttpd_bodies_spliced_total", MetricType::Counter, "File bodies spliced through a pipe.",
         &WorkerSample::bodies_spliced},
        {"splicehttpd_connections_accepted_total", MetricType::Counter, "Connections accepted.",
         &WorkerSample::accepted},
        {"splicehttpd_connections_refused_total", MetricType::Counter,
         "Connections closed at once by --max-conns-per-ip.", &WorkerSample::refused_per_ip},
        {"splicehttpd_cache_hits_total", MetricType::Counter, "Open-file cache lookups that found the file.",
         &WorkerSample::cache_hits},
        {"splicehttpd_cache_misses_total", MetricType::Counter, "Open-file cache lookups that did not.",
         &WorkerSample::cache_misses},
        {"splicehttpd_connections_open", MetricType::Gauge, "Connections open now.", &WorkerSample::connections},
        {"splicehttpd_pipes", MetricType::Gauge, "Pipes in the worker's pool.", &WorkerSample::pipes},
        {"splicehttpd_pipes_in_use", MetricType::Gauge, "Pipes lent to responses or draining.",
         &WorkerSample::pipes_in_use},
        {"splicehttpd_pipe_waiters", MetricType::Gauge, "Responses waiting for a pipe.", &WorkerSample::pipe_waiters},
        {"splicehttpd_cached_files", MetricType::Gauge, "Files in the open-file cache.", &WorkerSample::cached_files},
        {"splicehttpd_io_workers", MetricType::Gauge, "The io-wq worker bound of the worker's ring (--io-workers).",
         &WorkerSample::io_workers},
    };
    for (const Field& f : kFields) {
        e.family(f.name, f.type, f.help);
        for (std::size_t w = 0; w < samples.size(); ++w) e.sample({{"worker", ids[w]}}, samples[w].*f.value);
    }
    return e.text();
}

} // namespace splicehttpd::metrics
