#include "server/worker.hpp"

#include "http/access_log.hpp"
#include "plural.hpp"
#include "server/access_log_file.hpp"
#include "sys/assert.hpp"
#include "sys/clock.hpp"
#include "uring/user_data.hpp"

#include <spdlog/spdlog.h>

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace splicehttpd::server {

namespace {

using uring::Op;
using uring::UserData;

constexpr unsigned kRecvBuffers = 1024; // per worker, a power of two
constexpr unsigned kRecvBufferSize = 4096;
// Accepts kept armed at once, each into a free connection's slot. A queued
// client is accepted inline when its accept is submitted, so a few suffice.
constexpr unsigned kAcceptsArmed = 16;
// Exchanges kept for reuse when connections go idle: enough for every
// request in flight on a busy worker; past it, memory goes back.
constexpr std::size_t kSpareExchanges = 256;
// Access log bytes a worker gathers before handing them to the writer thread.
constexpr std::size_t kAccessBatch = 16 * 1024;
// A spare keeps a plan's memory up to an in-memory body of the default
// --inline-max and its head; a larger one is given back, or a burst of large
// inline bodies would stay resident (kSpareExchanges of them) for good.
constexpr std::size_t kSparePlanBytes = 64 * 1024 + 16 * 1024;
// The error log's rate limit, per kind of line and per worker: bursts of 50,
// then 10 lines a second (a flood costs at most a few KiB a second of log).
constexpr unsigned kErrorLinesPerSecond = 10;
constexpr unsigned kErrorLineBurst = 50;
// After a stop, how long from its accept a connection that has sent nothing
// (or not finished its TLS handshake) gets for its first request: one that
// was on its way lands within it; a socket a browser preconnected is closed.
constexpr std::uint64_t kStopSilentNs = 2'000'000'000;

} // namespace

namespace {

DeadlineQueues::Timeouts timeouts_of(const Config& c, bool queue_probe)
{
    constexpr std::uint64_t s = 1'000'000'000;
    DeadlineQueues::Timeouts t{};
    t[std::size_t(Deadline::Idle)] = c.keepalive_timeout * s;
    t[std::size_t(Deadline::Request)] = c.header_timeout * s;
    const Connection::SendDeadlines send = Connection::send_deadlines(c.send_timeout * s, queue_probe);
    t[std::size_t(Deadline::Send)] = send.send_ns;
    t[std::size_t(Deadline::Recheck)] = send.recheck_ns;
    t[std::size_t(Deadline::Listing)] = c.send_timeout * s; // as long as a response may go without progress
    t[std::size_t(Deadline::Linger)] = Connection::kLingerNs;
    t[std::size_t(Deadline::Handshake)] = c.tls_handshake_timeout * s;
    return t;
}

} // namespace

Worker::Worker(unsigned id, const ServerSetup& setup, std::vector<ListenSocket> listeners,
               sys::UniqueFd metrics_listener, int wake_fd, std::atomic<unsigned>& commands)
    : id_(id),
      setup_(setup),
      debug_(setup.config.debug),
      max_conns_(setup.config.max_conns),
      metrics_listener_(std::move(metrics_listener)),
      wake_fd_(wake_fd),
      commands_(commands),
      pipe_queue_(setup.config.pipe_queue, setup.config.max_conns),
      error_limiter_(kErrorLinesPerSecond, kErrorLineBurst)
{
    const Config& c = setup.config;
    for (ListenSocket& l : listeners)
        sources_.push_back({std::move(l.fd), l.tls ? Connection::Listener::Tls : Connection::Listener::Plain});
    SPLICEHTTPD_ASSERT(sources_.size() < kNoSource);
    accept_source_.assign(max_conns_, kNoSource);
    // Fixed-file table: one socket slot per connection, slot = connection
    // index. Files are plain descriptors (see server/lookup).
    uring::RingOptions ro;
    ro.fixed_files = max_conns_;
    // Splices (and statx, and reads of cold files) run on io-wq. With
    // non-blocking sockets none of them sleeps on a peer, so a few workers
    // serve any number of connections.
    ro.iowq_bounded = c.io_workers;
    ro.iowq_unbounded = c.io_workers;
    ro.sqpoll = c.sqpoll;
    ro.sqpoll_idle_ms = c.sqpoll_idle_ms;
    ring_ = std::make_unique<uring::Ring>(ro);
    bufs_ = std::make_unique<uring::BufRing>(*ring_, 0, kRecvBuffers, kRecvBufferSize);

    pipes_ = std::make_unique<uring::PipePool>(*ring_, uring::PipePoolOptions{c.pipes, c.pipes_max, c.pipe_size});

    if (id_ == 0) {
        const uring::Pipe* first = pipes_->pipe(0);
        spdlog::info("ring flags {:#x}; {} of {} bytes per thread (at most {}), grown through {}", ring_->setup_flags(),
                     plural(c.pipes, "pipe"), first ? first->capacity : 0, c.pipes_max,
                     pipes_->grows_through_ring() ? "IORING_OP_PIPE" : "pipe2");
    }

    FileCacheOptions fo;
    fo.enabled = c.cache;
    fo.ttl_ns = std::uint64_t(c.cache_ttl_ms) * 1'000'000;
    fo.max_entries = c.cache_entries;
    fo.max_body_bytes = c.cache_bytes;
    file_cache_ = std::make_unique<FileCache>(fo, [this](int fd) {
        // Through the ring, like every close; a CQE only if it fails.
        io_uring_sqe* sqe = worker_sqe(Op::CloseFile);
        io_uring_prep_close(sqe, fd);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    });

    const std::vector<Site>& sites = setup.sites->get()->table->all();
    if (std::any_of(sites.begin(), sites.end(), [](const Site& s) { return s.settings.autoindex; })) {
        DirListerOptions lo;
        lo.cache = c.cache;
        lo.ttl_ns = fo.ttl_ns;
        lo.memory_budget = c.listing_memory;
        lo.worker = id_;
        lister_ = std::make_unique<DirLister>(lo);
    }

    // All a connection knows of the configuration, typed, once.
    ConnectionOptions& o = conn_options_;
    o.max_input = c.max_input;
    o.debug = debug_;
    if (c.https_redirect) o.https_redirect = setup.https_port;
    o.access_log_vhost = c.access_log_format == "vhost";
    o.send.chain_pairs = c.chain_pairs;
    o.send.inline_max = c.inline_max;
    o.send.cork = ring_->supports(IORING_OP_URING_CMD);
    o.send.queue_probe = ring_->supports(IORING_OP_URING_CMD);
    // kTLS: the keys go to a fixed slot through the ring's setsockopt.
    if (setup.kernel_tls.available) {
        if (ring_->supports(IORING_OP_URING_CMD))
            o.kernel_tls = &setup.kernel_tls;
        else if (id_ == 0)
            spdlog::info("HTTPS bodies are encrypted in user space: kTLS keys go to a socket through "
                         "IORING_OP_URING_CMD (Linux 6.7), which this kernel lacks");
    }
    deadlines_.set_timeouts(timeouts_of(c, o.send.queue_probe)); // once the ring says whether SIOCOUTQ can be asked
    adopt_sites(setup.sites->get());

    // Connections are made when first needed, lowest index first, and kept
    // for reuse: memory follows the most clients ever at once, not the
    // --max-conns capacity.
    conns_.resize(max_conns_);
    if (setup.tls) {
        handshakes_.resize(max_conns_);
        handshake_queued_.resize(max_conns_);
    }
    free_conns_.reserve(max_conns_);
    for (std::uint32_t i = max_conns_; i-- > 0;) free_conns_.push_back(i);
    spare_exchanges_.reserve(kSpareExchanges);
    if (setup.client_limit) client_keys_.resize(max_conns_);
    if (setup.access_log) access_batch_.reserve(kAccessBatch + 4096);
}

Worker::~Worker() = default;

void Worker::run()
{
    now_ns_ = sys::monotonic_ns();
    fill_accepts();
    arm_wake();
    arm_tick();
    if (lister_) arm_listings();
    while (!(stopping_ && live_ == 0 && accepts_armed_ == 0)) {
        // Handshakes left from the last turn: look for completions, do not wait.
        int ret = handshake_count_ > 0 ? ring_->submit_and_get_events() : ring_->submit_and_wait(1);
        now_ns_ = sys::monotonic_ns();
        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME) {
            spdlog::error("w{} io_uring_enter: {}", id_, std::strerror(-ret));
            break;
        }
        ring_->for_each_cqe([this](const io_uring_cqe& cqe) { dispatch(cqe); });
        run_handshakes();
        serve_pipe_waiters();
        fill_accepts();
    }
    // Let the last closes reach the kernel before the ring goes away.
    ring_->submit_and_wait(0);
    hand_over_access_lines();
    publish_metrics();
}

