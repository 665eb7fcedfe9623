// The UDP discard service (RFC 863): "simply throw away any data it receives."
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "apps/service.hpp"
#include "monitoring/app_metrics.hpp"

namespace flowgate {

class UdpDiscard final : public Service {
 public:
  // Binds 0.0.0.0:port; throws std::system_error when it cannot. Its metrics carry the
  // label listener=`listener`.
  UdpDiscard(Stack& stack, uint16_t port, metrics::AppMetricsWriter& metrics,
             const std::string& listener);
  ~UdpDiscard() override;
  UdpDiscard(const UdpDiscard&) = delete;
  UdpDiscard& operator=(const UdpDiscard&) = delete;

  void run() override;

 private:
  Stack& stack_;
  int fd_;
  metrics::Counter received_;
  metrics::Counter bytes_;
};

}  // namespace flowgate
