// SIGHUP's re-reading of the configuration, as far as it can change a
// running server: the sites (every [[site]] table, every per-site setting,
// unknown-host, the --mime-types file) and their roots, re-resolved, so that a deploy that swaps a
// `current` symlink is served from the next request on. Everything else (the
// listeners, threads, limits, logs, the sandbox) keeps its running value;
// a change to it is a warning that it takes a restart.
//
// Runs on the main thread under the sandbox: the file is read through
// sys::open_read and the roots opened through sys::open_dir (the flags the
// seccomp filter allows); Landlock decides which roots may be read.
#pragma once

#include "config.hpp"
#include "server/site_generation.hpp"

#include <memory>
#include <string>
#include <vector>

namespace splicehttpd {

// Each site's root opened (O_PATH), into a generation numbered `number`;
// nullptr with `error` set ("root /srv/x: No such file or directory", named
// as the setting was given).
std::shared_ptr<server::SiteGeneration> open_site_generation(const Config& config, std::uint32_t number,
                                                             std::shared_ptr<const http::MimeTable> mime,
                                                             std::string& error);

// The directories Landlock must let the process read beneath, besides the
// roots as opened at start-up, so that a reload can re-resolve them: where a
// root's last component is a symlink (`/srv/app/current`), the directory
// holding it (where the releases it may point to next live).
std::vector<std::string> site_read_trees(const Config& config);

struct Reload {
    std::shared_ptr<server::SiteGeneration> sites; // nullptr: refused (error says why)
    std::string error;                             // one line
    std::vector<std::string> warnings;             // settings that take a restart
};

// Re-reads the command line `args` (and its --config file) against the
// configuration the server started with. `lists`: the server started with a
// directory lister (a reload cannot turn --autoindex on without one: the
// sandbox was set without directory reads). `system_types`: /etc/mime.types
// as read at start-up, which the --mime-types file (re-read) goes over.
Reload reload_config(const std::vector<std::string>& args, const Config& started, std::uint32_t number, bool lists,
                     const http::MimeTable& system_types);

} // namespace splicehttpd
