// The receive path below the transports: Ethernet filtering, 802.1Q, IPv4 validation in
// RFC 1122's order, padding, and the named drop counter for each failure.
#include <gtest/gtest.h>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::test {
namespace {

using wire::IpProtocol;
using wire::Ipv4Repr;

constexpr size_t kIpStart = 14;

StackConfig with_static_peer() {
  StackConfig c = lab_config();
  c.arp.static_entries.push_back({kPeerIp, kPeerMac});
  return c;
}

Frame valid_echo() {
  return peer_echo_request_frame(1, 1, pattern(56));
}

// Recomputes the IPv4 header checksum after a test edits the header.
void fix_ip_checksum(Frame& f) {
  const size_t ihl = (static_cast<size_t>(f[kIpStart]) & 0x0f) * 4;
  wire::store_be16(f, kIpStart + 10, 0);
  wire::store_be16(f, kIpStart + 10,
                   wire::internet_checksum(wire::Bytes(f.data() + kIpStart, ihl)));
}

TEST(EthernetInput, ShortFrameIsDropped) {
  StackHarness h;
  h.receive(bytes_of({1, 2, 3}));
  EXPECT_EQ(h.drops(DropReason::eth_truncated), 1u);
  EXPECT_EQ(h.events(Event::frames_received), 1u);
}

TEST(EthernetInput, FrameForAnotherMacIsDropped) {
  StackHarness h;
  auto f = valid_echo();
  wire::MacAddress::parse("02:00:00:00:00:99")->store(f, 0);
  h.receive(f);
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::eth_not_for_us), 1u);
}

TEST(EthernetInput, MulticastFrameIsDropped) {
  StackHarness h;
  auto f = valid_echo();
  wire::MacAddress::parse("01:00:5e:00:00:01")->store(f, 0);
  h.receive(f);
  EXPECT_EQ(h.drops(DropReason::eth_not_for_us), 1u);
}

TEST(EthernetInput, UnknownEthertypeIsDropped) {
  StackHarness h;
  auto f = valid_echo();
  wire::store_be16(f, 12, 0x86dd);  // IPv6
  h.receive(f);
  EXPECT_EQ(h.drops(DropReason::eth_unknown_ethertype), 1u);
}

TEST(EthernetInput, TaggedFrameWithoutConfiguredVlanIsDropped) {
  StackHarness h;
  auto icmp = icmp_message(wire::IcmpRepr::echo(wire::IcmpType::echo_request, 1, 1, pattern(8)));
  auto ip = ipv4_datagram(peer_ip(static_cast<uint8_t>(IpProtocol::icmp)), icmp);
  h.receive(ethernet_frame({kOurMac, kPeerMac, uint16_t{100}, 0x0800}, ip));
  EXPECT_EQ(h.drops(DropReason::eth_vlan_mismatch), 1u);
}

TEST(EthernetInput, ConfiguredVlanIsAcceptedAndRepliesAreTagged) {
  StackConfig c = with_static_peer();
  c.vlan_id = 100;
  StackHarness h(c);
  auto icmp = icmp_message(wire::IcmpRepr::echo(wire::IcmpType::echo_request, 1, 1, pattern(8)));
  auto ip = ipv4_datagram(peer_ip(static_cast<uint8_t>(IpProtocol::icmp)), icmp);
  h.receive(ethernet_frame({kOurMac, kPeerMac, uint16_t{100}, 0x0800}, ip));
  auto reply = h.expect_frame();
  ASSERT_TRUE(reply.eth.vlan_tci.has_value());
  EXPECT_EQ(*reply.eth.vlan_tci & 0x0fff, 100);
  ASSERT_TRUE(reply.icmp.has_value());
  // Untagged and other-VLAN frames are not ours.
  h.receive(valid_echo());
  h.receive(ethernet_frame({kOurMac, kPeerMac, uint16_t{200}, 0x0800}, ip));
  EXPECT_EQ(h.drops(DropReason::eth_vlan_mismatch), 2u);
}

TEST(Ipv4Input, BadHeaderChecksumIsDropped) {
  StackHarness h(with_static_peer());
  auto f = valid_echo();
  f[kIpStart + 10] ^= std::byte{0x40};
  h.receive(f);
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::ipv4_bad_checksum), 1u);
}

TEST(Ipv4Input, BadVersionIsDropped) {
  StackHarness h(with_static_peer());
  auto f = valid_echo();
  f[kIpStart] = std::byte{0x65};
  fix_ip_checksum(f);
  h.receive(f);
  EXPECT_EQ(h.drops(DropReason::ipv4_bad_version), 1u);
}

TEST(Ipv4Input, IhlBelowFiveIsDropped) {
  StackHarness h(with_static_peer());
  auto f = valid_echo();
  f[kIpStart] = std::byte{0x44};
  h.receive(f);
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::ipv4_bad_header_length), 1u);
}

TEST(Ipv4Input, TotalLengthBeyondTheFrameIsDropped) {
  StackHarness h(with_static_peer());
  auto f = valid_echo();
  f.resize(f.size() - 10);  // the frame lost its tail; the header still claims it
  h.receive(f);
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::ipv4_truncated), 1u);
}

