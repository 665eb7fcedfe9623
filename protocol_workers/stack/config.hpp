// Everything one worker's stack is configured with. Defaults are what the gateway runs with
// when the config file says nothing; each is explained where it is used.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "stack/clock.hpp"
#include "stack/reassembly.hpp"
#include "tcp/tcp_types.hpp"
#include "wire/addresses.hpp"

namespace flowgate {

struct StaticNeighbour {
  wire::Ipv4Address ip;
  wire::MacAddress mac;
};

struct ArpConfig {
  // How long a resolved entry is used without being confirmed again (Linux's base reachable
  // time is 30 s, randomised to 15-45 s; one fixed value keeps tests and behaviour simple).
  Duration reachable_time = std::chrono::seconds(60);
  // An entry used within this long of its expiry is refreshed by a unicast request, so busy
  // flows never stall on a fresh broadcast resolution.
  Duration refresh_before_expiry = std::chrono::seconds(10);
  // Time between requests for one unresolved address, and how many before giving up.
  Duration retransmit_interval = std::chrono::seconds(1);
  uint32_t max_requests = 3;
  // Table size (resolved and pending entries together).
  size_t max_entries = 1024;
  // Packets held while one address resolves, and bytes held in all. Linux bounds each
  // neighbour by bytes (unres_qlen_bytes, 212992: about 2,800 SYN-ACKs); a burst of SYNs from
  // a client not yet resolved is answered by that many SYN-ACKs at once, and each one dropped
  // here costs its connection a 1 s SYN retransmission (64 did, in the lab's 1M-connection
  // run). The byte bound keeps a flood from unresolvable sources small.
  size_t max_queued_per_neighbour = 2048;
  size_t max_queued_bytes = 256 * 1024;
  // All ARP requests sent by this worker (resolution, refresh, retransmission).
  uint32_t requests_per_second = 100;
  uint32_t request_burst = 20;
  std::vector<StaticNeighbour> static_entries;
  bool gratuitous_on_start = true;
  // Answer requests for our address. Every worker of a gateway sees every ARP frame (each
  // keeps its own neighbour table), but only worker 0 answers, or the asker would get one
  // reply per worker.
  bool answer_requests = true;
};

struct IcmpConfig {
  // ICMP errors (unreachable, time exceeded) this worker may send: a token bucket.
  uint32_t errors_per_second = 100;
  uint32_t error_burst = 50;
};

struct UdpConfig {
  size_t default_receive_buffer = 212992;  // bytes of queued payload; Linux's rmem_default
  uint16_t ephemeral_first = 49152;        // RFC 6335 dynamic range
  uint16_t ephemeral_last = 65535;
};

// Where this stack sits in a sharded gateway (DESIGN.md, "Dispatch"). The I/O process steers
// every received frame to a worker by the flow hash of wire/flow_hash.hpp, keyed by the
// gateway's `seed`; the stack uses the same hash to choose the ephemeral ports of its active
// opens (tcp/port_table.hpp), so that replies come back to this worker and not to another.
// The defaults, one worker, make every port acceptable: a standalone stack.
struct SteeringConfig {
  uint32_t worker_index = 0;  // this worker, < worker_count
  uint32_t worker_count = 1;
  uint32_t seed = 0;  // the gateway's flow-hash seed, the same in every process of it
};

struct StackConfig {
  wire::MacAddress mac = *wire::MacAddress::parse("02:00:00:00:00:01");
  wire::Ipv4Cidr address = {wire::Ipv4Address::from_octets(198, 18, 0, 1), 24};
  std::optional<wire::Ipv4Address> gateway;
  std::optional<uint16_t> vlan_id;  // tag outgoing frames and accept only this VLAN
  uint16_t mtu = 1500;              // IPv4 MTU of the link (Ethernet payload size)
  uint8_t default_ttl = 64;
  uint16_t first_ip_id = 1;  // starting IPv4 identification (a worker uses its own)
  ArpConfig arp;
  ReassemblyConfig reassembly;
  IcmpConfig icmp;
  UdpConfig udp;
  tcp::TcpConfig tcp;
  SteeringConfig steering;
  // Key for TCP ISNs and SYN cookies (RFC 6528). Unset: a random one (what a worker uses);
  // tests set it so runs repeat exactly.
  std::optional<std::array<uint8_t, 16>> secret_key;
};

}  // namespace flowgate