void Worker::dispatch(const io_uring_cqe& cqe) noexcept
{
    const UserData ud = UserData::unpack(cqe.user_data);
    if (debug_) log_completion(ud, cqe);

    switch (uring::op_def(ud.op).owner) {
    case uring::Owner::Worker:
        switch (ud.op) {
        case Op::Wake: return on_wake(cqe.res);
        case Op::Timeout: return on_grace_timeout();
        case Op::Tick: return on_tick();
        case Op::Listing: return on_listings(cqe.res);
        case Op::ListenPoll: return on_listen_poll(ud.seq, cqe.res);
        case Op::CancelAccept: return; // the accept itself completes with -ECANCELED
        case Op::Cork: return;         // failed (only failures post a CQE): the response goes uncorked
        case Op::CloseFile:
            // Only failures post a CQE (IOSQE_CQE_SKIP_SUCCESS).
            spdlog::warn("w{} close of a file failed: {}", id_, cqe_result_text(cqe.res));
            return;
        default: SPLICEHTTPD_ASSERT(ud.op == Op::None); return;
        }
    case uring::Owner::Pool:
        if (ud.op == Op::Drain) return pipes_->on_drain(ud.index, cqe.res);
        return pipes_->on_created(cqe.res);
    case uring::Owner::Connection:
    case uring::Owner::Lookup:
    case uring::Owner::Sender: break;
    }
    if (ud.index >= conns_.size() || !conns_[ud.index]) return;
    Connection& c = *conns_[ud.index];
    if (c.gen() != ud.gen || c.state() == Connection::State::Free) return; // stale: the slot was reused

    if (ud.op == Op::Accept) {
        --accepts_armed_;
        if (const std::uint8_t source = accept_source_[c.index()]; source != kNoSource)
            --sources_[source].armed;
        else
            --metrics_accepts_armed_;
        accept_source_[c.index()] = kNoSource;
        if (cqe.res >= 0) {
            ++live_;
            ++accepted_;
        }
    }
    c.on_cqe(ud.op, ud.seq, cqe);
    if (ud.op == Op::Accept && cqe.res >= 0) limit_client(c);
}

