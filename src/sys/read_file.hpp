// A small regular file read whole after start-up (a SIGHUP's re-reads: the
// config file, --mime-types), with the open flags the seccomp filter allows
// (sys::open_read) and nothing else: open, fstat, read, close.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace splicehttpd::sys {

// nullopt with `error` saying why, without the path: strerror's text, "a
// directory, not a file", "not a regular file", or "larger than N bytes".
std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes, std::string& error);

} // namespace splicehttpd::sys
