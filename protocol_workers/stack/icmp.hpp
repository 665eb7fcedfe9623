// ICMPv4 (RFC 792, RFC 1122 3.2.2): echo replies, error generation with RFC 1122's
// restrictions and a rate limit, and received errors passed to the transport they quote.
#pragma once

#include <cstdint>

#include "stack/config.hpp"
#include "stack/counters.hpp"
#include "stack/ipv4.hpp"
#include "stack/packet_buffer.hpp"
#include "stack/token_bucket.hpp"
#include "stack/transport.hpp"

namespace flowgate {

class Icmp final : public TransportProtocol {
 public:
  // An error quotes the offending datagram up to this many bytes of the error's own IP
  // datagram (RFC 1812 4.3.2.3: "as much of the original datagram as possible without the
  // length of the ICMP datagram exceeding 576 bytes"; RFC 792 asks for at least header + 8).
  static constexpr size_t kMaxErrorDatagram = 576;

  Icmp(const StackConfig& config, StackCounters& counters, Ipv4& ipv4);

  void on_datagram(const InboundDatagram& datagram, Instant now) override;
  void on_icmp_error(const IcmpErrorReport&, Instant) override {}

  // Sends an error about `offending` (the start of a datagram we received: its IP header and
  // at least the first 8 bytes of its payload when it had that many), unless RFC 1122 3.2.2
  // forbids it or the rate limit is spent. Returns whether it was sent.
  bool send_error(uint8_t type, uint8_t code, uint32_t rest_of_header, wire::Bytes offending,
                  bool link_broadcast, Instant now);

 private:
  void on_error_message(const InboundDatagram& d, uint8_t type, uint8_t code, uint32_t rest,
                        wire::Bytes quoted, Instant now);

  const StackConfig& config_;
  StackCounters& counters_;
  Ipv4& ipv4_;
  TokenBucket error_limiter_;
  PacketBuffer scratch_;
};

}  // namespace flowgate
