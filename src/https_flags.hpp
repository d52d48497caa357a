#pragma once
// --tls-port, --tls-cert, --tls-key and --https-redirect, checked together
// and with the TLS listeners (--listen ADDRESS tls) among c.listeners
// (from the command line or the config file).
#include "config.hpp"

#include <string>
#include <vector>

namespace splicehttpd {

// "" when the flags fit together (and c.tls_pairs is filled from them), or
// the one line that says what is wrong. `alone`: one setting of a config
// file checked by itself, where the others it needs (tls-port = 8443 needs
// tls-cert and tls-key) are elsewhere in the file: only what is wrong
// with its own value.
std::string check_https_flags(Config& c, const std::vector<std::string>& certs, const std::vector<std::string>& keys,
                              bool alone = false);

} // namespace splicehttpd
