#include "config_file.hpp"

#include "sys/read_file.hpp"

#include <toml++/toml.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace splicehttpd {

namespace {

std::string at(const std::string& path, const toml::source_region& where)
{
    return fmt::format("{}:{}:{}", path, where.begin.line, where.begin.column);
}

const char* type_name(const toml::node& node)
{
    switch (node.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number with a fraction";
    case toml::node_type::boolean: return "true or false";
    case toml::node_type::array: return node.is_array_of_tables() ? "an array of tables" : "an array";
    case toml::node_type::table: return "a table";
    default: return "a date or time";
    }
}

const char* expected(OptionKind kind)
{
    switch (kind) {
    case OptionKind::Flag: return "true or false";
    case OptionKind::Integer: return "an integer";
    case OptionKind::Text: return "a string";
    case OptionKind::Switch: return "a string or true/false";
    case OptionKind::IntegerOrText: return "an integer or a string";
    case OptionKind::List: return "an array of strings (or one string)";
    }
    return "";
}

// The argument a scalar gives, or "" when its type is not the option's.
std::optional<std::string> argument(const OptionInfo& info, const toml::node& node)
{
    const std::string flag = "--" + info.key;
    if (const auto* b = node.as_boolean()) {
        if (info.kind == OptionKind::Flag) return b->get() ? flag : flag + "=false";
        if (info.kind == OptionKind::Switch) return flag + "=" + (b->get() ? info.words.first : info.words.second);
        return std::nullopt;
    }
    if (const auto* i = node.as_integer()) {
        if (info.kind == OptionKind::Integer || info.kind == OptionKind::IntegerOrText)
            return flag + "=" + std::to_string(i->get());
        return std::nullopt;
    }
    if (const auto* s = node.as_string()) {
        // --key=value: a value that starts with '-' stays a value.
        if (info.kind == OptionKind::Text || info.kind == OptionKind::Switch ||
            info.kind == OptionKind::IntegerOrText || info.kind == OptionKind::List)
            return flag + "=" + s->get();
        return std::nullopt;
    }
    return std::nullopt;
}

FileSetting setting(const std::string& path, const toml::key& key, const toml::node& node, const OptionInfo& info)
{
    FileSetting out{std::string(key.str()), at(path, key.source()), {}, {}};
    const auto wrong = [&](const toml::node& n) {
        out.error = fmt::format("{}: {}: expected {}, not {}", at(path, n.source()), out.key, expected(info.kind),
                                type_name(n));
    };
    if (const auto* array = node.as_array(); array && info.kind == OptionKind::List) {
        for (const toml::node& element : *array) {
            const auto arg = element.is_string() ? argument(info, element) : std::nullopt;
            if (!arg) {
                out.error = fmt::format("{}: {}: expected strings in the array, not {}", at(path, element.source()),
                                        out.key, type_name(element));
                out.pieces.clear();
                return out;
            }
            out.pieces.push_back({{*arg}, at(path, element.source())});
        }
        return out;
    }
    const auto arg = argument(info, node);
    if (!arg) {
        wrong(node);
        return out;
    }
    out.pieces.push_back({{*arg}, at(path, node.source())});
    return out;
}

bool before(const toml::source_region& a, const toml::source_region& b)
{
    return a.begin.line != b.begin.line ? a.begin.line < b.begin.line : a.begin.column < b.begin.column;
}

// A table's entries in file order (toml++ keeps them sorted by key).
std::vector<std::pair<const toml::key*, const toml::node*>> in_order(const toml::table& table)
{
    std::vector<std::pair<const toml::key*, const toml::node*>> out;
    for (const auto& [key, node] : table) out.emplace_back(&key, &node);
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return before(a.first->source(), b.first->source()); });
    return out;
}

FileSite site(const std::string& path, const toml::table& table, const OptionTable& options)
{
    FileSite out;
    out.origin = at(path, table.source());
    for (const auto& entry : in_order(table)) {
        // Named, not structured bindings: clang 14 cannot capture those in a lambda.
        const toml::key* key = entry.first;
        const toml::node* node = entry.second;
        const std::string name(key->str());
        // An error is a setting of its own, in its place in the file.
        const auto fail_at = [&](const toml::source_region& where, const std::string& why) {
            out.settings.push_back({name, at(path, key->source()), {}, fmt::format("{}: {}", at(path, where), why)});
        };
        const auto fail = [&](const std::string& why) { fail_at(key->source(), why); };
        if (name == "names") {
            const auto add = [&](const toml::node& n) {
                if (!n.is_string()) {
                    fail_at(n.source(), fmt::format("names: expected strings, not {}", type_name(n)));
                    return;
                }
                out.names.push_back(n.as_string()->get());
                out.name_origins.push_back(at(path, n.source()));
            };
            if (const auto* array = node->as_array()) {
                for (const toml::node& n : *array) add(n);
            } else {
                add(*node);
            }
        } else if (name == "default") {
            if (const auto* b = node->as_boolean())
                out.is_default = b->get();
            else
                fail(fmt::format("default: expected true or false, not {}", type_name(*node)));
        } else if (const OptionInfo* info = options.find(name); info && info->scope == OptionScope::Site) {
            out.settings.push_back(setting(path, *key, *node, *info));
        } else if (info && info->scope == OptionScope::Global) {
            fail(fmt::format("{}: not a per-site setting; give it at the top, before the first [[site]]", name));
        } else {
            fail(fmt::format("unknown key '{}' in a [[site]] (names, default, or a per-site setting)", name));
        }
    }
    return out;
}

} // namespace

std::optional<ConfigFile> parse_config_text(std::string_view text, const std::string& path, const OptionTable& table,
                                            std::string& error)
{
    toml::table root;
    try {
        root = toml::parse(text, std::string_view(path));
    } catch (const toml::parse_error& e) {
        std::string why(e.description());
        error = fmt::format("{}: {}", at(path, e.source()), why.substr(0, why.find('\n')));
        return std::nullopt;
    }
    ConfigFile out;
    out.path = path;
    for (const auto& entry : in_order(root)) {
        const toml::key* key = entry.first;
        const toml::node* node = entry.second;
        const std::string name(key->str());
        const auto fail = [&](const std::string& why) {
            out.settings.push_back(
                {name, at(path, key->source()), {}, fmt::format("{}: {}", at(path, key->source()), why)});
        };
        if (name == "site") {
            const auto* sites = node->as_array();
            if (!sites || !sites->is_array_of_tables()) {
                fail("site: write each site as a [[site]] table");
                continue;
            }
            for (const toml::node& s : *sites) out.sites.push_back(site(path, *s.as_table(), table));
            continue;
        }
        const OptionInfo* info = table.find(name);
        if (!info) {
            fail(fmt::format("unknown key '{}'", name));
        } else if (info->scope == OptionScope::CommandLine) {
            fail(fmt::format("{}: only on the command line", name));
        } else {
            out.settings.push_back(setting(path, *key, *node, *info));
        }
    }
    return out;
}

std::optional<ConfigFile> read_config_file(const std::string& path, const OptionTable& table, std::string& error)
{
    // A configuration is small; a path to something else (a device, a
    // huge log given by mistake) must not be read whole.
    constexpr std::size_t kMaxBytes = 1 << 20;
    std::string why;
    const std::optional<std::string> text = sys::read_small_file(path, kMaxBytes, why);
    if (!text) {
        error =
            fmt::format("--config {}: {}{}", path, why, why.starts_with("larger") ? "; not a configuration file?" : "");
        return std::nullopt;
    }
    return parse_config_text(*text, path, table, error);
}

} // namespace splicehttpd
