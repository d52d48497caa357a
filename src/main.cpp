// splicehttpd: flags -> Config, the kernel probe, listeners, one worker thread
// per ring, the sandbox, and the signal loop (SIGTERM/SIGINT stop, a second
// one exits at once, SIGUSR1 logs per-worker stats).
#include "config.hpp"
#include "fit_limits.hpp"
#include "https_setup.hpp"
#include "metrics/board.hpp"
#include "plural.hpp"
#include "preflight.hpp"
#include "reload.hpp"
#include "server/access_log_file.hpp"
#include "server/client_limit.hpp"
#include "server/listener.hpp"
#include "server/setup.hpp"
#include "server/site_files.hpp"
#include "server/worker.hpp"
#include "sys/sandbox.hpp"
#include "uring/ring.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <future>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

namespace {

// ASan's and LSan's runtimes make syscalls of their own (sigaltstack per
// thread, ptrace at exit, pipes to probe memory), and so does TSan's (its
// background thread sleeps and reads /proc), that no allow list of the
// server's steady state can foresee: a sanitizer build serves without seccomp.
#if defined(__SANITIZE_ADDRESS__)
#define SPLICEHTTPD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPLICEHTTPD_ASAN 1
#endif
#endif
#ifndef SPLICEHTTPD_ASAN
#define SPLICEHTTPD_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define SPLICEHTTPD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPLICEHTTPD_TSAN 1
#endif
#endif
#ifndef SPLICEHTTPD_TSAN
#define SPLICEHTTPD_TSAN 0
#endif
constexpr bool kSanitizerBuild = SPLICEHTTPD_ASAN || SPLICEHTTPD_TSAN;

} // namespace

#if SPLICEHTTPD_ASAN
// LeakSanitizer stops the world with ptrace, which the sandbox (no-new-privs,
// Landlock) refuses: it would fail the exit of every sanitized run, including
// those started by tools (systemd-socket-activate) that pass no ASAN_OPTIONS.
extern "C" const char* __asan_default_options()
{
    return "detect_leaks=0";
}
#endif

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

// Root reads every file beneath --root, a mode-000 one too: started as root
// without --user, serve as nobody unless --allow-root. nobody rather than
// www-data: a static server should not read what a tree grants the web
// server's group only (an application's 0640 configuration, say);
// --user www-data asks for that.
constexpr const char* kDefaultUser = "nobody";

std::optional<sys::Identity> serving_identity(const Config& config)
{
    const bool root = geteuid() == 0;
    if (config.user.empty() && (!root || config.allow_root)) return std::nullopt;
    if (!root) die(2, fmt::format("--user {}: only root can switch users", config.user));
    try {
        return sys::lookup_user(config.user.empty() ? kDefaultUser : config.user);
    } catch (const std::exception& e) {
        if (config.user.empty())
            die(2, fmt::format("started as root without --user: no user {} to switch to ({}); pass --user NAME or "
                               "--allow-root",
                               kDefaultUser, e.what()));
        die(2, e.what());
    }
}

} // namespace

