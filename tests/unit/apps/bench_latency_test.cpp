// The latency histogram behind p50/p99/p999: exact below kLinear ns, within 2/kLinear above,
// nearest-rank percentiles, always ordered.
#include <gtest/gtest.h>

#include "apps/bench/latency.hpp"

namespace flowgate::bench {
namespace {

TEST(BenchLatency, EmptyIsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(0.5), 0u);
  EXPECT_EQ(h.min(), 0u);
}

TEST(BenchLatency, SmallValuesAreExact) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.percentile(0.5), 50u);
  EXPECT_EQ(h.percentile(0.99), 99u);
  EXPECT_EQ(h.percentile(0.999), 100u);
  EXPECT_EQ(h.percentile(1.0), 100u);
  EXPECT_EQ(h.percentile(0.0), 1u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
}

TEST(BenchLatency, BucketsCoverEveryValueOnce) {
  // Every value lands in a bucket whose highest value is >= it, and the bucket before ends
  // below it: the buckets tile the line without gaps or overlaps.
  for (uint64_t v :
       {uint64_t{0}, uint64_t{127}, uint64_t{128}, uint64_t{129}, uint64_t{255}, uint64_t{256},
        uint64_t{1000}, uint64_t{123456789}, uint64_t{1} << 40, ~uint64_t{0}}) {
    const uint32_t b = LatencyHistogram::bucket_of(v);
    EXPECT_GE(LatencyHistogram::highest_in_bucket(b), v) << v;
    if (b > 0) {
      EXPECT_LT(LatencyHistogram::highest_in_bucket(b - 1), v) << v;
    }
  }
}

TEST(BenchLatency, RelativeErrorBound) {
  for (uint64_t v = 128; v < 10'000'000; v = v * 3 / 2 + 7) {
    const uint64_t hi = LatencyHistogram::highest_in_bucket(LatencyHistogram::bucket_of(v));
    EXPECT_LE(static_cast<double>(hi - v), static_cast<double>(v) * 2.0 / LatencyHistogram::kLinear)
        << v;
  }
}

TEST(BenchLatency, TailPercentiles) {
  // 1000 samples: 990 at 100 us, 9 at 5 ms, 1 at 50 ms.
  LatencyHistogram h;
  for (int i = 0; i < 990; ++i) h.record(100'000);
  for (int i = 0; i < 9; ++i) h.record(5'000'000);
  h.record(50'000'000);
  const uint64_t p50 = h.percentile(0.5);
  const uint64_t p99 = h.percentile(0.99);
  const uint64_t p999 = h.percentile(0.999);
  EXPECT_GE(p50, 100'000u);
  EXPECT_LE(p50, 100'000u * 102 / 100);
  EXPECT_EQ(p99, p50);  // rank 990 is still a 100 us sample
  EXPECT_GE(p999, 5'000'000u);
  EXPECT_LE(p999, 5'000'000u * 102 / 100);
  EXPECT_EQ(h.percentile(1.0), 50'000'000u);  // never above max
  EXPECT_LE(p50, p99);
  EXPECT_LE(p99, p999);
}

TEST(BenchLatency, ClearStartsOver) {
  LatencyHistogram h;
  h.record(5);
  h.clear();
  EXPECT_EQ(h.count(), 0u);
  h.record(7);
  EXPECT_EQ(h.percentile(0.5), 7u);
}

}  // namespace
}  // namespace flowgate::bench
