#include "wire/udp.hpp"

#include <gtest/gtest.h>

#include "wire_test_util.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wire/ethernet.hpp"
#include "wire/ipv4.hpp"

namespace flowgate::wire {
namespace {

std::string_view text(Bytes b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

WireError check_error(Bytes b) {
  auto v = UdpReader::check(b);
  return v.ok() ? WireError::ok : v.error();
}

constexpr MacAddress kMacA{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
constexpr MacAddress kMacB{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
constexpr Ipv4Address kIpA = Ipv4Address::from_octets(198, 18, 0, 1);
constexpr Ipv4Address kIpB = Ipv4Address::from_octets(198, 18, 0, 2);

// 198.18.0.2:40000 -> 198.18.0.1:7 (echo), DF, TTL 64, payload "flowgate says hi".
constexpr std::array<uint8_t, 58> kUdpFrame = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00,  // eth
    0x45, 0x00, 0x00, 0x2c, 0x4d, 0x2e, 0x40, 0x00, 0x40, 0x11, 0x61, 0x6b, 0xc6, 0x12,  // ip
    0x00, 0x02, 0xc6, 0x12, 0x00, 0x01,                                                  //
    0x9c, 0x40, 0x00, 0x07, 0x00, 0x18, 0xc8, 0x2d,                                      // udp
    0x66, 0x6c, 0x6f, 0x77, 0x67, 0x61, 0x74, 0x65, 0x20, 0x73, 0x61, 0x79, 0x73, 0x20,  // data
    0x68, 0x69,                                                                          //
};

constexpr size_t kUdpOffset = 14 + 20;

// 198.18.0.2:40000 -> 198.18.0.1:7 carrying "odd" (odd length; checksum 0404).
constexpr std::array<uint8_t, 11> kOddUdp = {
    0x9c, 0x40, 0x00, 0x07, 0x00, 0x0b, 0x04, 0x04, 0x6f, 0x64, 0x64,
};

// 198.18.0.2:9999 -> 198.18.0.1:53 carrying "zz" d1 ef: the last two bytes were solved so the
// computed checksum is 0000, which RFC 768 says to transmit as ffff.
constexpr std::array<uint8_t, 46> kZeroSumFrame = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00,  // eth
    0x45, 0x00, 0x00, 0x20, 0x00, 0x07, 0x00, 0x00, 0x40, 0x11, 0xee, 0x9e, 0xc6, 0x12,  // ip
    0x00, 0x02, 0xc6, 0x12, 0x00, 0x01,                                                  //
    0x27, 0x0f, 0x00, 0x35, 0x00, 0x0c, 0xff, 0xff,                                      // udp
    0x7a, 0x7a, 0xd1, 0xef,                                                              // data
};

TEST(Udp, Accessors) {
  const Bytes frame = bytes_of(kUdpFrame);
  auto eth = EthernetReader::check(frame);
  ASSERT_TRUE(eth.ok());
  auto ip = Ipv4Reader::check(eth->payload());
  ASSERT_TRUE(ip.ok());
  ASSERT_EQ(ip->protocol(), static_cast<uint8_t>(IpProtocol::udp));

  auto v = UdpReader::check(ip->payload());
  ASSERT_TRUE(v.ok()) << to_string(v.error());
  EXPECT_EQ(v->src_port(), 40000);
  EXPECT_EQ(v->dst_port(), 7);
  EXPECT_EQ(v->length(), 24);
  EXPECT_EQ(v->checksum(), 0xc82d);
  EXPECT_TRUE(v->checksum_valid(kIpB, kIpA));
  EXPECT_EQ(v->bytes().size(), 24u);
  EXPECT_EQ(v->payload().data(), frame.data() + kUdpOffset + 8);
  EXPECT_EQ(text(v->payload()), "flowgate says hi");
}

TEST(Udp, ReprRoundTrip) {
  const Bytes udp = bytes_of(kUdpFrame).subspan(kUdpOffset);
  auto v = UdpReader::check(udp);
  ASSERT_TRUE(v.ok());
  auto repr = UdpRepr::parse(*v, kIpB, kIpA);
  ASSERT_TRUE(repr.ok()) << to_string(repr.error());
  EXPECT_EQ(repr->src_port, 40000);
  EXPECT_EQ(repr->dst_port, 7);
  EXPECT_EQ(repr->payload.data(), udp.data() + 8);  // borrowed
  EXPECT_EQ(text(repr->payload), "flowgate says hi");
  EXPECT_EQ(repr->buffer_len(), 24u);

  const UdpRepr built{40000, 7, udp.subspan(8)};
  std::array<std::byte, 24> out;
  out.fill(std::byte{0xa5});
  EXPECT_EQ(built.emit(out, kIpB, kIpA), 24u);
  EXPECT_EQ(hex(out), hex(udp));
}

TEST(Udp, FullFrameFromReprs) {
  const Bytes payload = bytes_of(kUdpFrame).subspan(kUdpOffset + 8);
  const EthernetRepr eth{kMacA, kMacB, std::nullopt, static_cast<uint16_t>(EtherType::ipv4)};
  const UdpRepr udp{40000, 7, payload};
  Ipv4Repr ip;
  ip.src = kIpB;
  ip.dst = kIpA;
  ip.protocol = static_cast<uint8_t>(IpProtocol::udp);
  ip.ttl = 64;
  ip.identification = 0x4d2e;
  ip.dont_fragment = true;
  ip.payload_len = static_cast<uint16_t>(udp.buffer_len());

  std::vector<std::byte> out(kUdpFrame.size(), std::byte{0xa5});
  size_t at = eth.emit(out);
  at += ip.emit(MutableBytes(out).subspan(at));
  at += udp.emit(MutableBytes(out).subspan(at), ip.src, ip.dst);
  EXPECT_EQ(at, kUdpFrame.size());
  EXPECT_EQ(hex(out), hex(bytes_of(kUdpFrame)));
}

TEST(Udp, OddLengthPayload) {
  const Bytes udp = bytes_of(kOddUdp);
  auto v = UdpReader::check(udp);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->length(), 11);
  EXPECT_TRUE(v->checksum_valid(kIpB, kIpA));
  auto repr = UdpRepr::parse(*v, kIpB, kIpA);
  ASSERT_TRUE(repr.ok());
  EXPECT_EQ(text(repr->payload), "odd");

  std::array<std::byte, 11> out;
  out.fill(std::byte{0xa5});
  EXPECT_EQ(repr->emit(out, kIpB, kIpA), 11u);
  EXPECT_EQ(hex(out), hex(udp));
}

TEST(Udp, PseudoHeaderIsCovered) {
  const Bytes udp = bytes_of(kUdpFrame).subspan(kUdpOffset);
  auto v = UdpReader::check(udp);
  ASSERT_TRUE(v.ok());
  const Ipv4Address other = Ipv4Address::from_octets(198, 18, 0, 3);
  EXPECT_FALSE(v->checksum_valid(other, kIpA));
  EXPECT_FALSE(v->checksum_valid(kIpB, other));
  auto repr = UdpRepr::parse(*v, kIpB, other);
  ASSERT_FALSE(repr.ok());
  EXPECT_EQ(repr.error(), WireError::bad_checksum);
}

TEST(Udp, BadChecksum) {
  for (size_t byte : {0u, 1u, 2u, 3u, 6u, 7u, 8u, 23u}) {
    auto udp = copy_of(kUdpFrame);
    udp.erase(udp.begin(), udp.begin() + kUdpOffset);
    udp[byte] ^= std::byte{0x10};
    auto v = UdpReader::check(udp);
    ASSERT_TRUE(v.ok()) << byte;
    EXPECT_FALSE(v->checksum_valid(kIpB, kIpA)) << byte;
    auto repr = UdpRepr::parse(*v, kIpB, kIpA);
    ASSERT_FALSE(repr.ok()) << byte;
    EXPECT_EQ(repr.error(), WireError::bad_checksum) << byte;
  }
}

// RFC 768: an all-zero checksum means none was computed; the datagram is accepted as is.
TEST(Udp, ZeroChecksumIsAccepted) {
  auto udp = copy_of(kUdpFrame);
  udp.erase(udp.begin(), udp.begin() + kUdpOffset);
  store_be16(udp, 6, 0);
  udp[10] ^= std::byte{0xff};  // even a corrupted payload: nothing to check it against
  auto v = UdpReader::check(udp);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->checksum(), 0);
  EXPECT_TRUE(v->checksum_valid(kIpB, kIpA));
  auto repr = UdpRepr::parse(*v, kIpB, kIpA);
  ASSERT_TRUE(repr.ok());
  EXPECT_EQ(repr->src_port, 40000);
}

// RFC 768: "If the computed checksum is zero, it is transmitted as all ones".
TEST(Udp, ComputedZeroIsEmittedAsAllOnes) {
  const Bytes frame = bytes_of(kZeroSumFrame);
  const Bytes udp = frame.subspan(kUdpOffset);

  // The golden datagram really sums to zero: with its checksum field cleared, the sum over
  // the pseudo-header and datagram is ffff, so the computed checksum is 0000.
  auto cleared = std::vector<std::byte>(udp.begin(), udp.end());
  store_be16(cleared, 6, 0);
  ChecksumAccumulator acc;
  add_pseudo_header(acc, kIpB, kIpA, static_cast<uint8_t>(IpProtocol::udp), 12);
  acc.add(cleared);
  EXPECT_EQ(acc.finish(), 0x0000);

  const UdpRepr built{9999, 53, udp.subspan(8)};
  std::array<std::byte, 12> out;
  out.fill(std::byte{0xa5});
  EXPECT_EQ(built.emit(out, kIpB, kIpA), 12u);
  EXPECT_EQ(load_be16(out, 6), 0xffff);
  EXPECT_EQ(hex(out), hex(udp));

  // And ffff verifies on receive.
  auto eth = EthernetReader::check(frame);
  ASSERT_TRUE(eth.ok());
  auto ip = Ipv4Reader::check(eth->payload());
  ASSERT_TRUE(ip.ok());
  ASSERT_TRUE(Ipv4Repr::parse(*ip).ok());
  auto v = UdpReader::check(ip->payload());
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->checksum_valid(ip->src(), ip->dst()));
  auto repr = UdpRepr::parse(*v, ip->src(), ip->dst());
  ASSERT_TRUE(repr.ok());
  EXPECT_EQ(repr->dst_port, 53);
}

