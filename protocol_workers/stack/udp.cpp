#include "stack/udp.hpp"

#include <algorithm>
#include <cerrno>

#include "wire/icmp.hpp"
#include "wire/udp.hpp"

namespace flowgate {

using wire::Ipv4Address;
using wire::UdpReader;
using wire::UdpRepr;

Udp::Udp(const StackConfig& config, StackCounters& counters, Ipv4& ipv4, Icmp& icmp)
    : config_(config),
      counters_(counters),
      ipv4_(ipv4),
      icmp_(icmp),
      ports_(config.udp.ephemeral_first, config.udp.ephemeral_last,
             {config.steering.seed, config.steering.worker_count}, config.steering.worker_index),
      scratch_(PacketBuffer::kDefaultHeadroom + 65536) {}

void Udp::on_datagram(const InboundDatagram& d, Instant now) {
  auto view = UdpReader::check(d.ip.payload());
  if (!view) {
    counters_.drop(view.error() == wire::WireError::truncated ? DropReason::udp_truncated
                                                              : DropReason::udp_bad_length);
    return;
  }
  auto udp = UdpRepr::parse(*view, d.repr.src, d.repr.dst);
  if (!udp) {
    counters_.drop(DropReason::udp_bad_checksum);
    return;
  }
  auto it = by_port_.find(udp->dst_port);
  UdpSocket* s = it == by_port_.end() ? nullptr : sockets_.at(it->second).get();
  // A socket bound to our unicast address does not see broadcasts (as on Linux).
  if (s != nullptr && d.to_broadcast && !s->local_address.is_unspecified()) s = nullptr;
  if (s == nullptr) {
    counters_.drop(DropReason::udp_no_socket);
    // RFC 1122 4.1.3.1: "If a datagram arrives addressed to a UDP port for which there is no
    // pending LISTEN call, UDP SHOULD send an ICMP Port Unreachable message." The ICMP layer
    // applies the broadcast and rate-limit rules.
    icmp_.send_error(static_cast<uint8_t>(wire::IcmpType::destination_unreachable),
                     static_cast<uint8_t>(wire::IcmpUnreachableCode::port), 0, d.ip.bytes(),
                     d.link_broadcast, now);
    return;
  }
  if (s->queued_bytes + udp->payload.size() > s->receive_buffer) {
    counters_.drop(DropReason::udp_receive_buffer_full);
    return;
  }
  s->receive_queue.push_back(
      UdpDatagram{d.repr.src, udp->src_port, {udp->payload.begin(), udp->payload.end()}});
  s->queued_bytes += udp->payload.size();
  ++s->datagrams_queued;
  counters_.count(Event::udp_datagrams_received);
}

void Udp::on_icmp_error(const IcmpErrorReport& report, Instant) {
  const uint16_t local_port = wire::load_be16(report.quoted_transport, 0);
  auto it = by_port_.find(local_port);
  if (it == by_port_.end()) return;
  // Kept for SO_ERROR only: an unconnected socket's recvfrom is not failed by an ICMP error
  // (Linux reports these to unconnected sockets only with IP_RECVERR).
  int err = EHOSTUNREACH;
  if (report.type == static_cast<uint8_t>(wire::IcmpType::destination_unreachable)) {
    switch (static_cast<wire::IcmpUnreachableCode>(report.code)) {
      case wire::IcmpUnreachableCode::port:
        err = ECONNREFUSED;
        break;
      case wire::IcmpUnreachableCode::net:
        err = ENETUNREACH;
        break;
      case wire::IcmpUnreachableCode::protocol:
        err = ENOPROTOOPT;
        break;
      case wire::IcmpUnreachableCode::fragmentation_needed:
        err = EMSGSIZE;
        break;
      default:
        err = EHOSTUNREACH;
        break;
    }
  }
  sockets_.at(it->second)->pending_error = err;
}

int Udp::open() {
  const int id = next_id_++;
  auto s = std::make_unique<UdpSocket>();
  s->receive_buffer = config_.udp.default_receive_buffer;
  sockets_.emplace(id, std::move(s));
  return id;
}

UdpSocket* Udp::socket(int id) {
  auto it = sockets_.find(id);
  return it == sockets_.end() ? nullptr : it->second.get();
}

int Udp::bind(int id, UdpEndpoint local) {
  UdpSocket* s = socket(id);
  if (s == nullptr) return -EBADF;
  if (s->bound) return -EINVAL;
  if (!local.address.is_unspecified() && local.address != config_.address.address)
    return -EADDRNOTAVAIL;
  // POSIX: a failed bind() leaves the socket as it was, so nothing is stored before the port
  // is known to be free.
  if (local.port == 0) {
    // The remote is not known yet: any free port (see the header).
    const auto port = ports_.allocate_any();
    if (!port) return -EADDRINUSE;
    bind_to(id, *s, *port);
    s->local_address = local.address;
    return 0;
  }
  if (by_port_.contains(local.port)) return -EADDRINUSE;
  ports_.acquire(local.port);  // inside the ephemeral range: no longer offered
  s->local_address = local.address;
  bind_to(id, *s, local.port);
  return 0;
}

void Udp::bind_to(int id, UdpSocket& s, uint16_t port) {
  // Every bound socket holds its port in ports_, so a port the table offers is never in
  // by_port_.
  s.local_port = port;
  s.bound = true;
  by_port_[port] = id;
}

long Udp::send_to(int id, wire::Bytes data, UdpEndpoint to, Instant now) {
  UdpSocket* s = socket(id);
  if (s == nullptr) return -EBADF;
  if (data.size() > kMaxPayload) return -EMSGSIZE;
  if (to.port == 0) return -EINVAL;
  if (!s->bound) {
    // The remote is known: a port whose replies come back to this worker.
    const auto port = ports_.allocate_for(config_.address.address, to.address, to.port);
    if (!port) return -EADDRINUSE;
    bind_to(id, *s, *port);
  }
  // Build header + payload, then let IPv4 prepend its header in place.
  scratch_.reset();
  auto out = scratch_.append(wire::UdpReader::kHeaderLen + data.size());
  UdpRepr repr{s->local_port, to.port, data};
  repr.emit(out, config_.address.address, to.address);
  switch (ipv4_.send(scratch_, to.address, static_cast<uint8_t>(wire::IpProtocol::udp), {}, now)) {
    case SendStatus::ok:
      counters_.count(Event::udp_datagrams_sent);
      return static_cast<long>(data.size());
    case SendStatus::no_route:
      return -ENETUNREACH;
    case SendStatus::too_big:
      return -EMSGSIZE;
  }
  return -EIO;
}

long Udp::receive_from(int id, wire::MutableBytes out, UdpEndpoint* from, bool peek) {
  UdpSocket* s = socket(id);
  if (s == nullptr) return -EBADF;
  if (s->receive_queue.empty()) return -EAGAIN;
  UdpDatagram& d = s->receive_queue.front();
  const size_t n = std::min(out.size(), d.data.size());
  std::copy_n(d.data.begin(), n, out.begin());
  if (from != nullptr) *from = {d.src, d.src_port};
  const long full = static_cast<long>(d.data.size());
  if (!peek) {
    s->queued_bytes -= d.data.size();
    s->receive_queue.pop_front();
  }
  return full;
}

int Udp::close(int id) {
  auto it = sockets_.find(id);
  if (it == sockets_.end()) return -EBADF;
  if (it->second->bound) {
    by_port_.erase(it->second->local_port);
    ports_.release(it->second->local_port);
  }
  sockets_.erase(it);
  return 0;
}

}  // namespace flowgate
