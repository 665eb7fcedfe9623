#include "wire/ipv4.hpp"

#include <gtest/gtest.h>

#include "wire_test_util.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "wire/udp.hpp"

namespace flowgate::wire {
namespace {

WireError check_error(Bytes b) {
  auto v = Ipv4Reader::check(b);
  return v.ok() ? WireError::ok : v.error();
}

// Rewrites the header checksum so only the field under test is wrong.
void fix_checksum(std::vector<std::byte>& d) {
  const size_t ihl = (static_cast<size_t>(d[0]) & 0x0f) * 4;
  store_be16(d, 10, 0);
  store_be16(d, 10, internet_checksum(Bytes(d).first(ihl)));
}

constexpr Ipv4Address kIpA = Ipv4Address::from_octets(198, 18, 0, 1);
constexpr Ipv4Address kIpB = Ipv4Address::from_octets(198, 18, 0, 2);

// The IPv4 datagram of a Linux ping: 198.18.0.2 -> 198.18.0.1, DF, TTL 64, ID b5a1, ICMP echo
// request with 56 bytes of data.
constexpr std::array<uint8_t, 84> kPingDatagram = {
    0x45, 0x00, 0x00, 0x54, 0xb5, 0xa1, 0x40, 0x00, 0x40, 0x01, 0xf8, 0xdf, 0xc6, 0x12,
    0x00, 0x02, 0xc6, 0x12, 0x00, 0x01, 0x08, 0x00, 0x12, 0x14, 0x1c, 0x2d, 0x00, 0x01,
    0xc3, 0xb2, 0xa1, 0x65, 0x00, 0x00, 0x00, 0x00, 0xa1, 0xd2, 0x04, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
    0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29,
    0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
};

// A non-first fragment: TOS 2e (DSCP 11, ECN 2), ID beef, MF set, offset 185 * 8 = 1480,
// TTL 63, ICMP, 8 bytes of payload.
constexpr std::array<uint8_t, 28> kFragment = {
    0x45, 0x2e, 0x00, 0x1c, 0xbe, 0xef, 0x20, 0xb9, 0x3f, 0x01, 0x0f, 0xe3, 0xc6, 0x12,
    0x00, 0x02, 0xc6, 0x12, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

// IHL 6: an IGMPv2 membership report for 224.0.0.251 with the Router Alert option
// (RFC 2113: 94 04 00 00), TOS c0, TTL 1.
constexpr std::array<uint8_t, 32> kIgmpWithRouterAlert = {
    0x46, 0xc0, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x7d, 0x08, 0xc6, 0x12, 0x00, 0x02,
    0xe0, 0x00, 0x00, 0xfb, 0x94, 0x04, 0x00, 0x00, 0x16, 0x00, 0x09, 0x04, 0xe0, 0x00, 0x00, 0xfb,
};

// IHL 7: Record Route with one empty slot (07 07 04 00000000) and End of Options, then a UDP
// datagram 198.18.0.2:1234 -> 198.18.0.1:5678 carrying "opts".
constexpr std::array<uint8_t, 40> kUdpWithRecordRoute = {
    0x47, 0x00, 0x00, 0x28, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11, 0xcf, 0x62, 0xc6, 0x12,
    0x00, 0x02, 0xc6, 0x12, 0x00, 0x01, 0x07, 0x07, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x04, 0xd2, 0x16, 0x2e, 0x00, 0x0c, 0x74, 0xca, 0x6f, 0x70, 0x74, 0x73,
};

TEST(Ipv4, PingAccessors) {
  const Bytes d = bytes_of(kPingDatagram);
  auto v = Ipv4Reader::check(d);
  ASSERT_TRUE(v.ok()) << to_string(v.error());
  EXPECT_EQ(v->version(), 4);
  EXPECT_EQ(v->header_len(), 20u);
  EXPECT_EQ(v->tos(), 0);
  EXPECT_EQ(v->dscp(), 0);
  EXPECT_EQ(v->ecn(), 0);
  EXPECT_EQ(v->total_len(), 84);
  EXPECT_EQ(v->identification(), 0xb5a1);
  EXPECT_TRUE(v->dont_fragment());
  EXPECT_FALSE(v->more_fragments());
  EXPECT_EQ(v->fragment_offset(), 0u);
  EXPECT_FALSE(v->is_fragment());
  EXPECT_EQ(v->ttl(), 64);
  EXPECT_EQ(v->protocol(), static_cast<uint8_t>(IpProtocol::icmp));
  EXPECT_EQ(v->checksum(), 0xf8df);
  EXPECT_EQ(v->src(), kIpB);
  EXPECT_EQ(v->dst(), kIpA);
  EXPECT_TRUE(v->header_checksum_valid());
  EXPECT_EQ(v->header().data(), d.data());
  EXPECT_EQ(v->header().size(), 20u);
  EXPECT_EQ(v->payload().data(), d.data() + 20);
  EXPECT_EQ(v->payload().size(), 64u);
  EXPECT_EQ(v->bytes().size(), 84u);
}

TEST(Ipv4, PingReprRoundTrip) {
  const Bytes d = bytes_of(kPingDatagram);
  auto v = Ipv4Reader::check(d);
  ASSERT_TRUE(v.ok());
  Ipv4Repr expected;
  expected.src = kIpB;
  expected.dst = kIpA;
  expected.protocol = static_cast<uint8_t>(IpProtocol::icmp);
  expected.ttl = 64;
  expected.tos = 0;
  expected.identification = 0xb5a1;
  expected.dont_fragment = true;
  expected.more_fragments = false;
  expected.fragment_offset = 0;
  expected.payload_len = 64;
  auto repr = Ipv4Repr::parse(*v);
  ASSERT_TRUE(repr.ok()) << to_string(repr.error());
  EXPECT_EQ(*repr, expected);

  std::vector<std::byte> out(d.size(), std::byte{0xa5});
  EXPECT_EQ(expected.emit(out), 20u);
  EXPECT_EQ(hex(Bytes(out).first(20)), hex(d.first(20)));
  for (size_t i = 20; i < out.size(); ++i) EXPECT_EQ(out[i], std::byte{0xa5}) << i;
}

TEST(Ipv4, FragmentRoundTrip) {
  const Bytes d = bytes_of(kFragment);
  auto v = Ipv4Reader::check(d);
  ASSERT_TRUE(v.ok()) << to_string(v.error());
  EXPECT_EQ(v->tos(), 0x2e);
  EXPECT_EQ(v->dscp(), 11);
  EXPECT_EQ(v->ecn(), 2);
  EXPECT_EQ(v->identification(), 0xbeef);
  EXPECT_FALSE(v->dont_fragment());
  EXPECT_TRUE(v->more_fragments());
  EXPECT_EQ(v->fragment_offset(), 1480u);
  EXPECT_TRUE(v->is_fragment());
  EXPECT_EQ(v->ttl(), 63);
  EXPECT_EQ(v->checksum(), 0x0fe3);
  EXPECT_EQ(v->payload().size(), 8u);

  Ipv4Repr expected;
  expected.src = kIpB;
  expected.dst = kIpA;
  expected.protocol = 1;
  expected.ttl = 63;
  expected.tos = 0x2e;
  expected.identification = 0xbeef;
  expected.dont_fragment = false;
  expected.more_fragments = true;
  expected.fragment_offset = 1480;
  expected.payload_len = 8;
  auto repr = Ipv4Repr::parse(*v);
  ASSERT_TRUE(repr.ok());
  EXPECT_EQ(*repr, expected);

  std::array<std::byte, 20> out;
  out.fill(std::byte{0xa5});
  EXPECT_EQ(expected.emit(out), 20u);
  EXPECT_EQ(hex(out), hex(d.first(20)));
}

TEST(Ipv4, LastFragmentIsAFragment) {
  auto d = copy_of(kFragment);
  store_be16(d, 6, 185);  // MF clear, offset 1480
  fix_checksum(d);
  auto v = Ipv4Reader::check(d);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->more_fragments());
  EXPECT_EQ(v->fragment_offset(), 1480u);
  EXPECT_TRUE(v->is_fragment());

  store_be16(d, 6, Ipv4Reader::kFragOffsetMask);  // the largest offset
  fix_checksum(d);
  auto last = Ipv4Reader::check(d);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->fragment_offset(), 8191u * 8);
  auto repr = Ipv4Repr::parse(*last);
  ASSERT_TRUE(repr.ok());
  std::array<std::byte, 20> out;
  out.fill(std::byte{0xa5});
  repr->emit(out);
  EXPECT_EQ(hex(out), hex(Bytes(d).first(20)));
}

TEST(Ipv4, OptionsAreSkippedIhl6) {
  const Bytes d = bytes_of(kIgmpWithRouterAlert);
  auto v = Ipv4Reader::check(d);
  ASSERT_TRUE(v.ok()) << to_string(v.error());
  EXPECT_EQ(v->header_len(), 24u);
  EXPECT_EQ(v->total_len(), 32);
  EXPECT_EQ(v->tos(), 0xc0);
  EXPECT_EQ(v->dscp(), 48);  // CS6
  EXPECT_EQ(v->ttl(), 1);
  EXPECT_EQ(v->protocol(), 2);
  EXPECT_EQ(v->dst(), Ipv4Address::from_octets(224, 0, 0, 251));
  EXPECT_TRUE(v->header_checksum_valid());
  EXPECT_EQ(v->header().size(), 24u);
  EXPECT_EQ(v->payload().data(), d.data() + 24);
  ASSERT_EQ(v->payload().size(), 8u);
  EXPECT_EQ(v->payload()[0], std::byte{0x16});  // IGMPv2 membership report

  auto repr = Ipv4Repr::parse(*v);
  ASSERT_TRUE(repr.ok());
  Ipv4Repr expected;
  expected.src = kIpB;
  expected.dst = Ipv4Address::from_octets(224, 0, 0, 251);
  expected.protocol = 2;
  expected.ttl = 1;
  expected.tos = 0xc0;
  expected.identification = 0;
  expected.payload_len = 8;
  EXPECT_EQ(*repr, expected);

  // Emit never writes options: the same repr becomes a 20-byte header.
  constexpr std::array<uint8_t, 20> no_options = {0x45, 0xc0, 0x00, 0x1c, 0x00, 0x00, 0x00,
                                                  0x00, 0x01, 0x02, 0x12, 0x11, 0xc6, 0x12,
                                                  0x00, 0x02, 0xe0, 0x00, 0x00, 0xfb};
  std::array<std::byte, 20> out;
  out.fill(std::byte{0xa5});
  EXPECT_EQ(repr->emit(out), 20u);
  EXPECT_EQ(hex(out), hex(bytes_of(no_options)));
}

TEST(Ipv4, OptionsAreSkippedIhl7) {
  const Bytes d = bytes_of(kUdpWithRecordRoute);
  auto v = Ipv4Reader::check(d);
  ASSERT_TRUE(v.ok()) << to_string(v.error());
  EXPECT_EQ(v->header_len(), 28u);
  EXPECT_EQ(v->header().size(), 28u);
  EXPECT_EQ(v->payload().data(), d.data() + 28);
  EXPECT_EQ(v->payload().size(), 12u);
  auto repr = Ipv4Repr::parse(*v);
  ASSERT_TRUE(repr.ok());
  EXPECT_EQ(repr->payload_len, 12);
  EXPECT_EQ(repr->identification, 0x1234);
  EXPECT_EQ(repr->protocol, static_cast<uint8_t>(IpProtocol::udp));

  // The payload really starts after the options: the UDP datagram in it verifies.
  auto udp = UdpReader::check(v->payload());
  ASSERT_TRUE(udp.ok());
  EXPECT_EQ(udp->src_port(), 1234);
  EXPECT_EQ(udp->dst_port(), 5678);
  EXPECT_TRUE(udp->checksum_valid(v->src(), v->dst()));
}

TEST(Ipv4, ChecksumCoversOptions) {
  auto d = copy_of(kIgmpWithRouterAlert);
  d[22] = std::byte{0x01};  // inside the Router Alert value
  auto v = Ipv4Reader::check(d);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->header_checksum_valid());
  auto repr = Ipv4Repr::parse(*v);
  ASSERT_FALSE(repr.ok());
  EXPECT_EQ(repr.error(), WireError::bad_checksum);
}

