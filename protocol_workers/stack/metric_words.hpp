// The words metrics are kept in, and how they are written and read. A metric has one writer
// (the worker that owns it) and any number of readers in other processes (`flowgate stats`,
// the exporter) that map the same shared memory.
//
// Each value is one aligned 64-bit word, stored and loaded through std::atomic_ref with
// relaxed order. On x86-64 and AArch64 that compiles to the plain mov/str and ldr a `+= 1`
// would produce (a load and a store, never a locked read-modify-write: there is one writer),
// so it costs nothing on the packet path; what it buys is that the reader's concurrent load
// is not a data race, so the compiler may neither tear the store nor invent or merge stores
// the reader could see. No ordering is promised between two words: a reader sees each value
// whole, each a moment old, and must not assume that two of them were read at one instant.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace flowgate {

static_assert(std::atomic_ref<uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<uint64_t>::required_alignment == alignof(uint64_t));

inline uint64_t metric_load(const uint64_t& word) {
  // atomic_ref needs a non-const referent; a load never writes through it.
  return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(word)).load(std::memory_order_relaxed);
}
inline void metric_store(uint64_t& word, uint64_t value) {
  std::atomic_ref<uint64_t>(word).store(value, std::memory_order_relaxed);
}
// The single writer's increment: a relaxed load and store, not fetch_add.
inline void metric_add(uint64_t& word, uint64_t n) {
  std::atomic_ref<uint64_t> w(word);
  w.store(w.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
inline void metric_sub(uint64_t& word, uint64_t n) {
  std::atomic_ref<uint64_t> w(word);
  w.store(w.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
}

// Upper bounds of the latency buckets, in nanoseconds: 50 µs to 10 s in 1-2.5-5 steps. A
// veth or datacenter round trip lands in the first buckets, a WAN one in the middle, and a
// backed-off retransmission or a slow backend at the top. Prometheus `le` semantics: a value
// counts in the first bucket whose bound is >= it.
inline constexpr std::array<int64_t, 17> kLatencyBucketBoundsNs = {
    50'000,      100'000,       250'000,       500'000,       1'000'000,     2'500'000,
    5'000'000,   10'000'000,    25'000'000,    50'000'000,    100'000'000,   250'000'000,
    500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};
inline constexpr size_t kLatencyBucketCount = kLatencyBucketBoundsNs.size() + 1;  // with +Inf
// The same bounds in seconds, as a Prometheus `le` label shows them.
inline constexpr std::array<double, kLatencyBucketBoundsNs.size()> kLatencyBucketBoundsSeconds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0};
static_assert([] {
  for (size_t i = 0; i < kLatencyBucketBoundsNs.size(); ++i) {
    const auto ns = static_cast<int64_t>(kLatencyBucketBoundsSeconds[i] * 1e9 + 0.5);
    if (ns != kLatencyBucketBoundsNs[i]) return false;
  }
  return true;
}());

// A fixed-bucket histogram of durations in plain memory. Buckets are kept per bucket (not
// cumulative), so an observation is a search and two stores (its bucket and the sum) rather
// than one store per bucket above it; a reader makes them cumulative. There is no separate
// count word: the count is the sum of the buckets, which keeps the reader's +Inf bucket and
// _count equal (Prometheus requires it) even when it reads while an observation is made.
struct LatencyHistogram {
  std::array<uint64_t, kLatencyBucketCount> buckets{};  // [i]: bound i-1 < v <= bound i
  uint64_t sum_ns = 0;

  static size_t bucket_of(std::chrono::nanoseconds value) {
    const int64_t ns = value.count();
    return static_cast<size_t>(
        std::lower_bound(kLatencyBucketBoundsNs.begin(), kLatencyBucketBoundsNs.end(), ns) -
        kLatencyBucketBoundsNs.begin());
  }
  void observe(std::chrono::nanoseconds value) {
    if (value.count() < 0) value = std::chrono::nanoseconds(0);
    metric_add(buckets[bucket_of(value)], 1);
    metric_add(sum_ns, static_cast<uint64_t>(value.count()));
  }
};
static_assert(sizeof(LatencyHistogram) == (kLatencyBucketCount + 1) * sizeof(uint64_t));

// What a reader makes of a LatencyHistogram: cumulative counts, as Prometheus exposes them.
struct LatencyHistogramSnapshot {
  std::array<uint64_t, kLatencyBucketCount> cumulative{};  // [i]: values <= bound i; last: all
  uint64_t count = 0;
  uint64_t sum_ns = 0;

  static LatencyHistogramSnapshot of(const LatencyHistogram& h) {
    LatencyHistogramSnapshot s;
    uint64_t running = 0;
    for (size_t i = 0; i < kLatencyBucketCount; ++i) {
      running += metric_load(h.buckets[i]);
      s.cumulative[i] = running;
    }
    s.count = running;
    s.sum_ns = metric_load(h.sum_ns);
    return s;
  }
  double sum_seconds() const { return static_cast<double>(sum_ns) * 1e-9; }
  // The q-quantile (0 < q < 1) in seconds, interpolated linearly within its bucket as
  // Prometheus's histogram_quantile() does; the largest finite bound when it falls in +Inf,
  // 0 without observations.
  double quantile_seconds(double q) const {
    if (count == 0) return 0;
    const double rank = q * static_cast<double>(count);
    for (size_t i = 0; i < kLatencyBucketBoundsNs.size(); ++i) {
      if (static_cast<double>(cumulative[i]) < rank) continue;
      const double lower = i == 0 ? 0 : static_cast<double>(kLatencyBucketBoundsNs[i - 1]);
      const double upper = static_cast<double>(kLatencyBucketBoundsNs[i]);
      const uint64_t below = i == 0 ? 0 : cumulative[i - 1];
      const uint64_t in_bucket = cumulative[i] - below;
      const double fraction =
          in_bucket == 0 ? 1 : (rank - static_cast<double>(below)) / static_cast<double>(in_bucket);
      return (lower + (upper - lower) * fraction) * 1e-9;
    }
    return static_cast<double>(kLatencyBucketBoundsNs.back()) * 1e-9;
  }
};

}  // namespace flowgate
