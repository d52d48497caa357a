// libFuzzer target: http::route on a GET whose request target is the whole
// input (as llhttp would hand it over, or worse: the parser keeps control and
// non-ASCII bytes out, this target does not), with dotfiles denied and
// allowed.
//
// Invariants: a GET either answers 400 or 404 at once or looks up a path
// relative to the root; and the Location a directory's 301 would carry
// (slash_location) is a path-absolute reference that cannot leave the site or
// break the head: it starts with exactly one '/' (never "//", never "/\"),
// holds no '\', no '#', no control, space or non-ASCII byte; its path ends
// with '/' and normalises back to the looked-up path as a directory; and a
// query with nothing to escape comes back byte for byte.
#include "fuzz_check.hpp"

#include "http/path.hpp"
#include "http/route.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace splicehttpd::http;

namespace {

bool plain_query(std::string_view q)
{
    for (char ch : q) {
        const auto c = static_cast<unsigned char>(ch);
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                        std::string_view("-._~!$&'()*+,;=:@/?%").find(ch) != std::string_view::npos;
        if (!ok) return false;
    }
    return true;
}

void check(const Request& req, const SitePolicy& site)
{
    Route r = route(req, site);
    if (r.kind == Route::Kind::Respond) {
        FUZZ_CHECK(r.status == 400 || r.status == 404);
        return;
    }
    FUZZ_CHECK(!r.rel_path.starts_with('/'));
    const std::string location = r.slash_location();
    FUZZ_CHECK(!location.empty() && location.front() == '/');
    FUZZ_CHECK(location.size() == 1 || (location[1] != '/' && location[1] != '\\'));
    for (char ch : location) {
        const auto c = static_cast<unsigned char>(ch);
        FUZZ_CHECK(c > 0x20 && c < 0x7f); // no control, space, DEL or non-ASCII byte
        FUZZ_CHECK(c != '\\' && c != '#');
    }
    const std::size_t q = location.find('?');
    FUZZ_CHECK((q != std::string::npos) == r.has_query);
    const std::string_view path = std::string_view(location).substr(0, q);
    FUZZ_CHECK(path.ends_with('/'));
    const auto again = normalize_path(path);
    FUZZ_CHECK(again && again->rel == r.rel_path && again->directory);
    if (r.has_query && plain_query(r.query)) FUZZ_CHECK(std::string_view(location).substr(q + 1) == r.query);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    Request req;
    req.method = Method::Get;
    req.host_count = 1;
    req.target.assign(reinterpret_cast<const char*>(data), size);
    check(req, {.dotfiles = false});
    check(req, {.dotfiles = true});
    return 0;
}
