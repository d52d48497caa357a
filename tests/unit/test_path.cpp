#include "http/path.hpp"

#include <doctest/doctest.h>

using namespace splicehttpd::http;

TEST_CASE("normalize_path resolves, decodes and refuses")
{
    struct Row {
        int line;
        const char* in;
        bool ok;
        const char* rel;
        bool directory;
        bool dotfile;
    };
    const Row rows[] = {
        {__LINE__, "/", true, "", true, false},
        {__LINE__, "/index.html", true, "index.html", false, false},
        {__LINE__, "/a/b/c.txt", true, "a/b/c.txt", false, false},
        {__LINE__, "/a/", true, "a", true, false},
        {__LINE__, "//a///b", true, "a/b", false, false},
        {__LINE__, "/a/./b", true, "a/b", false, false},
        {__LINE__, "/a/b/..", true, "a", true, false},
        {__LINE__, "/a/b/../c", true, "a/c", false, false},
        {__LINE__, "/a/.", true, "a", true, false},
        {__LINE__, "/a/%2e%2e/b", true, "b", false, false},
        {__LINE__, "/%61%62c", true, "abc", false, false},
        {__LINE__, "/sp%20ace", true, "sp ace", false, false},
        {__LINE__, "/caf%C3%A9", true, "caf\xC3\xA9", false, false},
        {__LINE__, "/a%2Fb", true, "a/b", false, false},
        {__LINE__, "/.hidden", true, ".hidden", false, true},
        {__LINE__, "/a/.git/config", true, "a/.git/config", false, true},
        {__LINE__, "/a/%2egit", true, "a/.git", false, true},
        {__LINE__, "/..a", true, "..a", false, true},
        // never above the root
        {__LINE__, "/..", false, "", false, false},
        {__LINE__, "/../x", false, "", false, false},
        {__LINE__, "/%2e%2e/x", false, "", false, false},
        {__LINE__, "/%2E%2E/x", false, "", false, false},
        {__LINE__, "/sub/../../x", false, "", false, false},
        {__LINE__, "/a/%2e%2e%2f%2e%2e/x", false, "", false, false},
        // bad escapes, NUL, invalid UTF-8
        {__LINE__, "/a%00b", false, "", false, false},
        {__LINE__, "/a%", false, "", false, false},
        {__LINE__, "/a%2", false, "", false, false},
        {__LINE__, "/a%zz", false, "", false, false},
        {__LINE__, "/a%g0", false, "", false, false},
        {__LINE__, "/a%4g", false, "", false, false},
        {__LINE__, "/a%g4", false, "", false, false},
        {__LINE__, "/%g0%90%80%80", false, "", false, false}, // would decode to valid UTF-8 as 0xF0
        {__LINE__, "/a%4", false, "", false, false},
        {__LINE__, "/a%4/b", false, "", false, false},
        {__LINE__, "/a%%41", false, "", false, false},
        {__LINE__, "/a%41", true, "aA", false, false}, // an escape that ends the path
        {__LINE__, "/%41%42", true, "AB", false, false},
        {__LINE__, "/%C0%AE%C0%AE/x", false, "", false, false}, // overlong '.'
        {__LINE__, "/%C0%AF", false, "", false, false},         // overlong '/'
        {__LINE__, "/%E0%80%AF", false, "", false, false},      // 3-byte overlong
        {__LINE__, "/%ED%A0%80", false, "", false, false},      // surrogate
        {__LINE__, "/%F4%90%80%80", false, "", false, false},   // above U+10FFFF
        {__LINE__, "/%FF", false, "", false, false},
        {__LINE__, "/%C3", false, "", false, false}, // truncated sequence
        {__LINE__, "", false, "", false, false},
        {__LINE__, "x", false, "", false, false},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        CAPTURE(r.in);
        auto out = normalize_path(r.in);
        REQUIRE(out.has_value() == r.ok);
        if (!r.ok) continue;
        CHECK(out->rel == r.rel);
        CHECK(out->directory == r.directory);
        CHECK(out->dotfile == r.dotfile);
    }
}

