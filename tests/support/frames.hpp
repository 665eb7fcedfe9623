// Building and taking apart whole frames for stack tests. Builders use the wire reprs'
// emit(); parsers use the checked views, so a test never hand-computes a checksum.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "wire/addresses.hpp"
#include "wire/arp.hpp"
#include "wire/ethernet.hpp"
#include "wire/icmp.hpp"
#include "wire/ipv4.hpp"
#include "wire/tcp.hpp"
#include "wire/udp.hpp"

namespace flowgate::test {

using Frame = std::vector<std::byte>;

// The lab's addresses: the stack under test and a Linux peer on the same /24.
inline const wire::MacAddress kOurMac = *wire::MacAddress::parse("02:00:00:00:00:01");
inline const wire::MacAddress kPeerMac = *wire::MacAddress::parse("02:00:00:00:00:02");
inline const wire::Ipv4Address kOurIp = wire::Ipv4Address::from_octets(198, 18, 0, 1);
inline const wire::Ipv4Address kPeerIp = wire::Ipv4Address::from_octets(198, 18, 0, 2);

std::vector<std::byte> bytes_of(std::initializer_list<int> values);
std::vector<std::byte> pattern(size_t n, uint8_t seed = 0);

Frame ethernet_frame(const wire::EthernetRepr& eth, wire::Bytes payload);
Frame arp_frame(const wire::MacAddress& eth_dst, const wire::MacAddress& eth_src,
                const wire::ArpRepr& arp);
// An IPv4 datagram (header from `ip`, whose payload_len is set from `payload`).
std::vector<std::byte> ipv4_datagram(wire::Ipv4Repr ip, wire::Bytes payload);
Frame ipv4_frame(const wire::MacAddress& eth_dst, const wire::MacAddress& eth_src,
                 wire::Ipv4Repr ip, wire::Bytes payload);
std::vector<std::byte> icmp_message(const wire::IcmpRepr& icmp);
std::vector<std::byte> udp_datagram(uint16_t src_port, uint16_t dst_port, wire::Bytes payload,
                                    wire::Ipv4Address src, wire::Ipv4Address dst);

// A TCP segment (header, options, payload) with its checksum, from src to dst.
std::vector<std::byte> tcp_segment(const wire::TcpRepr& tcp, wire::Ipv4Address src,
                                   wire::Ipv4Address dst);
// Peer -> us: a whole frame carrying `tcp` (ports, seq, flags... as given). `ip_tos` lets a
// test set ECN bits (3 = CE).
Frame peer_tcp_frame(const wire::TcpRepr& tcp, uint8_t ip_tos = 0);

// Peer -> us, with sensible defaults (TTL 64, id 1).
wire::Ipv4Repr peer_ip(uint8_t protocol, uint16_t id = 1);
Frame peer_udp_frame(uint16_t src_port, uint16_t dst_port, wire::Bytes payload);
Frame peer_echo_request_frame(uint16_t ident, uint16_t seq, wire::Bytes data);
// Splits an IPv4 datagram (header + payload) into frames with at most `mtu` bytes of IP each.
std::vector<Frame> fragment_frames(const wire::MacAddress& eth_dst, const wire::MacAddress& eth_src,
                                   wire::Ipv4Repr ip, wire::Bytes payload, size_t mtu);

// A frame the stack sent, taken apart. Fields are empty when the layer is absent.
struct ParsedFrame {
  ParsedFrame() = default;
  // The reprs point into ip_payload: moving keeps the vector's buffer, copying would not.
  ParsedFrame(const ParsedFrame&) = delete;
  ParsedFrame& operator=(const ParsedFrame&) = delete;
  ParsedFrame(ParsedFrame&&) = default;
  ParsedFrame& operator=(ParsedFrame&&) = default;

  Frame bytes;
  wire::EthernetRepr eth;
  std::optional<wire::ArpRepr> arp;
  std::optional<wire::Ipv4Repr> ip;
  std::vector<std::byte> ip_payload;   // after the IPv4 header (still fragmented if a fragment)
  std::optional<wire::IcmpRepr> icmp;  // data points into ip_payload
  std::optional<wire::UdpRepr> udp;    // payload points into ip_payload
  std::optional<wire::TcpRepr> tcp;    // payload points into ip_payload
};

// Parses everything the stack emits; a malformed frame fails the current test (the stack
// must never send one).
ParsedFrame parse_frame(const Frame& frame);

}  // namespace flowgate::test