TEST(Ipv4, BadChecksum) {
  // check() validates lengths only; the checksum is verified by Ipv4Repr::parse.
  for (size_t byte : {1u, 5u, 8u, 10u, 11u, 15u, 19u}) {
    auto d = copy_of(kPingDatagram);
    d[byte] ^= std::byte{0x01};
    auto v = Ipv4Reader::check(d);
    ASSERT_TRUE(v.ok()) << byte;
    EXPECT_FALSE(v->header_checksum_valid()) << byte;
    auto repr = Ipv4Repr::parse(*v);
    ASSERT_FALSE(repr.ok()) << byte;
    EXPECT_EQ(repr.error(), WireError::bad_checksum) << byte;
  }
}

TEST(Ipv4, PayloadIsNotCoveredByTheHeaderChecksum) {
  auto d = copy_of(kPingDatagram);
  d[40] ^= std::byte{0xff};
  auto v = Ipv4Reader::check(d);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(Ipv4Repr::parse(*v).ok());
}

TEST(Ipv4, TruncatedFixedHeader) {
  const Bytes d = bytes_of(kPingDatagram);
  for (size_t n = 0; n < 20; ++n) EXPECT_EQ(check_error(d.first(n)), WireError::truncated) << n;
  // Truncation is reported before the version is looked at.
  auto bad = copy_of(kPingDatagram);
  bad[0] = std::byte{0x65};
  EXPECT_EQ(check_error(Bytes(bad).first(19)), WireError::truncated);
}

