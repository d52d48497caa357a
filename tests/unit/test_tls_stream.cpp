// server::TlsStream's first look at the TLS port's input: a client that
// speaks plain HTTP there is told apart (for a plain 400) by its method
// token and a space; a ClientHello and garbage go to OpenSSL as before.
#include "server/tls_stream.hpp"
#include "support/tls_fixture.hpp"

#include <doctest/doctest.h>

#include <array>
#include <string>

using namespace splicehttpd;
using server::FirstBytes;
using server::sniff_first_bytes;
using server::TlsStream;

namespace {

std::shared_ptr<const tls::ContextSet> contexts()
{
    static test::Pki pki;
    static test::TempDir dir;
    static const std::shared_ptr<const tls::ContextSet> set =
        tls::load_contexts({pki.files(dir, "a", pki.leaf("DNS:a.example"))},
                           std::make_shared<tls::TicketKeys>(tls::TicketKeys::kRotateEvery, 3))
            .set;
    return set;
}

} // namespace

TEST_CASE("sniff_first_bytes: a method token and a space is HTTP; a record or garbage is not; fewer bytes wait")
{
    struct Row {
        int line;
        std::string bytes;
        FirstBytes kind;
    };
    const Row rows[] = {
        {__LINE__, "", FirstBytes::NeedMore},
        {__LINE__, "G", FirstBytes::NeedMore},
        {__LINE__, "GET", FirstBytes::NeedMore},
        {__LINE__, "GET ", FirstBytes::PlainHttp},
        {__LINE__, "GET / HTTP/1.1\r\n", FirstBytes::PlainHttp},
        {__LINE__, "OPTIONS * HTTP/1.1\r\n", FirstBytes::PlainHttp}, // OpenSSL knows only GET, POST, HEAD, PUT
        {__LINE__, "MKCALENDAR /c", FirstBytes::PlainHttp},
        {__LINE__, "BREW ", FirstBytes::PlainHttp}, // an unknown method is still HTTP (it would get 501)
        {__LINE__, std::string(16, 'A') + " ", FirstBytes::PlainHttp},
        {__LINE__, std::string(16, 'A'), FirstBytes::NeedMore},
        {__LINE__, std::string(17, 'A'), FirstBytes::Other}, // no method is that long: no waiting for it
        {__LINE__, " GET /", FirstBytes::Other},
        {__LINE__, "get / HTTP/1.1", FirstBytes::Other},
        {__LINE__, "GET\t/", FirstBytes::Other},
        {__LINE__, "GE\r\n", FirstBytes::Other},
        {__LINE__, std::string("\x16\x03\x01\x02\x00", 5), FirstBytes::Other}, // a handshake record
        {__LINE__, std::string("\x16", 1), FirstBytes::Other},                 // decided by its first byte
        {__LINE__, std::string("\x80\x2e\x01", 3), FirstBytes::Other},         // an SSLv2-style hello
        {__LINE__, std::string("G\0T ", 4), FirstBytes::Other},
    };
    for (const Row& r : rows) {
        CAPTURE(r.line);
        CHECK(sniff_first_bytes(r.bytes) == r.kind);
    }
}

TEST_CASE("TlsStream: plain HTTP byte by byte waits, then fails as plain HTTP with the bytes that said so")
{
    TlsStream stream(contexts());
    REQUIRE(stream.valid());
    std::array<char, 16 * 1024> scratch{};
    const std::string request = "PROPFIND /x HTTP/1.1\r\n";
    for (std::size_t i = 0; i < 8; ++i) {
        CAPTURE(i);
        stream.feed(request.substr(i, 1));
        CHECK(stream.advance(scratch).kind == TlsStream::Step::Kind::NeedInput);
    }
    stream.feed(request.substr(8, 1)); // the space
    const TlsStream::Step step = stream.advance(scratch);
    CHECK(step.kind == TlsStream::Step::Kind::Failed);
    CHECK(step.plain_http);
    CHECK(step.plain == "PROPFIND ");
    CHECK(step.error == "client sent plain HTTP request to HTTPS port");
    CHECK(stream.idle()); // the session was never asked: nothing to send
}

TEST_CASE("TlsStream: garbage and a real ClientHello go to OpenSSL")
{
    SUBCASE("garbage: OpenSSL's failure, not plain HTTP")
    {
        TlsStream stream(contexts());
        std::array<char, 16 * 1024> scratch{};
        stream.feed("Hello there, this is no TLS\r\n");
        const TlsStream::Step step = stream.advance(scratch);
        CHECK(step.kind == TlsStream::Step::Kind::Failed);
        CHECK_FALSE(step.plain_http);
    }
    SUBCASE("a ClientHello, byte by byte: the handshake goes on")
    {
        test::Client client;
        SSL_do_handshake(client.ssl);
        const std::string hello = client.take_output();
        REQUIRE(hello.size() > 5);
        TlsStream stream(contexts());
        std::array<char, 16 * 1024> scratch{};
        for (std::size_t i = 0; i + 1 < hello.size(); ++i) {
            stream.feed(hello.substr(i, 1));
            REQUIRE(stream.advance(scratch).kind == TlsStream::Step::Kind::NeedInput);
        }
        stream.feed(hello.substr(hello.size() - 1));
        CHECK(stream.advance(scratch).kind == TlsStream::Step::Kind::NeedInput); // the client's Finished next
        CHECK(stream.session().output_size() > 0);                               // the ServerHello flight
    }
}
