// What the IPv4 layer hands to the protocols above it (ICMP, UDP, TCP), and how they send.
#pragma once

#include <cstdint>

#include "stack/clock.hpp"
#include "wire/addresses.hpp"
#include "wire/bytes.hpp"
#include "wire/ipv4.hpp"

namespace flowgate {

// A whole datagram addressed to us: header checksum verified, reassembled if it came in
// fragments, Ethernet padding trimmed. Borrowed for the duration of the call.
struct InboundDatagram {
  wire::Ipv4Reader ip;  // header + payload
  wire::Ipv4Repr repr;
  bool to_broadcast = false;    // IP destination was a broadcast address
  bool link_broadcast = false;  // arrived in a broadcast or multicast Ethernet frame
};

// An ICMP error (destination unreachable, time exceeded, parameter problem, source quench)
// about a datagram we sent, as RFC 1122 3.2.2 asks to pass it to the transport it quotes.
struct IcmpErrorReport {
  uint8_t type = 0;
  uint8_t code = 0;
  uint32_t rest_of_header = 0;   // next-hop MTU for fragmentation needed, pointer for 12
  wire::Ipv4Address quoted_src;  // our address
  wire::Ipv4Address quoted_dst;  // the peer we sent to
  uint8_t quoted_protocol = 0;
  wire::Bytes quoted_transport;  // at least the first 8 bytes of our transport header
};

class TransportProtocol {
 public:
  virtual ~TransportProtocol() = default;
  virtual void on_datagram(const InboundDatagram& datagram, Instant now) = 0;
  virtual void on_icmp_error(const IcmpErrorReport& report, Instant now) = 0;
};

enum class SendStatus : uint8_t {
  ok,        // sent, or queued for ARP resolution (a later drop is counted, as on Linux)
  no_route,  // off-link destination and no gateway: ENETUNREACH
  too_big,   // larger than the MTU with DF set, or than 65535 bytes: EMSGSIZE
};

}  // namespace flowgate
