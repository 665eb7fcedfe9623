#include "apps/discard.hpp"

#include <sys/socket.h>

#include "stack/socket_api.hpp"

namespace flowgate {

UdpDiscard::UdpDiscard(Stack& stack, uint16_t port)
    : stack_(stack), port_(port), fd_(open_udp_server(stack, port, "udp discard")) {}

UdpDiscard::~UdpDiscard() {
  fg_close(stack_, fd_);
}

void UdpDiscard::run() {
  for (;;) {
    // No buffer: MSG_TRUNC returns the datagram's full length while copying nothing.
    const ssize_t n = fg_recvfrom(stack_, fd_, nullptr, 0, MSG_TRUNC, nullptr, nullptr);
    if (n < 0) return;  // EAGAIN: nothing more queued
    ++received_;
    bytes_ += static_cast<uint64_t>(n);
  }
}

void UdpDiscard::for_each_counter(
    const std::function<void(const std::string& name, uint64_t value)>& f) const {
  const std::string prefix = "udp_discard_" + std::to_string(port_) + "_";
  f(prefix + "received", received_);
  f(prefix + "bytes", bytes_);
}

}  // namespace flowgate
