// Fact: with the keys tls::Session::sending_keys() gives after a
// handshake (tls/ktls.hpp), setsockopt(TCP_ULP "tls") + TLS_TX makes the
// kernel write records an ordinary TLS client decrypts: plaintext sent into
// the socket, as a body spliced into it would be, arrives as the
// application data of the connection the handshake set up, continuing
// OpenSSL's record sequence (after the TLS 1.3 session tickets) and, for
// TLS 1.2 AES-GCM, its explicit nonces.
//
// The one piece of the TLS work that needs a kernel with kTLS; the keys'
// state is unit-tested (tests/unit/test_tls_ktls.cpp). Exit 0:
// every cipher the kernel took decrypted; 1: one did not; 77: no kTLS here
// (no tls module: setsockopt(TCP_ULP, "tls") fails with ENOENT).
#include "support/tls_fixture.hpp"
#include "tls/ktls.hpp"
#include "tls/session.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

using namespace splicehttpd;

namespace {

[[noreturn]] void setup_failed(const char* what)
{
    std::printf("probe set-up failed: %s: %s\n", what, std::strerror(errno));
    std::exit(99);
}

// A connected loopback pair, both blocking.
std::pair<int, int> tcp_pair()
{
    const int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (ls < 0 || ::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0 || ::listen(ls, 1) != 0)
        setup_failed("listen");
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0 || ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) setup_failed("connect");
    const int s = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (s < 0) setup_failed("accept");
    ::close(ls);
    return {s, c};
}

void send_all(int fd, std::span<const char> bytes)
{
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) setup_failed("send");
        bytes = bytes.subspan(std::size_t(n));
    }
}

// 0: the client read `body` through the kernel's records; 1: it did not;
// -1: the kernel would not take this cipher.
int check(const std::shared_ptr<const tls::ContextSet>& set, const tls::KernelTls& kernel, int version,
          const char* cipher)
{
    auto [server_fd, client_fd] = tcp_pair();
    std::string body(100000, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = char('a' + i % 26);

    SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(cctx, version);
    SSL_CTX_set_max_proto_version(cctx, version);
    if (version == TLS1_3_VERSION)
        SSL_CTX_set_ciphersuites(cctx, cipher);
    else
        SSL_CTX_set_cipher_list(cctx, cipher);
    SSL* client = SSL_new(cctx);
    SSL_set_fd(client, client_fd);
    std::string received;
    std::thread reader([&] {
        if (SSL_connect(client) != 1) return;
        char buf[16384];
        std::size_t n = 0;
        while (received.size() < body.size() && SSL_read_ex(client, buf, sizeof buf, &n) == 1) received.append(buf, n);
    });

    tls::Session server(set);
    auto status = tls::Session::Handshake::NeedInput;
    while (status == tls::Session::Handshake::NeedInput) {
        char buf[16384];
        const ssize_t n = ::recv(server_fd, buf, sizeof buf, 0);
        if (n <= 0) setup_failed("recv (handshake)");
        server.feed({buf, std::size_t(n)});
        status = server.handshake().status;
        send_all(server_fd, std::span<const char>(test::drain(server)));
    }
    if (status != tls::Session::Handshake::Done) setup_failed("handshake");
    const auto info = server.sending_keys();
    if (!info) setup_failed("sending_keys");
    server.hand_off();
    const int err = kernel.takes(*info) ? tls::install_kernel_tls(server_fd, tls::Direction::Tx, *info) : ENOPROTOOPT;
    int result = -1;
    if (err == 0) {
        send_all(server_fd, body); // plaintext: the kernel makes the records
        ::shutdown(server_fd, SHUT_WR);
        reader.join();
        result = received == body ? 0 : 1;
        std::printf("%s %s: %s (kernel record sequence from %llu)\n", version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2",
                    cipher, result == 0 ? "decrypted" : "NOT decrypted",
                    static_cast<unsigned long long>(info->rec_seq()));
    } else {
        std::printf("%s: the kernel refused TLS_TX: %s\n", cipher, std::strerror(err));
        ::shutdown(server_fd, SHUT_RDWR);
        reader.join();
    }
    SSL_free(client);
    SSL_CTX_free(cctx);
    ::close(server_fd);
    ::close(client_fd);
    return result;
}

} // namespace

int main()
{
    const tls::KernelTls k = tls::probe_kernel_tls();
    if (!k.available) {
        std::printf("skip: %s\n", k.detail.c_str());
        return 77;
    }
    test::Pki pki;
    const auto leaf = pki.leaf("DNS:localhost");
    test::TempDir dir;
    const auto set = tls::load_contexts({pki.files(dir, "localhost", leaf)}, std::make_shared<tls::TicketKeys>()).set;
    if (!set) setup_failed("load_contexts");
    struct Case {
        int version;
        const char* cipher;
    };
    int checked = 0, failed = 0;
    for (const Case& c :
         {Case{TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256"}, Case{TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384"},
          Case{TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256"}, Case{TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256"},
          Case{TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384"},
          Case{TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305"}}) {
        const int r = check(set, k, c.version, c.cipher);
        if (r >= 0) ++checked;
        if (r == 1) ++failed;
    }
    if (failed) {
        std::printf("changed: %d of %d ciphers did not decrypt\n", failed, checked);
        return 1;
    }
    if (checked == 0) {
        std::printf("skip: the kernel took none of the ciphers\n");
        return 77;
    }
    return 0;
}
