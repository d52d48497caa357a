// The kernel TLS hand-off: published vectors for its two key schedules.
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
