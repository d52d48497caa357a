#include "fit_limits.hpp"

#include "plural.hpp"

#include <sys/resource.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

namespace splicehttpd {

namespace {

// Each ring's fixed-file table (one socket slot per connection) must fit in
// RLIMIT_NOFILE: raise the soft limit to the hard one. An idle connection
// holds no descriptor (its socket is a fixed slot), a busy one holds the file
// it serves; --max-conns auto gives every connection of every thread room for
// that file next to what the process keeps open (pipes, listeners, rings),
// and a number that does not fit in one ring's table is lowered with a
// warning rather than fail to start.
constexpr rlim_t kReserve = 64;         // listeners, eventfds, rings, /dev/null, stdio
constexpr rlim_t kAutoMaxConns = 16384; // per thread: each slot costs memory up front

} // namespace

void fit_fixed_file_tables(Config& config)
{
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        if (config.max_conns == 0) config.max_conns = 1024;
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    const rlim_t threads = std::max(1u, config.threads);
    if (config.max_conns == 0) {
        const rlim_t reserve = kReserve + threads * 2 * config.pipes_max;
        rlim_t per = kAutoMaxConns;
        if (rl.rlim_cur != RLIM_INFINITY) per = rl.rlim_cur > reserve + threads ? (rl.rlim_cur - reserve) / threads : 1;
        config.max_conns = unsigned(std::clamp<rlim_t>(per, 1, kAutoMaxConns));
        spdlog::info("--max-conns auto: {} per thread (RLIMIT_NOFILE {}, {}, {} each)",
                     plural(config.max_conns, "connection"), rl.rlim_cur, plural(threads, "thread"),
                     plural(config.pipes_max, "pipe"));
        return;
    }
    const rlim_t most = rl.rlim_cur > 2 * kReserve ? rl.rlim_cur - kReserve : rl.rlim_cur / 2;
    if (rl.rlim_cur != RLIM_INFINITY && config.max_conns > most) {
        spdlog::warn("RLIMIT_NOFILE {} holds {} per thread, not --max-conns {}", rl.rlim_cur,
                     plural(most, "connection"), config.max_conns);
        config.max_conns = unsigned(std::max<rlim_t>(most, 1));
    }
}

// Unprivileged, F_SETPIPE_SZ refuses more than fs.pipe-max-size, and the
// pipe would keep the kernel's default (64 KiB): ask for what will be given.
// Read now: Landlock later hides /proc.
void fit_pipe_size(Config& config)
{
    unsigned long most = 0;
    if (FILE* f = std::fopen("/proc/sys/fs/pipe-max-size", "re")) {
        if (std::fscanf(f, "%lu", &most) != 1) most = 0;
        std::fclose(f);
    }
    if (most < 4096 || config.pipe_size <= most) return;
    spdlog::warn("--pipe-size {}: an unprivileged process gets at most {} (fs.pipe-max-size)", config.pipe_size, most);
    config.pipe_size = std::uint32_t(most);
}

} // namespace splicehttpd
