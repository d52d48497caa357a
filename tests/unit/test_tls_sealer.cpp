// tls::RecordSealer and the session's sealing (tls/session.hpp, "Sealing"):
// OpenSSL hands the keys to the session's BIO and the records are sealed
// there; an OpenSSL client must read every byte of them, in every suite of
// both versions, tickets and alerts included, up to close_notify.
#include "support/tls_fixture.hpp"
#include "tls/record_sealer.hpp"
#include "tls/session.hpp"

#include <doctest/doctest.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#ifdef SPLICEHTTPD_HAVE_IPSEC_MB
#include <intel-ipsec-mb.h>
#endif

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

TEST_CASE("sealing: nothing after our close_notify, as SSL_write refuses it")
{
    // RFC 8446 6.1: no data after close_notify. OpenSSL's SSL_write says
    // SSL_R_PROTOCOL_IS_SHUTDOWN once the session sent it; the sealer's own
    // path must refuse the same, not seal a record after the alert.
    for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        CAPTURE(version);
        ClientOptions o;
        o.min_version = o.max_version = version;
        Client client(o);
        Session server(world().ec_set);
        REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
        REQUIRE(server.sealing());
        const std::string body = pattern(20 * 1024, 3);
        REQUIRE(send_through(client, server, body) == body);
        server.shutdown();
        const std::size_t alert = server.output_size();
        CHECK(alert > 0);
        const auto w = server.write(std::string_view("HTTP/1.1 200 OK\r\n\r\n"));
        CHECK_FALSE(w.error.empty());
        CHECK(w.taken == 0);
        CHECK(server.output_size() == alert);
        client.give(test::drain(server));
        CHECK(client.read_all().empty());
        CHECK((SSL_get_shutdown(client.ssl) & SSL_RECEIVED_SHUTDOWN) != 0);
    }
}

namespace {

std::string g_client_secret_line; // the client's keylog line for its application traffic secret

// RFC 8446 7.1 HKDF-Expand-Label with SHA-256 (the test's own: the server
// never derives keys, OpenSSL hands them over).
std::vector<std::uint8_t> expand_label(const std::vector<std::uint8_t>& secret, std::string_view label,
                                       std::size_t length)
{
    std::string info;
    info += char(length >> 8);
    info += char(length & 0xff);
    info += char(6 + label.size());
    info += "tls13 ";
    info += label;
    info += char(0); // no context
    std::vector<std::uint8_t> out(length);
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(secret.data()), secret.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
        OSSL_PARAM_construct_end(),
    };
    REQUIRE(EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return out;
}

} // namespace

// Defect (fixed): a handshake message after the handshake may be cut
// across records (RFC 8446 5.1). Once a record brought the 4-byte header of
// the peer's KeyUpdate and not its body, OpenSSL was back "in init"
// (ssl3_read_bytes) until the rest came, so SSL_is_init_finished was false
// and Session::established() with it: read() and write() both said "no
// established session" and the connection ended. The client's records are
// sealed here with its own traffic secret (from its key log), as a client
// that cuts its messages would send them.
TEST_CASE("sealing: the peer's KeyUpdate cut across two records, and a response between them")
{
    ClientOptions o;
    o.min_version = TLS1_3_VERSION;
    o.ciphers13 = "TLS_AES_128_GCM_SHA256";
    Client client(o);
    SSL_CTX_set_keylog_callback(client.ctx, [](const SSL*, const char* line) {
        if (std::string_view(line).starts_with("CLIENT_TRAFFIC_SECRET_0 ")) g_client_secret_line = line;
    });
    Session server(world().ec_set);
    REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
    REQUIRE(!g_client_secret_line.empty());
    const std::string hex = g_client_secret_line.substr(g_client_secret_line.rfind(' ') + 1);
    std::vector<std::uint8_t> secret;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        secret.push_back(std::uint8_t(std::stoi(hex.substr(i, 2), nullptr, 16)));
    const std::vector<std::uint8_t> key = expand_label(secret, "key", 16), iv = expand_label(secret, "iv", 12);
    CryptoInfo info;
    auto& g = info.u.aes_gcm_128;
    g.info.version = TLS_1_3_VERSION;
    g.info.cipher_type = TLS_CIPHER_AES_GCM_128;
    std::memcpy(g.key, key.data(), sizeof g.key);
    std::memcpy(g.salt, iv.data(), sizeof g.salt);
    std::memcpy(g.iv, iv.data() + 4, sizeof g.iv);
    info.size = sizeof g;
    RecordSealer as_client;
    REQUIRE(as_client.init(info));
    auto record = [&](std::string_view plain) {
        std::string out(as_client.sealed_size(plain.size()), '\0');
        REQUIRE(as_client.seal(22, plain, out));
        return out;
    };
    const std::string first = record(std::string_view("\x18\x00\x00\x01", 4)),
                      second = record(std::string_view("\x00", 1));
    char buf[64];
    server.feed(std::span<const char>(first));
    const auto r1 = server.read(buf);
    INFO("after the first fragment: ", r1.error);
    CHECK(r1.status == Session::Read::NeedInput);
    const auto w = server.write(std::string_view("HTTP/1.1 200 OK\r\n\r\n"));
    INFO("write between the fragments: ", w.error);
    CHECK(w.error.empty());
    server.feed(std::span<const char>(second));
    const auto r2 = server.read(buf);
    INFO("after the second: ", r2.error);
    CHECK(r2.status == Session::Read::NeedInput);
    CHECK_FALSE(server.owes_key_update());
    client.give(test::drain(server));
    CHECK(client.read_all() == "HTTP/1.1 200 OK\r\n\r\n");
    // A record the server cannot open still ends it, in or out of a message.
    server.feed(std::span<const char>(record(std::string_view("\x18\x00", 2))));
    CHECK(server.read(buf).status == Session::Read::Error);
    CHECK_FALSE(server.established());
    CHECK_FALSE(server.write(std::string_view("x")).error.empty());
}