// Keeps a few accepts armed, each into the socket slot of a free connection.
// When every connection is taken none is armed, and new clients wait in the
// listen backlog until a slot frees: never accepted only to be dropped.
// Each listener (every --listen address, --tls-port's) has its own few, a
// free slot going to the one with fewest armed, and between equals to the
// one after the last served: with fewer free slots than listeners (a small
// --max-conns), a slot freed goes to a listener that had none, in turn,
// and none waits for good behind another.
void Worker::fill_accepts() noexcept
{
    // A scrape is rare: one accept armed for it.
    if (metrics_listener_ && metrics_accepts_armed_ == 0 && !stopping_ && !accept_paused_ && !free_conns_.empty())
        arm_accept_on(metrics_listener_.get(), Connection::Listener::Metrics, kNoSource);
    const std::size_t n = sources_.size();
    while (!stopping_ && !accept_paused_ && !free_conns_.empty() && n > 0) {
        std::size_t best = next_source_ % n;
        for (std::size_t k = 1; k < n; ++k) {
            const std::size_t i = (next_source_ + k) % n;
            if (sources_[i].armed < sources_[best].armed) best = i;
        }
        if (sources_[best].armed >= kAcceptsArmed) break;
        arm_accept_on(sources_[best].fd.get(), sources_[best].kind, std::uint8_t(best));
        next_source_ = (best + 1) % n;
    }
    arm_listen_polls();
}

