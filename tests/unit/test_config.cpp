#include "config.hpp"
#include "config_file.hpp"
#include "options.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>

using namespace splicehttpd;

namespace {

// A table with one option of each kind, as config.cpp registers them.
struct Table {
    CLI::App app;
    OptionTable table{app};
    bool flag = false;
    unsigned number = 0;
    std::string text, on_off, mixed;
    std::vector<std::string> list;
    Table()
    {
        table.flag("flag", flag, "");
        table.integer("number", number, "");
        table.text("text", text, "", OptionScope::Site);
        table.on_off("switch", on_off, "on", "off", "", OptionScope::Site);
        table.text("mixed", mixed, "", OptionScope::Global, OptionKind::IntegerOrText);
        table.list("list", list, "", OptionScope::Site);
        table.text("config", text, "", OptionScope::CommandLine);
    }
};

// A file in a scratch directory, removed with it.
struct Scratch {
    std::string dir;
    Scratch()
    {
        char tmpl[] = "/tmp/config-test-XXXXXX";
        dir = ::mkdtemp(tmpl);
    }
    ~Scratch()
    {
        const std::string rm = "rm -rf '" + dir + "'";
        [[maybe_unused]] int rc = std::system(rm.c_str());
    }
    std::string file(const std::string& name, const std::string& text) const
    {
        std::ofstream(dir + "/" + name) << text;
        return dir + "/" + name;
    }
};

CliOutcome load(std::vector<std::string> args, std::string& message)
{
    return load_config(args, message);
}

} // namespace

