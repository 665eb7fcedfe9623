#include "apps/http/listener_options.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace flowgate::http {

std::string filler_body(uint64_t bytes) {
  // 63 characters and a newline per line: "flowgate ...\n".
  static constexpr std::string_view kLine =
      "flowgate fixed response body 0123456789abcdefghijklmnopqrstuvwx\n";
  static_assert(kLine.size() == 64);
  std::string body;
  body.reserve(static_cast<size_t>(bytes));
  while (body.size() < bytes) {
    body.append(kLine.substr(
        0, static_cast<size_t>(std::min<uint64_t>(kLine.size(), bytes - body.size()))));
  }
  return body;
}

HttpOptions options_for_listener(const ListenerConfig& listener) {
  const HttpSettings& s = listener.http;
  HttpOptions o;
  o.listener = listener.name;
  o.port = listener.port;
  o.backlog = static_cast<int>(listener.backlog);
  o.root = s.root;
  o.index = s.index;
  if (s.response) {
    FixedResponse fixed;
    fixed.status = static_cast<int>(s.response->status);
    fixed.body = s.response->body_bytes ? filler_body(*s.response->body_bytes) : s.response->body;
    fixed.content_type = s.response->content_type;
    o.fixed = std::move(fixed);
  }
  o.request_timeout = s.request_timeout;
  o.keepalive_timeout = s.keepalive_timeout;
  o.max_header_bytes = s.max_header_bytes;
  o.max_headers = s.max_headers;
  o.max_requests_per_connection = s.max_requests_per_connection;
  return o;
}

std::vector<ConfigError> check_http_roots(const GatewayConfig& config) {
  std::vector<ConfigError> errors;
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const ListenerConfig& l = config.listeners[i];
    if (l.app != AppKind::http || l.http.response || l.http.root.empty()) continue;
    const int fd = ::open(l.http.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      continue;
    }
    const std::string key = "listeners[" + std::to_string(i) + "].http.root";
    errors.push_back(ConfigError{config.source, config.line_of(key), key,
                                 "cannot open " + l.http.root + ": " + std::strerror(errno)});
  }
  return errors;
}

}  // namespace flowgate::http
