// Fragmented datagrams through the whole receive path (Ethernet -> IPv4 -> reassembly ->
// ICMP/UDP): out-of-order and duplicate fragments reassembled, overlapping and
// never-completed ones dropped and counted, the memory cap respected, and the RFC 792
// time-exceeded error on reassembly timeout.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "support/harness.hpp"

namespace flowgate::test {
namespace {

using wire::IcmpType;
using wire::IpProtocol;
using wire::Ipv4Repr;

constexpr uint8_t kIcmp = static_cast<uint8_t>(IpProtocol::icmp);

std::vector<Frame> echo_fragments(uint16_t id, size_t data_len, size_t mtu) {
  auto icmp =
      icmp_message(wire::IcmpRepr::echo(IcmpType::echo_request, 0x42, id, pattern(data_len, 3)));
  return fragment_frames(kOurMac, kPeerMac, peer_ip(kIcmp, id), icmp, mtu);
}

StackConfig with_static_peer() {
  StackConfig c = lab_config();
  c.arp.static_entries.push_back({kPeerIp, kPeerMac});
  return c;
}

size_t echo_replies(StackHarness& h) {
  size_t replies = 0;
  while (h.pending_frames() > 0) {
    auto f = h.expect_frame();
    if (f.ip && f.ip->fragment_offset == 0) ++replies;
  }
  return replies;
}

TEST(Fragments, OutOfOrderFragmentsAreReassembled) {
  StackHarness h(with_static_peer());
  auto frames = echo_fragments(1, 4000, 576);
  ASSERT_GE(frames.size(), 7u);
  std::mt19937 rng(12345);
  std::shuffle(frames.begin(), frames.end(), rng);
  for (auto& f : frames) h.receive(f);
  EXPECT_EQ(echo_replies(h), 1u);
  EXPECT_EQ(h.events(Event::reasm_completed), 1u);
  EXPECT_EQ(h.events(Event::ipv4_fragments_received), frames.size());
  EXPECT_EQ(h.stack.counters().total_drops(), 0u);
  EXPECT_EQ(h.stack.ipv4().reassembler().datagrams_in_progress(), 0u);
}

TEST(Fragments, DuplicateFragmentsAreDroppedAloneAndTheDatagramCompletes) {
  StackHarness h(with_static_peer());
  auto frames = echo_fragments(2, 3000, 1500);
  ASSERT_EQ(frames.size(), 3u);
  h.receive(frames[1]);
  h.receive(frames[1]);
  h.receive(frames[0]);
  h.receive(frames[0]);
  h.receive(frames[2]);
  EXPECT_EQ(echo_replies(h), 1u);
  EXPECT_EQ(h.drops(DropReason::reasm_duplicate), 2u);
}

TEST(Fragments, OverlappingFragmentsDiscardTheDatagram) {
  StackHarness h(with_static_peer());
  auto icmp = icmp_message(wire::IcmpRepr::echo(IcmpType::echo_request, 0x42, 3, pattern(2000, 3)));
  Ipv4Repr ip = peer_ip(kIcmp, 3);
  // [0, 1000) with MF, then [992, 2008) with different bytes in the 8 overlapping ones.
  Ipv4Repr first = ip;
  first.more_fragments = true;
  h.receive(ipv4_frame(kOurMac, kPeerMac, first, wire::Bytes(icmp).first(1000)));
  Ipv4Repr second = ip;
  second.fragment_offset = 992;
  auto tail = std::vector<std::byte>(icmp.begin() + 992, icmp.end());
  tail[0] ^= std::byte{0xff};
  h.receive(ipv4_frame(kOurMac, kPeerMac, second, tail));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::reasm_overlap), 1u);
  EXPECT_EQ(h.stack.ipv4().reassembler().datagrams_in_progress(), 0u);
  EXPECT_EQ(h.stack.ipv4().reassembler().memory_used(), 0u);
}

TEST(Fragments, NeverCompletedDatagramTimesOutWithTimeExceeded) {
  StackHarness h(with_static_peer());
  auto frames = echo_fragments(4, 3000, 1500);
  h.receive(frames[0]);
  h.receive(frames[2]);
  h.expect_no_frame();
  EXPECT_EQ(h.stack.ipv4().reassembler().datagrams_in_progress(), 1u);
  h.advance(std::chrono::seconds(29));
  h.expect_no_frame();
  h.advance(std::chrono::seconds(1));
  EXPECT_EQ(h.drops(DropReason::reasm_timeout), 1u);
  EXPECT_EQ(h.stack.ipv4().reassembler().datagrams_in_progress(), 0u);
  // RFC 792: time exceeded, code 1, quoting the first fragment's header and 8 bytes.
  auto err = h.expect_frame();
  ASSERT_TRUE(err.icmp.has_value());
  EXPECT_EQ(err.icmp->type, static_cast<uint8_t>(IcmpType::time_exceeded));
  EXPECT_EQ(err.icmp->code, static_cast<uint8_t>(wire::IcmpTimeExceededCode::reassembly));
  const wire::Bytes first_fragment(frames[0].data() + 14, 20 + 8);
  ASSERT_EQ(err.icmp->data.size(), first_fragment.size());
  EXPECT_TRUE(std::equal(err.icmp->data.begin(), err.icmp->data.end(), first_fragment.begin()));
  h.expect_no_frame();
}

TEST(Fragments, TimeoutWithoutFirstFragmentSendsNothing) {
  StackHarness h(with_static_peer());
  auto frames = echo_fragments(5, 3000, 1500);
  h.receive(frames[1]);
  h.advance(std::chrono::seconds(31));
  EXPECT_EQ(h.drops(DropReason::reasm_timeout), 1u);
  h.expect_no_frame();
}

TEST(Fragments, MemoryCapIsRespectedUnderAFloodOfIncompleteDatagrams) {
  StackConfig c = with_static_peer();
  c.reassembly.memory_limit = 64 * 1024;
  StackHarness h(c);
  for (uint16_t id = 100; id < 400; ++id) {
    auto frames = echo_fragments(id, 3000, 1500);
    h.receive(frames[0]);  // never completed
    EXPECT_LE(h.stack.ipv4().reassembler().memory_used(), c.reassembly.memory_limit);
  }
  EXPECT_GT(h.drops(DropReason::reasm_memory_limit), 0u);
  // A legitimate datagram still gets through: the oldest incomplete ones make room.
  for (auto& f : echo_fragments(1000, 3000, 1500)) h.receive(f);
  EXPECT_EQ(echo_replies(h), 1u);
  EXPECT_LE(h.stack.ipv4().reassembler().memory_used(), c.reassembly.memory_limit);
}

TEST(Fragments, BadFragmentLengthIsDropped) {
  StackHarness h(with_static_peer());
  Ipv4Repr ip = peer_ip(kIcmp, 6);
  ip.more_fragments = true;
  h.receive(ipv4_frame(kOurMac, kPeerMac, ip, pattern(1001)));  // MF with 1001 bytes
  EXPECT_EQ(h.drops(DropReason::reasm_bad_fragment), 1u);
}

TEST(Fragments, InterleavedDatagramsFromOneSourceAreKeptApart) {
  StackHarness h(with_static_peer());
  auto a = echo_fragments(7, 3000, 1500);
  auto b = echo_fragments(8, 3000, 1500);
  for (size_t i = 0; i < a.size(); ++i) {
    h.receive(a[i]);
    h.receive(b[a.size() - 1 - i]);
  }
  EXPECT_EQ(echo_replies(h), 2u);
  EXPECT_EQ(h.events(Event::reasm_completed), 2u);
}

}  // namespace
}  // namespace flowgate::test
