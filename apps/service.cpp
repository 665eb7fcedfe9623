#include "apps/service.hpp"

#include <netinet/in.h>

#include <cerrno>
#include <system_error>

#include "stack/socket_api.hpp"

namespace flowgate {

int open_udp_server(Stack& stack, uint16_t port, std::string_view what) {
  const std::string context = std::string(what) + " on UDP port " + std::to_string(port);
  const int fd = fg_socket(stack, AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), context + ": socket");
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_ANY);
  local.sin_port = htons(port);
  if (fg_bind(stack, fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) < 0) {
    const int err = errno;
    fg_close(stack, fd);
    throw std::system_error(err, std::generic_category(), context + ": bind");
  }
  return fd;
}

int open_tcp_listener(Stack& stack, uint16_t port, std::string_view what) {
  const std::string context = std::string(what) + " on TCP port " + std::to_string(port);
  const int fd = fg_socket(stack, AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), context + ": socket");
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_ANY);
  local.sin_port = htons(port);
  const char* step = "bind";
  int rc = fg_bind(stack, fd, reinterpret_cast<const sockaddr*>(&local), sizeof local);
  if (rc == 0) {
    step = "listen";
    rc = fg_listen(stack, fd, 128);
  }
  if (rc < 0) {
    const int err = errno;
    fg_close(stack, fd);
    throw std::system_error(err, std::generic_category(), context + ": " + step);
  }
  return fd;
}

}  // namespace flowgate
