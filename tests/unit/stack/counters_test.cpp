#include "stack/counters.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace flowgate {
namespace {

TEST(Counters, EveryDropReasonHasAUniqueNameAndHelp) {
  std::set<std::string> names;
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    auto r = static_cast<DropReason>(i);
    EXPECT_FALSE(name(r).empty());
    EXPECT_FALSE(help(r).empty());
    EXPECT_TRUE(names.insert(std::string(name(r))).second) << name(r);
  }
  EXPECT_EQ(name(DropReason::ipv4_bad_checksum), "ipv4_bad_checksum");
  EXPECT_EQ(name(Event::frames_received), "frames_received");
}

TEST(Counters, DropIncrementsOnlyItsReason) {
  StackCounters c;
  c.drop(DropReason::udp_bad_checksum);
  c.drop(DropReason::udp_bad_checksum);
  EXPECT_EQ(c[DropReason::udp_bad_checksum], 2u);
  EXPECT_EQ(c.total_drops(), 2u);
}

TEST(Counters, EveryEventAndGaugeHasAUniqueNameAndHelp) {
  std::set<std::string> names;
  for (size_t i = 0; i < kEventCount; ++i) {
    auto e = static_cast<Event>(i);
    EXPECT_FALSE(help(e).empty()) << name(e);
    EXPECT_TRUE(names.insert(std::string(name(e))).second) << name(e);
  }
  for (size_t i = 0; i < kGaugeCount; ++i) {
    auto g = static_cast<StackGauge>(i);
    EXPECT_FALSE(help(g).empty()) << name(g);
    EXPECT_TRUE(names.insert(std::string(name(g))).second) << name(g);
  }
  EXPECT_EQ(name(StackGauge::arp_entries), "arp_entries");
}

TEST(Counters, ResetGaugesKeepsCountersAndTheHistogram) {
  StackCounters c;
  c.count(Event::tcp_passive_opens, 3);
  c.set(StackGauge::arp_entries, 5);
  c.tcp_connection_entered(tcp::TcpState::established);
  c.srtt.observe(std::chrono::milliseconds(1));
  c.reset_gauges();
  EXPECT_EQ(c[Event::tcp_passive_opens], 3u);
  EXPECT_EQ(c[StackGauge::arp_entries], 0u);
  EXPECT_EQ(c.connections_in(tcp::TcpState::established), 0u);
  EXPECT_EQ(LatencyHistogramSnapshot::of(c.srtt).count, 1u);
}

// Prometheus `le` semantics: a value on a bound counts in that bound's bucket.
TEST(LatencyHistogram, ValuesLandInTheFirstBucketWhoseBoundIsNotBelowThem) {
  using std::chrono::nanoseconds;
  EXPECT_EQ(LatencyHistogram::bucket_of(nanoseconds(0)), 0u);
  EXPECT_EQ(LatencyHistogram::bucket_of(nanoseconds(50'000)), 0u);  // 50 µs
  EXPECT_EQ(LatencyHistogram::bucket_of(nanoseconds(50'001)), 1u);
  EXPECT_EQ(LatencyHistogram::bucket_of(std::chrono::milliseconds(1)), 4u);
  EXPECT_EQ(LatencyHistogram::bucket_of(std::chrono::milliseconds(3)), 6u);  // (2.5, 5] ms
  EXPECT_EQ(LatencyHistogram::bucket_of(std::chrono::seconds(10)), 16u);
  EXPECT_EQ(LatencyHistogram::bucket_of(std::chrono::seconds(10) + nanoseconds(1)), 17u);  // +Inf
  EXPECT_EQ(LatencyHistogram::bucket_of(std::chrono::hours(1)), kLatencyBucketCount - 1);
  for (size_t i = 0; i < kLatencyBucketBoundsNs.size(); ++i) {
    EXPECT_EQ(LatencyHistogram::bucket_of(nanoseconds(kLatencyBucketBoundsNs[i])), i);
    EXPECT_NEAR(kLatencyBucketBoundsSeconds[i] * 1e9,
                static_cast<double>(kLatencyBucketBoundsNs[i]), 1e-3);
  }
}

TEST(LatencyHistogram, SnapshotIsCumulativeWithCountAndSum) {
  using std::chrono::microseconds;
  LatencyHistogram h;
  h.observe(microseconds(30));          // bucket 0
  h.observe(microseconds(50));          // bucket 0 (on the bound)
  h.observe(microseconds(700));         // (500 µs, 1 ms]: bucket 4
  h.observe(std::chrono::seconds(30));  // +Inf
  h.observe(microseconds(-5));          // a clock bug counts as 0, not as a huge value
  const LatencyHistogramSnapshot s = LatencyHistogramSnapshot::of(h);
  EXPECT_EQ(s.count, 5u);
  EXPECT_EQ(s.cumulative[0], 3u);
  EXPECT_EQ(s.cumulative[3], 3u);
  EXPECT_EQ(s.cumulative[4], 4u);
  EXPECT_EQ(s.cumulative[16], 4u);
  EXPECT_EQ(s.cumulative[17], 5u);  // +Inf equals the count
  EXPECT_EQ(s.sum_ns, 30'000u + 50'000u + 700'000u + 30'000'000'000u);
  EXPECT_NEAR(s.sum_seconds(), 30.00078, 1e-12);
  for (size_t i = 1; i < s.cumulative.size(); ++i) EXPECT_GE(s.cumulative[i], s.cumulative[i - 1]);
}

TEST(LatencyHistogram, QuantilesInterpolateWithinTheirBucket) {
  LatencyHistogram h;
  EXPECT_EQ(LatencyHistogramSnapshot::of(h).quantile_seconds(0.5), 0.0);
  for (int i = 0; i < 10; ++i) h.observe(std::chrono::microseconds(600));  // (0.5, 1] ms
  const LatencyHistogramSnapshot s = LatencyHistogramSnapshot::of(h);
  EXPECT_DOUBLE_EQ(s.quantile_seconds(0.5), 0.00075);  // half way through the bucket
  EXPECT_DOUBLE_EQ(s.quantile_seconds(1.0), 0.001);
  h.observe(std::chrono::minutes(1));
  EXPECT_DOUBLE_EQ(LatencyHistogramSnapshot::of(h).quantile_seconds(0.99), 10.0);  // +Inf: top
}

}  // namespace
}  // namespace flowgate
