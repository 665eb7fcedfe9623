#include "wire/icmp.hpp"

#include <gtest/gtest.h>

#include "wire_test_util.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "wire/ethernet.hpp"
#include "wire/ipv4.hpp"

namespace flowgate::wire {
namespace {

constexpr MacAddress kMacA{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
constexpr MacAddress kMacB{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
constexpr Ipv4Address kIpA = Ipv4Address::from_octets(198, 18, 0, 1);
constexpr Ipv4Address kIpB = Ipv4Address::from_octets(198, 18, 0, 2);

// `ping 198.18.0.1` from 198.18.0.2 on Linux: ICMP echo request, identifier 1c2d, sequence 1,
// 56 bytes of data: a 16-byte struct timeval (little-endian) and then the bytes 10..37.
constexpr std::array<uint8_t, 98> kPingFrame = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00,  // eth
    0x45, 0x00, 0x00, 0x54, 0xb5, 0xa1, 0x40, 0x00, 0x40, 0x01, 0xf8, 0xdf, 0xc6, 0x12,  // ip
    0x00, 0x02, 0xc6, 0x12, 0x00, 0x01,                                                  //
    0x08, 0x00, 0x12, 0x14, 0x1c, 0x2d, 0x00, 0x01,                                      // icmp
    0xc3, 0xb2, 0xa1, 0x65, 0x00, 0x00, 0x00, 0x00, 0xa1, 0xd2, 0x04, 0x00, 0x00, 0x00,  // data
    0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,  //
    0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29,  //
    0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,  //
};

// The reply from 198.18.0.1 (IP ID 3f07, no DF) echoing identifier, sequence and data.
constexpr std::array<uint8_t, 98> kPongFrame = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,  // eth
    0x45, 0x00, 0x00, 0x54, 0x3f, 0x07, 0x00, 0x00, 0x40, 0x01, 0xaf, 0x7a, 0xc6, 0x12,  // ip
    0x00, 0x01, 0xc6, 0x12, 0x00, 0x02,                                                  //
    0x00, 0x00, 0x1a, 0x14, 0x1c, 0x2d, 0x00, 0x01,                                      // icmp
    0xc3, 0xb2, 0xa1, 0x65, 0x00, 0x00, 0x00, 0x00, 0xa1, 0xd2, 0x04, 0x00, 0x00, 0x00,  // data
    0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,  //
    0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29,  //
    0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,  //
};

constexpr size_t kIcmpOffset = 14 + 20;

// RFC 1191 "fragmentation needed and DF set", next-hop MTU 1400, quoting the IPv4 header and
// first 8 bytes of a UDP datagram 198.18.0.2:40000 -> 198.18.0.1:7.
constexpr std::array<uint8_t, 36> kFragNeeded = {
    0x03, 0x04, 0x92, 0xf6, 0x00, 0x00, 0x05, 0x78, 0x45, 0x00, 0x00, 0x2c,
    0x4d, 0x2e, 0x40, 0x00, 0x40, 0x11, 0x61, 0x6b, 0xc6, 0x12, 0x00, 0x02,
    0xc6, 0x12, 0x00, 0x01, 0x9c, 0x40, 0x00, 0x07, 0x00, 0x18, 0xc8, 0x2d,
};

// An echo request with 7 bytes of data ("abcdefg"): the checksum pads the odd byte.
constexpr std::array<uint8_t, 15> kOddEcho = {
    0x08, 0x00, 0x4a, 0xa3, 0x1c, 0x2d, 0x00, 0x02, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
};

TEST(Icmp, EchoRequestAccessors) {
  const Bytes frame = bytes_of(kPingFrame);
  auto eth = EthernetReader::check(frame);
  ASSERT_TRUE(eth.ok());
  auto ip = Ipv4Reader::check(eth->payload());
  ASSERT_TRUE(ip.ok());
  ASSERT_EQ(ip->protocol(), static_cast<uint8_t>(IpProtocol::icmp));

  auto v = IcmpReader::check(ip->payload());
  ASSERT_TRUE(v.ok()) << to_string(v.error());
  EXPECT_EQ(v->type(), static_cast<uint8_t>(IcmpType::echo_request));
  EXPECT_EQ(v->code(), 0);
  EXPECT_EQ(v->checksum(), 0x1214);
  EXPECT_EQ(v->rest_of_header(), 0x1c2d0001u);
  EXPECT_EQ(v->echo_identifier(), 0x1c2d);
  EXPECT_EQ(v->echo_sequence(), 1);
  EXPECT_TRUE(v->checksum_valid());
  EXPECT_EQ(v->bytes().size(), 64u);
  EXPECT_EQ(v->data().data(), frame.data() + kIcmpOffset + 8);
  ASSERT_EQ(v->data().size(), 56u);
  EXPECT_EQ(v->data()[16], std::byte{0x10});
  EXPECT_EQ(v->data()[55], std::byte{0x37});
}

TEST(Icmp, EchoRequestRoundTrip) {
  const Bytes frame = bytes_of(kPingFrame);
  const Bytes icmp = frame.subspan(kIcmpOffset);
  auto v = IcmpReader::check(icmp);
  ASSERT_TRUE(v.ok());
  auto repr = IcmpRepr::parse(*v);
  ASSERT_TRUE(repr.ok()) << to_string(repr.error());
  EXPECT_EQ(repr->type, 8);
  EXPECT_EQ(repr->code, 0);
  EXPECT_EQ(repr->rest_of_header, 0x1c2d0001u);
  EXPECT_EQ(repr->echo_identifier(), 0x1c2d);
  EXPECT_EQ(repr->echo_sequence(), 1);
  EXPECT_EQ(repr->data.data(), icmp.data() + 8);  // borrowed, not copied
  EXPECT_EQ(repr->data.size(), 56u);
  EXPECT_EQ(repr->buffer_len(), 64u);

  const IcmpRepr built = IcmpRepr::echo(IcmpType::echo_request, 0x1c2d, 1, icmp.subspan(8));
  EXPECT_EQ(built.type, repr->type);
  EXPECT_EQ(built.code, repr->code);
  EXPECT_EQ(built.rest_of_header, repr->rest_of_header);
  std::array<std::byte, 64> out;
  out.fill(std::byte{0xa5});
  EXPECT_EQ(built.emit(out), 64u);
  EXPECT_EQ(hex(out), hex(icmp));
}

TEST(Icmp, EchoRequestFullFrameFromReprs) {
  const Bytes data = bytes_of(kPingFrame).subspan(kIcmpOffset + 8);
  const EthernetRepr eth{kMacA, kMacB, std::nullopt, static_cast<uint16_t>(EtherType::ipv4)};
  const IcmpRepr icmp = IcmpRepr::echo(IcmpType::echo_request, 0x1c2d, 1, data);
  Ipv4Repr ip;
  ip.src = kIpB;
  ip.dst = kIpA;
  ip.protocol = static_cast<uint8_t>(IpProtocol::icmp);
  ip.ttl = 64;
  ip.identification = 0xb5a1;
  ip.dont_fragment = true;
  ip.payload_len = static_cast<uint16_t>(icmp.buffer_len());

  std::vector<std::byte> out(kPingFrame.size(), std::byte{0xa5});
  size_t at = eth.emit(out);
  at += ip.emit(MutableBytes(out).subspan(at));
  at += icmp.emit(MutableBytes(out).subspan(at));
  EXPECT_EQ(at, kPingFrame.size());
  EXPECT_EQ(hex(out), hex(bytes_of(kPingFrame)));
}

TEST(Icmp, EchoReplyBuiltFromRequest) {
  const Bytes request = bytes_of(kPingFrame);
  auto eth_in = EthernetReader::check(request);
  ASSERT_TRUE(eth_in.ok());
  auto ip_in = Ipv4Reader::check(eth_in->payload());
  ASSERT_TRUE(ip_in.ok());
  auto icmp_in = IcmpReader::check(ip_in->payload());
  ASSERT_TRUE(icmp_in.ok());
  auto echo = IcmpRepr::parse(*icmp_in);
  ASSERT_TRUE(echo.ok());

  const EthernetRepr eth{eth_in->src(), eth_in->dst(), std::nullopt,
                         static_cast<uint16_t>(EtherType::ipv4)};
  const IcmpRepr reply = IcmpRepr::echo(IcmpType::echo_reply, echo->echo_identifier(),
                                        echo->echo_sequence(), echo->data);
  Ipv4Repr ip;
  ip.src = ip_in->dst();
  ip.dst = ip_in->src();
  ip.protocol = static_cast<uint8_t>(IpProtocol::icmp);
  ip.ttl = 64;
  ip.identification = 0x3f07;
  ip.payload_len = static_cast<uint16_t>(reply.buffer_len());

  std::vector<std::byte> out(kPongFrame.size(), std::byte{0xa5});
  size_t at = eth.emit(out);
  at += ip.emit(MutableBytes(out).subspan(at));
  at += reply.emit(MutableBytes(out).subspan(at));
  EXPECT_EQ(at, kPongFrame.size());
  EXPECT_EQ(hex(out), hex(bytes_of(kPongFrame)));

  auto pong = IcmpReader::check(bytes_of(kPongFrame).subspan(kIcmpOffset));
  ASSERT_TRUE(pong.ok());
  EXPECT_EQ(pong->type(), static_cast<uint8_t>(IcmpType::echo_reply));
  EXPECT_EQ(pong->checksum(), 0x1a14);
  EXPECT_TRUE(pong->checksum_valid());
}

TEST(Icmp, FragmentationNeeded) {
  const Bytes msg = bytes_of(kFragNeeded);
  auto v = IcmpReader::check(msg);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->type(), static_cast<uint8_t>(IcmpType::destination_unreachable));
  EXPECT_EQ(v->code(), static_cast<uint8_t>(IcmpUnreachableCode::fragmentation_needed));
  EXPECT_EQ(v->checksum(), 0x92f6);
  EXPECT_EQ(v->rest_of_header(), 1400u);
  EXPECT_EQ(v->next_hop_mtu(), 1400);
  EXPECT_TRUE(v->checksum_valid());
  ASSERT_EQ(v->data().size(), 28u);
  EXPECT_EQ(v->data()[0], std::byte{0x45});  // the quoted IPv4 header

