#include "wire/ethernet.hpp"

#include <gtest/gtest.h>

#include "wire_test_util.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "wire/ipv4.hpp"
#include "wire/udp.hpp"

namespace flowgate::wire {
namespace {

constexpr MacAddress kHostA{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
constexpr MacAddress kHostB{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};

// 02:00:00:00:00:02 (198.18.0.2) broadcasts "who has 198.18.0.1": Ethernet II, type 0806.
constexpr std::array<uint8_t, 42> kArpRequestFrame = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
    0xc6, 0x12, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x01,
};

// The same request with an 802.1Q tag: PCP 5, DEI 0, VID 100 -> TCI a064.
constexpr std::array<uint8_t, 46> kVlanArpRequestFrame = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x81, 0x00, 0xa0, 0x64,
    0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
    0xc6, 0x12, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x01,
};

// A minimum-size frame: IPv4 (total length 28) carrying an empty UDP datagram
// 198.18.0.2:5000 -> 198.18.0.1:6000, then 18 bytes of Ethernet padding up to 60.
constexpr std::array<uint8_t, 60> kPaddedUdpFrame = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x45,
    0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0xee, 0xa8, 0xc6, 0x12, 0x00, 0x02,
    0xc6, 0x12, 0x00, 0x01, 0x13, 0x88, 0x17, 0x70, 0x00, 0x08, 0x48, 0xbe, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

TEST(Ethernet, UntaggedAccessors) {
  const Bytes frame = bytes_of(kArpRequestFrame);
  auto v = EthernetReader::check(frame);
  ASSERT_TRUE(v.ok()) << to_string(v.error());
  EXPECT_EQ(v->dst(), MacAddress::broadcast());
  EXPECT_EQ(v->src(), kHostB);
  EXPECT_EQ(v->outer_type(), 0x0806);
  EXPECT_FALSE(v->has_vlan());
  EXPECT_FALSE(v->vlan_tci().has_value());
  EXPECT_EQ(v->ethertype(), static_cast<uint16_t>(EtherType::arp));
  EXPECT_EQ(v->header_len(), 14u);
  EXPECT_EQ(v->payload().data(), frame.data() + 14);
  EXPECT_EQ(v->payload().size(), 28u);
  EXPECT_EQ(v->bytes().size(), frame.size());
}

TEST(Ethernet, UntaggedReprRoundTrip) {
  const Bytes frame = bytes_of(kArpRequestFrame);
  auto v = EthernetReader::check(frame);
  ASSERT_TRUE(v.ok());
  const EthernetRepr repr = EthernetRepr::parse(*v);
  const EthernetRepr expected{MacAddress::broadcast(), kHostB, std::nullopt,
                              static_cast<uint16_t>(EtherType::arp)};
  EXPECT_EQ(repr, expected);
  EXPECT_EQ(repr.buffer_len(), 14u);

  // Emit into a frame-sized buffer: the header is exact and nothing past it is touched.
  std::vector<std::byte> out(frame.size(), std::byte{0xa5});
  EXPECT_EQ(expected.emit(out), 14u);
  EXPECT_EQ(hex(Bytes(out).first(14)), hex(frame.first(14)));
  for (size_t i = 14; i < out.size(); ++i) EXPECT_EQ(out[i], std::byte{0xa5}) << i;
}

TEST(Ethernet, VlanTaggedAccessors) {
  const Bytes frame = bytes_of(kVlanArpRequestFrame);
  auto v = EthernetReader::check(frame);
  ASSERT_TRUE(v.ok()) << to_string(v.error());
  EXPECT_EQ(v->dst(), MacAddress::broadcast());
  EXPECT_EQ(v->src(), kHostB);
  EXPECT_EQ(v->outer_type(), static_cast<uint16_t>(EtherType::vlan));
  EXPECT_TRUE(v->has_vlan());
  ASSERT_TRUE(v->vlan_tci().has_value());
  EXPECT_EQ(*v->vlan_tci(), 0xa064);
  EXPECT_EQ(*v->vlan_tci() >> 13, 5);       // PCP
  EXPECT_EQ(*v->vlan_tci() & 0x0fff, 100);  // VID
  EXPECT_EQ(v->ethertype(), static_cast<uint16_t>(EtherType::arp));
  EXPECT_EQ(v->header_len(), 18u);
  EXPECT_EQ(v->payload().data(), frame.data() + 18);
  EXPECT_EQ(v->payload().size(), 28u);
  // The payload is the same ARP message as in the untagged frame.
  EXPECT_EQ(hex(v->payload()), hex(bytes_of(kArpRequestFrame).subspan(14)));
}

TEST(Ethernet, VlanTaggedReprRoundTrip) {
  const Bytes frame = bytes_of(kVlanArpRequestFrame);
  auto v = EthernetReader::check(frame);
  ASSERT_TRUE(v.ok());
  const EthernetRepr expected{MacAddress::broadcast(), kHostB, uint16_t{0xa064},
                              static_cast<uint16_t>(EtherType::arp)};
  EXPECT_EQ(EthernetRepr::parse(*v), expected);
  EXPECT_EQ(expected.buffer_len(), 18u);

  std::vector<std::byte> out(frame.size(), std::byte{0xa5});
  EXPECT_EQ(expected.emit(out), 18u);
  EXPECT_EQ(hex(Bytes(out).first(18)), hex(frame.first(18)));
  for (size_t i = 18; i < out.size(); ++i) EXPECT_EQ(out[i], std::byte{0xa5}) << i;
}

TEST(Ethernet, FullFrameRoundTrip) {
  // Header emitted by the repr, payload copied: the whole golden frame comes back.
  const Bytes frame = bytes_of(kPaddedUdpFrame);
  auto v = EthernetReader::check(frame);
  ASSERT_TRUE(v.ok());
  const EthernetRepr repr = EthernetRepr::parse(*v);
  EXPECT_EQ(repr, (EthernetRepr{kHostA, kHostB, std::nullopt, 0x0800}));
  std::vector<std::byte> out(frame.size(), std::byte{0xa5});
  const size_t at = repr.emit(out);
  std::copy(v->payload().begin(), v->payload().end(), out.begin() + static_cast<ptrdiff_t>(at));
  EXPECT_EQ(hex(out), hex(frame));
}

TEST(Ethernet, TruncatedUntagged) {
  const Bytes frame = bytes_of(kArpRequestFrame);
  for (size_t n = 0; n < 14; ++n) {
    auto v = EthernetReader::check(frame.first(n));
    ASSERT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.error(), WireError::truncated) << n;
  }
  // A bare header is a valid (empty-payload) frame.
  auto bare = EthernetReader::check(frame.first(14));
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(bare->payload().empty());
}