TEST_CASE("split_target knows the three forms")
{
    struct Row {
        int line;
        const char* in;
        bool ok;
        TargetForm form;
        const char* path;
        const char* query;
        bool has_query;
    };
    const Row rows[] = {
        {__LINE__, "/a/b", true, TargetForm::Origin, "/a/b", "", false},
        {__LINE__, "/a?x=1", true, TargetForm::Origin, "/a", "x=1", true},
        {__LINE__, "/a?", true, TargetForm::Origin, "/a", "", true},
        {__LINE__, "/a#frag", true, TargetForm::Origin, "/a", "", false},
        {__LINE__, "http://example.com/x?y", true, TargetForm::Absolute, "/x", "y", true},
        {__LINE__, "HTTP://example.com:8080/x", true, TargetForm::Absolute, "/x", "", false},
        {__LINE__, "https://h", true, TargetForm::Absolute, "/", "", false},
        {__LINE__, "http://h?q", true, TargetForm::Absolute, "/", "q", true},
        {__LINE__, "*", true, TargetForm::Asterisk, "", "", false},
        {__LINE__, "index.html", false, TargetForm::Origin, "", "", false},
        {__LINE__, "example.com:443", false, TargetForm::Origin, "", "", false},
        {__LINE__, "http:///x", false, TargetForm::Origin, "", "", false},
        {__LINE__, "", false, TargetForm::Origin, "", "", false},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        auto t = split_target(r.in);
        REQUIRE(t.has_value() == r.ok);
        if (!r.ok) continue;
        CHECK(t->form == r.form);
        CHECK(t->path == r.path);
        CHECK(t->query == r.query);
        CHECK(t->has_query == r.has_query);
    }
}

TEST_CASE("an escape cut short by the end of the path never reads past it")
{
    // The path is a view into the request; what follows it in memory (here
    // hex digits) must not complete an escape.
    struct Row {
        int line;
        std::size_t len; // of "/a%41/b"
        bool ok;
        const char* rel;
    };
    const std::string_view buffer = "/a%41/b";
    const Row rows[] = {
        {__LINE__, 2, true, "a"},  {__LINE__, 3, false, ""}, // "/a%"
        {__LINE__, 4, false, ""},                            // "/a%4"
        {__LINE__, 5, true, "aA"}, {__LINE__, 7, true, "aA/b"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        auto out = normalize_path(buffer.substr(0, r.len));
        REQUIRE(out.has_value() == r.ok);
        if (r.ok) CHECK(out->rel == r.rel);
    }
}

TEST_CASE("fetchable_name: a directory entry a request path can name")
{
    NormalizedPath path;
    std::string raw;
    std::string scratch;
    for (const char* name : {"a.txt", "caf\xc3\xa9", "%41", "%", "q?#:", "sp ace", "new\nline", "back\\slash", ".env",
                             "..x", "\xf0\x9f\x98\x80"}) {
        CAPTURE(name);
        CHECK(fetchable_name(name, path, raw, scratch));
    }
    for (const char* name : {"bad\xffutf8.txt", "\xc0\xaf", "\xc0\xae", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82",
                             "", ".", "..", "a/b"}) {
        CAPTURE(name);
        CHECK_FALSE(fetchable_name(name, path, raw, scratch));
    }
}

TEST_CASE("request_authority: an absolute-form target's authority wins over Host")
{
    using splicehttpd::http::request_authority;
    CHECK(request_authority("/a", "example.com") == "example.com");
    CHECK(request_authority("/a", "") == "");
    CHECK(request_authority("http://Other.example:8080/a?b", "example.com") == "Other.example:8080");
    CHECK(request_authority("HTTPS://other.example", "example.com") == "other.example");
    CHECK(request_authority("http://other.example?q", "") == "other.example");
    CHECK(request_authority("http:///a", "example.com") == "");
    CHECK(request_authority("*", "example.com") == "example.com");
}

TEST_CASE("valid_host_chars: a host and port, an IP literal; nothing a path or a log line could be cut with")
{
    using splicehttpd::http::valid_host_chars;
    for (const char* ok :
         {"example.com", "EXAMPLE.com:8080", "[::1]:80", "127.0.0.1", "a_b-c.example.", "xn--bcher-kva.ch", ""})
        CHECK_MESSAGE(valid_host_chars(ok), ok);
    for (const char* bad :
         {"ex ample.com", "a/b", "a\\b", "user@host", "a\tb", "a\"b", "h\xc3\xa9.example", "a?b", "a#b"})
        CHECK_MESSAGE(!valid_host_chars(bad), bad);
}
