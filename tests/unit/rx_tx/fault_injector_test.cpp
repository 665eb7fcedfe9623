// The fault injector with a fake frame pool: rates for a fixed seed, determinism, the
// reorder hold (behind the next frame, or until max_hold on the manual clock), single-bit
// corruption outside the Ethernet header, and frame conservation.
#include "rx_tx/fault_injector.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string_view>
#include <vector>

#include "stack/clock.hpp"
#include "support/frames.hpp"
#include "wire/ethernet.hpp"
#include "wire/ipv4.hpp"
#include "wire/udp.hpp"

namespace flowgate {
namespace {

using namespace std::chrono_literals;

// Frames by offset, as the UMEM would hold them. Offsets are never reused, so each frame
// (original or copy) is identifiable in the output.
class FakePool final : public FaultEnvironment {
 public:
  FrameDesc add(std::vector<std::byte> bytes) {
    const FrameDesc f{next_offset_, static_cast<uint32_t>(bytes.size())};
    next_offset_ += 4096;
    frames_[f.offset] = std::move(bytes);
    return f;
  }
  FrameDesc add_sized(size_t n) {
    return add(test::pattern(n, static_cast<uint8_t>(next_offset_ >> 12)));
  }

  wire::MutableBytes bytes(const FrameDesc& f) override {
    ++bytes_calls;
    return wire::MutableBytes(frames_.at(f.offset)).first(f.length);
  }
  std::optional<FrameDesc> copy(const FrameDesc& f) override {
    if (free_frames == 0) return std::nullopt;
    --free_frames;
    const FrameDesc c = add(frames_.at(f.offset));
    copies.push_back(c);
    return c;
  }
  void discard(const FrameDesc& f) override { discarded.push_back(f); }

  const std::vector<std::byte>& contents(const FrameDesc& f) const { return frames_.at(f.offset); }

  size_t free_frames = std::numeric_limits<size_t>::max();
  std::vector<FrameDesc> copies;
  std::vector<FrameDesc> discarded;
  size_t bytes_calls = 0;

