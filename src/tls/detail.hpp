// Shared inside src/tls, not part of its interface.
#pragma once

#include <openssl/ssl.h>

namespace splicehttpd::tls::detail {

// SSL_CTX_set_keylog_callback's callback: hands the traffic secrets to the
// session that asked for them (tls/session.cpp), for the kernel TLS hand-off.
void on_keylog(const SSL* ssl, const char* line);

} // namespace splicehttpd::tls::detail
