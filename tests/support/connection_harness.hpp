// The connection state machine in-process: a real ring, real provided
// buffers, a real pipe pool and file cache, and this harness as the worker
// (ConnectionServices). A client socket is accepted by the connection's own
// accept into its fixed slot (a unix stream pair, or loopback TCP where the
// TCP-only paths are wanted: TCP_CORK, SIOCOUTQ); the clock is the
// harness's, moved by hand. Completions can be rewritten before the
// connection sees them (rewrite), to reach what a kernel rarely says.
//
// Shared by tests/unit/test_connection.cpp and tests/fuzz/fuzz_connection.cpp.
// leaks() says what a test left behind: a connection not free, an exchange
// not given back, a pipe not in the pool, a cache entry still referenced, a
// deadline still queued, a descriptor still open, a close that failed.
#pragma once

#include "server/connection.hpp"
#include "server/services.hpp"
#include "uring/user_data.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace splicehttpd::test {

// The files a harness serves, in a directory made for it.
struct Site {
    std::string dir;
    int root_fd = -1;
    static constexpr std::size_t kSmall = 100;      // small.txt
    static constexpr std::size_t kMid = 20000;      // mid.bin
    static constexpr std::size_t kBig = 300 * 1024; // big.bin

    Site()
    {
        char tmpl[] = "/tmp/splicehttpd-conn-XXXXXX";
        if (!mkdtemp(tmpl)) std::abort();
        dir = tmpl;
        write("small.txt", std::string(kSmall, 's'));
        write("mid.bin", pattern(kMid));
        write("big.bin", pattern(kBig));
        write("app.js", std::string(3000, 'j'));
        write("app.js.gz", std::string(500, 'z'));
        mkdir((dir + "/docs").c_str(), 0755);
        write("docs/index.html", "<p>index</p>");
        mkdir((dir + "/list").c_str(), 0755);
        write("list/a.txt", "a");
        write("404.html", "<p>missing</p>");
        mkfifo((dir + "/fifo").c_str(), 0644);
        root_fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) std::abort();
    }
    ~Site()
    {
        close(root_fd);
        for (const char* f : {"small.txt", "mid.bin", "big.bin", "app.js", "app.js.gz", "docs/index.html", "list/a.txt",
                              "404.html", "fifo"})
            unlink((dir + "/" + f).c_str());
        rmdir((dir + "/docs").c_str());
        rmdir((dir + "/list").c_str());
        rmdir(dir.c_str());
    }
    Site(const Site&) = delete;
    Site& operator=(const Site&) = delete;

    static std::string pattern(std::size_t n)
    {
        std::string s(n, '\0');
        for (std::size_t i = 0; i < n; ++i) s[i] = char('a' + (i * 7 + i / 4096) % 26);
        return s;
    }
    void write(const std::string& name, const std::string& bytes) const
    {
        FILE* f = std::fopen((dir + "/" + name).c_str(), "wb");
        if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
        std::fclose(f);
    }
};

struct HarnessOptions {
    unsigned conns = 2;
    bool tcp = false; // loopback TCP instead of a unix stream socket
    unsigned pipes = 1;
    unsigned pipes_max = 1;
    std::uint32_t pipe_size = 16384;
    unsigned pipe_queue = 4;
    std::uint64_t inline_max = 4096;
    unsigned chain_pairs = 2;
    bool cache = true;
    bool autoindex = false;
    std::string fallback;                                 // relative to the root
    std::vector<std::pair<int, std::string>> error_pages; // relative to the root
    unsigned recv_buffers = 8;                            // a power of two
    unsigned recv_buffer_size = 512;
    std::size_t max_input = 4096;
    int client_rcvbuf = 4096; // small: the server's socket fills after a few KiB
};

class Harness final : public server::ConnectionServices {
public:
    static constexpr std::uint64_t kSec = 1'000'000'000;
    static constexpr std::uint32_t kWorker = 0xFFFFFFFFu;

