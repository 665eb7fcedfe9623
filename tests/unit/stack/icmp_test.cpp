// ICMP through the whole stack: echo at every size the issue names (0, 56, 1472 and 3000
// bytes, the last fragmented in both directions, and the 64 KiB maximum), errors generated
// under RFC 1122's rules and rate limit, and errors received handed to the transport.
#include <gtest/gtest.h>

#include <map>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::test {
namespace {

using wire::IcmpType;
using wire::IpProtocol;
using wire::Ipv4Repr;

constexpr uint8_t kIcmp = static_cast<uint8_t>(IpProtocol::icmp);

// Feeds an echo request of `size` data bytes (fragmented at 1500 if needed), answers the ARP
// request the reply triggers, and returns the reply's frames.
std::vector<ParsedFrame> ping(StackHarness& h, size_t size, uint16_t seq, bool answer_arp) {
  auto data = pattern(size, static_cast<uint8_t>(seq));
  auto icmp = icmp_message(wire::IcmpRepr::echo(IcmpType::echo_request, 0x1234, seq, data));
  Ipv4Repr ip = peer_ip(kIcmp, seq);
  for (auto& f : fragment_frames(kOurMac, kPeerMac, ip, icmp, 1500)) h.receive(f);
  if (answer_arp) h.answer_arp(kPeerIp, kPeerMac);
  std::vector<ParsedFrame> out;
  while (h.pending_frames() > 0) out.push_back(h.expect_frame());
  return out;
}

// Puts the fragments of one datagram back together (test-side, independent of the stack's
// reassembler) and checks the fragment layout on the way.
std::vector<std::byte> join_fragments(const std::vector<ParsedFrame>& frames) {
  std::map<uint32_t, const ParsedFrame*> by_offset;
  for (auto& f : frames) {
    EXPECT_TRUE(f.ip.has_value());
    by_offset[f.ip->fragment_offset] = &f;
  }
  std::vector<std::byte> payload;
  for (auto& [off, f] : by_offset) {
    EXPECT_EQ(off, payload.size()) << "gap or overlap in the fragments";
    EXPECT_LE(f->bytes.size(), 14u + 1500u) << "fragment larger than the MTU";
    const bool last = off == by_offset.rbegin()->first;
    EXPECT_EQ(f->ip->more_fragments, !last);
    if (!last) {
      EXPECT_EQ(f->ip_payload.size() % 8, 0u);
    }
    payload.insert(payload.end(), f->ip_payload.begin(), f->ip_payload.end());
  }
  return payload;
}

class IcmpEcho : public ::testing::TestWithParam<size_t> {};

TEST_P(IcmpEcho, AnsweredWithSameIdentifierSequenceAndData) {
  StackHarness h;
  const size_t size = GetParam();
  auto frames = ping(h, size, 7, true);
  ASSERT_FALSE(frames.empty());
  auto data = pattern(size, 7);
  std::vector<std::byte> icmp_bytes;
  if (frames.size() == 1) {
    ASSERT_TRUE(frames[0].icmp.has_value());
    icmp_bytes = frames[0].ip_payload;
  } else {
    icmp_bytes = join_fragments(frames);
  }
  for (auto& f : frames) {
    EXPECT_EQ(f.eth.dst, kPeerMac);
    EXPECT_EQ(f.eth.src, kOurMac);
    EXPECT_EQ(f.ip->src, kOurIp);
    EXPECT_EQ(f.ip->dst, kPeerIp);
    EXPECT_EQ(f.ip->protocol, kIcmp);
  }
  auto view = wire::IcmpReader::check(wire::Bytes(icmp_bytes));
  ASSERT_TRUE(view.ok());
  auto reply = wire::IcmpRepr::parse(*view);
  ASSERT_TRUE(reply.ok()) << "reply checksum must verify over the reassembled message";
  EXPECT_EQ(reply->type, static_cast<uint8_t>(IcmpType::echo_reply));
  EXPECT_EQ(reply->code, 0);
  EXPECT_EQ(reply->echo_identifier(), 0x1234);
  EXPECT_EQ(reply->echo_sequence(), 7);
  EXPECT_TRUE(std::equal(reply->data.begin(), reply->data.end(), data.begin(), data.end()));
  EXPECT_EQ(h.events(Event::icmp_echo_replies_sent), 1u);
  EXPECT_EQ(h.stack.counters().total_drops(), 0u);
}

// 0, 56 (ping's default), 1472 (the largest unfragmented at MTU 1500), 3000 (fragments both
// ways), 65507 (the largest an IPv4 datagram can carry).
INSTANTIATE_TEST_SUITE_P(Sizes, IcmpEcho, ::testing::Values(0, 56, 1472, 1473, 3000, 65507));

TEST(Icmp, EchoOf1472BytesFitsOneFrameAnd3000NeedsThreeFragments) {
  StackHarness h;
  auto one = ping(h, 1472, 1, true);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].bytes.size(), 14u + 1500u);
  auto three = ping(h, 3000, 2, false);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[0].ip->fragment_offset, 0u);
  EXPECT_EQ(three[1].ip->fragment_offset, 1480u);
  EXPECT_EQ(three[2].ip->fragment_offset, 2960u);
  EXPECT_EQ(h.events(Event::ipv4_fragments_sent), 3u);
  EXPECT_EQ(h.events(Event::reasm_completed), 1u);
}

