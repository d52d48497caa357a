// tls::Session against an OpenSSL client over memory: versions, suites,
// SNI, ALPN, resumption across ticket key rotations, renegotiation, hostile
// input, the output's bounds, and what an idle session costs.
#include "support/tls_fixture.hpp"
#include "tls/session.hpp"

#include <doctest/doctest.h>

#include <openssl/rand.h>

#include <malloc.h>

#include <string>
#include <vector>

using namespace splicehttpd;
using namespace splicehttpd::tls;
using test::Client;
using test::ClientOptions;

namespace {

struct World {
    test::Pki pki;
    test::Pki::Leaf a = pki.leaf("DNS:a.example");
    test::Pki::Leaf b = pki.leaf("DNS:*.b.example,DNS:b.example");
    test::Pki::Leaf c = pki.leaf("DNS:c.example");
    test::Pki::Leaf rsa = pki.leaf("DNS:a.example", true);
    test::TempDir dir;
    std::shared_ptr<TicketKeys> ticket_keys = std::make_shared<TicketKeys>(TicketKeys::kRotateEvery, 3);
    std::shared_ptr<const ContextSet> set; // a, b, c
    std::shared_ptr<const ContextSet> rsa_set;
    World()
    {
        auto r = load_contexts({pki.files(dir, "a", a), pki.files(dir, "b", b), pki.files(dir, "c", c)}, ticket_keys);
        set = r.set;
        rsa_set = load_contexts({pki.files(dir, "rsa", rsa)}, ticket_keys).set;
    }
};

World& world()
{
    static World w;
    return w;
}

// Plaintext both ways over an established pair.
void check_exchange(Client& client, Session& server)
{
    client.write("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n");
    server.feed(std::span<const char>(client.take_output()));
    char buf[256];
    const auto r = server.read(buf);
    REQUIRE(r.status == Session::Read::Data);
    CHECK(std::string_view(buf, r.size) == "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n");
    CHECK(server.read(buf).status == Session::Read::NeedInput);
    const auto w = server.write(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    CHECK(w.error.empty());
    CHECK(w.taken == 40);
    client.give(test::drain(server));
    CHECK(client.read_all() == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
}

// The alert descriptions in a plaintext alert record stream (handshake failures).
std::vector<int> alerts_in(const std::string& wire)
{
    std::vector<int> out;
    for (std::size_t i = 0; i + 5 <= wire.size();) {
        const std::size_t len =
            std::size_t(static_cast<unsigned char>(wire[i + 3])) << 8 | static_cast<unsigned char>(wire[i + 4]);
        if (wire[i] == 21 && len == 2 && i + 7 <= wire.size()) out.push_back(static_cast<unsigned char>(wire[i + 6]));
        i += 5 + len;
    }
    return out;
}

} // namespace

TEST_CASE("handshake: TLS 1.3, each suite; ALPN http/1.1; data both ways")
{
    for (const char* suite : test::kTls13Suites) {
        CAPTURE(suite);
        ClientOptions o;
        o.min_version = TLS1_3_VERSION;
        o.ciphers13 = suite;
        o.sni = "a.example";
        o.trust = world().pki.ca.get();
        Client client(o);
        Session server(world().set);
        REQUIRE(server.valid());
        const auto r = test::handshake(client, server);
        REQUIRE(r.status == Session::Handshake::Done);
        CHECK(server.established());
        CHECK(server.protocol() == "TLSv1.3");
        CHECK(server.cipher() == suite);
        CHECK(server.alpn() == "http/1.1");
        CHECK(server.server_name() == "a.example");
        CHECK_FALSE(server.resumed());
        CHECK(SSL_get_verify_result(client.ssl) == X509_V_OK);
        check_exchange(client, server);
    }
}

TEST_CASE("handshake: TLS 1.2, each ECDHE suite with an ECDSA and an RSA certificate")
{
    for (const test::Tls12Suite& row : test::kTls12Suites) {
        CAPTURE(row.name);
        ClientOptions o;
        o.max_version = TLS1_2_VERSION;
        o.ciphers12 = row.name;
        o.sni = "a.example";
        o.trust = world().pki.ca.get();
        Client client(o);
        Session server(row.rsa ? world().rsa_set : world().set);
        REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
        CHECK(server.protocol() == "TLSv1.2");
        CHECK(server.cipher() == row.name);
        CHECK(SSL_get_verify_result(client.ssl) == X509_V_OK);
        check_exchange(client, server);
    }
}

TEST_CASE("handshake: what the server refuses")
{
    SUBCASE("TLS 1.1 and older")
    {
        ClientOptions o;
        o.min_version = TLS1_VERSION;
        o.max_version = TLS1_1_VERSION;
        o.ciphers12 = "DEFAULT:@SECLEVEL=0";
        Client client(o);
        Session server(world().set);
        const auto r = test::handshake(client, server);
        CHECK(r.status == Session::Handshake::Failed);
        CHECK(r.error.find("unsupported protocol") != std::string::npos);
    }
    SUBCASE("TLS 1.2 without ECDHE and AEAD: static RSA, CBC")
    {
        for (const char* cipher : {"AES128-GCM-SHA256", "ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA"}) {
            CAPTURE(cipher);
            ClientOptions o;
            o.max_version = TLS1_2_VERSION;
            o.ciphers12 = cipher;
            Client client(o);
            Session server(std::string_view(cipher).find("ECDSA") != std::string_view::npos ? world().set
                                                                                            : world().rsa_set);
            const auto r = test::handshake(client, server);
            CHECK(r.status == Session::Handshake::Failed);
            CHECK(r.error.find("no shared cipher") != std::string::npos);
        }
    }
}

TEST_CASE("ALPN: http/1.1 chosen from a list, none offered is fine, only h2 is refused")
{
    {
        ClientOptions o;
        o.alpn = std::string("\x02h2\x08http/1.1", 12);
        Client client(o);
        Session server(world().set);
        REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
        CHECK(server.alpn() == "http/1.1");
    }
    {
        ClientOptions o;
        o.alpn = "";
        Client client(o);
        Session server(world().set);
        REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
        CHECK(server.alpn().empty());
        check_exchange(client, server);
    }
    {
        ClientOptions o;
        o.alpn = "\x02h2";
        Client client(o);
        Session server(world().set);
        SSL_do_handshake(client.ssl);
        server.feed(std::span<const char>(client.take_output()));
        const auto r = server.handshake();
        CHECK(r.status == Session::Handshake::Failed);
        const auto alerts = alerts_in(test::drain(server));
        CHECK(alerts == std::vector<int>{SSL_AD_NO_APPLICATION_PROTOCOL}); // sent in the clear: before any key
    }
}

TEST_CASE("SNI: the pair whose certificate names the host; the first for an unknown or missing name")
{
    struct Row {
        int line;
        std::string sni;
        std::size_t pair;
    };
    const Row rows[] = {
        {__LINE__, "a.example", 0}, {__LINE__, "b.example", 1},       {__LINE__, "www.b.example", 1},
        {__LINE__, "C.EXAMPLE", 2}, {__LINE__, "unknown.example", 0}, {__LINE__, "", 0},
    };
    const X509* leaves[] = {world().a.cert.get(), world().b.cert.get(), world().c.cert.get()};
    for (const Row& r : rows) {
        CAPTURE(r.line);
        for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
            CAPTURE(version);
            ClientOptions o;
            o.sni = r.sni;
            o.min_version = o.max_version = version;
            Client client(o);
            Session server(world().set);
            REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
            CHECK(server.pair() == r.pair);
            X509* got = SSL_get1_peer_certificate(client.ssl);
            REQUIRE(got != nullptr);
            CHECK(X509_cmp(got, leaves[r.pair]) == 0);
            X509_free(got);
        }
    }
}

namespace {

struct Outcome {
    bool resumed = false;
    std::vector<SSL_SESSION*> tickets; // owned: free with free_all
};

void free_all(std::vector<SSL_SESSION*>& tickets)
{
    for (SSL_SESSION* t : tickets) SSL_SESSION_free(t);
    tickets.clear();
}

// A connection that resumes `ticket` (nullptr: a fresh one).
Outcome connect(int version, SSL_SESSION* ticket, const std::shared_ptr<const ContextSet>& set)
{
    ClientOptions o;
    o.min_version = o.max_version = version;
    o.resume = ticket;
    o.sni = "a.example";
    Client client(o);
    Session server(set);
    Outcome out;
    REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
    CHECK(server.resumed() == (SSL_session_reused(client.ssl) == 1));
    out.resumed = server.resumed();
    for (SSL_SESSION* t : client.tickets) {
        SSL_SESSION_up_ref(t);
        out.tickets.push_back(t);
    }
    // TLS 1.2: a resumed client reports no new session; a renewed ticket
    // updates the one it resumed.
    if (out.tickets.empty() && version == TLS1_2_VERSION) out.tickets.push_back(SSL_get1_session(client.ssl));
    return out;
}

} // namespace

TEST_CASE("resumption: a ticket resumes, also after rotations while its key is kept; older ones do not")
{
    // OpenSSL's client uses a TLS 1.3 ticket once (RFC 8446 C.4), so each
    // attempt below takes a ticket of its own.
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        CAPTURE(version);
        // Keys of its own that keep 3: the current one and two before it.
        auto keys = std::make_shared<TicketKeys>(TicketKeys::kRotateEvery, 3);
        auto set = load_contexts(world().set->paths(), keys).set; // the same files
        REQUIRE(set);

        std::vector<SSL_SESSION*> k0; // tickets under the first key
        for (int i = 0; i < 4; ++i) {
            Outcome fresh = connect(version, nullptr, set);
            CHECK_FALSE(fresh.resumed);
            REQUIRE_FALSE(fresh.tickets.empty());
            k0.push_back(fresh.tickets.back());
            fresh.tickets.pop_back();
            free_all(fresh.tickets);
        }
        Outcome plain = connect(version, k0[0], set);
        CHECK(plain.resumed);
        // TLS 1.3 tickets are for one use: even under the current key, a
        // resumption brings a new one (wrk reuses its SSL and would do a full
        // handshake every other time). TLS 1.2 keeps its ticket.
        if (version == TLS1_3_VERSION) CHECK(plain.tickets.size() == 1);

        keys->rotate(); // k0's key is the previous one now: still resumes, and the ticket is renewed
        Outcome after_one = connect(version, k0[1], set);
        CHECK(after_one.resumed);
        REQUIRE_FALSE(after_one.tickets.empty());
        const unsigned char* old_ticket = nullptr;
        const unsigned char* new_ticket = nullptr;
        std::size_t old_len = 0, new_len = 0;
        SSL_SESSION_get0_ticket(k0[1], &old_ticket, &old_len);
        SSL_SESSION_get0_ticket(after_one.tickets.back(), &new_ticket, &new_len);
        CHECK(std::string_view(reinterpret_cast<const char*>(old_ticket), old_len) !=
              std::string_view(reinterpret_cast<const char*>(new_ticket), new_len)); // renewed

        keys->rotate();
        Outcome after_two = connect(version, k0[2], set);
        CHECK(after_two.resumed); // under the oldest key kept

        keys->rotate(); // k0's key is gone: a full handshake
        Outcome after_three = connect(version, k0[3], set);
        CHECK_FALSE(after_three.resumed);
        CHECK_FALSE(after_three.tickets.empty());

        // The renewed ticket was made one rotation later: its key is still kept.
        Outcome renewed = connect(version, after_one.tickets.back(), set);
        CHECK(renewed.resumed);

        // A reload keeps the keys: tickets outlive a certificate renewal.
        auto reloaded = reload_contexts(*set);
        REQUIRE(reloaded.set);
        Outcome across = connect(version, after_three.tickets.back(), reloaded.set);
        CHECK(across.resumed);

        free_all(k0);
        for (Outcome* o : {&plain, &after_one, &after_two, &after_three, &renewed, &across}) free_all(o->tickets);
    }
}

