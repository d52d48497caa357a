#include "server/site_files.hpp"

#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace splicehttpd::server {

namespace {

// Why rel cannot be served, or "".
std::string problem_with(int root_fd, const std::string& root, const std::string& rel)
{
    open_how how{};
    how.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    sys::UniqueFd fd(int(::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how)));
    if (!fd) {
        switch (errno) {
        case ENOENT:
        case ENOTDIR: return fmt::format("no such file beneath --root {}", root);
        case EXDEV:
        case ELOOP: return fmt::format("a symlink that leaves --root {}", root);
        case EACCES:
        case EPERM: return "not readable by the user that serves";
        default: return fmt::format("cannot be opened: {}", std::strerror(errno));
        }
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fmt::format("cannot be examined: {}", std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return "not a regular file";
    return {};
}

} // namespace

std::vector<std::string> check_site_files(int root_fd, const SiteSettings& config)
{
    std::vector<std::string> problems;
    if (!config.fallback.empty()) {
        const std::string why = problem_with(root_fd, config.root, config.fallback);
        if (!why.empty())
            problems.push_back(fmt::format("--fallback /{}: {}; missing paths get the built-in 404 page instead",
                                           config.fallback, why));
    }
    for (const auto& [status, rel] : config.error_pages) {
        const std::string why = problem_with(root_fd, config.root, rel);
        if (!why.empty())
            problems.push_back(fmt::format("--error-page {}=/{}: {}; {} answers get the built-in page instead", status,
                                           rel, why, status));
    }
    return problems;
}

} // namespace splicehttpd::server
