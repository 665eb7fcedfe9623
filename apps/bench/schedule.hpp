// The open-loop schedule of --rate: request k (from 0) is due at start + k / rate, whatever
// happened to the earlier ones. A request that waits for a free connection keeps its due
// time, and its latency counts from then: a stalled server shows as latency, instead of the
// client quietly sending less (coordinated omission).
#pragma once

#include <cmath>
#include <cstdint>

#include "stack/clock.hpp"

namespace flowgate::bench {

class OpenLoopSchedule {
 public:
  OpenLoopSchedule(Instant start, double per_second) : start_(start), per_second_(per_second) {}

  // When request `k` is due.
  Instant due_time(uint64_t k) const {
    // Computed from the start each time (no accumulated rounding): k / rate in ns.
    const double ns = static_cast<double>(k) * 1e9 / per_second_;
    return start_ + Duration(static_cast<int64_t>(std::floor(ns)));
  }
  // How many requests are due by `now` in all (issued or not).
  uint64_t due_by(Instant now) const {
    if (now < start_) return 0;
    const double ns = static_cast<double>((now - start_).count());
    // Request k is due when k * 1e9 / rate <= ns; so k <= ns * rate / 1e9.
    uint64_t k = static_cast<uint64_t>(std::floor(ns * per_second_ / 1e9)) + 1;
    // Floating rounding at the boundary: settle against due_time itself.
    while (k > 0 && due_time(k - 1) > now) --k;
    while (due_time(k) <= now) ++k;
    return k;
  }
  Instant start() const { return start_; }
  double per_second() const { return per_second_; }

 private:
  Instant start_;
  double per_second_;
};

}  // namespace flowgate::bench