TEST_CASE("RecordSealer: intel-ipsec-mb's AES-GCM seals the same bytes as OpenSSL's, and the client reads them")
{
    const FastGcm* fast = FastGcm::get();
    if (!fast) MESSAGE("no VAES/AVX-512 AES-GCM on this CPU or in this build: both sealers are OpenSSL's");
    struct Case {
        const char* suite;
        int version;
        bool rsa;
    };
    std::vector<Case> cases;
    for (const char* s : test::kTls13Suites) cases.push_back({s, TLS1_3_VERSION, false});
    for (const test::Tls12Suite& row : test::kTls12Suites) cases.push_back({row.name, TLS1_2_VERSION, row.rsa});
    for (const Case& c : cases) {
        CAPTURE(c.suite);
        ClientOptions o;
        (c.version == TLS1_3_VERSION ? o.min_version : o.max_version) = c.version;
        (c.version == TLS1_3_VERSION ? o.ciphers13 : o.ciphers12) = c.suite;
        Client client(o);
        Session server(c.rsa ? world().rsa_set : world().ec_set);
        REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
        const auto info = server.sending_keys();
        REQUIRE(info);
        server.hand_off();
        RecordSealer best, openssl;
        REQUIRE(best.init(*info));
        REQUIRE(openssl.init(*info, RecordSealer::Aead::openssl));
        const bool gcm = std::string_view(c.suite).find("GCM") != std::string_view::npos;
        CHECK(std::string_view(openssl.aead_name()) == "OpenSSL");
        CHECK(std::string_view(best.aead_name()) == (fast && gcm ? fast->name() : "OpenSSL"));
        // Lengths around the 16-byte block and the library's 256-byte
        // strides, the empty record, the largest; both record types.
        std::string received, sent;
        for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(15), std::size_t(16), std::size_t(17),
                              std::size_t(255), std::size_t(257), std::size_t(1024), std::size_t(4099),
                              RecordSealer::kMaxPlaintext - 1, RecordSealer::kMaxPlaintext}) {
            CAPTURE(n);
            const std::string plain = pattern(n, unsigned(n));
            std::string a(best.sealed_size(n), '\0'), b(openssl.sealed_size(n), '\0');
            REQUIRE(best.seal(RecordSealer::kApplicationData, plain, a));
            REQUIRE(openssl.seal(RecordSealer::kApplicationData, plain, b));
            CHECK(a == b);
            client.give(a);
            sent += plain;
        }
        received = client.read_all();
        CHECK(received == sent);
        CHECK(best.records() == openssl.records());
        const CryptoInfo x = best.state(), y = openssl.state();
        CHECK(std::memcmp(&x.u, &y.u, sizeof x.u) == 0);
        // An alert's record too (its type shows in 1.2, hides in 1.3).
        const char close_notify[2] = {1, 0};
        std::string a(best.sealed_size(2), '\0'), b(openssl.sealed_size(2), '\0');
        REQUIRE(best.seal(RecordSealer::kAlert, close_notify, a));
        REQUIRE(openssl.seal(RecordSealer::kAlert, close_notify, b));
        CHECK(a == b);
        client.give(a);
        client.read_all();
        CHECK((SSL_get_shutdown(client.ssl) & SSL_RECEIVED_SHUTDOWN) != 0);
    }
}

#ifdef SPLICEHTTPD_HAVE_IPSEC_MB

