#include "sites.hpp"

#include <doctest/doctest.h>

using namespace splicehttpd;

namespace {

SiteConfig site(std::vector<std::string> names, std::string root, bool is_default = false)
{
    SiteConfig s;
    s.names = std::move(names);
    s.root = std::move(root);
    s.is_default = is_default;
    return s;
}

Sites build(const std::vector<SiteConfig>& sites, UnknownHost unknown = UnknownHost::Default)
{
    SiteSettings top;
    top.root = "/srv/top";
    std::string error;
    auto out = Sites::build(top, sites, unknown, "unknown-host", error);
    INFO(error);
    REQUIRE(out);
    return std::move(*out);
}

} // namespace

TEST_CASE("normalize_site_name: lower case, no trailing dot, wildcards only in front")
{
    struct Row {
        int line;
        const char* name;
        const char* out; // nullptr: refused
        const char* error = "";
    };
    const Row rows[] = {
        {__LINE__, "example.com", "example.com"},
        {__LINE__, "Example.COM", "example.com"},
        {__LINE__, "example.com.", "example.com"},
        {__LINE__, "*.Example.com", "*.example.com"},
        {__LINE__, "*.com", "*.com"},
        {__LINE__, "localhost", "localhost"},
        {__LINE__, "my_host-1.example", "my_host-1.example"},
        {__LINE__, "192.0.2.1", "192.0.2.1"},
        {__LINE__, "[::1]", "[::1]"},
        {__LINE__, "[0:0::1]", "[::1]"},
        {__LINE__, "[2001:DB8::A]", "[2001:db8::a]"},
        {__LINE__, "", nullptr, "empty"},
        {__LINE__, ".", nullptr, "an empty label"},
        {__LINE__, "example..com", nullptr, "an empty label"},
        {__LINE__, ".example.com", nullptr, "an empty label"},
        {__LINE__, "example.com..", nullptr, "an empty label"},
        {__LINE__, "*", nullptr, "'*' only as the whole first label"},
        {__LINE__, "*.", nullptr, "'*' only as the whole first label"},
        {__LINE__, "*example.com", nullptr, "'*' only as the whole first label"},
        {__LINE__, "www.*.com", nullptr, "'*' only as the whole first label"},
        {__LINE__, "*.*.example.com", nullptr, "'*' only as the whole first label"},
        {__LINE__, "example.com:8080", nullptr, "':' is not a letter"},
        {__LINE__, "exa mple.com", nullptr, "' ' is not a letter"},
        {__LINE__, "[::1", nullptr, "not an IPv6 address"},
        {__LINE__, "[example.com]", nullptr, "not an IPv6 address"},
        {__LINE__, "[127.0.0.1]", nullptr, "not an IPv6 address"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        std::string error;
        const auto out = normalize_site_name(r.name, error);
        if (r.out) {
            REQUIRE(out);
            CHECK(*out == r.out);
        } else {
            CHECK_FALSE(out);
            CHECK(error.find(r.error) != std::string::npos);
        }
    }
    std::string error;
    CHECK(normalize_site_name(std::string(63, 'a') + ".com", error));
    CHECK_FALSE(normalize_site_name(std::string(64, 'a') + ".com", error));
    CHECK(error.find("a label of 64 bytes; at most 63") != std::string::npos);
    std::string long_name;
    while (long_name.size() < 250) long_name += "abcdefghi.";
    long_name += "com"; // 253
    CHECK(normalize_site_name(long_name, error));
    CHECK_FALSE(normalize_site_name("x" + long_name, error));
    CHECK(error.find("254 bytes; a host name has at most 253") != std::string::npos);
}

TEST_CASE("normalize_host: port, case, trailing dot, IPv6")
{
    struct Row {
        int line;
        const char* host;
        const char* out; // nullptr: matches no name
    };
    const Row rows[] = {
        {__LINE__, "example.com", "example.com"},
        {__LINE__, "EXAMPLE.com:8080", "example.com"},
        {__LINE__, "example.com.", "example.com"},
        {__LINE__, "example.com.:80", "example.com"},
        {__LINE__, "example.com:", "example.com"}, // RFC 3986: an empty port is allowed
        {__LINE__, "127.0.0.1:8080", "127.0.0.1"},
        {__LINE__, "[::1]", "[::1]"},
        {__LINE__, "[::1]:8080", "[::1]"},
        {__LINE__, "[0:0::1]:8080", "[::1]"},
        {__LINE__, "[2001:DB8::A]", "[2001:db8::a]"},
        {__LINE__, "", nullptr},
        {__LINE__, ":8080", nullptr},
        {__LINE__, "example.com:80x", nullptr},
        {__LINE__, "example.com:80:80", nullptr},
        {__LINE__, "[::1", nullptr},
        {__LINE__, "[::1]x", nullptr},
        {__LINE__, "[nope]", nullptr},
        {__LINE__, "::1", nullptr}, // IPv6 without brackets is not a Host
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        char buf[256];
        const auto out = normalize_host(r.host, buf);
        if (r.out) {
            REQUIRE(out);
            CHECK(*out == r.out);
        } else {
            CHECK_FALSE(out);
        }
    }
    char small[8];
    CHECK_FALSE(normalize_host("example.com", small)); // longer than the buffer: no name is that long
    CHECK(*normalize_host("ex.com", small) == "ex.com");
}

TEST_CASE("Sites::match: exact first, then the longest wildcard, then the default")
{
    const Sites sites = build({
        site({"example.com", "www.example.com"}, "/srv/example"),
        site({"*.example.com"}, "/srv/any-example"),
        site({"*.static.example.com", "Cdn.Example.Org."}, "/srv/static"),
        site({"api.static.example.com"}, "/srv/api"),
        site({"[::1]", "127.0.0.1"}, "/srv/local"),
    });
    struct Row {
        int line;
        const char* host;
        const char* root;
    };
    const Row rows[] = {
        {__LINE__, "example.com", "/srv/example"},
        {__LINE__, "EXAMPLE.COM:443", "/srv/example"},
        {__LINE__, "example.com.", "/srv/example"},
        {__LINE__, "www.example.com", "/srv/example"},        // exact beats *.example.com
        {__LINE__, "shop.example.com", "/srv/any-example"},   // one label in front
        {__LINE__, "a.b.c.example.com", "/srv/any-example"},  // several
        {__LINE__, "static.example.com", "/srv/any-example"}, // *.static... needs a label in front
        {__LINE__, "img.static.example.com", "/srv/static"},  // the longer wildcard wins
        {__LINE__, "x.img.static.example.com", "/srv/static"},
        {__LINE__, "api.static.example.com", "/srv/api"},       // exact beats both wildcards
        {__LINE__, "v2.api.static.example.com", "/srv/static"}, // an exact name is no wildcard
        {__LINE__, "cdn.example.org", "/srv/static"},
        {__LINE__, "[::1]:8080", "/srv/local"},
        {__LINE__, "127.0.0.1:8080", "/srv/local"},
        {__LINE__, "other.org", "/srv/top"},
        {__LINE__, "example.org", "/srv/top"},
        {__LINE__, "com", "/srv/top"},
        {__LINE__, "notexample.com", "/srv/top"}, // a suffix, not a label
        {__LINE__, "", "/srv/top"},               // HTTP/1.0 without Host
        {__LINE__, "bad host:x", "/srv/top"},
        {__LINE__, "[::2]", "/srv/top"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        const Site* s = sites.match(r.host);
        REQUIRE(s);
        CHECK(s->settings.root == r.root);
    }
    REQUIRE(sites.default_site());
    CHECK(sites.default_site()->label == "default");
    CHECK(sites.all().size() == 6);
    CHECK(sites.all()[2].names == std::vector<std::string>{"*.static.example.com", "cdn.example.org"});
    CHECK(sites.all()[2].label == "*.static.example.com");
}

TEST_CASE("Sites: a site marked default; unknown-host 421")
{
    SUBCASE("default = true answers unknown hosts, the top level answers none")
    {
        const Sites sites = build({site({"a.example"}, "/srv/a"), site({"b.example"}, "/srv/b", true)});
        CHECK(sites.match("a.example")->settings.root == "/srv/a");
        CHECK(sites.match("c.example")->settings.root == "/srv/b");
        CHECK(sites.match("")->settings.root == "/srv/b");
        CHECK(sites.all().size() == 2);
        CHECK(sites.default_site()->label == "b.example");
    }
    SUBCASE("a default site may have no names")
    {
        const Sites sites = build({site({}, "/srv/catch-all", true), site({"a.example"}, "/srv/a")});
        CHECK(sites.match("z.example")->settings.root == "/srv/catch-all");
        CHECK(sites.default_site()->label == "default");
    }
    SUBCASE("421: a known host has its site, an unknown or missing one none")
    {
        const Sites sites = build({site({"a.example", "*.a.example"}, "/srv/a")}, UnknownHost::Misdirected);
        CHECK(sites.match("a.example")->settings.root == "/srv/a");
        CHECK(sites.match("x.a.example:80")->settings.root == "/srv/a");
        CHECK(sites.match("b.example") == nullptr);
        CHECK(sites.match("") == nullptr);
        CHECK(sites.match("[::1") == nullptr);
        CHECK(sites.default_site() == nullptr);
        CHECK(sites.unknown_host() == UnknownHost::Misdirected);
    }
    SUBCASE("no [[site]]: the top level answers everything")
    {
        const Sites sites = build({});
        CHECK(sites.match("anything")->settings.root == "/srv/top");
        CHECK(sites.match("")->settings.root == "/srv/top");
        CHECK(sites.all().size() == 1);
    }
}

TEST_CASE("Sites::build: refused configurations name the place")
{
    struct Row {
        int line;
        std::vector<SiteConfig> sites;
        UnknownHost unknown;
        const char* error;
    };
    auto at = [](SiteConfig s, const char* origin, std::vector<std::string> name_origins = {}) {
        s.origin = origin;
        s.name_origins = std::move(name_origins);
        return s;
    };
    const Row rows[] = {
        {__LINE__,
         {at(site({"a.example", "b.example"}, "/a"), "f:1:1", {"f:2:10", "f:2:23"}),
          at(site({"B.example."}, "/b"), "f:4:1", {"f:5:10"})},
         UnknownHost::Default,
         "f:5:10: names: b.example is given at f:2:23 already"},
        {__LINE__, {site({"a.example", "a.example"}, "/a")}, UnknownHost::Default, "names: a.example is given twice"},
        {__LINE__,
         {site({"*.a.example"}, "/a"), at(site({"*.A.example"}, "/b"), "f:9:1")},
         UnknownHost::Default,
         "f:9:1: names: *.a.example is given twice"},
        {__LINE__, {at(site({}, "/a"), "f:3:1")}, UnknownHost::Default, "f:3:1: [[site]] without names"},
        {__LINE__,
         {at(site({"a b"}, "/a"), "f:3:1", {"f:4:12"})},
         UnknownHost::Default,
         "f:4:12: names: 'a b': ' ' is not a letter"},
        {__LINE__,
         {site({"a.example"}, "/a", true), at(site({"b.example"}, "/b", true), "f:7:1")},
         UnknownHost::Default,
         "f:7:1: default = true: the site a.example is the default already"},
        {__LINE__,
         {at(site({"a.example"}, "/a", true), "f:7:1")},
         UnknownHost::Misdirected,
         "f:7:1: default = true, but unknown-host \"421\" answers unknown hosts"},
        {__LINE__, {}, UnknownHost::Misdirected, "unknown-host \"421\" without any [[site]]"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        std::string error;
        CHECK_FALSE(Sites::build(SiteSettings{}, r.sites, r.unknown, "unknown-host", error));
        CHECK(error.starts_with(r.error));
    }
    // An exact name and a wildcard over it are no clash: the exact one wins.
    std::string error;
    CHECK(Sites::build(SiteSettings{}, {site({"*.example.com"}, "/w"), site({"www.example.com"}, "/x")},
                       UnknownHost::Default, "unknown-host", error));
}
