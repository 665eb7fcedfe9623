#include "stack/icmp.hpp"

#include <algorithm>

#include "wire/icmp.hpp"

namespace flowgate {

using wire::IcmpReader;
using wire::IcmpRepr;
using wire::IcmpType;
using wire::Ipv4Address;

namespace {

bool is_error_type(uint8_t type) {
  switch (static_cast<IcmpType>(type)) {
    case IcmpType::destination_unreachable:
    case IcmpType::source_quench:
    case IcmpType::redirect:
    case IcmpType::time_exceeded:
    case IcmpType::parameter_problem:
      return true;
    default:
      return false;
  }
}

// The header fields of a quoted datagram. Unlike Ipv4Reader::check this accepts a total length
// larger than the bytes present: an ICMP error quotes only the start of the datagram.
struct QuotedHeader {
  size_t header_len = 0;
  uint8_t protocol = 0;
  bool non_initial_fragment = false;
  Ipv4Address src;
  Ipv4Address dst;
};

std::optional<QuotedHeader> parse_quoted(wire::Bytes b) {
  using R = wire::Ipv4Reader;
  if (b.size() < R::kMinHeaderLen) return std::nullopt;
  const uint8_t ver_ihl = wire::load_u8(b, R::kVerIhlOffset);
  const size_t ihl = size_t{ver_ihl & 0x0fu} * 4;
  if ((ver_ihl >> 4) != 4 || ihl < R::kMinHeaderLen || ihl > b.size()) return std::nullopt;
  QuotedHeader q;
  q.header_len = ihl;
  q.protocol = wire::load_u8(b, R::kProtocolOffset);
  q.non_initial_fragment = (wire::load_be16(b, R::kFlagsFragOffset) & R::kFragOffsetMask) != 0;
  q.src = Ipv4Address::load(b, R::kSrcOffset);
  q.dst = Ipv4Address::load(b, R::kDstOffset);
  return q;
}

}  // namespace

Icmp::Icmp(const StackConfig& config, StackCounters& counters, Ipv4& ipv4)
    : config_(config),
      counters_(counters),
      ipv4_(ipv4),
      error_limiter_(config.icmp.errors_per_second, config.icmp.error_burst),
      scratch_(PacketBuffer::kDefaultHeadroom + 65536) {}

void Icmp::on_datagram(const InboundDatagram& d, Instant now) {
  auto view = IcmpReader::check(d.ip.payload());
  if (!view) {
    counters_.drop(DropReason::icmp_truncated);
    return;
  }
  auto icmp = IcmpRepr::parse(*view);
  if (!icmp) {
    counters_.drop(DropReason::icmp_bad_checksum);
    return;
  }
  switch (static_cast<IcmpType>(icmp->type)) {
    case IcmpType::echo_request: {
      counters_.count(Event::icmp_echo_requests_received);
      // RFC 1122 3.2.2.6 lets a host ignore echo requests to broadcast addresses; we do,
      // as Linux does by default (smurf amplification).
      if (d.to_broadcast || d.link_broadcast) {
        counters_.drop(DropReason::icmp_broadcast_echo);
        return;
      }
      // RFC 792: "the source and destination addresses are simply reversed, the type code
      // changed to 0, and the checksum recomputed"; identifier, sequence and data returned.
      IcmpRepr reply = IcmpRepr::echo(IcmpType::echo_reply, icmp->echo_identifier(),
                                      icmp->echo_sequence(), icmp->data);
      scratch_.reset();
      reply.emit(scratch_.append(reply.buffer_len()));
      Ipv4SendOptions opts;
      opts.tos = d.repr.tos;
      if (ipv4_.send(scratch_, d.repr.src, static_cast<uint8_t>(wire::IpProtocol::icmp), opts,
                     now) == SendStatus::ok)
        counters_.count(Event::icmp_echo_replies_sent);
      return;
    }
    case IcmpType::destination_unreachable:
    case IcmpType::source_quench:
    case IcmpType::time_exceeded:
    case IcmpType::parameter_problem:
      on_error_message(d, icmp->type, icmp->code, icmp->rest_of_header, icmp->data, now);
      return;
    default:
      // Echo replies (we send no echo requests), redirects (a host with one gateway has no
      // use for them, and they are an attack vector), timestamps, and unknown types.
      counters_.drop(DropReason::icmp_unhandled_type);
      return;
  }
}

void Icmp::on_error_message(const InboundDatagram&, uint8_t type, uint8_t code, uint32_t rest,
                            wire::Bytes quoted, Instant now) {
  auto q = parse_quoted(quoted);
  // The quote must be of a datagram we sent, with the transport's first 8 bytes (RFC 792),
  // or there is nothing to match it to.
  if (!q || q->src != config_.address.address || quoted.size() < q->header_len + 8) {
    counters_.drop(DropReason::icmp_bad_quote);
    return;
  }
  TransportProtocol* transport = ipv4_.transport(q->protocol);
  if (transport == nullptr || q->protocol == static_cast<uint8_t>(wire::IpProtocol::icmp)) {
    counters_.drop(DropReason::icmp_bad_quote);
    return;
  }
  counters_.count(Event::icmp_errors_received);
  IcmpErrorReport report{
      type, code, rest, q->src, q->dst, q->protocol, quoted.subspan(q->header_len)};
  transport->on_icmp_error(report, now);
}

bool Icmp::send_error(uint8_t type, uint8_t code, uint32_t rest_of_header, wire::Bytes offending,
                      bool link_broadcast, Instant now) {
  auto q = parse_quoted(offending);
  if (!q) return false;
  // RFC 1122 3.2.2: an ICMP error MUST NOT be sent in response to an ICMP error, a datagram
  // to a broadcast or multicast address, a link-layer broadcast, a non-initial fragment, or
  // a datagram whose source is not a single host (0, broadcast, multicast, loopback).
  if (link_broadcast || q->non_initial_fragment || q->dst.is_multicast() ||
      ipv4_.is_our_broadcast(q->dst) || q->src.is_unspecified() || q->src.is_multicast() ||
      q->src.is_loopback() || ipv4_.is_our_broadcast(q->src))
    return false;
  if (q->protocol == static_cast<uint8_t>(wire::IpProtocol::icmp)) {
    if (offending.size() < q->header_len + 1) return false;
    if (is_error_type(wire::load_u8(offending, q->header_len))) return false;
  }
  if (!error_limiter_.try_take(now)) {
    counters_.count(Event::icmp_errors_rate_limited);
    return false;
  }
  const size_t room = kMaxErrorDatagram - wire::Ipv4Repr::buffer_len() - IcmpReader::kHeaderLen;
  IcmpRepr error{type, code, rest_of_header, offending.first(std::min(room, offending.size()))};
  scratch_.reset();
  error.emit(scratch_.append(error.buffer_len()));
  if (ipv4_.send(scratch_, q->src, static_cast<uint8_t>(wire::IpProtocol::icmp), {}, now) !=
      SendStatus::ok)
    return false;
  counters_.count(Event::icmp_errors_sent);
  return true;
}

}  // namespace flowgate
