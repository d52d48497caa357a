#include "sys/read_file.hpp"

#include "sys/sandbox.hpp"
#include "sys/unique_fd.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace splicehttpd::sys {

std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes, std::string& error)
{
    const UniqueFd fd(open_read(path.c_str()));
    if (!fd) {
        error = std::strerror(errno);
        return std::nullopt;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        error = std::strerror(errno);
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
        error = S_ISDIR(st.st_mode) ? "a directory, not a file" : "not a regular file";
        return std::nullopt;
    }
    std::string text;
    char buf[16384];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = std::strerror(errno);
            return std::nullopt;
        }
        if (n == 0) return text;
        text.append(buf, std::size_t(n));
        if (text.size() > max_bytes) {
            error = fmt::format("larger than {} bytes", max_bytes);
            return std::nullopt;
        }
    }
}

} // namespace splicehttpd::sys