  auto repr = IcmpRepr::parse(*v);
  ASSERT_TRUE(repr.ok());
  EXPECT_EQ(repr->type, 3);
  EXPECT_EQ(repr->code, 4);
  EXPECT_EQ(repr->rest_of_header, 1400u);
  EXPECT_EQ(repr->data.data(), msg.data() + 8);

  const IcmpRepr built{3, 4, 1400, msg.subspan(8)};
  std::array<std::byte, 36> out;
  out.fill(std::byte{0xa5});
  EXPECT_EQ(built.emit(out), 36u);
  EXPECT_EQ(hex(out), hex(msg));
}

TEST(Icmp, OddLengthData) {
  const Bytes msg = bytes_of(kOddEcho);
  auto v = IcmpReader::check(msg);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->checksum_valid());
  EXPECT_EQ(v->echo_sequence(), 2);
  auto repr = IcmpRepr::parse(*v);
  ASSERT_TRUE(repr.ok());
  EXPECT_EQ(repr->data.size(), 7u);

  const IcmpRepr built = IcmpRepr::echo(IcmpType::echo_request, 0x1c2d, 2, msg.subspan(8));
  std::array<std::byte, 15> out;
  out.fill(std::byte{0xa5});
  EXPECT_EQ(built.emit(out), 15u);
  EXPECT_EQ(hex(out), hex(msg));
}

