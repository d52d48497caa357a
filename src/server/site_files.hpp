// The files the flags name beneath --root (--fallback, --error-page): checked
// at start-up, and callable again whenever the site may have changed (a
// reload), so that a typo does not silently leave the built-in pages in their
// place.
#pragma once

#include "site_settings.hpp"

#include <string>
#include <vector>

namespace splicehttpd::server {

// One line per flag whose file cannot be served: missing, outside the root
// (a symlink that leaves it), not a regular file, or not readable by this
// process (call it as the user that serves). Opened the way a request opens
// it (openat2 RESOLVE_BENEATH from root_fd). Empty: all is well.
std::vector<std::string> check_site_files(int root_fd, const SiteSettings& config);

} // namespace splicehttpd::server
