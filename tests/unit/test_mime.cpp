#include "http/mime.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

using namespace splicehttpd::http;

TEST_CASE("built-in MIME table")
{
    const MimeTable t;
    struct Row {
        int line;
        const char* path;
        const char* type;
    };
    const Row rows[] = {
        {__LINE__, "index.html", "text/html; charset=utf-8"},
        {__LINE__, "a/b/style.css", "text/css; charset=utf-8"},
        {__LINE__, "app.js", "text/javascript; charset=utf-8"},
        {__LINE__, "data.json", "application/json"},
        {__LINE__, "notes.txt", "text/plain; charset=utf-8"},
        {__LINE__, "img.png", "image/png"},
        {__LINE__, "photo.JPG", "image/jpeg"},
        {__LINE__, "photo.jpeg", "image/jpeg"},
        {__LINE__, "logo.svg", "image/svg+xml"},
        {__LINE__, "font.woff2", "font/woff2"},
        {__LINE__, "blob", "application/octet-stream"},
        {__LINE__, "blob.", "application/octet-stream"},
        {__LINE__, "dir.d/blob", "application/octet-stream"},
        {__LINE__, "x.unknownext", "application/octet-stream"},
        {__LINE__, ".hidden", "application/octet-stream"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        CHECK(t.content_type(r.path) == r.type);
    }
}

TEST_CASE("mime.types file adds the long tail, built-ins win")
{
    char path[] = "/tmp/mime-test-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    {
        std::ofstream f(path);
        f << "# comment\n"
          << "application/vnd.test.sheet\tods xyz\n"
          << "application/x-bogus-js\tjs\n"
          << "text/x-custom cst\n"
          << "application/empty\n";
    }
    const MimeTable t(path);
    std::remove(path);
    CHECK(t.content_type("a.ods") == "application/vnd.test.sheet");
    CHECK(t.content_type("a.XYZ") == "application/vnd.test.sheet");
    CHECK(t.content_type("a.cst") == "text/x-custom; charset=utf-8");
    CHECK(t.content_type("a.js") == "text/javascript; charset=utf-8");

    const MimeTable missing("/nonexistent/mime.types");
    CHECK(missing.content_type("a.html") == "text/html; charset=utf-8");
}

TEST_CASE("compressible types")
{
    CHECK(is_compressible("text/html; charset=utf-8"));
    CHECK(is_compressible("text/javascript; charset=utf-8"));
    CHECK(is_compressible("application/json"));
    CHECK(is_compressible("image/svg+xml"));
    CHECK_FALSE(is_compressible("image/png"));
    CHECK_FALSE(is_compressible("application/octet-stream"));
    CHECK_FALSE(is_compressible("application/gzip"));
}
