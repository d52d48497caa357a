// Fitting the configuration to what the process may have, before the
// rings exist: the fixed-file tables to RLIMIT_NOFILE, the pipe size to
// fs.pipe-max-size. Each lowers what cannot be had, with a warning.
#pragma once

#include "config.hpp"

namespace splicehttpd {

void fit_fixed_file_tables(Config& config);
void fit_pipe_size(Config& config);

} // namespace splicehttpd
