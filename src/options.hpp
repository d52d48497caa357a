// The one table of options: every setting is a CLI11 option registered
// here, with what a config file may give for it (its TOML type) and where
// (top level, [[site]], command line only). The command line and the file
// are read through the same CLI11 options (config.cpp turns each key of the
// file into `--key=value` arguments), so a new flag is one call here and the
// file knows it at once.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace splicehttpd {

enum class OptionKind {
    Flag,          // true / false
    Integer,       // an integer
    Text,          // a string
    Switch,        // "on"/"off" (or "allow"/"deny"), or true / false for them
    IntegerOrText, // an integer or a string ("auto", "421")
    List,          // an array of strings (repeatable flag), or one string
};

enum class OptionScope {
    Global,      // the top level of the file, and the command line
    Site,        // also in a [[site]] table
    CommandLine, // only on the command line (--config, --check-config)
};

struct OptionInfo {
    std::string key; // "root" for --root
    OptionKind kind = OptionKind::Text;
    OptionScope scope = OptionScope::Global;
    std::pair<std::string, std::string> words; // Switch: the words for true and false
    // The option's value as parsed (before defaults like "auto" are
    // resolved), as text: what a reload compares with the started one.
    // Reads the target it was registered with: only while that lives.
    std::function<std::string()> value;
};

class OptionTable {
public:
    explicit OptionTable(CLI::App& app) : app_(app) {}

    CLI::Option* flag(const std::string& key, bool& target, const std::string& help,
                      OptionScope scope = OptionScope::Global)
    {
        return add({key, OptionKind::Flag, scope, {}, [&target] { return std::string(target ? "true" : "false"); }},
                   app_.add_flag("--" + key, target, help));
    }

    template <class T>
    CLI::Option* integer(const std::string& key, T& target, const std::string& help,
                         OptionScope scope = OptionScope::Global)
    {
        return add({key, OptionKind::Integer, scope, {}, [&target] { return std::to_string(target); }},
                   app_.add_option("--" + key, target, help));
    }

    // With its default shown in --help.
    template <class T>
    CLI::Option* bounded(const std::string& key, T& target, T lo, T hi, const std::string& help,
                         OptionScope scope = OptionScope::Global)
    {
        return integer(key, target, help, scope)->check(CLI::Range(lo, hi))->capture_default_str();
    }

    CLI::Option* text(const std::string& key, std::string& target, const std::string& help,
                      OptionScope scope = OptionScope::Global, OptionKind kind = OptionKind::Text)
    {
        return add({key, kind, scope, {}, [&target] { return target; }}, app_.add_option("--" + key, target, help));
    }

    // One of two words; a file may say true or false for them.
    CLI::Option* on_off(const std::string& key, std::string& target, const std::string& on, const std::string& off,
                        const std::string& help, OptionScope scope = OptionScope::Global)
    {
        return add({key, OptionKind::Switch, scope, {on, off}, [&target] { return target; }},
                   app_.add_option("--" + key, target, help))
            ->check(CLI::IsMember({on, off}))
            ->capture_default_str();
    }

    // Repeatable: every value counts (the others: the last wins).
    CLI::Option* list(const std::string& key, std::vector<std::string>& target, const std::string& help,
                      OptionScope scope = OptionScope::Global)
    {
        // One value per line: no value holds a newline (a header line,
        // a path, an address as given).
        const auto joined = [&target] {
            std::string out;
            for (const std::string& v : target) out += v + '\n';
            return out;
        };
        return add({key, OptionKind::List, scope, {}, joined}, app_.add_option("--" + key, target, help))
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    }

    [[nodiscard]] const OptionInfo* find(std::string_view key) const noexcept
    {
        for (const OptionInfo& info : infos_)
            if (info.key == key) return &info;
        return nullptr;
    }
    [[nodiscard]] const std::vector<OptionInfo>& all() const noexcept { return infos_; }
    [[nodiscard]] CLI::App& app() noexcept { return app_; }
    [[nodiscard]] const CLI::App& app() const noexcept { return app_; }

private:
    CLI::Option* add(OptionInfo info, CLI::Option* option)
    {
        infos_.push_back(std::move(info));
        return option;
    }

    CLI::App& app_;
    std::vector<OptionInfo> infos_;
};

} // namespace splicehttpd
