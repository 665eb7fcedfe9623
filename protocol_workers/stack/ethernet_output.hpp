#pragma once

#include "stack/packet_buffer.hpp"
#include "wire/addresses.hpp"
#include "wire/ethernet.hpp"

namespace flowgate {

// How a layer above Ethernet sends a frame.
class EthernetOutput {
 public:
  virtual ~EthernetOutput() = default;
  // Prepends the Ethernet header (with the configured 802.1Q tag) to `packet` and hands the
  // frame to the link. Ownership: `packet` is borrowed; it may be reused once this returns.
  virtual void transmit(wire::MacAddress dst, wire::EtherType type, PacketBuffer& packet) = 0;
};

}  // namespace flowgate
