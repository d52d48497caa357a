// The kernel TLS hand-off: published vectors for its two key schedules, then
// live sessions: the crypto-info computed after a real handshake must
// decrypt the next record the session writes (Tx) and the next one the
// client writes (Rx), as the kernel would, with its key, nonce and sequence.
#include "support/tls_fixture.hpp"
#include "tls/ktls.hpp"

#include <doctest/doctest.h>

#include "sys/unique_fd.hpp"

#include <openssl/evp.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include <string>
#include <vector>

using namespace splicehttpd;
using namespace splicehttpd::tls;

namespace {

std::vector<std::uint8_t> hex(std::string_view s)
{
    std::vector<std::uint8_t> out;
    int hi = -1;
    for (char c : s) {
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) continue;
        if (hi < 0) {
            hi = v;
        } else {
            out.push_back(std::uint8_t(hi << 4 | v));
            hi = -1;
        }
    }
    return out;
}

std::vector<std::uint8_t> bytes(std::span<const std::uint8_t> s)
{
    return {s.begin(), s.end()};
}

} // namespace

TEST_CASE("tls13_crypto_info: RFC 8448's simple 1-RTT application traffic keys")
{
    // RFC 8448 section 3: {server} and {client} "derive write traffic keys for application data".
    const auto server_secret = hex("a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32"
                                   "82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43");
    auto s = tls13_crypto_info(0x1301, server_secret, 0);
    REQUIRE(s);
    CHECK(s->u.info.version == TLS_1_3_VERSION);
    CHECK(s->u.info.cipher_type == TLS_CIPHER_AES_GCM_128);
    CHECK(s->size == sizeof(tls12_crypto_info_aes_gcm_128));
    CHECK(bytes(s->key()) == hex("9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56"));
    CHECK(bytes(s->salt()) == hex("cf 78 2b 88"));           // the iv's first 4 bytes
    CHECK(bytes(s->iv()) == hex("dd 83 54 9a ad f1 e9 84")); // and the other 8
    CHECK(s->rec_seq() == 0);

    const auto client_secret = hex("9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52"
                                   "87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5");
    auto c = tls13_crypto_info(0x1301, client_secret, 7);
    REQUIRE(c);
    CHECK(bytes(c->key()) == hex("17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51"));
    CHECK(bytes(c->salt()) == hex("5b 78 92 3d"));
    CHECK(bytes(c->iv()) == hex("ee 08 57 90 33 e5 23 d9"));
    CHECK(c->rec_seq() == 7);

    // The same secret under ChaCha20: the whole 12-byte iv, no salt.
    auto ch = tls13_crypto_info(0x1303, server_secret, 1);
    REQUIRE(ch);
    CHECK(ch->u.info.cipher_type == TLS_CIPHER_CHACHA20_POLY1305);
    CHECK(bytes(ch->iv()) == hex("cf 78 2b 88 dd 83 54 9a ad f1 e9 84"));
    CHECK(ch->key().size() == 32);
    CHECK(ch->salt().empty());

    CHECK_FALSE(tls13_crypto_info(0x1304, server_secret, 0)); // AES-CCM: no kernel struct here
    CHECK_FALSE(tls13_crypto_info(0xC02F, server_secret, 0)); // a TLS 1.2 suite
}

TEST_CASE("tls12_prf: the published TLS 1.2 PRF (SHA-256) vector")
{
    const auto secret = hex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35");
    const auto seed = hex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c");
    std::vector<std::uint8_t> out(100);
    REQUIRE(tls12_prf("SHA256", secret, "test label", seed, out));
    CHECK(out == hex("e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53 c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e"
                     "db 5a 6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af 0f a0 22 f7 07 7d ef 17 ab fd 37 97"
                     "c0 56 4b ab 4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba a4 80 82 d1 22 ee 42 c5 a7 2e"
                     "5a 51 10 ff f7 01 87 34 7b 66"));
}

