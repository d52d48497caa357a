#include "server/transfer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace splicehttpd::server::transfer {

using http::Segment;

Steps next_chain(const http::ResponsePlan& plan, Cursor cursor, const Limits& limits) noexcept
{
    Steps chain;
    const std::uint64_t total = plan.total();
    const unsigned max_steps = std::min(limits.steps, kMaxSteps);
    std::uint64_t pos = cursor.delivered + cursor.in_pipe; // next byte to source
    // A response that ends the connection holds its last bytes back too
    // (MSG_MORE / SPLICE_F_MORE): the kernel keeps the last partial segment
    // until the close, and data and FIN leave together. Sent at once, they
    // reach a client on another core before the FIN; it reads them, closes
    // first, and the TIME_WAIT (and the port search of its next connect)
    // lands on the client.
    auto more_after = [&](std::uint64_t end) { return end < total || (plan.close && !limits.kernel_tls); };

    // Whatever a short pipe->socket splice left in the pipe goes first.
    if (cursor.in_pipe > 0)
        chain.push({.kind = Step::Kind::SpliceOut,
                    .len = std::uint32_t(std::min<std::uint64_t>(cursor.in_pipe, kMaxIo)),
                    .more = more_after(pos)});

    unsigned pairs = 0;
    std::size_t seg = 0;
    std::uint64_t seg_start = 0;
    while (pos < total) {
        while (seg_start + plan.segments[seg].length <= pos) seg_start += plan.segments[seg++].length;
        const Segment& s = plan.segments[seg];
        const std::uint64_t into = pos - seg_start;
        const std::uint64_t left = s.length - into;
        if (s.kind == Segment::Kind::Memory) {
            if (chain.count + 1 > max_steps) break;
            const auto len = std::uint32_t(std::min<std::uint64_t>(left, kMaxIo));
            chain.push({.kind = Step::Kind::Send, .mem = s.offset + into, .len = len, .more = more_after(pos + len)});
            pos += len;
            if (limits.kernel_tls) break;
        } else if (limits.file_in_memory) {
            if (chain.count + 1 > max_steps) break;
            const auto len = std::uint32_t(std::min<std::uint64_t>(left, kMaxIo));
            chain.push({.kind = Step::Kind::Send,
                        .file = s.offset + into,
                        .len = len,
                        .more = more_after(pos + len),
                        .from_file = true});
            pos += len;
            if (limits.kernel_tls) break;
        } else {
            if (limits.pipe_capacity == 0 || pairs == limits.pairs || chain.count + 2 > max_steps) break;
            const std::uint64_t file_off = s.offset + into;
            const std::uint64_t room = limits.pipe_capacity - file_off % kPage;
            const auto len = std::uint32_t(std::min({left, room, std::uint64_t(kMaxIo)}));
            const bool more = more_after(pos + len);
            chain.push({.kind = Step::Kind::SpliceIn, .file = file_off, .len = len});
            chain.push({.kind = Step::Kind::SpliceOut, .len = len, .more = more});
            pos += len;
            ++pairs;
        }
    }
    // Every send but the chain's last has something linked behind it.
    for (unsigned i = 0; i + 1 < chain.count; ++i)
        if (chain.steps[i].kind == Step::Kind::Send) chain.steps[i].wait_all = true;
    return chain;
}

Steps inline_file_body(http::ResponsePlan& plan)
{
    Steps reads;
    const auto files = std::count_if(plan.segments.begin(), plan.segments.end(),
                                     [](const Segment& s) { return s.kind == Segment::Kind::File; });
    // No file bytes, or more holes than a chain holds beside its send (a
    // range request never has that many: see http::kMaxRanges).
    if (!plan.uses_file() || files >= long(kMaxSteps) / 2) return reads;
    // The wire is built in place (the plan's buffer is reused response after
    // response): each memory segment moves right by the file bytes before
    // it, last one first, so no segment is overwritten before it has moved.
    // Plans lay their memory segments out in order and back to back
    // (append_memory), which this relies on; anything else is refused.
    std::uint64_t at = 0;
    for (const Segment& s : plan.segments) {
        if (s.kind != Segment::Kind::Memory) continue;
        if (s.offset != at || s.offset + s.length > plan.memory.size()) return reads;
        at = s.offset + s.length;
    }
    const std::uint64_t total = plan.total();
    plan.memory.resize(std::max<std::uint64_t>(total, plan.memory.size()));
    std::uint64_t end = total;
    for (auto s = plan.segments.rbegin(); s != plan.segments.rend(); ++s) {
        end -= s->length;
        if (s->kind == Segment::Kind::Memory) {
            std::memmove(plan.memory.data() + end, plan.memory.data() + s->offset, s->length);
        } else if (s->length > 0) {
            reads.push({.kind = Step::Kind::Read, .mem = end, .file = s->offset, .len = std::uint32_t(s->length)});
        }
    }
    plan.memory.resize(total);
    // Reads in file order, as they were planned.
    std::reverse(reads.steps.begin(), reads.steps.begin() + reads.count);
    for (unsigned i = 0; i < reads.count; ++i) reads.steps[i].more = true;
    plan.segments.assign(1, Segment{Segment::Kind::Memory, 0, total});
    return reads;
}

void account(const Step& step, int res, Cursor& cursor, Outcome& outcome) noexcept
{
    if (res == -ECANCELED) return; // an earlier step of the chain broke the link
    const auto n = std::uint64_t(res > 0 ? res : 0);
    switch (step.kind) {
    case Step::Kind::Read:
        // Short: the file shrank after its size went into the head.
        if (res < 0 || n < step.len) outcome.failed = true;
        return;
    case Step::Kind::Send:
        if (res == -EAGAIN) {
            outcome.socket_full = true;
        } else if (res < 0) {
            outcome.failed = true;
        } else {
            cursor.delivered += n;
            // Every send carries MSG_DONTWAIT (nothing waits in the kernel
            // on a peer): short means the socket is full. With MSG_WAITALL
            // the link behind it failed too; the next chain, after POLLOUT,
            // resumes from the cursor.
            if (n < step.len) outcome.socket_full = true;
        }
        return;
    case Step::Kind::SpliceIn:
        // 0 is end of file: the file shrank. A short splice is fine: the
        // link broke and the next chain carries on from the cursor.
        if (res <= 0)
            outcome.failed = true;
        else
            cursor.in_pipe += n;
        return;
    case Step::Kind::SpliceOut:
        if (res == -EAGAIN) {
            outcome.socket_full = true;
        } else if (res <= 0) {
            outcome.failed = true; // reset, or the socket was shut down
        } else {
            cursor.in_pipe -= std::min(n, cursor.in_pipe);
            cursor.delivered += n;
        }
        return;
    }
}

Next after_chain(Cursor start, Cursor now, std::uint64_t total, Outcome outcome) noexcept
{
    if (outcome.failed) return Next::Abort;
    if (now.delivered == total && now.in_pipe == 0) return Next::Done;
    if (outcome.socket_full) return Next::WaitWritable;
    // A chain that moved nothing and hit no full socket would repeat itself
    // forever.
    if (now == start) return Next::Abort;
    return Next::Continue;
}

} // namespace splicehttpd::server::transfer
