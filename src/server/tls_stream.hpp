// A connection's TLS (HTTPS): its session (tls/session: OpenSSL over memory)
// and the sends of the records it writes. The ring's recv hands ciphertext
// to feed(); advance() runs the handshake, then yields the plaintext for the
// request parser; whatever the session wrote (handshake flights, tickets,
// response records, alerts, close_notify) goes out by one send SQE at a
// time from the front of its output, which does not move while the send
// points at it. It never calls its connection: every entry returns what
// happened.
//
// The sends carry no MSG_DONTWAIT (unlike the plain path's): no pipe is held
// while one waits in the kernel for room, and the send deadline (progress)
// or a SHUT_RDWR ends a send that a peer never lets complete.
#pragma once

#include "server/submitter.hpp"
#include "tls/session.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace splicehttpd::server {

// What the first bytes on the TLS port are. A TLS client starts with a
// handshake record (0x16); one that speaks HTTP starts with a method, an
// uppercase token and a space (nginx answers it a plain 400, and so do we).
// Anything else goes to OpenSSL, which alerts or closes as it sees fit.
enum class FirstBytes : std::uint8_t {
    NeedMore,  // an uppercase token so far, no space yet: wait (within the handshake deadline)
    PlainHttp, // "GET ", "PROPFIND ", ...
    Other,     // a TLS record, or garbage: OpenSSL's to judge
};
// The longest method token taken for HTTP ("MKCALENDAR" is 10; longer
// tokens of only capitals are no request anyone sends to a TLS port).
inline constexpr std::size_t kMaxSniffedMethod = 16;
FirstBytes sniff_first_bytes(std::string_view bytes) noexcept;

// close_notify under kTLS: a sendmsg whose cmsg (TLS_SET_RECORD_TYPE 21)
// makes the kernel write the two bytes as an alert record. Without
// MSG_DONTWAIT, as the session's record sends: a socket with no room makes
// it wait in the kernel, and the deadlines or an abort's SHUT_RDWR end
// that wait. The message is read when the SQE runs: it stays put until the
// completion.
class KernelCloseNotify {
public:
    void prep(io_uring_sqe* sqe, int socket) noexcept;

private:
    msghdr msg_{};
    iovec iov_{};
    alignas(cmsghdr) char cmsg_[CMSG_SPACE(1)]{};
};

class TlsStream {
public:
    struct Env {
        Submitter& ops;
        int socket; // the connection's fixed slot
    };

    // kernel: the kernel's kTLS (nullptr: records are always sealed in
    // user space).
    explicit TlsStream(std::shared_ptr<const tls::ContextSet> contexts, const tls::KernelTls* kernel = nullptr)
        : session_(std::move(contexts)), kernel_(kernel)
    {
    }

    [[nodiscard]] bool valid() const noexcept { return session_.valid(); }
    [[nodiscard]] tls::Session& session() noexcept { return session_; }
    [[nodiscard]] const tls::Session& session() const noexcept { return session_; }
    [[nodiscard]] bool established() const noexcept { return established_; }
    // Nothing written yet: what comes in is the start of the handshake (a
    // ClientHello), the costly step.
    [[nodiscard]] bool greeting() const noexcept
    {
        return !established_ && sent_ == 0 && !sending_ && session_.output_size() == 0;
    }

    void feed(std::string_view ciphertext);
    void feed_eof() { session_.feed_eof(); }
    // Ciphertext received and not yet turned into plaintext: counts against
    // --max-input as buffered plaintext does.
    [[nodiscard]] std::size_t buffered() const noexcept { return session_.input_size(); }

    struct Step {
        enum class Kind : std::uint8_t {
            Plain,       // `plain` holds request bytes (valid until the next call)
            NeedInput,   // nothing more until the peer sends
            Established, // the handshake just finished: advance again for plaintext
            Closed,      // the peer's close_notify
            Failed,      // a failed handshake or a bad record: send what is pending (an alert), then close
        };
        Kind kind = Kind::NeedInput;
        std::string_view plain;
        std::string error;       // Failed: one line
        bool plain_http = false; // Failed: the peer spoke plain HTTP to the TLS port (`plain`: its first bytes)
    };
    // The handshake until it is done, then one piece of plaintext per call.
    Step advance(std::span<char> scratch);

    // A send of the session's pending output, unless one is in flight or
    // nothing is pending. Says whether a send is in flight now.
    bool flush(const Env& env) noexcept;
    // The send completed: what it took leaves the output. False: the peer
    // is gone (the connection aborts).
    bool on_sent(int res) noexcept;

