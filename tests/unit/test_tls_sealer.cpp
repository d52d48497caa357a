// tls::RecordSealer and the session's sealing (tls/session.hpp, "Sealing"):
// OpenSSL hands the keys to the session's BIO and the records are sealed
// there; an OpenSSL client must read every byte of them, in every suite of
// both versions, tickets and alerts included, up to close_notify.
#include "support/tls_fixture.hpp"
#include "tls/record_sealer.hpp"
#include "tls/session.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace splicehttpd;
using namespace splicehttpd::tls;
using test::Client;
using test::ClientOptions;

namespace {

struct SealWorld {
    test::Pki pki;
    test::Pki::Leaf ec = pki.leaf("DNS:a.example");
    test::Pki::Leaf rsa = pki.leaf("DNS:a.example", true);
    test::TempDir dir;
    std::shared_ptr<TicketKeys> keys = std::make_shared<TicketKeys>();
    std::shared_ptr<const ContextSet> ec_set = load_contexts({pki.files(dir, "ec", ec)}, keys).set;
    std::shared_ptr<const ContextSet> rsa_set = load_contexts({pki.files(dir, "rsa", rsa)}, keys).set;
};

SealWorld& world()
{
    static SealWorld w;
    return w;
}

std::string pattern(std::size_t n, unsigned seed)
{
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = char((i * 131 + seed) % 251);
    return s;
}

// Writes all of `body` as the sender would (a write, then the output sent
// in pieces), and returns what the client decrypted.
std::string send_through(Client& client, Session& server, const std::string& body, std::string* wire = nullptr)
{
    std::size_t offset = 0;
    std::string received;
    while (offset < body.size()) {
        const auto w = server.write(std::string_view(body).substr(offset));
        REQUIRE(w.error.empty());
        REQUIRE(w.taken > 0);
        offset += w.taken;
        CHECK(server.output_size() <= Session::kOutputHighWater + Session::kMaxRecordPlaintext + 256);
        while (server.output_size() > 0) {
            const auto span = server.pending_output();
            const std::size_t n = std::min<std::size_t>(span.size(), 23456); // short sends
            client.give(std::string(span.data(), n));
            if (wire) wire->append(span.data(), n);
            server.consume_output(n);
        }
        received += client.read_all();
    }
    return received;
}

// TLS 1.2 AES-GCM: each application data record's explicit nonce, in order.
std::vector<std::uint64_t> explicit_nonces(const std::string& wire)
{
    std::vector<std::uint64_t> out;
    for (std::size_t i = 0; i + 5 + 8 <= wire.size();) {
        const std::size_t len =
            std::size_t(static_cast<unsigned char>(wire[i + 3])) << 8 | static_cast<unsigned char>(wire[i + 4]);
        if (wire[i] == 23) {
            std::uint64_t n = 0;
            for (std::size_t k = 0; k < 8; ++k) n = n << 8 | static_cast<unsigned char>(wire[i + 5 + k]);
            out.push_back(n);
        }
        i += 5 + len;
    }
    return out;
}

// Small and large writes, then close_notify: the client reads each byte
// and the end.
void check_sealed(Client& client, Session& server, std::string* wire = nullptr)
{
    CHECK(server.sealing());
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    CHECK(send_through(client, server, head, wire) == head);
    CHECK(send_through(client, server, head, wire) == head);
    const std::string body = pattern(200 * 1024 + 17, 7);
    CHECK(send_through(client, server, body, wire) == body);
    const std::string tail = pattern(3000, 1);
    CHECK(send_through(client, server, tail, wire) == tail);
    CHECK(send_through(client, server, std::string(1, 'x'), wire) == "x");
    server.shutdown();
    client.give(test::drain(server));
    client.read_all();
    CHECK((SSL_get_shutdown(client.ssl) & SSL_RECEIVED_SHUTDOWN) != 0);
}

} // namespace

TEST_CASE("sealing: TLS 1.3, each suite: tickets, records and close_notify sealed here read back")
{
    for (const char* suite : test::kTls13Suites) {
        CAPTURE(suite);
        ClientOptions o;
        o.min_version = TLS1_3_VERSION;
        o.ciphers13 = suite;
        Client client(o);
        Session server(world().ec_set);
        // (test::handshake reads the tickets, which were sealed here.)
        REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
        REQUIRE(server.cipher() == suite);
        CHECK(client.tickets.size() == 2);
        // A request in between: OpenSSL keeps reading.
        client.write("GET / HTTP/1.1\r\n\r\n");
        server.feed(std::span<const char>(client.take_output()));
        char buf[64];
        REQUIRE(server.read(buf).status == Session::Read::Data);
        check_sealed(client, server);
    }
}