    explicit Harness(const HarnessOptions& o = {}) : opts_(o)
    {
        fds_before_ = count_fds();
        uring::RingOptions ro;
        ro.sq_entries = 256;
        ro.cq_entries = 1024;
        ro.fixed_files = o.conns;
        ring_ = std::make_unique<uring::Ring>(ro);
        bufs_ = std::make_unique<uring::BufRing>(*ring_, 0, o.recv_buffers, o.recv_buffer_size);
        pipes_ = std::make_unique<uring::PipePool>(*ring_, uring::PipePoolOptions{o.pipes, o.pipes_max, o.pipe_size});
        server::FileCacheOptions fo;
        fo.enabled = o.cache;
        cache_ = std::make_unique<server::FileCache>(fo, [this](int fd) {
            io_uring_sqe* sqe = ring_->get_sqe();
            io_uring_prep_close(sqe, fd);
            sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
            io_uring_sqe_set_data64(sqe, uring::UserData{uring::Op::CloseFile, 0, 0, kWorker}.pack());
        });
        server::DeadlineQueues::Timeouts t{};
        t[std::size_t(server::Deadline::Idle)] = 75 * kSec;
        t[std::size_t(server::Deadline::Request)] = 60 * kSec;
        const auto send = server::Connection::send_deadlines(60 * kSec, ring_->supports(IORING_OP_URING_CMD));
        t[std::size_t(server::Deadline::Send)] = send.send_ns;
        t[std::size_t(server::Deadline::Recheck)] = send.recheck_ns;
        t[std::size_t(server::Deadline::Listing)] = 60 * kSec;
        t[std::size_t(server::Deadline::Linger)] = server::Connection::kLingerNs;
        deadlines_ = std::make_unique<server::DeadlineQueues>(t);
        queue_ = std::make_unique<server::PipeQueue>(o.pipe_queue, o.conns);

        server::ConnectionOptions& c = options_;
        c.max_input = o.max_input;
        auto sites = std::make_shared<server::WorkerSites>();
        server::SiteOptions& site = sites->sites.front();
        site.lookup.root_fd = site_.root_fd;
        site.root = site_.dir;
        site.lookup.mime = &mime_;
        site.lookup.autoindex = o.autoindex;
        site.lookup.fallback = opts_.fallback;
        site.lookup.error_pages = opts_.error_pages;
        c.send.chain_pairs = o.chain_pairs;
        c.send.inline_max = o.inline_max;
        c.send.cork = ring_->supports(IORING_OP_URING_CMD);
        c.send.queue_probe = ring_->supports(IORING_OP_URING_CMD);
        site.plan.boundary = "BOUNDARY";
        sites->unmatched = site;
        c.sites = std::move(sites);
        conns_.resize(o.conns);
        for (std::uint32_t i = 0; i < o.conns; ++i)
            conns_[i] = std::make_unique<server::Connection>(*this, options_, i);
        listen_fd_ = listen_socket();
    }

    ~Harness()
    {
        conns_.clear(); // each deletes its exchange
        spares_.clear();
        queue_.reset();
        cache_.reset(); // closes through the ring
        ring_->submit_and_wait(0);
        for (int fd : clients_) close(fd);
        close(listen_fd_);
    }
    Harness(const Harness&) = delete;
    Harness& operator=(const Harness&) = delete;

