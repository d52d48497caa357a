#include "tls/session.hpp"

#include "tls/error.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace splicehttpd::tls {

namespace {

// The values of OpenSSL 3.0's internal BIO controls for kTLS
// (include/internal/bio.h there; openssl/bio.h lists them as reserved).
constexpr int kBioCtrlSetKtls = 72;
constexpr int kBioCtrlSetKtlsTxSendCtrlMsg = 74;
constexpr int kBioCtrlClearKtlsTxCtrlMsg = 75;

} // namespace

struct SessionCallbacks {
    static Session* of(BIO* b) { return static_cast<Session*>(BIO_get_data(b)); }

    static int bio_write(BIO* b, const char* data, std::size_t len, std::size_t* written)
    {
        Session* s = of(b);
        BIO_clear_retry_flags(b);
        *written = len;
        if (s->handed_off_) {
            // Under keys that are the kernel's now: never sent.
            s->wrote_after_hand_off_ = true;
            return 1;
        }
        if (s->sealer_) {
            // One record's plaintext (OpenSSL cuts them), of the type
            // announced, if any, else application data.
            const std::uint8_t type = std::exchange(s->next_record_type_, RecordSealer::kApplicationData);
            return s->seal(type, {data, len}) ? 1 : -1;
        }
        s->output_.append({data, len});
        return 1;
    }

    static int bio_read(BIO* b, char* out, std::size_t len, std::size_t* got)
    {
        Session* s = of(b);
        BIO_clear_retry_flags(b);
        *got = s->input_.take({out, len});
        if (*got > 0) return 1;
        if (!s->eof_) BIO_set_retry_read(b); // not the end: wait for more
        return 0;
    }

    static long bio_ctrl(BIO* b, int cmd, long num, void* ptr)
    {
        Session* s = of(b);
        switch (cmd) {
        case BIO_CTRL_FLUSH:
            return 1; // every write already landed in output_
        // OpenSSL's kTLS controls ("internal BIO" in openssl/bio.h; the
        // socket BIO's meaning): the sending keys, whether they were
        // taken, the next record's type.
        // (num: nonzero for the sending direction, OpenSSL's SSL3_CC_WRITE;
        // the receiving one stays OpenSSL's.)
        case kBioCtrlSetKtls: return num != 0 && s->start_sealing(ptr) ? 1 : 0;
        case BIO_CTRL_GET_KTLS_SEND: return s->sealer_ || s->handed_off_ ? 1 : 0;
        case kBioCtrlSetKtlsTxSendCtrlMsg: s->next_record_type_ = std::uint8_t(num); return 0;
        case kBioCtrlClearKtlsTxCtrlMsg: s->next_record_type_ = RecordSealer::kApplicationData; return 0;
        case BIO_CTRL_PENDING: return long(s->input_.size());
        case BIO_CTRL_EOF: return s->eof_ && s->input_.size() == 0;
        default: return 0; // WPENDING (nothing is held inside the BIO), PUSH/POP, kTLS queries...
        }
    }

    static int bio_create(BIO* b)
    {
        BIO_set_init(b, 1);
        return 1;
    }

    static BIO_METHOD* bio_method()
    {
        static BIO_METHOD* const method = [] {
            BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "splicehttpd session");
            if (!m) return m;
            BIO_meth_set_write_ex(m, bio_write);
            BIO_meth_set_read_ex(m, bio_read);
            BIO_meth_set_ctrl(m, bio_ctrl);
            BIO_meth_set_create(m, bio_create);
            return m;
        }();
        return method;
    }
};

Session::Session(std::shared_ptr<const ContextSet> contexts) : contexts_(std::move(contexts))
{
    ssl_ = contexts_->new_ssl();
    if (!ssl_) return;
    BIO* bio = make_bio();
    if (!bio) {
        SSL_free(ssl_);
        ssl_ = nullptr;
        return;
    }
    SSL_set_bio(ssl_, bio, bio); // one BIO both ways: the SSL owns its one reference
    SSL_set_accept_state(ssl_);
    // OpenSSL hands the BIO its sending keys (session.hpp, "Sealing").
    SSL_set_options(ssl_, SSL_OP_ENABLE_KTLS);
    clear_errors();
}

Session::~Session()
{
    if (ssl_) SSL_free(ssl_);
}

