// From a listener of the configuration file (apps/config.hpp) to the service's options.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/config.hpp"
#include "apps/http/http_service.hpp"

namespace flowgate::http {

// `body_bytes` of filler: lines of printable ASCII, so a benchmark's body is readable in a
// capture and any truncation shows.
std::string filler_body(uint64_t bytes);

HttpOptions options_for_listener(const ListenerConfig& listener);

// What the parser cannot check: that every http listener's root is a directory that can be
// opened, as `file:line: listeners[i].http.root: reason` errors (empty when all is well).
// For `flowgate run` to call before starting the workers: a worker that cannot open its root
// exits at once, and would otherwise be restarted every second.
std::vector<ConfigError> check_http_roots(const GatewayConfig& config);

}  // namespace flowgate::http
