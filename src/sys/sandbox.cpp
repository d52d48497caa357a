#include "sys/sandbox.hpp"

#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <grp.h>
#include <liburing.h> // IORING_UNREGISTER_*
#include <linux/landlock.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

// linux-libc-dev of Debian 12 describes Landlock ABI 2; newer kernels have more.
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) // ABI 3, Linux 6.2
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) // ABI 5, Linux 6.10
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0) // ABI 4, Linux 6.7
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) // ABI 6, Linux 6.12
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

namespace splicehttpd::sys {

static_assert(kLogOpenFlags == (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC), "the access log's open flags");

// ---------------------------------------------------------------- user

Identity lookup_user(const std::string& name)
{
    errno = 0;
    passwd* pw = getpwnam(name.c_str());
    if (!pw && !name.empty() && name.find_first_not_of("0123456789") == std::string::npos)
        pw = getpwuid(uid_t(std::strtoul(name.c_str(), nullptr, 10)));
    if (!pw) throw std::runtime_error(fmt::format("--user {}: no such user", name));
    Identity who;
    who.name = pw->pw_name;
    who.uid = pw->pw_uid;
    who.gid = pw->pw_gid;
    int count = 64;
    who.groups.resize(std::size_t(count));
    while (getgrouplist(pw->pw_name, pw->pw_gid, who.groups.data(), &count) < 0) who.groups.resize(std::size_t(count));
    who.groups.resize(std::size_t(count));
    if (who.uid == 0) throw std::runtime_error(fmt::format("--user {}: that is root", name));
    return who;
}

void drop_privileges(const Identity& who)
{
    check_libc(setgroups(who.groups.size(), who.groups.data()), "setgroups");
    check_libc(setgid(who.gid), fmt::format("setgid({})", who.gid));
    check_libc(setuid(who.uid), fmt::format("setuid({})", who.uid));
    if (setuid(0) == 0 || geteuid() == 0 || getegid() != who.gid)
        throw_errno(EPERM, "privileges were not dropped: root can be had back");
}

void set_no_new_privs()
{
    check_libc(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");
}

// ---------------------------------------------------------------- Landlock

namespace {

// The ruleset attribute as of ABI 6; older kernels are given a prefix.
struct RulesetAttr {
    std::uint64_t handled_access_fs = 0;
    std::uint64_t handled_access_net = 0;
    std::uint64_t scoped = 0;
};

int landlock_abi() noexcept
{
    long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? -errno : int(abi);
}

std::uint64_t fs_rights(int abi) noexcept
{
    std::uint64_t all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; // ABI 1: bits 0..12
    if (abi >= 2) all |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) all |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5) all |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return all;
}

void add_path_rule(int ruleset, int parent_fd, std::uint64_t rights, const std::string& what)
{
    landlock_path_beneath_attr rule{};
    rule.allowed_access = rights;
    rule.parent_fd = parent_fd;
    if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0)
        throw_errno("landlock_add_rule(" + what + ")");
}

} // namespace

LandlockOutcome landlock_restrict(const LandlockPolicy& policy)
{
    const int abi = landlock_abi();
    if (abi <= 0) {
        const int err = -abi;
        const char* why = err == ENOSYS ? "this kernel has no Landlock (Linux 5.13 or later, CONFIG_SECURITY_LANDLOCK)"
                          : err == EOPNOTSUPP ? "Landlock is built in but off (add landlock to the lsm= boot parameter)"
                                              : std::strerror(err);
        return {0, fmt::format("not enforced: {}; file access is confined by RESOLVE_BENEATH only", why)};
    }

    RulesetAttr attr;
    attr.handled_access_fs = fs_rights(abi);
    std::size_t size = sizeof attr.handled_access_fs;
    if (abi >= 4) {
        // The listeners are bound already: no TCP bind or connect after start-up.
        attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
        size = offsetof(RulesetAttr, scoped);
    }
    if (abi >= 6) {
        // No signals to, nor abstract unix sockets of, processes outside the sandbox.
        attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
        size = sizeof attr;
    }
    UniqueFd ruleset(int(syscall(SYS_landlock_create_ruleset, &attr, size, 0)));
    if (!ruleset) throw_errno("landlock_create_ruleset");

    const std::uint64_t read = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
    for (int root : policy.read_beneath) add_path_rule(ruleset.get(), root, read, "--root");
    for (const std::string& path : policy.write_files) {
        UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
        if (!fd) throw_errno("landlock: open " + path);
        add_path_rule(ruleset.get(), fd.get(), LANDLOCK_ACCESS_FS_WRITE_FILE, path);
    }
    for (const std::string& path : policy.read_trees) {
        UniqueFd fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!fd) continue; // a reload from there fails with its own message
        add_path_rule(ruleset.get(), fd.get(), read, path);
    }
    for (const std::string& path : policy.read_dirs) {
        UniqueFd fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!fd) continue; // a reload from there fails with its own message
        add_path_rule(ruleset.get(), fd.get(), LANDLOCK_ACCESS_FS_READ_FILE, path);
    }
    for (const std::string& path : policy.write_dirs) {
        // Missing: no rule, and opening the log fails with its own message.
        UniqueFd fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!fd) continue;
        add_path_rule(ruleset.get(), fd.get(), LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG, path);
    }
    if (syscall(SYS_landlock_restrict_self, ruleset.get(), 0) < 0) throw_errno("landlock_restrict_self");

    std::string writes;
    for (const std::string& path : policy.write_files) writes += (writes.empty() ? "" : ", ") + path;
    for (const std::string& path : policy.write_dirs) writes += (writes.empty() ? "" : ", ") + path + "/*";
    std::string reads;
    for (const std::string& path : policy.read_trees) reads += ", " + path + "/**";
    for (const std::string& path : policy.read_dirs) reads += ", " + path + "/*";
    const std::size_t roots = policy.read_beneath.size();
    return {abi, fmt::format("ABI {} enforced: read only beneath {}{}, write only {}{}{}", abi,
                             roots == 1 ? "the root" : fmt::format("the {} site roots", roots), reads,
                             writes.empty() ? "nothing" : writes, abi >= 4 ? ", no TCP bind or connect" : "",
                             abi >= 6 ? ", signals and abstract sockets scoped" : "")};
}

