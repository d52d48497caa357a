#include "http/autoindex.hpp"

#include "fixtures.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace splicehttpd::http;

namespace {

using splicehttpd::test::kCtx;

DirEntry file(std::string name, std::uint64_t size = 1, std::int64_t mtime = 1700000000)
{
    return {std::move(name), false, size, mtime};
}

DirEntry dir(std::string name, std::int64_t mtime = 1700000000)
{
    return {std::move(name), true, 4096, mtime};
}

bool contains(const std::string& s, std::string_view part)
{
    return s.find(part) != std::string::npos;
}

// The hrefs of the rows, in order (the parent link included).
std::vector<std::string> hrefs(const std::string& body)
{
    std::vector<std::string> out;
    std::size_t at = 0;
    while ((at = body.find("<a href=\"", at)) != std::string::npos) {
        at += 9;
        out.push_back(body.substr(at, body.find('"', at) - at));
    }
    return out;
}

} // namespace

TEST_CASE("url_escape: only unreserved characters stay")
{
    CHECK(url_escape("plain-name_1.2~x") == "plain-name_1.2~x");
    CHECK(url_escape("a\"b") == "a%22b");
    CHECK(url_escape("<script>") == "%3Cscript%3E");
    CHECK(url_escape("x&y") == "x%26y");
    CHECK(url_escape("%41") == "%2541");
    CHECK(url_escape("sp ace") == "sp%20ace");
    CHECK(url_escape("q?#:") == "q%3F%23%3A"); // ':' could read as a scheme
    CHECK(url_escape("new\nline") == "new%0Aline");
    CHECK(url_escape("\xff\xfe") == "%FF%FE");
    CHECK(url_escape("caf\xc3\xa9") == "caf%C3%A9");
    CHECK(url_escape("'") == "%27");
}

