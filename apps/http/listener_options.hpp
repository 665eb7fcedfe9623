// From a listener of the configuration file (apps/config.hpp) to the service's options.
#pragma once

#include <cstdint>
#include <string>

#include "apps/config.hpp"
#include "apps/http/http_service.hpp"

namespace flowgate::http {

// `body_bytes` of filler: lines of printable ASCII, so a benchmark's body is readable in a
// capture and any truncation shows.
std::string filler_body(uint64_t bytes);

HttpOptions options_for_listener(const ListenerConfig& listener);

}  // namespace flowgate::http