 private:
  uint64_t next_offset_ = 0;
  std::map<uint64_t, std::vector<std::byte>> frames_;
};

std::vector<uint64_t> offsets(const std::vector<FrameDesc>& frames) {
  std::vector<uint64_t> out;
  for (const FrameDesc& f : frames) out.push_back(f.offset);
  return out;
}

// A UDP frame as a peer would send it; checksums correct.
std::vector<std::byte> udp_frame(size_t payload) {
  return test::peer_udp_frame(40000, 7, test::pattern(payload));
}

TEST(FaultInjector, OffByDefaultPassesEverythingInOrder) {
  const FaultConfig config;
  EXPECT_FALSE(config.enabled());
  FaultInjector injector(config);
  FakePool pool;
  ManualClock clock;
  std::vector<FrameDesc> in, out;
  for (int i = 0; i < 1000; ++i) {
    in.push_back(pool.add(udp_frame(32)));
    injector.process(in.back(), clock.now(), pool, out);
  }
  EXPECT_EQ(offsets(out), offsets(in));
  EXPECT_EQ(pool.bytes_calls, 0u);
  EXPECT_TRUE(pool.copies.empty());
  EXPECT_TRUE(pool.discarded.empty());
  EXPECT_EQ(injector.frames_held(), 0u);
  EXPECT_FALSE(injector.next_deadline());
}

TEST(FaultInjector, RatesMatchTheConfigurationForAFixedSeed) {
  constexpr int kFrames = 100000;
  FaultConfig config;
  config.seed = 42;
  config.drop = 0.05;
  config.duplicate = 0.05;
  config.reorder = 0.10;
  config.corrupt = 0.02;
  FaultInjector injector(config);
  FakePool pool;
  ManualClock clock;
  std::vector<FrameDesc> out;
  for (int i = 0; i < kFrames; ++i) {
    injector.process(pool.add_sized(64), clock.now(), pool, out);
    clock.advance(10us);
    injector.release_due(clock.now(), out);
  }
  const FaultCounters& c = injector.counters();
  // Expected counts and a tolerance of about 3.5 standard deviations of each binomial. The
  // seed is fixed, so the outcome is too; the bound shows the rates are what was asked.
  const auto near = [](uint64_t got, double expected) {
    const double sigma = std::sqrt(expected);
    return std::abs(static_cast<double>(got) - expected) < 3.5 * sigma;
  };
  const double kept = kFrames * (1 - config.drop);
  EXPECT_TRUE(near(c[FaultCounter::dropped], kFrames * config.drop)) << c[FaultCounter::dropped];
  EXPECT_TRUE(near(c[FaultCounter::duplicated], kept * config.duplicate))
      << c[FaultCounter::duplicated];
  EXPECT_TRUE(near(c[FaultCounter::corrupted], kept * config.corrupt))
      << c[FaultCounter::corrupted];
  // A frame is held when it draws reorder and the frame before it was not held (one frame is
  // held at a time): the share h solves h = r (1 - h).
  const double held_share = config.reorder / (1 + config.reorder);
  EXPECT_TRUE(near(c[FaultCounter::reordered], kept * held_share)) << c[FaultCounter::reordered];
  EXPECT_EQ(c[FaultCounter::frames], static_cast<uint64_t>(kFrames));
}

TEST(FaultInjector, SameSeedSameDecisions) {
  FaultConfig config;
  config.seed = 7;
  config.drop = 0.1;
  config.duplicate = 0.1;
  config.reorder = 0.2;
  config.corrupt = 0.1;
  const auto run = [&](const FaultConfig& cfg) {
    FaultInjector injector(cfg);
    FakePool pool;
    ManualClock clock;
    std::vector<FrameDesc> out;
    std::vector<std::vector<std::byte>> contents;
    for (int i = 0; i < 5000; ++i) {
      injector.process(pool.add(udp_frame(static_cast<size_t>(i % 100))), clock.now(), pool, out);
      clock.advance(300us);
      injector.release_due(clock.now(), out);
    }
    injector.release_all(out);
    for (const FrameDesc& f : out) contents.push_back(pool.contents(f));
    return std::make_pair(offsets(out), contents);
  };
  const auto a = run(config);
  const auto b = run(config);
  EXPECT_EQ(a.first, b.first);
  EXPECT_EQ(a.second, b.second);
  FaultConfig other = config;
  other.seed = 8;
  EXPECT_NE(run(other).first, a.first);
}

TEST(FaultRandom, GoldenSequence) {
  // Pins the generator: a lossy test's seed must mean the same losses after any change.
  FaultRandom r(1);
  const uint64_t first = r.next();
  const uint64_t second = r.next();
  FaultRandom again(1);
  EXPECT_EQ(again.next(), first);
  EXPECT_EQ(again.next(), second);
  FaultRandom zero(0);
  EXPECT_NE(zero.next(), 0u) << "a zero seed still gives a working generator";
  EXPECT_EQ(first, 0xb3f2af6d0fc710c5ull);
  EXPECT_EQ(second, 0x853b559647364ceaull);
}

TEST(FaultRandom, UnitIsInRangeAndUniform) {
  FaultRandom r(99);
  std::array<int, 10> buckets{};
  for (int i = 0; i < 100000; ++i) {
    const double u = r.unit();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    ++buckets[static_cast<size_t>(u * 10)];
  }
  for (int b : buckets) EXPECT_NEAR(b, 10000, 400);
}

TEST(FaultInjector, HeldFrameComesOutRightAfterTheNextFrame) {
  FaultConfig config;
  config.reorder = 1;  // every frame wants to be held; only one can be at a time
  FaultInjector injector(config);
  FakePool pool;
  ManualClock clock;
  std::vector<FrameDesc> out;
  const FrameDesc f1 = pool.add_sized(60), f2 = pool.add_sized(60), f3 = pool.add_sized(60),
                  f4 = pool.add_sized(60);
  injector.process(f1, clock.now(), pool, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(injector.frames_held(), 1u);
  injector.process(f2, clock.now(), pool, out);
  EXPECT_EQ(offsets(out), (std::vector<uint64_t>{f2.offset, f1.offset}));
  EXPECT_EQ(injector.frames_held(), 0u);
  injector.process(f3, clock.now(), pool, out);
  injector.process(f4, clock.now(), pool, out);
  EXPECT_EQ(offsets(out), (std::vector<uint64_t>{f2.offset, f1.offset, f4.offset, f3.offset}));
  EXPECT_EQ(injector.counters()[FaultCounter::reordered], 2u);
}

TEST(FaultInjector, HeldFrameIsReleasedAfterMaxHold) {
  FaultConfig config;
  config.reorder = 1;
  FaultInjector injector(config, 1ms);
  FakePool pool;
  ManualClock clock;
  std::vector<FrameDesc> out;
  const FrameDesc f = pool.add_sized(100);
  const Instant start = clock.now();
  injector.process(f, start, pool, out);
  ASSERT_EQ(injector.next_deadline(), start + 1ms);
  clock.advance(999us);
  injector.release_due(clock.now(), out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(injector.frames_held(), 1u);
  clock.advance(1us);
  injector.release_due(clock.now(), out);
  EXPECT_EQ(offsets(out), (std::vector<uint64_t>{f.offset}));
  EXPECT_EQ(injector.frames_held(), 0u);
  EXPECT_FALSE(injector.next_deadline());
  EXPECT_EQ(injector.counters()[FaultCounter::released_by_timeout], 1u);
  // Nothing held: release_due does nothing.
  injector.release_due(clock.now() + 1h, out);
  EXPECT_EQ(out.size(), 1u);
}

TEST(FaultInjector, DuplicateFollowsTheOriginalEvenWhenHeld) {
  FaultConfig config;
  config.duplicate = 1;
  FaultInjector injector(config);
  FakePool pool;
  ManualClock clock;
  std::vector<FrameDesc> out;
  const FrameDesc f = pool.add(udp_frame(10));
  injector.process(f, clock.now(), pool, out);
  ASSERT_EQ(pool.copies.size(), 1u);
  EXPECT_EQ(offsets(out), (std::vector<uint64_t>{f.offset, pool.copies[0].offset}));
  EXPECT_EQ(pool.contents(pool.copies[0]), pool.contents(f));

  FaultConfig both = config;
  both.reorder = 1;
  FaultInjector held(both);
  out.clear();
  const FrameDesc g = pool.add(udp_frame(10)), h = pool.add(udp_frame(10));
  held.process(g, clock.now(), pool, out);
  EXPECT_EQ(held.frames_held(), 2u) << "the frame and its copy";
  held.process(h, clock.now(), pool, out);
  ASSERT_EQ(pool.copies.size(), 3u);
  EXPECT_EQ(offsets(out), (std::vector<uint64_t>{h.offset, pool.copies[2].offset, g.offset,
                                                 pool.copies[1].offset}));
}

TEST(FaultInjector, DuplicateIsSkippedWithoutAFreeFrame) {
  FaultConfig config;
  config.duplicate = 1;
  FaultInjector injector(config);
  FakePool pool;
  pool.free_frames = 0;
  ManualClock clock;
  std::vector<FrameDesc> out;
  const FrameDesc f = pool.add_sized(64);
  injector.process(f, clock.now(), pool, out);
  EXPECT_EQ(offsets(out), (std::vector<uint64_t>{f.offset}));
  EXPECT_EQ(injector.counters()[FaultCounter::duplicated], 0u);
  EXPECT_EQ(injector.counters()[FaultCounter::duplicate_skipped], 1u);
}

TEST(FaultInjector, DropDiscardsAndKeepsAHeldFrameWaiting) {
  FaultConfig config;
  config.drop = 1;
  FaultInjector injector(config);
  FakePool pool;
  ManualClock clock;
  std::vector<FrameDesc> out;
  const FrameDesc f = pool.add_sized(64);
  injector.process(f, clock.now(), pool, out);
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(pool.discarded.size(), 1u);
  EXPECT_EQ(pool.discarded[0].offset, f.offset);
}

TEST(FaultInjector, ProbabilitiesAreClamped) {
  FaultConfig config;
  config.drop = 7;
  config.duplicate = -1;
  config.reorder = std::nan("");
  config.corrupt = -0.5;
  FaultInjector injector(config);
  EXPECT_EQ(injector.config().drop, 1.0);
  EXPECT_EQ(injector.config().duplicate, 0.0);
  EXPECT_EQ(injector.config().reorder, 0.0);
  EXPECT_EQ(injector.config().corrupt, 0.0);
}

// The frames the corruption test uses: IPv4 UDP (small, padded to 60 bytes, and large),
// VLAN-tagged IPv4, ARP, a non-IP EtherType.
std::vector<std::vector<std::byte>> corruption_subjects() {
  std::vector<std::vector<std::byte>> frames;
  auto small = udp_frame(1);
  small.resize(wire::EthernetReader::kMinFrameLen, std::byte{0});  // padded as on the wire
  frames.push_back(small);
  frames.push_back(udp_frame(1400));
  const auto ip = test::ipv4_datagram(
      test::peer_ip(17), test::udp_datagram(1, 2, test::pattern(30), test::kPeerIp, test::kOurIp));
  frames.push_back(test::ethernet_frame(
      {test::kOurMac, test::kPeerMac, uint16_t{42}, static_cast<uint16_t>(wire::EtherType::ipv4)},
      ip));
  frames.push_back(test::arp_frame(wire::MacAddress::broadcast(), test::kPeerMac,
                                   {1, test::kPeerMac, test::kPeerIp, {}, test::kOurIp}));
  frames.push_back(test::ethernet_frame({test::kOurMac, test::kPeerMac, std::nullopt, 0x86dd},
                                        test::pattern(80)));
  return frames;
}

// True when the receiving stack would notice: the IPv4 header or UDP checks fail.
bool checksums_catch(const std::vector<std::byte>& frame) {
  const auto eth = wire::EthernetReader::check(frame);
  if (!eth) return true;
  const auto ip = wire::Ipv4Reader::check(eth->payload());
  if (!ip) return true;
  const auto repr = wire::Ipv4Repr::parse(*ip);
  if (!repr) return true;
  if (repr->protocol != 17) return true;  // a changed protocol number: not UDP any more
  const auto udp = wire::UdpReader::check(ip->payload());
  if (!udp) return true;
  return !wire::UdpRepr::parse(*udp, repr->src, repr->dst).ok();
}

TEST(FaultInjector, CorruptionFlipsExactlyOneBitAfterTheEthernetHeader) {
  FaultConfig config;
  config.seed = 5;
  config.corrupt = 1;
  FaultInjector injector(config);
  FakePool pool;
  ManualClock clock;
  std::vector<FrameDesc> out;
  const auto subjects = corruption_subjects();
  std::set<size_t> positions_in_small;
  for (int round = 0; round < 400; ++round) {
    for (size_t k = 0; k < subjects.size(); ++k) {
      const auto& original = subjects[k];
      const FrameDesc f = pool.add(original);
      injector.process(f, clock.now(), pool, out);
      const auto& after = pool.contents(f);
      ASSERT_EQ(after.size(), original.size());
      int flipped = 0;
      size_t where = 0;
      for (size_t i = 0; i < after.size(); ++i) {
        const auto diff = std::to_integer<unsigned>(after[i] ^ original[i]);
        flipped += std::popcount(diff);
        if (diff != 0) where = i;
      }
      ASSERT_EQ(flipped, 1) << "subject " << k;
      const auto eth = wire::EthernetReader::check(original);
      ASSERT_GE(where, eth->header_len()) << "subject " << k;
      if (eth->ethertype() == static_cast<uint16_t>(wire::EtherType::ipv4)) {
        const auto ip = wire::Ipv4Reader::check(eth->payload());
        ASSERT_LT(where, eth->header_len() + ip->total_len()) << "not in the padding";
        EXPECT_TRUE(checksums_catch(after)) << "subject " << k << " byte " << where;
      }
      if (k == 0) positions_in_small.insert(where);
    }
  }
  // The small frame's datagram is 29 bytes: the flips spread over all of them.
  EXPECT_EQ(positions_in_small.size(), 29u);
  EXPECT_EQ(injector.counters()[FaultCounter::corrupted], 400 * subjects.size());
}

TEST(FaultInjector, FrameWithNothingAfterTheEthernetHeaderIsLeftAlone) {
  FaultConfig config;
  config.corrupt = 1;
  FaultInjector injector(config);
  FakePool pool;
  ManualClock clock;
  std::vector<FrameDesc> out;
  const auto header_only = test::pattern(14);
  const FrameDesc f = pool.add(header_only);
  injector.process(f, clock.now(), pool, out);
  EXPECT_EQ(pool.contents(f), header_only);
  EXPECT_EQ(injector.counters()[FaultCounter::corrupted], 0u);
  EXPECT_EQ(out.size(), 1u);
}

TEST(FaultInjector, NoFrameIsLostOrDuplicatedUnlessDecided) {
  FaultConfig config;
  config.seed = 1234;
  config.drop = 0.2;
  config.duplicate = 0.2;
  config.reorder = 0.3;
  config.corrupt = 0.1;
  FaultInjector injector(config, 500us);
  FakePool pool;
  pool.free_frames = 3000;  // the pool runs dry part way: duplications get skipped
  ManualClock clock;
  std::vector<FrameDesc> in, out;
  constexpr int kFrames = 50000;
  for (int i = 0; i < kFrames; ++i) {
    in.push_back(pool.add_sized(64));
    injector.process(in.back(), clock.now(), pool, out);
    clock.advance(std::chrono::microseconds(i % 700));
    injector.release_due(clock.now(), out);
    ASSERT_EQ(in.size() + pool.copies.size(),
              out.size() + pool.discarded.size() + injector.frames_held());
  }
  injector.release_all(out);
  EXPECT_EQ(injector.frames_held(), 0u);
  EXPECT_GT(injector.counters()[FaultCounter::duplicate_skipped], 0u);
  EXPECT_GT(injector.counters()[FaultCounter::released_by_timeout], 0u);
  // count in == out + discarded - duplicates
  EXPECT_EQ(in.size(), out.size() + pool.discarded.size() - pool.copies.size());
  // Each frame, original or copy, leaves exactly once: out or discarded, never both.
  std::multiset<uint64_t> left;
  for (const FrameDesc& f : out) left.insert(f.offset);
  for (const FrameDesc& f : pool.discarded) left.insert(f.offset);
  std::multiset<uint64_t> entered;
  for (const FrameDesc& f : in) entered.insert(f.offset);
  for (const FrameDesc& f : pool.copies) entered.insert(f.offset);
  EXPECT_EQ(left, entered);
  EXPECT_EQ(pool.discarded.size(), injector.counters()[FaultCounter::dropped]);
  EXPECT_EQ(pool.copies.size(), injector.counters()[FaultCounter::duplicated]);
}

TEST(FaultCounters, EveryCounterHasANameAndHelp) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kFaultCounterCount; ++i) {
    const auto c = static_cast<FaultCounter>(i);
    EXPECT_FALSE(name(c).empty());
    EXPECT_FALSE(help(c).empty()) << name(c);
    names.insert(name(c));
  }
  EXPECT_EQ(names.size(), kFaultCounterCount);
  EXPECT_EQ(name(FaultCounter::corrupted), "corrupted");
}

}  // namespace
}  // namespace flowgate
