#include "http/route.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace splicehttpd::http;

namespace {

Request req(Method method, std::string target, int minor = 1, unsigned hosts = 1)
{
    Request r;
    r.method = method;
    r.target = std::move(target);
    r.http_minor = std::uint8_t(minor);
    r.host_count = hosts;
    return r;
}

} // namespace

TEST_CASE("route: a status at once, or a lookup")
{
    struct Row {
        int line;
        Request request;
        SitePolicy site;
        int status;      // 0: a lookup
        const char* rel; // lookup only
        bool directory;
        const char* allow;
    };
    const SitePolicy dflt;
    const SitePolicy dotfiles{.dotfiles = true};
    const Row rows[] = {
        {__LINE__, req(Method::Get, "/"), dflt, 0, "", true, ""},
        {__LINE__, req(Method::Get, "/a/b.txt"), dflt, 0, "a/b.txt", false, ""},
        {__LINE__, req(Method::Head, "/a/"), dflt, 0, "a", true, ""},
        {__LINE__, req(Method::Get, "http://example.com/x?q"), dflt, 0, "x", false, ""},
        {__LINE__, req(Method::Get, "/a/../b"), dflt, 0, "b", false, ""},
        // Host: exactly one on 1.1, at most one on 1.0
        {__LINE__, req(Method::Get, "/", 1, 0), dflt, 400, "", false, ""},
        {__LINE__, req(Method::Get, "/", 1, 2), dflt, 400, "", false, ""},
        {__LINE__, req(Method::Get, "/", 0, 0), dflt, 0, "", true, ""},
        {__LINE__, req(Method::Get, "/", 0, 2), dflt, 400, "", false, ""},
        // methods
        {__LINE__, req(Method::Post, "/"), dflt, 405, "", false, "GET, HEAD"},
        {__LINE__, req(Method::Put, "/"), dflt, 405, "", false, "GET, HEAD"},
        {__LINE__, req(Method::Delete, "/"), dflt, 405, "", false, "GET, HEAD"},
        {__LINE__, req(Method::Patch, "/"), dflt, 405, "", false, "GET, HEAD"},
        {__LINE__, req(Method::Trace, "/"), dflt, 405, "", false, "GET, HEAD"},
        {__LINE__, req(Method::Connect, "h:443"), dflt, 405, "", false, "GET, HEAD"},
        {__LINE__, req(Method::Options, "*"), dflt, 204, "", false, "GET, HEAD"},
        {__LINE__, req(Method::Options, "/x"), dflt, 405, "", false, "GET, HEAD"},
        {__LINE__, req(Method::Other, "/"), dflt, 501, "", false, ""},
        {__LINE__, req(Method::Other, "/"), dflt, 501, "", false, ""},
        // targets and paths
        {__LINE__, req(Method::Get, "*"), dflt, 400, "", false, ""},
        {__LINE__, req(Method::Get, "x.html"), dflt, 400, "", false, ""},
        {__LINE__, req(Method::Get, "/../x"), dflt, 400, "", false, ""},
        {__LINE__, req(Method::Get, "/a%00b"), dflt, 400, "", false, ""},
        {__LINE__, req(Method::Get, "/a%4"), dflt, 400, "", false, ""},
        // dotfiles
        {__LINE__, req(Method::Get, "/.git/config"), dflt, 404, "", false, ""},
        {__LINE__, req(Method::Get, "/a/%2eenv"), dflt, 404, "", false, ""},
        {__LINE__, req(Method::Get, "/.well-known/x"), dotfiles, 0, ".well-known/x", false, ""},
        // RFC 8615's /.well-known/ is no hidden file; a dot segment within it is
        {__LINE__, req(Method::Get, "/.well-known/acme-challenge/tok"), dflt, 0, ".well-known/acme-challenge/tok",
         false, ""},
        {__LINE__, req(Method::Get, "/.well-known/"), dflt, 0, ".well-known", true, ""},
        {__LINE__, req(Method::Get, "/.well-known/.git/x"), dflt, 404, "", false, ""},
        {__LINE__, req(Method::Get, "/a/.well-known/x"), dflt, 404, "", false, ""},
        {__LINE__, req(Method::Get, "/.well-knownx"), dflt, 404, "", false, ""},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        const Route out = route(r.request, r.site);
        if (r.status == 0) {
            REQUIRE(out.kind == Route::Kind::Lookup);
            CHECK(out.rel_path == r.rel);
            CHECK(out.directory == r.directory);
        } else {
            REQUIRE(out.kind == Route::Kind::Respond);
            CHECK(out.status == r.status);
            CHECK(out.extras.allow == r.allow);
        }
    }
}