// Fewer free slots than listeners (connections hold the rest): a listener
// left without an accept would keep its clients in the backlog while a slot
// waits on an idle listener, until some connection closes. A poll (which
// takes no slot) on each such listener says when a client waits there; then
// an accept armed elsewhere is cancelled, and its slot, free again, goes to
// the listener with none (fill_accepts).
void Worker::arm_listen_polls() noexcept
{
    // Paused (out of descriptors): a slot moved would only wait again.
    if (stopping_ || accept_paused_ || sources_.size() < 2) return;
    const bool any_armed = std::any_of(sources_.begin(), sources_.end(), [](const Source& s) { return s.armed > 0; });
    if (!any_armed) return; // no slot to move: a closing connection frees one
    for (std::size_t i = 0; i < sources_.size(); ++i) {
        Source& s = sources_[i];
        if (s.armed > 0 || s.polling || !s.fd) continue;
        io_uring_sqe* sqe = ring_->get_sqe();
        io_uring_prep_poll_add(sqe, s.fd.get(), POLLIN);
        io_uring_sqe_set_data64(sqe, UserData{Op::ListenPoll, std::uint8_t(i), 0, kWorkerIndex}.pack());
        s.polling = true;
    }
}

void Worker::on_listen_poll(std::uint8_t source, int res) noexcept
{
    if (source >= sources_.size()) return;
    Source& s = sources_[source];
    s.polling = false;
    if (stopping_ || accept_paused_ || res < 0 || s.armed > 0) return; // cancelled, or it has an accept again
    // The listener with the most accepts armed gives one up.
    std::size_t victim = source; // armed == 0
    for (std::size_t i = 0; i < sources_.size(); ++i)
        if (sources_[i].armed > sources_[victim].armed) victim = i;
    if (victim == source) return; // every slot holds a connection: the next to close frees one
    for (const auto& c : conns_) {
        if (!c || c->state() != Connection::State::Accepting || accept_source_[c->index()] != victim) continue;
        io_uring_prep_cancel64(worker_sqe(Op::CancelAccept), UserData{Op::Accept, 0, c->gen(), c->index()}.pack(), 0);
        // Between equals, the freed slot goes to this listener.
        next_source_ = source;
        return;
    }
}

void Worker::arm_accept_on(int listen_fd, Connection::Listener from, std::uint8_t source) noexcept
{
    auto& slot = conns_[free_conns_.back()];
    free_conns_.pop_back();
    if (!slot) slot = std::make_unique<Connection>(*this, conn_options_, std::uint32_t(&slot - conns_.data()));
    slot->arm_accept(listen_fd, from);
    ++accepts_armed_;
    accept_source_[slot->index()] = source;
    if (source != kNoSource)
        ++sources_[source].armed;
    else
        ++metrics_accepts_armed_;
}

// --max-conns-per-ip: a client past its limit is closed at once (shutdown
// through the ring, then the slot's close), unanswered: it holds its slot
// for the completions of its close, never for a request's read. No 503 as nginx's
// limit_conn sends: that would mean reading the request first, a slot and
// an exchange held for as long as the client takes to send it.
void Worker::limit_client(Connection& c) noexcept
{
    if (!setup_.client_limit) return;
    const std::optional<ClientKey> key = ClientKey::of_peer(c.peer());
    // No address to count by; a unix peer is a local proxy (all its clients
    // would share one count), and the socket's permissions decide who comes.
    if (!key || key->is_unix) return;
    if (setup_.client_limit->try_add(*key)) {
        client_keys_[c.index()] = key;
        return;
    }
    ++refused_per_ip_;
    c.abort();
}

void Worker::on_accept_failed(Connection& c, int res) noexcept
{
    free_conns_.push_back(c.index());
    if (res == -ECANCELED || res == -ECONNABORTED) return;
    // Out of descriptors or memory: do not spin; the tick tries again.
    spdlog::warn("w{} accept: {}", id_, cqe_result_text(res));
    accept_paused_ = true;
}

