#include "tcp/congestion.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <vector>

#include "tcp/cubic.hpp"
#include "tcp/newreno.hpp"

namespace flowgate::tcp {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint32_t kMss = 1000;  // round numbers: cwnd / kMss is the window in segments
const Instant kStart = Instant(seconds(1000));

// An ACK for `acked` bytes from a sender that keeps cwnd full: what remains in flight after
// it is the window less what it acknowledged.
void ack(CongestionControl& cc, Instant now, uint32_t acked,
         std::optional<Duration> srtt = std::nullopt) {
  cc.on_ack(now, acked, srtt, cc.cwnd() > acked ? cc.cwnd() - acked : 0);
}

// One round trip of a cwnd-limited sender starting at `start`: the window sent at `start` is
// acknowledged `per_ack` bytes at a time, the ACKs spread evenly over `rtt`. Returns the time
// the round ends (when the last ACK arrives).
Instant round_trip(CongestionControl& cc, Instant start, Duration rtt, uint32_t per_ack = kMss) {
  const uint32_t acks = std::max<uint32_t>(1, cc.cwnd() / per_ack);
  for (uint32_t i = 1; i <= acks; ++i) ack(cc, start + rtt * i / acks, per_ack, rtt);
  return start + rtt;
}

double segments(uint32_t bytes) {
  return static_cast<double>(bytes) / kMss;
}

// --- Initial window and factory ---------------------------------------------------------

TEST(Congestion, InitialWindowFollowsRfc6928) {
  EXPECT_EQ(initial_window(536), 5360u) << "10 * 536";
  EXPECT_EQ(initial_window(1460), 14600u);
  EXPECT_EQ(initial_window(8960), 17920u) << "2 * 8960, above 14600";
  EXPECT_EQ(initial_window(100), 1000u);
}

TEST(Congestion, FactoryBuildsEachAlgorithmAtTheInitialWindow) {
  const auto newreno = make_congestion_control(CongestionAlgorithm::newreno, 1460, 14600);
  const auto cubic = make_congestion_control(CongestionAlgorithm::cubic, 1460, 14600);
  EXPECT_EQ(newreno->name(), "newreno");
  EXPECT_EQ(cubic->name(), "cubic");
  for (const auto* cc : {newreno.get(), cubic.get()}) {
    EXPECT_EQ(cc->cwnd(), 14600u);
    EXPECT_EQ(cc->smss(), 1460u);
    EXPECT_GE(cc->ssthresh(), 1u << 30) << "arbitrarily high: above any scaled window";
    EXPECT_TRUE(cc->in_slow_start());
  }
}

TEST(Congestion, InitialWindowIsAtLeastOneSegment) {
  const auto cc = make_congestion_control(CongestionAlgorithm::newreno, 1460, 0);
  EXPECT_EQ(cc->cwnd(), 1460u);
}

// --- NewReno ------------------------------------------------------------------------------

TEST(NewReno, SlowStartDoublesEachRoundTrip) {
  NewReno cc(kMss, 10 * kMss);
  Instant now = kStart;
  now = round_trip(cc, now, milliseconds(10));
  EXPECT_EQ(cc.cwnd(), 20 * kMss);
  now = round_trip(cc, now, milliseconds(10));
  EXPECT_EQ(cc.cwnd(), 40 * kMss);
}

TEST(NewReno, SlowStartWithDelayedAcksStillDoubles) {
  NewReno cc(kMss, 10 * kMss);
  round_trip(cc, kStart, milliseconds(10), 2 * kMss);  // RFC 3465 L = 2*SMSS
  EXPECT_EQ(cc.cwnd(), 20 * kMss);
}

TEST(NewReno, StretchAckGrowsAtMostTwoSegments) {
  NewReno cc(kMss, 10 * kMss);
  ack(cc, kStart, 8 * kMss);
  EXPECT_EQ(cc.cwnd(), 12 * kMss);
  ack(cc, kStart, 500);  // a small segment counts its bytes
  EXPECT_EQ(cc.cwnd(), 12 * kMss + 500);
}

TEST(NewReno, CongestionAvoidanceAddsOneSegmentPerRoundTrip) {
  NewReno cc(kMss, 10 * kMss);
  cc.on_congestion_event(kStart, 40 * kMss);
  cc.on_recovery_exit(kStart);
  ASSERT_EQ(cc.cwnd(), 20 * kMss);
  ASSERT_FALSE(cc.in_slow_start());
  Instant now = round_trip(cc, kStart, milliseconds(10));
  EXPECT_EQ(cc.cwnd(), 21 * kMss);
  now = round_trip(cc, now, milliseconds(10));
  EXPECT_EQ(cc.cwnd(), 22 * kMss);
  round_trip(cc, now, milliseconds(10), 2 * kMss);  // delayed ACKs: byte counting
  EXPECT_EQ(cc.cwnd(), 23 * kMss);
}

TEST(NewReno, CongestionAvoidanceGrowsNoFasterOnAStretchAck) {
  NewReno cc(kMss, 10 * kMss);
  cc.on_congestion_event(kStart, 20 * kMss);  // cwnd = ssthresh = 10 segments
  ack(cc, kStart, 30 * kMss);
  EXPECT_EQ(cc.cwnd(), 11 * kMss) << "one SMSS per ACK at most";
}

TEST(NewReno, LossSetsSsthreshToHalfTheFlightSize) {
  NewReno cc(kMss, 40 * kMss);
  cc.on_congestion_event(kStart, 30 * kMss);
  EXPECT_EQ(cc.ssthresh(), 15 * kMss) << "RFC 5681 eq. 4 uses FlightSize, not cwnd";
  EXPECT_EQ(cc.cwnd(), 15 * kMss);
  cc.on_recovery_exit(kStart);
  EXPECT_EQ(cc.cwnd(), 15 * kMss);
}

TEST(NewReno, LossNeverGoesBelowTwoSegments) {
  NewReno cc(kMss, 10 * kMss);
  cc.on_congestion_event(kStart, 3 * kMss);
  EXPECT_EQ(cc.ssthresh(), 2 * kMss);
  EXPECT_EQ(cc.cwnd(), 2 * kMss);
  cc.on_congestion_event(kStart, 0);
  EXPECT_EQ(cc.ssthresh(), 2 * kMss);
}

TEST(NewReno, TimeoutFallsBackToTheLossWindow) {
  NewReno cc(kMss, 20 * kMss);
  cc.on_retransmit_timeout(kStart, 20 * kMss);
  EXPECT_EQ(cc.cwnd(), kMss) << "LW = 1 SMSS";
  EXPECT_EQ(cc.ssthresh(), 10 * kMss);

  // The backed-off retransmission of the same segment times out again: ssthresh is kept.
  cc.on_retransmit_timeout(kStart + seconds(1), 4 * kMss);
  EXPECT_EQ(cc.cwnd(), kMss);
  EXPECT_EQ(cc.ssthresh(), 10 * kMss);

  // Once new data is acknowledged, a timeout is a new loss.
  ack(cc, kStart + seconds(2), kMss);
  cc.on_retransmit_timeout(kStart + seconds(3), 6 * kMss);
  EXPECT_EQ(cc.ssthresh(), 3 * kMss);
  EXPECT_EQ(cc.cwnd(), kMss);
}

TEST(NewReno, TimeoutFloorIsTwoSegments) {
  NewReno cc(kMss, 10 * kMss);
  cc.on_retransmit_timeout(kStart, kMss);
  EXPECT_EQ(cc.ssthresh(), 2 * kMss);
  EXPECT_EQ(cc.cwnd(), kMss);
}

TEST(NewReno, SlowStartAfterATimeoutCountsOneSegmentPerAck) {
  NewReno cc(kMss, 40 * kMss);
  cc.on_retransmit_timeout(kStart, 40 * kMss);  // ssthresh 20
  ack(cc, kStart, 2 * kMss);
  EXPECT_EQ(cc.cwnd(), 2 * kMss) << "L = 1*SMSS after an RTO";
  // Up to ssthresh, then congestion avoidance: 2, 4, 8, 16, 20 (capped), 21.
  Instant now = kStart;
  for (const uint32_t want : {4u, 8u, 16u, 20u, 21u}) {
    now = round_trip(cc, now, milliseconds(10));
    EXPECT_EQ(cc.cwnd(), want * kMss);
  }
}

TEST(NewReno, SlowStartStopsAtSsthreshAndPassesTheRestOn) {
  NewReno cc(kMss, 40 * kMss);
  cc.on_congestion_event(kStart, 20 * kMss);  // ssthresh 10
  ack(cc, kStart, kMss);                      // congestion avoidance: counted, no growth
  EXPECT_EQ(cc.cwnd(), 10 * kMss);
  cc.on_retransmit_timeout(kStart, 19 * kMss);  // ssthresh 9.5 segments, cwnd 1
  for (int i = 0; i < 4; ++i) ack(cc, kStart, kMss);
  EXPECT_EQ(cc.cwnd(), 5 * kMss);
  ack(cc, kStart, 2 * kMss);
  ack(cc, kStart, 2 * kMss);
  EXPECT_EQ(cc.cwnd(), 7 * kMss);
  ack(cc, kStart, kMss);
  ack(cc, kStart, kMss);
  EXPECT_EQ(cc.cwnd(), 9 * kMss);
  ack(cc, kStart, kMss);
  EXPECT_EQ(cc.cwnd(), 9500u) << "capped at ssthresh";
  EXPECT_FALSE(cc.in_slow_start());
}

TEST(NewReno, DoesNotGrowWhenApplicationLimited) {
  NewReno cc(kMss, 10 * kMss);
  cc.on_ack(kStart, kMss, std::nullopt, 0);  // one segment was all there was to send
  EXPECT_EQ(cc.cwnd(), 10 * kMss);
  cc.on_ack(kStart, kMss, std::nullopt, 8 * kMss);  // 9 of 10 in flight: room for one more
  EXPECT_EQ(cc.cwnd(), 10 * kMss);
  cc.on_ack(kStart, kMss, std::nullopt, 8 * kMss + 1);  // less than a segment of room
  EXPECT_EQ(cc.cwnd(), 11 * kMss);
}

TEST(NewReno, IgnoresAcksOfNothing) {
  NewReno cc(kMss, 10 * kMss);
  cc.on_ack(kStart, 0, std::nullopt, 10 * kMss);
  EXPECT_EQ(cc.cwnd(), 10 * kMss);
}

TEST(NewReno, RestartsFromTheInitialWindowAfterIdlingLongerThanTheRto) {
  NewReno cc(kMss, 10 * kMss);
  Instant now = round_trip(cc, kStart, milliseconds(10));
  now = round_trip(cc, now, milliseconds(10));
  ASSERT_EQ(cc.cwnd(), 40 * kMss);
  cc.on_idle_restart(now + milliseconds(500), milliseconds(500), seconds(1));
  EXPECT_EQ(cc.cwnd(), 40 * kMss) << "idle shorter than the RTO";
  cc.on_idle_restart(now + seconds(3), seconds(2), seconds(1));
  EXPECT_EQ(cc.cwnd(), 10 * kMss) << "RFC 5681 4.1: RW = min(IW, cwnd)";

  NewReno small(kMss, 10 * kMss);
  small.on_retransmit_timeout(kStart, 10 * kMss);
  small.on_idle_restart(kStart + seconds(3), seconds(2), seconds(1));
  EXPECT_EQ(small.cwnd(), kMss) << "a cwnd below IW stays";
}

TEST(NewReno, MssChangeKeepsBytesAndGrowsInTheNewSegmentSize) {
  NewReno cc(kMss, 10 * kMss);
  cc.set_mss(500);
  EXPECT_EQ(cc.cwnd(), 10 * kMss);
  EXPECT_EQ(cc.smss(), 500u);
  ack(cc, kStart, 2000);
  EXPECT_EQ(cc.cwnd(), 11 * kMss) << "L = 2 * 500";
}

// --- CUBIC --------------------------------------------------------------------------------

// A CUBIC sender that just lost at a window of `w_max_segments` segments, all in flight, and
// finished fast recovery at kStart.
std::unique_ptr<Cubic> cubic_after_loss(uint32_t w_max_segments, CubicConfig config = {}) {
  auto cc = std::make_unique<Cubic>(kMss, w_max_segments * kMss, config);
  cc->on_congestion_event(kStart, w_max_segments * kMss);
  cc->on_recovery_exit(kStart);
  return cc;
}

TEST(Cubic, LossReducesToBetaAndRemembersWmax) {
  const auto cc = cubic_after_loss(100);
  EXPECT_EQ(cc->ssthresh(), 70 * kMss);
  EXPECT_EQ(cc->cwnd(), 70 * kMss);
  EXPECT_DOUBLE_EQ(cc->w_max(), 100 * kMss);
}

TEST(Cubic, LossNeverGoesBelowTwoSegments) {
  Cubic cc(kMss, 10 * kMss);
  cc.on_congestion_event(kStart, 2 * kMss);  // 0.7 * 2 = 1.4 segments
  EXPECT_EQ(cc.ssthresh(), 2 * kMss);
  EXPECT_EQ(cc.cwnd(), 2 * kMss);
}

TEST(Cubic, SlowStartIsReno) {
  Cubic cc(kMss, 10 * kMss);
  const Instant now = round_trip(cc, kStart, milliseconds(10));
  EXPECT_EQ(cc.cwnd(), 20 * kMss);
  round_trip(cc, now, milliseconds(10), 2 * kMss);
  EXPECT_EQ(cc.cwnd(), 40 * kMss);
}

TEST(Cubic, GrowsBackToWmaxAroundK) {
  const auto cc = cubic_after_loss(100);
  const Duration rtt = milliseconds(100);
  Instant now = round_trip(*cc, kStart, rtt);
  // K = cbrt((W_max - cwnd_epoch) / C) = cbrt(30 / 0.4) seconds.
  const double k = std::cbrt(30 / 0.4);
  EXPECT_NEAR(cc->k(), k, 1e-9);
  while (now - kStart < std::chrono::duration<double>(k)) now = round_trip(*cc, now, rtt);
  EXPECT_NEAR(segments(cc->cwnd()), 100.0, 1.0);
  EXPECT_LT(cc->w_est(), 95.0 * kMss) << "the cubic curve, not Reno, got it there";
}

TEST(Cubic, ConcaveBelowWmaxThenConvexAbove) {
  // W_max = 1000 segments keeps the Reno-friendly W_est (700 + 0.53 per round trip) out of
  // the way: K = cbrt(300 / 0.4) ~ 9.1 s, round trip 91.
  const auto cc = cubic_after_loss(1000);
  const Duration rtt = milliseconds(100);
  std::vector<double> window{segments(cc->cwnd())};  // segments after each round trip
  Instant now = kStart;
  for (int i = 0; i < 160; ++i) {
    now = round_trip(*cc, now, rtt);
    window.push_back(segments(cc->cwnd()));
  }
  const auto growth = [&](int round) { return window[round] - window[round - 1]; };
  EXPECT_GT(growth(10), growth(50));
  EXPECT_GT(growth(50), growth(85));
  EXPECT_LT(growth(97), growth(120));
  EXPECT_LT(growth(120), growth(160));
  EXPECT_LT(window[80], 1000.0);
  EXPECT_GT(window[105], 1000.0);
  // The plateau: little growth around W_max compared with either end.
  EXPECT_LT(growth(91), 0.05 * growth(10));
  EXPECT_LT(growth(91), 0.05 * growth(160));
  EXPECT_LT(cc->w_est(), 800.0 * kMss) << "all of it was the cubic curve";
  // Never faster than 1.5x per round trip (4.2's bound on target).
  for (int round = 1; round <= 160; ++round) EXPECT_LE(window[round], 1.5 * window[round - 1]);
}

TEST(Cubic, FastConvergenceLowersWmaxWhenLossComesEarly) {
  const Duration rtt = milliseconds(100);
  for (const bool fast_convergence : {true, false}) {
    const auto cc = cubic_after_loss(100, CubicConfig{.fast_convergence = fast_convergence});
    Instant now = kStart;
    for (int i = 0; i < 10; ++i) now = round_trip(*cc, now, rtt);
    const double cwnd = cc->cwnd();
    ASSERT_LT(cwnd, 100.0 * kMss);
    cc->on_congestion_event(now, cc->cwnd());
    if (fast_convergence) {
      EXPECT_NEAR(cc->w_max(), cwnd * (1 + 0.7) / 2, 1.0) << "RFC 9438 4.7";
    } else {
      EXPECT_NEAR(cc->w_max(), cwnd, 1.0);
    }
    EXPECT_EQ(cc->ssthresh(), static_cast<uint32_t>(cwnd * 0.7));
  }
}

TEST(Cubic, LossAboveWmaxRemembersTheNewMaximum) {
  const auto cc = cubic_after_loss(100);
  Instant now = kStart;
  while (cc->cwnd() < 110 * kMss) now = round_trip(*cc, now, milliseconds(100));
  const double cwnd = cc->cwnd();
  cc->on_congestion_event(now, cc->cwnd());
  EXPECT_NEAR(cc->w_max(), cwnd, 1.0);
}

TEST(Cubic, RenoFriendlyRegionDominatesAtShortRtt) {
  // 100 us RTT: in 40 round trips (4 ms) the cubic curve has barely moved from 70 segments,
  // while Reno would have added alpha_cubic segments per round trip.
  const auto cc = cubic_after_loss(100);
  const Duration rtt = microseconds(100);
  Instant now = kStart;
  double previous = segments(cc->cwnd());
  for (int i = 0; i < 40; ++i) {
    now = round_trip(*cc, now, rtt);
    const double current = segments(cc->cwnd());
    EXPECT_NEAR(current - previous, Cubic::kAlpha, 0.05) << "round " << i;
    previous = current;
  }
  EXPECT_NEAR(segments(cc->cwnd()), 70 + 40 * Cubic::kAlpha, 0.5);
  EXPECT_GE(cc->cwnd(), static_cast<uint32_t>(cc->w_est()));
  EXPECT_LT(cc->w_est() - cc->cwnd(), 1.0);

  // Once W_est reaches cwnd_prior (100 segments) alpha_cubic becomes 1: Reno's pace.
  while (cc->w_est() < 101 * kMss) now = round_trip(*cc, now, rtt);
  const double before = segments(cc->cwnd());
  round_trip(*cc, now, rtt);
  EXPECT_NEAR(segments(cc->cwnd()) - before, 1.0, 0.05);
}

TEST(Cubic, TargetIsAtMostOneAndAHalfWindows) {
  const auto cc = cubic_after_loss(100);
  ack(*cc, kStart, kMss, milliseconds(100));  // starts the stage
  // An absurd RTT puts W_cubic(t + RTT) far above cwnd; a stretch ACK of the whole window
  // then gets exactly the bound: target = 1.5 * cwnd (RFC 9438 4.2).
  const double before = cc->cwnd();
  ack(*cc, kStart + seconds(1), cc->cwnd(), seconds(100));
  EXPECT_NEAR(cc->cwnd(), 1.5 * before, 1.0);
}

TEST(Cubic, TimeoutFallsBackToOneSegmentAndRestartsTheCurveAtK0) {
  const auto cc = cubic_after_loss(100);  // W_max 100 segments, cwnd 70
  cc->on_retransmit_timeout(kStart, 70 * kMss);
  EXPECT_EQ(cc->cwnd(), kMss);
  EXPECT_EQ(cc->ssthresh(), 49 * kMss) << "RFC 9438 4.8: ssthresh with beta_cubic";
  cc->on_retransmit_timeout(kStart + seconds(1), 10 * kMss);
  EXPECT_EQ(cc->ssthresh(), 49 * kMss) << "a repeated timeout keeps it";

  // Slow start (L = 1*SMSS) up to ssthresh.
  const Duration rtt = milliseconds(100);
  Instant now = kStart + seconds(2);
  while (cc->in_slow_start()) {
    ack(*cc, now, kMss, rtt);
    now += milliseconds(1);
  }
  EXPECT_EQ(cc->cwnd(), 49 * kMss);
  ack(*cc, now, kMss, rtt);
  // 4.8: "K is set to 0, and W_max is set to the congestion window size at the beginning of
  // the current congestion avoidance stage" (not the 100 segments before the timeout).
  EXPECT_EQ(cc->k(), 0.0);
  EXPECT_DOUBLE_EQ(cc->w_max(), 49.0 * kMss);
  // From there the curve is convex. At first Reno's W_est (alpha_cubic per round trip) leads;
  // after a few seconds C * t^3 grows faster.
  const double start = segments(cc->cwnd());
  now = round_trip(*cc, now, rtt);
  const double first = segments(cc->cwnd()) - start;
  EXPECT_NEAR(first, Cubic::kAlpha, 0.05);
  for (int i = 0; i < 60; ++i) now = round_trip(*cc, now, rtt);
  const double before = segments(cc->cwnd());
  round_trip(*cc, now, rtt);
  EXPECT_GT(segments(cc->cwnd()) - before, 3 * first);
}

// Curve time excludes periods where cwnd could not grow: a sender that pauses for 10 s ends
// with exactly the window of one that never paused.
TEST(Cubic, ApplicationLimitedTimeIsNotCurveTime) {
  const Duration rtt = milliseconds(100);
  const auto steady = cubic_after_loss(100);
  const auto paused = cubic_after_loss(100);
  Instant now = kStart;
  for (int i = 0; i < 5; ++i) {
    round_trip(*paused, now, rtt);
    now = round_trip(*steady, now, rtt);
  }
  ASSERT_EQ(steady->cwnd(), paused->cwnd());
  const uint32_t cwnd = paused->cwnd();
  // The application has little to send for 10 s.
  paused->on_ack(now + seconds(5), kMss, rtt, 0);
  paused->on_ack(now + seconds(10), kMss, rtt, kMss);
  EXPECT_EQ(paused->cwnd(), cwnd) << "no growth while application-limited";

  for (int i = 0; i < 5; ++i) {
    round_trip(*paused, now + seconds(10), rtt);
    now = round_trip(*steady, now, rtt);
  }
  EXPECT_EQ(paused->cwnd(), steady->cwnd());
  EXPECT_GT(paused->cwnd(), cwnd);
}

TEST(Cubic, IdleTimeIsNotCurveTime) {
  const Duration rtt = milliseconds(100);
  const auto steady = cubic_after_loss(100);
  const auto idle = cubic_after_loss(100);
  Instant now = kStart;
  for (int i = 0; i < 5; ++i) {
    round_trip(*idle, now, rtt);
    now = round_trip(*steady, now, rtt);
  }
  // 500 ms without sending, less than the RTO: the window stays, the curve clock stops.
  idle->on_idle_restart(now + milliseconds(500), milliseconds(500), seconds(1));
  EXPECT_EQ(idle->cwnd(), steady->cwnd());
  for (int i = 0; i < 5; ++i) {
    round_trip(*idle, now + milliseconds(500), rtt);
    now = round_trip(*steady, now, rtt);
  }
  EXPECT_EQ(idle->cwnd(), steady->cwnd());
}

TEST(Cubic, RestartsFromTheInitialWindowAfterIdlingLongerThanTheRto) {
  Cubic cc(kMss, 10 * kMss);
  Instant now = round_trip(cc, kStart, milliseconds(10));
  now = round_trip(cc, now, milliseconds(10));
  ASSERT_EQ(cc.cwnd(), 40 * kMss);
  cc.on_idle_restart(now + seconds(3), seconds(3), seconds(1));
  EXPECT_EQ(cc.cwnd(), 10 * kMss);
}

TEST(Cubic, EpochRestartsAfterEachRecovery) {
  const auto cc = cubic_after_loss(100);
  Instant now = kStart;
  for (int i = 0; i < 20; ++i) now = round_trip(*cc, now, milliseconds(100));
  const uint32_t cwnd = cc->cwnd();
  cc->on_congestion_event(now, cwnd);
  cc->on_recovery_exit(now + milliseconds(100));
  ack(*cc, now + milliseconds(200), kMss, milliseconds(100));
  // K from the new W_max (fast convergence: cwnd * 0.85) and cwnd_epoch = 0.7 * cwnd.
  const double w_max = cwnd * 0.85;
  const double cwnd_epoch = static_cast<uint32_t>(cwnd * 0.7);
  EXPECT_NEAR(cc->k(), std::cbrt((w_max - cwnd_epoch) / kMss / 0.4), 1e-3);
  EXPECT_NEAR(cc->w_max(), w_max, 1.0);
}

}  // namespace
}  // namespace flowgate::tcp
