// What goes on the wire: a response is a plan of segments (bytes we hold, or
// a range of the open file) that the ring then moves. Building the plan is
// pure; the connection only executes it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace splicehttpd::http {

std::string_view reason_phrase(int status) noexcept;

// The one errno -> HTTP status mapping (for statx/openat2 failures).
int status_for_errno(int err) noexcept;

struct Segment {
    enum class Kind : std::uint8_t { Memory, File };
    Kind kind = Kind::Memory;
    std::uint64_t offset = 0; // into ResponsePlan::memory, or into the file
    std::uint64_t length = 0;
    friend bool operator==(const Segment&, const Segment&) = default;
};

struct ResponsePlan {
    int status = 0;
    std::string memory; // the head, error bodies, multipart framing
    std::vector<Segment> segments;
    bool close = false; // Connection: close was sent

    // Empty again, buffers kept (a plan reused response after response
    // allocates nothing once grown).
    void clear() noexcept;
    [[nodiscard]] std::uint64_t total() const noexcept;
    [[nodiscard]] bool uses_file() const noexcept;
    // Bytes that go out next: they extend the last memory segment when it
    // ends where they start, else they open a new one.
    void append_memory(std::string_view bytes);
    void append_file(std::uint64_t offset, std::uint64_t length);
    // The head only (everything before the blank line), for tests and logs.
    [[nodiscard]] std::string_view head() const noexcept;
};

struct ResponseContext {
    std::string_view date;
    bool head_request = false; // HEAD: headers as for GET, no body
    bool keep_alive = true;
    bool http10 = false;            // a 1.0 client keeps alive only if told so
    std::string_view extra_headers; // --add-header lines, "Name: value\r\n" each
    std::int64_t max_age = -1;      // file responses: Cache-Control/Expires (--expires); -1: none
    std::int64_t now = 0;           // the time Date says, for Expires
};

// Starts a plan (clearing it) with the status line and the headers every response
// carries. Call add() for the rest, then end() to close the head (which
// also becomes the plan's first segment).
class HeadWriter {
public:
    HeadWriter(ResponsePlan& plan, int status, const ResponseContext& ctx);
    HeadWriter& add(std::string_view name, std::string_view value);
    HeadWriter& add(std::string_view name, std::uint64_t value);
    void end();

private:
    ResponsePlan& plan_;
    std::string& out_;
    const ResponseContext& ctx_;
};

struct ErrorExtras {
    std::string_view allow;       // 405, OPTIONS
    std::string_view location;    // 301
    std::uint64_t range_size = 0; // 416: "Content-Range: bytes */N"
    bool has_range_size = false;
    unsigned retry_after = 0; // 503: "Retry-After: N" seconds
    std::string_view detail;  // a sentence under the heading: our own text, put in as it is
};

// A complete response with a short HTML body (none for HEAD, 204 and 304),
// into `plan` (its buffers reused), or as a new plan.
void plan_status(ResponsePlan& plan, int status, const ResponseContext& ctx, const ErrorExtras& extras = {});
ResponsePlan plan_status(int status, const ResponseContext& ctx, const ErrorExtras& extras = {});

} // namespace splicehttpd::http
