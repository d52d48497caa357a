// Accept-Encoding (RFC 9110 §12.5.3), reduced to what precompressed siblings
// can offer: br and gzip.
#pragma once

#include <string_view>

namespace splicehttpd::http {

struct AcceptedCodings {
    bool br = false;
    bool gzip = false;
    friend bool operator==(const AcceptedCodings&, const AcceptedCodings&) = default;
};

AcceptedCodings parse_accept_encoding(std::string_view field);

} // namespace splicehttpd::http
