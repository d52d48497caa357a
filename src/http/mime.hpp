// Extension -> Content-Type. /etc/mime.types (Debian's media-types) supplies
// the long tail; the built-in table pins the types browsers care about so
// they do not change with the machine's media-types version (and wins over
// it: .ts is video/mp2t, not Qt's linguist files); a site's --mime-types file
// wins over both.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

namespace splicehttpd::http {

class MimeTable {
public:
    // Built-in table only.
    MimeTable();
    // Built-in table over the entries of a mime.types file (a missing file is
    // not an error: the built-in table is the fallback).
    explicit MimeTable(const std::string& mime_types_path);

    // A site's own mime.types (--mime-types): its entries win over both.
    // "type ext..." lines as in /etc/mime.types ('#' comments; nginx's
    // "types { type ext...; }" file reads the same). false, with `error`
    // naming the file (and line), when it cannot be read, a type is not
    // type/subtype, an extension holds '/' or a control byte, or no line maps
    // an extension; the table is then unchanged.
    bool override_from(const std::string& path, std::string& error);
    // The same from the file's text; `error` names the line only.
    bool override_with(std::string_view text, std::string& error);

    // Full Content-Type value for a path, "; charset=utf-8" included for text.
    [[nodiscard]] std::string_view content_type(std::string_view path) const;

    [[nodiscard]] std::size_t size() const noexcept { return types_.size(); }

    static constexpr std::string_view kDefault = "application/octet-stream";

private:
    void add(std::string_view ext, std::string_view type);
    void add_builtin();

    std::unordered_map<std::string, std::string> types_;
};

// Worth looking for a .br/.gz sibling of.
bool is_compressible(std::string_view content_type);

} // namespace splicehttpd::http