void Worker::slot_freed(Connection& c) noexcept
{
    free_conns_.push_back(c.index());
    if (setup_.client_limit) {
        if (auto& key = client_keys_[c.index()]) setup_.client_limit->remove(*key);
        client_keys_[c.index()].reset();
    }
    --live_;
}

Exchange* Worker::lend_exchange()
{
    if (spare_exchanges_.empty()) {
        ++exchanges_;
        return new Exchange(setup_.config.limits);
    }
    Exchange* x = spare_exchanges_.back().release();
    spare_exchanges_.pop_back();
    return x;
}

void Worker::return_exchange(Exchange* x) noexcept
{
    std::unique_ptr<Exchange> owned(x);
    if (spare_exchanges_.size() >= kSpareExchanges) {
        --exchanges_;
        return; // destroyed
    }
    owned->reset(std::min<std::size_t>(setup_.config.inline_max + 16 * 1024, kSparePlanBytes));
    spare_exchanges_.push_back(std::move(owned));
}

void Worker::line_logged() noexcept
{
    if (access_batch_.size() >= kAccessBatch) hand_over_access_lines();
}

void Worker::hand_over_access_lines() noexcept
{
    if (access_batch_.empty() || !setup_.access_log) return;
    setup_.access_log->write(access_batch_);
    access_batch_.clear();
}

std::string_view Worker::log_time()
{
    const std::time_t now = std::time(nullptr); // vDSO
    if (now != log_time_sec_) {
        log_time_ = http::format_log_time(now);
        log_time_sec_ = now;
    }
    return log_time_;
}

// ---------------------------------------------------------------- pipes

PipeQueue::Answer Worker::ask_pipe(PipeTicket ticket, bool may_refuse)
{
    return pipe_queue_.ask(ticket, may_refuse, *pipes_, [this](PipeTicket t) { return waits_for_pipe(t); });
}

bool Worker::waits_for_pipe(PipeTicket t) const noexcept
{
    const Connection& c = *conns_[t.index];
    return c.gen() == t.gen && c.waits_for_pipe();
}

// HTTPS handshakes: answering a ClientHello costs a key exchange and a
// signature, 100-300 µs, where answering a request costs a few. Taken in
// the order the completions come, a burst of new connections held every
// request of the same turn behind all of them (a response waited 5 ms under
// 50 connections that each did one request per handshake, nginx's 0.6).
// So a connection's first handshake step waits here, and each turn answers
// every other completion first, then the oldest waiting handshakes for at
// most kHandshakeSlice (at least one). New clients wait for their handshake
// rather than established ones for their responses, as under nginx, where
// they wait in the listen backlog; the handshake deadline still bounds the
// wait, and a flood of ClientHellos cannot starve established connections.
namespace {
constexpr std::uint64_t kHandshakeSlice = 100'000; // ns: about one full handshake
} // namespace

bool Worker::defer_handshake(Connection& c) noexcept
{
    if (handshakes_.empty()) return false;
    const std::uint32_t i = c.index();
    if (!handshake_queued_[i]) { // else its old entry, not yet reached, serves
        handshake_queued_[i] = 1;
        handshakes_[(handshake_head_ + handshake_count_++) % handshakes_.size()] = i;
    }
    return true;
}

void Worker::run_handshakes() noexcept
{
    if (handshake_count_ == 0) return;
    const std::uint64_t start = sys::monotonic_ns();
    do {
        const std::uint32_t i = handshakes_[handshake_head_];
        handshake_head_ = (handshake_head_ + 1) % handshakes_.size();
        --handshake_count_;
        handshake_queued_[i] = 0;
        // A slot reset since, and not waiting again, ignores it.
        if (conns_[i]) conns_[i]->on_handshake_turn();
    } while (handshake_count_ > 0 && sys::monotonic_ns() - start < kHandshakeSlice);
    now_ns_ = sys::monotonic_ns();
}

// Each loop turn: free pipes to the connections that wait, first come first
// served; none free, one taken back from a connection stalled on its peer.
void Worker::serve_pipe_waiters() noexcept
{
    pipe_queue_.serve(
        *pipes_, [this](PipeTicket t) { return waits_for_pipe(t); },
        [this](PipeTicket t, uring::Pipe* pipe) { conns_[t.index]->on_pipe(pipe); },
        [this](PipeTicket t) {
            Connection& c = *conns_[t.index];
            return c.gen() == t.gen && c.yield_pipe();
        });
}

