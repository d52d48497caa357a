// Virtual hosts as data: the [[site]] tables of the config file, checked,
// and the lookup from a request's Host to the site that answers it. Pure.
//
// Names are exact ("example.com") or wildcards ("*.example.com": one or
// more labels in front of example.com, never example.com itself). An exact
// name wins over a wildcard, a longer wildcard over a shorter one. Names
// and Hosts are compared in lower case, without a port or a trailing dot.
// A Host no name matches (or none at all, HTTP/1.0) goes to the default
// site: the one marked `default = true`, else the top-level settings; or,
// with unknown-host = "421", no site answers it (421 Misdirected Request).
#pragma once

#include "site_settings.hpp"

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace splicehttpd {

enum class UnknownHost {
    Default,     // the default site answers
    Misdirected, // 421 Misdirected Request
};

// One [[site]] table, its settings already merged over the top level's.
struct SiteConfig : SiteSettings {
    std::vector<std::string> names;        // as written
    bool is_default = false;               // default = true
    std::string origin;                    // "FILE:LINE:COLUMN" of its [[site]] line, for messages
    std::vector<std::string> name_origins; // the same for each name ("" where not known)
    // "FILE:LINE:COLUMN" of each setting the table gives itself (the rest
    // is the top level's).
    std::map<std::string, std::string, std::less<>> origins;
};

struct Site {
    SiteSettings settings;
    std::vector<std::string> names; // normalized: lower case, no trailing dot
    std::string label;              // its first name; "default" for the top-level settings
};

// "Example.COM." -> "example.com", "*.Example.com" -> "*.example.com",
// "[0:0::1]" -> "[::1]"; nullopt with `error` set for anything that is not
// a host name (labels of letters, digits, '-' and '_', at most 63 bytes
// each and 253 in all), a wildcard of one, an IPv4 address, or an IPv6
// address in brackets.
std::optional<std::string> normalize_site_name(std::string_view name, std::string& error);

// A request's Host (or the authority of an absolute-form target) as the
// names are kept: "Example.com:8080" -> "example.com", "[::1]:80" ->
// "[::1]", "example.com." -> "example.com". Written into `buf` (no
// allocation). nullopt for what no name can match: empty, longer than
// `buf`, a port that is not digits.
std::optional<std::string_view> normalize_host(std::string_view host, std::span<char> buf) noexcept;

class Sites {
public:
    // Checks and indexes the sites: names valid and each given to one site
    // only, at most one default, and no default with unknown-host = "421"
    // (nor 421 without any [[site]]: every request would get it).
    // `unknown_where` names the unknown-host setting in messages.
    static std::optional<Sites> build(const SiteSettings& top, const std::vector<SiteConfig>& sites,
                                      UnknownHost unknown, const std::string& unknown_where, std::string& error);

    // The site for a Host ("" when the request has none); nullptr when no
    // site answers it (421). O(1) for exact names, then one hash lookup per
    // label for wildcards.
    [[nodiscard]] const Site* match(std::string_view host) const noexcept;

    // nullptr with unknown-host = "421".
    [[nodiscard]] const Site* default_site() const noexcept { return default_ == kNone ? nullptr : &sites_[default_]; }
    [[nodiscard]] const std::vector<Site>& all() const noexcept { return sites_; }
    // The position in all() of a site match() or default_site() returned.
    [[nodiscard]] std::size_t index_of(const Site& site) const noexcept { return std::size_t(&site - sites_.data()); }
    [[nodiscard]] UnknownHost unknown_host() const noexcept { return unknown_; }

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using Index = std::unordered_map<std::string, std::size_t, Hash, std::equal_to<>>;
    static constexpr std::size_t kNone = ~std::size_t(0);

    std::vector<Site> sites_;
    Index exact_;    // "example.com" -> site
    Index wildcard_; // "example.com" for "*.example.com" -> site
    std::size_t default_ = kNone;
    UnknownHost unknown_ = UnknownHost::Default;
};

} // namespace splicehttpd
