// The UDP echo service (RFC 862): "When a datagram is received, the data from it is sent back
// in an answering datagram."
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "apps/service.hpp"
#include "monitoring/app_metrics.hpp"

namespace flowgate {

class UdpEcho final : public Service {
 public:
  // Binds 0.0.0.0:port; throws std::system_error when it cannot. Its metrics carry the
  // label listener=`listener`.
  UdpEcho(Stack& stack, uint16_t port, metrics::AppMetricsWriter& metrics,
          const std::string& listener);
  ~UdpEcho() override;
  UdpEcho(const UdpEcho&) = delete;
  UdpEcho& operator=(const UdpEcho&) = delete;

  void run() override;

  // Source ports never answered. RFC 862 says nothing about them, but an echo reply sent to
  // another host's echo, chargen, daytime, quote or time service starts a datagram ping-pong
  // that lasts until one side loses a packet (a spoofed source makes it an attack); inetd
  // refuses them for the same reason. Port 0 cannot be answered at all.
  static bool refused_source_port(uint16_t port);

 private:
  Stack& stack_;
  int fd_;
  std::vector<std::byte> buffer_;
  metrics::Counter received_;
  metrics::Counter bytes_received_;
  metrics::Counter echoed_;
  metrics::Counter bytes_sent_;
  metrics::Counter refused_;
  metrics::Counter send_errors_;
};

}  // namespace flowgate
