#include "config.hpp"
#include "server/site_files.hpp"
#include "sys/sandbox.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

using namespace splicehttpd;

namespace {

// A scratch --root, removed at the end.
struct ScratchRoot {
    std::string path;
    int fd = -1;
    ScratchRoot()
    {
        char tmpl[] = "/tmp/site-files-XXXXXX";
        path = ::mkdtemp(tmpl);
        std::ofstream(path + "/index.html") << "<p>app</p>\n";
        ::mkdir((path + "/errors").c_str(), 0755);
        std::ofstream(path + "/errors/404.html") << "gone\n";
        [[maybe_unused]] int rc = ::symlink("/etc/hostname", (path + "/out.html").c_str());
        fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    ~ScratchRoot()
    {
        ::close(fd);
        const std::string rm = "rm -rf '" + path + "'";
        [[maybe_unused]] int rc = std::system(rm.c_str());
    }
};

} // namespace

TEST_CASE("check_site_files: one line per flag whose file cannot be served")
{
    ScratchRoot root;
    REQUIRE(root.fd >= 0);
    Config c;
    c.root = root.path;
    CHECK(server::check_site_files(root.fd, c).empty()); // nothing named, nothing to say

    c.fallback = "index.html";
    c.error_pages = {{404, "errors/404.html"}};
    CHECK(server::check_site_files(root.fd, c).empty());

    c.fallback = "missing.html";
    c.error_pages = {{403, "nope.html"}, {404, "errors"}, {410, "out.html"}, {500, "errors/404.html"}};
    const auto problems = server::check_site_files(root.fd, c);
    REQUIRE(problems.size() == 4);
    CHECK(problems[0] == "--fallback /missing.html: no such file beneath --root " + root.path +
                             "; missing paths get the built-in 404 page instead");
    CHECK(problems[1] == "--error-page 403=/nope.html: no such file beneath --root " + root.path +
                             "; 403 answers get the built-in page instead");
    CHECK(problems[2] == "--error-page 404=/errors: not a regular file; 404 answers get the built-in page instead");
    CHECK(problems[3] == "--error-page 410=/out.html: a symlink that leaves --root " + root.path +
                             "; 410 answers get the built-in page instead");

    // Callable again (a reload): the same answer until the site changes.
    std::ofstream(root.path + "/missing.html") << "now here\n";
    CHECK(server::check_site_files(root.fd, c).size() == 3);
}

TEST_CASE("parent_directory: the directory a Landlock rule names for a file")
{
    using splicehttpd::sys::parent_directory;
    CHECK(parent_directory("/var/log/splicehttpd/access.log") == "/var/log/splicehttpd");
    CHECK(parent_directory("access.log") == ".");
    CHECK(parent_directory("/access.log") == "/");
    CHECK(parent_directory("srv/app/current") == "srv/app");
}