TEST_CASE("route: the response context")
{
    Request r = req(Method::Head, "/");
    Route out = route(r, {});
    CHECK(out.context.head_request);
    CHECK(out.context.keep_alive);
    CHECK_FALSE(out.context.http10);

    r.keep_alive = false;
    CHECK_FALSE(route(r, {}).context.keep_alive);

    r = req(Method::Get, "/", 0, 0);
    out = route(r, {.stopping = true});
    CHECK(out.context.http10);
    CHECK_FALSE(out.context.keep_alive); // stopping: every response closes

    r = req(Method::Connect, "h:443");
    CHECK_FALSE(route(r, {}).context.keep_alive); // CONNECT always closes
}

TEST_CASE("route: Location for a directory named without its slash keeps the query")
{
    Route out = route(req(Method::Get, "/docs?x=1&y"), {});
    REQUIRE(out.kind == Route::Kind::Lookup);
    CHECK(out.slash_location() == "/docs/?x=1&y");
    CHECK(route(req(Method::Get, "/a%20b"), {}).slash_location() == "/a%20b/");
    CHECK(route(req(Method::Get, "/a?"), {}).slash_location() == "/a/?");
}

TEST_CASE("route: the slash Location comes from the normalised path, never the raw target")
{
    struct Row {
        int line;
        const char* target;
        const char* location;
    };
    const Row rows[] = {
        // The open redirects of issue 16: a protocol-relative "//host" and
        // "/\host" (browsers read a backslash as '/') must not survive.
        {__LINE__, "//evil.example/..%2Fsub", "/sub/"},
        {__LINE__, "/\\evil.example/../sub", "/sub/"},
        {__LINE__, "/%5Cevil.example/../sub", "/sub/"},
        {__LINE__, "/%2F%2Fevil.example/%2E%2E/sub", "/sub/"},
        {__LINE__, "///evil.example", "/evil.example/"},
        {__LINE__, "//evil.example", "/evil.example/"},
        {__LINE__, "/./evil.example", "/evil.example/"},
        {__LINE__, "/\\evil.example", "/%5Cevil.example/"},
        {__LINE__, "/%5C%5Cevil.example", "/%5C%5Cevil.example/"},
        {__LINE__, "http://h//evil.example/../x", "/x/"},
        {__LINE__, "/a//b/./c", "/a/b/c/"},
        // Decoded bytes that mean something in a URL or a header come back escaped.
        {__LINE__, "/a%3Fb", "/a%3Fb/"},
        {__LINE__, "/a%23b", "/a%23b/"},
        {__LINE__, "/a%25b", "/a%25b/"},
        {__LINE__, "/a%0D%0ALocation:%20x", "/a%0D%0ALocation:%20x/"},
        {__LINE__, "/a%09b%7F", "/a%09b%7F/"},
        {__LINE__, "/caf%C3%A9", "/caf%C3%A9/"},
        {__LINE__, "/a%22%3C%3E", "/a%22%3C%3E/"},
        {__LINE__, "/sub-delims!$&'()*+,;=:@~", "/sub-delims!$&'()*+,;=:@~/"},
        // The query is kept; only bytes a query may not hold are escaped.
        {__LINE__, "//evil.example/..%2Fsub?next=//x&a=%2F", "/sub/?next=//x&a=%2F"},
        {__LINE__, "/sub?a\\b c", "/sub/?a%5Cb%20c"},
        {__LINE__, "/sub?a?b", "/sub/?a?b"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        const Route out = route(req(Method::Get, r.target), {});
        REQUIRE(out.kind == Route::Kind::Lookup);
        CHECK(out.slash_location() == r.location);
    }
}

TEST_CASE("route: acceptable codings only when precompressed variants are on")
{
    Request r = req(Method::Get, "/app.js");
    r.accept_encoding = "gzip, br;q=0.5";
    Route on = route(r, {});
    CHECK(on.accepts_br);
    CHECK(on.accepts_gzip);
    Route off = route(r, {.precompressed = false});
    CHECK_FALSE(off.accepts_br);
    CHECK_FALSE(off.accepts_gzip);
    r.accept_encoding = "br;q=0";
    CHECK_FALSE(route(r, {}).accepts_br);
}

TEST_CASE("route: the --https-redirect Location keeps path and query, checks the Host, names the port")
{
    const Route dir = route(req(Method::Get, "/docs/a%20b/?x=1&y"), {});
    CHECK(dir.https_location("example.com", 443) == "https://example.com/docs/a%20b/?x=1&y");
    CHECK(dir.https_location("example.com:8080", 8443) == "https://example.com:8443/docs/a%20b/?x=1&y");
    CHECK(dir.https_location("[::1]:8080", 8443) == "https://[::1]:8443/docs/a%20b/?x=1&y");
    const Route file = route(req(Method::Get, "//x/../f.html"), {});
    CHECK(file.https_location("127.0.0.1", 443) == "https://127.0.0.1/f.html");
    CHECK(route(req(Method::Get, "/"), {}).https_location("h", 443) == "https://h/");
    // What could turn the Location into another URL or a second header
    for (const char* bad : {"", "evil.example/x", "a@b", "a b", "h:80x", "[::1", "[x]", "h\\x", "h?", "h#", ":80"}) {
        CAPTURE(bad);
        CHECK_FALSE(file.https_location(bad, 443).has_value());
    }
    CHECK(file.acme_challenge() == false);
    CHECK(route(req(Method::Get, "/.well-known/acme-challenge/t"), {}).acme_challenge());
}

TEST_CASE("fallback_applies: app routes, not missing assets, and only beneath the prefixes")
{
    struct Row {
        int line;
        const char* target;
        std::vector<std::string> prefixes;
        bool applies;
    };
    const Row rows[] = {
        {__LINE__, "/deep/route", {}, true},
        {__LINE__, "/users/42", {}, true},
        {__LINE__, "/deep/route/", {}, true},
        {__LINE__, "/", {}, true},
        // A last segment with an extension is a missing file: 404 (issue 16 item 6).
        {__LINE__, "/assets/missing.js", {}, false},
        {__LINE__, "/missing.png", {}, false},
        {__LINE__, "/app.v2.css", {}, false},
        {__LINE__, "/trailing.", {}, false},
        {__LINE__, "/v1.2/route", {}, true},  // only the last segment counts
        {__LINE__, "/assets.d/", {}, true},   // a directory has no extension
        {__LINE__, "/.well-known", {}, true}, // a leading dot is not an extension
        // --fallback-prefix: only beneath it (as nginx's location /app/ { try_files ... }).
        {__LINE__, "/app/users/42", {"/app/"}, true},
        {__LINE__, "/app/", {"/app/"}, true},
        {__LINE__, "/app", {"/app/"}, false},
        {__LINE__, "/other/route", {"/app/"}, false},
        {__LINE__, "/", {"/app/"}, false},
        {__LINE__, "/app/x.js", {"/app/"}, false},
        {__LINE__, "/admin/x", {"/app/", "/admin/"}, true},
        {__LINE__, "/apple", {"/app"}, true}, // a string prefix, as --expires /prefix/ matches
        {__LINE__, "/x", {"/"}, true},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        const Route out = route(req(Method::Get, r.target), {.dotfiles = true});
        REQUIRE(out.kind == Route::Kind::Lookup);
        CHECK(fallback_applies(out.rel_path, out.directory, r.prefixes) == r.applies);
    }
}

TEST_CASE("route: each 400 says what was wrong, for the error log")
{
    const SitePolicy dflt;
    struct Row {
        int line;
        Request request;
        const char* problem;
    };
    const Row rows[] = {
        {__LINE__, req(Method::Get, "/", 1, 2), "more than one Host header"},
        {__LINE__, req(Method::Get, "/", 1, 0), "no Host header in an HTTP/1.1 request"},
        {__LINE__, req(Method::Get, "*"), "\"*\" as the target of a GET or HEAD"},
        {__LINE__, req(Method::Get, "x.html"), "invalid request target"},
        {__LINE__, req(Method::Get, "/a%00b"), "invalid path in the request target"},
    };
    Route r;
    for (const Row& row : rows) {
        CAPTURE(row.line);
        route(row.request, dflt, r);
        CHECK(r.status == 400);
        CHECK(r.problem == row.problem);
    }
    route(req(Method::Get, "/x"), dflt, r); // reused: the last problem is gone
    CHECK(r.kind == Route::Kind::Lookup);
    CHECK(r.problem.empty());
    route(req(Method::Post, "/x"), dflt, r);
    CHECK(r.status == 405);
    CHECK(r.problem.empty());
}
