// Certificates made in-process with the OpenSSL API (an EC P-256 CA and
// leaf certificates with subjectAltNames; RSA leaves for the ECDHE-RSA
// suites), temporary PEM files for the loader, and an OpenSSL client over
// memory BIOs to drive a tls::Session. Shared by the unit tests, the fuzz
// target and the kernel TLS probe: header-only, no files needed.
#pragma once

#include "tls/context.hpp"
#include "tls/session.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace splicehttpd::test {

struct PkeyDeleter {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Deleter {
    void operator()(X509* x) const { X509_free(x); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using Cert = std::unique_ptr<X509, X509Deleter>;

inline void tls_require(bool ok, const char* what)
{
    if (!ok) {
        ERR_print_errors_fp(stderr);
        throw std::runtime_error(std::string("tls fixture: ") + what);
    }
}

inline Pkey make_ec_key()
{
    Pkey k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    tls_require(k != nullptr, "EC P-256 key");
    return k;
}

inline Pkey make_rsa_key()
{
    Pkey k(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t(2048)));
    tls_require(k != nullptr, "RSA key");
    return k;
}

inline void add_ext(X509* cert, X509* issuer, int nid, const char* value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    tls_require(ext != nullptr && X509_add_ext(cert, ext, -1) == 1, "extension");
    X509_EXTENSION_free(ext);
}

// A certificate for `key`, signed by issuer_key (itself when issuer is null),
// valid from now + not_before_s to now + not_after_s.
inline Cert make_cert(EVP_PKEY* key, const char* cn, const std::string& san, X509* issuer, EVP_PKEY* issuer_key,
                      bool ca, long not_before_s = -3600, long not_after_s = 30L * 86400)
{
    static long serial = 1;
    Cert c(X509_new());
    X509* x = c.get();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), not_before_s);
    X509_gmtime_adj(X509_getm_notAfter(x), not_after_s);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509* signer = issuer ? issuer : x;
    if (ca) {
        add_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, signer, NID_ext_key_usage, "serverAuth");
        if (!san.empty()) add_ext(x, signer, NID_subject_alt_name, san.c_str());
    }
    tls_require(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0, "sign");
    return c;
}

inline std::string pem_of(X509* x)
{
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    std::string s(data, std::size_t(n));
    BIO_free(b);
    return s;
}

inline std::string pem_of(EVP_PKEY* k)
{
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    std::string s(data, std::size_t(n));
    BIO_free(b);
    return s;
}

// A scratch directory for PEM files, removed at the end.
struct TempDir {
    std::string path;
    TempDir()
    {
        char tmpl[] = "/tmp/splicehttpd-tls-XXXXXX";
        tls_require(::mkdtemp(tmpl) != nullptr, "mkdtemp");
        path = tmpl;
    }
    ~TempDir()
    {
        const std::string rm = "rm -rf '" + path + "'";
        [[maybe_unused]] int rc = std::system(rm.c_str());
    }
    std::string write(const std::string& name, const std::string& bytes, mode_t mode = 0600) const
    {
        const std::string p = path + "/" + name;
        std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
        ::chmod(p.c_str(), mode);
        return p;
    }
};

// A test CA and the leaves it signs.
struct Pki {
    Pkey ca_key = make_ec_key();
    Cert ca = make_cert(ca_key.get(), "splicehttpd test CA", "", nullptr, nullptr, true);

    struct Leaf {
        Pkey key;
        Cert cert;
        std::string cert_pem; // leaf then the CA, as a chain file would have it
        std::string key_pem;
    };
    // san: "DNS:a.example,DNS:*.b.example"
    Leaf leaf(const std::string& san, bool rsa = false, long not_before_s = -3600, long not_after_s = 30L * 86400)
    {
        Leaf l;
        l.key = rsa ? make_rsa_key() : make_ec_key();
        l.cert = make_cert(l.key.get(), "leaf", san, ca.get(), ca_key.get(), false, not_before_s, not_after_s);
        l.cert_pem = pem_of(l.cert.get()) + pem_of(ca.get());
        l.key_pem = pem_of(l.key.get());
        return l;
    }
    tls::CertKeyPaths files(const TempDir& dir, const std::string& stem, const Leaf& l) const
    {
        return {dir.write(stem + ".crt", l.cert_pem, 0644), dir.write(stem + ".key", l.key_pem, 0600)};
    }
};

// An OpenSSL client over memory BIOs, what a browser or curl would be.
// The suites the server offers, by OpenSSL's names (tls/context.hpp): each
// of TLS 1.3's, and TLS 1.2's with the certificate type it needs.
inline constexpr const char* kTls13Suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                               "TLS_CHACHA20_POLY1305_SHA256"};
struct Tls12Suite {
    const char* name;
    bool rsa; // needs an RSA certificate
};
inline constexpr Tls12Suite kTls12Suites[] = {
    {"ECDHE-ECDSA-AES128-GCM-SHA256", false}, {"ECDHE-ECDSA-AES256-GCM-SHA384", false},
    {"ECDHE-ECDSA-CHACHA20-POLY1305", false}, {"ECDHE-RSA-AES128-GCM-SHA256", true},
    {"ECDHE-RSA-AES256-GCM-SHA384", true},    {"ECDHE-RSA-CHACHA20-POLY1305", true},
};

