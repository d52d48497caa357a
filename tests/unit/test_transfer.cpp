#include "server/transfer.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <string>
#include <vector>

using namespace splicehttpd;
using namespace splicehttpd::server::transfer;
using http::ResponsePlan;
using http::Segment;
using Kind = Step::Kind;

namespace doctest {
template <>
struct StringMaker<std::vector<Step>> {
    static String convert(const std::vector<Step>& v)
    {
        std::string out = "[";
        for (const Step& s : v)
            out += "{" + std::to_string(int(s.kind)) + " mem=" + std::to_string(s.mem) +
                   " file=" + std::to_string(s.file) + " len=" + std::to_string(s.len) + (s.more ? " more" : "") +
                   (s.wait_all ? " waitall" : "") + "} ";
        return String((out + "]").c_str());
    }
};
} // namespace doctest

namespace {

constexpr std::uint32_t MiB = 1u << 20;

// A head of `head` bytes, then `file_len` bytes of the file from `file_off`.
ResponsePlan file_plan(std::uint64_t head, std::uint64_t file_off, std::uint64_t file_len)
{
    ResponsePlan p;
    p.memory.assign(head, 'h');
    p.segments.push_back({Segment::Kind::Memory, 0, head});
    if (file_len) p.segments.push_back({Segment::Kind::File, file_off, file_len});
    return p;
}

// The same, for a response that ends the connection (Connection: close).
ResponsePlan closing(ResponsePlan p)
{
    p.close = true;
    return p;
}

// Two ranges of a multipart/byteranges response: head, part head, file,
// part head, file, tail.
ResponsePlan multipart_plan()
{
    ResponsePlan p;
    p.memory.assign(100 + 10 + 10 + 5, 'm');
    // clang-format off
    p.segments = {{Segment::Kind::Memory, 0, 100}, {Segment::Kind::Memory, 100, 10},
                  {Segment::Kind::File, 0, 50},    {Segment::Kind::Memory, 110, 10},
                  {Segment::Kind::File, 8000, 20}, {Segment::Kind::Memory, 120, 5}};
    // clang-format on
    return p;
}

Step send(std::uint64_t mem, std::uint32_t len, bool more, bool wait_all)
{
    return {.kind = Kind::Send, .mem = mem, .len = len, .more = more, .wait_all = wait_all};
}
Step in(std::uint64_t file, std::uint32_t len)
{
    return {.kind = Kind::SpliceIn, .file = file, .len = len};
}
Step out(std::uint32_t len, bool more)
{
    return {.kind = Kind::SpliceOut, .len = len, .more = more};
}
Step read(std::uint64_t mem, std::uint64_t file, std::uint32_t len)
{
    return {.kind = Kind::Read, .mem = mem, .file = file, .len = len, .more = true};
}

std::vector<Step> steps(const Steps& c)
{
    return {c.begin(), c.end()};
}

} // namespace

