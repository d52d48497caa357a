#include "tls/context.hpp"

#include "sys/read_file.hpp"
#include "tls/error.hpp"
#include "tls/sni.hpp"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

namespace splicehttpd::tls {

namespace {

constexpr std::size_t kMaxPemBytes = 1u << 20;
constexpr unsigned char kSessionIdContext[] = "splicehttpd";

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

// sys::read_small_file (the calls a reload may make under the sandbox),
// worded as the TLS errors always were: a directory is "not a regular file",
// and a file past the bound is no PEM file.
std::optional<sys::SmallFile> read_file(const std::string& what, const std::string& path, std::string& error)
{
    std::string why;
    sys::ReadFailure failure{};
    std::optional<sys::SmallFile> file = sys::read_small_file(path, kMaxPemBytes, why, failure);
    if (file) return file;
    if (failure == sys::ReadFailure::Directory)
        why = "not a regular file";
    else if (failure == sys::ReadFailure::TooLarge)
        why = "larger than 1 MiB, not a PEM file";
    error = what + " " + path + ": " + why;
    return std::nullopt;
}

BioPtr memory_bio(const std::string& bytes)
{
    return BioPtr(BIO_new_mem_buf(bytes.data(), int(bytes.size())));
}

bool no_more_pem()
{
    const unsigned long e = ERR_peek_last_error();
    return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

std::string asn1_time_text(const ASN1_TIME* t)
{
    BioPtr b(BIO_new(BIO_s_mem()));
    if (!b || ASN1_TIME_print(b.get(), t) != 1) return "?";
    char* data = nullptr;
    const long n = BIO_get_mem_data(b.get(), &data);
    return std::string(data, std::size_t(n));
}

std::vector<std::string> dns_names(X509* cert)
{
    std::vector<std::string> names;
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (!sans) return names;
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type != GEN_DNS) continue;
        const auto* data = reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName));
        std::string name(data, std::size_t(ASN1_STRING_length(gn->d.dNSName)));
        if (name.empty() || name.find('\0') != std::string::npos) continue;
        std::transform(name.begin(), name.end(), name.begin(),
                       [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; });
        names.push_back(std::move(name));
    }
    GENERAL_NAMES_free(sans);
    return names;
}