    // ConnectionServices
    uring::Ring& ring() noexcept override { return *ring_; }
    uring::BufRing& bufs() noexcept override { return *bufs_; }
    uring::PipePool& pipes() noexcept override { return *pipes_; }
    server::FileCache& file_cache() noexcept override { return *cache_; }
    server::DeadlineQueues& deadlines() noexcept override { return *deadlines_; }
    [[nodiscard]] bool access_log_on() const noexcept override { return true; }
    std::string& log_line() noexcept override { return log_; }
    void line_logged() noexcept override {}
    std::string_view log_time() override { return "01/Jan/2026:00:00:00 +0000"; }
    server::LogLimiter::Verdict error_log_admits(const server::ErrorKind& kind) noexcept override
    {
        ++error_asks;
        return {kind.level <= error_log_level, 0};
    }
    void error_log(const server::ErrorEntry& entry, const server::ErrorContext& context,
                   const server::LogLimiter::Verdict&) noexcept override
    {
        errors.push_back(server::error_line(entry, context));
    }
    std::string_view date() override { return "Thu, 01 Jan 2026 00:00:00 GMT"; }
    [[nodiscard]] std::uint64_t now_ns() const noexcept override { return now_; }
    [[nodiscard]] bool stopping() const noexcept override { return stopping_; }
    server::PipeQueue::Answer ask_pipe(server::PipeTicket t, bool may_refuse) override
    {
        return queue_->ask(t, may_refuse, *pipes_, [this](server::PipeTicket w) { return still_waits(w); });
    }
    [[nodiscard]] bool pipe_waiters() const noexcept override { return queue_->has_waiters(); }
    void park(server::PipeTicket t) override { queue_->park(t); }
    server::Exchange* lend_exchange() override
    {
        ++lent_;
        if (spares_.empty()) return new server::Exchange(http::ParseLimits{});
        server::Exchange* x = spares_.back().release();
        spares_.pop_back();
        return x;
    }
    void return_exchange(server::Exchange* x) noexcept override
    {
        --lent_;
        x->reset(16 * 1024);
        spares_.emplace_back(x);
    }
    server::DirLister::Answer list_directory(std::uint32_t index, std::uint16_t gen, int& dir_fd, const struct statx&,
                                             std::string_view, bool) override
    {
        server::DirLister::Answer a;
        switch (lister) {
        case Lister::Ready:
            a.kind = server::DirLister::Answer::Kind::Ready;
            a.listing = page();
            break;
        case Lister::Queue:
            a.kind = server::DirLister::Answer::Kind::Queued;
            a.ticket = ++tickets_;
            queued_.push_back({index, gen, a.ticket, std::exchange(dir_fd, -1)});
            break;
        case Lister::Refuse: a.kind = server::DirLister::Answer::Kind::Refused; break;
        }
        return a;
    }
    void slot_freed(server::Connection&) noexcept override { ++closed; }
    void on_accept_failed(server::Connection&, int) noexcept override { ++accept_failures; }

    // ---------------------------------------------------------------- driving

    server::Connection& conn(std::uint32_t i) { return *conns_[i]; }
    [[nodiscard]] const server::ConnectionOptions& options() const { return options_; }
    [[nodiscard]] const Site& site() const { return site_; }
    // The files never change: one site for every harness of a process.
    static const Site& shared_site()
    {
        static const Site site;
        return site;
    }
    void set_stopping() { stopping_ = true; }