TEST(Icmp, HeaderOnlyMessage) {
  const IcmpRepr built = IcmpRepr::echo(IcmpType::echo_request, 0x0102, 0x0304, Bytes{});
  std::array<std::byte, 8> out;
  out.fill(std::byte{0xa5});
  EXPECT_EQ(built.emit(out), 8u);
  // ~(0800 + 0102 + 0304) = ~0c06 = f3f9
  constexpr std::array<uint8_t, 8> expected = {0x08, 0x00, 0xf3, 0xf9, 0x01, 0x02, 0x03, 0x04};
  EXPECT_EQ(hex(out), hex(bytes_of(expected)));

  auto v = IcmpReader::check(out);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->data().empty());
  auto repr = IcmpRepr::parse(*v);
  ASSERT_TRUE(repr.ok());
  EXPECT_TRUE(repr->data.empty());
}

TEST(Icmp, Truncated) {
  const Bytes msg = bytes_of(kPingFrame).subspan(kIcmpOffset);
  for (size_t n = 0; n < 8; ++n) {
    auto v = IcmpReader::check(msg.first(n));
    ASSERT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.error(), WireError::truncated) << n;
  }
}

TEST(Icmp, BadChecksum) {
  // check() only checks the length; the checksum over the whole message is verified by parse.
  for (size_t byte : {0u, 1u, 2u, 3u, 4u, 7u, 8u, 40u, 63u}) {
    auto msg = copy_of(kPingFrame);
    msg.erase(msg.begin(), msg.begin() + kIcmpOffset);
    msg[byte] ^= std::byte{0x40};
    auto v = IcmpReader::check(msg);
    ASSERT_TRUE(v.ok()) << byte;
    EXPECT_FALSE(v->checksum_valid()) << byte;
    auto repr = IcmpRepr::parse(*v);
    ASSERT_FALSE(repr.ok()) << byte;
    EXPECT_EQ(repr.error(), WireError::bad_checksum) << byte;
  }
}

