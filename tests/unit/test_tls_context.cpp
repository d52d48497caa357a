// Loading and reloading certificate/key pairs: one error line naming the
// file, warnings that do not stop the server, and a failed reload that
// leaves the serving set alone.
#include "support/tls_fixture.hpp"
#include "tls/context.hpp"

#include <doctest/doctest.h>

#include <ctime>
#include <string>

using namespace splicehttpd;
using namespace splicehttpd::tls;

namespace {

struct Fixture {
    test::Pki pki;
    test::Pki::Leaf a = pki.leaf("DNS:a.example,DNS:*.a.example");
    test::Pki::Leaf b = pki.leaf("DNS:B.example");
    test::TempDir dir;
    std::shared_ptr<TicketKeys> keys = std::make_shared<TicketKeys>();
};

bool one_line(const std::string& s)
{
    return !s.empty() && s.find('\n') == std::string::npos;
}

bool serves(const std::shared_ptr<const ContextSet>& set, const X509* expect)
{
    test::Client client;
    Session server(set);
    if (test::handshake(client, server).status != Session::Handshake::Done) return false;
    X509* got = SSL_get1_peer_certificate(client.ssl);
    const bool same = got && X509_cmp(got, expect) == 0;
    X509_free(got);
    return same;
}

} // namespace

TEST_CASE("load_contexts: pairs in order, their DNS names, no warning for a private key")
{
    Fixture f;
    const auto r = load_contexts({f.pki.files(f.dir, "a", f.a), f.pki.files(f.dir, "b", f.b)}, f.keys);
    REQUIRE(r.set);
    CHECK(r.error.empty());
    CHECK(r.warnings.empty());
    CHECK(r.set->size() == 2);
    CHECK(r.set->names(0) == std::vector<std::string>{"a.example", "*.a.example"});
    CHECK(r.set->names(1) == std::vector<std::string>{"b.example"}); // lower case
    CHECK(r.set->paths()[1].key == f.dir.path + "/b.key");
    CHECK(serves(r.set, f.a.cert.get()));
    // Every context is TLS 1.2 and 1.3 only, renegotiation and compression off.
    for (std::size_t i = 0; i < r.set->size(); ++i) {
        SSL_CTX* c = r.set->context(i);
        CHECK(SSL_CTX_get_min_proto_version(c) == TLS1_2_VERSION);
        CHECK(SSL_CTX_get_max_proto_version(c) == TLS1_3_VERSION);
        CHECK((SSL_CTX_get_options(c) & SSL_OP_NO_RENEGOTIATION) != 0);
        CHECK((SSL_CTX_get_options(c) & SSL_OP_NO_COMPRESSION) != 0);
        CHECK((SSL_CTX_get_mode(c) & SSL_MODE_RELEASE_BUFFERS) != 0);
    }
}

TEST_CASE("load_contexts: one error line naming the file and what is wrong")
{
    Fixture f;
    const auto good = f.pki.files(f.dir, "a", f.a);
    const auto other = f.pki.files(f.dir, "b", f.b);
    struct Row {
        int line;
        CertKeyPaths pair;
        std::string expect; // the whole line
    };
    const std::string garbage = f.dir.write("garbage.pem", "this is not PEM\n");
    const std::string truncated =
        f.dir.write("truncated.pem", f.a.cert_pem.substr(0, f.a.cert_pem.size() / 3) + "\n-----END CERTIFICATE-----\n");
    const std::string key_only = f.dir.write("key-only.pem", f.a.key_pem);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, f.a.key.get(), EVP_aes_128_cbc(), nullptr, 0, nullptr, const_cast<char*>("secret"));
    char* data = nullptr;
    // The length first: the order a call's arguments are evaluated in is the
    // compiler's (clang reads data before BIO_get_mem_data sets it).
    const auto length = std::size_t(BIO_get_mem_data(bio, &data));
    const std::string encrypted = f.dir.write("encrypted.key", std::string(data, length));
    BIO_free(bio);
    const std::string dir_path = f.dir.path;

    const Row rows[] = {
        {__LINE__,
         {f.dir.path + "/missing.crt", good.key},
         "certificate " + f.dir.path + "/missing.crt: No such file or directory"},
        {__LINE__,
         {good.cert, f.dir.path + "/missing.key"},
         "key " + f.dir.path + "/missing.key: No such file or directory"},
        {__LINE__, {dir_path, good.key}, "certificate " + dir_path + ": not a regular file"},
        {__LINE__,
         {garbage, good.key},
         "certificate " + garbage + ": no PEM certificate in it (-----BEGIN CERTIFICATE-----)"},
        {__LINE__,
         {key_only, good.key},
         "certificate " + key_only + ": no PEM certificate in it (-----BEGIN CERTIFICATE-----)"},
        {__LINE__, {good.cert, garbage}, "key " + garbage + ": no PEM private key in it (-----BEGIN PRIVATE KEY-----)"},
        {__LINE__,
         {good.cert, good.cert},
         "key " + good.cert + ": no PEM private key in it (-----BEGIN PRIVATE KEY-----)"},
        {__LINE__,
         {good.cert, encrypted},
         "key " + encrypted + ": encrypted with a passphrase, which the server cannot ask for"},
        {__LINE__, {good.cert, other.key}, "key " + other.key + ": does not match the certificate " + good.cert},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        const auto res = load_contexts({r.pair}, f.keys);
        CHECK_FALSE(res.set);
        CHECK(res.error == r.expect);
        CHECK(one_line(res.error));
    }
    // A PEM block cut short: OpenSSL's reasons, still one line, still naming the file.
    const auto res = load_contexts({{truncated, good.key}}, f.keys);
    CHECK_FALSE(res.set);
    CHECK(res.error.starts_with("certificate " + truncated + ": bad PEM: "));
    CHECK(one_line(res.error));
    // The second pair's error, not the first's success.
    const auto second = load_contexts({good, {good.cert, other.key}}, f.keys);
    CHECK_FALSE(second.set);
    CHECK(second.error == "key " + other.key + ": does not match the certificate " + good.cert);
    CHECK(load_contexts({}, f.keys).error == "no certificate and key given");
}