TEST(Udp, Truncated) {
  const Bytes udp = bytes_of(kUdpFrame).subspan(kUdpOffset);
  for (size_t n = 0; n < 8; ++n) EXPECT_EQ(check_error(udp.first(n)), WireError::truncated) << n;
}

TEST(Udp, LengthBelowHeader) {
  for (uint16_t len = 0; len < 8; ++len) {
    auto udp = copy_of(kUdpFrame);
    udp.erase(udp.begin(), udp.begin() + kUdpOffset);
    store_be16(udp, 4, len);
    EXPECT_EQ(check_error(udp), WireError::bad_total_length) << len;
  }
}

TEST(Udp, LengthBeyondBuffer) {
  const Bytes udp = bytes_of(kUdpFrame).subspan(kUdpOffset);
  // Every cut between the header and the length field.
  for (size_t n = 8; n < udp.size(); ++n) {
    EXPECT_EQ(check_error(udp.first(n)), WireError::bad_total_length) << n;
  }
  EXPECT_EQ(check_error(udp), WireError::ok);
  auto longer = std::vector<std::byte>(udp.begin(), udp.end());
  store_be16(longer, 4, 25);
  EXPECT_EQ(check_error(longer), WireError::bad_total_length);
  store_be16(longer, 4, 0xffff);
  EXPECT_EQ(check_error(longer), WireError::bad_total_length);
}