// ---------------------------------------------------------------- seccomp

namespace {

// Syscall names by number, made before the filter is loaded: the SIGSYS
// handler may not allocate.
constexpr int kNamedSyscalls = 512;
const char* g_syscall_names[kNamedSyscalls] = {};

void write_all(const char* text, std::size_t len) noexcept
{
    while (len > 0) {
        ssize_t n = ::write(2, text, len);
        if (n <= 0) return;
        text += n;
        len -= std::size_t(n);
    }
}

// A syscall outside the list: say which, then die of SIGSYS (SA_RESETHAND
// has restored the default action, SA_NODEFER leaves the signal unblocked),
// so the service manager sees the signal and a core dump can be had.
void on_sigsys(int, siginfo_t* info, void*) noexcept
{
    const int nr = info->si_syscall;
    char digits[16];
    int d = 0;
    unsigned v = nr < 0 ? 0u : unsigned(nr);
    do {
        digits[d++] = char('0' + v % 10);
        v /= 10;
    } while (v && d < 15);
    char line[256];
    std::size_t len = 0;
    auto put = [&](const char* s) {
        while (*s && len < sizeof line - 1) line[len++] = *s++;
    };
    put("splicehttpd: seccomp: syscall ");
    put(nr >= 0 && nr < kNamedSyscalls && g_syscall_names[nr] ? g_syscall_names[nr] : "?");
    put(" (");
    while (d > 0 && len < sizeof line - 1) line[len++] = digits[--d];
    put(") is not allowed after start-up: killed (--no-seccomp runs without the filter)\n");
    write_all(line, len);
    syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), SIGSYS);
}

// The one list. Each entry is what the steady state (serving, SIGUSR1 stats,
// --debug logging, SIGTERM shutdown, pool growth) was seen to need under
// strace -f; comments say who makes the call.
struct Rule {
    const char* name;
    unsigned arg_count = 0;
    scmp_arg_cmp args[2] = {};
    int fail_with = 0; // not allowed but not fatal either: the call fails with this errno
};