TEST_CASE("parse_config_text: each TOML type becomes the flag's argument, or the setting's error")
{
    struct Row {
        int line;
        const char* toml;
        std::vector<std::string> args; // every piece's, in order
        const char* error;             // the setting's error ("" none)
    };
    const Row rows[] = {
        {__LINE__, "flag = true", {"--flag"}, ""},
        {__LINE__, "flag = false", {"--flag=false"}, ""},
        {__LINE__, "flag = 1", {}, "f.toml:1:8: flag: expected true or false, not an integer"},
        {__LINE__, "flag = \"yes\"", {}, "f.toml:1:8: flag: expected true or false, not a string"},
        {__LINE__, "number = 42", {"--number=42"}, ""},
        {__LINE__, "number = -1", {"--number=-1"}, ""}, // the option's range says no
        {__LINE__, "number = \"42\"", {}, "f.toml:1:10: number: expected an integer, not a string"},
        {__LINE__, "number = 4.5", {}, "f.toml:1:10: number: expected an integer, not a number with a fraction"},
        {__LINE__, "number = 1979-05-27", {}, "f.toml:1:10: number: expected an integer, not a date or time"},
        {__LINE__, "text = \"-starts-with-a-dash\"", {"--text=-starts-with-a-dash"}, ""},
        {__LINE__, "text = \"\"", {"--text="}, ""},
        {__LINE__, "text = [\"a\"]", {}, "f.toml:1:8: text: expected a string, not an array"},
        {__LINE__, "text = {a = 1}", {}, "f.toml:1:8: text: expected a string, not a table"},
        {__LINE__, "switch = true", {"--switch=on"}, ""},
        {__LINE__, "switch = false", {"--switch=off"}, ""},
        {__LINE__, "switch = \"off\"", {"--switch=off"}, ""},
        {__LINE__, "switch = 0", {}, "f.toml:1:10: switch: expected a string or true/false, not an integer"},
        {__LINE__, "mixed = 421", {"--mixed=421"}, ""},
        {__LINE__, "mixed = \"auto\"", {"--mixed=auto"}, ""},
        {__LINE__, "mixed = true", {}, "f.toml:1:9: mixed: expected an integer or a string, not true or false"},
        {__LINE__, "list = [\"a\", \"b c\"]", {"--list=a", "--list=b c"}, ""},
        {__LINE__, "list = \"one\"", {"--list=one"}, ""},
        {__LINE__, "list = []", {}, ""},
        {__LINE__, "list = [\"a\", 2]", {}, "f.toml:1:14: list: expected strings in the array, not an integer"},
        {__LINE__, "list = 2", {}, "f.toml:1:8: list: expected an array of strings (or one string), not an integer"},
        {__LINE__, "nope = 1", {}, "f.toml:1:1: unknown key 'nope'"},
        {__LINE__, "config = \"x\"", {}, "f.toml:1:1: config: only on the command line"},
        {__LINE__, "[table]\nflag = true", {}, "f.toml:1:2: unknown key 'table'"},
        {__LINE__, "[site]\ntext = \"x\"", {}, "f.toml:1:2: site: write each site as a [[site]] table"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        Table t;
        std::string error;
        const auto file = parse_config_text(r.toml, "f.toml", t.table, error);
        REQUIRE(file);
        REQUIRE(file->settings.size() == 1);
        const FileSetting& s = file->settings.front();
        CHECK(s.error == r.error);
        std::vector<std::string> args;
        for (const FilePiece& p : s.pieces) args.insert(args.end(), p.args.begin(), p.args.end());
        CHECK(args == r.args);
    }
}

TEST_CASE("parse_config_text: places, file order, sites")
{
    Table t;
    std::string error;
    const auto file = parse_config_text("text = \"x\"\n"
                                        "list = [\"a\",\n"
                                        "        \"b\"]\n"
                                        "flag = true\n"
                                        "\n"
                                        "[[site]]\n"
                                        "names = [\"a.example\", \"*.a.example\"]\n"
                                        "text = \"site\"\n"
                                        "\n"
                                        "[[site]]\n"
                                        "default = true\n"
                                        "number = 2\n"
                                        "[[site]]\n"
                                        "names = \"c.example\"\n"
                                        "bogus = 1\n",
                                        "f.toml", t.table, error);
    REQUIRE(file);
    // toml++ keeps keys sorted; the settings come in the file's order.
    REQUIRE(file->settings.size() == 3);
    CHECK(file->settings[0].key == "text");
    CHECK(file->settings[0].pieces[0].origin == "f.toml:1:8");
    CHECK(file->settings[1].key == "list");
    CHECK(file->settings[1].origin == "f.toml:2:1");
    REQUIRE(file->settings[1].pieces.size() == 2);
    CHECK(file->settings[1].pieces[1].origin == "f.toml:3:9");
    CHECK(file->settings[2].key == "flag");
    REQUIRE(file->sites.size() == 3);
    const FileSite& a = file->sites[0];
    CHECK(a.origin == "f.toml:6:1");
    CHECK(a.names == std::vector<std::string>{"a.example", "*.a.example"});
    CHECK(a.name_origins == std::vector<std::string>{"f.toml:7:10", "f.toml:7:23"});
    CHECK_FALSE(a.is_default);
    REQUIRE(a.settings.size() == 1);
    CHECK(a.settings[0].pieces[0].args == std::vector<std::string>{"--text=site"});
    const FileSite& b = file->sites[1];
    CHECK(b.is_default);
    REQUIRE(b.settings.size() == 1);
    CHECK(b.settings[0].error ==
          "f.toml:12:1: number: not a per-site setting; give it at the top, before the first [[site]]");
    const FileSite& c = file->sites[2];
    CHECK(c.names == std::vector<std::string>{"c.example"});
    REQUIRE(c.settings.size() == 1);
    CHECK(c.settings[0].error ==
          "f.toml:15:1: unknown key 'bogus' in a [[site]] (names, default, or a per-site setting)");

    CHECK_FALSE(parse_config_text("a = \n", "f.toml", t.table, error));
    CHECK(error.starts_with("f.toml:1:5: "));
    CHECK_FALSE(parse_config_text("a = 1\na = 2\n", "f.toml", t.table, error));
    CHECK(error.starts_with("f.toml:2:"));
}

TEST_CASE("load_config: the command line wins; lists are replaced; where() names the place")
{
    Scratch s;
    const std::string path = s.file("a.toml", "root = \"" + s.dir +
                                                  "\"\n"
                                                  "threads = 3\n"
                                                  "add-header = [\"X-A: 1\", \"X-B: 2\"]\n"
                                                  "autoindex = true\n"
                                                  "precompressed = false\n"
                                                  "listen = [\"[::1]:9000\"]\n"
                                                  "max-conns = 100\n");
    std::string message;
    auto out = load({"--config", path}, message);
    INFO(message);
    REQUIRE(out.config);
    Config c = *out.config;
    CHECK(c.root == s.dir);
    CHECK(c.threads == 3);
    CHECK(c.extra_headers == "X-A: 1\r\nX-B: 2\r\n");
    CHECK(c.autoindex);
    CHECK_FALSE(c.precompressed);
    CHECK(c.max_conns == 100);
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].url() == "http://[::1]:9000");
    CHECK(c.config_file == path);
    CHECK(c.where("root") == path + ":1:8: root");
    CHECK(c.where("add-header") == path + ":3:1: add-header"); // a list: its key
    CHECK(c.where("pipes") == "--pipes");

    out = load({"--config", path, "--threads", "1", "--add-header", "X-C: 3", "--autoindex=false", "--listen",
                "127.0.0.1", "--port", "81"},
               message);
    REQUIRE(out.config);
    c = *out.config;
    CHECK(c.threads == 1);
    CHECK(c.extra_headers == "X-C: 3\r\n");
    CHECK_FALSE(c.autoindex);
    CHECK_FALSE(c.precompressed); // not on the command line: the file's
    CHECK(c.listeners[0].url() == "http://127.0.0.1:81");
    CHECK(c.where("threads") == "--threads");
    CHECK(c.where("root") == path + ":1:8: root");
}