TEST_CASE("FastGcm: only intel-ipsec-mb's VAES code seals, never its older AVX-512 code")
{
    // Its AVX-512 manager takes the VAES code only where the CPU has all of
    // IMB_CPUFLAGS_AVX512_T2 (VAES, VPCLMULQDQ, GFNI, AVX512-IFMA, SHA-NI);
    // short of one (a VM that hides SHA-NI or GFNI) it picks its older
    // AES-NI code under the same arch, which get() must turn down. The
    // library's flags hide SHA-NI and GFNI as such a CPU would.
    CHECK(FastGcm::vaes_gcm_with(0) == (FastGcm::get() != nullptr));
    CHECK_FALSE(FastGcm::vaes_gcm_with(IMB_FLAG_SHANI_OFF));
    CHECK_FALSE(FastGcm::vaes_gcm_with(IMB_FLAG_GFNI_OFF));
}

namespace {

// A buffer between two PROT_NONE pages: a byte read or written past either
// end faults. ASan cannot see into the library's assembly; this can.
class Guarded {
public:
    explicit Guarded(std::size_t size)
    {
        page_ = std::size_t(sysconf(_SC_PAGESIZE));
        pages_ = (size + page_ - 1) / page_ + 2;
        void* p = mmap(nullptr, pages_ * page_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        REQUIRE(p != MAP_FAILED);
        base_ = static_cast<std::uint8_t*>(p);
        REQUIRE(mprotect(base_ + page_, (pages_ - 2) * page_, PROT_READ | PROT_WRITE) == 0);
    }
    ~Guarded() { munmap(base_, pages_ * page_); }
    Guarded(const Guarded&) = delete;
    Guarded& operator=(const Guarded&) = delete;
    // n bytes that end at the upper guard page, or start at the lower one's end.
    std::uint8_t* at_end(std::size_t n) const { return base_ + (pages_ - 1) * page_ - n; }
    std::uint8_t* at_start() const { return base_ + page_; }

private:
    std::uint8_t* base_ = nullptr;
    std::size_t page_ = 0, pages_ = 0;
};

} // namespace

TEST_CASE("FastGcm: reads and writes no byte outside the key, nonce, AAD, input, output and tag")
{
    const FastGcm* fast = FastGcm::get();
    if (!fast) {
        MESSAGE("no VAES/AVX-512 AES-GCM on this CPU: nothing to check");
        return;
    }
    constexpr std::size_t kMax = RecordSealer::kMaxPlaintext + 1;
    Guarded key_g(32), nonce_g(12), aad_g(13), in_g(kMax), out_g(kMax), tag_g(16);
    for (const std::size_t key_len : {std::size_t(16), std::size_t(32)}) {
        for (const std::size_t aad_len : {std::size_t(5), std::size_t(13)}) {
            for (const std::size_t n :
                 {0, 1, 15, 16, 17, 31, 63, 64, 65, 255, 256, 257, 767, 768, 769, 4099, 16383, 16384}) {
                for (const int trailer : {-1, 0x17}) {
                    CAPTURE(key_len);
                    CAPTURE(aad_len);
                    CAPTURE(n);
                    CAPTURE(trailer);
                    const std::size_t sealed = n + (trailer >= 0 ? 1 : 0);
                    const std::string plain = pattern(n, unsigned(n + key_len));
                    std::string first;
                    for (const bool end : {true, false}) {
                        auto* key = end ? key_g.at_end(key_len) : key_g.at_start();
                        auto* nonce = end ? nonce_g.at_end(12) : nonce_g.at_start();
                        auto* aad = end ? aad_g.at_end(aad_len) : aad_g.at_start();
                        auto* in = end ? in_g.at_end(n) : in_g.at_start();
                        auto* out = end ? out_g.at_end(sealed) : out_g.at_start();
                        auto* tag = end ? tag_g.at_end(16) : tag_g.at_start();
                        for (std::size_t i = 0; i < key_len; ++i) key[i] = std::uint8_t(i * 7 + 1);
                        for (std::size_t i = 0; i < 12; ++i) nonce[i] = std::uint8_t(i * 13 + 2);
                        for (std::size_t i = 0; i < aad_len; ++i) aad[i] = std::uint8_t(i * 17 + 3);
                        if (n > 0) std::memcpy(in, plain.data(), n);
                        FastGcm::Key k;
                        REQUIRE(k.init(*fast, std::span<const std::uint8_t>(key, key_len)));
                        k.seal(*reinterpret_cast<const std::uint8_t(*)[12]>(nonce), aad, aad_len, in, n, trailer, out,
                               tag);
                        std::string got(reinterpret_cast<const char*>(out), sealed);
                        got.append(reinterpret_cast<const char*>(tag), 16);
                        if (end)
                            first = got;
                        else
                            CHECK(got == first);
                    }
                }
            }
        }
    }
}

#endif