TEST_CASE("sealing: TLS 1.2, each ECDHE suite (the Finished sealed here; explicit nonces counted on)")
{
    for (const test::Tls12Suite& row : test::kTls12Suites) {
        CAPTURE(row.name);
        ClientOptions o;
        o.max_version = TLS1_2_VERSION;
        o.ciphers12 = row.name;
        Client client(o);
        Session server(row.rsa ? world().rsa_set : world().ec_set);
        REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
        REQUIRE(server.cipher() == row.name);
        std::string wire;
        check_sealed(client, server, &wire);
        if (std::string_view(row.name).find("GCM") != std::string_view::npos) {
            // A nonce used twice under one key gives the key's GCM hash away:
            // the sealer counts on from where OpenSSL's keys start, one per
            // record.
            const std::vector<std::uint64_t> nonces = explicit_nonces(wire);
            REQUIRE(nonces.size() == 2 + 13 + 1 + 1);
            for (std::size_t i = 1; i < nonces.size(); ++i) CHECK(nonces[i] == nonces[i - 1] + 1);
        }
    }
}

TEST_CASE("sealing: resumed handshakes too (1.3 and 1.2)")
{
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        CAPTURE(version);
        ClientOptions o;
        o.min_version = o.max_version = version;
        SSL_SESSION* ticket = nullptr;
        {
            Client first(o);
            Session server(world().ec_set);
            REQUIRE(test::handshake(first, server).status == Session::Handshake::Done);
            REQUIRE(first.last_ticket());
            ticket = SSL_SESSION_dup(first.last_ticket());
        }
        o.resume = ticket;
        Client client(o);
        Session server(world().ec_set);
        REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
        CHECK(server.resumed());
        check_sealed(client, server);
        SSL_SESSION_free(ticket);
    }
}

TEST_CASE("sealing: the peer's KeyUpdate")
{
    for (const int type : {SSL_KEY_UPDATE_NOT_REQUESTED, SSL_KEY_UPDATE_REQUESTED}) {
        CAPTURE(type);
        ClientOptions o;
        o.min_version = TLS1_3_VERSION;
        Client client(o);
        Session server(world().ec_set);
        REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
        REQUIRE(SSL_key_update(client.ssl, type) == 1);
        client.write("GET");
        server.feed(std::span<const char>(client.take_output()));
        char buf[8];
        REQUIRE(server.read(buf).status == Session::Read::Data);
        if (type == SSL_KEY_UPDATE_NOT_REQUESTED) {
            // Only its side changes keys: ours go on.
            CHECK_FALSE(server.owes_key_update());
            const std::string body = pattern(40 * 1024, 9);
            CHECK(send_through(client, server, body) == body);
            continue;
        }
        // Ours is owed, and would have to come first under keys the sealer
        // then no longer has: no record goes out (the stream closes).
        CHECK(server.owes_key_update());
        CHECK(server.output_size() == 0);
        const auto w = server.write(std::string_view("HTTP/1.1 200 OK\r\n\r\n"));
        CHECK_FALSE(w.error.empty());
        CHECK(w.taken == 0);
        CHECK(server.output_size() == 0);
    }
}

TEST_CASE("sealing: a renegotiation's refusal is an alert the client reads")
{
    ClientOptions o;
    o.max_version = TLS1_2_VERSION;
    Client client(o);
    Session server(world().ec_set);
    REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
    REQUIRE(SSL_renegotiate(client.ssl) == 1);
    SSL_do_handshake(client.ssl);
    server.feed(std::span<const char>(client.take_output()));
    char buf[64];
    CHECK(server.read(buf).status != Session::Read::Data);
    client.give(test::drain(server));
    ERR_clear_error();
    CHECK(SSL_do_handshake(client.ssl) != 1);
    // The warning opened and was understood, not a record that failed to.
    const unsigned long e = ERR_peek_error();
    CHECK(ERR_GET_REASON(e) == SSL_R_NO_RENEGOTIATION);
    ERR_clear_error();
}

TEST_CASE("RecordSealer: refuses what it cannot seal, and everything after")
{
    Client client;
    Session server(world().ec_set);
    REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
    const auto info = server.sending_keys();
    REQUIRE(info);
    server.hand_off(); // the sealers below take over, as the kernel would
    RecordSealer sealer;
    CHECK_FALSE(sealer.ready());
    REQUIRE(sealer.init(*info));
    CHECK_FALSE(sealer.init(*info)); // once
    std::string out(sealer.sealed_size(5), '\0');
    CHECK(sealer.sealed_size(5) == 5 + 5 + 1 + 16); // TLS 1.3: header, type, tag
    CHECK(sealer.seal(RecordSealer::kApplicationData, std::string_view("hello"), out));
    client.give(out);
    CHECK(client.read_all() == "hello");
    std::string too_big(RecordSealer::kMaxPlaintext + 1, 'x');
    std::string big_out(sealer.sealed_size(too_big.size()), '\0');
    CHECK_FALSE(sealer.seal(RecordSealer::kApplicationData, too_big, big_out));
    CHECK_FALSE(sealer.seal(RecordSealer::kApplicationData, std::string_view("hello"), out)); // failed for good
    CHECK(sealer.records() == 1);

    RecordSealer wrong_size;
    REQUIRE(wrong_size.init(*info));
    std::string short_out(wrong_size.sealed_size(5) - 1, '\0');
    CHECK_FALSE(wrong_size.seal(RecordSealer::kApplicationData, std::string_view("hello"), short_out));

    CryptoInfo none;
    RecordSealer unknown;
    CHECK_FALSE(unknown.init(none));
}
