// Latency percentiles without keeping every sample: a log-linear histogram (the HdrHistogram
// idea). Values (nanoseconds) below kLinear are exact; above, each power of two is cut into
// kLinear/2 equal buckets, so a reported percentile is within 2/kLinear (under 2%) above the
// true sample. Fixed memory (a few tens of KiB),
// O(1) per sample, mergeable.
#pragma once

#include <array>
#include <cstdint>

namespace flowgate::bench {

class LatencyHistogram {
 public:
  static constexpr uint32_t kSubBits = 7;                       // 128 buckets per octave
  static constexpr uint64_t kLinear = uint64_t{1} << kSubBits;  // values below are exact
  static constexpr uint32_t kOctaves = 64 - kSubBits;

  void record(uint64_t value_ns);
  void clear() { *this = LatencyHistogram{}; }
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  // The smallest recorded value v (to the bucket's precision: the bucket's highest value,
  // never above max()) such that at least `q` of the samples are <= v; q in [0, 1]. 0 when
  // empty. Monotonic in q, so p50 <= p99 <= p999 always holds.
  uint64_t percentile(double q) const;

  static uint32_t bucket_of(uint64_t value);
  static uint64_t highest_in_bucket(uint32_t bucket);

 private:
  std::array<uint64_t, kLinear + kOctaves*(kLinear / 2)> counts_{};
  uint64_t count_ = 0;
  uint64_t min_ = ~uint64_t{0};
  uint64_t max_ = 0;
};

}  // namespace flowgate::bench