// The first PEM private key in `bytes`. OpenSSL 3's decoders report a file
// without one, or one they cannot use, as "unsupported": the PEM layer is
// read first so that the line says what is wrong with the file.
PkeyPtr read_key(const std::string& path, const std::string& bytes, std::string& error)
{
    clear_errors();
    BioPtr bio = memory_bio(bytes);
    bool found = false;
    bool encrypted = false;
    for (;;) {
        char* name = nullptr;
        char* header = nullptr;
        unsigned char* data = nullptr;
        long len = 0;
        if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) break;
        const std::string_view n(name);
        if (n.ends_with("PRIVATE KEY")) {
            found = true;
            encrypted =
                n == "ENCRYPTED PRIVATE KEY" || std::string_view(header).find("ENCRYPTED") != std::string_view::npos;
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_clear_free(data, std::size_t(len));
        if (found) break;
    }
    if (!found) {
        error = no_more_pem() ? "key " + path + ": no PEM private key in it (-----BEGIN PRIVATE KEY-----)"
                              : take_errors("key " + path + ": bad PEM");
        clear_errors();
        return nullptr;
    }
    if (encrypted) {
        clear_errors();
        error = "key " + path + ": encrypted with a passphrase, which the server cannot ask for";
        return nullptr;
    }
    clear_errors();
    bio = memory_bio(bytes);
    // No passphrase callback: OpenSSL would otherwise ask on a terminal.
    PkeyPtr key(PEM_read_bio_PrivateKey(
        bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
    if (!key) error = take_errors("key " + path + ": not a private key OpenSSL can use");
    clear_errors();
    return key;
}

// ALPN: http/1.1 or nothing. A client that offers only protocols we do not
// speak (h2 alone) gets no_application_protocol rather than a connection
// that would fail at its first frame.
int on_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen, void*)
{
    static const unsigned char kProtos[] = "\x08http/1.1";
    unsigned char* selected = nullptr;
    unsigned char selected_len = 0;
    if (SSL_select_next_proto(&selected, &selected_len, kProtos, sizeof kProtos - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = selected;
    *outlen = selected_len;
    return SSL_TLSEXT_ERR_OK;
}

// Fetched once: EVP_aes_256_cbc() is a legacy handle that OpenSSL 3.0
// fetches from the provider again on every init (a look-up under a lock,
// per ticket issued or opened).
const EVP_CIPHER* ticket_cipher()
{
    static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
    return cipher;
}

int set_hmac_key(EVP_MAC_CTX* hctx, const TicketKeys::Key& key)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<std::uint8_t*>(key.hmac_key.data()),
                                          key.hmac_key.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params);
}

// Session tickets: encrypted with the current key; a ticket under an older
// key that is still kept resumes and is renewed (return 2); one whose key
// has gone is ignored (return 0: a full handshake). TLS 1.3 renews every
// time: its tickets are for one use (RFC 8446, C.4), and OpenSSL 3.0 sends
// none after a resumption the callback does not ask to renew, so a client
// that keeps its SSL across reconnects (wrk, SSL_clear) did a full
// handshake on every other connection.
int on_ticket_key(SSL* ssl, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx,
                  int enc)
{
    const auto* set = static_cast<const ContextSet*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    if (!set) return -1;
    int rc = -1;
    if (enc == 1) {
        TicketKeys::Key key = set->ticket_keys().current();
        std::memcpy(key_name, key.name.data(), key.name.size());
        if (RAND_bytes(iv, 16) == 1 && ticket_cipher() &&
            EVP_EncryptInit_ex(cctx, ticket_cipher(), nullptr, key.aes_key.data(), iv) && set_hmac_key(hctx, key))
            rc = 1;
        OPENSSL_cleanse(&key, sizeof key);
        return rc;
    }
    std::array<std::uint8_t, 16> name{};
    std::memcpy(name.data(), key_name, name.size());
    auto found = set->ticket_keys().find(name);
    if (!found) return 0;
    if (set_hmac_key(hctx, found->first) && ticket_cipher() &&
        EVP_DecryptInit_ex(cctx, ticket_cipher(), nullptr, found->first.aes_key.data(), iv))
        rc = found->second && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
    OPENSSL_cleanse(&found->first, sizeof found->first);
    return rc;
}

// A ticket the handshake cannot use. TLS 1.2: the client no longer offers
// its session's cipher (its list changed, or the server's order chose
// another), and OpenSSL would resume it, then end the handshake
// (illegal_parameter, "required cipher missing"). TLS 1.3: its hash is not
// the chosen suite's; OpenSSL skips such a PSK, but then sends no ticket,
// and the client keeps offering the old one. Ignored here, with a new
// ticket and a full handshake, as Go and BoringSSL do. OpenSSL decrypts
// tickets while it processes the ClientHello (its cipher list kept raw),
// and under TLS 1.3 once it has chosen the suite.
SSL_TICKET_RETURN on_ticket_decrypted(SSL* ssl, SSL_SESSION* session, const unsigned char*, size_t,
                                      SSL_TICKET_STATUS status, void*)
{
    if (status != SSL_TICKET_SUCCESS && status != SSL_TICKET_SUCCESS_RENEW) return SSL_TICKET_RETURN_IGNORE_RENEW;
    const SSL_CIPHER* cipher = SSL_SESSION_get0_cipher(session);
    if (!cipher) return SSL_TICKET_RETURN_IGNORE_RENEW;
    bool usable = false;
    if (SSL_version(ssl) == TLS1_3_VERSION) {
        const SSL_CIPHER* chosen = SSL_get_pending_cipher(ssl);
        const EVP_MD* md = SSL_CIPHER_get_handshake_digest(cipher);
        const EVP_MD* chosen_md = chosen ? SSL_CIPHER_get_handshake_digest(chosen) : nullptr;
        usable = md && chosen_md && EVP_MD_get_type(md) == EVP_MD_get_type(chosen_md);
    } else {
        const unsigned char* offered = nullptr;
        const std::size_t n = SSL_get0_raw_cipherlist(ssl, &offered); // the ClientHello's, 2 bytes each
        const std::uint16_t id = SSL_CIPHER_get_protocol_id(cipher);
        for (std::size_t i = 0; i + 1 < n && !usable; i += 2)
            usable = (std::uint16_t(offered[i] << 8) | offered[i + 1]) == id;
    }
    if (!usable) return SSL_TICKET_RETURN_IGNORE_RENEW;
    return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
}

} // namespace

