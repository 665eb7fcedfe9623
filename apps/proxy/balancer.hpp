// The two stateful balancing rules that need no hashing: smooth weighted round robin and
// weighted least connections. Both are pure: they look at a list of candidates (weight,
// connections open, whether it may take one now) and return an index. Maglev is in
// maglev.hpp.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace flowgate::proxy {

struct Candidate {
  uint32_t weight = 1;   // 0 never takes new connections
  uint32_t active = 0;   // connections it serves now (this worker's)
  bool eligible = true;  // up, not ejected, under its limit, not already tried
};

inline constexpr int32_t kNoCandidate = -1;

// Smooth weighted round robin (the rule nginx uses): at each pick every eligible candidate
// gains its weight in credit, the one with the most credit wins and pays back the sum of the
// weights. Over any stretch of sum-of-weights picks each candidate is chosen exactly `weight`
// times, and the picks of a heavy backend are spread out instead of coming in a burst (weights
// 5, 1, 1 give a a b a c a a, not a a a a a b c). Ineligible candidates neither gain nor lose
// credit, so the others share their turns.
class SmoothRoundRobin {
 public:
  int32_t pick(std::span<const Candidate> candidates);
  // Forgets the credit (the candidate list changed shape).
  void reset(size_t count) { credit_.assign(count, 0); }

 private:
  std::vector<int64_t> credit_;
};

// Weighted least connections: the eligible candidate with the fewest connections per unit of
// weight (active/weight, compared as active_a·weight_b < active_b·weight_a). Ties go to the
// candidate after the previous winner, so equal backends take turns instead of the first one
// taking every tie.
class LeastConnections {
 public:
  int32_t pick(std::span<const Candidate> candidates);

 private:
  size_t start_ = 0;
};

}  // namespace flowgate::proxy
