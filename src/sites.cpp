#include "sites.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/format.h>

#include <algorithm>

namespace splicehttpd {

namespace {

constexpr std::size_t kMaxName = 253; // RFC 1035, without the trailing dot
constexpr std::size_t kMaxLabel = 63;
constexpr std::size_t kMaxHost = 256; // what match() looks at; longer Hosts match no name

char lower(char c) noexcept
{
    return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

bool name_char(char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// Why a lower-cased name without a trailing dot is not a host name, or "".
std::string host_name_problem(std::string_view name)
{
    if (name.empty()) return "empty";
    if (name.size() > kMaxName) return fmt::format("{} bytes; a host name has at most {}", name.size(), kMaxName);
    std::size_t label = 0;
    for (std::size_t i = 0; i <= name.size(); ++i) {
        if (i == name.size() || name[i] == '.') {
            if (label == 0) return "an empty label (two dots, or a dot first)";
            if (label > kMaxLabel) return fmt::format("a label of {} bytes; at most {}", label, kMaxLabel);
            label = 0;
        } else if (!name_char(name[i])) {
            if (name[i] == '*') return "'*' only as the whole first label: *.example.com";
            return fmt::format("'{}' is not a letter, digit, '-' or '_'", name[i]);
        } else {
            ++label;
        }
    }
    return {};
}

// "[0:0::1]" (lower case) -> "[::1]"; nullopt when it is not an IPv6 address.
std::optional<std::string> ipv6_literal(std::string_view bracketed)
{
    if (bracketed.size() < 3 || bracketed.front() != '[' || bracketed.back() != ']') return std::nullopt;
    const std::string inner(bracketed.substr(1, bracketed.size() - 2));
    in6_addr a{};
    if (inet_pton(AF_INET6, inner.c_str(), &a) != 1) return std::nullopt;
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, &a, text, sizeof text);
    return "[" + std::string(text) + "]";
}

std::string where(const std::string& origin, std::string_view what)
{
    return origin.empty() ? std::string(what) : fmt::format("{}: {}", origin, what);
}

} // namespace

std::optional<std::string> normalize_site_name(std::string_view name, std::string& error)
{
    std::string out(name);
    std::transform(out.begin(), out.end(), out.begin(), lower);
    if (out.starts_with('[')) {
        auto v6 = ipv6_literal(out);
        if (!v6) error = fmt::format("'{}' is not an IPv6 address in brackets", name);
        return v6;
    }
    if (out.size() > 1 && out.back() == '.') out.pop_back();
    const bool wildcard = out.starts_with("*.");
    const std::string problem = host_name_problem(wildcard ? std::string_view(out).substr(2) : out);
    if (!problem.empty()) {
        error = fmt::format("'{}': {}", name, problem);
        return std::nullopt;
    }
    return out;
}

std::optional<std::string_view> normalize_host(std::string_view host, std::span<char> buf) noexcept
{
    std::string_view name = host;
    if (host.starts_with('[')) {
        const auto close = host.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        name = host.substr(0, close + 1);
        const std::string_view rest = host.substr(close + 1);
        if (!rest.empty() && (rest.front() != ':' || rest.find_first_not_of("0123456789", 1) != rest.npos))
            return std::nullopt;
    } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
        name = host.substr(0, colon);
        if (host.find_first_not_of("0123456789", colon + 1) != std::string_view::npos) return std::nullopt;
    }
    if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > buf.size()) return std::nullopt;
    for (std::size_t i = 0; i < name.size(); ++i) buf[i] = lower(name[i]);
    std::string_view out(buf.data(), name.size());
    if (out.front() == '[') {
        // The names are kept as inet_ntop writes them; a client may write the
        // same address otherwise ([0:0::1]). Rare: only then the conversion.
        char text[INET6_ADDRSTRLEN + 2] = {};
        in6_addr a{};
        if (out.size() - 2 >= INET6_ADDRSTRLEN) return std::nullopt;
        std::copy(out.begin() + 1, out.end() - 1, text);
        if (inet_pton(AF_INET6, text, &a) != 1) return std::nullopt;
        text[0] = '[';
        inet_ntop(AF_INET6, &a, text + 1, INET6_ADDRSTRLEN);
        const std::size_t n = std::char_traits<char>::length(text);
        if (n + 1 > buf.size()) return std::nullopt;
        std::copy(text, text + n, buf.data());
        buf[n] = ']';
        out = std::string_view(buf.data(), n + 1);
    }
    return out;
}

std::optional<Sites> Sites::build(const SiteSettings& top, const std::vector<SiteConfig>& sites, UnknownHost unknown,
                                  const std::string& unknown_where, std::string& error)
{
    Sites out;
    out.unknown_ = unknown;
    if (unknown == UnknownHost::Misdirected && sites.empty()) {
        error = fmt::format("{} \"421\" without any [[site]]: every request would be answered 421", unknown_where);
        return std::nullopt;
    }
    // Where each name was given first, for the message about the second.
    std::unordered_map<std::string, std::string> given;
    for (const SiteConfig& config : sites) {
        Site site;
        site.settings = config;
        if (config.names.empty() && !config.is_default) {
            error = where(config.origin, "[[site]] without names: give names = [\"example.com\"], or default = true");
            return std::nullopt;
        }
        for (std::size_t i = 0; i < config.names.size(); ++i) {
            const std::string& origin = i < config.name_origins.size() ? config.name_origins[i] : config.origin;
            std::string why;
            auto name = normalize_site_name(config.names[i], why);
            if (!name) {
                error = where(origin, "names: " + why);
                return std::nullopt;
            }
            const bool wildcard = name->starts_with("*.");
            Index& index = wildcard ? out.wildcard_ : out.exact_;
            const std::string key = wildcard ? name->substr(2) : *name;
            if (index.contains(key)) {
                const std::string& first = given[*name];
                error = where(origin, first.empty() ? fmt::format("names: {} is given twice", *name)
                                                    : fmt::format("names: {} is given at {} already", *name, first));
                return std::nullopt;
            }
            index.emplace(key, out.sites_.size());
            given[*name] = origin;
            site.names.push_back(std::move(*name));
        }
        site.label = site.names.empty() ? "default" : site.names.front();
        if (config.is_default) {
            if (unknown == UnknownHost::Misdirected) {
                error = where(config.origin,
                              fmt::format("default = true, but {} \"421\" answers unknown hosts", unknown_where));
                return std::nullopt;
            }
            if (out.default_ != kNone) {
                error = where(config.origin, fmt::format("default = true: the site {} is the default already",
                                                         out.sites_[out.default_].label));
                return std::nullopt;
            }
            out.default_ = out.sites_.size();
        }
        out.sites_.push_back(std::move(site));
    }
    if (out.default_ == kNone && unknown == UnknownHost::Default) {
        out.default_ = out.sites_.size();
        out.sites_.push_back(Site{top, {}, "default"});
    }
    return out;
}

const Site* Sites::match(std::string_view host) const noexcept
{
    const Site* fallback = default_site();
    if (exact_.empty() && wildcard_.empty()) return fallback;
    char buf[kMaxHost];
    const auto name = normalize_host(host, buf);
    if (!name) return fallback;
    if (auto it = exact_.find(*name); it != exact_.end()) return &sites_[it->second];
    // "a.b.example.com": b.example.com, then example.com, then com; the
    // first found is the longest wildcard.
    for (auto dot = name->find('.'); dot != std::string_view::npos; dot = name->find('.', dot + 1)) {
        if (auto it = wildcard_.find(name->substr(dot + 1)); it != wildcard_.end()) return &sites_[it->second];
    }
    return fallback;
}

} // namespace splicehttpd