TEST_CASE("load_config: HTTPS from the file (tls-port, tls-cert, tls-key, listen with tls), each needing the others")
{
    // Defect (fixed): each value of the file was checked by itself first,
    // and tls-port alone "needs --tls-cert and --tls-key": HTTPS could not
    // be set in a file at all.
    Scratch s;
    const std::string path = s.file("t.toml", "tls-port = 8443\n"
                                              "tls-cert = [\"/etc/a.crt\", \"/etc/b.crt\"]\n"
                                              "tls-key = [\"/etc/a.key\", \"/etc/b.key\"]\n"
                                              "https-redirect = true\n");
    std::string message;
    auto out = load({"--config", path}, message);
    INFO(message);
    REQUIRE(out.config);
    CHECK(out.config->tls_port == 8443);
    CHECK(out.config->https_redirect);
    using Pairs = std::vector<std::pair<std::string, std::string>>;
    CHECK(out.config->tls_pairs == Pairs{{"/etc/a.crt", "/etc/a.key"}, {"/etc/b.crt", "/etc/b.key"}});
    // The command line may give what the file lacks.
    const std::string port_only = s.file("p.toml", "tls-port = 8443\n");
    out = load({"--config", port_only, "--tls-cert", "/etc/a.crt", "--tls-key", "/etc/a.key"}, message);
    REQUIRE(out.config);
    CHECK(out.config->tls_pairs == Pairs{{"/etc/a.crt", "/etc/a.key"}});
    // What is missing from both is named at its place in the file.
    out = load({"--config", port_only}, message);
    CHECK_FALSE(out.config);
    CHECK(message == port_only + ":1:12: tls-port needs --tls-cert and --tls-key");
    // A listener with tls takes the pairs too, without --tls-port.
    const std::string listens = s.file("l.toml", "listen = [\"127.0.0.1:8080\", \"[::1]:8443 ssl\",\n"
                                                 "          \"unix:/run/s.sock tls mode=0660\"]\n"
                                                 "tls-cert = [\"/etc/a.crt\"]\n"
                                                 "tls-key = [\"/etc/a.key\"]\n"
                                                 "https-redirect = true\n");
    out = load({"--config", listens}, message);
    REQUIRE(out.config);
    CHECK(out.config->tls_port == -1);
    REQUIRE(out.config->listeners.size() == 3);
    CHECK(out.config->listeners[0].url() == "http://127.0.0.1:8080");
    CHECK(out.config->listeners[1].url() == "https://[::1]:8443");
    CHECK(out.config->listeners[2].tls);
    CHECK(out.config->listeners[2].mode == 0660);
    CHECK(out.config->tls_pairs == Pairs{{"/etc/a.crt", "/etc/a.key"}});
}

