#include "http/mime.hpp"

#include "http/access_log.hpp"
#include "http/text.hpp"

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace splicehttpd::http {

namespace {

// The web's types, over the machine's mime.types (which maps .ts to Qt's
// linguist files and has no .yaml): what browsers, players and nginx expect.
constexpr std::pair<std::string_view, std::string_view> kBuiltin[] = {
    {"html", "text/html"},
    {"htm", "text/html"},
    {"css", "text/css"},
    {"js", "text/javascript"},
    {"mjs", "text/javascript"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"jsonld", "application/ld+json"},
    {"txt", "text/plain"},
    {"md", "text/markdown"},
    {"csv", "text/csv"},
    {"vtt", "text/vtt"},
    {"xml", "application/xml"},
    {"yaml", "application/yaml"}, // RFC 9512
    {"yml", "application/yaml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"apng", "image/apng"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"jxl", "image/jxl"},
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
    {"m4v", "video/mp4"},
    {"webm", "video/webm"},
    {"ogv", "video/ogg"},
    {"mov", "video/quicktime"},
    {"ts", "video/mp2t"}, // MPEG-TS: HLS segments
    {"m4s", "video/iso.segment"},
    {"m3u8", "application/vnd.apple.mpegurl"},
    {"mpd", "application/dash+xml"},
    {"mp3", "audio/mpeg"},
    {"m4a", "audio/mp4"},
    {"aac", "audio/aac"},
    {"flac", "audio/flac"},
    {"ogg", "audio/ogg"},
    {"oga", "audio/ogg"},
    {"opus", "audio/ogg"},
    {"wav", "audio/wav"},
    {"glb", "model/gltf-binary"},
    {"gltf", "model/gltf+json"},
    {"webmanifest", "application/manifest+json"},
    {"rss", "application/rss+xml"},
    {"atom", "application/atom+xml"},
    {"bin", "application/octet-stream"},
    {"iso", "application/octet-stream"},
    {"xhtml", "application/xhtml+xml"},
};

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

namespace {

struct Token {
    std::string text;
    std::size_t line;
};

// Words, with "#..." comments dropped and ';', '{', '}' words of their own.
std::vector<Token> tokenize(std::string_view text)
{
    std::vector<Token> out;
    std::size_t line = 1;
    bool comment = false;
    bool in_word = false;
    for (char c : text) {
        const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
        const bool punct = c == ';' || c == '{' || c == '}';
        if (c == '\n') comment = false;
        if (c == '#') comment = true;
        if (comment || space || punct) in_word = false;
        if (!comment && punct) out.push_back({std::string(1, c), line});
        if (!comment && !space && !punct) {
            if (!in_word) out.push_back({{}, line});
            out.back().text.push_back(c);
            in_word = true;
        }
        if (c == '\n') ++line;
    }
    return out;
}

} // namespace

bool MimeTable::override_with(std::string_view text, std::string& error)
{
    const std::vector<Token> tokens = tokenize(text);
    std::vector<std::pair<std::string, std::string>> entries;
    auto fail = [&](std::size_t line, const std::string& why) {
        error = "line " + std::to_string(line) + ": " + why;
        return false;
    };
    // A token in a message: its control bytes escaped, so the message stays one line.
    auto shown = [](const std::string& t) {
        std::string out = "'";
        append_log_escaped(out, t);
        return out + "'";
    };
    auto is_type = [](const std::string& t) { return is_media_type(t); };
    auto is_ext = [](const std::string& e) { return is_media_type("x/" + e); }; // a token, no '/'
    // nginx's "types { type ext...; ... }": entries end at ';' and may span lines.
    const bool nginx = !tokens.empty() && tokens[0].text == "types";
    std::size_t i = 0;
    if (nginx) {
        if (tokens.size() < 2 || tokens[1].text != "{") return fail(tokens[0].line, "expected 'types {'");
        i = 2;
    }
    while (i < tokens.size()) {
        const Token& type = tokens[i++];
        if (nginx && type.text == "}") {
            if (i != tokens.size()) return fail(tokens[i].line, shown(tokens[i].text) + " after the closing '}'");
            break;
        }
        if (!is_type(type.text)) return fail(type.line, shown(type.text) + " is not a media type (type/subtype)");
        // mime.types: the rest of the line; nginx: up to the ';'.
        for (; i < tokens.size(); ++i) {
            const Token& ext = tokens[i];
            if (nginx ? ext.text == ";" : ext.line != type.line) break;
            if (!is_ext(ext.text)) return fail(ext.line, shown(ext.text) + " is not an extension");
            entries.emplace_back(ext.text, type.text);
        }
        if (nginx) {
            if (i == tokens.size()) return fail(type.line, "no ';' after the entry for " + type.text);
            ++i;
        }
    }
    if (nginx && (tokens.empty() || tokens.back().text != "}")) return fail(tokens.back().line, "no closing '}'");
    if (entries.empty()) {
        error = "no 'type extension...' entry";
        return false;
    }
    for (const auto& [ext, type] : entries) add(ext, type);
    return true;
}

bool MimeTable::override_from(const std::string& path, std::string& error)
{
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
        error = path + ": cannot be read";
        return false;
    }
    if (!override_with(text, error)) {
        error = path + ": " + error;
        return false;
    }
    return true;
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
          "application/rss+xml", "application/atom+xml", "application/xhtml+xml", "application/javascript",
          "application/yaml", "application/ld+json", "application/vnd.apple.mpegurl", "application/dash+xml",
          "model/gltf+json"})
        if (t.starts_with(c)) return true;
    return false;
}

} // namespace splicehttpd::http