// ---------------------------------------------------------------- commands

// prep_* leaves user_data alone, so it can be set before the SQE is filled.
io_uring_sqe* Worker::worker_sqe(Op op) noexcept
{
    io_uring_sqe* sqe = ring_->get_sqe();
    io_uring_sqe_set_data64(sqe, UserData{op, 0, 0, kWorkerIndex}.pack());
    return sqe;
}

void Worker::arm_wake() noexcept
{
    io_uring_prep_read(worker_sqe(Op::Wake), wake_fd_, &wake_buf_, sizeof wake_buf_, 0);
    wake_submitted_ns_ = sys::monotonic_ns();
}

void Worker::on_wake(int res) noexcept
{
    const unsigned commands = commands_.exchange(0);
    if (commands & kCommandStats) log_stats();
    if (commands & kCommandSites) adopt_sites(setup_.sites->get());
    if ((commands & kCommandStop) && !stopping_) begin_stop();
    if (res >= 0 || res == -EAGAIN || res == -EINTR) arm_wake();
}

// A new generation of sites (start-up, or a SIGHUP's reload): the next
// request of every connection chooses among them; a request in flight keeps
// the generation it started with.
void Worker::adopt_sites(std::shared_ptr<const SiteGeneration> generation)
{
    if (!generation || generation == conn_options_.sites->generation) return;
    auto w = std::make_shared<WorkerSites>();
    const Sites& table = *generation->table;
    const std::vector<Site>& sites = table.all();
    SPLICEHTTPD_ASSERT(generation->roots.size() == sites.size());
    w->sites.clear(); // (a default WorkerSites has one empty site)
    w->sites.reserve(sites.size());
    w->cache_prefixes.resize(sites.size());
    for (std::size_t i = 0; i < sites.size(); ++i) {
        const SiteSettings& s = sites[i].settings;
        // The open-file cache's keys differ by a prefix no path can hold
        // (NUL), per site and per generation: a reload's new roots never
        // find the old ones' entries. The only site at start-up keeps plain
        // paths.
        if (sites.size() > 1 || generation->number > 0)
            w->cache_prefixes[i] = fmt::format("{}{}:{}{}", '\0', generation->number, i, '\0');
        SiteOptions& so = w->sites.emplace_back();
        so.label = sites[i].label;
        so.root = s.root;
        so.dotfiles = s.dotfiles;
        so.precompressed = s.precompressed;
        so.lookup.root_fd = generation->roots[i].get();
        so.lookup.cache_prefix = w->cache_prefixes[i];
        so.lookup.mime = generation->mime.get();
        so.lookup.precompressed = s.precompressed;
        so.lookup.autoindex = s.autoindex && lister_;
        so.lookup.fallback = s.fallback;
        so.lookup.fallback_prefixes = s.fallback_prefixes;
        so.lookup.debug = debug_;
        so.lookup.error_pages = s.error_pages;
        so.plan.extra_headers = s.extra_headers;
        so.plan.expires_rules = s.expires_rules;
        so.plan.boundary = setup_.boundary;
    }
    w->hosts = sites.size() > 1 || table.unknown_host() == UnknownHost::Misdirected ? &table : nullptr;
    if (const Site* d = table.default_site()) {
        w->unmatched = w->sites[table.index_of(*d)];
    } else {
        w->unmatched.root = generation->top.root;
        w->unmatched.lookup.mime = generation->mime.get();
        w->unmatched.plan.extra_headers = generation->top.extra_headers;
        w->unmatched.plan.boundary = setup_.boundary;
    }
    w->generation = std::move(generation);
    conn_options_.sites = std::move(w);
}

// ---------------------------------------------------------------- autoindex

DirLister::Answer Worker::list_directory(std::uint32_t index, std::uint16_t gen, int& dir_fd, const struct statx& stx,
                                         std::string_view rel_path, bool dotfiles)
{
    SPLICEHTTPD_ASSERT(lister_); // decide_lookup lists only with --autoindex
    if (!lister_) return {};     // Refused
    return lister_->find_or_queue(index, gen, dir_fd, stx, rel_path, dotfiles, now_ns_);
}