    // Arms connection i's accept and connects a client to it; the client's
    // end (blocking, with a small receive buffer), once accepted.
    int connect(std::uint32_t i)
    {
        conns_[i]->arm_accept(listen_fd_);
        ring_->submit_and_wait(0);
        const int c = socket(opts_.tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0) std::abort();
        setsockopt(c, SOL_SOCKET, SO_RCVBUF, &opts_.client_rcvbuf, sizeof opts_.client_rcvbuf);
        if (opts_.tcp) {
            int mss = 1460;
            setsockopt(c, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
        }
        if (::connect(c, reinterpret_cast<const sockaddr*>(&addr_), addr_len_) != 0) std::abort();
        clients_.push_back(c);
        run_until([&] { return conns_[i]->state() != server::Connection::State::Accepting; });
        return c;
    }

    // Submits, waits up to wait_ms for a completion, hands every one out
    // (rewritten first, if asked), then serves the pipe queue as the worker
    // does each loop turn. Returns how many completions there were.
    unsigned turn(int wait_ms = 20)
    {
        io_uring* r = ring_->raw();
        if (mutate) {
            // The SQEs of this turn, before the kernel sees them.
            for (unsigned i = r->sq.sqe_head; i != r->sq.sqe_tail; ++i) {
                io_uring_sqe& sqe = r->sq.sqes[i & r->sq.ring_mask];
                mutate(uring::UserData::unpack(sqe.user_data), sqe);
            }
        }
        io_uring_cqe* cqe = nullptr;
        __kernel_timespec ts{wait_ms / 1000, (wait_ms % 1000) * 1'000'000L};
        io_uring_submit_and_wait_timeout(r, &cqe, wait_ms > 0 ? 1 : 0, wait_ms > 0 ? &ts : nullptr, nullptr);
        std::vector<io_uring_cqe> got;
        ring_->for_each_cqe([&](const io_uring_cqe& c) { got.push_back(c); });
        for (io_uring_cqe& c : got) {
            const uring::UserData ud = uring::UserData::unpack(c.user_data);
            if (rewrite) rewrite(ud, c);
            if (trace_)
                std::fprintf(stderr, "cqe %s(%d) seq=%u conn=%u\n", std::string(uring::op_name(ud.op)).c_str(), c.res,
                             ud.seq, ud.index);
            dispatch(ud, c);
        }
        serve_pipe_waiters();
        return unsigned(got.size());
    }

    template <typename Pred>
    bool run_until(Pred&& done, int turns = 400)
    {
        for (int i = 0; i < turns; ++i) {
            if (done()) return true;
            turn();
        }
        return done();
    }

    // Until nothing has completed for `quiet` turns of 50 ms: a stalled
    // peer is really stalled (its window shut, our queue full), not just
    // between two ACKs.
    void quiesce(int quiet = 6, int limit = 200)
    {
        for (int q = 0, i = 0; q < quiet && i < limit; ++i) q = turn(50) == 0 ? q + 1 : 0;
    }

    // The clock moves on, then the once-a-second tick runs.
    void advance(std::uint64_t ns)
    {
        now_ += ns;
        deadlines_->expire(now_, [this](server::Deadline kind, std::uint32_t i) { conns_[i]->on_timeout(kind); });
        cache_->sweep(now_);
        turn(0);
    }

    // --autoindex: what list_directory answers, and the queued listings
    // delivered (a page, or a failure with err) as the worker would.
    enum class Lister { Ready, Queue, Refuse };
    Lister lister = Lister::Queue;
    void deliver_listings(int err = 0)
    {
        std::vector<Queued> q;
        q.swap(queued_);
        for (const Queued& l : q) {
            close(l.fd);
            server::Connection& c = *conns_[l.index];
            if (c.gen() == l.gen) c.on_listing(l.ticket, err ? nullptr : page(), err);
        }
    }
    [[nodiscard]] std::size_t listings_queued() const { return queued_.size(); }

    // Reads what the client has (without blocking).
    static std::string drain(int fd)
    {
        std::string out;
        char buf[65536];
        for (;;) {
            const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n <= 0) break;
            out.append(buf, std::size_t(n));
        }
        return out;
    }

    // Runs the ring and reads until the client has `count` whole responses
    // (by Content-Length) or the connection closed; returns what it read.
    std::string read_responses(int fd, unsigned count = 1, int turns = 2000)
    {
        std::string got;
        for (int i = 0; i < turns && complete(got) < count; ++i) {
            turn(1);
            got += drain(fd);
        }
        return got;
    }

    // How many whole responses the bytes hold.
    static unsigned complete(std::string_view s)
    {
        unsigned n = 0;
        for (;;) {
            const std::size_t end = s.find("\r\n\r\n");
            if (end == std::string_view::npos) return n;
            const std::string_view head = s.substr(0, end);
            std::size_t body = 0;
            const std::size_t cl = head.find("Content-Length: ");
            if (cl != std::string_view::npos) body = std::strtoull(head.data() + cl + 16, nullptr, 10);
            const bool no_body = head.starts_with("HTTP/1.1 304") || head.starts_with("HTTP/1.1 204");
            const std::size_t total = end + 4 + (no_body ? 0 : body);
            if (s.size() < total) return n;
            ++n;
            s.remove_prefix(total);
        }
    }

