// Request methods as the server sees them, without llhttp's numbering: code
// that only needs "is this HEAD?" need not include llhttp.h.
#pragma once

#include <cstdint>

namespace splicehttpd::http {

enum class Method : std::uint8_t {
    Get,
    Head,
    Options,
    Post,
    Put,
    Delete,
    Connect,
    Trace,
    Patch,
    Other, // a method llhttp knows but RFC 9110 does not define (WebDAV, RTSP, PURGE, ...)
};

// llhttp's method number (llhttp_method_t, Request::method) to Method.
// Defined in parser.cpp, the one place that speaks llhttp.
Method method_from_llhttp(std::uint8_t llhttp_method) noexcept;

enum class MethodClass {
    Get,
    Head,
    Options,
    NotAllowed,     // RFC 9110 methods (and PATCH) that a static server refuses: 405
    NotImplemented, // anything else llhttp knows (WebDAV, RTSP, ...): 501
};

constexpr MethodClass classify_method(Method m) noexcept
{
    switch (m) {
    case Method::Get: return MethodClass::Get;
    case Method::Head: return MethodClass::Head;
    case Method::Options: return MethodClass::Options;
    case Method::Post:
    case Method::Put:
    case Method::Delete:
    case Method::Connect:
    case Method::Trace:
    case Method::Patch: return MethodClass::NotAllowed;
    case Method::Other: break;
    }
    return MethodClass::NotImplemented;
}

} // namespace splicehttpd::http