void Worker::arm_listings() noexcept
{
    io_uring_prep_read(worker_sqe(Op::Listing), lister_->event_fd(), lister_->event_buf(), sizeof(std::uint64_t), 0);
}

// The lister thread wrote its eventfd: hand each listing to the connection
// that asked, if it still waits (a connection closed since has a new gen).
void Worker::on_listings(int res) noexcept
{
    for (DirLister::Done& d : lister_->take_done(now_ns_)) {
        if (d.index >= conns_.size() || !conns_[d.index]) continue;
        Connection& c = *conns_[d.index];
        if (c.gen() != d.gen) continue; // closed since
        c.on_listing(d.ticket, std::move(d.listing), d.err);
    }
    if (res >= 0 || res == -EAGAIN || res == -EINTR)
        arm_listings();
    else
        spdlog::error("w{} autoindex eventfd read: {}", id_, cqe_result_text(res));
}

void Worker::begin_stop() noexcept
{
    stopping_ = true;
    for (const auto& c : conns_) {
        if (!c || c->state() != Connection::State::Accepting) continue;
        io_uring_prep_cancel64(worker_sqe(Op::CancelAccept), UserData{Op::Accept, 0, c->gen(), c->index()}.pack(), 0);
    }
    // New connections go nowhere; the kernel refuses them once every worker
    // has closed its listener.
    for (std::size_t i = 0; i < sources_.size(); ++i) {
        // A poll holds its file: the socket would stay open, and the kernel
        // would complete handshakes nobody accepts.
        if (sources_[i].polling)
            io_uring_prep_cancel64(worker_sqe(Op::CancelAccept),
                                   UserData{Op::ListenPoll, std::uint8_t(i), 0, kWorkerIndex}.pack(), 0);
        sources_[i].fd.reset();
    }
    metrics_listener_.reset();
    for (auto& c : conns_)
        if (c) c->stop();

    // Lingering closes end at the next tick, not after their few seconds.
    deadlines_.shorten_timeout(Deadline::Linger, 0);
    // A connection that has sent nothing yet (or not finished its TLS
    // handshake) stays open (stop()) for the request that may be on its
    // way, but only a moment: the keep-alive timeout (75 s by default) or
    // the handshake's (10 s) would hold the exit for the whole
    // --shutdown-timeout whenever a browser has a socket preconnected. Only
    // such connections wait in the idle queue now (stop() closed the
    // keep-alive ones).
    for (const Deadline kind : {Deadline::Idle, Deadline::Handshake})
        deadlines_.shorten_timeout(kind, std::min(deadlines_.timeout(kind), kStopSilentNs));

    grace_.tv_sec = setup_.config.shutdown_timeout; // --shutdown-timeout
    io_uring_prep_timeout(worker_sqe(Op::Timeout), &grace_, 0, 0);
}

void Worker::arm_tick() noexcept
{
    tick_.tv_sec = 1;
    io_uring_prep_timeout(worker_sqe(Op::Tick), &tick_, 0, 0);
    tick_submitted_ns_ = sys::monotonic_ns();
}

void Worker::on_tick() noexcept
{
    accept_paused_ = false;
    // Only connections whose timeout ran out: each queue is in deadline
    // order, and owns its timeout.
    deadlines_.expire(now_ns_, [this](Deadline kind, std::uint32_t index) { conns_[index]->on_timeout(kind); });
    file_cache_->sweep(now_ns_);
    log_suppressed();
    hand_over_access_lines();
    if (setup_.access_log) setup_.access_log->flush(); // lines reach the file within a second
    publish_metrics();
    arm_tick();
}

void Worker::on_grace_timeout() noexcept
{
    if (live_ > 0)
        spdlog::warn("w{} {} still busy after {}s: closing {}", id_, plural(live_, "connection"),
                     setup_.config.shutdown_timeout, live_ == 1 ? "it" : "them");
    for (auto& c : conns_)
        if (c) c->abort();
}

} // namespace splicehttpd::server