BIO* Session::make_bio()
{
    BIO_METHOD* method = SessionCallbacks::bio_method();
    BIO* bio = method ? BIO_new(method) : nullptr;
    if (bio) BIO_set_data(bio, this);
    return bio;
}

// OpenSSL's kTLS hand-off, to the BIO: `info` is what it would give the
// kernel (its tls_crypto_info_all: one of the linux/tls.h structs, as
// CryptoInfo holds them). False leaves the sending to OpenSSL.
bool Session::start_sealing(const void* info)
{
    if (sealer_ || handed_off_ || !info) return false;
    CryptoInfo c;
    const auto* head = static_cast<const tls_crypto_info*>(info);
    switch (head->cipher_type) {
    case TLS_CIPHER_AES_GCM_128: c.size = sizeof c.u.aes_gcm_128; break;
    case TLS_CIPHER_AES_GCM_256: c.size = sizeof c.u.aes_gcm_256; break;
    case TLS_CIPHER_CHACHA20_POLY1305: c.size = sizeof c.u.chacha20_poly1305; break;
    default: return false; // (AES-CCM: not offered)
    }
    std::memcpy(&c.u, info, c.size);
    auto sealer = std::make_unique<RecordSealer>();
    const bool ok = sealer->init(c);
    OPENSSL_cleanse(&c.u, sizeof c.u);
    if (!ok) return false;
    sealer_ = std::move(sealer);
    return true;
}

// Records of at most 16 KiB (OpenSSL passes one at a time, but a longer
// write would be cut the same way), each sealed where it is to be sent.
bool Session::seal(std::uint8_t type, std::span<const char> plain)
{
    do {
        const std::size_t n = std::min(plain.size(), RecordSealer::kMaxPlaintext);
        const std::span<char> out = output_.reserve(sealer_->sealed_size(n));
        if (!sealer_->seal(type, plain.first(n), out)) return false;
        output_.commit(out.size());
        plain = plain.subspan(n);
    } while (!plain.empty());
    return true;
}

bool Session::established() const
{
    if (!ssl_) return false;
    return handshaken_ ? !failed_ : SSL_is_init_finished(ssl_);
}

Session::HandshakeResult Session::handshake()
{
    if (!ssl_) return {Handshake::Failed, "handshake: no SSL (out of memory)"};
    if (handshaken_ || SSL_is_init_finished(ssl_)) {
        handshaken_ = true;
        return {Handshake::Done, {}};
    }
    clear_errors();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
        handshaken_ = true;
        return {Handshake::Done, {}};
    }
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ && !eof_) return {Handshake::NeedInput, {}};
    HandshakeResult f{Handshake::Failed, {}};
    const unsigned long code = ERR_peek_error();
    f.plain_http = ERR_GET_LIB(code) == ERR_LIB_SSL &&
                   (ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST || ERR_GET_REASON(code) == SSL_R_HTTPS_PROXY_REQUEST);
    if (code == 0 && eof_)
        f.error = "handshake: the peer closed the connection";
    else
        f.error = take_errors("handshake");
    return f;
}

Session::ReadResult Session::read(std::span<char> out)
{
    if (!established()) return {Read::Error, 0, "read: no established session"};
    // Nothing received and nothing kept by OpenSSL: SSL_read would only say
    // so (once per request, after its record), at the cost of a read
    // buffer and the error queue's thread-local look-ups. Not once the
    // peer's close_notify came: that end is said again each time asked (a
    // close_notify that came during a response closes after it).
    if (input_.size() == 0 && !eof_ && SSL_has_pending(ssl_) == 0 && !(SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN))
        return {Read::NeedInput, 0, {}};
    clear_errors();
    std::size_t got = 0;
    const int r = SSL_read_ex(ssl_, out.data(), out.size(), &got);
    if (r == 1) return {Read::Data, got, {}};
    switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ: return {Read::NeedInput, 0, {}};
    case SSL_ERROR_ZERO_RETURN: return {Read::Closed, 0, {}};
    default:
        failed_ = true; // (OpenSSL's own state says so too, but "in init" as for a message cut short)
        if (ERR_peek_error() == 0 && eof_) return {Read::Error, 0, "read: the peer closed without close_notify"};
        return {Read::Error, 0, take_errors("read")};
    }
}

