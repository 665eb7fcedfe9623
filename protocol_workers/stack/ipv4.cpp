#include "stack/ipv4.hpp"

#include <algorithm>

#include "stack/icmp.hpp"
#include "wire/icmp.hpp"

namespace flowgate {

using wire::Ipv4Address;
using wire::Ipv4Reader;
using wire::Ipv4Repr;
using wire::WireError;

Ipv4::Ipv4(const StackConfig& config, StackCounters& counters, Arp& arp)
    : config_(config),
      counters_(counters),
      arp_(arp),
      reassembler_(config.reassembly, counters),
      next_id_(config.first_ip_id),
      fragment_(PacketBuffer::kDefaultHeadroom + 65536) {}

void Ipv4::on_packet(wire::Bytes payload, bool link_broadcast, Instant now) {
  // RFC 1122 3.2.1.1-3.2.1.3: silently discard datagrams with a wrong version, a bad
  // checksum, or that are not addressed to us.
  auto view = Ipv4Reader::check(payload);
  if (!view) {
    switch (view.error()) {
      case WireError::bad_version:
        counters_.drop(DropReason::ipv4_bad_version);
        break;
      case WireError::bad_header_length:
        counters_.drop(DropReason::ipv4_bad_header_length);
        break;
      case WireError::bad_total_length:
        counters_.drop(DropReason::ipv4_bad_total_length);
        break;
      default:
        counters_.drop(DropReason::ipv4_truncated);
        break;
    }
    return;
  }
  auto repr = Ipv4Repr::parse(*view);
  if (!repr) {
    counters_.drop(DropReason::ipv4_bad_checksum);
    return;
  }
  const Ipv4Address ours = config_.address.address;
  if (repr->dst != ours && !is_our_broadcast(repr->dst)) {
    counters_.drop(DropReason::ipv4_not_for_us);
    return;
  }
  // RFC 1122 3.2.1.3: a host MUST silently discard a datagram whose source is not a valid
  // unicast address (broadcast, multicast, 0.0.0.0, 127/8); ours is a spoof or a loop.
  const Ipv4Address src = repr->src;
  if (src.is_unspecified() || src.is_multicast() || src.is_loopback() || is_our_broadcast(src) ||
      src == ours) {
    counters_.drop(DropReason::ipv4_bad_source);
    return;
  }
  // RFC 1122 3.2.1.7: "A host MUST NOT discard a datagram just because it was received with
  // TTL less than 2" — a host does not forward, so TTL is not checked here.
  if (view->is_fragment()) {
    // Expire first: a fragment must not revive or complete a datagram whose time is up.
    if (auto deadline = reassembler_.next_deadline(); deadline && *deadline <= now) poll(now);
    auto whole = reassembler_.add(*view, now);
    if (!whole) return;
    // The reassembler writes a valid header; checking again keeps one path for both cases.
    auto whole_view = Ipv4Reader::check(*whole);
    if (!whole_view) return;
    auto whole_repr = Ipv4Repr::parse(*whole_view);
    if (!whole_repr) return;
    deliver(*whole_view, *whole_repr, link_broadcast, now);
    return;
  }
  deliver(*view, *repr, link_broadcast, now);
}

void Ipv4::deliver(const Ipv4Reader& ip, const Ipv4Repr& repr, bool link_broadcast, Instant now) {
  TransportProtocol* handler = transports_[repr.protocol];
  if (handler == nullptr) {
    if (repr.protocol == static_cast<uint8_t>(wire::IpProtocol::tcp)) {
      counters_.drop(DropReason::tcp_unhandled);
      return;
    }
    // RFC 1122 3.2.2.1: a host SHOULD send protocol unreachable for a protocol it lacks.
    counters_.drop(DropReason::ipv4_unknown_protocol);
    if (icmp_ != nullptr) {
      icmp_->send_error(static_cast<uint8_t>(wire::IcmpType::destination_unreachable),
                        static_cast<uint8_t>(wire::IcmpUnreachableCode::protocol), 0, ip.bytes(),
                        link_broadcast, now);
    }
    return;
  }
  counters_.count(Event::ipv4_datagrams_received);
  InboundDatagram d{ip, repr, is_our_broadcast(repr.dst), link_broadcast};
  handler->on_datagram(d, now);
}

SendStatus Ipv4::send(PacketBuffer& packet, Ipv4Address dst, uint8_t protocol,
                      const Ipv4SendOptions& options, Instant now) {
  const size_t payload_len = packet.size();
  if (payload_len + Ipv4Repr::buffer_len() > Ipv4Reader::kMaxTotalLen) return SendStatus::too_big;

  // Next hop (RFC 1122 3.3.1.1): on-link destinations directly, the rest via the gateway.
  const bool broadcast = is_our_broadcast(dst);
  Ipv4Address next_hop = dst;
  if (!broadcast && !config_.address.contains(dst)) {
    if (!config_.gateway) {
      counters_.drop(DropReason::ipv4_no_route);
      return SendStatus::no_route;
    }
    next_hop = *config_.gateway;
  }

  const size_t mtu = config_.mtu;
  if (payload_len + Ipv4Repr::buffer_len() > mtu && options.dont_fragment) {
    counters_.count(Event::ipv4_send_too_big_df);
    return SendStatus::too_big;
  }

  Ipv4Repr repr;
  repr.src = config_.address.address;
  repr.dst = dst;
  repr.protocol = protocol;
  repr.ttl = options.ttl != 0 ? options.ttl : config_.default_ttl;
  repr.tos = options.tos;
  repr.identification = next_id_++;
  repr.dont_fragment = options.dont_fragment;
  counters_.count(Event::ipv4_datagrams_sent);

  if (payload_len + Ipv4Repr::buffer_len() <= mtu) {
    repr.payload_len = static_cast<uint16_t>(payload_len);
    repr.emit(packet.prepend(Ipv4Repr::buffer_len()));
    output(next_hop, broadcast, packet, now);
    return SendStatus::ok;
  }

  // RFC 791 fragmentation: every fragment but the last carries a multiple of 8 bytes.
  const size_t max_chunk = ((mtu - Ipv4Repr::buffer_len()) / 8) * 8;
  const wire::Bytes data = packet.data();
  for (size_t offset = 0; offset < payload_len; offset += max_chunk) {
    const size_t chunk = std::min(max_chunk, payload_len - offset);
    fragment_.reset();
    auto body = fragment_.append(chunk);
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(offset), chunk, body.begin());
    Ipv4Repr frag = repr;
    frag.fragment_offset = static_cast<uint32_t>(offset);
    frag.more_fragments = offset + chunk < payload_len;
    frag.payload_len = static_cast<uint16_t>(chunk);
    frag.emit(fragment_.prepend(Ipv4Repr::buffer_len()));
    counters_.count(Event::ipv4_fragments_sent);
    output(next_hop, broadcast, fragment_, now);
  }
  return SendStatus::ok;
}

void Ipv4::output(Ipv4Address next_hop, bool broadcast, PacketBuffer& packet, Instant now) {
  if (broadcast) {
    arp_.send_ipv4_broadcast(packet);
    return;
  }
  arp_.send_ipv4(next_hop, packet, now);
}

void Ipv4::poll(Instant now) {
  reassembler_.poll(now, [&](wire::Bytes quoted) {
    // RFC 792: time exceeded, code 1 "fragment reassembly time exceeded", sent only when
    // fragment zero arrived (the reassembler calls us only then).
    if (icmp_ != nullptr) {
      icmp_->send_error(static_cast<uint8_t>(wire::IcmpType::time_exceeded),
                        static_cast<uint8_t>(wire::IcmpTimeExceededCode::reassembly), 0, quoted,
                        false, now);
    }
  });
}

}  // namespace flowgate
