// OpenSSL reports failures on a per-thread error queue; the server reports
// them as one line. Every function of src/tls that fails takes the queue
// with it, so a later failure never shows an earlier one's reasons.
#pragma once

#include <string>
#include <string_view>

namespace splicehttpd::tls {

// The queued OpenSSL errors as one line, "what: reason; reason" (the queue is
// emptied). With nothing queued, "what: unknown error".
std::string take_errors(std::string_view what);

// Empties the queue (before a call whose errors should be read alone).
void clear_errors() noexcept;

} // namespace splicehttpd::tls