TEST_CASE("load_contexts: warnings, not errors: a key others can read, an expired or future certificate")
{
    Fixture f;
    const auto expired = f.pki.leaf("DNS:old.example", false, -90L * 86400, -86400);
    const auto future = f.pki.leaf("DNS:new.example", false, 86400, 90L * 86400);
    const auto nameless = f.pki.leaf("");
    const std::string crt = f.dir.write("a.crt", f.a.cert_pem, 0644);
    const std::string world_key = f.dir.write("world.key", f.a.key_pem, 0644);
    const std::string group_key = f.dir.write("group.key", f.a.key_pem, 0640);

    auto r = load_contexts({{crt, world_key}}, f.keys);
    REQUIRE(r.set);
    CHECK(r.warnings ==
          std::vector<std::string>{"key " + world_key + ": readable by every user (mode 0644); chmod 600 it"});
    r = load_contexts({{crt, group_key}}, f.keys);
    REQUIRE(r.set);
    CHECK(r.warnings ==
          std::vector<std::string>{"key " + group_key + ": readable by its group (mode 0640); chmod 600 it"});

    r = load_contexts({f.pki.files(f.dir, "expired", expired)}, f.keys);
    REQUIRE(r.set); // served: the operator may be replacing it right now
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].starts_with("certificate " + f.dir.path + "/expired.crt: expired on "));
    CHECK(r.warnings[0].ends_with(" GMT; clients will refuse it"));

    r = load_contexts({f.pki.files(f.dir, "future", future)}, f.keys);
    REQUIRE(r.set);
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].find(": not valid before ") != std::string::npos);

    r = load_contexts({f.pki.files(f.dir, "nameless", nameless)}, f.keys);
    REQUIRE(r.set);
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].find("no DNS name in subjectAltName") != std::string::npos);

    // `now` decides: the same certificate a year on.
    r = load_contexts({f.pki.files(f.dir, "a", f.a)}, f.keys, std::time(nullptr) + 365L * 86400);
    REQUIRE(r.set);
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].find("expired on") != std::string::npos);
}

TEST_CASE("reload_contexts: new files serve new handshakes; a bad pair is refused and the old set kept")
{
    Fixture f;
    const auto paths = f.pki.files(f.dir, "site", f.a);
    auto first = load_contexts({paths}, f.keys);
    REQUIRE(first.set);
    std::shared_ptr<const ContextSet> serving = first.set;

    // A connection in the middle of its handshake on the old set.
    test::Client early_client;
    Session early(serving);
    SSL_do_handshake(early_client.ssl);
    early.feed(std::span<const char>(early_client.take_output()));
    REQUIRE(early.handshake().status == Session::Handshake::NeedInput);

    // certbot renews: the files are replaced; SIGHUP.
    const auto renewed = f.pki.leaf("DNS:a.example");
    f.dir.write("site.crt", renewed.cert_pem, 0644);
    f.dir.write("site.key", renewed.key_pem, 0600);
    auto second = reload_contexts(*serving);
    REQUIRE(second.set);
    CHECK(second.error.empty());
    CHECK(&second.set->ticket_keys() == &serving->ticket_keys());
    std::shared_ptr<const ContextSet> old = serving;
    serving = second.set;
    CHECK(serves(serving, renewed.cert.get()));

    // The old connection finishes on the old pair, after its set was replaced.
    old.reset();
    first.set.reset();
    early_client.give(test::drain(early));
    SSL_do_handshake(early_client.ssl);
    early.feed(std::span<const char>(early_client.take_output()));
    CHECK(early.handshake().status == Session::Handshake::Done);
    X509* got = SSL_get1_peer_certificate(early_client.ssl);
    CHECK(X509_cmp(got, f.a.cert.get()) == 0);
    X509_free(got);

    // A half-written key (the deploy hook ran too early): refused, one line; keep serving.
    f.dir.write("site.key", renewed.key_pem.substr(0, 40), 0600);
    auto bad = reload_contexts(*serving);
    CHECK_FALSE(bad.set);
    CHECK(bad.error.starts_with("key " + paths.key + ": "));
    CHECK(one_line(bad.error));
    CHECK(serves(serving, renewed.cert.get()));

    // A key that belongs to another certificate: the same.
    f.dir.write("site.key", f.b.key_pem, 0600);
    bad = reload_contexts(*serving);
    CHECK_FALSE(bad.set);
    CHECK(bad.error == "key " + paths.key + ": does not match the certificate " + paths.cert);
    CHECK(serves(serving, renewed.cert.get()));
}