TEST_CASE("resumption: keys go by age too, not only when rotations push them out")
{
    // A clock of the test's own: a key every 4 h, 3 kept, so a key goes
    // 12 h after it was made, however few rotations there were.
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        CAPTURE(version);
        auto now = std::chrono::steady_clock::time_point();
        auto keys = std::make_shared<TicketKeys>(std::chrono::hours(4), 3, [&now] { return now; });
        auto set = load_contexts(world().set->paths(), keys).set;
        REQUIRE(set);
        Outcome first = connect(version, nullptr, set);
        Outcome second = connect(version, nullptr, set);
        REQUIRE_FALSE(first.tickets.empty());
        REQUIRE_FALSE(second.tickets.empty());

        now += std::chrono::hours(9); // its key is 9 h old: replaced, still kept
        Outcome at_9h = connect(version, first.tickets.back(), set);
        CHECK(at_9h.resumed);
        now += std::chrono::hours(4); // 13 h: gone, though only two rotations happened
        Outcome at_13h = connect(version, second.tickets.back(), set);
        CHECK_FALSE(at_13h.resumed);
        for (Outcome* o : {&first, &second, &at_9h, &at_13h}) free_all(o->tickets);
    }
}

TEST_CASE("renegotiation: refused, the connection carries on")
{
    ClientOptions o;
    o.max_version = TLS1_2_VERSION;
    Client client(o);
    Session server(world().set);
    REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
    REQUIRE(SSL_renegotiate(client.ssl) == 1);
    SSL_do_handshake(client.ssl); // writes a new ClientHello
    const std::string hello = client.take_output();
    REQUIRE_FALSE(hello.empty());
    server.feed(std::span<const char>(hello));
    char buf[64];
    const auto r = server.read(buf);
    CHECK(r.status != Session::Read::Data);
    const std::string answer = test::drain(server);
    CHECK_FALSE(answer.empty()); // the (encrypted) no_renegotiation warning
    client.give(answer);
    ERR_clear_error();
    CHECK(SSL_do_handshake(client.ssl) != 1); // the client's renegotiation fails
    ERR_clear_error();
    CHECK(SSL_renegotiate_pending(client.ssl) == 1);
    CHECK(server.established());
}

