// --config FILE: a TOML file (toml++) whose keys are the long flags'
// names, turned into the arguments those flags would be, each with the
// place it was written, so that config.cpp can check it through the same
// CLI11 options as the command line and name FILE:LINE:COLUMN in errors.
//
//   root = "/srv/www"                 -> --root=/srv/www
//   listen = ["127.0.0.1", "[::1]"]   -> --listen=127.0.0.1 --listen=[::1]
//   threads = 4                       -> --threads=4
//   autoindex = true                  -> --autoindex   (false: --autoindex=false)
//   precompressed = false             -> --precompressed=off
//   [[site]] names = [...] default = true, and per-site keys
#pragma once

#include "options.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splicehttpd {

// One value, as arguments: an array gives one piece per element.
struct FilePiece {
    std::vector<std::string> args; // {"--listen=[::1]:8080"}
    std::string origin;            // "FILE:LINE:COLUMN" of the value (the element)
};

struct FileSetting {
    std::string key;
    std::string origin;            // of the key
    std::vector<FilePiece> pieces; // empty for an empty array: the setting is "none"
    // Set when the value cannot be this option's (unknown key, wrong type,
    // a global key in a [[site]]): the whole message, origin first. The
    // caller reports the first one in file order, with its own errors.
    std::string error;
};

struct FileSite {
    std::string origin; // of its [[site]] line
    std::vector<std::string> names;
    std::vector<std::string> name_origins;
    bool is_default = false;
    // In file order; names or default of the wrong type, an unknown key, a
    // global one: a setting with its error, in its place.
    std::vector<FileSetting> settings;
};

struct ConfigFile {
    std::string path;
    std::vector<FileSetting> settings; // top level, in file order
    std::vector<FileSite> sites;       // in file order
};

// Parses `text` as the file `path` names. nullopt with `error` ("PATH:LINE:
// COLUMN: why") when it is not TOML; a key that `table` does not know (or
// one that a [[site]] cannot have), a value of the wrong type, a [site]
// that is not [[site]], is the setting's (or the site's) own error.
std::optional<ConfigFile> parse_config_text(std::string_view text, const std::string& path, const OptionTable& table,
                                            std::string& error);

// Reads and parses the file; "--config PATH: No such file or directory"
// and the like.
std::optional<ConfigFile> read_config_file(const std::string& path, const OptionTable& table, std::string& error);

} // namespace splicehttpd
