// The boundary between the stack and whatever carries its frames (an AF_XDP ring, an
// AF_PACKET socket, an in-memory test link).
#pragma once

#include "wire/bytes.hpp"

namespace flowgate {

class Link {
 public:
  virtual ~Link() = default;
  // Sends one Ethernet frame (no FCS). Ownership: the frame is borrowed for the duration of
  // the call only; the link copies it before returning. Returns false when the link has no
  // room; the stack counts that and the frame is lost, as on a full NIC queue.
  virtual bool transmit(wire::Bytes frame) = 0;
};

}  // namespace flowgate
