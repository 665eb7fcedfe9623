#include "apps/proxy/balancer.hpp"

namespace flowgate::proxy {

int32_t SmoothRoundRobin::pick(std::span<const Candidate> candidates) {
  if (credit_.size() != candidates.size()) reset(candidates.size());
  int64_t total = 0;
  int32_t best = kNoCandidate;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    if (!c.eligible || c.weight == 0) continue;
    credit_[i] += c.weight;
    total += c.weight;
    if (best == kNoCandidate || credit_[i] > credit_[static_cast<size_t>(best)]) {
      best = static_cast<int32_t>(i);
    }
  }
  if (best != kNoCandidate) credit_[static_cast<size_t>(best)] -= total;
  return best;
}

int32_t LeastConnections::pick(std::span<const Candidate> candidates) {
  const size_t n = candidates.size();
  if (n == 0) return kNoCandidate;
  int32_t best = kNoCandidate;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start_ + k) % n;
    const Candidate& c = candidates[i];
    if (!c.eligible || c.weight == 0) continue;
    if (best == kNoCandidate) {
      best = static_cast<int32_t>(i);
      continue;
    }
    const Candidate& b = candidates[static_cast<size_t>(best)];
    if (uint64_t{c.active} * b.weight < uint64_t{b.active} * c.weight)
      best = static_cast<int32_t>(i);
  }
  if (best != kNoCandidate) start_ = static_cast<size_t>(best) + 1;
  return best;
}

}  // namespace flowgate::proxy