TEST_CASE("tls12_crypto_info: the key block's order (client key, server key, client IV, server IV)")
{
    const auto master = hex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
                            "2122232425262728292a2b2c2d2e2f30");
    std::vector<std::uint8_t> client_random(32, 0xc1), server_random(32, 0x5e);
    std::vector<std::uint8_t> block(2 * (16 + 4));
    std::vector<std::uint8_t> seed(server_random);
    seed.insert(seed.end(), client_random.begin(), client_random.end());
    REQUIRE(tls12_prf("SHA256", master, "key expansion", seed, block));
    const std::array<std::uint8_t, 8> explicit_iv{0, 0, 0, 0, 0, 0, 0, 9};
    auto tx = tls12_crypto_info(0xC02B, master, client_random, server_random, Direction::Tx, 1, explicit_iv);
    auto rx = tls12_crypto_info(0xC02B, master, client_random, server_random, Direction::Rx, 1, explicit_iv);
    REQUIRE(tx);
    REQUIRE(rx);
    CHECK(tx->u.info.version == TLS_1_2_VERSION);
    CHECK(bytes(rx->key()) == std::vector<std::uint8_t>(block.begin(), block.begin() + 16));
    CHECK(bytes(tx->key()) == std::vector<std::uint8_t>(block.begin() + 16, block.begin() + 32));
    CHECK(bytes(rx->salt()) == std::vector<std::uint8_t>(block.begin() + 32, block.begin() + 36));
    CHECK(bytes(tx->salt()) == std::vector<std::uint8_t>(block.begin() + 36, block.begin() + 40));
    CHECK(bytes(tx->iv()) == std::vector<std::uint8_t>(explicit_iv.begin(), explicit_iv.end()));
    CHECK(tx->rec_seq() == 1);
    CHECK_FALSE(tls12_crypto_info(0x009C, master, client_random, server_random, Direction::Tx, 1, explicit_iv));
}

namespace {

struct Record {
    unsigned char type;
    std::string payload;
    std::string header;
};

std::vector<Record> split_records(const std::string& wire)
{
    std::vector<Record> out;
    for (std::size_t i = 0; i + 5 <= wire.size();) {
        const std::size_t len =
            std::size_t(static_cast<unsigned char>(wire[i + 3])) << 8 | static_cast<unsigned char>(wire[i + 4]);
        REQUIRE(i + 5 + len <= wire.size());
        out.push_back({static_cast<unsigned char>(wire[i]), wire.substr(i + 5, len), wire.substr(i, 5)});
        i += 5 + len;
    }
    return out;
}

const EVP_CIPHER* evp_of(const CryptoInfo& c)
{
    switch (c.u.info.cipher_type) {
    case TLS_CIPHER_AES_GCM_128: return EVP_aes_128_gcm();
    case TLS_CIPHER_AES_GCM_256: return EVP_aes_256_gcm();
    default: return EVP_chacha20_poly1305();
    }
}

// Decrypts one record as the kernel's peer would, with the crypto-info and
// the sequence number `seq`; the plaintext, or nullopt when it does not
// authenticate. For TLS 1.2 AES-GCM the record's explicit nonce must be
// the one the crypto-info says comes next (`expect_explicit`).
std::optional<std::string> open_record(const CryptoInfo& c, const Record& r, std::uint64_t seq,
                                       const std::vector<std::uint8_t>* expect_explicit)
{
    const bool tls13 = c.u.info.version == TLS_1_3_VERSION;
    const bool gcm = c.u.info.cipher_type != TLS_CIPHER_CHACHA20_POLY1305;
    std::array<std::uint8_t, 12> nonce{};
    std::string body = r.payload;
    if (!tls13 && gcm) {
        // salt || explicit nonce carried in the record
        std::copy(c.salt().begin(), c.salt().end(), nonce.begin());
        std::copy(body.begin(), body.begin() + 8, nonce.begin() + 4);
        if (expect_explicit) CHECK(std::vector<std::uint8_t>(nonce.begin() + 4, nonce.end()) == *expect_explicit);
        body = body.substr(8);
    } else {
        // the 12-byte base XOR the sequence number
        if (gcm) {
            std::copy(c.salt().begin(), c.salt().end(), nonce.begin());
            std::copy(c.iv().begin(), c.iv().end(), nonce.begin() + 4);
        } else {
            std::copy(c.iv().begin(), c.iv().end(), nonce.begin());
        }
        for (int i = 0; i < 8; ++i) nonce[std::size_t(11 - i)] ^= std::uint8_t(seq >> (8 * i));
    }
    if (body.size() < 16) return std::nullopt;
    const std::string tag = body.substr(body.size() - 16);
    const std::string ct = body.substr(0, body.size() - 16);
    std::string aad;
    if (tls13) {
        aad = r.header;
    } else {
        for (int i = 7; i >= 0; --i) aad += char(seq >> (8 * i));
        aad += r.header.substr(0, 3);
        aad += char(ct.size() >> 8);
        aad += char(ct.size() & 0xff);
    }
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    std::string plain(ct.size(), '\0');
    int n = 0;
    bool ok =
        EVP_DecryptInit_ex(ctx, evp_of(c), nullptr, nullptr, nullptr) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) == 1 &&
        EVP_DecryptInit_ex(ctx, nullptr, nullptr, c.key().data(), nonce.data()) == 1 &&
        EVP_DecryptUpdate(ctx, nullptr, &n, reinterpret_cast<const unsigned char*>(aad.data()), int(aad.size())) == 1 &&
        EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(plain.data()), &n,
                          reinterpret_cast<const unsigned char*>(ct.data()), int(ct.size())) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, const_cast<char*>(tag.data())) == 1;
    int fin = 0;
    ok = ok && EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(plain.data()) + n, &fin) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) return std::nullopt;
    if (tls13) { // TLSInnerPlaintext: content, the real type, zero padding
        while (!plain.empty() && plain.back() == '\0') plain.pop_back();
        if (plain.empty() || plain.back() != 23) return std::nullopt;
        plain.pop_back();
    }
    return plain;
}