TEST_CASE("hostile input: garbage, plain HTTP, a truncated record: a failure or a wait, never a crash")
{
    SUBCASE("plain HTTP on the TLS port")
    {
        Session server(world().set);
        server.feed(std::string_view("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"));
        const auto r = server.handshake();
        CHECK(r.status == Session::Handshake::Failed);
        CHECK(r.plain_http);
        CHECK(r.error.find("http request") != std::string::npos);
        CHECK(r.error.find('\n') == std::string::npos);
    }
    SUBCASE("garbage")
    {
        for (int seed = 0; seed < 200; ++seed) {
            CAPTURE(seed);
            std::string junk(std::size_t(1 + seed * 37 % 3000), '\0');
            RAND_bytes(reinterpret_cast<unsigned char*>(junk.data()), int(junk.size()));
            if (seed % 2) junk[0] = 0x16; // a handshake record type, to get further in
            if (seed % 4 == 1) junk[1] = 0x03;
            Session server(world().set);
            server.feed(std::span<const char>(junk));
            const auto r = server.handshake();
            if (r.status == Session::Handshake::NeedInput) {
                server.feed_eof();
                CHECK(server.handshake().status == Session::Handshake::Failed);
            } else {
                CHECK(r.status == Session::Handshake::Failed);
                CHECK_FALSE(r.error.empty());
                CHECK_FALSE(r.plain_http);
            }
            test::drain(server);
        }
    }
    SUBCASE("a ClientHello cut short waits; the peer's close ends it")
    {
        Client client;
        SSL_do_handshake(client.ssl);
        const std::string hello = client.take_output();
        Session server(world().set);
        server.feed(std::span<const char>(hello).first(hello.size() / 2));
        CHECK(server.handshake().status == Session::Handshake::NeedInput);
        CHECK(server.output_size() == 0);
        server.feed_eof();
        const auto r = server.handshake();
        CHECK(r.status == Session::Handshake::Failed);
        CHECK(r.error.find('\n') == std::string::npos);
    }
    SUBCASE("application data before any ClientHello: unexpected_message")
    {
        Session server(world().set);
        server.feed(std::string_view("\x17\x03\x03\x00\x05hello", 10));
        const auto r = server.handshake();
        CHECK(r.status == Session::Handshake::Failed);
        CHECK(r.error == "handshake: unexpected message");
        CHECK(alerts_in(test::drain(server)) == std::vector<int>{SSL_AD_UNEXPECTED_MESSAGE});
    }
    SUBCASE("not TLS at all: no alert, a line to log")
    {
        Session server(world().set);
        server.feed(std::string_view("\x01\x02\x03\x04\x05\x06 junk"));
        const auto r = server.handshake();
        CHECK(r.status == Session::Handshake::Failed);
        CHECK(r.error == "handshake: wrong version number");
        CHECK(server.output_size() == 0);
    }
    SUBCASE("a record header announcing more than 16 KiB + overhead")
    {
        Session server(world().set);
        server.feed(std::string_view("\x16\x03\x01\xff\xff", 5));
        const auto r = server.handshake();
        CHECK(r.status == Session::Handshake::Failed);
        CHECK(alerts_in(test::drain(server)) == std::vector<int>{SSL_AD_RECORD_OVERFLOW});
    }
    SUBCASE("a corrupted record after the handshake: bad_record_mac, then nothing more")
    {
        Client client;
        Session server(world().set);
        REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
        client.write("GET / HTTP/1.1\r\n\r\n");
        std::string rec = client.take_output();
        rec[rec.size() - 3] ^= 0x40;
        server.feed(std::span<const char>(rec));
        char buf[64];
        const auto r = server.read(buf);
        CHECK(r.status == Session::Read::Error);
        CHECK(r.error.find("bad record mac") != std::string::npos);
        CHECK(server.output_size() > 0); // the alert, encrypted
        client.give(test::drain(server));
        client.read_all();
        CHECK(SSL_get_error(client.ssl, 0) == SSL_ERROR_SSL);
        CHECK(server.write(std::string_view("late")).taken == 0);
    }
}