bool Session::owes_key_update() const
{
    return ssl_ && SSL_get_key_update_type(ssl_) != SSL_KEY_UPDATE_NONE;
}

Session::WriteResult Session::write(std::span<const char> plain)
{
    WriteResult w;
    if (!established()) {
        w.error = "write: no established session";
        return w;
    }
    if (handed_off_) {
        w.error = "write: the sending keys are the kernel's";
        return w;
    }
    // OpenSSL is "in init" again while the peer's KeyUpdate is only partly
    // here; our keys stay until it is whole (owes_key_update then).
    if (sealer_ && (!SSL_in_init(ssl_) || SSL_get_state(ssl_) == TLS_ST_SR_KEY_UPDATE)) {
        // Straight into records here: SSL_write would only hand each
        // record's plaintext to the BIO (session.hpp, "Sealing"). Not
        // once the peer asked for our KeyUpdate: it must come first, and
        // the sealer's keys do not change (the stream closes instead).
        if (owes_key_update()) {
            w.error = "write: the peer asked for a KeyUpdate, which sealed records cannot follow";
            return w;
        }
        // Nor after our close_notify (RFC 8446 6.1), which SSL_write
        // refuses too (SSL_R_PROTOCOL_IS_SHUTDOWN).
        if (SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) {
            w.error = "write: close_notify was sent";
            return w;
        }
        while (w.taken < plain.size() && output_.size() < kOutputHighWater) {
            const std::size_t n = std::min(plain.size() - w.taken, kMaxRecordPlaintext);
            if (!seal(RecordSealer::kApplicationData, plain.subspan(w.taken, n))) {
                failed_ = true;
                w.error = "write: sealing a record failed";
                return w;
            }
            w.taken += n;
        }
        return w;
    }
    while (w.taken < plain.size() && output_.size() < kOutputHighWater) {
        // One SSL_write for what fits below the high water (OpenSSL cuts it
        // into 16 KiB records and, with RELEASE_BUFFERS, allocates its
        // record buffer once per call), but never a record smaller than one
        // full one only because the output is nearly full.
        const std::size_t room = std::max(kOutputHighWater - output_.size(), kMaxRecordPlaintext);
        std::size_t chunk = std::min(plain.size() - w.taken, room);
        // Cut at a record's end where the output's room cuts the plaintext:
        // the rest then starts a full record, not a small one.
        if (chunk < plain.size() - w.taken && chunk > kMaxRecordPlaintext) chunk -= chunk % kMaxRecordPlaintext;
        std::size_t done = 0;
        clear_errors();
        if (SSL_write_ex(ssl_, plain.data() + w.taken, chunk, &done) != 1) {
            failed_ = true;
            w.error = take_errors("write");
            return w;
        }
        w.taken += done;
    }
    return w;
}

void Session::shutdown()
{
    if (!established()) return;
    clear_errors();
    SSL_shutdown(ssl_); // queues close_notify; the peer's is not waited for
    clear_errors();
}

std::string_view Session::protocol() const
{
    return ssl_ ? SSL_get_version(ssl_) : "";
}

std::string_view Session::cipher() const
{
    const SSL_CIPHER* c = ssl_ ? SSL_get_current_cipher(ssl_) : nullptr;
    return c ? SSL_CIPHER_get_name(c) : "";
}

std::string_view Session::server_name() const
{
    const char* name = ssl_ ? SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name) : nullptr;
    return name ? name : "";
}

std::string_view Session::alpn() const
{
    const unsigned char* data = nullptr;
    unsigned int len = 0;
    if (ssl_) SSL_get0_alpn_selected(ssl_, &data, &len);
    return data ? std::string_view(reinterpret_cast<const char*>(data), len) : std::string_view();
}

bool Session::resumed() const
{
    return ssl_ && SSL_session_reused(ssl_) == 1;
}

std::size_t Session::pair() const
{
    return ssl_ ? ContextSet::pair_of(ssl_) : 0;
}

std::optional<CryptoInfo> Session::sending_keys() const
{
    // (Once the peer asked for our KeyUpdate the keys must move on: not
    // these to the kernel.)
    if (!sealer_ || handed_off_ || !established() || owes_key_update()) return std::nullopt;
    return sealer_->state();
}

void Session::hand_off()
{
    handed_off_ = true;
    sealer_.reset(); // the keys go with it
}

} // namespace splicehttpd::tls
