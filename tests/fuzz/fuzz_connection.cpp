// libFuzzer target: the connection state machine in-process, in the style of
// h2o's fuzz/driver.cc: a real ring, real sockets (a client accepted into the
// connection's fixed slot), the harness of tests/support as the worker. The
// input is a program: what the clients send (in cut pieces, canned requests
// or raw bytes), when they read, shut down or reset, how the clock moves,
// what the lister answers, and which completions the kernel is made to give
// (-EAGAIN, short steps, -ECANCELED, -ENOBUFS, -ECONNRESET, failed opens):
// either asked of the kernel itself (a splice or read from near the end of
// the file: a real short step, the links behind it failing) or rewritten
// where that cannot leave the cursor counting bytes that are not where it
// thinks (see Harness::rewrite).
//
// Invariants: no assertion of the server fails (SPLICEHTTPD_ASSERT is on),
// ASan/UBSan see nothing, and once the clients have gone and the clock has
// run on, every connection is free within a bounded number of loop turns
// (nothing hangs) and nothing is left behind: no exchange, pipe, cache
// reference, deadline or descriptor, no close that failed (a double close).
//
// Input: byte 0 picks the set-up (bit 0: loopback TCP instead of a unix
// socket; 1: the open-file cache; 2-3: --inline-max 0 / 4 KiB / 64 KiB /
// 512 KiB; 4: --autoindex, --fallback and --error-page; 5: one recv buffer
// of 256 bytes instead of eight of 512; 6: --pipe-queue 0; 7: two pairs a
// chain). Then commands, each a byte (its low 4 bits) and its arguments; see
// run() below. Seeds in corpus/fuzz_connection.
#include "fuzz_check.hpp"

#include "../support/connection_harness.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using splicehttpd::test::Harness;
using splicehttpd::test::HarnessOptions;
using State = splicehttpd::server::Connection::State;
using splicehttpd::uring::Op;
using splicehttpd::uring::UserData;

