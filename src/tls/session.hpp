// One TLS connection, server side, over memory: it does no I/O of its own.
// The connection hands it the ciphertext its ring recv got (feed), asks it
// to advance (handshake, read, write, shutdown), and sends what it wrote
// (pending_output, then consume_output once the send completed). Nothing
// here blocks, sleeps or makes a syscall, so the worker's loop never waits
// on OpenSSL (only on its CPU time).
//
// Memory: the SSL releases its record buffers between records
// (SSL_MODE_RELEASE_BUFFERS), the input and output buffers give theirs back
// when drained; an idle session after its handshake holds only OpenSSL's
// SSL object and this one (test_tls_session.cpp measures it). write()
// stops taking plaintext once kOutputHighWater bytes wait to be sent, so a
// session holds at most that much plus one record.
//
// Sealing: every session sets OpenSSL's SSL_OP_ENABLE_KTLS, and its BIO
// answers OpenSSL's kTLS controls as a
// kTLS socket would: when the sending direction's application keys are
// set (TLS 1.3: after the server's Finished; 1.2: its ChangeCipherSpec),
// OpenSSL hands the BIO the keys and sequence number it would give the
// kernel, then passes each record's plaintext straight from the caller's
// buffer (a non-data record's type announced first). The BIO seals the
// records into the output with a RecordSealer: one pass of the AEAD,
// where OpenSSL would copy the plaintext into its record buffer and the
// BIO copy the record out of it. OpenSSL keeps everything else: the
// handshake, tickets, alerts, reading. A KeyUpdate OpenSSL 3.0 does not
// pass on (as with the kernel), so once the peer asks for ours nothing
// more may be written (owes_key_update: the connection closes). Where the
// kernel has kTLS, the same keys go on to it (sending_keys, hand_off)
// once the tickets sealed here have gone.
#pragma once

#include "tls/buffers.hpp"
#include "tls/context.hpp"
#include "tls/ktls.hpp"
#include "tls/record_sealer.hpp"

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace splicehttpd::tls {

class Session {
public:
    static constexpr std::size_t kOutputHighWater = 64 * 1024;
    static constexpr std::size_t kMaxRecordPlaintext = 16 * 1024;

    enum class Handshake {
        Done,      // established: read and write may follow
        NeedInput, // feed more ciphertext (after sending pending_output)
        Failed,    // send pending_output (an alert, when OpenSSL made one), then close
    };
    struct HandshakeResult {
        Handshake status;
        std::string error;       // Failed: one line, OpenSSL's reasons
        bool plain_http = false; // Failed because the peer spoke plain HTTP (worth a plain 400, as nginx does)
    };

    enum class Read {
        Data,      // `size` bytes of plaintext
        NeedInput, // nothing complete yet
        Closed,    // the peer sent close_notify
        Error,     // fatal (bad record, bad MAC, a peer's alert): send pending_output, then close
    };
    struct ReadResult {
        Read status;
        std::size_t size = 0;
        std::string error;
    };

    struct WriteResult {
        std::size_t taken = 0; // plaintext bytes now in records in the output
        std::string error;     // not empty: the session is dead
    };

    explicit Session(std::shared_ptr<const ContextSet> contexts);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // False when OpenSSL could not make the SSL (out of memory): close.
    bool valid() const { return ssl_ != nullptr; }

    // Ciphertext from the peer.
    void feed(std::span<const char> ciphertext) { input_.append(ciphertext); }
    // The peer closed its side: what is buffered is all there will be.
    void feed_eof() { eof_ = true; }
    std::size_t input_size() const { return input_.size(); }

    HandshakeResult handshake();
    bool established() const;

    // Plaintext for the HTTP parser.
    ReadResult read(std::span<char> out);
    // Encrypts up to all of `plain` into records in the output, in records
    // of at most 16 KiB, while less than kOutputHighWater waits to be sent.
    WriteResult write(std::span<const char> plain);
    // Queues close_notify (after the handshake; otherwise nothing).
    void shutdown();
    // The records are sealed here (see "Sealing" above), not by OpenSSL.
    [[nodiscard]] bool sealing() const { return sealer_ != nullptr; }
    // The peer's KeyUpdate asked for ours (TLS 1.3, update_requested):
    // OpenSSL sends it with the next write, and no application data may go
    // under the old keys before it (RFC 8446 4.6.3).
    bool owes_key_update() const;

    // The next bytes to send: they stay where they are, unchanged, until
    // consume_output() or the session's end, whatever else is written.
    std::span<const char> pending_output() const { return output_.front(); }
    std::size_t output_size() const { return output_.size(); }
    void consume_output(std::size_t n) { output_.consume(n); }

    // After the handshake: what was agreed.
    std::string_view protocol() const;    // "TLSv1.3", "TLSv1.2"
    std::string_view cipher() const;      // OpenSSL's name, "TLS_AES_128_GCM_SHA256"
    std::string_view server_name() const; // SNI as sent, "" without
    std::string_view alpn() const;        // "http/1.1", "" without
    bool resumed() const;
    std::size_t pair() const; // which certificate/key pair answered

    // Kernel TLS (tls/ktls.hpp): the sending keys as they stand, for
    // setsockopt(SOL_TLS, TLS_TX): the sealer's keys, the next record's
    // sequence number (after the tickets) and, for TLS 1.2 AES-GCM, its
    // explicit nonce. nullopt before the handshake is done, for a cipher
    // OpenSSL does not hand over, once the peer asked for our KeyUpdate,
    // or after hand_off().
    std::optional<CryptoInfo> sending_keys() const;
    // The kernel took them: nothing more is sealed here. What OpenSSL
    // still writes (an alert) is dropped and wrote_after_hand_off() says
    // so: it could no longer be sent.
    void hand_off();
    [[nodiscard]] bool wrote_after_hand_off() const { return wrote_after_hand_off_; }

private:
    friend struct SessionCallbacks;
    BIO* make_bio();
    bool start_sealing(const void* info);
    bool seal(std::uint8_t type, std::span<const char> plain);

    std::shared_ptr<const ContextSet> contexts_;
    SSL* ssl_ = nullptr;
    InputBuffer input_;
    OutputBuffer output_;
    std::unique_ptr<RecordSealer> sealer_;
    std::uint8_t next_record_type_ = RecordSealer::kApplicationData; // OpenSSL's announcement for its next write
    bool eof_ = false;
    bool handed_off_ = false;
    bool wrote_after_hand_off_ = false;
    // The handshake finished once (handshake() said Done), and no read or
    // write failed since: established() from then on, even while OpenSSL is
    // "in init" again for a post-handshake message only part of which came
    // (the peer's KeyUpdate cut across records, RFC 8446 5.1).
    bool handshaken_ = false;
    bool failed_ = false;
};

} // namespace splicehttpd::tls