TEST(Ethernet, TruncatedVlanTag) {
  const Bytes frame = bytes_of(kVlanArpRequestFrame);
  for (size_t n = 0; n < 18; ++n) {
    auto v = EthernetReader::check(frame.first(n));
    ASSERT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.error(), WireError::truncated) << n;
  }
  auto bare = EthernetReader::check(frame.first(18));
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->vlan_tci(), uint16_t{0xa064});
  EXPECT_EQ(bare->ethertype(), 0x0806);
  EXPECT_TRUE(bare->payload().empty());
}

TEST(Ethernet, MutableViewWritesThroughPayload) {
  std::array<std::byte, 20> buf;
  buf.fill(std::byte{0xa5});
  auto v = EthernetView<std::byte>::check(buf);
  ASSERT_TRUE(v.ok());
  std::span<std::byte> payload = v->payload();
  ASSERT_EQ(payload.size(), 6u);
  payload[0] = std::byte{0x42};
  EXPECT_EQ(buf[14], std::byte{0x42});
}

// A short frame is padded to 60 bytes; the padding is not data. The Ethernet payload runs to
// the end of the frame, IPv4 trims it to its total length, UDP to its length field.
TEST(Ethernet, PaddingIsTrimmedByTheNetworkLayer) {
  const Bytes frame = bytes_of(kPaddedUdpFrame);
  ASSERT_EQ(frame.size(), EthernetReader::kMinFrameLen);
  auto eth = EthernetReader::check(frame);
  ASSERT_TRUE(eth.ok());
  EXPECT_EQ(eth->ethertype(), static_cast<uint16_t>(EtherType::ipv4));
  EXPECT_EQ(eth->payload().size(), 46u);  // 28 bytes of datagram + 18 of padding

  auto ip = Ipv4Reader::check(eth->payload());
  ASSERT_TRUE(ip.ok()) << to_string(ip.error());
  EXPECT_EQ(ip->total_len(), 28);
  EXPECT_EQ(ip->bytes().size(), 28u);
  EXPECT_EQ(ip->bytes().data(), frame.data() + 14);
  EXPECT_EQ(ip->payload().size(), 8u);
  auto ip_repr = Ipv4Repr::parse(*ip);
  ASSERT_TRUE(ip_repr.ok());
  EXPECT_EQ(ip_repr->payload_len, 8);

  auto udp = UdpReader::check(ip->payload());
  ASSERT_TRUE(udp.ok()) << to_string(udp.error());
  EXPECT_EQ(udp->src_port(), 5000);
  EXPECT_EQ(udp->dst_port(), 6000);
  EXPECT_EQ(udp->length(), 8);
  EXPECT_EQ(udp->checksum(), 0x48be);
  EXPECT_TRUE(udp->checksum_valid(ip->src(), ip->dst()));
  EXPECT_TRUE(udp->payload().empty());
}

}  // namespace
}  // namespace flowgate::wire