TEST_CASE("next_chain: what the next chain asks for")
{
    struct Row {
        int line;
        ResponsePlan plan;
        Cursor cursor;
        Limits limits;
        std::vector<Step> expected;
    };
    const Limits pipe1m{.pipe_capacity = MiB, .pairs = 4};
    // clang-format off
    const Row rows[] = {
        // A head alone: one send, nothing linked behind it.
        {__LINE__, file_plan(200, 0, 0), {}, pipe1m, {send(0, 200, false, false)}},
        // Head then a small file: the head waits for all its bytes (a splice follows).
        {__LINE__, file_plan(200, 0, 1000), {}, pipe1m, {send(0, 200, true, true), in(0, 1000), out(1000, false)}},
        // A large file: page-sized chunks of the pipe's capacity, four pairs at most.
        {__LINE__, file_plan(10, 0, 10 * MiB), {}, pipe1m,
         {send(0, 10, true, true), in(0, MiB), out(MiB, true), in(MiB, MiB), out(MiB, true), in(2 * MiB, MiB),
          out(MiB, true), in(3 * MiB, MiB), out(MiB, true)}},
        // A range starting off a page boundary: the first chunk fits capacity - offset % 4096.
        {__LINE__, file_plan(10, 100, 2 * MiB), {}, {.pipe_capacity = MiB, .pairs = 2},
         {send(0, 10, true, true), in(100, MiB - 100), out(MiB - 100, true), in(MiB, MiB), out(MiB, true)}},
        // Resume after a short file->pipe splice: the head and 4096 bytes went out.
        {__LINE__, file_plan(10, 0, 3 * MiB), {.delivered = 10 + 4096}, {.pipe_capacity = MiB, .pairs = 1},
         {in(4096, MiB), out(MiB, true)}},
        // Resume after a short pipe->socket splice: the pipe's leftovers go first.
        {__LINE__, file_plan(10, 0, 3 * MiB), {.delivered = 10 + 1000, .in_pipe = 500},
         {.pipe_capacity = MiB, .pairs = 1}, {out(500, true), in(1500, MiB - 1500), out(MiB - 1500, true)}},
        // Leftovers that finish the response.
        {__LINE__, file_plan(10, 0, 3000), {.delivered = 10 + 1000, .in_pipe = 2000}, pipe1m, {out(2000, false)}},
        // Mid-head: the rest of the head, then the body.
        {__LINE__, file_plan(200, 0, 100), {.delivered = 150}, pipe1m,
         {send(150, 50, true, true), in(0, 100), out(100, false)}},
        // Multipart: framing sends and splice pairs in wire order.
        {__LINE__, multipart_plan(), {}, pipe1m,
         {send(0, 100, true, true), send(100, 10, true, true), in(0, 50), out(50, true), send(110, 10, true, true),
          in(8000, 20), out(20, true), send(120, 5, false, false)}},
        // The chain's step limit cuts before a pair that does not fit.
        {__LINE__, multipart_plan(), {}, {.pipe_capacity = MiB, .pairs = 4, .steps = 3},
         {send(0, 100, true, true), send(100, 10, true, false)}},
        // The pair limit stops at the next file segment, not before the sends.
        {__LINE__, multipart_plan(), {}, {.pipe_capacity = MiB, .pairs = 1},
         {send(0, 100, true, true), send(100, 10, true, true), in(0, 50), out(50, true), send(110, 10, true, false)}},
        // Done: nothing to ask.
        {__LINE__, file_plan(10, 0, 100), {.delivered = 110}, pipe1m, {}},
        // No pipe: a plan with file bytes stops before them.
        {__LINE__, file_plan(10, 0, 100), {}, {.pipe_capacity = 0}, {send(0, 10, true, false)}},
        // A response that closes the connection holds its last bytes back
        // too: they leave with the FIN, after the client could not close first.
        {__LINE__, closing(file_plan(200, 0, 0)), {}, pipe1m, {send(0, 200, true, false)}},
        {__LINE__, closing(file_plan(200, 0, 1000)), {}, pipe1m,
         {send(0, 200, true, true), in(0, 1000), out(1000, true)}},
        {__LINE__, closing(file_plan(10, 0, 3000)), {.delivered = 10 + 1000, .in_pipe = 2000}, pipe1m,
         {out(2000, true)}},
    };
    // clang-format on
    for (const Row& r : rows) {
        CAPTURE(r.line);
        CHECK(steps(next_chain(r.plan, r.cursor, r.limits)) == r.expected);
    }
}