TEST(Icmp, BadChecksumIsDroppedAndCounted) {
  StackHarness h;
  auto frame = peer_echo_request_frame(1, 1, pattern(56));
  frame[14 + 20 + 2] ^= std::byte{0x01};  // ICMP checksum
  h.receive(frame);
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::icmp_bad_checksum), 1u);
}

TEST(Icmp, TruncatedMessageIsDropped) {
  StackHarness h;
  auto frame = ipv4_frame(kOurMac, kPeerMac, peer_ip(kIcmp), bytes_of({8, 0, 0, 0}));
  h.receive(frame);
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::icmp_truncated), 1u);
}

TEST(Icmp, EchoToBroadcastIsIgnored) {
  StackHarness h;
  auto icmp = icmp_message(wire::IcmpRepr::echo(IcmpType::echo_request, 1, 1, pattern(8)));
  Ipv4Repr ip = peer_ip(kIcmp);
  ip.dst = wire::Ipv4Address::from_octets(198, 18, 0, 255);
  h.receive(ipv4_frame(wire::MacAddress::broadcast(), kPeerMac, ip, icmp));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::icmp_broadcast_echo), 1u);
}

TEST(Icmp, PortUnreachableQuotesTheOriginalDatagram) {
  StackHarness h;
  auto payload = pattern(100);
  auto frame = peer_udp_frame(40000, 9999, payload);
  h.receive(frame);
  h.answer_arp(kPeerIp, kPeerMac);
  auto err = h.expect_frame();
  ASSERT_TRUE(err.icmp.has_value());
  EXPECT_EQ(err.icmp->type, static_cast<uint8_t>(IcmpType::destination_unreachable));
  EXPECT_EQ(err.icmp->code, static_cast<uint8_t>(wire::IcmpUnreachableCode::port));
  EXPECT_EQ(err.ip->dst, kPeerIp);
  // The whole original datagram fits in 576 bytes, so all of it is quoted, byte for byte.
  const wire::Bytes original(frame.data() + 14, frame.size() - 14);
  EXPECT_TRUE(
      std::equal(err.icmp->data.begin(), err.icmp->data.end(), original.begin(), original.end()));
  EXPECT_EQ(h.drops(DropReason::udp_no_socket), 1u);
  EXPECT_EQ(h.events(Event::icmp_errors_sent), 1u);
}

TEST(Icmp, ErrorQuoteIsCappedAt576BytesOfDatagram) {
  StackHarness h;
  h.receive(peer_udp_frame(40000, 9999, pattern(1400)));
  h.answer_arp(kPeerIp, kPeerMac);
  auto err = h.expect_frame();
  ASSERT_TRUE(err.icmp.has_value());
  EXPECT_EQ(20u + err.ip_payload.size(), 576u);
}

TEST(Icmp, ProtocolUnreachableForUnknownProtocol) {
  StackHarness h;
  h.receive(ipv4_frame(kOurMac, kPeerMac, peer_ip(47), pattern(40)));  // GRE
  h.answer_arp(kPeerIp, kPeerMac);
  auto err = h.expect_frame();
  ASSERT_TRUE(err.icmp.has_value());
  EXPECT_EQ(err.icmp->type, static_cast<uint8_t>(IcmpType::destination_unreachable));
  EXPECT_EQ(err.icmp->code, static_cast<uint8_t>(wire::IcmpUnreachableCode::protocol));
  EXPECT_EQ(h.drops(DropReason::ipv4_unknown_protocol), 1u);
}

