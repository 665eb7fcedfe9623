// IPv4 (RFC 791, RFC 1122 section 3) for a host with one address: input validation,
// reassembly, dispatch to transports, and output with next-hop choice and fragmentation.
#pragma once

#include <array>
#include <cstdint>

#include "stack/arp.hpp"
#include "stack/clock.hpp"
#include "stack/config.hpp"
#include "stack/counters.hpp"
#include "stack/packet_buffer.hpp"
#include "stack/reassembly.hpp"
#include "stack/transport.hpp"
#include "wire/ipv4.hpp"

namespace flowgate {

class Icmp;

struct Ipv4SendOptions {
  bool dont_fragment = false;
  uint8_t tos = 0;
  uint8_t ttl = 0;  // 0: the configured default
};

class Ipv4 {
 public:
  Ipv4(const StackConfig& config, StackCounters& counters, Arp& arp);

  void register_transport(uint8_t protocol, TransportProtocol* handler) {
    transports_[protocol] = handler;
  }
  TransportProtocol* transport(uint8_t protocol) const { return transports_[protocol]; }
  // ICMP generates protocol-unreachable and reassembly-timeout errors for this layer.
  void set_icmp(Icmp* icmp) { icmp_ = icmp; }

  // `payload` is the Ethernet payload (padding included); borrowed for the call.
  void on_packet(wire::Bytes payload, bool link_broadcast, Instant now);

  // Sends `packet` (the transport header and data) to `dst` from our address. Prepends the
  // IPv4 header in place; fragments when it exceeds the MTU and DF is clear.
  SendStatus send(PacketBuffer& packet, wire::Ipv4Address dst, uint8_t protocol,
                  const Ipv4SendOptions& options, Instant now);

  void poll(Instant now);
  std::optional<Instant> next_deadline() const { return reassembler_.next_deadline(); }

  bool is_our_broadcast(wire::Ipv4Address a) const {
    return a.is_limited_broadcast() || a == config_.address.directed_broadcast();
  }
  const Reassembler& reassembler() const { return reassembler_; }

 private:
  void deliver(const wire::Ipv4Reader& ip, const wire::Ipv4Repr& repr, bool link_broadcast,
               Instant now);
  void output(wire::Ipv4Address next_hop, bool broadcast, PacketBuffer& packet, Instant now);

  const StackConfig& config_;
  StackCounters& counters_;
  Arp& arp_;
  Icmp* icmp_ = nullptr;
  Reassembler reassembler_;
  std::array<TransportProtocol*, 256> transports_{};
  uint16_t next_id_;
  PacketBuffer fragment_;  // reused for each fragment sent
};

}  // namespace flowgate