    // Kernel TLS (kTLS): right after the handshake, once what the session
    // wrote has gone out (the tickets), the transmit keys go to the socket
    // through the ring (SOCKET_URING_OP_SETSOCKOPT, Linux 6.7: the socket
    // is a fixed slot, no descriptor to call setsockopt on): TCP_ULP "tls",
    // then TLS_TX, linked. From then on the kernel encrypts what is sent or
    // spliced: responses take the plain path, pipes and all. Receiving stays
    // with the session (OpenSSL decrypts the requests). Nothing is read
    // from the session while the keys are on their way, so no response can
    // start before the socket's write side is settled.
    enum class KernelTx : std::uint8_t {
        Off,        // user space: no kTLS, a suite the kernel lacks, or the hand-off failed
        Waiting,    // established: the session's output goes out first
        Installing, // the two setsockopts are in flight
        On,         // the kernel encrypts every write
    };
    [[nodiscard]] KernelTx kernel_tx() const noexcept { return kernel_tx_; }
    [[nodiscard]] bool kernel_encrypts() const noexcept { return kernel_tx_ == KernelTx::On; }
    // The peer asked for the server's KeyUpdate after the hand-off: the
    // sending keys are the kernel's or the session's sealer's (OpenSSL 3.0
    // updates neither), and nothing may be sent under them any more.
    [[nodiscard]] bool owes_key_update() const noexcept
    {
        return (kernel_tx_ == KernelTx::On || session_.sealing()) && session_.owes_key_update();
    }
    // OpenSSL wrote after the keys went to the kernel (an alert): that
    // record cannot be sent.
    [[nodiscard]] bool wrote_after_hand_off() const noexcept { return session_.wrote_after_hand_off(); }
    // Waiting or Installing: the session is not read meanwhile.
    [[nodiscard]] bool handing_off() const noexcept
    {
        return kernel_tx_ == KernelTx::Waiting || kernel_tx_ == KernelTx::Installing;
    }
    // Waiting and nothing left to send: submits the setsockopts. Says
    // whether it did.
    bool install_kernel_tx(const Env& env) noexcept;
    struct KernelTxResult {
        bool done = false; // both completions are in: kernel_tx() is On or Off
        std::string error; // Off because the kernel refused: why, one line
    };
    KernelTxResult on_kernel_tx(std::uint8_t seq, int res) noexcept;
    // The cipher the kernel encrypts with ("AES-GCM-128"), "" unless On.
    [[nodiscard]] const char* kernel_cipher() const noexcept
    {
        return kernel_tx_ == KernelTx::On ? kernel_cipher_ : "";
    }

    // Between requests (an idle keep-alive connection closing, or one a
    // stop closes), the peer is told the end is deliberate, as nginx does:
    // close_notify, written by the session and sent as its records are
    // (completion: on_sent), or under kTLS by a sendmsg (Op::TlsCloseNotify,
    // then on_kernel_close_notify). Says whether a send of it is in flight;
    // false where nothing can be sent (no keys yet, the kTLS hand-off under
    // way, or sent already).
    bool send_close_notify(const Env& env) noexcept;
    void on_kernel_close_notify() noexcept { kernel_alert_pending_ = false; }
    [[nodiscard]] bool close_notify_sent() const noexcept { return close_notify_; }

    [[nodiscard]] bool sending() const noexcept { return sending_; }
    [[nodiscard]] bool idle() const noexcept
    {
        return !sending_ && !kernel_alert_pending_ && session_.output_size() == 0;
    }
    [[nodiscard]] std::uint64_t bytes_sent() const noexcept { return sent_; }

private:
    tls::Session session_;
    // The first bytes, until sniff_first_bytes() has told what they are
    // (the session has them too; it is not asked before that).
    std::array<char, kMaxSniffedMethod + 1> first_{};
    std::size_t first_size_ = 0;
    FirstBytes first_kind_ = FirstBytes::NeedMore;
    bool established_ = false;
    bool sending_ = false;
    std::uint64_t sent_ = 0;

    const tls::KernelTls* kernel_ = nullptr;
    KernelTx kernel_tx_ = KernelTx::Off;
    tls::CryptoInfo kernel_info_; // read by the TLS_TX setsockopt: stays put until its completion
    const char* kernel_cipher_ = "";
    int kernel_ulp_res_ = 0; // the TCP_ULP setsockopt's result
    KernelCloseNotify kernel_alert_;
    bool kernel_alert_pending_ = false;
    bool close_notify_ = false; // send_close_notify() sent it (or wrote it into the session)
};

} // namespace splicehttpd::server
