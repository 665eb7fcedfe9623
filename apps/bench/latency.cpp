#include "apps/bench/latency.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace flowgate::bench {

// Layout: buckets [0, kLinear) hold the values 0..kLinear-1 one each. Octave k >= 1 holds
// [kLinear/2 << k, kLinear << k) cut into kLinear/2 buckets of width 2^k, so a bucket's
// width is at most 2/kLinear of the values in it.
uint32_t LatencyHistogram::bucket_of(uint64_t value) {
  if (value < kLinear) return static_cast<uint32_t>(value);
  const uint32_t top = 63 - static_cast<uint32_t>(std::countl_zero(value));  // >= kSubBits
  const uint32_t octave = top - kSubBits + 1;                                // >= 1
  const uint64_t sub = (value >> octave) - kLinear / 2;                      // [0, kLinear/2)
  return static_cast<uint32_t>(kLinear + (octave - 1) * (kLinear / 2) + sub);
}

uint64_t LatencyHistogram::highest_in_bucket(uint32_t bucket) {
  if (bucket < kLinear) return bucket;
  const auto octave = static_cast<uint32_t>((bucket - kLinear) / (kLinear / 2) + 1);
  const uint64_t sub = (bucket - kLinear) % (kLinear / 2);
  const uint64_t low = (kLinear / 2 + sub) << octave;
  return low + ((uint64_t{1} << octave) - 1);
}

void LatencyHistogram::record(uint64_t value_ns) {
  ++counts_[bucket_of(value_ns)];
  ++count_;
  min_ = std::min(min_, value_ns);
  max_ = std::max(max_, value_ns);
}

uint64_t LatencyHistogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the sample: ceil(q * count), at least 1 (nearest-rank definition).
  const auto rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (uint32_t b = 0; b < counts_.size(); ++b) {
    seen += counts_[b];
    if (seen >= rank) return std::min(highest_in_bucket(b), max_);
  }
  return max_;
}

}  // namespace flowgate::bench
