// libFuzzer target: the mime.types reader (http::MimeTable). The input is
// the file: MimeTable only reads from a path, so it goes into a memfd that is
// opened again as /proc/self/fd/N.
//
// Invariants: the built-in table wins over the file; every other extension
// the file names maps to the type of the last line that names it (compared
// with a reference reader: a line is "type ext...", split on whitespace,
// '#' lines and lines whose type is not a media type skipped, extensions
// case-insensitive); text types get
// "; charset=utf-8"; a Content-Type never holds a control character, which
// would break the response head. The same bytes as a site's --mime-types
// file (MimeTable::override_with): refused whole, leaving the table as it
// was, with a one-line message free of control bytes.
#include "fuzz_check.hpp"

#include "http/mime.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

using namespace splicehttpd::http;

namespace {

bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::string lower(std::string_view s)
{
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = char(c + 32);
    return out;
}

// RFC 9110 §8.3.1: type "/" subtype, each a token.
bool media_type(std::string_view t)
{
    static const std::string_view tchars =
        "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const auto slash = t.find('/');
    if (slash == std::string_view::npos) return false;
    const std::string_view type = t.substr(0, slash), subtype = t.substr(slash + 1);
    return !type.empty() && !subtype.empty() && type.find_first_not_of(tchars) == std::string_view::npos &&
           subtype.find_first_not_of(tchars) == std::string_view::npos;
}

int memfd()
{
    static const int fd = memfd_create("fuzz_mime", 0);
    return fd;
}

const char* const kBuiltinExtensions[] = {"html", "css", "js", "json", "txt", "svg", "png", "wasm", "woff2", "mp4"};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const int fd = memfd();
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    FUZZ_CHECK(pwrite(fd, data, size, 0) == ssize_t(size));
    const MimeTable table("/proc/self/fd/" + std::to_string(fd));
    static const MimeTable builtin;

    FUZZ_CHECK(table.size() >= builtin.size());
    for (const char* ext : kBuiltinExtensions) {
        const std::string name = std::string("x.") + ext;
        FUZZ_CHECK(table.content_type(name) == builtin.content_type(name));
    }

    // The reference reading.
    std::map<std::string, std::string> want;
    const std::string_view file(reinterpret_cast<const char*>(data), size);
    for (std::size_t pos = 0; pos < file.size();) {
        std::size_t nl = file.find('\n', pos);
        if (nl == std::string_view::npos) nl = file.size();
        const std::string_view line = file.substr(pos, nl - pos);
        pos = nl + 1;
        if (line.empty() || line.front() == '#') continue;
        std::string type;
        for (std::size_t i = 0; i < line.size();) {
            while (i < line.size() && is_space(line[i])) ++i;
            std::size_t end = i;
            while (end < line.size() && !is_space(line[end])) ++end;
            if (end == i) break;
            const std::string_view word = line.substr(i, end - i);
            if (type.empty()) {
                type = word;
                if (!media_type(type)) break; // the reader skips such lines
            } else {
                want[lower(word)] = type;
            }
            i = end;
        }
    }

    for (const auto& [ext, type] : want) {
        const std::string name = "dir.d/file." + ext;
        const std::string_view got = table.content_type(name);
        for (char c : got) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
        // Only extensions that content_type can see: no '.' or '/' inside.
        // Built-in ones win ("bin" and "iso" are built in as the default type).
        if (ext.find_first_of("./") != std::string::npos || builtin.content_type(name) != MimeTable::kDefault ||
            ext == "bin" || ext == "iso")
            continue;
        const std::string expect = type.starts_with("text/") ? type + "; charset=utf-8" : type;
        FUZZ_CHECK(got == expect);
    }
    // The same bytes as a site's --mime-types file: taken whole or not at
    // all, and a refusal is one line.
    MimeTable site;
    std::string error;
    if (site.override_with(file, error)) {
        FUZZ_CHECK(error.empty());
    } else {
        FUZZ_CHECK(!error.empty());
        for (char c : error) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
        FUZZ_CHECK(site.size() == builtin.size());
        for (const char* ext : kBuiltinExtensions) {
            const std::string name = std::string("x.") + ext;
            FUZZ_CHECK(site.content_type(name) == builtin.content_type(name));
        }
    }
    for (const char* ext : kBuiltinExtensions)
        for (char c : site.content_type(std::string("x.") + ext)) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20);

    FUZZ_CHECK(table.content_type("noextension") == MimeTable::kDefault);
    FUZZ_CHECK(table.content_type("trailing.") == MimeTable::kDefault);
    return 0;
}
