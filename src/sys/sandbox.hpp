// Confinement after start-up: dropping root for another user, Landlock (what
// the process may still open), and a seccomp filter (which syscalls it may
// still make). main() applies Landlock and switches users once the listeners
// are bound, before the rings exist, and loads the seccomp filter once the
// workers are ready; --no-sandbox skips all but the user switch.
#pragma once

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace splicehttpd::sys {

struct Identity {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups; // supplementary groups from /etc/group
};

// Resolves --user NAME (a name or a number) while /etc/passwd and /etc/group
// may still be read. Throws std::runtime_error naming the problem.
Identity lookup_user(const std::string& name);

// setgroups, setgid, setuid (glibc applies them to every thread), then checks
// that root cannot be had back. Throws std::system_error.
void drop_privileges(const Identity& who);

// PR_SET_NO_NEW_PRIVS: needed by Landlock and seccomp without CAP_SYS_ADMIN;
// threads started afterwards inherit it.
void set_no_new_privs();

// The directory a path names its file in, as Landlock rules want it:
// "a/b" -> "a", "b" -> ".", "/b" -> "/".
inline std::string parent_directory(const std::string& path)
{
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

struct LandlockPolicy {
    std::vector<int> read_beneath;        // directories (O_PATH is enough) the process may read under: the roots
    std::vector<std::string> write_files; // files it may open for writing (/dev/null)
    std::vector<std::string> write_dirs;  // directories whose files it may create and write (log files,
                                          // re-created after rotation)
    std::vector<std::string> read_dirs;   // directories whose files it may read (certificates, reloaded)
    std::vector<std::string> read_trees;  // directories it may read under, as read_beneath (reloaded roots)
};

struct LandlockOutcome {
    int abi = 0;         // 0: not enforced
    std::string summary; // what is enforced, or why not, for the log
};

// Restricts the calling thread and the threads it starts afterwards
// (landlock_restrict_self is per thread: call it before starting workers).
// A kernel without Landlock is not an error (abi 0, summary says why);
// a failure of a kernel that has it throws std::system_error.
LandlockOutcome landlock_restrict(const LandlockPolicy& policy);

// The log-file flags openat may be called with when reopen_logs is set.
inline constexpr int kLogOpenFlags = 01 /*O_WRONLY*/ | 02000 /*O_APPEND*/ | 0100 /*O_CREAT*/ | 02000000 /*O_CLOEXEC*/;

// The flags a file is read with after start-up (a certificate, a key, the
// configuration on SIGHUP: O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, so
// that a FIFO cannot block the main thread), through open(2) where the
// architecture has it: the filter allows open with exactly these when reload
// is set, and openat for the access log only, so neither rule overlaps the
// other.
inline constexpr int kReadOpenFlags = 0 | 02000000 /*O_CLOEXEC*/ | 0400 /*O_NOCTTY*/ | 04000 /*O_NONBLOCK*/;
// A site's root, re-resolved on SIGHUP: O_PATH | O_DIRECTORY | O_CLOEXEC
// (a descriptor that reads nothing by itself).
inline constexpr int kDirOpenFlags = 010000000 /*O_PATH*/ | 0200000 /*O_DIRECTORY*/ | 02000000 /*O_CLOEXEC*/;

inline int open_flags(const char* path, int flags) noexcept
{
#ifdef SYS_open
    return int(syscall(SYS_open, path, flags));
#else
    return ::open(path, flags);
#endif
}
// open(path, kReadOpenFlags): -1 and errno on failure.
inline int open_read(const char* path) noexcept
{
    return open_flags(path, kReadOpenFlags);
}
// open(path, kDirOpenFlags): -1 and errno on failure.
inline int open_dir(const char* path) noexcept
{
    return open_flags(path, kDirOpenFlags);
}

// Installs the steady-state syscall filter on every thread of the process
// (SECCOMP_FILTER_FLAG_TSYNC). Anything else logs the syscall's name on
// stderr and kills the process with SIGSYS. reopen_logs: openat with exactly
// kLogOpenFlags is allowed (SIGHUP reopens the access log; Landlock decides
// where). autoindex: getdents64 and newfstatat are allowed (the --autoindex
// lister threads). reload: open with kReadOpenFlags or kDirOpenFlags, fstat
// and read (SIGHUP re-reads the configuration, re-opens the roots and reloads
// --tls-cert and --tls-key; Landlock decides where).
// Throws std::runtime_error.
void seccomp_restrict(bool reopen_logs, bool autoindex, bool reload = false);

// The syscall names seccomp_restrict() allows, for the log and the README.
std::vector<std::string> seccomp_allowed(bool reopen_logs, bool autoindex, bool reload = false);

} // namespace splicehttpd::sys