TEST_CASE("next_chain: a file held in memory is sent from there, no pipe")
{
    auto from_file = [](std::uint64_t file, std::uint32_t len, bool more, bool wait_all) {
        return Step{
            .kind = Step::Kind::Send, .file = file, .len = len, .more = more, .wait_all = wait_all, .from_file = true};
    };
    const Limits mem{.pipe_capacity = 0, .file_in_memory = true};
    // The head, then the body from the file's copy.
    CHECK(steps(next_chain(file_plan(10, 0, 50'000), {}, mem)) ==
          std::vector<Step>{send(0, 10, true, true), from_file(0, 50'000, false, false)});
    // Multipart: framing from the plan, parts from the file's copy, in wire order.
    CHECK(steps(next_chain(multipart_plan(), {}, mem)) ==
          std::vector<Step>{send(0, 100, true, true), send(100, 10, true, true), from_file(0, 50, true, true),
                            send(110, 10, true, true), from_file(8000, 20, true, true), send(120, 5, false, false)});
    // Resume after a short send in the middle of the body.
    CHECK(steps(next_chain(file_plan(10, 0, 50'000), {.delivered = 10 + 30'000}, mem)) ==
          std::vector<Step>{from_file(30'000, 20'000, false, false)});
}

TEST_CASE("next_chain: under kTLS a send ends its chain and a closing response holds nothing back")
{
    // The kernel's TLS sendmsg refuses MSG_WAITALL, so nothing may be linked
    // behind a send; and it drops a record MSG_MORE left open at the close.
    const Limits ktls{.pipe_capacity = MiB, .pairs = 4, .kernel_tls = true};
    CHECK(steps(next_chain(file_plan(200, 0, 1000), {}, ktls)) == std::vector<Step>{send(0, 200, true, false)});
    CHECK(steps(next_chain(file_plan(200, 0, 1000), {.delivered = 200}, ktls)) ==
          std::vector<Step>{in(0, 1000), out(1000, false)});
    CHECK(steps(next_chain(closing(file_plan(200, 0, 0)), {}, ktls)) == std::vector<Step>{send(0, 200, false, false)});
    CHECK(steps(next_chain(closing(file_plan(200, 0, 1000)), {.delivered = 200}, ktls)) ==
          std::vector<Step>{in(0, 1000), out(1000, false)});
    // Multipart: one framing send per chain, the pairs behind it in the next.
    CHECK(steps(next_chain(multipart_plan(), {.delivered = 110}, ktls)) ==
          std::vector<Step>{in(0, 50), out(50, true), send(110, 10, true, false)});
    // A file held in memory: the head, then the body, each alone.
    const Limits mem{.pipe_capacity = 0, .file_in_memory = true, .kernel_tls = true};
    CHECK(steps(next_chain(file_plan(10, 0, 50'000), {}, mem)) == std::vector<Step>{send(0, 10, true, false)});
}

TEST_CASE("inline_file_body lays the body out in memory with holes for reads")
{
    ResponsePlan p = multipart_plan();
    p.memory = std::string(100, 'H') + std::string(10, 'a') + std::string(10, 'b') + std::string(5, 't');
    const Steps reads = inline_file_body(p);
    CHECK(steps(reads) == std::vector<Step>{read(110, 0, 50), read(170, 8000, 20)});
    REQUIRE(p.segments.size() == 1);
    CHECK(p.segments[0] == Segment{Segment::Kind::Memory, 0, 195});
    CHECK(p.memory.size() == 195);
    CHECK(p.memory.substr(0, 110) == std::string(100, 'H') + std::string(10, 'a'));
    CHECK(p.memory.substr(160, 10) == std::string(10, 'b'));
    CHECK(p.memory.substr(190) == std::string(5, 't'));
    // Afterwards the plan is a memory plan: one send, no pipe.
    CHECK(steps(next_chain(p, {}, {})) == std::vector<Step>{send(0, 195, false, false)});

    ResponsePlan head_only = file_plan(50, 0, 0);
    CHECK(inline_file_body(head_only).count == 0);
    CHECK(head_only.memory.size() == 50);
}

TEST_CASE("inline_file_body works in place and refuses memory segments out of order")
{
    // In place: a buffer with room keeps its address (no allocation per response).
    ResponsePlan p = file_plan(10, 0, 30);
    p.memory = std::string(10, 'H');
    p.memory.reserve(1024);
    const char* before = p.memory.data();
    CHECK(inline_file_body(p).count == 1);
    CHECK(p.memory.data() == before);
    CHECK(p.memory.substr(0, 10) == std::string(10, 'H'));

    // Memory segments must lie back to back in order; else nothing changes.
    ResponsePlan odd;
    odd.memory = "ABCDEFGHIJ";
    odd.segments = {{Segment::Kind::Memory, 5, 5}, {Segment::Kind::File, 0, 10}, {Segment::Kind::Memory, 0, 5}};
    CHECK(inline_file_body(odd).count == 0);
    CHECK(odd.segments.size() == 3);
    CHECK(odd.memory == "ABCDEFGHIJ");
}

TEST_CASE("account: what one completion means")
{
    struct Row {
        int line;
        Step step;
        int res;
        Cursor before;
        Cursor after;
        Outcome outcome;
    };
    // clang-format off
    const Row rows[] = {
        {__LINE__, send(0, 100, true, true), 100, {}, {.delivered = 100}, {}},
        // Short (MSG_DONTWAIT): the socket is full; wait for POLLOUT, resume.
        {__LINE__, send(0, 100, true, true), 40, {}, {.delivered = 40}, {.socket_full = true}},
        {__LINE__, send(0, 100, false, false), 40, {}, {.delivered = 40}, {.socket_full = true}},
        {__LINE__, send(0, 100, false, false), -EAGAIN, {}, {}, {.socket_full = true}},
        {__LINE__, send(0, 100, false, false), -EPIPE, {}, {}, {.failed = true}},
        {__LINE__, send(0, 100, false, false), -ECANCELED, {}, {}, {}},
        {__LINE__, in(0, 4096), 4096, {.delivered = 9}, {.delivered = 9, .in_pipe = 4096}, {}},
        {__LINE__, in(0, 4096), 1000, {}, {.in_pipe = 1000}, {}}, // short: resume
        {__LINE__, in(0, 4096), 0, {}, {}, {.failed = true}},     // EOF: the file shrank
        {__LINE__, in(0, 4096), -EIO, {}, {}, {.failed = true}},
        {__LINE__, in(0, 4096), -ECANCELED, {}, {}, {}},
        {__LINE__, out(4096, true), 4096, {.in_pipe = 4096}, {.delivered = 4096}, {}},
        {__LINE__, out(4096, true), 1500, {.delivered = 7, .in_pipe = 4096}, {.delivered = 1507, .in_pipe = 2596}, {}},
        {__LINE__, out(4096, true), -EAGAIN, {.in_pipe = 4096}, {.in_pipe = 4096}, {.socket_full = true}},
        {__LINE__, out(4096, true), -ECONNRESET, {.in_pipe = 4096}, {.in_pipe = 4096}, {.failed = true}},
        {__LINE__, out(4096, true), -ECANCELED, {.in_pipe = 4096}, {.in_pipe = 4096}, {}},
        {__LINE__, read(0, 0, 100), 100, {}, {}, {}},
        {__LINE__, read(0, 0, 100), 99, {}, {}, {.failed = true}},
        {__LINE__, read(0, 0, 100), -EIO, {}, {}, {.failed = true}},
    };
    // clang-format on
    for (const Row& r : rows) {
        CAPTURE(r.line);
        Cursor c = r.before;
        Outcome o;
        account(r.step, r.res, c, o);
        CHECK(c == r.after);
        CHECK(o.failed == r.outcome.failed);
        CHECK(o.socket_full == r.outcome.socket_full);
    }
}

TEST_CASE("after_chain: done, carry on, wait for the socket, or abort")
{
    struct Row {
        int line;
        Cursor start;
        Cursor now;
        std::uint64_t total;
        Outcome outcome;
        Next expected;
    };
    // clang-format off
    const Row rows[] = {
        {__LINE__, {}, {.delivered = 100}, 100, {}, Next::Done},
        {__LINE__, {}, {.delivered = 100}, 100, {.socket_full = true}, Next::Done},
        {__LINE__, {}, {.delivered = 90, .in_pipe = 10}, 100, {}, Next::Continue},
        {__LINE__, {}, {.delivered = 50}, 100, {}, Next::Continue},
        {__LINE__, {}, {.delivered = 50}, 100, {.socket_full = true}, Next::WaitWritable},
        {__LINE__, {.delivered = 50}, {.delivered = 50}, 100, {.socket_full = true}, Next::WaitWritable},
        {__LINE__, {.delivered = 50}, {.delivered = 50}, 100, {}, Next::Abort}, // no progress
        {__LINE__, {}, {.delivered = 100}, 100, {.failed = true}, Next::Abort},
        {__LINE__, {}, {.delivered = 60}, 100, {.failed = true, .socket_full = true}, Next::Abort},
    };
    // clang-format on
    for (const Row& r : rows) {
        CAPTURE(r.line);
        CHECK(after_chain(r.start, r.now, r.total, r.outcome) == r.expected);
    }
}