struct ClientOptions {
    int min_version = TLS1_2_VERSION;
    int max_version = TLS1_3_VERSION;
    std::string ciphers12;             // "" : OpenSSL's default
    std::string ciphers13;             // "" : OpenSSL's default
    std::string sni;                   // "" : none sent
    std::string alpn = "\x08http/1.1"; // wire format; "" : none offered
    SSL_SESSION* resume = nullptr;
    X509* trust = nullptr; // verify the chain (and `sni` as the host) against this CA
};

struct Client {
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    BIO* in = nullptr;  // what the server sent, for the client to read
    BIO* out = nullptr; // what the client wrote, for the server
    std::vector<SSL_SESSION*> tickets;

    explicit Client(const ClientOptions& o = {})
    {
        ctx = SSL_CTX_new(TLS_client_method());
        tls_require(ctx != nullptr, "client SSL_CTX_new");
        SSL_CTX_set_min_proto_version(ctx, o.min_version);
        SSL_CTX_set_max_proto_version(ctx, o.max_version);
        if (!o.ciphers12.empty()) tls_require(SSL_CTX_set_cipher_list(ctx, o.ciphers12.c_str()) == 1, "client ciphers");
        if (!o.ciphers13.empty()) tls_require(SSL_CTX_set_ciphersuites(ctx, o.ciphers13.c_str()) == 1, "client suites");
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, [](SSL* s, SSL_SESSION* sess) {
            static_cast<Client*>(SSL_get_ex_data(s, 0))->tickets.push_back(sess);
            return 1; // kept
        });
        if (o.trust) {
            X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), o.trust);
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        }
        ssl = SSL_new(ctx);
        SSL_set_ex_data(ssl, 0, this); // (SSL_set_app_data, without its C cast)
        in = BIO_new(BIO_s_mem());
        out = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl, in, out);
        SSL_set_connect_state(ssl);
        if (!o.sni.empty()) {
            // (SSL_set_tlsext_host_name, without its C cast)
            SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(o.sni.c_str()));
            if (o.trust) SSL_set1_host(ssl, o.sni.c_str());
        }
        if (!o.alpn.empty())
            SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(o.alpn.data()), unsigned(o.alpn.size()));
        if (o.resume) SSL_set_session(ssl, o.resume);
    }
    ~Client()
    {
        for (SSL_SESSION* s : tickets) SSL_SESSION_free(s);
        // Without a shutdown SSL_free marks the session "bad" (not
        // resumable), and its tickets with it.
        SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(ssl);
        SSL_CTX_free(ctx);
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // What the client wrote, taken.
    std::string take_output()
    {
        std::string s(std::size_t(BIO_pending(out)), '\0');
        if (!s.empty()) BIO_read(out, s.data(), int(s.size()));
        return s;
    }
    void give(const std::string& bytes)
    {
        if (!bytes.empty()) BIO_write(in, bytes.data(), int(bytes.size()));
    }
    bool done() const { return SSL_is_init_finished(ssl); }
    SSL_SESSION* last_ticket() const { return tickets.empty() ? nullptr : tickets.back(); }

    // Reads what plaintext has arrived.
    std::string read_all()
    {
        std::string s;
        char buf[16384];
        std::size_t n = 0;
        while (SSL_read_ex(ssl, buf, sizeof buf, &n) == 1) s.append(buf, n);
        return s;
    }
    void write(const std::string& s)
    {
        std::size_t n = 0;
        tls_require(SSL_write_ex(ssl, s.data(), s.size(), &n) == 1 && n == s.size(), "client write");
    }
};

// All of the session's output, taken (in as many sends as it takes).
inline std::string drain(tls::Session& s)
{
    std::string out;
    while (s.output_size() > 0) {
        auto span = s.pending_output();
        out.append(span.data(), span.size());
        s.consume_output(span.size());
    }
    return out;
}

// Runs the handshake to its end; the server's last status.
inline tls::Session::HandshakeResult handshake(Client& c, tls::Session& s)
{
    tls::Session::HandshakeResult r{tls::Session::Handshake::NeedInput, {}};
    for (int round = 0; round < 10; ++round) {
        SSL_do_handshake(c.ssl);
        s.feed(std::span<const char>(c.take_output()));
        r = s.handshake();
        c.give(drain(s));
        if (r.status == tls::Session::Handshake::Failed) return r;
        if (r.status == tls::Session::Handshake::Done) {
            SSL_do_handshake(c.ssl); // the client reads the server's last flight
            // TLS 1.3 tickets arrive after the handshake: a read takes them in.
            char b;
            std::size_t n = 0;
            SSL_read_ex(c.ssl, &b, 1, &n);
            ERR_clear_error();
            if (c.done()) return r;
        }
    }
    return r;
}

} // namespace splicehttpd::test