// With junk (not zero) Ethernet padding, the ICMP checksum verifies only because IPv4 trimmed
// the padding off: the ICMP view never sees it.
TEST(Icmp, ChecksumIgnoresLinkPadding) {
  std::vector<std::byte> frame(60, std::byte{0xa5});
  const EthernetRepr eth{kMacA, kMacB, std::nullopt, static_cast<uint16_t>(EtherType::ipv4)};
  const IcmpRepr icmp = IcmpRepr::echo(IcmpType::echo_request, 7, 9, Bytes{});
  Ipv4Repr ip;
  ip.src = kIpB;
  ip.dst = kIpA;
  ip.protocol = static_cast<uint8_t>(IpProtocol::icmp);
  ip.payload_len = static_cast<uint16_t>(icmp.buffer_len());
  size_t at = eth.emit(frame);
  at += ip.emit(MutableBytes(frame).subspan(at));
  at += icmp.emit(MutableBytes(frame).subspan(at));
  ASSERT_EQ(at, 42u);

  auto eth_v = EthernetReader::check(frame);
  ASSERT_TRUE(eth_v.ok());
  auto ip_v = Ipv4Reader::check(eth_v->payload());
  ASSERT_TRUE(ip_v.ok());
  auto icmp_v = IcmpReader::check(ip_v->payload());
  ASSERT_TRUE(icmp_v.ok());
  EXPECT_EQ(icmp_v->bytes().size(), 8u);
  EXPECT_TRUE(IcmpRepr::parse(*icmp_v).ok());

  // Without the trim the padding would be summed and the message rejected.
  auto untrimmed = IcmpReader::check(eth_v->payload().subspan(20));
  ASSERT_TRUE(untrimmed.ok());
  EXPECT_FALSE(untrimmed->checksum_valid());
}

}  // namespace
}  // namespace flowgate::wire
