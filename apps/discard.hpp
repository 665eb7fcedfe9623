// The UDP discard service (RFC 863): "simply throw away any data it receives."
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "apps/service.hpp"

namespace flowgate {

class UdpDiscard final : public Service {
 public:
  // Binds 0.0.0.0:port; throws std::system_error when it cannot.
  UdpDiscard(Stack& stack, uint16_t port);
  ~UdpDiscard() override;
  UdpDiscard(const UdpDiscard&) = delete;
  UdpDiscard& operator=(const UdpDiscard&) = delete;

  void run() override;
  void for_each_counter(
      const std::function<void(const std::string& name, uint64_t value)>& f) const override;

 private:
  Stack& stack_;
  uint16_t port_;
  int fd_;
  uint64_t received_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace flowgate
