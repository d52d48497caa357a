// Which certificate answers a ClientHello's server name (SNI). Pure: the
// names come from each certificate's subjectAltName DNS entries at load.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace splicehttpd::tls {

// A DNS name of a certificate matches a host name: equal ignoring ASCII case,
// or a wildcard "*.example.com" that stands for exactly one leftmost label
// ("a.example.com", not "example.com" nor "a.b.example.com"), as browsers
// match (RFC 6125 6.4.3, no partial-label wildcards such as "w*.example.com").
bool name_matches(std::string_view pattern, std::string_view host);

// The pair to use for `host`: the first whose names hold it exactly, else
// the first with a wildcard that matches, else 0 (the first pair answers
// clients that send no name or one no certificate has, as nginx's default
// server does). An exact name wins over an earlier wildcard.
std::size_t pick_pair(const std::vector<std::vector<std::string>>& names, std::string_view host);

} // namespace splicehttpd::tls
