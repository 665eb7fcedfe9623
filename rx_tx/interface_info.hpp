// What the rx_tx ports need to know about a network interface, and the error type of
// opening links and ports on it. Shared by AfPacketPort, the AF_XDP side and the supervisor.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "wire/addresses.hpp"

namespace flowgate {

// Opening or querying the link failed; what() names the interface and the system error.
class LinkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct InterfaceInfo {
  std::string name;
  int index = 0;
  wire::MacAddress mac;
  uint32_t mtu = 0;  // the IP MTU (Ethernet payload bytes), as `ip link` shows it
  bool up = false;
};

// Looks an interface up by name. Throws LinkError ("interface 'x' not found: ...").
InterfaceInfo query_interface(const std::string& name);

}  // namespace flowgate
