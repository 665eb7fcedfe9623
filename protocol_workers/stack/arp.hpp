// ARP (RFC 826) and the neighbour table of one worker.
//
// Anti-poisoning: the table learns a MAC only in answer to a request it sent (an entry that is
// being resolved or refreshed), never from an unsolicited reply, a gratuitous ARP or a request
// someone else sent; never for our own address; never a broadcast, multicast or zero MAC.
// Static entries from the config never change. RFC 826's "merge" step (update any existing
// entry from any packet) is deliberately not followed: it is what makes ARP spoofing work.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "stack/clock.hpp"
#include "stack/config.hpp"
#include "stack/counters.hpp"
#include "stack/ethernet_output.hpp"
#include "stack/packet_buffer.hpp"
#include "stack/token_bucket.hpp"
#include "wire/addresses.hpp"

namespace flowgate {

enum class NeighbourState : uint8_t {
  incomplete,  // request sent, no answer yet; packets queue
  reachable,   // MAC known and valid until `expires`
  refreshing,  // MAC known and still used; a unicast request was sent to confirm it
  permanent,   // static entry from the config
};

struct NeighbourEntry {
  NeighbourState state = NeighbourState::incomplete;
  wire::MacAddress mac;
  Instant expires{};                         // reachable/refreshing: when the MAC stops being used
  Instant next_request{};                    // incomplete/refreshing: when to (re)send a request
  uint32_t requests_sent = 0;                // for the current resolution or refresh
  std::deque<std::vector<std::byte>> queue;  // whole IPv4 datagrams waiting for the MAC
  size_t queued_bytes = 0;
};

class Arp {
 public:
  Arp(const StackConfig& config, StackCounters& counters, EthernetOutput& out);

  // Installs static entries and sends a gratuitous ARP announcing our address.
  void start(Instant now);
  // `payload` is the Ethernet payload of an ARP frame (padding included); borrowed.
  void on_packet(wire::Bytes payload, Instant now);
  // Sends `packet` (a whole IPv4 datagram) to `next_hop`, on the link. If the MAC is unknown
  // the datagram's bytes are copied into the neighbour's queue and a request goes out.
  void send_ipv4(wire::Ipv4Address next_hop, PacketBuffer& packet, Instant now);
  // A datagram to a broadcast address goes to the broadcast MAC without resolution.
  void send_ipv4_broadcast(PacketBuffer& packet) {
    out_.transmit(wire::MacAddress::broadcast(), wire::EtherType::ipv4, packet);
  }
  void poll(Instant now);
  std::optional<Instant> next_deadline() const;

  const NeighbourEntry* find(wire::Ipv4Address ip) const;
  size_t entries() const { return table_.size(); }
  size_t queued_bytes() const { return queued_bytes_; }

 private:
  bool service(wire::Ipv4Address ip, NeighbourEntry& entry, Instant now);
  void send_request(wire::Ipv4Address target, std::optional<wire::MacAddress> unicast_to);
  void send_reply(const wire::MacAddress& to_mac, wire::Ipv4Address to_ip);
  void transmit_arp(const wire::MacAddress& eth_dst, uint16_t operation,
                    const wire::MacAddress& target_mac, wire::Ipv4Address target_ip);
  void learn(wire::Ipv4Address ip, NeighbourEntry& entry, const wire::MacAddress& mac, Instant now);
  void fail(wire::Ipv4Address ip, NeighbourEntry& entry);
  // The arp_entries gauge follows the table's size after every insertion and removal.
  void publish_entries();
  NeighbourEntry* make_room_and_insert(wire::Ipv4Address ip);
  void enqueue(NeighbourEntry& entry, const PacketBuffer& packet);

  static constexpr Duration kRateLimitedRetry = std::chrono::milliseconds(10);

  const StackConfig& config_;
  StackCounters& counters_;
  EthernetOutput& out_;
  TokenBucket request_limiter_;
  std::unordered_map<uint32_t, NeighbourEntry> table_;
  size_t queued_bytes_ = 0;
  PacketBuffer scratch_;
};

}  // namespace flowgate