    // Every connection free (or waiting in a fresh accept): everything it
    // held is back. Runs the ring until the last closes and drains are done.
    std::string leaks()
    {
        for (int quiet = 0, i = 0; quiet < 3 && i < 100; ++i) quiet = turn(1) == 0 ? quiet + 1 : 0;
        now_ += 3600 * kSec;
        cache_->sweep(now_);
        ring_->submit_and_wait(0);
        for (int quiet = 0, i = 0; quiet < 3 && i < 100; ++i) quiet = turn(1) == 0 ? quiet + 1 : 0;
        std::string out;
        for (const auto& c : conns_) {
            if (c->state() != server::Connection::State::Free)
                out += "connection " + std::to_string(c->index()) + " not free (state " +
                       std::to_string(int(c->state())) + ", in flight " + std::to_string(c->in_flight()) + "); ";
            if (c->has_exchange()) out += "connection " + std::to_string(c->index()) + " holds an exchange; ";
        }
        if (lent_ != 0) out += std::to_string(lent_) + " exchanges not given back; ";
        const uring::PipePoolStats p = pipes_->stats();
        if (p.free != p.total || p.draining != 0)
            out += "pipes: " + std::to_string(p.free) + " of " + std::to_string(p.total) + " free, " +
                   std::to_string(p.draining) + " draining; ";
        const server::FileCacheStats fc = cache_->stats();
        if (fc.entries != 0 || fc.retired != 0)
            out += "file cache: " + std::to_string(fc.entries) + " entries, " + std::to_string(fc.retired) +
                   " retired still referenced; ";
        for (std::size_t k = 0; k < server::kDeadlineKinds; ++k)
            if (deadlines_->size(server::Deadline(k)) != 0) out += "a deadline still queued; ";
        if (queue_->has_waiters()) out += "pipe waiters left; ";
        if (!queued_.empty()) out += "listings left queued; ";
        if (close_failures != 0) out += std::to_string(close_failures) + " closes failed; ";
        // Clients, the listener, the ring, the pool's pipes and /dev/null
        // are the harness's own.
        const int expected = fds_before_ + int(clients_.size()) + 1 + 1 + int(p.total) * 2 + 1;
        const int open_now = count_fds();
        if (open_now != expected)
            out += std::to_string(open_now) + " descriptors open, " + std::to_string(expected) + " expected; ";
        return out;
    }

    // The test closes its end: the harness no longer counts or closes it.
    void close_client(int fd)
    {
        std::erase(clients_, fd);
        close(fd);
    }

    // What the kernel is asked (mutate: a shorter length, a path that is not
    // there, before submit: a real short splice, a real ENOENT), and what it
    // answered (rewrite: only where the connection cannot be lied to into a
    // state the kernel never leaves it in: a splice from the pipe that
    // "moved nothing" after all would leave the cursor counting bytes that
    // are gone).
    std::function<void(const uring::UserData&, io_uring_sqe&)> mutate;
    std::function<void(const uring::UserData&, io_uring_cqe&)> rewrite;
    // The error log: lines up to this level are admitted (no rate limit
    // here), and kept whole; error_asks counts the questions.
    server::LogLevel error_log_level = server::LogLevel::Debug;
    std::vector<std::string> errors;
    unsigned error_asks = 0;
    unsigned closed = 0;          // sockets closed (slot_freed)
    unsigned accept_failures = 0; // on_accept_failed
    unsigned close_failures = 0;  // a CloseFile CQE: a close failed (EBADF: closed twice)
    unsigned cork_failures = 0;   // a Cork CQE (unix sockets have no TCP_CORK)
    std::string log_;             // the access log

private:
    struct Queued {
        std::uint32_t index;
        std::uint16_t gen;
        std::uint32_t ticket;
        int fd;
    };

