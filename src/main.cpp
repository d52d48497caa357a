// splicehttpd: flags -> Config, listeners, one worker thread per ring, and
// the signal loop (SIGTERM/SIGINT stop, SIGUSR1 logs per-worker stats).
#include "config.hpp"
#include "server/access_log_file.hpp"
#include "server/listener.hpp"
#include "server/shared.hpp"
#include "server/worker.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using namespace splicehttpd;

struct WorkerThread {
    sys::UniqueFd wake;
    std::atomic<unsigned> commands{0};
    std::thread thread;

    void post(unsigned command)
    {
        commands.fetch_or(command);
        const std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(wake.get(), &one, sizeof one);
    }
};

[[noreturn]] void die(int code, const std::string& message)
{
    std::fprintf(stderr, "splicehttpd: %s\n", message.c_str());
    std::fflush(stderr);
    std::_Exit(code);
}

std::string make_boundary()
{
    unsigned char bytes[12];
    if (getrandom(bytes, sizeof bytes, 0) != ssize_t(sizeof bytes)) {
        for (auto& b : bytes) b = static_cast<unsigned char>(std::rand());
    }
    std::string out;
    for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
    return out;
}

// Each ring's fixed-file table (one socket slot per connection) must fit in
// RLIMIT_NOFILE, with room left for the files being served, pipes and the
// listener: raise the soft limit, and if even the hard one is too low, serve
// fewer connections rather than fail to start.
void fit_fixed_file_tables(Config& config)
{
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    constexpr rlim_t kReserve = 64;
    const rlim_t most = rl.rlim_cur > 2 * kReserve ? rl.rlim_cur - kReserve : rl.rlim_cur / 2;
    if (rl.rlim_cur != RLIM_INFINITY && config.max_conns > most) {
        spdlog::warn("RLIMIT_NOFILE {} holds {} connections per thread, not --max-conns {}", rl.rlim_cur, most,
                     config.max_conns);
        config.max_conns = unsigned(std::max<rlim_t>(most, 1));
    }
}

} // namespace

int main(int argc, char** argv)
{
    CliOutcome cli = parse_command_line(argc, argv);
    if (!cli.config) return cli.exit_code;

    auto shared = std::make_unique<server::Shared>();
    shared->config = *cli.config;
    Config& config = shared->config;

    // Logs go to stderr (spdlog's default logger writes to stdout).
    spdlog::set_default_logger(spdlog::stderr_color_mt("splicehttpd"));
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%f %^%l%$ %v");
    spdlog::set_level(spdlog::level::from_str(config.log_level));

    // Opened before the sandbox closes the filesystem; reopened on SIGHUP.
    std::unique_ptr<server::AccessLogFile> access_log;
    if (!config.access_log.empty()) {
        try {
            access_log = std::make_unique<server::AccessLogFile>(config.access_log);
        } catch (const std::system_error& e) {
            die(2, e.what());
        }
        shared->access_log = access_log.get();
    }

    sys::UniqueFd root(::open(config.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) die(2, fmt::format("--root {}: {}", config.root, std::strerror(errno)));
    shared->root_fd = root.get();

    auto address = server::parse_listen_address(config.listen, config.port);
    if (!address) die(2, fmt::format("--listen {}: not an IPv4 or IPv6 address", config.listen));

    // Peer resets surface as -EPIPE in CQEs; the signal would kill us.
    signal(SIGPIPE, SIG_IGN);
    // Only this thread takes SIGTERM/SIGINT/SIGUSR1 (sigwait below); the
    // workers inherit the mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGUSR1);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    fit_fixed_file_tables(config);

    std::vector<sys::UniqueFd> listeners;
    try {
        // Socket activation: the workers share the sockets systemd passed.
        listeners = server::activated_listeners(*address, {config.threads});
        if (listeners.empty()) listeners = server::open_listeners(*address, {config.threads});
        config.threads = unsigned(listeners.size());
    } catch (const std::system_error& e) {
        die(1, e.what());
    }

    shared->mime = http::MimeTable("/etc/mime.types");
    shared->boundary = make_boundary();

    std::vector<std::unique_ptr<WorkerThread>> workers;
    std::vector<std::future<void>> ready;
    for (unsigned i = 0; i < config.threads; ++i) {
        auto w = std::make_unique<WorkerThread>();
        w->wake.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!w->wake) die(1, fmt::format("eventfd: {}", std::strerror(errno)));
        auto promise = std::make_shared<std::promise<void>>();
        ready.push_back(promise->get_future());
        // The ring is created inside its thread: with SINGLE_ISSUER and
        // DEFER_TASKRUN only the creating task may submit and wait.
        w->thread = std::thread([i, &shared = *shared, fd = std::move(listeners[i]), wake = w->wake.get(),
                                 &commands = w->commands, promise]() mutable {
            std::unique_ptr<server::Worker> worker;
            try {
                worker = std::make_unique<server::Worker>(i, shared, std::move(fd), wake, commands);
            } catch (...) {
                promise->set_exception(std::current_exception());
                return;
            }
            promise->set_value();
            worker->run();
        });
        workers.push_back(std::move(w));
    }

    std::string failure;
    for (auto& f : ready) {
        try {
            f.get();
        } catch (const std::exception& e) {
            if (failure.empty()) failure = e.what();
        }
    }
    if (!failure.empty()) {
        for (auto& w : workers) w->post(server::kCommandStop);
        for (auto& w : workers) w->thread.join();
        die(1, failure);
    }

    spdlog::info("listening on {} ({} threads, root {})", address->url(), config.threads, config.root);

    while (true) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0) continue;
        if (sig == SIGUSR1) {
            for (auto& w : workers) w->post(server::kCommandStats);
            continue;
        }
        if (sig == SIGHUP) {
            if (access_log) access_log->reopen(); // logrotate moved it
            spdlog::info("SIGHUP: {}", access_log ? "access log reopened" : "nothing to reopen");
            continue;
        }
        spdlog::info("{}: finishing in-flight responses", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    for (auto& w : workers) w->post(server::kCommandStop);
    for (auto& w : workers) w->thread.join();
    spdlog::info("stopped");
    return 0;
}
