// What start-up checks about the configuration before it binds, also run
// alone by --check-config (as nginx -t): the server starts if and only if
// this finds no error (apart from what only start-up can know: the port in
// use, io_uring, the user switch).
#pragma once

#include "config.hpp"

#include <string>
#include <vector>

namespace splicehttpd {

struct Preflight {
    std::string error;                 // the first problem, one line ("": none)
    std::vector<std::string> warnings; // the server would start, and say these
};

// As the calling user: the root of every site that can be served is a
// directory, the access log lies outside each, the --mime-types file reads,
// --user names a user, and the listen addresses are ones this build serves.
// With site_files, also the files --fallback and --error-page name, per
// site (warnings, as at start-up, where they are checked as the serving
// user).
Preflight preflight(const Config& config, bool site_files);

// How messages name the root of site `index` (in config.site_table->all()):
// "--root", "FILE:3:8: root", or "FILE:5:1: [[site]] a.example: root (the
// top level's)" for a [[site]] that gives none of its own.
std::string root_setting(const Config& config, std::size_t index);

} // namespace splicehttpd
