// The access log line, in the combined format nginx and Apache write:
//   127.0.0.1 - - [26/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1234 "referer" "user-agent"
// Pure: the connection fills a record, the log writes the line elsewhere.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace splicehttpd::http {

struct AccessRecord {
    std::string_view client; // the peer's address, as text
    std::string_view time;   // from format_log_time
    std::string_view method; // "" when the request line never parsed
    std::string_view target;
    int http_major = 1;
    int http_minor = 1;
    int status = 0;
    std::uint64_t body_bytes = 0; // bytes of the body the socket took
    std::string_view referer;     // "" is written as "-"
    std::string_view user_agent;
};

// "26/Nov/2026:10:00:00 +0000" (UTC).
std::string format_log_time(std::time_t t);

// Appends one line, newline included. Request fields are escaped as nginx
// does: '"', '\' and bytes below 0x20 or from 0x7f up become \xHH, so a
// hostile client cannot forge a line or a field.
void append_access_line(std::string& out, const AccessRecord& r);

void append_log_escaped(std::string& out, std::string_view s);

} // namespace splicehttpd::http