std::vector<std::uint8_t> plus_one(std::span<const std::uint8_t> be)
{
    std::vector<std::uint8_t> v(be.begin(), be.end());
    for (int i = int(v.size()) - 1; i >= 0 && ++v[std::size_t(i)] == 0; --i) {}
    return v;
}

struct Keys {
    test::Pki pki;
    test::Pki::Leaf ec = pki.leaf("DNS:a.example");
    test::Pki::Leaf rsa = pki.leaf("DNS:a.example", true);
    test::TempDir dir;
    std::shared_ptr<const ContextSet> ec_set, rsa_set;
    Keys()
    {
        auto keys = std::make_shared<TicketKeys>();
        ec_set = load_contexts({pki.files(dir, "ec", ec)}, keys, std::time(nullptr), true).set;
        rsa_set = load_contexts({pki.files(dir, "rsa", rsa)}, keys, std::time(nullptr), true).set;
    }
};

Keys& keys()
{
    static Keys k;
    return k;
}

// A handshake (resumed from `resume` when given) with capture on, then the
// hand-off checked both ways over two records each.
SSL_SESSION* check_live(const std::shared_ptr<const ContextSet>& set, const test::ClientOptions& base,
                        SSL_SESSION* resume)
{
    test::ClientOptions o = base;
    o.resume = resume;
    test::Client client(o);
    Session server(set, true);
    REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
    CHECK(server.resumed() == (resume != nullptr));

    const auto tx = server.kernel_crypto(Direction::Tx);
    const auto rx = server.kernel_crypto(Direction::Rx);
    REQUIRE(tx);
    REQUIRE(rx);
    const bool tls13 = server.protocol() == "TLSv1.3";
    CHECK(tx->u.info.version == (tls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION));
    if (tls13) {
        // The NewSessionTicket records went first: two after a full
        // handshake, one after a resumption.
        CHECK(tx->rec_seq() == (resume ? 1u : 2u));
        CHECK(rx->rec_seq() == 0);
    } else {
        CHECK(tx->rec_seq() == 1); // the Finished
        CHECK(rx->rec_seq() == 1);
    }

    // Tx: what the server writes next is what the kernel would write.
    REQUIRE(server.write(std::string_view("first response")).error.empty());
    REQUIRE(server.write(std::string_view("second response")).error.empty());
    const auto sent = split_records(test::drain(server));
    REQUIRE(sent.size() == 2);
    const auto explicit_iv = bytes(tx->iv());
    CHECK(open_record(*tx, sent[0], tx->rec_seq(), &explicit_iv) == std::optional<std::string>("first response"));
    const auto next_iv = plus_one(tx->iv());
    CHECK(open_record(*tx, sent[1], tx->rec_seq() + 1, &next_iv) == std::optional<std::string>("second response"));
    CHECK_FALSE(open_record(*tx, sent[0], tx->rec_seq() + 1, nullptr)); // a wrong sequence does not authenticate

    // Rx: what the client writes next.
    client.write("GET / HTTP/1.1\r\n");
    client.write("Host: a\r\n\r\n");
    const auto got = split_records(client.take_output());
    REQUIRE(got.size() == 2);
    CHECK(open_record(*rx, got[0], rx->rec_seq(), nullptr) == std::optional<std::string>("GET / HTTP/1.1\r\n"));
    CHECK(open_record(*rx, got[1], rx->rec_seq() + 1, nullptr) == std::optional<std::string>("Host: a\r\n\r\n"));

    server.forget_secrets();
    CHECK_FALSE(server.kernel_crypto(Direction::Tx));
    SSL_SESSION* ticket = client.last_ticket();
    if (ticket) SSL_SESSION_up_ref(ticket);
    return ticket;
}

} // namespace

