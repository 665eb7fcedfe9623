#include "apps/echo.hpp"

#include <netinet/in.h>

#include <cerrno>

#include "stack/socket_api.hpp"

namespace flowgate {

namespace {
// The largest UDP payload over IPv4: 65535 less the IPv4 and UDP headers.
constexpr size_t kMaxDatagram = 65535 - 20 - 8;
}  // namespace

UdpEcho::UdpEcho(Stack& stack, uint16_t port)
    : stack_(stack),
      port_(port),
      fd_(open_udp_server(stack, port, "udp echo")),
      buffer_(kMaxDatagram) {}

UdpEcho::~UdpEcho() {
  fg_close(stack_, fd_);
}

bool UdpEcho::refused_source_port(uint16_t port) {
  switch (port) {
    case 0:   // no port to answer to
    case 7:   // echo
    case 13:  // daytime
    case 17:  // quote of the day
    case 19:  // chargen
    case 37:  // time
      return true;
    default:
      return false;
  }
}

void UdpEcho::run() {
  // Ends when the receive queue is empty: each call takes one datagram off it, and nothing
  // we send lands back on it.
  for (;;) {
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = fg_recvfrom(stack_, fd_, buffer_.data(), buffer_.size(), 0,
                                  reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) return;  // EAGAIN: nothing more queued
    ++received_;
    if (refused_source_port(ntohs(from.sin_port))) {
      ++refused_;
      continue;
    }
    if (fg_sendto(stack_, fd_, buffer_.data(), static_cast<size_t>(n), 0,
                  reinterpret_cast<const sockaddr*>(&from), from_len) < 0) {
      ++send_errors_;
      continue;
    }
    ++echoed_;
  }
}

void UdpEcho::for_each_counter(
    const std::function<void(const std::string& name, uint64_t value)>& f) const {
  const std::string prefix = "udp_echo_" + std::to_string(port_) + "_";
  f(prefix + "received", received_);
  f(prefix + "echoed", echoed_);
  f(prefix + "refused_source_port", refused_);
  f(prefix + "send_errors", send_errors_);
}

}  // namespace flowgate
