#include "http/autoindex.hpp"

#include "http/conditional.hpp"
#include "http/date.hpp"
#include "http/file_response.hpp"
#include "http/path.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace splicehttpd::http {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD"; // U+FFFD

bool unreserved(unsigned char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

// "02-Jan-2026 15:04", UTC, as nginx's autoindex shows it.
std::string format_mtime(std::int64_t t)
{
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm{};
    const auto tt = std::time_t(t);
    if (!gmtime_r(&tt, &tm)) return "-";
    return fmt::format("{:02}-{}-{:04} {:02}:{:02}", tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
                       tm.tm_min);
}

// FNV-1a, 64 bits: the ETag names the bytes of the listing, so anything that
// changes them (a file's size, a new entry) changes it too.
std::uint64_t fnv1a(std::string_view s) noexcept
{
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ull;
    }
    return h;
}

} // namespace

std::string url_escape(std::string_view name)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(name.size());
    for (char ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        if (unreserved(c)) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
        }
    }
    return out;
}

std::string html_escape(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x80) {
            const std::size_t len = utf8_sequence(text, i);
            if (len == 0) {
                out.append(kReplacement);
                ++i;
            } else {
                out.append(text.substr(i, len));
                i += len;
            }
            continue;
        }
        switch (c) {
        case '&': out.append("&amp;"); break;
        case '<': out.append("&lt;"); break;
        case '>': out.append("&gt;"); break;
        case '"': out.append("&quot;"); break;
        case '\'': out.append("&#39;"); break;
        default:
            if (c < 0x20 || c == 0x7F)
                out.append(kReplacement);
            else
                out.push_back(char(c));
        }
        ++i;
    }
    return out;
}

Listing render_listing(std::string_view dir_path, std::vector<DirEntry> entries, const ListingOptions& options,
                       std::int64_t dir_mtime, std::size_t not_read)
{
    // Only names a request can fetch: one that is not valid UTF-8 would be
    // listed with a link that answers 400 (the path normalizer decides).
    NormalizedPath path;
    std::string raw;
    std::string scratch;
    std::size_t unnamable = 0;
    std::erase_if(entries, [&](const DirEntry& e) {
        if (e.name.empty() || e.name == "." || e.name == ".." || (!options.dotfiles && e.name.front() == '.') ||
            e.name.find('/') != std::string::npos)
            return true;
        if (fetchable_name(e.name, path, raw, scratch)) return false;
        ++unnamable;
        return true;
    });
    std::sort(entries.begin(), entries.end(), [](const DirEntry& a, const DirEntry& b) {
        if (a.is_dir != b.is_dir) return a.is_dir;
        return a.name < b.name; // std::string compares as unsigned bytes (char_traits<char>)
    });
    std::size_t left_out = not_read;
    if (entries.size() > options.max_entries) {
        left_out += entries.size() - options.max_entries;
        entries.resize(options.max_entries);
    }

    Listing listing;
    listing.last_modified = dir_mtime;
    std::string& out = listing.body;
    const std::string title = html_escape(dir_path.empty() ? "/" : fmt::format("/{}/", dir_path));
    out.reserve(512 + entries.size() * 160);
    fmt::format_to(std::back_inserter(out),
                   "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {0}</title></head>\n"
                   "<body><h1>Index of {0}</h1><hr>\n<table>\n"
                   "<tr><th>Name</th><th>Last modified</th><th>Size</th></tr>\n",
                   title);
    if (!dir_path.empty()) out.append("<tr><td><a href=\"../\">../</a></td><td></td><td>-</td></tr>\n");
    // Room kept for the end of the page and the note.
    constexpr std::size_t kTail = 256;
    const std::size_t row_limit = options.max_bytes > kTail ? options.max_bytes - kTail : 0;
    std::size_t shown = 0;
    for (const DirEntry& e : entries) {
        const std::size_t row_start = out.size();
        const std::string_view slash = e.is_dir ? "/" : "";
        fmt::format_to(std::back_inserter(out), "<tr><td><a href=\"{0}{1}\">{2}{1}</a></td><td>{3}</td><td>",
                       url_escape(e.name), slash, html_escape(e.name), format_mtime(e.mtime));
        if (e.is_dir)
            out.push_back('-');
        else
            fmt::format_to(std::back_inserter(out), "{}", e.size);
        out.append("</td></tr>\n");
        if (out.size() > row_limit) {
            out.resize(row_start); // this row and the rest are left out
            break;
        }
        listing.last_modified = std::max(listing.last_modified, e.mtime);
        ++shown;
    }
    left_out += entries.size() - shown;
    out.append("</table>\n");
    if (left_out > 0)
        fmt::format_to(std::back_inserter(out),
                       "<p>{} more {} not shown (a listing shows at most {} entries and {} KiB).</p>\n", left_out,
                       left_out == 1 ? "entry" : "entries", options.max_entries, options.max_bytes / 1024);
    if (unnamable > 0)
        fmt::format_to(std::back_inserter(out), "<p>{} {} not shown: not valid UTF-8, so no URL can name {}.</p>\n",
                       unnamable, unnamable == 1 ? "entry" : "entries", unnamable == 1 ? "it" : "them");
    out.append("<hr></body></html>\n");
    listing.etag = fmt::format("\"{:016x}\"", fnv1a(out));
    return listing;
}

void plan_listing(ResponsePlan& plan, const Request& req, const Listing& listing, const ResponseContext& ctx)
{
    const std::string last_modified = format_http_date(std::time_t(listing.last_modified));
    const Validators validators{listing.etag, std::time_t(listing.last_modified)};
    switch (evaluate_preconditions(preconditions_of(req), validators, true)) {
    case Precondition::Failed: return plan_status(plan, 412, ctx);
    case Precondition::NotModified: {
        HeadWriter head(plan, 304, ctx);
        head.add("Last-Modified", last_modified);
        head.add("ETag", listing.etag);
        head.end();
        return;
    }
    case Precondition::Proceed: break;
    }
    HeadWriter head(plan, 200, ctx);
    head.add("Content-Type", "text/html; charset=utf-8");
    head.add("Content-Length", std::uint64_t(listing.body.size()));
    head.add("Last-Modified", last_modified);
    head.add("ETag", listing.etag);
    head.end();
    if (!ctx.head_request && !listing.body.empty()) plan.append_file(0, listing.body.size());
}

} // namespace splicehttpd::http
