#include "sys/read_file.hpp"

#include "support/tls_fixture.hpp" // test::TempDir, which writes a file with a mode

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <string>

using namespace splicehttpd;

TEST_CASE("read_small_file: the bytes and the mode the file was opened with")
{
    test::TempDir d;
    const std::string bytes("line\n\0binary\xff", 13);
    for (const mode_t mode : {mode_t(0600), mode_t(0640), mode_t(0644)}) {
        CAPTURE(mode);
        const std::string path = d.write("f" + std::to_string(mode), bytes, mode);
        std::string error;
        sys::ReadFailure failure{};
        const std::optional<sys::SmallFile> got = sys::read_small_file(path, 1024, error, failure);
        REQUIRE_MESSAGE(got, error);
        CHECK(got->bytes == bytes);
        CHECK(S_ISREG(got->mode));
        CHECK((got->mode & 07777) == mode);
        CHECK(error.empty());
    }
}

TEST_CASE("read_small_file: the bound holds at max_bytes, past it is TooLarge")
{
    test::TempDir d;
    const std::string exact = d.write("exact", std::string(40000, 'x'));
    const std::string over = d.write("over", std::string(40001, 'x'));
    std::string error;
    sys::ReadFailure failure{};
    const std::optional<sys::SmallFile> fits = sys::read_small_file(exact, 40000, error, failure);
    REQUIRE_MESSAGE(fits, error);
    CHECK(fits->bytes.size() == 40000);
    CHECK_FALSE(sys::read_small_file(over, 40000, error, failure));
    CHECK(failure == sys::ReadFailure::TooLarge);
    CHECK(error == "larger than 40000 bytes");
    // The bytes-only form says the same.
    std::string plain_error;
    CHECK_FALSE(sys::read_small_file(over, 40000, plain_error));
    CHECK(plain_error == error);
    CHECK(sys::read_small_file(exact, 40000, plain_error) == std::string(40000, 'x'));
}

TEST_CASE("read_small_file: what is not a regular file, or is not there, says which")
{
    test::TempDir d;
    const std::string fifo = d.path + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0); // opened O_NONBLOCK: no writer does not block
    struct Case {
        std::string path;
        sys::ReadFailure failure;
        std::string error;
    };
    const Case cases[] = {
        {d.path, sys::ReadFailure::Directory, "a directory, not a file"},
        {fifo, sys::ReadFailure::NotRegular, "not a regular file"},
        {d.path + "/missing", sys::ReadFailure::System, "No such file or directory"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.path);
        std::string error;
        sys::ReadFailure failure = sys::ReadFailure::TooLarge; // none of these
        CHECK_FALSE(sys::read_small_file(c.path, 1024, error, failure));
        CHECK(failure == c.failure);
        CHECK(error == c.error);
    }
}
