// What every worker is given at start-up and nobody changes afterwards.
#pragma once

#include "config.hpp"
#include "http/mime.hpp"

#include <string>

namespace splicehttpd::server {

class AccessLogFile;
class SharedClientCounter;

struct ServerSetup {
    Config config;
    int root_fd = -1; // O_PATH directory every lookup is relative to
    http::MimeTable mime;
    std::string boundary;                        // multipart/byteranges
    AccessLogFile* access_log = nullptr;         // --access-log, owned by main()
    SharedClientCounter* client_limit = nullptr; // --max-conns-per-ip, owned by main(); shared by the workers
};

} // namespace splicehttpd::server