TEST_CASE("kernel_crypto: a live session's next records decrypt with the hand-off's key, nonce and sequence")
{
    struct Row {
        int line;
        const char* name;
        bool tls13;
        bool rsa;
    };
    const Row rows[] = {
        {__LINE__, "TLS_AES_128_GCM_SHA256", true, false},
        {__LINE__, "TLS_AES_256_GCM_SHA384", true, false},
        {__LINE__, "TLS_CHACHA20_POLY1305_SHA256", true, false},
        {__LINE__, "ECDHE-ECDSA-AES128-GCM-SHA256", false, false},
        {__LINE__, "ECDHE-ECDSA-AES256-GCM-SHA384", false, false},
        {__LINE__, "ECDHE-ECDSA-CHACHA20-POLY1305", false, false},
        {__LINE__, "ECDHE-RSA-AES128-GCM-SHA256", false, true},
        {__LINE__, "ECDHE-RSA-AES256-GCM-SHA384", false, true},
        {__LINE__, "ECDHE-RSA-CHACHA20-POLY1305", false, true},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        test::ClientOptions o;
        if (r.tls13) {
            o.min_version = TLS1_3_VERSION;
            o.ciphers13 = r.name;
        } else {
            o.max_version = TLS1_2_VERSION;
            o.ciphers12 = r.name;
        }
        const auto& set = r.rsa ? keys().rsa_set : keys().ec_set;
        REQUIRE(set);
        SSL_SESSION* ticket = check_live(set, o, nullptr);
        REQUIRE(ticket != nullptr);
        SSL_SESSION* again = check_live(set, o, ticket); // and resumed: an abbreviated handshake counts otherwise
        SSL_SESSION_free(ticket);
        if (again) SSL_SESSION_free(again);
    }
}

TEST_CASE("kernel_crypto: nothing without capture, before the handshake, or after a KeyUpdate")
{
    test::Client client;
    Session plain(keys().ec_set);
    REQUIRE(test::handshake(client, plain).status == Session::Handshake::Done);
    CHECK_FALSE(plain.kernel_crypto(Direction::Tx));

    Session early(keys().ec_set, true);
    CHECK_FALSE(early.kernel_crypto(Direction::Tx));

    test::Client c2;
    Session s(keys().ec_set, true);
    REQUIRE(test::handshake(c2, s).status == Session::Handshake::Done);
    REQUIRE(s.kernel_crypto(Direction::Tx));
    REQUIRE(SSL_key_update(c2.ssl, SSL_KEY_UPDATE_REQUESTED) == 1);
    c2.write("x");
    s.feed(std::span<const char>(c2.take_output()));
    char buf[16];
    CHECK(s.read(buf).status == Session::Read::Data);
    CHECK_FALSE(s.kernel_crypto(Direction::Tx)); // the keys moved on: the kernel must not get the old ones
}

TEST_CASE("load_contexts: only contexts loaded to capture secrets log keys (OpenSSL formats every line in hex)")
{
    test::Client client;
    auto keys_ = std::make_shared<TicketKeys>();
    const auto set = load_contexts(keys().ec_set->paths(), keys_).set;
    REQUIRE(set);
    CHECK_FALSE(set->captures_secrets());
    const bool logs_keys = SSL_CTX_get_keylog_callback(set->context(0)) != nullptr;
    CHECK_FALSE(logs_keys);
    Session asks(set, true);
    REQUIRE(test::handshake(client, asks).status == Session::Handshake::Done);
    CHECK_FALSE(asks.kernel_crypto(Direction::Tx)); // asked, but the contexts capture nothing

    CHECK(keys().ec_set->captures_secrets());
    const bool capture_logs_keys = SSL_CTX_get_keylog_callback(keys().ec_set->context(0)) != nullptr;
    CHECK(capture_logs_keys);
    const auto again = reload_contexts(*keys().ec_set).set; // a reload keeps the capture
    REQUIRE(again);
    CHECK(again->captures_secrets());
}

TEST_CASE("probe_kernel_tls: agrees with the kernel's own answer, in one line")
{
    const KernelTls k = probe_kernel_tls();
    CHECK(k.detail.find('\n') == std::string::npos);
    // On a socket that is not connected, the ULP lookup still runs first:
    // ENOENT means no tls module at all (ENOTCONN: there is one).
    sys::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    const bool no_module = ::setsockopt(fd.get(), SOL_TCP, TCP_ULP, "tls", 3) != 0 && errno == ENOENT;
    if (no_module) {
        CHECK_FALSE(k.available);
        CHECK(k.detail.find("ENOENT") != std::string::npos);
    }
    CHECK(k.detail.starts_with(k.available ? "kernel TLS: " : "no kernel TLS: "));
    MESSAGE(k.detail);
}