TEST_CASE("write: records of at most 16 KiB, output bounded, bytes in order")
{
    Client client;
    Session server(world().set);
    REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
    std::string body(1 << 20, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = char(i * 131 % 251);
    std::size_t offset = 0;
    std::string received;
    int rounds = 0;
    while (offset < body.size()) {
        const auto w = server.write(std::span<const char>(body).subspan(offset));
        REQUIRE(w.error.empty());
        REQUIRE(w.taken > 0);
        offset += w.taken;
        CHECK(server.output_size() <= Session::kOutputHighWater + Session::kMaxRecordPlaintext + 256);
        // As the ring would: one send from the front, then the next.
        while (server.output_size() > 0) {
            auto span = server.pending_output();
            const std::size_t n = std::min<std::size_t>(span.size(), 30000); // a short send
            client.give(std::string(span.data(), n));
            server.consume_output(n);
        }
        received += client.read_all();
        ++rounds;
    }
    CHECK(received == body);
    CHECK(rounds >= 16); // 1 MiB cannot go in less than 64 KiB steps
    const auto again = server.write(std::string_view(""));
    CHECK(again.taken == 0);
    CHECK(again.error.empty());
}

TEST_CASE("pending_output: stays put while more is written")
{
    Client client;
    Session server(world().set);
    REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
    REQUIRE(server.write(std::string_view("first")).error.empty());
    const auto before = server.pending_output();
    const std::string copy(before.data(), before.size());
    REQUIRE(server.write(std::string(40000, 'x')).error.empty());
    const auto after = server.pending_output();
    CHECK(after.data() == before.data());
    CHECK(std::string(after.data(), copy.size()) == copy);
}

TEST_CASE("shutdown: close_notify both ways")
{
    Client client;
    Session server(world().set);
    REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
    server.shutdown();
    client.give(test::drain(server));
    client.read_all();
    CHECK((SSL_get_shutdown(client.ssl) & SSL_RECEIVED_SHUTDOWN) != 0);

    Client c2;
    Session s2(world().set);
    REQUIRE(test::handshake(c2, s2).status == Session::Handshake::Done);
    SSL_shutdown(c2.ssl);
    s2.feed(std::span<const char>(c2.take_output()));
    char buf[16];
    CHECK(s2.read(buf).status == Session::Read::Closed);
    // Asked again (after a response the close_notify came during): still
    // the end, though no byte came since.
    CHECK(s2.read(buf).status == Session::Read::Closed);

    Client c3;
    Session s3(world().set);
    REQUIRE(test::handshake(c3, s3).status == Session::Handshake::Done);
    s3.feed_eof(); // the peer went away without close_notify
    const auto r = s3.read(buf);
    CHECK(r.status == Session::Read::Error);
    CHECK_FALSE(r.error.empty());

    Session never(world().set);
    never.shutdown(); // before any handshake: nothing to say
    CHECK(never.output_size() == 0);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__has_feature)
#define SPLICEHTTPD_MEASURE_HEAP 1
#elif defined(__has_feature)
#if !__has_feature(address_sanitizer)
#define SPLICEHTTPD_MEASURE_HEAP 1
#endif
#endif

#ifdef SPLICEHTTPD_MEASURE_HEAP
TEST_CASE("memory: an idle session after its handshake")
{
    // The heap in use for N established, idle server sessions (their
    // clients gone), per session. glibc's count, so not under ASan.
    constexpr int kSessions = 200;
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        CAPTURE(version);
        std::vector<std::unique_ptr<Session>> sessions;
        sessions.reserve(kSessions);
        malloc_trim(0);
        const std::size_t before = mallinfo2().uordblks;
        for (int i = 0; i < kSessions; ++i) {
            ClientOptions o;
            o.min_version = o.max_version = version;
            o.sni = "a.example";
            auto client = std::make_unique<Client>(o);
            sessions.push_back(std::make_unique<Session>(world().set));
            REQUIRE(test::handshake(*client, *sessions.back()).status == Session::Handshake::Done);
        }
        const std::size_t after = mallinfo2().uordblks;
        const std::size_t per = (after - before) / kSessions;
        MESSAGE((version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2") << ": " << per << " bytes per idle session");
        // ~8.7 KB is OpenSSL 3.0's SSL_new itself, the rest the session,
        // the three AEAD contexts (OpenSSL's two, and the sealer's: about
        // 1.2 KB, tls/session.hpp "Sealing") and what the ClientHello
        // offered. A record buffer held between requests (no
        // RELEASE_BUFFERS) would add 16.7 KB for each direction.
        CHECK(per < 21 * 1024);
        for (auto& s : sessions) CHECK(s->output_size() == 0);
    }
}
#endif
