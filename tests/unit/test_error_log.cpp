#include "server/error_log.hpp"

#include <doctest/doctest.h>

#include <cerrno>

using namespace splicehttpd::server;

namespace {
constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kS = 1000 * kMs;
} // namespace

TEST_CASE("error log lines, worded as nginx's, at a level per kind")
{
    struct Row {
        int line;
        ErrorEntry entry;
        LogLevel level;
        const char* reason;
        const char* message;
    };
    const Row rows[] = {
        {__LINE__, open_failed("/srv/www/secret", EACCES), LogLevel::Error, "denied",
         "open() \"/srv/www/secret\" failed (13: Permission denied)"},
        {__LINE__, open_failed("/srv/www/gone", ENOENT), LogLevel::Info, "not-found",
         "open() \"/srv/www/gone\" failed (2: No such file or directory)"},
        {__LINE__, open_failed("/srv/www/a.txt/b", ENOTDIR), LogLevel::Info, "not-found",
         "open() \"/srv/www/a.txt/b\" failed (20: Not a directory)"},
        {__LINE__, open_failed("/srv/www/loop", ELOOP), LogLevel::Error, "open-failed",
         "open() \"/srv/www/loop\" failed (40: Too many levels of symbolic links)"},
        {__LINE__, open_failed("/srv/www/out", EXDEV, "/srv/www"), LogLevel::Error, "outside-root",
         "\"/srv/www/out\" leads outside the root /srv/www (a symlink)"},
        {__LINE__, open_failed("/srv/www/out", EXDEV), LogLevel::Error, "outside-root",
         "open() \"/srv/www/out\" failed (18: Invalid cross-device link)"},
        {__LINE__, open_failed("/srv/www/x", EMFILE), LogLevel::Error, "resources",
         "open() \"/srv/www/x\" failed (24: Too many open files)"},
        {__LINE__, open_failed("/srv/www/x", EIO), LogLevel::Error, "open-failed",
         "open() \"/srv/www/x\" failed (5: Input/output error)"},
        {__LINE__, not_regular("/srv/list/fifo"), LogLevel::Error, "not-regular",
         "\"/srv/list/fifo\" is not a regular file"},
        {__LINE__, bad_request("two Host headers"), LogLevel::Info, "bad-request",
         "client sent a bad request: two Host headers"},
        {__LINE__, plain_http_request(), LogLevel::Info, "plain-http", "client sent plain HTTP request to HTTPS port"},
        {__LINE__, client_timed_out(), LogLevel::Info, "timed-out",
         "client timed out (110: Connection timed out) while reading client request headers"},
        // nginx's wording for the directory it could not read, an error
        // whatever the errno (a 404 for a directory that went meanwhile).
        {__LINE__, opendir_failed("/srv/www/x", EACCES), LogLevel::Error, "opendir-failed",
         "opendir() \"/srv/www/x\" failed (13: Permission denied)"},
        {__LINE__, opendir_failed("/srv/www/gone", ENOENT), LogLevel::Error, "opendir-failed",
         "opendir() \"/srv/www/gone\" failed (2: No such file or directory)"},
        {__LINE__, opendir_failed("/srv/www/a\"b", EIO), LogLevel::Error, "opendir-failed",
         "opendir() \"/srv/www/a\\x22b\" failed (5: Input/output error)"},
        // A path comes from the client: escaped as in the access log, so no
        // quote ends the field and no newline starts a forged line.
        {__LINE__, open_failed("/srv/www/a\"b\nc", EACCES), LogLevel::Error, "denied",
         "open() \"/srv/www/a\\x22b\\x0Ac\" failed (13: Permission denied)"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        CHECK(r.entry.level == r.level);
        CHECK(r.entry.reason == r.reason);
        CHECK(r.entry.message == r.message);
    }
}

TEST_CASE("open_failed_kind: the level and key of open_failed's line, known before formatting it")
{
    for (const int err : {EACCES, EPERM, ENOENT, ENOTDIR, ENAMETOOLONG, ELOOP, EXDEV, EMFILE, ENFILE, ENOMEM, EIO}) {
        CAPTURE(err);
        for (const char* root : {"", "/srv/www"}) {
            const ErrorEntry e = open_failed("/srv/www/x", err, root);
            const ErrorKind k = open_failed_kind(err, *root != 0);
            CHECK(k.level == e.level);
            CHECK(k.reason == e.reason);
        }
    }
    CHECK(open_failed_kind(ENOENT, true) == ErrorKind{LogLevel::Info, "not-found"});
    CHECK(open_failed_kind(EACCES, true) == ErrorKind{LogLevel::Error, "denied"});
    CHECK(not_regular("/x").reason == kNotRegular.reason);
    CHECK(outside_root("/x", "/").reason == kOutsideRoot.reason);
    CHECK(bad_request("x").level == kBadRequest.level);
    CHECK(client_timed_out().reason == kTimedOut.reason);
    CHECK(opendir_failed("/x", EACCES).reason == kOpendirFailed.reason);
    CHECK(plain_http_request().reason == kPlainHttp.reason);
    const ErrorEntry d = directory_forbidden("/srv/www/dir/");
    CHECK(d.level == kDirectoryForbidden.level);
    CHECK(d.reason == kDirectoryForbidden.reason);
    CHECK(d.message == "directory index of \"/srv/www/dir/\" is forbidden");
}

TEST_CASE("root_path: the root as given and the path below it, one slash between")
{
    CHECK(root_path("/srv/www", "a/b") == "/srv/www/a/b");
    CHECK(root_path("/srv/www/", "a") == "/srv/www/a");
    CHECK(root_path("/srv/www//", "a") == "/srv/www/a");
    CHECK(root_path("/srv/www", ".") == "/srv/www/");
    CHECK(root_path("/srv/www", "") == "/srv/www/");
    CHECK(root_path("./htdocs", "x") == "./htdocs/x");
    CHECK(root_path("/", "x") == "/x");
    CHECK(root_path("/", ".") == "/");
}

TEST_CASE("error_line: the request's context, escaped, empty fields left out")
{
    const ErrorEntry e = open_failed("/srv/www/secret", EACCES);
    CHECK(error_line(e, {"192.0.2.1", "example.com", "GET /secret HTTP/1.1", "example.com"}) ==
          "open() \"/srv/www/secret\" failed (13: Permission denied), client: 192.0.2.1, server: example.com, "
          "request: \"GET /secret HTTP/1.1\", host: \"example.com\"");
    CHECK(error_line(bad_request("no Host"), {"unix:", "", "", ""}) ==
          "client sent a bad request: no Host, client: unix:");
    CHECK(error_line(e, {"::1", "", "GET /\"x HTTP/1.1", "evil\"\r\nhost"}) ==
          "open() \"/srv/www/secret\" failed (13: Permission denied), client: ::1, request: \"GET /\\x22x "
          "HTTP/1.1\", host: \"evil\\x22\\x0D\\x0Ahost\"");
}

TEST_CASE("LogLimiter: a burst, then N a second, per key; the count of what was left out")
{
    LogLimiter limiter(10, 3); // 10 a second, bursts of 3
    std::uint64_t t = 5 * kS;
    // A fresh key: its burst.
    for (int i = 0; i < 3; ++i) CHECK(limiter.admit("denied", t).log);
    // Then nothing in the same instant...
    for (int i = 0; i < 5; ++i) CHECK_FALSE(limiter.admit("denied", t).log);
    // ...while another key has its own bucket.
    CHECK(limiter.admit("not-found", t).log);
    // 99 ms later still none (one line's worth is 100 ms).
    CHECK_FALSE(limiter.admit("denied", t + 99 * kMs).log);
    // At 100 ms one, carrying the 6 left out.
    auto v = limiter.admit("denied", t + 100 * kMs);
    CHECK(v.log);
    CHECK(v.suppressed == 6);
    CHECK_FALSE(limiter.admit("denied", t + 100 * kMs).log);
    // A steady flood gets 10 a second, whatever its rate.
    t += 200 * kMs;
    int logged = 0;
    std::uint64_t reported = 0;
    for (int i = 0; i < 10'000; ++i) { // 10,000 lines over one second
        v = limiter.admit("denied", t + std::uint64_t(i) * 100'000);
        logged += v.log;
        reported += v.suppressed;
    }
    CHECK(logged == 10);
    // Every line is either logged or counted, once: 10,000 here and the 1
    // left out at 100 ms.
    CHECK(logged + reported + limiter.take_suppressed()[0].count == 10'000 + 1);
}

TEST_CASE("LogLimiter: quiet keys hand over their counts once; a long pause banks one burst")
{
    LogLimiter limiter(1, 2);
    const std::uint64_t t = 100 * kS;
    CHECK(limiter.admit("a", t).log);
    CHECK(limiter.admit("a", t).log);
    CHECK_FALSE(limiter.admit("a", t).log);
    CHECK_FALSE(limiter.admit("a", t).log);
    CHECK(limiter.admit("b", t).log);
    auto quiet = limiter.take_suppressed();
    REQUIRE(quiet.size() == 1);
    CHECK(quiet[0].key == "a");
    CHECK(quiet[0].count == 2);
    CHECK(limiter.take_suppressed().empty()); // handed over once
    // An hour of silence is worth a burst (2), not 3600 lines.
    const std::uint64_t later = t + 3600 * kS;
    CHECK(limiter.admit("a", later).log);
    CHECK(limiter.admit("a", later).log);
    CHECK_FALSE(limiter.admit("a", later).log);
    // A clock that goes back never mints lines.
    CHECK_FALSE(limiter.admit("a", later - 10 * kS).log);
}

TEST_CASE("LogLimiter: bounded keys; past them, one shared bucket")
{
    LogLimiter limiter(1, 1, 2);
    const std::uint64_t t = kS;
    CHECK(limiter.admit("k1", t).log);
    CHECK(limiter.admit("k2", t).log);
    CHECK(limiter.admit("k3", t).log); // the shared bucket's burst
    CHECK_FALSE(limiter.admit("k4", t).log);
    CHECK_FALSE(limiter.admit("k5", t).log);
    CHECK(limiter.keys() == 2);
    const auto quiet = limiter.take_suppressed();
    REQUIRE(quiet.size() == 1);
    CHECK(quiet[0].key == "other");
    CHECK(quiet[0].count == 2);
    CHECK(suppressed_line("other", 2) == "2 \"other\" lines suppressed (error log rate limit)");
    CHECK(suppressed_line("denied", 1) == "1 \"denied\" line suppressed (error log rate limit)");
}
