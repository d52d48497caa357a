#include "server/access_log_file.hpp"

#include "sys/error.hpp"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/base_sink.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <future>
#include <mutex>

namespace splicehttpd::server {

// Writes each message's text as it is (the line is formatted by the caller)
// into a buffer that goes out with write(2) when it fills and on flush (each
// second). Plain write, no stdio: nothing but write is needed once serving
// (stdio would stat the file). reopen() swaps the descriptor under the
// sink's own lock.
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit ReopenableFileSink(std::string path) : path_(std::move(path))
    {
        fd_ = open_log();
        if (fd_ < 0) sys::throw_errno("--access-log " + path_);
    }
    ~ReopenableFileSink() override
    {
        write_out();
        if (fd_ > STDERR_FILENO) ::close(fd_);
    }

    int reopen()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (path_ == "-") return 0;
        const int fd = open_log();
        if (fd < 0) return errno; // keep writing where we were rather than lose lines
        write_out();
        ::close(fd_);
        fd_ = fd;
        return 0;
    }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override
    {
        buf_.append(msg.payload.data(), msg.payload.size());
        if (buf_.size() >= kFlushAt) write_out();
    }
    void flush_() override { write_out(); }

private:
    static constexpr std::size_t kFlushAt = 32 * 1024;

    int open_log() const
    {
        if (path_ == "-") return STDOUT_FILENO;
        return ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    }
    void write_out() noexcept
    {
        std::size_t done = 0;
        while (done < buf_.size()) {
            const ssize_t n = ::write(fd_, buf_.data() + done, buf_.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break; // disk full or gone: drop the lines, never block serving
            done += std::size_t(n);
        }
        buf_.clear();
    }

    std::string path_;
    int fd_ = -1;
    std::string buf_;
};

AccessLogFile::AccessLogFile(const std::string& path) : sink_(std::make_shared<ReopenableFileSink>(path))
{
    // Wait until the writer thread runs: a thread still starting when the
    // seccomp filter goes in is killed by its first syscall (rseq).
    std::promise<void> started;
    pool_ = std::make_shared<spdlog::details::thread_pool>(16384, 1, [&started] { started.set_value(); });
    started.get_future().wait();
    logger_ =
        std::make_shared<spdlog::async_logger>("access", sink_, pool_, spdlog::async_overflow_policy::overrun_oldest);
    logger_->set_level(spdlog::level::info);
    // Lines wait in the sink's buffer until it fills or the next flush (the
    // workers' tick, each second).
    logger_->flush_on(spdlog::level::err);
}

AccessLogFile::~AccessLogFile()
{
    flush();
}

void AccessLogFile::write(std::string_view line)
{
    logger_->log(spdlog::level::info, spdlog::string_view_t(line.data(), line.size()));
}

int AccessLogFile::reopen()
{
    return sink_->reopen();
}

void AccessLogFile::flush()
{
    logger_->flush();
}

} // namespace splicehttpd::server