struct Loader {
    static int on_server_name(SSL* ssl, int* alert, void* arg)
    {
        const auto* set = static_cast<const ContextSet*>(arg);
        const char* host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        const std::size_t i = host ? pick_pair(set->names_, host) : 0;
        if (SSL_get_SSL_CTX(ssl) != set->pairs_[i] && SSL_set_SSL_CTX(ssl, set->pairs_[i]) == nullptr) {
            *alert = SSL_AD_INTERNAL_ERROR;
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        return SSL_TLSEXT_ERR_OK;
    }

    // One pair: a context with its certificate chain and key, or an error.
    static CtxPtr load_pair(const CertKeyPaths& p, ContextSet& set, std::time_t now, std::string& error,
                            std::vector<std::string>& warnings)
    {
        auto cert_bytes = read_file("certificate", p.cert, error);
        if (!cert_bytes) return nullptr;
        auto key_bytes = read_file("key", p.key, error);
        if (!key_bytes) return nullptr;

        clear_errors();
        std::vector<X509Ptr> chain;
        {
            BioPtr bio = memory_bio(cert_bytes->bytes);
            while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) chain.emplace_back(x);
            if (!no_more_pem()) {
                error = take_errors("certificate " + p.cert + ": bad PEM");
                return nullptr;
            }
            clear_errors();
        }
        if (chain.empty()) {
            error = "certificate " + p.cert + ": no PEM certificate in it (-----BEGIN CERTIFICATE-----)";
            return nullptr;
        }
        PkeyPtr key = read_key(p.key, key_bytes->bytes, error);
        if (!key) return nullptr;
        X509* leaf = chain.front().get();
        if (X509_check_private_key(leaf, key.get()) != 1) {
            clear_errors();
            error = "key " + p.key + ": does not match the certificate " + p.cert;
            return nullptr;
        }
        if (key_bytes->mode & (S_IRGRP | S_IROTH)) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", unsigned(key_bytes->mode & 07777));
            warnings.push_back("key " + p.key + ": readable by " +
                               ((key_bytes->mode & S_IROTH) ? "every user" : "its group") + " (mode " + mode +
                               "); chmod 600 it");
        }
        if (X509_cmp_time(X509_get0_notAfter(leaf), &now) < 0)
            warnings.push_back("certificate " + p.cert + ": expired on " + asn1_time_text(X509_get0_notAfter(leaf)) +
                               "; clients will refuse it");
        else if (X509_cmp_time(X509_get0_notBefore(leaf), &now) > 0)
            warnings.push_back("certificate " + p.cert + ": not valid before " +
                               asn1_time_text(X509_get0_notBefore(leaf)) + "; clients will refuse it until then");

        CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
        if (!ctx) {
            error = take_errors("certificate " + p.cert + ": SSL_CTX_new");
            return nullptr;
        }
        SSL_CTX* c = ctx.get();
        const bool configured =
            SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) == 1 &&
            SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) == 1 && SSL_CTX_set_cipher_list(c, kCiphers12) == 1 &&
            SSL_CTX_set_ciphersuites(c, kCiphers13) == 1 && SSL_CTX_set1_groups_list(c, kGroups) == 1 &&
            SSL_CTX_set_session_id_context(c, kSessionIdContext, sizeof kSessionIdContext - 1) == 1;
        if (!configured) {
            error = take_errors("certificate " + p.cert + ": configuring the context");
            return nullptr;
        }
        SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                   SSL_OP_PRIORITIZE_CHACHA);
        // Idle connections hold no record buffers (~34 KiB each otherwise);
        // the output buffer is ours and never moves (tls/session.hpp).
        SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_timeout(c, long(set.ticket_keys_->ticket_lifetime().count()));
        SSL_CTX_set_tlsext_ticket_key_evp_cb(c, on_ticket_key);
        SSL_CTX_set_session_ticket_cb(c, nullptr, on_ticket_decrypted, nullptr);
        SSL_CTX_set_alpn_select_cb(c, on_alpn, nullptr);
        // (SSL_CTX_set_tlsext_servername_callback, without its C cast)
        SSL_CTX_callback_ctrl(c, SSL_CTRL_SET_TLSEXT_SERVERNAME_CB, reinterpret_cast<void (*)()>(on_server_name));
        SSL_CTX_set_tlsext_servername_arg(c, &set);
        SSL_CTX_set_app_data(c, &set);

        if (SSL_CTX_use_certificate(c, leaf) != 1) {
            error = take_errors("certificate " + p.cert);
            return nullptr;
        }
        for (std::size_t i = 1; i < chain.size(); ++i)
            if (SSL_CTX_add1_chain_cert(c, chain[i].get()) != 1) {
                error = take_errors("certificate " + p.cert + ": chain certificate " + std::to_string(i));
                return nullptr;
            }
        if (SSL_CTX_use_PrivateKey(c, key.get()) != 1 || SSL_CTX_check_private_key(c) != 1) {
            error = take_errors("key " + p.key);
            return nullptr;
        }
        std::vector<std::string> names = dns_names(leaf);
        if (names.empty())
            warnings.push_back("certificate " + p.cert +
                               ": no DNS name in subjectAltName; browsers will refuse it, and SNI never picks it");
        set.names_.push_back(std::move(names));
        return ctx;
    }

    static LoadResult load(const std::vector<CertKeyPaths>& pairs, std::shared_ptr<TicketKeys> ticket_keys,
                           std::time_t now)
    {
        LoadResult r;
        if (pairs.empty()) {
            r.error = "no certificate and key given";
            return r;
        }
        std::shared_ptr<ContextSet> set(new ContextSet());
        set->ticket_keys_ = std::move(ticket_keys);
        set->paths_ = pairs;
        for (const CertKeyPaths& p : pairs) {
            CtxPtr ctx = load_pair(p, *set, now, r.error, r.warnings);
            if (!ctx) {
                clear_errors();
                r.warnings.clear();
                return r;
            }
            set->pairs_.push_back(ctx.release());
        }
        r.set = std::move(set);
        return r;
    }
};

ContextSet::~ContextSet()
{
    for (SSL_CTX* c : pairs_) SSL_CTX_free(c);
}

SSL* ContextSet::new_ssl() const
{
    return SSL_new(pairs_.front());
}

std::size_t ContextSet::pair_of(const SSL* ssl)
{
    const auto* ctx = SSL_get_SSL_CTX(ssl);
    const auto* set = static_cast<const ContextSet*>(SSL_CTX_get_app_data(ctx));
    if (!set) return 0;
    const auto it = std::find(set->pairs_.begin(), set->pairs_.end(), ctx);
    return it == set->pairs_.end() ? 0 : std::size_t(it - set->pairs_.begin());
}

LoadResult load_contexts(const std::vector<CertKeyPaths>& pairs, std::shared_ptr<TicketKeys> ticket_keys,
                         std::time_t now)
{
    return Loader::load(pairs, std::move(ticket_keys), now);
}

LoadResult reload_contexts(const ContextSet& current, std::time_t now)
{
    return load_contexts(current.paths(), current.ticket_keys_shared(), now);
}

} // namespace splicehttpd::tls
