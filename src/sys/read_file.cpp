#include "sys/read_file.hpp"

#include "sys/sandbox.hpp"
#include "sys/unique_fd.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace splicehttpd::sys {

std::optional<SmallFile> read_small_file(const std::string& path, std::size_t max_bytes, std::string& error,
                                         ReadFailure& failure)
{
    const auto fail = [&](ReadFailure why, std::string text) {
        failure = why;
        error = std::move(text);
        return std::nullopt;
    };
    const UniqueFd fd(open_read(path.c_str()));
    if (!fd) return fail(ReadFailure::System, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail(ReadFailure::System, std::strerror(errno));
    if (S_ISDIR(st.st_mode)) return fail(ReadFailure::Directory, "a directory, not a file");
    if (!S_ISREG(st.st_mode)) return fail(ReadFailure::NotRegular, "not a regular file");
    SmallFile file;
    file.mode = st.st_mode;
    char buf[16384];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(ReadFailure::System, std::strerror(errno));
        if (n == 0) return file;
        file.bytes.append(buf, std::size_t(n));
        // Counted as read, not taken from st_size: a file that grows
        // meanwhile is bounded all the same.
        if (file.bytes.size() > max_bytes)
            return fail(ReadFailure::TooLarge, "larger than " + std::to_string(max_bytes) + " bytes");
    }
}

std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes, std::string& error)
{
    ReadFailure failure{};
    std::optional<SmallFile> file = read_small_file(path, max_bytes, error, failure);
    if (!file) return std::nullopt;
    return std::move(file->bytes);
}

} // namespace splicehttpd::sys
