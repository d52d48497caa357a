#include "http/mime.hpp"

#include "http/text.hpp"

#include <array>
#include <fstream>
#include <sstream>
#include <utility>

namespace splicehttpd::http {

namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 40> kBuiltin = {{
    {"html", "text/html"},
    {"htm", "text/html"},
    {"css", "text/css"},
    {"js", "text/javascript"},
    {"mjs", "text/javascript"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain"},
    {"md", "text/markdown"},
    {"csv", "text/csv"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/vnd.microsoft.icon"},
    {"bmp", "image/bmp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"webmanifest", "application/manifest+json"},
    {"rss", "application/rss+xml"},
    {"atom", "application/atom+xml"},
    {"bin", "application/octet-stream"},
    {"iso", "application/octet-stream"},
    {"xhtml", "application/xhtml+xml"},
}};

// type "/" subtype, both tokens (RFC 9110 §8.3.1): anything else, a control
// byte above all, must not reach a Content-Type header.
bool is_media_type(std::string_view t)
{
    auto tchar = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    };
    std::size_t slash = t.find('/');
    if (slash == 0 || slash == std::string_view::npos || slash + 1 == t.size()) return false;
    for (std::size_t i = 0; i < t.size(); ++i)
        if (i != slash && !tchar(t[i])) return false;
    return true;
}

} // namespace

MimeTable::MimeTable()
{
    add_builtin();
}

MimeTable::MimeTable(const std::string& mime_types_path)
{
    std::ifstream in(mime_types_path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line.front() == '#') continue;
        std::istringstream fields(line);
        std::string type, ext;
        if (!(fields >> type) || !is_media_type(type)) continue;
        while (fields >> ext) add(ext, type);
    }
    add_builtin();
}

void MimeTable::add_builtin()
{
    for (auto [ext, type] : kBuiltin) add(ext, type);
}

void MimeTable::add(std::string_view ext, std::string_view type)
{
    std::string value(type);
    if (type.starts_with("text/")) value += "; charset=utf-8";
    types_.insert_or_assign(ascii_lower(ext), std::move(value));
}

std::string_view MimeTable::content_type(std::string_view path) const
{
    std::size_t slash = path.rfind('/');
    std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    std::size_t dot = name.rfind('.');
    if (dot == std::string_view::npos || dot + 1 == name.size()) return kDefault;
    auto it = types_.find(ascii_lower(name.substr(dot + 1)));
    return it == types_.end() ? kDefault : std::string_view(it->second);
}

bool is_compressible(std::string_view t)
{
    if (t.starts_with("text/")) return true;
    for (std::string_view c :
         {"application/json", "application/xml", "image/svg+xml", "application/wasm", "application/manifest+json",
          "application/rss+xml", "application/atom+xml", "application/xhtml+xml", "application/javascript"})
        if (t.starts_with(c)) return true;
    return false;
}

} // namespace splicehttpd::http