TEST(Ipv4, TotalLengthBeyondBuffer) {
  const Bytes d = bytes_of(kPingDatagram);
  // Every cut between the fixed header and the total length.
  for (size_t n = 20; n < d.size(); ++n) {
    EXPECT_EQ(check_error(d.first(n)), WireError::truncated) << n;
  }
  EXPECT_EQ(check_error(d), WireError::ok);

  auto longer = copy_of(kPingDatagram);
  store_be16(longer, 2, 85);
  fix_checksum(longer);
  EXPECT_EQ(check_error(longer), WireError::truncated);
  store_be16(longer, 2, 0xffff);
  fix_checksum(longer);
  EXPECT_EQ(check_error(longer), WireError::truncated);
}

TEST(Ipv4, BadVersion) {
  for (uint8_t version : std::array<uint8_t, 5>{0, 1, 5, 6, 15}) {
    auto d = copy_of(kPingDatagram);
    d[0] = std::byte{static_cast<uint8_t>((version << 4) | 5)};
    fix_checksum(d);
    EXPECT_EQ(check_error(d), WireError::bad_version) << int{version};
  }
  // The version is checked before the IHL.
  auto d = copy_of(kPingDatagram);
  d[0] = std::byte{0x63};
  EXPECT_EQ(check_error(d), WireError::bad_version);
}

