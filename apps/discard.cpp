#include "apps/discard.hpp"

#include <sys/socket.h>

#include "stack/socket_api.hpp"

namespace flowgate {

UdpDiscard::UdpDiscard(Stack& stack, uint16_t port, metrics::AppMetricsWriter& metrics,
                       const std::string& listener)
    : stack_(stack),
      fd_(open_udp_server(stack, port, "udp discard")),
      received_(metrics.counter(metrics::AppFamily::listener_datagrams_received, {listener})),
      bytes_(metrics.counter(metrics::AppFamily::listener_received_bytes, {listener})) {}

UdpDiscard::~UdpDiscard() {
  fg_close(stack_, fd_);
}

void UdpDiscard::run() {
  for (;;) {
    // No buffer: MSG_TRUNC returns the datagram's full length while copying nothing.
    const ssize_t n = fg_recvfrom(stack_, fd_, nullptr, 0, MSG_TRUNC, nullptr, nullptr);
    if (n < 0) return;  // EAGAIN: nothing more queued
    received_.add();
    bytes_.add(static_cast<uint64_t>(n));
  }
}

}  // namespace flowgate