TEST(Icmp, NoErrorAboutAnIcmpErrorOrANonInitialFragment) {
  StackHarness h;
  // An ICMP error (type 3) sent to us carrying an unknown protocol quote: never answered
  // with another error, whatever it contains.
  auto quoted = ipv4_datagram(peer_ip(47), pattern(8));
  auto inner = icmp_message({3, 3, 0, quoted});
  h.receive(ipv4_frame(kOurMac, kPeerMac, peer_ip(kIcmp), inner));
  h.expect_no_frame();
  // A non-initial fragment of a datagram with an unknown protocol: no error. (It is held
  // for reassembly; the error would come only on completion.)
  Ipv4Repr frag = peer_ip(47, 99);
  frag.fragment_offset = 8;
  h.receive(ipv4_frame(kOurMac, kPeerMac, frag, pattern(16)));
  h.expect_no_frame();
  EXPECT_EQ(h.events(Event::icmp_errors_sent), 0u);
}

TEST(Icmp, ErrorsAreRateLimited) {
  StackConfig c = lab_config();
  c.icmp.errors_per_second = 10;
  c.icmp.error_burst = 3;
  c.arp.static_entries.push_back({kPeerIp, kPeerMac});
  StackHarness h(c);
  for (int i = 0; i < 10; ++i) h.receive(peer_udp_frame(40000, 9999, pattern(10)));
  EXPECT_EQ(h.pending_frames(), 3u);
  EXPECT_EQ(h.events(Event::icmp_errors_rate_limited), 7u);
  h.link.frames.clear();
  // 10/s: after 100 ms one more token.
  h.advance(std::chrono::milliseconds(100));
  h.receive(peer_udp_frame(40000, 9999, pattern(10)));
  h.receive(peer_udp_frame(40000, 9999, pattern(10)));
  EXPECT_EQ(h.pending_frames(), 1u);
}

TEST(Icmp, ReceivedPortUnreachableReachesTheUdpSocket) {
  StackConfig c = lab_config();
  c.arp.static_entries.push_back({kPeerIp, kPeerMac});
  StackHarness h(c);
  int fd = fg_socket(h.stack, AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(kPeerIp.value);
  to.sin_port = htons(5353);
  ASSERT_EQ(fg_sendto(h.stack, fd, "hi", 2, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 2);
  auto sent = h.expect_frame();
  // The peer answers with port unreachable quoting what we sent.
  auto datagram = std::vector<std::byte>(sent.bytes.begin() + 14, sent.bytes.end());
  h.receive(ipv4_frame(kOurMac, kPeerMac, peer_ip(kIcmp), icmp_message({3, 3, 0, datagram})));
  EXPECT_EQ(h.events(Event::icmp_errors_received), 1u);
  int err = 0;
  socklen_t len = sizeof err;
  ASSERT_EQ(fg_getsockopt(h.stack, fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
  EXPECT_EQ(err, ECONNREFUSED);
  ASSERT_EQ(fg_getsockopt(h.stack, fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
  EXPECT_EQ(err, 0) << "SO_ERROR is cleared once read";
}

TEST(Icmp, ErrorQuotingSomeoneElsesDatagramIsDropped) {
  StackHarness h;
  Ipv4Repr foreign = peer_ip(static_cast<uint8_t>(IpProtocol::udp));
  foreign.src = wire::Ipv4Address::from_octets(198, 18, 0, 77);
  auto quoted = ipv4_datagram(foreign, pattern(8));
  h.receive(ipv4_frame(kOurMac, kPeerMac, peer_ip(kIcmp), icmp_message({3, 3, 0, quoted})));
  EXPECT_EQ(h.drops(DropReason::icmp_bad_quote), 1u);
  EXPECT_EQ(h.events(Event::icmp_errors_received), 0u);
}

TEST(Icmp, EchoReplyAndRedirectAreNotActedOn) {
  StackHarness h;
  auto reply = icmp_message(wire::IcmpRepr::echo(IcmpType::echo_reply, 1, 1, pattern(8)));
  h.receive(ipv4_frame(kOurMac, kPeerMac, peer_ip(kIcmp), reply));
  auto redirect = icmp_message({5, 1, kPeerIp.value, ipv4_datagram(peer_ip(17), pattern(8))});
  h.receive(ipv4_frame(kOurMac, kPeerMac, peer_ip(kIcmp), redirect));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::icmp_unhandled_type), 2u);
}

}  // namespace
}  // namespace flowgate::test
