#pragma once
// --tls-port, --tls-cert, --tls-key and --https-redirect, checked together
// (from the command line or the config file).
#include "config.hpp"

#include <string>
#include <vector>

namespace splicehttpd {

// "" when the flags fit together (and c.tls_pairs is filled from them), or
// the one line that says what is wrong.
std::string check_https_flags(Config& c, const std::vector<std::string>& certs, const std::vector<std::string>& keys);

} // namespace splicehttpd