TEST_CASE("load_config: [[site]] starts from the top level; [] empties a list")
{
    Scratch s;
    const std::string path = s.file("a.toml", "root = \"" + s.dir +
                                                  "\"\n"
                                                  "add-header = [\"X-Top: 1\"]\n"
                                                  "expires = [\".css=7d\"]\n"
                                                  "autoindex = true\n"
                                                  "\n"
                                                  "[[site]]\n"
                                                  "names = [\"a.example\"]\n"
                                                  "add-header = []\n"
                                                  "dotfiles = \"allow\"\n"
                                                  "\n"
                                                  "[[site]]\n"
                                                  "names = [\"b.example\"]\n"
                                                  "autoindex = false\n"
                                                  "fallback = \"/index.html\"\n"
                                                  "error-page = [\"404=/404.html\"]\n");
    std::string message;
    const auto out = load({"--config", path, "--expires", ".js=1h"}, message);
    INFO(message);
    REQUIRE(out.config);
    const Config& c = *out.config;
    REQUIRE(c.sites.size() == 2);
    const SiteConfig& a = c.sites[0];
    CHECK(a.extra_headers.empty());
    REQUIRE(a.expires_rules.size() == 1);
    CHECK(a.expires_rules[0].match == ".js"); // the top level's, as the command line made it
    CHECK(a.autoindex);
    CHECK(a.dotfiles);
    CHECK(a.root == s.dir);
    CHECK(a.origins.at("dotfiles") == path + ":9:12");
    const SiteConfig& b = c.sites[1];
    CHECK(b.extra_headers == "X-Top: 1\r\n");
    CHECK_FALSE(b.autoindex);
    CHECK(b.fallback == "index.html");
    CHECK(b.error_pages == std::vector<std::pair<int, std::string>>{{404, "404.html"}});
    CHECK_FALSE(c.dotfiles);
    CHECK(c.autoindex);

    REQUIRE(c.site_table);
    CHECK(c.site_table->match("A.Example:80")->settings.dotfiles);
    CHECK(c.site_table->match("b.example")->settings.fallback == "index.html");
    CHECK(c.site_table->match("c.example")->label == "default");
}