TEST(Ipv4Input, TotalLengthSmallerThanHeaderIsDropped) {
  StackHarness h(with_static_peer());
  auto f = valid_echo();
  wire::store_be16(f, kIpStart + 2, 16);
  fix_ip_checksum(f);
  h.receive(f);
  EXPECT_EQ(h.drops(DropReason::ipv4_bad_total_length), 1u);
}

TEST(Ipv4Input, EthernetPaddingIsNeverTakenAsPayload) {
  StackHarness h(with_static_peer());
  // A 4-byte echo fits a minimum frame only with padding; the padding is junk.
  auto f = peer_echo_request_frame(9, 9, bytes_of({1, 2, 3, 4}));
  ASSERT_LT(f.size(), 60u);
  f.resize(60, std::byte{0xee});
  h.receive(f);
  auto reply = h.expect_frame();
  ASSERT_TRUE(reply.icmp.has_value());
  EXPECT_EQ(reply.icmp->data.size(), 4u);
  EXPECT_EQ(reply.ip->payload_len, 8u + 4u);
  EXPECT_EQ(h.stack.counters().total_drops(), 0u);
}

TEST(Ipv4Input, OptionsAreSkipped) {
  StackHarness h(with_static_peer());
  auto base = valid_echo();
  // Insert 4 bytes of options (NOP NOP NOP EOL) and set IHL to 6.
  Frame f(base.begin(), base.begin() + kIpStart + 20);
  for (int b : {1, 1, 1, 0}) f.push_back(static_cast<std::byte>(b));
  f.insert(f.end(), base.begin() + kIpStart + 20, base.end());
  f[kIpStart] = std::byte{0x46};
  wire::store_be16(f, kIpStart + 2, static_cast<uint16_t>(f.size() - kIpStart));
  fix_ip_checksum(f);
  h.receive(f);
  auto reply = h.expect_frame();
  ASSERT_TRUE(reply.icmp.has_value());
  EXPECT_EQ(reply.icmp->data.size(), 56u);
}

TEST(Ipv4Input, DatagramForAnotherAddressIsDropped) {
  StackHarness h(with_static_peer());
  Ipv4Repr ip = peer_ip(static_cast<uint8_t>(IpProtocol::icmp));
  ip.dst = wire::Ipv4Address::from_octets(198, 18, 0, 9);
  auto icmp = icmp_message(wire::IcmpRepr::echo(wire::IcmpType::echo_request, 1, 1, {}));
  h.receive(ipv4_frame(kOurMac, kPeerMac, ip, icmp));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::ipv4_not_for_us), 1u);
}

TEST(Ipv4Input, InvalidSourcesAreDropped) {
  StackHarness h(with_static_peer());
  auto icmp = icmp_message(wire::IcmpRepr::echo(wire::IcmpType::echo_request, 1, 1, {}));
  for (auto src :
       {wire::Ipv4Address::from_octets(255, 255, 255, 255),
        wire::Ipv4Address::from_octets(198, 18, 0, 255),
        wire::Ipv4Address::from_octets(224, 0, 0, 1), wire::Ipv4Address::from_octets(127, 0, 0, 1),
        wire::Ipv4Address::any(), kOurIp}) {
    Ipv4Repr ip = peer_ip(static_cast<uint8_t>(IpProtocol::icmp));
    ip.src = src;
    h.receive(ipv4_frame(kOurMac, kPeerMac, ip, icmp));
  }
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::ipv4_bad_source), 6u);
}

TEST(Ipv4Input, LowTtlIsAcceptedByAHost) {
  StackHarness h(with_static_peer());
  Ipv4Repr ip = peer_ip(static_cast<uint8_t>(IpProtocol::icmp));
  ip.ttl = 1;
  auto icmp = icmp_message(wire::IcmpRepr::echo(wire::IcmpType::echo_request, 1, 1, {}));
  h.receive(ipv4_frame(kOurMac, kPeerMac, ip, icmp));
  auto reply = h.expect_frame();
  ASSERT_TRUE(reply.icmp.has_value());
  EXPECT_EQ(reply.ip->ttl, 64) << "replies use the configured default TTL";
}

TEST(Ipv4Output, DontFragmentDatagramLargerThanMtuIsRefused) {
  StackHarness h(with_static_peer());
  PacketBuffer p;
  p.append(2000);
  Ipv4SendOptions o;
  o.dont_fragment = true;
  EXPECT_EQ(h.stack.ipv4().send(p, kPeerIp, 17, o, h.clock.now()), SendStatus::too_big);
  h.expect_no_frame();
  EXPECT_EQ(h.events(Event::ipv4_send_too_big_df), 1u);
}

TEST(Ipv4Output, FullLinkIsCounted) {
  StackHarness h(with_static_peer());
  h.link.refuse = true;
  h.receive(valid_echo());
  EXPECT_EQ(h.drops(DropReason::link_transmit_full), 1u);
}

TEST(Ipv4Output, IdentificationAdvancesPerDatagram) {
  StackHarness h(with_static_peer());
  h.receive(valid_echo());
  h.receive(valid_echo());
  auto a = h.expect_frame();
  auto b = h.expect_frame();
  EXPECT_EQ(static_cast<uint16_t>(a.ip->identification + 1), b.ip->identification);
}

}  // namespace
}  // namespace flowgate::test