namespace {

constexpr std::string_view kRequests[] = {
    "GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /mid.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100-200,5000-\r\n\r\n",
    "GET /app.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\n\r\n",
    "GET /docs HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /docs/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /list/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /fifo HTTP/1.1\r\nHost: x\r\n\r\n",
    "HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /big.bin HTTP/1.0\r\n\r\n",
    "GET /mid.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "POST /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    "GET /small.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\r\n",
    "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
    "BREW / HTTP/1.1\r\n\r\n",
};

// Results a completion may be rewritten to, by op (see Harness::rewrite).
struct Lie {
    Op op;
    int res;
};
constexpr Lie kLies[] = {
    {Op::Send, -EAGAIN},
    {Op::Send, -ECANCELED},
    {Op::Send, -ECONNRESET},
    {Op::Send, -EPIPE},
    {Op::Send, 1},
    {Op::SpliceOut, -ECONNRESET},
    {Op::SpliceOut, -EPIPE},
    {Op::SpliceIn, -EIO},
    {Op::Read, -EIO},
    {Op::Read, 1},
    {Op::Recv, -ENOBUFS},
    {Op::Recv, -ECONNRESET},
    {Op::Recv, 0},
    {Op::Recv, 1},
    {Op::Openat, -ENOENT},
    {Op::Openat, -EMFILE},
    {Op::Openat, -EACCES},
    {Op::Statx, -EIO},
    {Op::PollOut, -ECANCELED},
    {Op::PollOut, 0},
    {Op::OutQ, -EOPNOTSUPP},
    {Op::OutQ, 0},
    {Op::OutQ, 1 << 30},
    {Op::CancelRecv, -ENOENT},
};

class Program {
public:
    Program(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
    [[nodiscard]] bool done() const { return p_ >= end_; }
    std::uint8_t byte() { return p_ < end_ ? *p_++ : 0; }
    std::string_view bytes(std::size_t n)
    {
        n = std::min<std::size_t>(n, std::size_t(end_ - p_));
        std::string_view s(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        return s;
    }

private:
    const std::uint8_t* p_;
    const std::uint8_t* end_;
};

struct Client {
    int fd = -1;
    bool open = false;
};

bool all_free(Harness& h, unsigned n)
{
    for (unsigned i = 0; i < n; ++i)
        if (h.conn(i).state() != State::Free) return false;
    return true;
}

void run(Program& in)
{
    const std::uint8_t setup = in.byte();
    HarnessOptions o;
    o.tcp = setup & 1;
    o.cache = setup & 2;
    constexpr std::uint64_t kInline[] = {0, 4096, 65536, 512 * 1024};
    o.inline_max = kInline[(setup >> 2) & 3];
    if (setup & 16) {
        o.autoindex = true;
        o.fallback = "small.txt";
        o.error_pages = {{403, "404.html"}, {404, "missing.html"}};
    }
    if (setup & 32) {
        o.recv_buffers = 1;
        o.recv_buffer_size = 256;
    }
    o.pipe_queue = (setup & 64) ? 0 : 4;
    o.chain_pairs = (setup & 128) ? 2 : 4;
    o.conns = 2;
    Harness h(o);

    // Pending rewrites and shrinks, each for the next completion (or SQE)
    // of its op.
    int lie = -1;
    int shrink = -1; // bytes before the end of the file the next read or splice starts at
    h.rewrite = [&](const UserData& ud, io_uring_cqe& cqe) {
        if (lie < 0 || ud.op != kLies[lie].op) return;
        const bool more = cqe.flags & IORING_CQE_F_MORE;
        const int res = kLies[lie].res;
        if (ud.op == Op::Recv) {
            if (more && (res <= 0 || cqe.res <= 1)) return; // only a cut: the multishot goes on
            if (cqe.res > 0 && (res <= 0)) h.bufs().recycle(std::uint16_t(cqe.flags >> IORING_CQE_BUFFER_SHIFT));
            if (res <= 0) cqe.flags &= ~IORING_CQE_F_BUFFER;
        }
        if (ud.op == Op::Openat && cqe.res >= 0) close(cqe.res);
        if ((ud.op == Op::Send || ud.op == Op::Read || ud.op == Op::Recv) && res > 0) {
            if (cqe.res <= res) return; // only ever shorter than what happened
        }
        cqe.res = res;
        lie = -1;
    };
    h.mutate = [&](const UserData& ud, io_uring_sqe& sqe) {
        if (shrink < 0 || (ud.op != Op::SpliceIn && ud.op != Op::Read)) return;
        // From `shrink` bytes before the end of the file: the kernel answers
        // short (or 0: end of file), as for a file that shrank. Only where
        // the step starts before that point (a real short, never a longer).
        struct stat st {};
        const int fd = ud.op == Op::SpliceIn ? sqe.splice_fd_in : sqe.fd;
        if (fstat(fd, &st) != 0) return;
        const std::uint64_t from = std::uint64_t(st.st_size) > std::uint64_t(shrink) ? st.st_size - shrink : 0;
        __u64& off = ud.op == Op::SpliceIn ? sqe.splice_off_in : sqe.off;
        if (off >= from) return;
        off = from;
        shrink = -1;
    };

    Client clients[2];
    clients[0] = {h.connect(0), true};
    unsigned cur = 0;
    int steps = 0;
    while (!in.done() && ++steps < 400) {
        const std::uint8_t cmd = in.byte();
        Client& c = clients[cur];
        switch (cmd & 15) {
        case 0: // raw bytes
        case 1: {
            const std::string_view b = in.bytes(std::size_t(in.byte()) + 1);
            if (c.open) send(c.fd, b.data(), b.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            break;
        }
        case 2: { // a canned request, cut in two pieces with turns between
            const std::string_view r = kRequests[in.byte() % std::size(kRequests)];
            const std::size_t cut = std::min<std::size_t>(in.byte(), r.size());
            if (!c.open) break;
            send(c.fd, r.data(), cut, MSG_NOSIGNAL | MSG_DONTWAIT);
            h.turn(0);
            send(c.fd, r.data() + cut, r.size() - cut, MSG_NOSIGNAL | MSG_DONTWAIT);
            break;
        }
        case 3: h.turn(cmd >> 5); break; // a loop turn, waiting up to 7 ms
        case 4: {                        // the client reads some
            char buf[8192];
            const std::size_t n = std::size_t(in.byte()) * 64 + 1;
            if (c.open) recv(c.fd, buf, std::min(n, sizeof buf), MSG_DONTWAIT);
            break;
        }
        case 5: Harness::drain(c.fd); break;
        case 6: h.advance(std::uint64_t(in.byte() % 90) * Harness::kSec); break;
        case 7: lie = int(in.byte() % std::size(kLies)); break;
        case 8: shrink = in.byte() * 16; break;
        case 9:
            if (c.open) shutdown(c.fd, SHUT_WR);
            break;
        case 10: // a reset: TCP sends RST; a unix socket just goes
            if (c.open) {
                const linger l{1, 0};
                setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
                h.close_client(c.fd);
                c.open = false;
            }
            break;
        case 11: h.lister = Harness::Lister(in.byte() % 3); break;
        case 12: h.deliver_listings(cmd & 16 ? ENOMEM : 0); break;
        case 13:
            h.set_stopping();
            for (unsigned i = 0; i < 2; ++i) h.conn(i).stop();
            break;
        case 14: // the other client
            cur ^= 1;
            if (!clients[cur].open && h.conn(cur).state() == State::Free && !h.stopping())
                clients[cur] = {h.connect(cur), true};
            break;
        case 15: // pipelined: two canned requests in one write
            if (c.open) {
                std::string both(kRequests[in.byte() % std::size(kRequests)]);
                both += kRequests[in.byte() % std::size(kRequests)];
                send(c.fd, both.data(), both.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            break;
        }
        h.turn(0);
    }

    // The clients read what came, then go; the clock runs on. Every
    // connection must be free within a bounded number of turns. A listing
    // still queued is delivered as the worker's lister would deliver it
    // (a connection cut by its listing deadline is free while its
    // directory is still being read; the page then goes nowhere).
    h.rewrite = nullptr;
    h.mutate = nullptr;
    for (int round = 0; round < 300 && (!all_free(h, 2) || h.listings_queued() != 0); ++round) {
        for (Client& c : clients) {
            if (!c.open) continue;
            Harness::drain(c.fd);
            if (round == 3) {
                h.close_client(c.fd);
                c.open = false;
            }
        }
        h.turn(1);
        if (round % 4 == 3) {
            h.advance(30 * Harness::kSec);
            h.deliver_listings();
        }
    }
    if (!all_free(h, 2)) {
        std::fprintf(stderr, "hang: connections %d %d (in flight %u %u)\n", int(h.conn(0).state()),
                     int(h.conn(1).state()), h.conn(0).in_flight(), h.conn(1).in_flight());
        std::abort();
    }
    const std::string left = h.leaks();
    if (!left.empty()) {
        std::fprintf(stderr, "left behind: %s\n", left.c_str());
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) return 0;
    Program in(data, size);
    run(in);
    return 0;
}