TEST_CASE("load_config: errors, with the exit code for start-up and for --check-config")
{
    Scratch s;
    struct Row {
        int line;
        std::string toml;
        std::vector<std::string> extra;
        std::string error; // PATH is the file
    };
    const Row rows[] = {
        {__LINE__, "threads = 0\n", {}, "PATH:1:11: threads: Value 0 not in range 1 to 1024"},
        {__LINE__, "threads = 0\n", {"--threads", "2"}, "PATH:1:11: threads: Value 0 not in range 1 to 1024"},
        {__LINE__, "pipes = 9\npipes-max = 4\n", {}, "PATH:1:9: pipes 9 exceeds pipes-max 4 (PATH:2:13)"},
        {__LINE__, "pipes = 9\n", {"--pipes-max", "4"}, "PATH:1:9: pipes 9 exceeds --pipes-max 4"},
        {__LINE__, "pipes-max = 4\n", {"--pipes", "9"}, "--pipes 9 exceeds pipes-max 4 (PATH:1:13)"},
        {__LINE__, "fallback-prefix = [\"/a/\"]\n", {}, "PATH:1:1: fallback-prefix needs fallback"},
        {__LINE__, "fallback-prefix = [\"a/\"]\n", {}, "PATH:1:20: fallback-prefix: a path prefix starting with '/'"},
        {__LINE__, "listen = [\"127.0.0.1\", \"bad\"]\n", {}, "PATH:1:24: listen bad: expected ADDRESS"},
        {__LINE__,
         "listen = [\"127.0.0.1\", \"127.0.0.1:8080\"]\n",
         {},
         "PATH:1:24: listen 127.0.0.1:8080: the same address as '127.0.0.1'"},
        {__LINE__, "listen = \"127.0.0.1\"\n", {"--listen", "x"}, "--listen x: expected ADDRESS"},
        {__LINE__,
         "listen = [\"127.0.0.1\", \"127.0.0.1:8443 tls\"]\n",
         {},
         "PATH:1:24: listen 127.0.0.1:8443 tls: tls needs --tls-cert and --tls-key"},
        {__LINE__,
         "listen = [\"127.0.0.1\",\n  \"unix:/run/s.sock mode=999\"]\n",
         {},
         "PATH:2:3: listen unix:/run/s.sock mode=999: 'mode=999': the mode is octal, from 0 to 0777"},
        {__LINE__,
         "listen = [\"127.0.0.1:80 mode=0660\"]\n",
         {},
         "PATH:1:11: listen 127.0.0.1:80 mode=0660: 'mode=0660': mode= is for a unix socket's file"},
        {__LINE__,
         "listen = [\"127.0.0.1 tls tls\"]\n",
         {"--tls-cert", "/c", "--tls-key", "/k"},
         "PATH:1:11: listen 127.0.0.1 tls tls: 'tls': tls (or ssl) given twice"},
        {__LINE__,
         "listen = [\"127.0.0.1\", \"unix:/run/s.sock tls\"]\nhttps-redirect = true\n",
         {"--tls-cert", "/c", "--tls-key", "/k"},
         "PATH:2:18: https-redirect needs a TLS listener: --tls-port, or tls after a TCP --listen address"},
        {__LINE__,
         "[[site]]\nnames = [\"a\"]\nfallback-prefix = [\"/a/\"]\n",
         {},
         "PATH:3:1: fallback-prefix needs fallback"},
        {__LINE__,
         "[[site]]\nnames = [\"a\"]\nadd-header = [\"bad\"]\n",
         {},
         "PATH:3:15: add-header 'bad': expected 'Name: value'"},
        {__LINE__,
         "[[site]]\nnames = [\"a\"]\nautoindex = 1\nbogus = 1\n",
         {},
         "PATH:3:13: autoindex: expected true or false, not an integer"}, // the first in file order
        {__LINE__,
         "[[site]]\nnames = [\"a\"]\nbogus = 1\nautoindex = 1\n",
         {},
         "PATH:3:1: unknown key 'bogus' in a [[site]]"},
        {__LINE__,
         "[[site]]\nnames = [\"a\"]\n[[site]]\nnames = [\"A\"]\n",
         {},
         "PATH:4:10: names: a is given at PATH:2:10 already"},
        {__LINE__,
         "[[site]]\nnames = [\"a\"]\n",
         {"--unknown-host", "421", "--no-such-flag"},
         "The following argument was not expected: --no-such-flag (see --help)"},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        const std::string path = s.file("e.toml", r.toml);
        std::string want = r.error;
        for (auto at = want.find("PATH"); at != std::string::npos; at = want.find("PATH")) want.replace(at, 4, path);
        for (const bool check : {false, true}) {
            std::vector<std::string> args{"--config", path};
            args.insert(args.end(), r.extra.begin(), r.extra.end());
            if (check) args.push_back("--check-config");
            std::string message;
            const auto out = load(args, message);
            INFO(message);
            CHECK_FALSE(out.config);
            CHECK(out.exit_code == (check ? 1 : 2));
            CHECK(message.starts_with(want));
            CHECK(message.find('\n') == std::string::npos);
        }
    }
}

TEST_CASE("load_config: --help, --version, no --config")
{
    std::string message;
    auto out = load({"--help"}, message);
    CHECK(out.exit_code == 0);
    CHECK_FALSE(out.config);
    CHECK(message.find("--config") != std::string::npos);
    CHECK(message.find("Usage: splicehttpd") != std::string::npos);
    out = load({"--version"}, message);
    CHECK(message == "splicehttpd " SPLICEHTTPD_VERSION "\n");
    out = load({"--root", "/srv", "--listen", "::", "--port", "0"}, message);
    REQUIRE(out.config);
    CHECK(out.config->config_file.empty());
    CHECK(out.config->root == "/srv");
    CHECK(out.config->listeners.size() == 1);
    CHECK(out.config->site_table->all().size() == 1);
}
