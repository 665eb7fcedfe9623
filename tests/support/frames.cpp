#include "support/frames.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace flowgate::test {

using namespace flowgate::wire;

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

std::vector<std::byte> pattern(size_t n, uint8_t seed) {
  std::vector<std::byte> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>((i * 7 + seed) & 0xff);
  return out;
}

Frame ethernet_frame(const EthernetRepr& eth, Bytes payload) {
  Frame f(eth.buffer_len() + payload.size());
  const size_t off = eth.emit(f);
  std::copy(payload.begin(), payload.end(), f.begin() + static_cast<std::ptrdiff_t>(off));
  return f;
}

Frame arp_frame(const MacAddress& eth_dst, const MacAddress& eth_src, const ArpRepr& arp) {
  std::vector<std::byte> payload(ArpRepr::buffer_len());
  arp.emit(payload);
  // Real ARP frames are padded to the 60-byte Ethernet minimum.
  payload.resize(EthernetReader::kMinFrameLen - EthernetReader::kHeaderLen, std::byte{0});
  return ethernet_frame({eth_dst, eth_src, std::nullopt, static_cast<uint16_t>(EtherType::arp)},
                        payload);
}

std::vector<std::byte> ipv4_datagram(Ipv4Repr ip, Bytes payload) {
  ip.payload_len = static_cast<uint16_t>(payload.size());
  std::vector<std::byte> d(Ipv4Repr::buffer_len() + payload.size());
  ip.emit(d);
  std::copy(payload.begin(), payload.end(), d.begin() + Ipv4Repr::buffer_len());
  return d;
}

Frame ipv4_frame(const MacAddress& eth_dst, const MacAddress& eth_src, Ipv4Repr ip, Bytes payload) {
  auto d = ipv4_datagram(ip, payload);
  return ethernet_frame({eth_dst, eth_src, std::nullopt, static_cast<uint16_t>(EtherType::ipv4)},
                        d);
}

std::vector<std::byte> icmp_message(const IcmpRepr& icmp) {
  std::vector<std::byte> m(icmp.buffer_len());
  icmp.emit(m);
  return m;
}

std::vector<std::byte> udp_datagram(uint16_t src_port, uint16_t dst_port, Bytes payload,
                                    Ipv4Address src, Ipv4Address dst) {
  UdpRepr u{src_port, dst_port, payload};
  std::vector<std::byte> d(u.buffer_len());
  u.emit(d, src, dst);
  return d;
}

std::vector<std::byte> tcp_segment(const TcpRepr& tcp, Ipv4Address src, Ipv4Address dst) {
  std::vector<std::byte> d(tcp.buffer_len());
  tcp.emit(d, src, dst);
  return d;
}

Frame peer_tcp_frame(const TcpRepr& tcp, uint8_t ip_tos) {
  auto seg = tcp_segment(tcp, kPeerIp, kOurIp);
  Ipv4Repr ip = peer_ip(static_cast<uint8_t>(IpProtocol::tcp));
  ip.tos = ip_tos;
  ip.dont_fragment = true;
  return ipv4_frame(kOurMac, kPeerMac, ip, seg);
}

Ipv4Repr peer_ip(uint8_t protocol, uint16_t id) {
  Ipv4Repr ip;
  ip.src = kPeerIp;
  ip.dst = kOurIp;
  ip.protocol = protocol;
  ip.ttl = 64;
  ip.identification = id;
  return ip;
}

Frame peer_udp_frame(uint16_t src_port, uint16_t dst_port, Bytes payload) {
  auto udp = udp_datagram(src_port, dst_port, payload, kPeerIp, kOurIp);
  return ipv4_frame(kOurMac, kPeerMac, peer_ip(static_cast<uint8_t>(IpProtocol::udp)), udp);
}

Frame peer_echo_request_frame(uint16_t ident, uint16_t seq, Bytes data) {
  auto icmp = icmp_message(IcmpRepr::echo(IcmpType::echo_request, ident, seq, data));
  return ipv4_frame(kOurMac, kPeerMac, peer_ip(static_cast<uint8_t>(IpProtocol::icmp)), icmp);
}

std::vector<Frame> fragment_frames(const MacAddress& eth_dst, const MacAddress& eth_src,
                                   Ipv4Repr ip, Bytes payload, size_t mtu) {
  std::vector<Frame> frames;
  const size_t chunk = ((mtu - Ipv4Repr::buffer_len()) / 8) * 8;
  for (size_t off = 0; off < payload.size(); off += chunk) {
    const size_t n = std::min(chunk, payload.size() - off);
    Ipv4Repr frag = ip;
    frag.fragment_offset = static_cast<uint32_t>(off);
    frag.more_fragments = off + n < payload.size();
    frames.push_back(ipv4_frame(eth_dst, eth_src, frag, payload.subspan(off, n)));
  }
  return frames;
}

ParsedFrame parse_frame(const Frame& frame) {
  ParsedFrame p;
  p.bytes = frame;
  auto eth = EthernetReader::check(Bytes(p.bytes));
  if (!eth) {
    ADD_FAILURE() << "stack sent a frame too short for Ethernet";
    return p;
  }
  p.eth = EthernetRepr::parse(*eth);
  if (p.eth.ethertype == static_cast<uint16_t>(EtherType::arp)) {
    auto arp = ArpReader::check(eth->payload());
    if (!arp) {
      ADD_FAILURE() << "stack sent a malformed ARP packet";
      return p;
    }
    p.arp = ArpRepr::parse(*arp);
    return p;
  }
  if (p.eth.ethertype != static_cast<uint16_t>(EtherType::ipv4)) {
    ADD_FAILURE() << "stack sent ethertype " << p.eth.ethertype;
    return p;
  }
  auto ip = Ipv4Reader::check(eth->payload());
  if (!ip) {
    ADD_FAILURE() << "stack sent a malformed IPv4 header: " << to_string(ip.error());
    return p;
  }
  auto ip_repr = Ipv4Repr::parse(*ip);
  if (!ip_repr) {
    ADD_FAILURE() << "stack sent a bad IPv4 header checksum";
    return p;
  }
  p.ip = *ip_repr;
  p.ip_payload.assign(ip->payload().begin(), ip->payload().end());
  if (ip_repr->more_fragments || ip_repr->fragment_offset != 0) return p;
  const Bytes payload(p.ip_payload);
  if (ip_repr->protocol == static_cast<uint8_t>(IpProtocol::icmp)) {
    auto icmp = IcmpReader::check(payload);
    auto repr = icmp ? IcmpRepr::parse(*icmp) : Result<IcmpRepr>(icmp.error());
    EXPECT_TRUE(repr.ok()) << "stack sent a bad ICMP message";
    if (repr) p.icmp = *repr;
  } else if (ip_repr->protocol == static_cast<uint8_t>(IpProtocol::tcp)) {
    auto tcp = TcpReader::check(payload);
    auto repr = tcp ? TcpRepr::parse(*tcp, ip_repr->src, ip_repr->dst) : Result<TcpRepr>(tcp.error());
    EXPECT_TRUE(repr.ok()) << "stack sent a bad TCP segment";
    if (repr) p.tcp = *repr;
  } else if (ip_repr->protocol == static_cast<uint8_t>(IpProtocol::udp)) {
    auto udp = UdpReader::check(payload);
    auto repr =
        udp ? UdpRepr::parse(*udp, ip_repr->src, ip_repr->dst) : Result<UdpRepr>(udp.error());
    EXPECT_TRUE(repr.ok()) << "stack sent a bad UDP datagram";
    if (repr) p.udp = *repr;
  }
  return p;
}

}  // namespace flowgate::test
