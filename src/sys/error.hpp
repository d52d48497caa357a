// Set-up failures throw std::system_error carrying errno; the message names the
// call and its argument so the one line printed by main() is enough to act on.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>

namespace splicehttpd::sys {

[[noreturn]] inline void throw_errno(int err, const std::string& what)
{
    throw std::system_error(err, std::system_category(), what);
}

[[noreturn]] inline void throw_errno(const std::string& what)
{
    throw_errno(errno, what);
}

// Kernel and liburing calls return -errno; throw when negative.
inline int check_neg(int ret, const std::string& what)
{
    if (ret < 0) throw_errno(-ret, what);
    return ret;
}

// libc calls return -1 and set errno.
inline int check_libc(int ret, const std::string& what)
{
    if (ret < 0) throw_errno(what);
    return ret;
}

} // namespace splicehttpd::sys