// libseccomp's SCMP_A* macros leave a field to its default, which clang's
// -Wmissing-field-initializers reports (GCC does not, for macros).
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wmissing-field-initializers"
#endif
std::vector<Rule> rules(bool reopen_logs, bool autoindex, bool reload)
{
    const auto pid = scmp_datum_t(getpid());
    std::vector<Rule> r = {
        {"io_uring_enter"},  // the data path
        {"futex"},           // mutexes (logging), thread join, promises
        {"write"},           // log lines on stderr, the workers' eventfds
        {"rt_sigtimedwait"}, // main thread: SIGTERM/SIGINT/SIGUSR1
        {"rt_sigprocmask"},  // glibc, when a thread exits
        {"rt_sigreturn"},    // return from any handler
        {"restart_syscall"}, // a wait interrupted by a stop signal
        {"brk"},             // malloc
        {"munmap"},          // free, ring and buffer teardown
        {"mremap"},          // realloc of large blocks
        {"madvise"},         // free, thread stacks at exit
        {"close"},           // descriptors: pipes replaced, listeners and rings at shutdown
        {"pipe2"},           // pipe pool growth where IORING_OP_PIPE is missing or refused
        {"gettid"},          // logging
        {"getpid"},          // abort(), the SIGSYS handler
        {"clock_gettime"},   // the clock, where the vDSO falls back
        {"gettimeofday"},    // (same)
        {"time"},            // (same: spdlog's timestamps, where there is no vDSO: user-mode Linux)
        {"sched_yield"},     // lock back-off in the C++ runtime
        {"getrandom"},       // glibc (malloc, hashing), if asked
        {"exit"},            // a worker thread ends
        {"exit_group"},      // the process ends
        {"mmap", 1, {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}},     // malloc; never executable
        {"mprotect", 1, {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}}, // malloc arenas grow; never executable
        {"tgkill", 1, {SCMP_A0(SCMP_CMP_EQ, pid)}},                   // abort(), the SIGSYS handler: self only
        {"fcntl", 1, {SCMP_A1(SCMP_CMP_EQ, F_SETPIPE_SZ)}},           // sizing a new pipe
        {"fcntl", 1, {SCMP_A1(SCMP_CMP_EQ, F_GETPIPE_SZ)}},           // (and reading the size it got)
        // Teardown at exit only; every other register op is refused (and the
        // ring's own restrictions refuse most of them too).
        {"io_uring_register", 1, {SCMP_A1(SCMP_CMP_EQ, IORING_UNREGISTER_PBUF_RING)}},
        {"io_uring_register", 1, {SCMP_A1(SCMP_CMP_EQ, IORING_UNREGISTER_RING_FDS)}},
        // Refused, not fatal: glibc's malloc opens /proc/sys/vm/overcommit_memory
        // the first time a thread's heap shrinks, and copes when it cannot.
        // Files are opened through the ring (IORING_OP_OPENAT2), never here.
        {"openat", 1, {SCMP_A2(SCMP_CMP_NE, scmp_datum_t(kLogOpenFlags))}, EACCES},
    };
    // SIGHUP reopens the access log (Landlock limits it to the log's directory).
    r.push_back({"openat", 1, {SCMP_A2(SCMP_CMP_EQ, scmp_datum_t(kLogOpenFlags))}, reopen_logs ? 0 : EACCES});
    if (autoindex) {
        // --autoindex: the lister threads read a directory the ring opened
        // (getdents64 has no io_uring opcode) and stat each name in it
        // without following symlinks (glibc's fstatat).
        r.push_back({"getdents64"});
        r.push_back({"newfstatat"});
    }
    if (reload) {
        // SIGHUP re-reads the configuration and the certificates and re-opens
        // the roots: open (not openat: the rules above cover every openat),
        // fstat, read, close.
        r.push_back({"open", 1, {SCMP_A1(SCMP_CMP_EQ, scmp_datum_t(kReadOpenFlags))}});
        r.push_back({"open", 1, {SCMP_A1(SCMP_CMP_EQ, scmp_datum_t(kDirOpenFlags))}});
        if (!autoindex) r.push_back({"newfstatat"});
        r.push_back({"read"});
    }
    return r;
}
#if defined(__clang__)
#pragma clang diagnostic pop
#endif

} // namespace

std::vector<std::string> seccomp_allowed(bool reopen_logs, bool autoindex, bool reload)
{
    std::vector<std::string> names;
    for (const Rule& r : rules(reopen_logs, autoindex, reload))
        if (r.fail_with == 0 && (names.empty() || names.back() != r.name)) names.emplace_back(r.name);
    return names;
}

void seccomp_restrict(bool reopen_logs, bool autoindex, bool reload)
{
    for (int nr = 0; nr < kNamedSyscalls; ++nr)
        if (!g_syscall_names[nr]) g_syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

    struct sigaction sa {};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    check_libc(sigaction(SIGSYS, &sa, nullptr), "sigaction(SIGSYS)");

    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx) throw std::runtime_error("seccomp_init failed");
    auto fail = [ctx](int rc, const std::string& what) {
        seccomp_release(ctx);
        throw std::runtime_error(fmt::format("seccomp: {}: {}", what, std::strerror(-rc)));
    };
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (rc < 0) fail(rc, "TSYNC");
    for (const Rule& r : rules(reopen_logs, autoindex, reload)) {
        const int nr = seccomp_syscall_resolve_name(r.name);
        if (nr == __NR_SCMP_ERROR) fail(-ENOSYS, std::string("unknown syscall ") + r.name);
        const std::uint32_t action = r.fail_with ? SCMP_ACT_ERRNO(std::uint32_t(r.fail_with)) : SCMP_ACT_ALLOW;
        rc = seccomp_rule_add_array(ctx, action, nr, r.arg_count, r.args);
        if (rc < 0) fail(rc, r.name);
    }
    rc = seccomp_load(ctx);
    if (rc < 0) fail(rc, "load");
    seccomp_release(ctx);
}

static_assert(kReadOpenFlags == (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
static_assert(kDirOpenFlags == (O_PATH | O_DIRECTORY | O_CLOEXEC));

} // namespace splicehttpd::sys
