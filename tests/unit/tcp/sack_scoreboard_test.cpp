#include "tcp/sack_scoreboard.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace flowgate::tcp {

void PrintTo(const NextSegment& s, std::ostream* os) {
  static constexpr const char* kNames[] = {"none", "retransmit_lost", "new_data",
                                           "retransmit_unsacked", "rescue_retransmit"};
  *os << kNames[static_cast<int>(s.kind)] << " " << s.seq.raw() << "+" << s.len;
}

namespace {

using Kind = NextSegment::Kind;
using Blocks = std::vector<SackBlock>;
constexpr uint32_t kSmss = 1000;

// Segments of kSmss bytes numbered from 1, as RFC examples count them.
struct Segments {
  SeqNum base;
  SeqNum seg(uint32_t n) const { return base + (n - 1) * kSmss; }
  // Segments first..last, inclusive.
  SackBlock sack(uint32_t first, uint32_t last) const { return {seg(first), seg(last + 1)}; }
};

class SackScoreboardScenario : public ::testing::TestWithParam<uint32_t> {
 protected:
  Segments s{SeqNum(GetParam())};
};

// RFC 6675's basic case: ten segments sent, the 2nd lost, the 1st and 3rd..10th arrive.
TEST_P(SackScoreboardScenario, SecondOfTenLost) {
  SackScoreboard sb;
  const SeqNum una = s.seg(2);
  const SeqNum nxt = s.seg(11);

  auto r = sb.on_ack(una, Blocks{s.sack(3, 3)}, nxt);
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_TRUE(r.duplicate_ack());
  EXPECT_FALSE(sb.is_lost(una, kSmss));
  EXPECT_EQ(sb.pipe(una, nxt, kSmss), 8000u);

  r = sb.on_ack(una, Blocks{s.sack(3, 4)}, nxt);
  EXPECT_EQ(r.newly_sacked_bytes, 1000u);
  EXPECT_FALSE(sb.is_lost(una, kSmss)) << "2 * SMSS SACKed above is not more than 2 * SMSS";
  EXPECT_EQ(sb.pipe(una, nxt, kSmss), 7000u);

  r = sb.on_ack(una, Blocks{s.sack(3, 5)}, nxt);
  EXPECT_TRUE(r.duplicate_ack());
  EXPECT_TRUE(sb.is_lost(una, kSmss)) << "the third SACK makes the hole lost";
  EXPECT_FALSE(sb.is_lost(s.seg(6), kSmss));
  EXPECT_EQ(sb.pipe(una, nxt, kSmss), 5000u) << "the lost segment leaves the pipe";

  ASSERT_TRUE(sb.may_enter_recovery(una));
  EXPECT_EQ(sb.enter_recovery(una, nxt, kSmss), (NextSegment{Kind::retransmit_lost, una, 1000}));
  EXPECT_TRUE(sb.in_recovery());
  EXPECT_FALSE(sb.may_enter_recovery(una));
  EXPECT_EQ(sb.recovery_point(), nxt);
  EXPECT_EQ(sb.high_rxt(), s.seg(3));
  EXPECT_EQ(sb.pipe(una, nxt, kSmss), 6000u) << "the retransmission is in the pipe";

  // The hole is retransmitted already: new data next, else nothing (the rescue must wait).
  EXPECT_EQ(sb.next_segment(una, nxt, kSmss, 5000), (NextSegment{Kind::new_data, nxt, 1000}));
  EXPECT_EQ(sb.next_segment(una, nxt, kSmss, 300), (NextSegment{Kind::new_data, nxt, 300}));
  EXPECT_EQ(sb.next_segment(una, nxt, kSmss, 0), NextSegment{});

  for (uint32_t k = 6; k <= 10; ++k) {
    r = sb.on_ack(una, Blocks{s.sack(3, k)}, nxt);
    EXPECT_EQ(r.newly_sacked_bytes, 1000u);
    EXPECT_FALSE(r.recovery_ended);
    EXPECT_EQ(sb.pipe(una, nxt, kSmss), (10 - k) * 1000 + 1000) << "after SACK of " << k;
  }
  EXPECT_EQ(sb.sacked_bytes(), 8000u);
  EXPECT_EQ(sb.highest_sacked(), nxt);

  // The retransmission arrives: everything is acknowledged, recovery ends.
  r = sb.on_ack(nxt, {}, nxt);
  EXPECT_TRUE(r.recovery_ended);
  EXPECT_FALSE(r.duplicate_ack());
  EXPECT_FALSE(sb.in_recovery());
  EXPECT_EQ(sb.sacked_bytes(), 0u);
  EXPECT_TRUE(sb.sacked_ranges().empty());
  EXPECT_EQ(sb.pipe(nxt, nxt, kSmss), 0u);
  EXPECT_TRUE(sb.may_enter_recovery(nxt));
}

// Two holes: NextSeg() fills the lost hole before sending new data.
TEST_P(SackScoreboardScenario, NextSegPicksTheLostHoleBeforeNewData) {
  SackScoreboard sb;
  const SeqNum una = s.seg(2);
  const SeqNum nxt = s.seg(11);
  sb.on_ack(una, Blocks{s.sack(5, 10), s.sack(3, 3)}, nxt);
  EXPECT_TRUE(sb.is_lost(s.seg(2), kSmss));
  EXPECT_TRUE(sb.is_lost(s.seg(4), kSmss));
  EXPECT_EQ(sb.pipe(una, nxt, kSmss), 0u);

  EXPECT_EQ(sb.enter_recovery(una, nxt, kSmss), (NextSegment{Kind::retransmit_lost, una, 1000}));
  const NextSegment hole = sb.next_segment(una, nxt, kSmss, 5000);
  EXPECT_EQ(hole, (NextSegment{Kind::retransmit_lost, s.seg(4), 1000}));
  sb.on_sent(hole);
  EXPECT_EQ(sb.high_rxt(), s.seg(5));
  EXPECT_EQ(sb.pipe(una, nxt, kSmss), 2000u) << "both retransmissions";
  EXPECT_EQ(sb.next_segment(una, nxt, kSmss, 5000), (NextSegment{Kind::new_data, nxt, 1000}));
}

// A hole not yet deemed lost is retransmitted by rule (3) only when there is no new data,
// and is then counted twice in the pipe; the rescue retransmission comes once per recovery.
TEST_P(SackScoreboardScenario, Rule3AndTheRescueRetransmission) {
  SackScoreboard sb;
  SeqNum una = s.seg(2);
  const SeqNum nxt = s.seg(11);
  // Arrived: 1, 3, 4, 5, 7. Missing: 2, 6. Still in flight: 8, 9, 10.
  sb.on_ack(una, Blocks{s.sack(7, 7), s.sack(3, 5)}, nxt);
  EXPECT_TRUE(sb.is_lost(s.seg(2), kSmss));
  EXPECT_FALSE(sb.is_lost(s.seg(6), kSmss));
  EXPECT_EQ(sb.pipe(una, nxt, kSmss), 4000u);

  EXPECT_EQ(sb.enter_recovery(una, nxt, kSmss).seq, una);
  EXPECT_EQ(sb.pipe(una, nxt, kSmss), 5000u);
  EXPECT_EQ(sb.next_segment(una, nxt, kSmss, 1000).kind, Kind::new_data);
  const NextSegment unsacked = sb.next_segment(una, nxt, kSmss, 0);
  EXPECT_EQ(unsacked, (NextSegment{Kind::retransmit_unsacked, s.seg(6), 1000}));
  sb.on_sent(unsacked);
  EXPECT_EQ(sb.pipe(una, nxt, kSmss), 6000u) << "segment 6 is not lost and retransmitted";
  EXPECT_EQ(sb.next_segment(una, nxt, kSmss, 0), NextSegment{})
      << "no rescue before HighACK passes RescueRxt";

  // The retransmitted 2nd segment arrives: a partial ACK up to the hole at 6.
  una = s.seg(6);
  const auto r = sb.on_ack(una, Blocks{s.sack(7, 7)}, nxt);
  EXPECT_FALSE(r.recovery_ended);
  EXPECT_FALSE(r.duplicate_ack());
  const NextSegment rescue = sb.next_segment(una, nxt, kSmss, 0);
  EXPECT_EQ(rescue, (NextSegment{Kind::rescue_retransmit, s.seg(10), 1000}))
      << "the segment holding the highest unSACKed octet";
  sb.on_sent(rescue);
  EXPECT_EQ(sb.high_rxt(), s.seg(7)) << "HighRxt MUST NOT be updated";
  EXPECT_EQ(sb.rescue_rxt(), nxt) << "RescueRxt = RecoveryPoint";
  EXPECT_EQ(sb.next_segment(una, nxt, kSmss, 0), NextSegment{}) << "one rescue per recovery";
  EXPECT_TRUE(sb.on_ack(nxt, {}, nxt).recovery_ended);
}

INSTANTIATE_TEST_SUITE_P(SackScoreboardRfc6675, SackScoreboardScenario,
                         ::testing::Values(1000u, 0xffffd000u, 0x7fffe000u),
                         [](const ::testing::TestParamInfo<uint32_t>& p) {
                           return "base_" + std::to_string(p.param);
                         });

SackBlock blk(uint32_t left, uint32_t right) {
  return {SeqNum(left), SeqNum(right)};
}

TEST(SackScoreboard, IgnoresAndCountsInvalidBlocks) {
  SackScoreboard sb;
  const SeqNum una(1000);
  const SeqNum nxt(5000);
  auto r = sb.on_ack(
      una, Blocks{blk(1000, 1500), blk(1500, 1500), blk(2000, 1500), blk(4500, 5001)}, nxt);
  EXPECT_EQ(r.ignored_invalid, 4u) << "left == SND.UNA, empty, reversed, beyond SND.NXT";
  r = sb.on_ack(una, Blocks{blk(5000, 5100), blk(900, 1100), blk(0x80001000u, 0x80002000u)}, nxt);
  EXPECT_EQ(r.ignored_invalid, 3u) << "at SND.NXT, straddling SND.UNA, far away";
  EXPECT_EQ(r.accepted, 0u);
  EXPECT_EQ(sb.sacked_bytes(), 0u);
  EXPECT_FALSE(r.duplicate_ack());
}

TEST(SackScoreboard, IgnoresAndCountsDsackBlocks) {
  SackScoreboard sb;
  const SeqNum una(1000);
  const SeqNum nxt(5000);
  auto r = sb.on_ack(una, Blocks{blk(500, 900)}, nxt);
  EXPECT_EQ(r.ignored_dsack, 1u);
  r = sb.on_ack(una, Blocks{blk(500, 1000), blk(2000, 3000)}, nxt);
  EXPECT_EQ(r.ignored_dsack, 1u) << "right edge at the cumulative ACK";
  EXPECT_EQ(r.accepted, 1u);
  r = sb.on_ack(una, Blocks{blk(3200, 3300), blk(3000, 4000)}, nxt);
  EXPECT_EQ(r.ignored_dsack, 1u) << "first block inside the second";
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_EQ(sb.sacked_ranges().size(), 1u);
  EXPECT_EQ(sb.sacked_ranges()[0], blk(2000, 4000));
}

TEST(SackScoreboard, ConsidersAtMostFourBlocks) {
  SackScoreboard sb;
  const auto r = sb.on_ack(
      SeqNum(0), Blocks{blk(100, 200), blk(300, 400), blk(500, 600), blk(700, 800), blk(900, 1000)},
      SeqNum(2000));
  EXPECT_EQ(r.accepted, 4u);
  EXPECT_EQ(r.ignored_excess, 1u);
  EXPECT_FALSE(sb.is_sacked(SeqNum(900)));
}

TEST(SackScoreboard, MergesOverlappingAndAdjacentBlocks) {
  SackScoreboard sb;
  const SeqNum una(1000);
  const SeqNum nxt(9000);
  sb.on_ack(una, Blocks{blk(2000, 3000), blk(4000, 5000)}, nxt);
  EXPECT_EQ(sb.sacked_ranges().size(), 2u);
  auto r = sb.on_ack(una, Blocks{blk(3000, 4000)}, nxt);
  EXPECT_EQ(r.newly_sacked_bytes, 1000u);
  ASSERT_EQ(sb.sacked_ranges().size(), 1u);
  EXPECT_EQ(sb.sacked_ranges()[0], blk(2000, 5000));
  r = sb.on_ack(una, Blocks{blk(2500, 4500)}, nxt);
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_FALSE(r.duplicate_ack()) << "nothing new";
  r = sb.on_ack(una, Blocks{blk(1500, 6000), blk(7000, 8000)}, nxt);
  EXPECT_EQ(r.newly_sacked_bytes, 2500u);
  EXPECT_EQ(sb.sacked_bytes(), 5500u);
  EXPECT_EQ(sb.sacked_ranges().size(), 2u);
  EXPECT_TRUE(sb.is_sacked(SeqNum(1500)));
  EXPECT_TRUE(sb.is_sacked(SeqNum(5999)));
  EXPECT_FALSE(sb.is_sacked(SeqNum(6000)));
  EXPECT_FALSE(sb.is_sacked(SeqNum(1499)));
  EXPECT_EQ(sb.highest_sacked(), SeqNum(8000));
}

TEST(SackScoreboard, CumulativeAckDropsAndTrimsRanges) {
  SackScoreboard sb;
  const SeqNum nxt(9000);
  sb.on_ack(SeqNum(1000), Blocks{blk(2000, 3000), blk(4000, 5000)}, nxt);
  sb.on_ack(SeqNum(3000), {}, nxt);
  EXPECT_EQ(sb.sacked_bytes(), 1000u);
  ASSERT_EQ(sb.sacked_ranges().size(), 1u);
  sb.on_ack(SeqNum(4500), {}, nxt);  // a receiver that reneged on part of a block
  EXPECT_EQ(sb.sacked_bytes(), 500u);
  EXPECT_EQ(sb.sacked_ranges()[0], blk(4500, 5000));
  sb.on_ack(SeqNum(6000), {}, nxt);
  EXPECT_EQ(sb.sacked_bytes(), 0u);
  EXPECT_EQ(sb.highest_sacked(), std::nullopt);
}

TEST(SackScoreboard, RangeCapIgnoresNewRangesButKeepsMerging) {
  SackScoreboard sb(2);
  const SeqNum una(0);
  const SeqNum nxt(10000);
  auto r = sb.on_ack(una, Blocks{blk(2000, 2100), blk(3000, 3100), blk(4000, 4100)}, nxt);
  EXPECT_EQ(r.accepted, 2u);
  EXPECT_EQ(r.ignored_capacity, 1u);
  r = sb.on_ack(una, Blocks{blk(3100, 3200)}, nxt);
  EXPECT_EQ(r.accepted, 1u) << "extends a range";
  r = sb.on_ack(una, Blocks{blk(2050, 3050)}, nxt);
  EXPECT_EQ(r.accepted, 1u) << "bridges two ranges";
  EXPECT_EQ(sb.sacked_ranges().size(), 1u);
  r = sb.on_ack(una, Blocks{blk(4000, 4100)}, nxt);
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_EQ(sb.sacked_ranges().size(), 2u);
}

TEST(SackScoreboard, IsLostCountsDiscontiguousRangesOrBytes) {
  SackScoreboard sb;
  const SeqNum una(0);
  const SeqNum nxt(100000);
  // Three small discontiguous ranges above 0: lost although only 300 bytes are SACKed.
  sb.on_ack(una, Blocks{blk(1000, 1100), blk(2000, 2100), blk(3000, 3100)}, nxt);
  EXPECT_TRUE(sb.is_lost(SeqNum(0), kSmss));
  EXPECT_FALSE(sb.is_lost(SeqNum(1500), kSmss)) << "two ranges above";
  EXPECT_TRUE(sb.is_lost(SeqNum(1000), kSmss)) << "part of the first range is above it";
  EXPECT_FALSE(sb.is_lost(SeqNum(1099), kSmss));
  // More than 2 * SMSS bytes in one range.
  sb.on_ack(una, Blocks{blk(10000, 12001)}, nxt);
  EXPECT_TRUE(sb.is_lost(SeqNum(9000), kSmss));
  EXPECT_FALSE(sb.is_lost(SeqNum(10000), kSmss)) << "2000 bytes above 10000";
}

TEST(SackScoreboard, TimeoutClearsSackInformationAndBarsRecovery) {
  SackScoreboard sb;
  const Segments s{SeqNum(0xfffff000u)};
  const SeqNum una = s.seg(2);
  const SeqNum nxt = s.seg(11);
  sb.on_ack(una, Blocks{s.sack(3, 6)}, nxt);
  ASSERT_EQ(sb.enter_recovery(una, nxt, kSmss).kind, Kind::retransmit_lost);

  sb.on_rto(nxt);
  EXPECT_FALSE(sb.in_recovery());
  EXPECT_EQ(sb.sacked_bytes(), 0u);
  EXPECT_FALSE(sb.is_sacked(s.seg(3)));
  EXPECT_EQ(sb.high_rxt(), std::nullopt);
  EXPECT_EQ(sb.pipe(una, nxt, kSmss), 9000u);
  EXPECT_FALSE(sb.may_enter_recovery(una));
  EXPECT_EQ(sb.enter_recovery(una, nxt, kSmss), NextSegment{}) << "RFC 6675 section 5.1";

  // SACK information arriving after the timeout is used again.
  const SeqNum more = s.seg(13);
  auto r = sb.on_ack(s.seg(4), Blocks{s.sack(6, 10)}, more);
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_TRUE(sb.is_lost(s.seg(4), kSmss));
  EXPECT_FALSE(sb.may_enter_recovery(s.seg(4)));
  sb.on_ack(nxt, {}, more);
  EXPECT_TRUE(sb.may_enter_recovery(nxt)) << "HighACK reached the recovery point";
}

TEST(SackScoreboard, ClearForgetsEverything) {
  SackScoreboard sb;
  sb.on_ack(SeqNum(0), Blocks{blk(1000, 2000)}, SeqNum(5000));
  sb.enter_recovery(SeqNum(0), SeqNum(5000), kSmss);
  sb.on_rto(SeqNum(5000));
  sb.clear();
  EXPECT_EQ(sb.sacked_bytes(), 0u);
  EXPECT_FALSE(sb.in_recovery());
  EXPECT_TRUE(sb.may_enter_recovery(SeqNum(0)));
}

// SetPipe(), IsLost() and NextSeg() rules (1), (3), (4) against the RFC's octet-by-octet
// definitions, on random scoreboards (fixed seed) in a small sequence space across the wrap.
TEST(SackScoreboard, MatchesTheOctetByOctetDefinitions) {
  constexpr uint32_t kFlight = 48;
  constexpr uint32_t kSmall = 4;
  std::mt19937 rng(777);
  const auto uniform = [&rng](uint32_t lo, uint32_t hi) {
    return lo + static_cast<uint32_t>(rng() % (hi - lo + 1));
  };
  for (int round = 0; round < 1500; ++round) {
    const SeqNum una(0xffffffe0u + uniform(0, 64));
    const SeqNum nxt = una + kFlight;
    SackScoreboard sb;
    std::vector<bool> sacked(kFlight, false);
    for (uint32_t n = uniform(0, 6); n > 0; --n) {
      const uint32_t l = uniform(1, kFlight - 1);
      const uint32_t r = uniform(l + 1, kFlight);
      sb.on_ack(una, Blocks{{una + l, una + r}}, nxt);
      for (uint32_t o = l; o < r; ++o) sacked[o] = true;
    }
    std::optional<uint32_t> high_rxt;  // offset one past HighRxt
    if (uniform(0, 2) != 0 && sb.enter_recovery(una, nxt, kSmall).len > 0) {
      high_rxt = sb.high_rxt().value() - una;
      if (uniform(0, 1) == 0) {
        const uint32_t end = uniform(*high_rxt, kFlight);
        sb.on_sent({Kind::retransmit_lost, una + (end - 1), 1});
        high_rxt = end;
      }
    }

    const auto lost_ref = [&](uint32_t o) {
      uint32_t runs = 0;
      uint32_t bytes = 0;
      for (uint32_t p = o + 1; p < kFlight; ++p) {
        if (!sacked[p]) continue;
        ++bytes;
        if (p == o + 1 || !sacked[p - 1]) ++runs;
      }
      return runs >= 3 || bytes > 2 * kSmall;
    };
    uint32_t pipe_ref = 0;
    for (uint32_t o = 0; o < kFlight; ++o) {
      ASSERT_EQ(sb.is_lost(una + o, kSmall), lost_ref(o)) << "round " << round << " octet " << o;
      ASSERT_EQ(sb.is_sacked(una + o), sacked[o]);
      if (sacked[o]) continue;
      if (!lost_ref(o)) ++pipe_ref;
      if (high_rxt && o < *high_rxt) ++pipe_ref;
    }
    ASSERT_EQ(sb.pipe(una, nxt, kSmall), pipe_ref) << "round " << round;

    // NextSeg() without new data.
    std::optional<uint32_t> highest_sacked;
    for (uint32_t o = 0; o < kFlight; ++o) {
      if (sacked[o]) highest_sacked = o;
    }
    const auto segment_from = [&](uint32_t o) {
      uint32_t len = 0;
      while (o + len < kFlight && !sacked[o + len] && len < kSmall) ++len;
      return len;
    };
    NextSegment want;
    for (uint32_t o = high_rxt.value_or(0); highest_sacked && o < *highest_sacked; ++o) {
      if (sacked[o]) continue;
      want = {lost_ref(o) ? Kind::retransmit_lost : Kind::retransmit_unsacked, una + o,
              segment_from(o)};
      break;
    }
    if (want.kind == Kind::none && sb.in_recovery()) {
      // Rule (4): allowed while HighACK has not passed RescueRxt only if it is undefined.
      const bool allowed = !sb.rescue_rxt() || una > *sb.rescue_rxt();
      std::optional<uint32_t> top;
      for (uint32_t o = 0; o < kFlight; ++o) {
        if (!sacked[o]) top = o;
      }
      if (allowed && top) {
        uint32_t len = 1;
        while (len < kSmall && len <= *top && !sacked[*top - len]) ++len;
        want = {Kind::rescue_retransmit, una + (*top + 1 - len), len};
      }
    }
    ASSERT_EQ(sb.next_segment(una, nxt, kSmall, 0), want) << "round " << round;
  }
}

}  // namespace
}  // namespace flowgate::tcp
