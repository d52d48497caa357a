#include "http/mime.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

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

TEST_CASE("every built-in type, one by one")
{
    // Written out again rather than read from mime.cpp: the table is what
    // browsers see, and a change to it should show up here.
    const MimeTable t;
    struct Row {
        int line;
        const char* ext;
        const char* type;
    };
    const Row rows[] = {
        {__LINE__, "html", "text/html; charset=utf-8"},
        {__LINE__, "htm", "text/html; charset=utf-8"},
        {__LINE__, "css", "text/css; charset=utf-8"},
        {__LINE__, "js", "text/javascript; charset=utf-8"},
        {__LINE__, "mjs", "text/javascript; charset=utf-8"},
        {__LINE__, "json", "application/json"},
        {__LINE__, "map", "application/json"},
        {__LINE__, "txt", "text/plain; charset=utf-8"},
        {__LINE__, "md", "text/markdown; charset=utf-8"},
        {__LINE__, "csv", "text/csv; charset=utf-8"},
        {__LINE__, "xml", "application/xml"},
        {__LINE__, "svg", "image/svg+xml"},
        {__LINE__, "png", "image/png"},
        {__LINE__, "jpg", "image/jpeg"},
        {__LINE__, "jpeg", "image/jpeg"},
        {__LINE__, "gif", "image/gif"},
        {__LINE__, "webp", "image/webp"},
        {__LINE__, "avif", "image/avif"},
        {__LINE__, "ico", "image/vnd.microsoft.icon"},
        {__LINE__, "bmp", "image/bmp"},
        {__LINE__, "woff", "font/woff"},
        {__LINE__, "woff2", "font/woff2"},
        {__LINE__, "ttf", "font/ttf"},
        {__LINE__, "otf", "font/otf"},
        {__LINE__, "wasm", "application/wasm"},
        {__LINE__, "pdf", "application/pdf"},
        {__LINE__, "zip", "application/zip"},
        {__LINE__, "gz", "application/gzip"},
        {__LINE__, "tar", "application/x-tar"},
        {__LINE__, "mp4", "video/mp4"},
        {__LINE__, "webm", "video/webm"},
        {__LINE__, "mp3", "audio/mpeg"},
        {__LINE__, "ogg", "audio/ogg"},
        {__LINE__, "wav", "audio/wav"},
        {__LINE__, "webmanifest", "application/manifest+json"},
        {__LINE__, "rss", "application/rss+xml"},
        {__LINE__, "atom", "application/atom+xml"},
        {__LINE__, "bin", "application/octet-stream"},
        {__LINE__, "iso", "application/octet-stream"},
        {__LINE__, "xhtml", "application/xhtml+xml"},
    };
    CHECK(t.size() == std::size(rows));
    const MimeTable system("/etc/mime.types");
    for (const Row& r : rows) {
        CAPTURE(r.line);
        CHECK(t.content_type(std::string("a.") + r.ext) == r.type);
        // the built-ins win over whatever mime.types says
        CHECK(system.content_type(std::string("dir/A.") + r.ext) == r.type);
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
          << "#text/x-commented-out\tcmt\n" // '#' is a tchar: only the comment rule drops this line
          << "# text/x-commented-out cmt2\n"
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
    CHECK(t.content_type("a.cmt") == MimeTable::kDefault);
    CHECK(t.content_type("a.cmt2") == MimeTable::kDefault);
    CHECK(t.content_type("a.comment") == MimeTable::kDefault);

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
