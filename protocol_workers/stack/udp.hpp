// UDP (RFC 768) and its sockets. Internally every call returns a result or a negative errno;
// the POSIX-like functions in socket_api.hpp turn that into -1 and errno.
//
// Ephemeral ports come from a PortTable (tcp/port_table.hpp; UDP has its own, the port
// spaces are separate). An unbound socket's first sendto() knows its remote, so it takes a
// port whose replies the I/O process steers back to this worker. A socket bound to port 0
// before it knows a remote gets any free port; replies reach this worker only by chance (1
// in worker_count). Either way the port then stays with the socket: datagrams to other
// remotes from the same socket are steered by their own tuples, wherever those lead.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "stack/config.hpp"
#include "stack/counters.hpp"
#include "stack/icmp.hpp"
#include "stack/ipv4.hpp"
#include "stack/packet_buffer.hpp"
#include "stack/transport.hpp"
#include "tcp/port_table.hpp"

namespace flowgate {

struct UdpDatagram {
  wire::Ipv4Address src;
  uint16_t src_port = 0;
  std::vector<std::byte> data;
};

struct UdpSocket {
  bool bound = false;
  wire::Ipv4Address local_address;  // any (0) or ours
  uint16_t local_port = 0;
  std::deque<UdpDatagram> receive_queue;
  size_t queued_bytes = 0;
  uint64_t datagrams_queued = 0;  // ever (edge-triggered epoll)
  size_t receive_buffer = 0;      // SO_RCVBUF: payload bytes that may wait in receive_queue
  int pending_error = 0;          // SO_ERROR: from an ICMP error about a datagram we sent
};

struct UdpEndpoint {
  wire::Ipv4Address address;
  uint16_t port = 0;
};

class Udp final : public TransportProtocol {
 public:
  // RFC 768 length field limit minus the IPv4 and UDP headers.
  static constexpr size_t kMaxPayload = 65535 - 20 - 8;

  Udp(const StackConfig& config, StackCounters& counters, Ipv4& ipv4, Icmp& icmp);

  void on_datagram(const InboundDatagram& datagram, Instant now) override;
  void on_icmp_error(const IcmpErrorReport& report, Instant now) override;

  int open();  // a new unbound socket's id
  int bind(int id, UdpEndpoint local);
  // Returns bytes sent or -errno.
  long send_to(int id, wire::Bytes data, UdpEndpoint to, Instant now);
  // Copies the oldest datagram into `out` (truncating, the rest is discarded as POSIX says);
  // returns its full length, or -EAGAIN. `peek` leaves it queued.
  long receive_from(int id, wire::MutableBytes out, UdpEndpoint* from, bool peek);
  int close(int id);
  UdpSocket* socket(int id);

 private:
  // Binds `s` to `port` (a free ephemeral one, already taken from ports_).
  void bind_to(int id, UdpSocket& s, uint16_t port);

  const StackConfig& config_;
  StackCounters& counters_;
  Ipv4& ipv4_;
  Icmp& icmp_;
  std::unordered_map<int, std::unique_ptr<UdpSocket>> sockets_;
  std::unordered_map<uint16_t, int> by_port_;
  int next_id_ = 1;
  tcp::PortTable ports_;
  PacketBuffer scratch_;
};

}  // namespace flowgate