int main(int argc, char** argv)
{
    CliOutcome cli = parse_command_line(argc, argv);
    if (!cli.config) return cli.exit_code;

    if (cli.config->check_only) {
        // As nginx -t: the first problem as one line and 1, or 0.
        const Preflight checked = preflight(*cli.config, true);
        if (!checked.error.empty()) {
            std::fprintf(stderr, "splicehttpd: %s\n", checked.error.c_str());
            return 1;
        }
        for (const std::string& warning : checked.warnings)
            std::fprintf(stderr, "splicehttpd: warning: %s\n", warning.c_str());
        const Config& c = *cli.config;
        std::printf("splicehttpd: %s: ok (%s, %s)\n",
                    c.config_file.empty() ? "the command line" : c.config_file.c_str(),
                    plural(c.site_table->all().size(), "site").c_str(), plural(c.listeners.size(), "listener").c_str());
        return 0;
    }

    auto shared = std::make_unique<server::ServerSetup>();
    shared->config = *cli.config;
    // What SIGHUP re-reads, and what it compares the new settings with.
    const std::vector<std::string> args(argv + 1, argv + argc);
    const Config started = *cli.config;
    Config& config = shared->config;

    // Logs go to stderr (spdlog's default logger writes to stdout).
    spdlog::set_default_logger(spdlog::stderr_color_mt("splicehttpd"));
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%f %^%l%$ %v");
    spdlog::set_level(spdlog::level::from_str(config.log_level));

    // A bad setting is a bad flag: one line, exit 2, before anything (the
    // same checks as --check-config's, but for the site files: those are
    // checked as the serving user below, and only warned about).
    if (const Preflight checked = preflight(config, false); !checked.error.empty())
        die(2, checked.error);
    else
        for (const std::string& warning : checked.warnings) spdlog::warn("{}", warning);
    // /etc/mime.types once (a reload keeps it); --mime-types over it, which a
    // reload reads again.
    const http::MimeTable system_types("/etc/mime.types");
    auto mime = std::make_shared<http::MimeTable>(system_types);
    if (std::string error; !config.mime_types.empty() && !mime->override_from(config.mime_types, error))
        die(2, config.where("mime-types") + " " + error);

    // The time zone is read now: after start-up /etc/localtime is out of reach.
    tzset();

    // HTTPS takes and gives back 16-66 KiB buffers per response (OpenSSL's
    // record buffers, which it releases between records, and the session's
    // output blocks). Freed at the top of a worker's heap, they made glibc
    // hand the pages back (madvise) on every turn of the ring once a few
    // dozen connections were busy (one madvise per io_uring_enter in
    // tls-1k-ka), and the next responses faulted them in again. The heap
    // keeps up to 32 MiB instead; MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES
    // in the environment still decide where given.
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    if (!std::getenv("MALLOC_TRIM_THRESHOLD_") && !(tunables && std::strstr(tunables, "trim_threshold")))
        mallopt(M_TRIM_THRESHOLD, 32 << 20);

    // Before anything else: one clear line and exit 1 where io_uring cannot
    // serve (disabled, filtered, too old, an opcode missing).
    uring::set_restricted(config.sandbox);
    const uring::KernelCheck kernel = uring::check_kernel();
    if (!kernel.problem.empty()) die(1, kernel.problem);

    const std::optional<sys::Identity> identity = serving_identity(config);

    if (identity || geteuid() != 0) fit_pipe_size(config);

    // Each site's root, opened once (and again on SIGHUP): every lookup is
    // beneath one of them.
    server::SiteGenerationHolder site_holder;
    std::string sites_error;
    std::shared_ptr<const server::SiteGeneration> first_sites =
        open_site_generation(config, 0, std::move(mime), sites_error);
    if (!first_sites) die(2, sites_error);
    site_holder.set(first_sites);
    shared->sites = &site_holder;

    // --tls-port's address: the first TCP --listen's (preflight: there is one).
    server::ListenAddress address = config.listeners.front();
    for (const auto& l : config.listeners)
        if (!l.is_unix()) {
            address = l;
            break;
        }

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
    // Waited for at exit only (SocketRemover::remove_now).
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, nullptr);

    // HTTPS first: still as root (keys are often root-only), before Landlock;
    // a pair that cannot serve binds nothing.
    std::optional<HttpsStart> https;
    if (serves_https(config)) {
        try {
            https = start_https(config);
        } catch (const std::system_error& e) {
            die(1, e.what());
        } catch (const std::exception& e) {
            die(2, e.what()); // a pair that cannot serve is a bad flag
        }
        for (const std::string& w : https->warnings) spdlog::warn("{}", w);
        spdlog::info("{}", https->body_path);
        shared->tls = https->contexts.get();
        shared->kernel_tls = https->kernel_tls;
    }

    // listeners[worker]: its socket for each --listen address, then --tls-port's.
    std::vector<std::vector<server::ListenSocket>> listeners;
    std::string urls;
    server::SocketRemover socket_remover;
    std::vector<server::UnixSocketFile> files; // until socket_remover has them
    try {
        // Socket activation: the workers share the sockets systemd passed.
        std::vector<sys::UniqueFd> activated = server::activated_listeners(address, {config.threads});
        std::vector<std::string> seen;
        const auto show = [&](std::string url) {
            // Every socket for the start line (the workers' may be copies of one).
            if (std::find(seen.begin(), seen.end(), url) != seen.end()) return;
            urls += (seen.empty() ? "" : ", ") + url;
            seen.push_back(std::move(url));
        };
        std::vector<server::ListenAddress> wanted;
        if (!activated.empty()) {
            config.threads = unsigned(activated.size());
            // An inherited socket speaks TLS where a --listen address with
            // tls names it (systemd binds, the options are still ours).
            std::vector<bool> matched(config.listeners.size(), false);
            for (auto& fd : activated) {
                server::ListenAddress local = server::local_address(fd.get());
                for (std::size_t i = 0; i < config.listeners.size(); ++i)
                    if (server::same_socket_address(config.listeners[i], local)) {
                        local.tls = config.listeners[i].tls;
                        matched[i] = true;
                    }
                show(local.url());
                listeners.emplace_back().push_back({std::move(fd), local.tls});
            }
            for (std::size_t i = 0; i < config.listeners.size(); ++i)
                if (config.listeners[i].tls && !matched[i])
                    spdlog::warn("--listen {}: tls, but no inherited socket has that address: it is not served "
                                 "(socket activation binds only what systemd passed)",
                                 i < config.listen.size() ? config.listen[i] : config.listeners[i].url());
        } else {
            listeners.resize(config.threads);
            wanted = config.listeners;
        }
        if (config.tls_port >= 0) wanted.push_back(tls_port_address(config, address));
        bool redirect_found = false;
        for (server::ListenAddress& a : wanted) {
            std::vector<sys::UniqueFd> fds;
            if (a.is_unix()) {
                fds = server::open_unix_listeners(a, {config.threads}, files.emplace_back());
                show(a.url());
            } else {
                fds = server::open_listeners(a, {config.threads, config.take_over});
                server::ListenAddress bound = server::local_address(fds.front().get());
                bound.tls = a.tls;
                show(bound.url());
                // --https-redirect's port: --tls-port's (the last) if given,
                // else the first TCP tls listener's.
                const bool tls_port = config.tls_port >= 0 && &a == &wanted.back();
                if (a.tls && (!redirect_found || tls_port)) {
                    shared->https_port = bound.port();
                    redirect_found = true;
                }
            }
            for (unsigned i = 0; i < config.threads; ++i) listeners[i].push_back({std::move(fds[i]), a.tls});
        }
        // Before the sandbox, the privilege drop and the threads.
        socket_remover = server::SocketRemover(files);
        files.clear();
    } catch (const std::system_error& e) {
        // A later address failed: the socket files made already go now.
        server::remove_socket_files(files);
        die(1, e.what());
    }
    // --metrics-listen: one socket, the first worker's.
    std::unique_ptr<metrics::Board> board;
    sys::UniqueFd metrics_fd;
    if (!config.metrics_listen.empty()) {
        std::string url;
        try {
            metrics_fd = server::open_metrics_listener(config.metrics_listen, url);
        } catch (const std::invalid_argument& e) {
            die(2, e.what());
        } catch (const std::exception& e) {
            die(1, e.what());
        }
        urls += ", metrics " + url;
        board = std::make_unique<metrics::Board>(config.threads);
        shared->metrics = board.get();
    }
    fit_fixed_file_tables(config);

    shared->boundary = make_boundary();

    // One count for every worker: SO_REUSEPORT spreads a client's
    // connections over all of them. Sized for every slot of every worker;
    // keyed with random bytes, so that a client cannot choose addresses that
    // collide in its table.
    std::unique_ptr<server::SharedClientCounter> client_limit;
    if (config.max_conns_per_ip > 0) {
        std::uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, 0) != ssize_t(sizeof seed))
            seed = std::uint64_t(std::rand()) << 32 ^ std::uint64_t(std::rand());
        client_limit = std::make_unique<server::SharedClientCounter>(std::size_t(config.threads) * config.max_conns,
                                                                     config.max_conns_per_ip, seed);
        shared->client_limit = client_limit.get();
    }

    if (config.sandbox) {
        // Before the workers start, so that they and their io-wq threads
        // (and every open they submit) inherit the domain.
        try {
            sys::set_no_new_privs();
            sys::LandlockPolicy policy;
            policy.write_files = {"/dev/null"};
            for (const sys::UniqueFd& root : first_sites->roots) policy.read_beneath.push_back(root.get());
            // A reload re-resolves the roots: where one is a symlink, the
            // directory of its targets-to-be (a deploy's releases).
            policy.read_trees = site_read_trees(config);
            if (!config.access_log.empty() && config.access_log != "-") {
                // Its directory: logrotate moves the file, SIGHUP creates a new one.
                policy.write_dirs.push_back(sys::parent_directory(config.access_log));
            }
            if (https) policy.read_dirs = https_reload_dirs(config);
            if (!config.config_file.empty()) policy.read_dirs.push_back(sys::parent_directory(config.config_file));
            if (!config.mime_types.empty()) policy.read_dirs.push_back(sys::parent_directory(config.mime_types));
            const sys::LandlockOutcome ll = sys::landlock_restrict(policy);
            if (ll.abi > 0)
                spdlog::info("landlock: {}", ll.summary);
            else
                spdlog::warn("landlock: {}", ll.summary);
        } catch (const std::exception& e) {
            die(1, e.what());
        }
    } else {
        spdlog::warn("--no-sandbox: no Landlock, seccomp filter or io_uring restrictions");
    }

    // Opened after Landlock (which lets it create and write files in its
    // directory) so that its writer thread is inside the sandbox too;
    // reopened on SIGHUP.
    std::unique_ptr<server::AccessLogFile> access_log;
    if (!config.access_log.empty()) {
        try {
            access_log = std::make_unique<server::AccessLogFile>(config.access_log);
        } catch (const std::system_error& e) {
            die(2, e.what());
        }
        shared->access_log = access_log.get();
    }

    // Before the rings exist: an SQPOLL ring's kernel thread keeps the
    // credentials of the task that created the ring, and every open it
    // submits (or punts to io-wq) runs with them.
    if (identity) {
        try {
            sys::drop_privileges(*identity);
        } catch (const std::exception& e) {
            die(1, e.what());
        }
        spdlog::info("serving as {} (uid {}, gid {}, {}){}", identity->name, identity->uid, identity->gid,
                     plural(identity->groups.size(), "group"),
                     config.user.empty() ? ": started as root without --user (--user NAME for another user, "
                                           "--allow-root to stay root)"
                                         : "");
    } else if (geteuid() == 0) {
        spdlog::warn("running as root (--allow-root): every file root may read beneath --root is served; "
                     "--user NAME switches users after binding");
    }

    std::vector<std::unique_ptr<WorkerThread>> workers;
    std::vector<std::future<void>> ready;
    // The workers wait for this before serving: true once the sandbox is
    // complete, false when start-up failed.
    std::promise<bool> go;
    std::shared_future<bool> may_serve = go.get_future().share();
    std::atomic<unsigned> finished{0};
    for (unsigned i = 0; i < config.threads; ++i) {
        auto w = std::make_unique<WorkerThread>();
        w->wake.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!w->wake) die(1, fmt::format("eventfd: {}", std::strerror(errno)));
        auto promise = std::make_shared<std::promise<void>>();
        ready.push_back(promise->get_future());
        // The ring is created inside its thread: with SINGLE_ISSUER and
        // DEFER_TASKRUN only the creating task may submit and wait.
        sys::UniqueFd m_fd = i == 0 ? std::move(metrics_fd) : sys::UniqueFd();
        w->thread = std::thread([i, &shared = *shared, fd = std::move(listeners[i]), m_fd = std::move(m_fd),
                                 wake = w->wake.get(), &commands = w->commands, promise, may_serve,
                                 &finished]() mutable {
            std::unique_ptr<server::Worker> worker;
            try {
                worker = std::make_unique<server::Worker>(i, shared, std::move(fd), std::move(m_fd), wake, commands);
            } catch (...) {
                promise->set_exception(std::current_exception());
                return;
            }
            promise->set_value();
            if (may_serve.get()) worker->run();
            worker.reset();
            ++finished;
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
        go.set_value(false);
        for (auto& w : workers) w->thread.join();
        die(1, failure);
    }

    // Whether the workers have directory listers (a reload cannot add them).
    const bool lists = std::any_of(config.site_table->all().begin(), config.site_table->all().end(),
                                   [](const Site& s) { return s.settings.autoindex; });
    try {
        // As the user that serves (privileges were dropped before the
        // rings), before seccomp takes openat away.
        const auto& sites = config.site_table->all();
        for (std::size_t i = 0; i < sites.size(); ++i)
            for (const std::string& problem : server::check_site_files(first_sites->roots[i].get(), sites[i].settings))
                spdlog::warn("{}{}", sites.size() > 1 ? "site " + sites[i].label + ": " : "", problem);
        if (config.seccomp && kSanitizerBuild) {
            spdlog::warn("seccomp: not in a sanitizer build (its runtime makes syscalls of its own)");
        } else if (config.seccomp) {
            const bool reopen_logs = access_log != nullptr;
            // reload: SIGHUP re-reads the configuration in every server.
            sys::seccomp_restrict(reopen_logs, lists, true);
            spdlog::info("seccomp: {} syscalls allowed, anything else kills the process",
                         sys::seccomp_allowed(reopen_logs, lists, true).size());
        } else if (config.sandbox) {
            spdlog::warn("--no-seccomp: no syscall filter");
        }
    } catch (const std::exception& e) {
        die(1, e.what());
    }
    // The holder and the workers keep the sites from here on: main's own
    // reference would keep the start-up roots open for good, and with them
    // a deploy's old release, after the first reload.
    first_sites.reset();
    go.set_value(true);

    const auto& sites = config.site_table->all();
    spdlog::info("listening on {} ({}, {})", urls, plural(config.threads, "thread"),
                 sites.size() == 1 ? "root " + sites.front().settings.root : plural(sites.size(), "site"));

    bool stopping = false;
    std::uint32_t site_reloads = 0;
    while (finished < config.threads) {
        int sig = 0;
        if (!stopping) {
            if (sigwait(&signals, &sig) != 0) continue;
        } else {
            // Stopping: wake up now and then to see whether the workers are done.
            const timespec poll{0, 100'000'000};
            sig = sigtimedwait(&signals, nullptr, &poll);
            if (sig < 0) continue;
        }
        if (sig == SIGUSR1) {
            for (auto& w : workers) w->post(server::kCommandStats);
            continue;
        }
        if (sig == SIGHUP) { // a deploy, a new configuration; logrotate moved the access log; certbot renewed
            const Reload reload = reload_config(args, started, ++site_reloads, lists, system_types);
            if (!reload.sites) {
                spdlog::error("SIGHUP: {}; the running configuration stays", reload.error);
            } else {
                for (const std::string& warning : reload.warnings) spdlog::warn("SIGHUP: {}", warning);
                const std::size_t n = reload.sites->table->all().size();
                site_holder.set(reload.sites);
                for (auto& w : workers) w->post(server::kCommandSites);
                spdlog::info("SIGHUP: {} re-read, {} (roots re-opened); requests in flight finish on the old",
                             config.config_file.empty() ? "the command line" : config.config_file,
                             n == 1 ? "root " + reload.sites->table->all().front().settings.root : plural(n, "site"));
            }
            if (https) reload_https(*https->contexts);
            if (!access_log || config.access_log == "-") {
            } else if (const int err = access_log->reopen(); err != 0)
                spdlog::error("SIGHUP: cannot reopen the access log {}: {}; still writing to the file open before",
                              config.access_log, std::strerror(err));
            else
                spdlog::info("SIGHUP: access log {} reopened", config.access_log);
            continue;
        }
        const char* name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
        if (stopping) die(1, fmt::format("second {}: exiting without waiting for the responses in flight", name));
        spdlog::info("{}: finishing in-flight responses (at most {}s; a second signal exits at once)", name,
                     config.shutdown_timeout);
        stopping = true;
        for (auto& w : workers) w->post(server::kCommandStop);
    }
    for (auto& w : workers) w->thread.join();
    socket_remover.remove_now();
    spdlog::info("stopped");
    return 0;
}
