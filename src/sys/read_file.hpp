// A small regular file read whole after start-up (a SIGHUP's re-reads: the
// config file, --mime-types, the TLS certificates and keys), with the open
// flags the seccomp filter allows (sys::open_read) and nothing else: open,
// fstat, read, close.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>

namespace splicehttpd::sys {

// Why a read failed, for a caller that words its own error (the TLS loader
// keeps the texts its users know).
enum class ReadFailure { System, Directory, NotRegular, TooLarge };

struct SmallFile {
    std::string bytes;
    mode_t mode = 0; // st_mode as opened: a key others may read is warned about
};

// nullopt with `error` saying why, without the path: strerror's text, "a
// directory, not a file", "not a regular file", or "larger than N bytes";
// `failure` says which of those it is.
std::optional<SmallFile> read_small_file(const std::string& path, std::size_t max_bytes, std::string& error,
                                         ReadFailure& failure);

// The same, for a caller that needs only the bytes.
std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes, std::string& error);

} // namespace splicehttpd::sys