TEST(Udp, ViewIsTrimmedToLength) {
  // Bytes after `length` (inside the IP payload) are not part of the datagram.
  auto udp = copy_of(kUdpFrame);
  udp.erase(udp.begin(), udp.begin() + kUdpOffset);
  udp.insert(udp.end(), {std::byte{0xde}, std::byte{0xad}, std::byte{0xbe}});
  auto v = UdpReader::check(udp);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->bytes().size(), 24u);
  EXPECT_EQ(v->payload().size(), 16u);
  EXPECT_EQ(text(v->payload()), "flowgate says hi");
  EXPECT_TRUE(v->checksum_valid(kIpB, kIpA));  // trailing bytes are not summed

  // A shorter length field trims the payload, and the checksum covers only that much.
  auto short_udp = copy_of(kUdpFrame);
  short_udp.erase(short_udp.begin(), short_udp.begin() + kUdpOffset);
  constexpr std::array<uint8_t, 4> flow = {0x66, 0x6c, 0x6f, 0x77};
  const UdpRepr four{40000, 7, bytes_of(flow)};
  four.emit(short_udp, kIpB, kIpA);  // rewrites the first 12 bytes; the rest stays
  auto trimmed = UdpReader::check(short_udp);
  ASSERT_TRUE(trimmed.ok());
  EXPECT_EQ(trimmed->length(), 12);
  EXPECT_EQ(text(trimmed->payload()), "flow");
  EXPECT_TRUE(trimmed->checksum_valid(kIpB, kIpA));
}

TEST(Udp, EmptyPayload) {
  const UdpRepr built{5000, 6000, Bytes{}};
  std::array<std::byte, 8> out;
  out.fill(std::byte{0xa5});
  EXPECT_EQ(built.emit(out, kIpB, kIpA), 8u);
  constexpr std::array<uint8_t, 8> expected = {0x13, 0x88, 0x17, 0x70, 0x00, 0x08, 0x48, 0xbe};
  EXPECT_EQ(hex(out), hex(bytes_of(expected)));
  auto v = UdpReader::check(out);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->payload().empty());
  EXPECT_TRUE(UdpRepr::parse(*v, kIpB, kIpA).ok());
}

}  // namespace
}  // namespace flowgate::wire
