// One worker's protocol stack: Ethernet, ARP, IPv4 (+reassembly), ICMP, UDP (TCP joins it).
// No globals and no clock reads of its own: the Clock and the Link are injected, so a test
// drives it with a ManualClock and an in-memory link, and the worker process with the
// monotonic clock and its shared-memory rings.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <vector>

#include "stack/arp.hpp"
#include "stack/clock.hpp"
#include "stack/config.hpp"
#include "stack/counters.hpp"
#include "stack/epoll_set.hpp"
#include "stack/ethernet_output.hpp"
#include "stack/icmp.hpp"
#include "stack/ipv4.hpp"
#include "stack/link.hpp"
#include "stack/udp.hpp"
#include "tcp/tcp.hpp"

namespace flowgate {

enum class SocketKind : uint8_t { none, udp, tcp, epoll };

struct SocketSlot {
  SocketKind kind = SocketKind::none;
  uint16_t watchers = 0;  // epoll sets holding the descriptor
  int id = 0;             // the protocol's own socket id
};

class Stack final : private EthernetOutput, private tcp::ReadinessObserver {
 public:
  // `counters` lets the worker place the counter block in shared memory; by default the
  // stack keeps its own. Its counters continue; its gauges start from zero.
  Stack(StackConfig config, const Clock& clock, Link& link, StackCounters* counters = nullptr);
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // Announces our address (gratuitous ARP) and installs static neighbours.
  void start();
  // One received Ethernet frame (no FCS). Ownership: borrowed for the call; nothing keeps a
  // reference to it afterwards (reassembly and queues copy what they keep).
  void receive(wire::Bytes frame);
  // Runs every timer that is due (ARP retransmission and expiry, reassembly timeout).
  void poll();
  // When poll() next has something to do; nullopt when no timer is armed.
  std::optional<Instant> next_deadline() const;

  const StackConfig& config() const { return config_; }
  const Clock& clock() const { return clock_; }
  StackCounters& counters() { return *counters_; }
  const StackCounters& counters() const { return *counters_; }
  Arp& arp() { return arp_; }
  Ipv4& ipv4() { return ipv4_; }
  Icmp& icmp() { return icmp_; }
  Udp& udp() { return udp_; }
  tcp::Tcp& tcp() { return tcp_; }

  // The descriptor table behind the fg_* socket calls (socket_api.hpp). Like POSIX, a new
  // descriptor is the lowest free number (a heap of freed numbers: O(log n), no scan).
  int allocate_fd(SocketKind kind, int id);
  SocketSlot* slot(int fd);
  void release_fd(int fd);
  std::map<int, EpollSet>& epoll_sets() { return epoll_sets_; }
  // `fd`'s readiness may have changed: it goes on the ready list of every set watching it
  // (epoll_set.hpp). O(epoll sets) when watched, nothing otherwise.
  void readiness_may_have_changed(int fd);

 private:
  void transmit(wire::MacAddress dst, wire::EtherType type, PacketBuffer& packet) override;
  void readiness_changed(int tag) override { readiness_may_have_changed(tag); }

  StackConfig config_;
  const Clock& clock_;
  Link& link_;
  StackCounters own_counters_;
  StackCounters* counters_;
  Arp arp_;
  Ipv4 ipv4_;
  Icmp icmp_;
  Udp udp_;
  tcp::Tcp tcp_;
  std::vector<SocketSlot> fds_;
  std::priority_queue<int, std::vector<int>, std::greater<int>> free_fds_;
  std::map<int, EpollSet> epoll_sets_;
  int next_epoll_id_ = 1;

 public:
  int new_epoll_id() { return next_epoll_id_++; }
};

}  // namespace flowgate
