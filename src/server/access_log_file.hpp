// Where access log lines go: a file (or stdout for "-"), written by spdlog's
// async logger on its own thread, so a worker's ring never waits on a disk.
// When the queue is full the oldest lines are dropped rather than stall a
// worker. SIGHUP reopens the file (after logrotate moved it).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class async_logger;
namespace details {
class thread_pool;
}
} // namespace spdlog

namespace splicehttpd::server {

class ReopenableFileSink;

class AccessLogFile {
public:
    // Opens (creates, appends to) path; "-" is stdout. Throws std::system_error.
    explicit AccessLogFile(const std::string& path);
    AccessLogFile(const AccessLogFile&) = delete;
    AccessLogFile& operator=(const AccessLogFile&) = delete;
    ~AccessLogFile(); // writes out what is queued

    // One whole line, newline included. Thread-safe.
    void write(std::string_view line);
    // Thread-safe; lines already queued go to the new file. Returns 0, or
    // the errno of the open that failed: then lines keep going to the file
    // open before (a rotated one, say).
    [[nodiscard]] int reopen();
    void flush();

private:
    std::shared_ptr<ReopenableFileSink> sink_;
    std::shared_ptr<spdlog::details::thread_pool> pool_;
    std::shared_ptr<spdlog::async_logger> logger_;
};

} // namespace splicehttpd::server
