// The open-loop schedule of --rate and the frame demux among the bench's stacks.
#include <gtest/gtest.h>

#include <vector>

#include "apps/bench/demux.hpp"
#include "apps/bench/schedule.hpp"

namespace flowgate::bench {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(BenchSchedule, DueTimesAreEvenAndDoNotDrift) {
  const Instant t0(seconds(1000));
  const OpenLoopSchedule s(t0, 3);  // every 333.33 ms
  EXPECT_EQ(s.due_time(0), t0);
  EXPECT_EQ(s.due_time(1), t0 + Duration(333'333'333));
  EXPECT_EQ(s.due_time(3), t0 + seconds(1));
  EXPECT_EQ(s.due_time(3'000'000), t0 + seconds(1'000'000));  // from the start, no drift
}

TEST(BenchSchedule, DueByCountsEveryRequestUpToNow) {
  const Instant t0(seconds(10));
  const OpenLoopSchedule s(t0, 1000);  // one per ms
  EXPECT_EQ(s.due_by(t0 - milliseconds(1)), 0u);
  EXPECT_EQ(s.due_by(t0), 1u);  // request 0 is due at the start
  EXPECT_EQ(s.due_by(t0 + microseconds(999)), 1u);
  EXPECT_EQ(s.due_by(t0 + milliseconds(1)), 2u);
  EXPECT_EQ(s.due_by(t0 + seconds(2)), 2001u);
  // A caller that slept 50 ms finds all 50 requests due, each with its own time: what
  // latency counts from, so a stall shows instead of being skipped.
  const uint64_t before = s.due_by(t0 + milliseconds(100));
  const uint64_t after = s.due_by(t0 + milliseconds(150));
  EXPECT_EQ(after - before, 50u);
  EXPECT_EQ(s.due_time(before), t0 + milliseconds(101));
}

TEST(BenchSchedule, AgreesWithDueTimeAtOddRates) {
  const Instant t0(seconds(5));
  for (double rate : {1.0, 7.0, 999.9, 12345.0, 2'000'000.0}) {
    const OpenLoopSchedule s(t0, rate);
    for (uint64_t k : {uint64_t{1}, uint64_t{17}, uint64_t{1000}, uint64_t{123457}}) {
      const Instant t = s.due_time(k);
      EXPECT_EQ(s.due_by(t), k + 1) << rate << " " << k;
      EXPECT_EQ(s.due_by(t - Duration(1)), k) << rate << " " << k;
    }
  }
}

std::vector<std::byte> arp_frame(wire::Ipv4Address sender, wire::Ipv4Address target, bool reply) {
  std::vector<std::byte> f(42);
  auto put16 = [&](size_t at, uint16_t v) {
    f[at] = std::byte(v >> 8);
    f[at + 1] = std::byte(v & 0xff);
  };
  for (size_t i = 0; i < 6; ++i) f[i] = std::byte{0xff};
  put16(12, 0x0806);
  put16(14, 1);
  put16(16, 0x0800);
  f[18] = std::byte{6};
  f[19] = std::byte{4};
  put16(20, reply ? 2 : 1);
  sender.store(f, 14 + 14);
  target.store(f, 14 + 24);
  return f;
}

std::vector<std::byte> ipv4_frame(wire::Ipv4Address dst) {
  std::vector<std::byte> f(14 + 20);
  f[12] = std::byte{0x08};
  f[13] = std::byte{0x00};
  f[14] = std::byte{0x45};
  dst.store(f, 14 + 16);
  return f;
}

TEST(BenchDemux, ByDestinationAndArpTarget) {
  const auto a = [](uint8_t d) { return wire::Ipv4Address::from_octets(198, 18, 0, d); };
  // Out of order on purpose: the index is the stack's, not the sorted position.
  const FrameDemux demux({a(12), a(10), a(11), a(13)});
  EXPECT_EQ(demux.owner(a(10)), 1u);
  EXPECT_EQ(demux.owner(a(13)), 3u);
  EXPECT_EQ(demux.owner(a(14)), FrameDemux::kNone);
  EXPECT_EQ(demux.classify(ipv4_frame(a(12))), 0u);
  EXPECT_EQ(demux.classify(ipv4_frame(a(11))), 2u);
  EXPECT_EQ(demux.classify(ipv4_frame(a(2))), FrameDemux::kNone);  // the peer kernel's
  // A request for one of us, a reply to one of us.
  EXPECT_EQ(demux.classify(arp_frame(a(1), a(13), false)), 3u);
  EXPECT_EQ(demux.classify(arp_frame(a(1), a(10), true)), 1u);
  // A gratuitous announcement (target = sender, RFC 5227): every stack may learn from it.
  EXPECT_EQ(demux.classify(arp_frame(a(1), a(1), false)), FrameDemux::kEveryStack);
}

TEST(BenchDemux, TruncatedAndForeignFramesAreNobodys) {
  const FrameDemux demux({wire::Ipv4Address::from_octets(198, 18, 0, 10)});
  std::vector<std::byte> tiny(10);
  EXPECT_EQ(demux.classify(tiny), FrameDemux::kNone);
  std::vector<std::byte> short_ip = ipv4_frame(wire::Ipv4Address::from_octets(198, 18, 0, 10));
  short_ip.resize(14 + 19);
  EXPECT_EQ(demux.classify(short_ip), FrameDemux::kNone);
  std::vector<std::byte> ipv6(60);
  ipv6[12] = std::byte{0x86};
  ipv6[13] = std::byte{0xdd};
  EXPECT_EQ(demux.classify(ipv6), FrameDemux::kNone);
  std::vector<std::byte> short_arp =
      arp_frame(wire::Ipv4Address::from_octets(198, 18, 0, 1),
                wire::Ipv4Address::from_octets(198, 18, 0, 10), true);
  short_arp.resize(14 + 27);
  EXPECT_EQ(demux.classify(short_arp), FrameDemux::kNone);
}

}  // namespace
}  // namespace flowgate::bench