TEST(Ipv4, IhlBelowFive) {
  for (uint8_t ihl = 0; ihl < 5; ++ihl) {
    auto d = copy_of(kPingDatagram);
    d[0] = std::byte{static_cast<uint8_t>(0x40 | ihl)};
    EXPECT_EQ(check_error(d), WireError::bad_header_length) << int{ihl};
  }
}

TEST(Ipv4, TotalLengthBelowHeaderLength) {
  for (uint16_t total : std::array<uint16_t, 3>{0, 1, 19}) {
    auto d = copy_of(kPingDatagram);
    store_be16(d, 2, total);
    fix_checksum(d);
    EXPECT_EQ(check_error(d), WireError::bad_total_length) << total;
  }
  // With options the header is longer than 20: a total of 20 (or 23) no longer covers it.
  for (uint16_t total : std::array<uint16_t, 2>{20, 23}) {
    auto d = copy_of(kIgmpWithRouterAlert);
    store_be16(d, 2, total);
    fix_checksum(d);
    EXPECT_EQ(check_error(d), WireError::bad_total_length) << total;
  }
  // IHL 15 (60 bytes) in a 40-byte datagram whose total length says 40.
  auto d = copy_of(kUdpWithRecordRoute);
  d[0] = std::byte{0x4f};
  EXPECT_EQ(check_error(d), WireError::bad_total_length);
}

TEST(Ipv4, HeaderOnlyDatagram) {
  auto d = copy_of(kPingDatagram);
  d.resize(20);
  store_be16(d, 2, 20);
  fix_checksum(d);
  auto v = Ipv4Reader::check(d);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->payload().empty());
  auto repr = Ipv4Repr::parse(*v);
  ASSERT_TRUE(repr.ok());
  EXPECT_EQ(repr->payload_len, 0);
}

TEST(Ipv4, ViewIsTrimmedToTotalLength) {
  // Trailing bytes after the datagram (link padding) are outside the view.
  auto d = copy_of(kPingDatagram);
  d.resize(100, std::byte{0xee});
  auto v = Ipv4Reader::check(d);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->bytes().size(), 84u);
  EXPECT_EQ(v->payload().size(), 64u);
  EXPECT_EQ(Ipv4Repr::parse(*v)->payload_len, 64);
}

TEST(Ipv4, MutableViewIsTrimmedToo) {
  auto d = copy_of(kPingDatagram);
  d.resize(90, std::byte{0});
  auto v = Ipv4View<std::byte>::check(d);
  ASSERT_TRUE(v.ok());
  std::span<std::byte> payload = v->payload();
  EXPECT_EQ(payload.size(), 64u);
  payload[0] = std::byte{0x00};  // echo request -> echo reply, in place
  EXPECT_EQ(d[20], std::byte{0x00});
}

}  // namespace
}  // namespace flowgate::wire