    static std::shared_ptr<const http::Listing> page()
    {
        auto l = std::make_shared<http::Listing>();
        l->body = "<html><body>listing</body></html>\n";
        l->etag = "\"page\"";
        l->last_modified = 1700000000;
        return l;
    }

    void dispatch(const uring::UserData& ud, const io_uring_cqe& cqe)
    {
        switch (uring::op_def(ud.op).owner) {
        case uring::Owner::Worker:
            if (ud.op == uring::Op::CloseFile) ++close_failures;
            if (ud.op == uring::Op::Cork) ++cork_failures;
            return;
        case uring::Owner::Pool:
            if (ud.op == uring::Op::Drain) return pipes_->on_drain(ud.index, cqe.res);
            return pipes_->on_created(cqe.res);
        case uring::Owner::Connection:
        case uring::Owner::Lookup:
        case uring::Owner::Sender: break;
        }
        if (ud.index >= conns_.size()) return;
        server::Connection& c = *conns_[ud.index];
        if (c.gen() != ud.gen || c.state() == server::Connection::State::Free) return; // stale
        c.on_cqe(ud.op, ud.seq, cqe);
    }

    bool still_waits(server::PipeTicket t) const
    {
        return conns_[t.index]->gen() == t.gen && conns_[t.index]->waits_for_pipe();
    }

    void serve_pipe_waiters()
    {
        queue_->serve(
            *pipes_, [this](server::PipeTicket t) { return still_waits(t); },
            [this](server::PipeTicket t, uring::Pipe* p) { conns_[t.index]->on_pipe(p); },
            [this](server::PipeTicket t) { return conns_[t.index]->gen() == t.gen && conns_[t.index]->yield_pipe(); });
    }

    int listen_socket()
    {
        const int fd = socket(opts_.tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) std::abort();
        std::memset(&addr_, 0, sizeof addr_);
        if (opts_.tcp) {
            auto* a = reinterpret_cast<sockaddr_in*>(&addr_);
            a->sin_family = AF_INET;
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            addr_len_ = sizeof(sockaddr_in);
        } else {
            auto* a = reinterpret_cast<sockaddr_un*>(&addr_);
            a->sun_family = AF_UNIX;
            addr_len_ = sizeof(sa_family_t); // autobind: an abstract name the kernel picks
        }
        // Accepted sockets inherit it: a few KiB fill them, as a slow
        // client's would (loopback otherwise grows buffers to MiBs).
        const int small = 4096;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        if (bind(fd, reinterpret_cast<sockaddr*>(&addr_), addr_len_) != 0) std::abort();
        addr_len_ = sizeof addr_;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr_), &addr_len_) != 0) std::abort();
        if (listen(fd, 16) != 0) std::abort();
        return fd;
    }

    static int count_fds()
    {
        int n = 0;
        DIR* d = opendir("/proc/self/fd");
        if (!d) return -1;
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.') ++n;
        closedir(d);
        return n - 1; // the directory's own
    }

    HarnessOptions opts_;
    const Site& site_ = shared_site();
    http::MimeTable mime_;
    int fds_before_ = 0;
    std::unique_ptr<uring::Ring> ring_;
    std::unique_ptr<uring::BufRing> bufs_;
    std::unique_ptr<uring::PipePool> pipes_;
    std::unique_ptr<server::FileCache> cache_;
    std::unique_ptr<server::DeadlineQueues> deadlines_;
    std::unique_ptr<server::PipeQueue> queue_;
    server::ConnectionOptions options_;
    std::vector<std::unique_ptr<server::Exchange>> spares_;
    std::vector<std::unique_ptr<server::Connection>> conns_;
    int lent_ = 0;
    bool trace_ = std::getenv("HARNESS_TRACE") != nullptr;
    std::uint64_t now_ = 1000 * kSec;
    bool stopping_ = false;
    int listen_fd_ = -1;
    sockaddr_storage addr_{};
    socklen_t addr_len_ = 0;
    std::vector<int> clients_;
    std::vector<Queued> queued_;
    std::uint32_t tickets_ = 0;
};

} // namespace splicehttpd::test
