#include "server/client_limit.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>
#include <vector>

using namespace splicehttpd::server;

namespace {

ClientKey v4(const char* text)
{
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, text, &a.sin_addr);
    return *ClientKey::from(reinterpret_cast<sockaddr*>(&a), sizeof a);
}

ClientKey v6(const char* text)
{
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    inet_pton(AF_INET6, text, &a.sin6_addr);
    return *ClientKey::from(reinterpret_cast<sockaddr*>(&a), sizeof a);
}

ClientKey unix_peer()
{
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    return *ClientKey::from(reinterpret_cast<sockaddr*>(&a), sizeof(sa_family_t));
}

} // namespace

TEST_CASE("ClientKey: IPv4 on either socket is one client; every unix peer is one")
{
    CHECK(v4("192.0.2.1") == v6("::ffff:192.0.2.1"));
    CHECK_FALSE(v4("192.0.2.1") == v4("192.0.2.2"));
    CHECK_FALSE(v4("0.0.0.1") == v6("::1")); // not the mapped form
    CHECK_FALSE(v6("::") == unix_peer());
    CHECK(unix_peer() == unix_peer());
    sockaddr_in6 cut{};
    cut.sin6_family = AF_INET6;
    CHECK_FALSE(ClientKey::from(reinterpret_cast<sockaddr*>(&cut), sizeof(sockaddr_in)));
    CHECK_FALSE(ClientKey::from(nullptr, 0));
    sockaddr other{};
    other.sa_family = AF_PACKET;
    CHECK_FALSE(ClientKey::from(&other, sizeof other));
}

TEST_CASE("ClientCounter: up to the limit per address; a refusal counts nothing")
{
    ClientCounter c(100, 2, 42);
    const ClientKey a = v4("192.0.2.1"), b = v6("2001:db8::1"), u = unix_peer();
    CHECK(c.try_add(a));
    CHECK(c.try_add(v6("::ffff:192.0.2.1"))); // the same client
    CHECK_FALSE(c.try_add(a));
    CHECK(c.count(a) == 2);
    CHECK(c.refused() == 1);
    CHECK(c.try_add(b));
    CHECK(c.try_add(u));
    CHECK(c.try_add(u));
    CHECK_FALSE(c.try_add(unix_peer()));
    CHECK(c.addresses() == 3);
    CHECK(c.remove(a));
    CHECK(c.try_add(a)); // room again
    CHECK(c.remove(a));
    CHECK(c.remove(a));
    CHECK(c.count(a) == 0);
    CHECK(c.addresses() == 2);
    // Never below zero: a remove without its add changes nothing.
    CHECK_FALSE(c.remove(a));
    CHECK_FALSE(c.remove(v4("198.51.100.9")));
    CHECK(c.count(a) == 0);
    CHECK(c.try_add(a));
    CHECK(c.count(a) == 1);
    CHECK(c.count(b) == 1);
    CHECK(c.count(u) == 2);
}

TEST_CASE("ClientCounter: bounded: past capacity addresses, a new one is refused")
{
    ClientCounter c(3, 10, 7);
    CHECK(c.try_add(v4("10.0.0.1")));
    CHECK(c.try_add(v4("10.0.0.2")));
    CHECK(c.try_add(v4("10.0.0.3")));
    CHECK_FALSE(c.try_add(v4("10.0.0.4")));
    CHECK(c.try_add(v4("10.0.0.1"))); // a known one still counts
    CHECK(c.remove(v4("10.0.0.2")));
    CHECK(c.try_add(v4("10.0.0.4")));
    ClientCounter none(10, 0, 1); // limit 0: nobody
    CHECK_FALSE(none.try_add(v4("10.0.0.1")));
}

TEST_CASE("ClientCounter: agrees with a map through churn on a crowded table")
{
    // A small table (16 slots, capacity 8) and few addresses: long probe
    // runs that wrap around the end, and deletions inside them. Fixed seeds:
    // the same run every time.
    for (const std::uint64_t seed : {0ull, 1ull, 0xdeadbeefull}) {
        CAPTURE(seed);
        ClientCounter c(8, 3, seed);
        std::map<int, unsigned> model;
        std::mt19937 rng(unsigned(seed) + 1);
        const auto key = [](int n) {
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(0x0a000000u + unsigned(n));
            return *ClientKey::from(reinterpret_cast<sockaddr*>(&a), sizeof a);
        };
        std::size_t in_model = 0;
        for (int step = 0; step < 100'000; ++step) {
            const int n = int(rng() % 12);
            if (rng() % 2) {
                const bool room = model[n] > 0 || in_model < 8;
                const bool want = model[n] < 3 && room;
                REQUIRE(c.try_add(key(n)) == want);
                if (want && model[n]++ == 0) ++in_model;
            } else {
                REQUIRE(c.remove(key(n)) == (model[n] > 0));
                if (model[n] > 0 && --model[n] == 0) --in_model;
            }
            if (step % 97 == 0)
                for (int k = 0; k < 12; ++k) REQUIRE(c.count(key(k)) == model[k]);
            REQUIRE(c.addresses() == in_model);
        }
    }
}

TEST_CASE("ClientKey::of_peer: the address an accept filled into a sockaddr_in6")
{
    sockaddr_in6 peer{};
    auto* in4 = reinterpret_cast<sockaddr_in*>(&peer);
    in4->sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.7", &in4->sin_addr);
    CHECK(ClientKey::of_peer(peer) == v4("192.0.2.7"));
    peer = {};
    peer.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::7", &peer.sin6_addr);
    CHECK(ClientKey::of_peer(peer) == v6("2001:db8::7"));
    peer = {};
    peer.sin6_family = AF_UNIX;
    CHECK(ClientKey::of_peer(peer) == unix_peer());
}

TEST_CASE("SharedClientCounter: the workers' adds and removes meet in one count")
{
    SharedClientCounter shared(64, 4, 99);
    const ClientKey a = v4("192.0.2.1");
    // As two workers would: each takes what the limit leaves, from its thread.
    std::vector<std::thread> workers;
    std::atomic<unsigned> admitted{0};
    for (int w = 0; w < 2; ++w)
        workers.emplace_back([&] {
            for (int i = 0; i < 1000; ++i) {
                if (!shared.try_add(a)) continue;
                ++admitted;
                shared.remove(a);
            }
            for (int i = 0; i < 3; ++i) admitted += shared.try_add(a);
        });
    for (auto& t : workers) t.join();
    CHECK(shared.count(a) == 4); // the limit, whoever got there first
    CHECK(shared.addresses() == 1);
    CHECK_FALSE(shared.try_add(a));
    CHECK(shared.try_add(v4("192.0.2.2"))); // another address is not affected
    for (int i = 0; i < 4; ++i) CHECK(shared.remove(a));
    CHECK_FALSE(shared.remove(a));
    CHECK(shared.addresses() == 1);
}
