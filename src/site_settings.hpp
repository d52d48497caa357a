// What one site decides: where its files are and how they are answered.
// The top level of the configuration is a site too (the default one, and
// what every [[site]] table starts from); Config derives from this, so that
// today's code reads config.root, config.autoindex, ... as the default
// site's, and the per-request code can take a `const SiteSettings&` chosen
// by Host instead (sites.hpp).
#pragma once

#include "http/site_headers.hpp"

#include <string>
#include <utility>
#include <vector>

namespace splicehttpd {

struct SiteSettings {
    std::string root = "./htdocs";
    std::string extra_headers;                            // --add-header, formatted: "Name: value\r\n" each
    std::vector<http::ExpiresRule> expires_rules;         // --expires, in order
    std::string fallback;                                 // --fallback, relative to the root ("" off)
    std::vector<std::string> fallback_prefixes;           // --fallback-prefix: where it applies (none: anywhere)
    std::vector<std::pair<int, std::string>> error_pages; // --error-page STATUS=/path, relative
    bool dotfiles = false;                                // --dotfiles allow
    bool precompressed = true;                            // serve x.br / x.gz siblings
    bool autoindex = false;                               // list directories without index.html
};

} // namespace splicehttpd
