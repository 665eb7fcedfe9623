#include "tcp/rto.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace flowgate::tcp {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(Rto, StartsAtTheInitialValueWithNoEstimate) {
  const RtoEstimator rto;
  EXPECT_EQ(rto.rto(), seconds(1)) << "RFC 6298 2.1";
  EXPECT_FALSE(rto.srtt().has_value());
  EXPECT_EQ(rto.rttvar(), Duration::zero());
  EXPECT_EQ(rto.backoff_count(), 0u);
}

TEST(Rto, FirstSampleSetsSrttAndHalfOfItAsRttvar) {
  RtoEstimator rto;
  rto.on_rtt_sample(milliseconds(100));
  // 2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4*RTTVAR) = 100 + 200 ms.
  EXPECT_EQ(rto.srtt(), milliseconds(100));
  EXPECT_EQ(rto.rttvar(), milliseconds(50));
  EXPECT_EQ(rto.rto(), milliseconds(300));
}

TEST(Rto, LaterSamplesUpdateRttvarWithTheOldSrttThenSrtt) {
  RtoEstimator rto;
  rto.on_rtt_sample(milliseconds(100));
  rto.on_rtt_sample(milliseconds(120));
  // 2.3: RTTVAR = 3/4 * 50 + 1/4 * |100 - 120| = 42.5 ms (with the SRTT before this update);
  // SRTT = 7/8 * 100 + 1/8 * 120 = 102.5 ms; RTO = 102.5 + 4 * 42.5 = 272.5 ms.
  EXPECT_EQ(rto.rttvar(), microseconds(42'500));
  EXPECT_EQ(rto.srtt(), microseconds(102'500));
  EXPECT_EQ(rto.rto(), microseconds(272'500));

  rto.on_rtt_sample(milliseconds(80));
  // RTTVAR = 3/4 * 42.5 + 1/4 * 22.5 = 37.5 ms; SRTT = 7/8 * 102.5 + 1/8 * 80 = 99.6875 ms.
  EXPECT_EQ(rto.rttvar(), microseconds(37'500));
  EXPECT_EQ(rto.srtt(), microseconds(99'687) + Duration(500));
  EXPECT_EQ(rto.rto(), microseconds(249'687) + Duration(500));
}

TEST(Rto, ClampsToTheConfiguredMinimum) {
  RtoEstimator rto;  // min 200 ms
  rto.on_rtt_sample(microseconds(50));
  EXPECT_EQ(rto.srtt(), microseconds(50));
  EXPECT_EQ(rto.rto(), milliseconds(200)) << "50 us + 4 * 25 us is below the 200 ms floor";

  RtoEstimator rfc_floor(RtoConfig{.min = seconds(1)});
  rfc_floor.on_rtt_sample(milliseconds(100));
  EXPECT_EQ(rfc_floor.rto(), seconds(1)) << "RFC 6298 2.4's 1 s when configured";
}

TEST(Rto, ClampsToTheConfiguredMaximum) {
  RtoEstimator rto;
  rto.on_rtt_sample(seconds(50));  // 50 + 4 * 25 = 150 s
  EXPECT_EQ(rto.rto(), seconds(120));
}

TEST(Rto, GranularityBoundsTheVarianceTerm) {
  RtoEstimator rto(RtoConfig{.min = Duration::zero(), .granularity = milliseconds(1)});
  for (int i = 0; i < 100; ++i) rto.on_rtt_sample(milliseconds(10));
  // A constant RTT drives RTTVAR towards zero; then RTO = SRTT + G.
  EXPECT_EQ(rto.srtt(), milliseconds(10));
  EXPECT_LT(4 * rto.rttvar(), milliseconds(1));
  EXPECT_EQ(rto.rto(), milliseconds(11));
}

TEST(Rto, TimeoutsDoubleUpToTheMaximum) {
  RtoEstimator rto;
  const Duration expected[] = {seconds(2),  seconds(4),  seconds(8),   seconds(16),
                               seconds(32), seconds(64), seconds(120), seconds(120)};
  for (const Duration want : expected) {
    rto.on_timeout();
    EXPECT_EQ(rto.rto(), want);
  }
  EXPECT_EQ(rto.backoff_count(), 8u);
}

TEST(Rto, BackoffIsKeptUntilAValidSampleArrives) {
  RtoEstimator rto;
  rto.on_rtt_sample(milliseconds(100));  // RTO 300 ms
  rto.on_timeout();
  rto.on_timeout();
  EXPECT_EQ(rto.rto(), milliseconds(1200));
  // Nothing but a sample collapses it: the next segment is sent with the backed-off RTO.
  EXPECT_EQ(rto.rto(), milliseconds(1200));
  EXPECT_EQ(rto.backoff_count(), 2u);
  EXPECT_EQ(rto.srtt(), milliseconds(100)) << "timeouts do not touch the estimate";

  rto.on_rtt_sample(milliseconds(100));
  // RTTVAR = 3/4 * 50 = 37.5 ms, SRTT = 100 ms: RTO = 250 ms, backoff gone.
  EXPECT_EQ(rto.rto(), milliseconds(250));
  EXPECT_EQ(rto.backoff_count(), 0u);
}

TEST(Rto, BackoffDoublesFromTheClampedValue) {
  RtoEstimator rto;
  rto.on_rtt_sample(microseconds(100));  // clamped to 200 ms
  rto.on_timeout();
  EXPECT_EQ(rto.rto(), milliseconds(400));
}

TEST(Rto, DataAfterASynTimeoutStartsWithThreeSeconds) {
  RtoEstimator rto;
  rto.on_timeout();  // the SYN timed out: 2 s
  rto.on_established_after_syn_timeout();
  EXPECT_EQ(rto.rto(), seconds(3)) << "RFC 6298 5.7";
  EXPECT_EQ(rto.backoff_count(), 0u);
  rto.on_rtt_sample(milliseconds(10));
  EXPECT_EQ(rto.rto(), milliseconds(200)) << "the first sample replaces it";

  RtoEstimator slow(RtoConfig{.initial = seconds(5)});
  slow.on_timeout();
  slow.on_established_after_syn_timeout();
  EXPECT_EQ(slow.rto(), seconds(5)) << "an RTO of 3 s or more is kept";
}

TEST(Rto, IgnoresNegativeSamples) {
  RtoEstimator rto;
  rto.on_rtt_sample(-milliseconds(1));
  EXPECT_FALSE(rto.srtt().has_value());
  EXPECT_EQ(rto.rto(), seconds(1));
}

TEST(Rto, AcceptsAZeroSample) {
  RtoEstimator rto(RtoConfig{.min = Duration::zero()});
  rto.on_rtt_sample(Duration::zero());
  EXPECT_EQ(rto.srtt(), Duration::zero());
  EXPECT_EQ(rto.rto(), milliseconds(1)) << "SRTT + G";
}

}  // namespace
}  // namespace flowgate::tcp
