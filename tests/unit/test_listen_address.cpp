#include "server/listen_address.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>

using namespace splicehttpd::server;

TEST_CASE("parse_listen: addresses, ports, unix paths")
{
    struct Row {
        int line;
        const char* text;
        const char* url; // nullptr: refused
        const char* error = "";
    };
    const Row rows[] = {
        {__LINE__, "127.0.0.1", "http://127.0.0.1:8080"},
        {__LINE__, "127.0.0.1:9000", "http://127.0.0.1:9000"},
        {__LINE__, "0.0.0.0:0", "http://0.0.0.0:0"},
        {__LINE__, "::", "http://[::]:8080"},
        {__LINE__, "::1", "http://[::1]:8080"},
        {__LINE__, "[::1]", "http://[::1]:8080"},
        {__LINE__, "[::1]:9000", "http://[::1]:9000"},
        {__LINE__, "[::]:443", "http://[::]:443"},
        {__LINE__, "[2001:DB8::1]:80", "http://[2001:db8::1]:80"},
        {__LINE__, "[::ffff:127.0.0.1]:80", "http://[::ffff:127.0.0.1]:80"},
        {__LINE__, "unix:/run/splicehttpd.sock", "unix:/run/splicehttpd.sock"},
        {__LINE__, "127.0.0.1:65535", "http://127.0.0.1:65535"},
        {__LINE__, "127.0.0.1:65536", nullptr, "port '65536' is not a number from 0 to 65535"},
        {__LINE__, "127.0.0.1:", nullptr, "port '' is not a number from 0 to 65535"},
        {__LINE__, "127.0.0.1:80x", nullptr, "port '80x'"},
        {__LINE__, "127.0.0.1:-1", nullptr, "port '-1'"},
        {__LINE__, "127.0.0.1:+80", nullptr, "port '+80'"},
        {__LINE__, "[::1]:", nullptr, "port ''"},
        {__LINE__, "[::1", nullptr, "no ']'"},
        {__LINE__, "[::1]80", nullptr, "unexpected text after ']'"},
        {__LINE__, "[127.0.0.1]:80", nullptr, "expected ADDRESS"},
        {__LINE__, "[]:80", nullptr, "expected ADDRESS"},
        {__LINE__, "localhost", nullptr, "expected ADDRESS"},
        {__LINE__, "localhost:80", nullptr, "expected ADDRESS"},
        {__LINE__, "127.0.0", nullptr, "expected ADDRESS"},
        {__LINE__, "", nullptr, "empty"},
        {__LINE__, "fe80::1%eth0", nullptr, "expected ADDRESS"},
        {__LINE__, "unix:", nullptr, "absolute path"},
        {__LINE__, "unix:run/x.sock", nullptr, "absolute path"},
        {__LINE__, "unix:@abstract", nullptr, "absolute path"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        std::string error;
        const auto a = parse_listen(r.text, 8080, error);
        if (r.url) {
            REQUIRE(a);
            CHECK(a->url() == r.url);
            CHECK_FALSE(a->v6only);
        } else {
            CHECK_FALSE(a);
            CHECK(error.find(r.error) != std::string::npos);
        }
    }
}

TEST_CASE("parse_listen: a unix path fills sockaddr_un, at most 107 bytes")
{
    std::string error;
    const std::string path = "/run/" + std::string(102, 'x'); // 107 bytes
    auto a = parse_listen("unix:" + path, 8080, error);
    REQUIRE(a);
    CHECK(a->is_unix());
    CHECK(a->unix_path() == path);
    CHECK(a->port() == 0);
    CHECK(a->len == offsetof(sockaddr_un, sun_path) + path.size() + 1);
    CHECK_FALSE(parse_listen("unix:" + path + "y", 8080, error));
    CHECK(error == "the path is 108 bytes; a unix socket's is at most 107");
    CHECK_FALSE(parse_listen(std::string("unix:/a\0b", 9), 8080, error));
    CHECK(error == "the path holds a NUL byte");
}

TEST_CASE("parse_listen: options after the address, as nginx's listen takes them")
{
    struct Row {
        int line;
        const char* text;
        const char* url; // nullptr: refused
        bool tls = false;
        unsigned mode = 0666;
        const char* error = "";
    };
    const Row rows[] = {
        {__LINE__, "127.0.0.1:8443 tls", "https://127.0.0.1:8443", true},
        {__LINE__, "127.0.0.1:8443 ssl", "https://127.0.0.1:8443", true}, // nginx's word
        {__LINE__, "[::1]:8443 tls", "https://[::1]:8443", true},
        {__LINE__, ":: tls", "https://[::]:8080", true},
        {__LINE__, "127.0.0.1", "http://127.0.0.1:8080"},
        {__LINE__, "  127.0.0.1:81 \t tls  ", "https://127.0.0.1:81", true}, // spaces and tabs, any number
        {__LINE__, "unix:/run/s.sock tls", "unix:/run/s.sock", true},
        {__LINE__, "unix:/run/s.sock mode=0660", "unix:/run/s.sock", false, 0660},
        {__LINE__, "unix:/run/s.sock mode=0660 tls", "unix:/run/s.sock", true, 0660},
        {__LINE__, "unix:/run/s.sock tls mode=600", "unix:/run/s.sock", true, 0600},
        {__LINE__, "unix:/run/s.sock mode=0777", "unix:/run/s.sock", false, 0777},
        {__LINE__, "unix:/run/s.sock mode=0", "unix:/run/s.sock", false, 0},
        {__LINE__, "unix:/run/s.sock", "unix:/run/s.sock"},
        {__LINE__, "127.0.0.1 tsl", nullptr, false, 0666, "unknown option 'tsl'; expected tls (or ssl)"},
        {__LINE__, "127.0.0.1 TLS", nullptr, false, 0666, "unknown option 'TLS'"},
        {__LINE__, "127.0.0.1 http2", nullptr, false, 0666, "unknown option 'http2'"},
        {__LINE__, "127.0.0.1 tls tls", nullptr, false, 0666, "'tls': tls (or ssl) given twice"},
        {__LINE__, "127.0.0.1 tls ssl", nullptr, false, 0666, "'ssl': tls (or ssl) given twice"},
        {__LINE__, "127.0.0.1:80 mode=0660", nullptr, false, 0666, "'mode=0660': mode= is for a unix socket's file"},
        {__LINE__, "[::1] tls mode=0660", nullptr, false, 0666, "mode= is for a unix socket's file"},
        {__LINE__, "unix:/run/s.sock mode=999", nullptr, false, 0666, "'mode=999': the mode is octal, from 0 to 0777"},
        {__LINE__, "unix:/run/s.sock mode=1777", nullptr, false, 0666, "'mode=1777': the mode is octal"},
        {__LINE__, "unix:/run/s.sock mode=", nullptr, false, 0666, "'mode=': the mode is octal"},
        {__LINE__, "unix:/run/s.sock mode=-660", nullptr, false, 0666, "the mode is octal"},
        {__LINE__, "unix:/run/s.sock mode=0o660", nullptr, false, 0666, "the mode is octal"},
        {__LINE__, "unix:/run/s.sock mode=00660", nullptr, false, 0666, "the mode is octal"},
        {__LINE__, "unix:/run/s.sock mode=0660 mode=0600", nullptr, false, 0666, "'mode=0600': mode= given twice"},
        {__LINE__, "unix:/run/s.sock MODE=0660", nullptr, false, 0666, "unknown option 'MODE=0660'"},
        {__LINE__, "tls", nullptr, false, 0666, "expected ADDRESS"}, // the address comes first
        {__LINE__, "   ", nullptr, false, 0666, "empty; expected ADDRESS"},
        {__LINE__, "bad tls", nullptr, false, 0666, "expected ADDRESS"}, // the address is checked first
        {__LINE__, "127.0.0.1:99999 tls", nullptr, false, 0666, "port '99999'"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        std::string error;
        const auto a = parse_listen(r.text, 8080, error);
        if (r.url) {
            REQUIRE(a);
            CHECK(a->url() == r.url);
            CHECK(a->tls == r.tls);
            CHECK(a->mode == r.mode);
        } else {
            CHECK_FALSE(a);
            CHECK(error.find(r.error) != std::string::npos);
            CHECK(error.find('\n') == std::string::npos);
        }
    }
}

TEST_CASE("plan_listeners: options do not make an address another; errors name the value as given")
{
    std::size_t bad = 99;
    std::string error;
    auto plan = plan_listeners({"127.0.0.1:8080", "127.0.0.1:8443 tls", "unix:/run/s.sock tls mode=0660"}, 80, false,
                               bad, error);
    REQUIRE(plan);
    REQUIRE(plan->size() == 3);
    CHECK_FALSE((*plan)[0].tls);
    CHECK((*plan)[1].tls);
    CHECK((*plan)[2].tls);
    CHECK((*plan)[2].mode == 0660);
    CHECK_FALSE(plan_listeners({"127.0.0.1:8443", "127.0.0.1:8443 tls"}, 80, false, bad, error));
    CHECK(bad == 1);
    CHECK(error == "the same address as '127.0.0.1:8443'");
    CHECK_FALSE(plan_listeners({"0.0.0.0:8443 tls", "127.0.0.1:8443"}, 80, false, bad, error));
    CHECK(bad == 1);
    CHECK(error.starts_with("overlaps '0.0.0.0:8443 tls' (0.0.0.0:8443 and 127.0.0.1:8443)"));
    CHECK_FALSE(plan_listeners({"127.0.0.1", "127.0.0.2 tls mode=0660"}, 80, false, bad, error));
    CHECK(bad == 1);
    CHECK(error.starts_with("'mode=0660': mode= is for a unix socket's file"));
}

TEST_CASE("plan_listeners: duplicates and wildcards; IPv6 is IPv6-only unless [::] is asked to be dual-stack")
{
    struct Row {
        int line;
        std::vector<std::string> texts;
        std::vector<bool> v6only; // empty: refused
        std::size_t bad = 0;
        const char* error = "";
        bool dual_stack = false;
    };
    const Row rows[] = {
        {__LINE__, {"127.0.0.1"}, {false}},
        {__LINE__, {"::"}, {true}}, // alone too: never left to net.ipv6.bindv6only
        {__LINE__, {"::"}, {false}, 0, "", true},
        {__LINE__, {"[::1]", "::"}, {}, 1, "overlaps '[::1]'", true},
        {__LINE__, {"::1", "[::]:9000"}, {true, false}, 0, "", true}, // only the wildcard takes IPv4
        {__LINE__, {"0.0.0.0", "::"}, {false, true}},
        {__LINE__, {"[::]:8080", "127.0.0.1"}, {true, false}}, // 8080 is --port's
        {__LINE__,
         {"[::]:8080", "127.0.0.1"},
         {},
         1,
         "overlaps '[::]:8080' ([::]:8080 and 127.0.0.1:8080): with "
         "--ipv6-dual-stack",
         true},
        {__LINE__, {"0.0.0.0", "::"}, {}, 1, "overlaps '0.0.0.0'", true},
        {__LINE__, {"[::]:9000", "127.0.0.1"}, {false, false}, 0, "", true},
        {__LINE__, {"127.0.0.1", "[::1]", "unix:/run/a.sock"}, {false, true, false}},
        {__LINE__, {"unix:/run/a.sock", "unix:/run/b.sock"}, {false, false}},
        {__LINE__, {"0.0.0.0:0", "[::]:0"}, {false, false}, 0, "", true}, // a free port each: no clash
        {__LINE__, {"127.0.0.1:0", "127.0.0.2:0"}, {false, false}},
        {__LINE__, {"127.0.0.1", "127.0.0.1:8080"}, {}, 1, "the same address as '127.0.0.1'"},
        {__LINE__, {"[::1]:80", "::1"}, {true, true}}, // the ports differ
        {__LINE__, {"unix:/run/a.sock", "unix:/run/a.sock"}, {}, 1, "the same address as 'unix:/run/a.sock'"},
        {__LINE__, {"0.0.0.0", "127.0.0.1"}, {}, 1, "overlaps '0.0.0.0' (0.0.0.0:8080 and 127.0.0.1:8080): a wildcard"},
        {__LINE__, {"[::1]", "::"}, {}, 1, "overlaps '[::1]' ([::1]:8080 and [::]:8080): a wildcard"},
        {__LINE__, {"127.0.0.1", "bogus", "::1"}, {}, 1, "expected ADDRESS"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        std::size_t bad = 99;
        std::string error;
        const auto plan = plan_listeners(r.texts, 8080, r.dual_stack, bad, error);
        if (r.v6only.empty()) {
            CHECK_FALSE(plan);
            CHECK(bad == r.bad);
            CHECK(error.find(r.error) != std::string::npos);
            continue;
        }
        REQUIRE(plan);
        REQUIRE(plan->size() == r.v6only.size());
        for (std::size_t i = 0; i < plan->size(); ++i) {
            CHECK((*plan)[i].v6only == r.v6only[i]);
            CHECK(is_dual_stack((*plan)[i]) == ((*plan)[i].addr.ss_family == AF_INET6 && !r.v6only[i]));
        }
    }
}

TEST_CASE("client_text: IPv4, IPv6, IPv4 through a dual-stack socket, unix")
{
    sockaddr_in in4{};
    in4.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.1", &in4.sin_addr);
    CHECK(client_text(reinterpret_cast<sockaddr*>(&in4), sizeof in4) == "192.0.2.1");

    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
    CHECK(client_text(reinterpret_cast<sockaddr*>(&in6), sizeof in6) == "2001:db8::1");
    inet_pton(AF_INET6, "::ffff:192.0.2.7", &in6.sin6_addr);
    CHECK(client_text(reinterpret_cast<sockaddr*>(&in6), sizeof in6) == "192.0.2.7");
    inet_pton(AF_INET6, "::1", &in6.sin6_addr);
    CHECK(client_text(reinterpret_cast<sockaddr*>(&in6), sizeof in6) == "::1");

    // accept() on a unix socket: the peer is unnamed, only the family is filled.
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    CHECK(client_text(reinterpret_cast<sockaddr*>(&un), sizeof(sa_family_t)) == "unix:");

    // A truncated address is not read past its length.
    CHECK(client_text(reinterpret_cast<sockaddr*>(&in6), sizeof in4) == "-");
    CHECK(client_text(nullptr, 0) == "-");
}
