// How large a request head may be (Config holds one, the parser enforces it).
#pragma once

#include <cstddef>

namespace splicehttpd::http {

struct ParseLimits {
    std::size_t max_uri = 8192;           // request-target bytes; past it: 414
    std::size_t max_header_bytes = 16384; // names and values, 4 more a line (": ", CRLF); past it: 431
    unsigned max_headers = 100;           // field lines; past it: 431
};

} // namespace splicehttpd::http
