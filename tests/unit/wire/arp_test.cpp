#include "wire/arp.hpp"

#include <gtest/gtest.h>

#include "wire_test_util.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "wire/ethernet.hpp"

namespace flowgate::wire {
namespace {

constexpr MacAddress kMacA{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
constexpr MacAddress kMacB{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
constexpr Ipv4Address kIpA = Ipv4Address::from_octets(198, 18, 0, 1);
constexpr Ipv4Address kIpB = Ipv4Address::from_octets(198, 18, 0, 2);

// RFC 826 request: 02:00:00:00:00:02 / 198.18.0.2 asks who has 198.18.0.1 (broadcast).
constexpr std::array<uint8_t, 42> kRequestFrame = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
    0xc6, 0x12, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x01,
};

// The reply: 198.18.0.1 is at 02:00:00:00:00:01 (unicast back to the asker).
constexpr std::array<uint8_t, 42> kReplyFrame = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0xc6, 0x12, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc6, 0x12, 0x00, 0x02,
};

constexpr size_t kEth = 14;

std::vector<std::byte> arp_copy(const std::array<uint8_t, 42>& frame) {
  const Bytes arp = bytes_of(frame).subspan(kEth);
  return {arp.begin(), arp.end()};
}

TEST(Arp, RequestAccessors) {
  const Bytes arp = bytes_of(kRequestFrame).subspan(kEth);
  auto v = ArpReader::check(arp);
  ASSERT_TRUE(v.ok()) << to_string(v.error());
  EXPECT_EQ(v->htype(), 1);
  EXPECT_EQ(v->ptype(), 0x0800);
  EXPECT_EQ(v->hlen(), 6);
  EXPECT_EQ(v->plen(), 4);
  EXPECT_EQ(v->operation(), static_cast<uint16_t>(ArpOperation::request));
  EXPECT_EQ(v->sender_mac(), kMacB);
  EXPECT_EQ(v->sender_ip(), kIpB);
  EXPECT_EQ(v->target_mac(), MacAddress::zero());
  EXPECT_EQ(v->target_ip(), kIpA);
  EXPECT_EQ(v->bytes().size(), 28u);
}

TEST(Arp, RequestRoundTrip) {
  const Bytes frame = bytes_of(kRequestFrame);
  auto v = ArpReader::check(frame.subspan(kEth));
  ASSERT_TRUE(v.ok());
  const ArpRepr expected{static_cast<uint16_t>(ArpOperation::request), kMacB, kIpB,
                         MacAddress::zero(), kIpA};
  EXPECT_EQ(ArpRepr::parse(*v), expected);

  std::array<std::byte, 28> out;
  out.fill(std::byte{0xa5});
  EXPECT_EQ(expected.emit(out), 28u);
  EXPECT_EQ(hex(out), hex(frame.subspan(kEth)));

  // The whole frame, Ethernet header and ARP message, built from reprs.
  std::vector<std::byte> full(frame.size(), std::byte{0xa5});
  const EthernetRepr eth{MacAddress::broadcast(), kMacB, std::nullopt,
                         static_cast<uint16_t>(EtherType::arp)};
  const size_t at = eth.emit(full);
  EXPECT_EQ(expected.emit(MutableBytes(full).subspan(at)), ArpRepr::buffer_len());
  EXPECT_EQ(hex(full), hex(frame));
}

TEST(Arp, ReplyRoundTrip) {
  const Bytes frame = bytes_of(kReplyFrame);
  auto eth = EthernetReader::check(frame);
  ASSERT_TRUE(eth.ok());
  EXPECT_EQ(eth->dst(), kMacB);
  EXPECT_EQ(eth->src(), kMacA);
  EXPECT_EQ(eth->ethertype(), static_cast<uint16_t>(EtherType::arp));

  auto v = ArpReader::check(eth->payload());
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->operation(), static_cast<uint16_t>(ArpOperation::reply));
  const ArpRepr expected{static_cast<uint16_t>(ArpOperation::reply), kMacA, kIpA, kMacB, kIpB};
  EXPECT_EQ(ArpRepr::parse(*v), expected);

  std::array<std::byte, 28> out;
  out.fill(std::byte{0xa5});
  EXPECT_EQ(expected.emit(out), 28u);
  EXPECT_EQ(hex(out), hex(frame.subspan(kEth)));
}

TEST(Arp, UnknownOperationIsParsedAsIs) {
  auto arp = arp_copy(kRequestFrame);
  arp[7] = std::byte{3};  // RARP request (RFC 903)
  auto v = ArpReader::check(arp);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(ArpRepr::parse(*v).operation, 3);
}

TEST(Arp, EthernetPaddingIsTrimmed) {
  // On the wire the 42-byte request is padded to 60; the view covers only the 28-byte message.
  std::vector<std::byte> frame(60, std::byte{0});
  std::copy(bytes_of(kRequestFrame).begin(), bytes_of(kRequestFrame).end(), frame.begin());
  auto eth = EthernetReader::check(frame);
  ASSERT_TRUE(eth.ok());
  EXPECT_EQ(eth->payload().size(), 46u);
  auto v = ArpReader::check(eth->payload());
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->bytes().size(), 28u);
  EXPECT_EQ(ArpRepr::parse(*v).target_ip, kIpA);
}

TEST(Arp, Truncated) {
  const Bytes arp = bytes_of(kRequestFrame).subspan(kEth);
  for (size_t n = 0; n < 28; ++n) {
    auto v = ArpReader::check(arp.first(n));
    ASSERT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.error(), WireError::truncated) << n;
  }
}

TEST(Arp, UnsupportedHardwareType) {
  auto arp = arp_copy(kRequestFrame);
  store_be16(arp, 0, 6);  // IEEE 802 networks
  auto v = ArpReader::check(arp);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error(), WireError::unsupported);
}

TEST(Arp, UnsupportedProtocolType) {
  auto arp = arp_copy(kRequestFrame);
  store_be16(arp, 2, 0x86dd);
  auto v = ArpReader::check(arp);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error(), WireError::unsupported);
}

TEST(Arp, UnsupportedHardwareLength) {
  for (uint8_t hlen : std::array<uint8_t, 4>{0, 4, 8, 20}) {
    auto arp = arp_copy(kRequestFrame);
    arp[4] = std::byte{hlen};
    auto v = ArpReader::check(arp);
    ASSERT_FALSE(v.ok()) << int{hlen};
    EXPECT_EQ(v.error(), WireError::unsupported) << int{hlen};
  }
}

TEST(Arp, UnsupportedProtocolLength) {
  for (uint8_t plen : std::array<uint8_t, 3>{0, 6, 16}) {
    auto arp = arp_copy(kRequestFrame);
    arp[5] = std::byte{plen};
    auto v = ArpReader::check(arp);
    ASSERT_FALSE(v.ok()) << int{plen};
    EXPECT_EQ(v.error(), WireError::unsupported) << int{plen};
  }
}

}  // namespace
}  // namespace flowgate::wire
