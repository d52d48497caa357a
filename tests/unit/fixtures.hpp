// What several unit test files share.
#pragma once

#include "http/response.hpp"

namespace splicehttpd::test {

// A response context with a fixed Date, so plans can be compared as text.
inline const http::ResponseContext kCtx = [] {
    http::ResponseContext c;
    c.date = "Sun, 06 Nov 1994 08:49:37 GMT";
    return c;
}();

} // namespace splicehttpd::test
