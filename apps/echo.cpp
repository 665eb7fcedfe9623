#include "apps/echo.hpp"

#include <netinet/in.h>

#include <cerrno>

#include "stack/socket_api.hpp"

namespace flowgate {

namespace {
// The largest UDP payload over IPv4: 65535 less the IPv4 and UDP headers.
constexpr size_t kMaxDatagram = 65535 - 20 - 8;
}  // namespace

UdpEcho::UdpEcho(Stack& stack, uint16_t port, metrics::AppMetricsWriter& metrics,
                 const std::string& listener)
    : stack_(stack),
      fd_(open_udp_server(stack, port, "udp echo")),
      buffer_(kMaxDatagram),
      received_(metrics.counter(metrics::AppFamily::listener_datagrams_received, {listener})),
      bytes_received_(metrics.counter(metrics::AppFamily::listener_received_bytes, {listener})),
      echoed_(metrics.counter(metrics::AppFamily::listener_datagrams_sent, {listener})),
      bytes_sent_(metrics.counter(metrics::AppFamily::listener_sent_bytes, {listener})),
      refused_(metrics.counter(metrics::AppFamily::udp_echo_refused, {listener})),
      send_errors_(metrics.counter(metrics::AppFamily::listener_errors, {listener})) {}

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
    received_.add();
    bytes_received_.add(static_cast<uint64_t>(n));
    if (refused_source_port(ntohs(from.sin_port))) {
      refused_.add();
      continue;
    }
    if (fg_sendto(stack_, fd_, buffer_.data(), static_cast<size_t>(n), 0,
                  reinterpret_cast<const sockaddr*>(&from), from_len) < 0) {
      send_errors_.add();
      continue;
    }
    echoed_.add();
    bytes_sent_.add(static_cast<uint64_t>(n));
  }
}

}  // namespace flowgate