TEST_CASE("html_escape: entities, and valid UTF-8 out whatever comes in")
{
    CHECK(html_escape("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;");
    CHECK(html_escape("a\"b'c&d") == "a&quot;b&#39;c&amp;d");
    CHECK(html_escape("new\nline\t\x7f") == "new\xEF\xBF\xBDline\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(html_escape("caf\xc3\xa9") == "caf\xc3\xa9");                           // valid UTF-8 stays
    CHECK(html_escape("\xff") == "\xEF\xBF\xBD");                                 // a stray byte
    CHECK(html_escape("\xc0\xaf") == "\xEF\xBF\xBD\xEF\xBF\xBD");                 // overlong '/'
    CHECK(html_escape("\xed\xa0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); // a surrogate
    CHECK(html_escape("\xe2\x82") == "\xEF\xBF\xBD\xEF\xBF\xBD");                 // cut short
}

TEST_CASE("render_listing: hostile names are escaped in the text and encoded in the href")
{
    const std::vector<DirEntry> entries = {file("<script>"), file("a\"b"),      file("x&y"),  file("%41"),
                                           file("sp ace"),   file("new\nline"), file("q?#:"), dir("d<ir")};
    const Listing l = render_listing("sub", entries, {}, 0);
    // (a space is fine in HTML text; the href has it encoded, checked below)
    for (const std::string raw : {"<script>", "a\"b", "x&y", "href=\"sp ace", "new\nline", "\xff", "d<ir"})
        CHECK_MESSAGE(!contains(l.body, raw), raw);
    CHECK(contains(l.body, "<a href=\"%3Cscript%3E\">&lt;script&gt;</a>"));
    CHECK(contains(l.body, "<a href=\"a%22b\">a&quot;b</a>"));
    CHECK(contains(l.body, "<a href=\"x%26y\">x&amp;y</a>"));
    CHECK(contains(l.body, "<a href=\"%2541\">%41</a>"));
    CHECK(contains(l.body, "<a href=\"sp%20ace\">sp ace</a>"));
    CHECK(contains(l.body, "<a href=\"new%0Aline\">new\xEF\xBF\xBDline</a>"));
    CHECK(contains(l.body, "<a href=\"q%3F%23%3A\">q?#:</a>"));
    CHECK(contains(l.body, "<a href=\"d%3Cir/\">d&lt;ir/</a>"));
}

TEST_CASE("render_listing: only names a request can fetch are listed")
{
    // Not valid UTF-8: a link to it would answer 400 (issue 16 item 8).
    const std::vector<DirEntry> entries = {file("bad\xffutf8.txt"), file("\xc0\xaf"), file("\xed\xa0\x80"),
                                           file("caf\xc3\xa9"),     file("ok.txt"),   dir("bad\xfe")};
    const Listing l = render_listing("sub", entries, {}, 0);
    CHECK(hrefs(l.body) == std::vector<std::string>{"../", "caf%C3%A9", "ok.txt"});
    CHECK(contains(l.body, "<p>4 entries not shown: not valid UTF-8, so no URL can name them.</p>"));
    CHECK(contains(render_listing("", {file("x\xff")}, {}, 0).body,
                   "<p>1 entry not shown: not valid UTF-8, so no URL can name it.</p>"));
    CHECK_FALSE(contains(render_listing("", {file("ok")}, {}, 0).body, "not shown"));
}

TEST_CASE("render_listing: the title is escaped too")
{
    const Listing l = render_listing("a&b/<c>", {}, {}, 0);
    CHECK(contains(l.body, "<title>Index of /a&amp;b/&lt;c&gt;/</title>"));
    CHECK(contains(l.body, "<h1>Index of /a&amp;b/&lt;c&gt;/</h1>"));
    CHECK_FALSE(contains(l.body, "<c>"));
}

TEST_CASE("render_listing: directories first, then byte order; sizes and dates")
{
    const std::vector<DirEntry> entries = {file("b", 10), dir("zdir"),         file("B", 20),       file("a", 0, 0),
                                           dir("Adir"),   file("\xc3\xa9", 5), file("a.txt", 12345)};
    const Listing l = render_listing("x", entries, {}, 0);
    CHECK(hrefs(l.body) == std::vector<std::string>{"../", "Adir/", "zdir/", "B", "a", "a.txt", "b", "%C3%A9"});
    CHECK(contains(l.body, ">a.txt</a></td><td>14-Nov-2023 22:13</td><td>12345</td>"));
    CHECK(contains(l.body, ">a</a></td><td>01-Jan-1970 00:00</td><td>0</td>"));
    CHECK(contains(l.body, ">zdir/</a></td><td>14-Nov-2023 22:13</td><td>-</td>"));
    CHECK(l.last_modified == 1700000000);
}

TEST_CASE("render_listing: dotfiles hidden unless allowed; never . or ..")
{
    const std::vector<DirEntry> entries = {file(".hidden"), dir(".git"), file("seen"), dir("."), dir("..")};
    const Listing hidden = render_listing("d", entries, {}, 0);
    CHECK(hrefs(hidden.body) == std::vector<std::string>{"../", "seen"});
    ListingOptions allow;
    allow.dotfiles = true;
    const Listing shown = render_listing("d", entries, allow, 0);
    CHECK(hrefs(shown.body) == std::vector<std::string>{"../", ".git/", ".hidden", "seen"});
}

TEST_CASE("render_listing: empty directory, and the root has no parent link")
{
    const Listing root = render_listing("", {}, {}, 1234);
    CHECK(hrefs(root.body).empty());
    CHECK(contains(root.body, "<title>Index of /</title>"));
    CHECK(root.last_modified == 1234);
    const Listing sub = render_listing("empty", {}, {}, 1234);
    CHECK(hrefs(sub.body) == std::vector<std::string>{"../"});
    CHECK_FALSE(contains(sub.body, "not shown"));
}

TEST_CASE("render_listing: bounded, with a note on what was left out")
{
    std::vector<DirEntry> entries;
    for (int i = 0; i < 30; ++i) entries.push_back(file("f" + std::to_string(100 + i)));
    ListingOptions o;
    o.max_entries = 10;
    const Listing l = render_listing("big", entries, o, 0, 5);
    CHECK(hrefs(l.body).size() == 11);
    CHECK(hrefs(l.body)[1] == "f100");
    CHECK(contains(l.body, "25 more entries not shown (a listing shows at most 10 entries and 4096 KiB)."));
}

TEST_CASE("render_listing: bounded in bytes too, whole rows only")
{
    // Long names: 10,000 of them would make a page of many MB.
    std::vector<DirEntry> entries;
    for (int i = 0; i < 200; ++i) entries.push_back(file(std::to_string(1000 + i) + std::string(200, 'n')));
    ListingOptions o;
    o.max_bytes = 16 * 1024;
    const Listing l = render_listing("long", entries, o, 0);
    CHECK(l.body.size() <= o.max_bytes);
    const std::size_t rows = hrefs(l.body).size() - 1; // "../" is not an entry
    CHECK(rows > 10);
    CHECK(rows < 200);
    CHECK(contains(l.body, std::to_string(200 - rows) + " more entries not shown"));
    CHECK(contains(l.body, "</table>\n"));
    CHECK(l.body.ends_with("</body></html>\n"));
    // The last row shown is whole.
    const std::string last = std::to_string(1000 + rows - 1) + std::string(200, 'n');
    CHECK(contains(l.body, "<a href=\"" + last + "\">" + last + "</a>"));
}

TEST_CASE("render_listing: the ETag follows the bytes")
{
    const Listing a = render_listing("d", {file("x", 1)}, {}, 0);
    const Listing b = render_listing("d", {file("x", 2)}, {}, 0);
    CHECK(a.etag != b.etag);
    CHECK(a.etag == render_listing("d", {file("x", 1)}, {}, 0).etag);
    CHECK(a.etag.front() == '"');
    CHECK(a.etag.back() == '"');
}

TEST_CASE("plan_listing: 200, HEAD, 304 and 412")
{
    const Listing l = render_listing("d", {file("x", 1)}, {}, 1700000000);
    Request req;
    auto plan = [&l](const Request& r, const ResponseContext& ctx) {
        ResponsePlan p;
        plan_listing(p, r, l, ctx);
        return p;
    };
    const ResponsePlan get = plan(req, kCtx);
    CHECK(get.status == 200);
    CHECK(get.head().find("Content-Type: text/html; charset=utf-8\r\n") != std::string_view::npos);
    CHECK(get.head().find("Content-Length: " + std::to_string(l.body.size()) + "\r\n") != std::string_view::npos);
    CHECK(get.head().find("ETag: " + l.etag + "\r\n") != std::string_view::npos);
    CHECK(get.head().find("Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\n") != std::string_view::npos);
    CHECK(get.total() == get.head().size() + l.body.size());
    // The page itself is not copied: one segment over the listing's bytes.
    REQUIRE(get.segments.size() == 2);
    CHECK(get.segments[1].kind == Segment::Kind::File);
    CHECK(get.segments[1].offset == 0);
    CHECK(get.segments[1].length == l.body.size());

    ResponseContext head_ctx = kCtx;
    head_ctx.head_request = true;
    const ResponsePlan head = plan(req, head_ctx);
    CHECK(head.head() == get.head());
    CHECK(head.total() == head.head().size());

    Request cond;
    cond.if_none_match = l.etag;
    const ResponsePlan not_modified = plan(cond, kCtx);
    CHECK(not_modified.status == 304);
    CHECK(not_modified.total() == not_modified.head().size());

    Request stale;
    stale.if_none_match = "\"0000000000000000\"";
    CHECK(plan(stale, kCtx).status == 200);

    Request ranged;
    ranged.range = "bytes=0-3";
    CHECK(plan(ranged, kCtx).status == 200); // ranges are ignored

    Request must_match;
    must_match.if_match = "\"nope\"";
    CHECK(plan(must_match, kCtx).status == 412);
}
