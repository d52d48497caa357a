#include "https_flags.hpp"

#include "plural.hpp"

#include <algorithm>

namespace splicehttpd {

std::string check_https_flags(Config& c, const std::vector<std::string>& certs, const std::vector<std::string>& keys,
                              bool alone)
{
    if (!alone && certs.size() != keys.size())
        return "--tls-cert given " + plural(certs.size(), "time") + " but --tls-key " + plural(keys.size(), "time") +
               ": one key for each certificate, in the same order";
    for (const std::string& f : certs)
        if (f.empty()) return "--tls-cert: a file name, not an empty string";
    for (const std::string& f : keys)
        if (f.empty()) return "--tls-key: a file name, not an empty string";
    if (alone) return {};
    // A TLS listener: --tls-port's, or a --listen address with tls (its
    // own check, before this one, names it when the pairs are missing).
    const auto& ls = c.listeners;
    const bool tls = c.tls_port >= 0 || std::any_of(ls.begin(), ls.end(), [](const auto& l) { return l.tls; });
    const bool tcp_tls =
        c.tls_port >= 0 || std::any_of(ls.begin(), ls.end(), [](const auto& l) { return l.tls && !l.is_unix(); });
    if (!tls && !certs.empty())
        return "--tls-cert and --tls-key need a TLS listener: --tls-port, or tls after a --listen address";
    // A redirect names a port: a unix socket has none.
    if (!tcp_tls && c.https_redirect)
        return "--https-redirect needs a TLS listener: --tls-port, or tls after a TCP --listen address";
    if (tls && certs.empty()) return "--tls-port needs --tls-cert and --tls-key";
    if (c.tls_port > 0 && c.tls_port == c.port)
        return "--tls-port " + std::to_string(c.tls_port) + " is --port too: HTTPS needs a port of its own";
    c.tls_pairs.clear();
    for (std::size_t i = 0; i < certs.size(); ++i) c.tls_pairs.emplace_back(certs[i], keys[i]);
    return {};
}

} // namespace splicehttpd
