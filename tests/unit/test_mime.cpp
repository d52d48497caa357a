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
        {__LINE__, "jsonld", "application/ld+json"},
        {__LINE__, "txt", "text/plain; charset=utf-8"},
        {__LINE__, "md", "text/markdown; charset=utf-8"},
        {__LINE__, "csv", "text/csv; charset=utf-8"},
        {__LINE__, "vtt", "text/vtt; charset=utf-8"},
        {__LINE__, "xml", "application/xml"},
        {__LINE__, "yaml", "application/yaml"},
        {__LINE__, "yml", "application/yaml"},
        {__LINE__, "svg", "image/svg+xml"},
        {__LINE__, "png", "image/png"},
        {__LINE__, "apng", "image/apng"},
        {__LINE__, "jpg", "image/jpeg"},
        {__LINE__, "jpeg", "image/jpeg"},
        {__LINE__, "gif", "image/gif"},
        {__LINE__, "webp", "image/webp"},
        {__LINE__, "avif", "image/avif"},
        {__LINE__, "jxl", "image/jxl"},
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
        {__LINE__, "m4v", "video/mp4"},
        {__LINE__, "webm", "video/webm"},
        {__LINE__, "ogv", "video/ogg"},
        {__LINE__, "mov", "video/quicktime"},
        {__LINE__, "ts", "video/mp2t"},
        {__LINE__, "m4s", "video/iso.segment"},
        {__LINE__, "m3u8", "application/vnd.apple.mpegurl"},
        {__LINE__, "mpd", "application/dash+xml"},
        {__LINE__, "mp3", "audio/mpeg"},
        {__LINE__, "m4a", "audio/mp4"},
        {__LINE__, "aac", "audio/aac"},
        {__LINE__, "flac", "audio/flac"},
        {__LINE__, "ogg", "audio/ogg"},
        {__LINE__, "oga", "audio/ogg"},
        {__LINE__, "opus", "audio/ogg"},
        {__LINE__, "wav", "audio/wav"},
        {__LINE__, "glb", "model/gltf-binary"},
        {__LINE__, "gltf", "model/gltf+json"},
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

TEST_CASE("web types win over desktop ones in mime.types")
{
    char path[] = "/tmp/mime-test-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    {
        // What Debian's media-types says (issue 16: .ts was served as Qt's linguist files).
        std::ofstream f(path);
        f << "text/vnd.trolltech.linguist\tts\n"
          << "text/javascript\tes js mjs\n"
          << "application/x-yaml\tyaml yml\n"
          << "video/x-m4v\tm4v\n";
    }
    const MimeTable t(path);
    std::remove(path);
    CHECK(t.content_type("seg0.ts") == "video/mp2t");
    CHECK(t.content_type("app.yaml") == "application/yaml");
    CHECK(t.content_type("app.yml") == "application/yaml");
    CHECK(t.content_type("mod.mjs") == "text/javascript; charset=utf-8");
    CHECK(t.content_type("clip.m4v") == "video/mp4");
    CHECK(t.content_type("old.es") == "text/javascript; charset=utf-8"); // the long tail still from the file
}

TEST_CASE("--mime-types: a site's file wins over everything, or is refused whole")
{
    MimeTable t;
    std::string error;
    CHECK(t.override_with("# site types\ntext/vnd.trolltech.linguist ts\napplication/x-custom cst CST2 # trailing\n"
                          "application/only-a-type\n",
                          error));
    CHECK(t.content_type("a.ts") == "text/vnd.trolltech.linguist; charset=utf-8");
    CHECK(t.content_type("a.cst") == "application/x-custom");
    CHECK(t.content_type("a.cst2") == "application/x-custom");
    CHECK(t.content_type("a.html") == "text/html; charset=utf-8"); // the rest stays

    // nginx's file reads the same, entries spanning lines included.
    MimeTable n;
    CHECK(n.override_with("types {\n    text/html  html htm shtml;\n    application/vnd.openxmlformats-officedocument"
                          ".presentationml.presentation\n                pptx;\n    video/mp2t ts;\n}\n",
                          error));
    CHECK(n.content_type("x.shtml") == "text/html; charset=utf-8");
    CHECK(n.content_type("x.pptx") == "application/vnd.openxmlformats-officedocument.presentationml.presentation");

    struct Row {
        int line;
        const char* text;
        const char* error;
    };
    const Row rows[] = {
        {__LINE__, "text/plain txt\nnot-a-type foo\n", "line 2: 'not-a-type' is not a media type (type/subtype)"},
        {__LINE__, "text/plain t\x01xt\n", "line 1: 't\\x01xt' is not an extension"},
        {__LINE__, "text/plain a/b\n", "line 1: 'a/b' is not an extension"},
        {__LINE__, "<!DOCTYPE html>\n<html>\n", "line 1: '<!DOCTYPE' is not a media type (type/subtype)"},
        {__LINE__, "", "no 'type extension...' entry"},
        {__LINE__, "# only comments\napplication/no-extensions\n", "no 'type extension...' entry"},
        {__LINE__, "types {\n text/html html;\n", "line 2: no closing '}'"},
        {__LINE__, "types {\n text/html html\n}\n", "line 3: '}' is not an extension"},
        {__LINE__, "types {\n text/html html;\n}\n text/plain txt;\n", "line 4: 'text/plain' after the closing '}'"},
        {__LINE__, "types text/html html;\n", "line 1: expected 'types {'"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        MimeTable u;
        std::string e;
        CHECK_FALSE(u.override_with(r.text, e));
        CHECK(e == r.error);
        CHECK(u.content_type("a.txt") == "text/plain; charset=utf-8"); // unchanged
        CHECK(u.content_type("a.html") == "text/html; charset=utf-8");
    }

    MimeTable f;
    CHECK_FALSE(f.override_from("/nonexistent/site.types", error));
    CHECK(error == "/nonexistent/site.types: cannot be read");
}

TEST_CASE("compressible types")
{
    CHECK(is_compressible("text/html; charset=utf-8"));
    CHECK(is_compressible("text/javascript; charset=utf-8"));
    CHECK(is_compressible("application/json"));
    CHECK(is_compressible("image/svg+xml"));
    CHECK(is_compressible("application/yaml"));
    CHECK(is_compressible("application/vnd.apple.mpegurl"));
    CHECK_FALSE(is_compressible("video/mp2t"));
    CHECK_FALSE(is_compressible("image/png"));
    CHECK_FALSE(is_compressible("application/octet-stream"));
    CHECK_FALSE(is_compressible("application/gzip"));
}
