// libFuzzer target: a server tls::Session fed arbitrary bytes.
//
// The first input byte picks the mode:
//  - even: the rest is what a client sends on a fresh connection (a
//    ClientHello and records, or anything), cut into pieces by the bytes
//    themselves; after each piece the session advances as the connection
//    would (handshake, then read), and sometimes the peer closes.
//  - odd: an in-process OpenSSL client completes a real handshake first
//    (TLS 1.3 or 1.2); the rest then drives both sides: the client writes
//    plaintext pieces, a KeyUpdate or close_notify, or raw bytes (forged
//    records) go in; the server reads and writes in pieces of any size.
//    Sometimes its sending keys are handed off (to "the kernel") at once:
//    then nothing more may come out of it.
//
// Invariants: never a crash or leak (ASan); a failed handshake or read is
// one line; the output never exceeds the high water mark plus a record;
// what the server reads is exactly what the client wrote, in order, as long
// as no forged bytes went in; what the server writes reaches the client.
#include "fuzz_check.hpp"
#include "support/tls_fixture.hpp"
#include "tls/session.hpp"

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>

using namespace splicehttpd;

namespace {

struct Setup {
    test::Pki pki;
    test::Pki::Leaf leaf = pki.leaf("DNS:a.example,DNS:*.b.example");
    test::TempDir dir;
    std::shared_ptr<const tls::ContextSet> set;
    Setup()
    {
        auto r = tls::load_contexts({pki.files(dir, "a", leaf)}, std::make_shared<tls::TicketKeys>());
        FUZZ_CHECK(r.set != nullptr);
        set = r.set;
    }
};

Setup& setup()
{
    static Setup s;
    return s;
}

struct Input {
    const std::uint8_t* data;
    std::size_t size;
    bool empty() const { return size == 0; }
    std::uint8_t byte()
    {
        if (size == 0) return 0;
        --size;
        return *data++;
    }
    std::string take(std::size_t n)
    {
        n = std::min(n, size);
        std::string s(reinterpret_cast<const char*>(data), n);
        data += n;
        size -= n;
        return s;
    }
};

bool one_line(const std::string& s)
{
    return !s.empty() && s.find('\n') == std::string::npos;
}

constexpr std::size_t kOutputBound = tls::Session::kOutputHighWater + tls::Session::kMaxRecordPlaintext + 1024;

void raw_mode(Input in)
{
    tls::Session s(setup().set);
    FUZZ_CHECK(s.valid());
    while (!in.empty()) {
        const std::uint8_t ctl = in.byte();
        s.feed(std::span<const char>(in.take(std::size_t(ctl % 64) * 16 + 1)));
        if (ctl == 0xff) s.feed_eof();
        if (!s.established()) {
            const auto r = s.handshake();
            if (r.status == tls::Session::Handshake::Failed) {
                FUZZ_CHECK(one_line(r.error));
                FUZZ_CHECK(s.output_size() < kOutputBound);
                test::drain(s);
                FUZZ_CHECK(s.handshake().status == tls::Session::Handshake::Failed);
                return;
            }
        } else {
            char buf[1024];
            const auto r = s.read(buf);
            if (r.status == tls::Session::Read::Error) FUZZ_CHECK(one_line(r.error));
        }
        FUZZ_CHECK(s.output_size() < kOutputBound);
        test::drain(s);
        if (ctl == 0xff) return;
    }
}

void live_mode(Input in, bool tls12)
{
    test::ClientOptions o;
    if (tls12) o.max_version = TLS1_2_VERSION;
    test::Client client(o);
    tls::Session s(setup().set);
    FUZZ_CHECK(test::handshake(client, s).status == tls::Session::Handshake::Done);
    // The client's default suites are AES-GCM: OpenSSL hands the keys over
    // and the session seals; sometimes they go on to "the kernel" at once,
    // and then nothing more may come out of the session, whatever is fed.
    FUZZ_CHECK(s.sealing() && s.sending_keys().has_value());
    const bool handed_off = in.byte() & 1;
    if (handed_off) {
        s.hand_off();
        FUZZ_CHECK(!s.sending_keys().has_value());
    }
    std::string sent, received, server_sent;
    bool forged = false, closed = false, client_closed = false;
    // The client stops writing once it has closed or failed.
    auto client_write = [&](const std::string& piece) {
        std::size_t n = 0;
        if (client_closed || SSL_write_ex(client.ssl, piece.data(), piece.size(), &n) != 1) {
            client_closed = true;
            ERR_clear_error();
            return;
        }
        sent += piece;
    };
    while (!in.empty() && !closed) {
        const std::uint8_t op = in.byte();
        switch (op % 6) {
        case 0: { // the client writes a piece
            const std::string piece = in.take(std::size_t(in.byte()) * 64 + 1);
            if (!piece.empty()) client_write(piece);
            break;
        }
        case 1: // forged bytes on the wire
            s.feed(std::span<const char>(in.take(in.byte())));
            forged = true;
            break;
        case 2: // the client's records reach the server, cut anywhere
        {
            const std::string wire = client.take_output();
            const std::size_t cut = wire.empty() ? 0 : in.byte() % (wire.size() + 1);
            s.feed(std::span<const char>(wire).first(cut));
            s.feed(std::span<const char>(wire).subspan(cut));
            break;
        }
        case 3: { // the server reads into a buffer of any size
            char buf[4096];
            const auto r = s.read(std::span(buf, std::size_t(in.byte()) * 16 + 1));
            if (r.status == tls::Session::Read::Data) received.append(buf, r.size);
            if (r.status == tls::Session::Read::Error) {
                FUZZ_CHECK(one_line(r.error));
                closed = true;
            }
            if (r.status == tls::Session::Read::Closed) closed = true;
            break;
        }
        case 4: { // the server writes
            const std::string piece(std::size_t(in.byte()) * 512, 'r');
            const auto w = s.write(piece);
            FUZZ_CHECK(w.taken <= piece.size());
            if (handed_off) FUZZ_CHECK(w.taken == 0 && !w.error.empty());
            server_sent.append(piece, 0, w.taken);
            FUZZ_CHECK(s.output_size() < kOutputBound);
            break;
        }
        case 5: // a KeyUpdate or the end
            if (op & 8) {
                if (!client_closed) SSL_key_update(client.ssl, SSL_KEY_UPDATE_REQUESTED);
                client_write("k");
            } else if (op & 16) {
                s.shutdown();
            } else {
                SSL_shutdown(client.ssl);
                client_closed = true;
            }
            break;
        }
        if (handed_off) FUZZ_CHECK(s.output_size() == 0);
        if (!forged) FUZZ_CHECK(sent.compare(0, received.size(), received) == 0);
        if (in.byte() & 1) client.give(test::drain(s));
    }
    if (!forged && !closed) {
        client.give(test::drain(s));
        const std::string got = client.read_all();
        FUZZ_CHECK(server_sent.compare(0, got.size(), got) == 0);
    }
    ERR_clear_error();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    Input in{data, size};
    const std::uint8_t mode = in.byte();
    if (mode % 2 == 0)
        raw_mode(in);
    else
        live_mode(in, mode & 2);
    return 0;
}
