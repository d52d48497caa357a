// The kernel TLS hand-off: after a real handshake, the keys the session
// would give the kernel (sending_keys) must open the next records it seals,
// with an AEAD of the test's own, as the kernel's peer would: key, nonce,
// sequence number (after the tickets), TLS 1.2's explicit nonce; then what
// happens after the hand-off. And the start-up probe.
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

std::vector<std::uint8_t> bytes(std::span<const std::uint8_t> s)
{
    return {s.begin(), s.end()};
}

} // namespace

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
        ec_set = load_contexts({pki.files(dir, "ec", ec)}, keys).set;
        rsa_set = load_contexts({pki.files(dir, "rsa", rsa)}, keys).set;
    }
};

Keys& keys()
{
    static Keys k;
    return k;
}

// A handshake (resumed from `resume` when given), then the hand-off's keys
// checked against the next two records the session seals.
SSL_SESSION* check_live(const std::shared_ptr<const ContextSet>& set, const test::ClientOptions& base,
                        SSL_SESSION* resume)
{
    test::ClientOptions o = base;
    o.resume = resume;
    test::Client client(o);
    Session server(set);
    REQUIRE(test::handshake(client, server).status == Session::Handshake::Done);
    CHECK(server.resumed() == (resume != nullptr));

    const auto tx = server.sending_keys();
    REQUIRE(tx);
    const bool tls13 = server.protocol() == "TLSv1.3";
    CHECK(tx->u.info.version == (tls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION));
    if (tls13) {
        // The NewSessionTicket records went first: two after a full
        // handshake, one after a resumption.
        CHECK(tx->rec_seq() == (resume ? 1u : 2u));
    } else {
        CHECK(tx->rec_seq() == 1); // the Finished
    }

    // What the server writes next is what the kernel would write.
    REQUIRE(server.write(std::string_view("first response")).error.empty());
    REQUIRE(server.write(std::string_view("second response")).error.empty());
    const auto sent = split_records(test::drain(server));
    REQUIRE(sent.size() == 2);
    const auto explicit_iv = bytes(tx->iv());
    CHECK(open_record(*tx, sent[0], tx->rec_seq(), &explicit_iv) == std::optional<std::string>("first response"));
    const auto next_iv = plus_one(tx->iv());
    CHECK(open_record(*tx, sent[1], tx->rec_seq() + 1, &next_iv) == std::optional<std::string>("second response"));
    CHECK_FALSE(open_record(*tx, sent[0], tx->rec_seq() + 1, nullptr)); // a wrong sequence does not authenticate
    client.give(std::string(sent[0].header + sent[0].payload + sent[1].header + sent[1].payload));
    CHECK(client.read_all() == "first responsesecond response");

    SSL_SESSION* ticket = client.last_ticket();
    if (ticket) SSL_SESSION_up_ref(ticket);
    return ticket;
}

} // namespace

TEST_CASE("sending_keys: the next records the session seals open with them, as the kernel would seal them")
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

TEST_CASE("sending_keys: none before the handshake or once a KeyUpdate is owed; after hand_off nothing is sent")
{
    Session early(keys().ec_set);
    CHECK_FALSE(early.sending_keys());

    test::ClientOptions o13;
    o13.min_version = TLS1_3_VERSION;
    test::Client c2(o13);
    Session s(keys().ec_set);
    REQUIRE(test::handshake(c2, s).status == Session::Handshake::Done);
    REQUIRE(s.sending_keys());
    REQUIRE(SSL_key_update(c2.ssl, SSL_KEY_UPDATE_REQUESTED) == 1);
    c2.write("x");
    s.feed(std::span<const char>(c2.take_output()));
    char buf[16];
    CHECK(s.read(buf).status == Session::Read::Data);
    CHECK_FALSE(s.sending_keys()); // the keys must move on: the kernel must not get the old ones

    // After the hand-off (TLS 1.2): the session seals nothing more, and
    // what OpenSSL still writes (a renegotiation's refusal) is dropped and
    // said, for the connection to close.
    test::ClientOptions o12;
    o12.max_version = TLS1_2_VERSION;
    test::Client c3(o12);
    Session h(keys().ec_set);
    REQUIRE(test::handshake(c3, h).status == Session::Handshake::Done);
    REQUIRE(h.sending_keys());
    h.hand_off();
    CHECK_FALSE(h.sending_keys());
    CHECK_FALSE(h.sealing());
    CHECK_FALSE(h.write(std::string_view("late")).error.empty());
    CHECK_FALSE(h.wrote_after_hand_off());
    REQUIRE(SSL_renegotiate(c3.ssl) == 1);
    SSL_do_handshake(c3.ssl);
    h.feed(std::span<const char>(c3.take_output()));
    CHECK(h.read(buf).status != Session::Read::Data);
    CHECK(h.output_size() == 0);
    CHECK(h.wrote_after_hand_off());
    ERR_clear_error();
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
