// A token bucket on the stack's clock: `rate` tokens per second, at most `burst` saved up.
// Used to rate-limit ARP requests and ICMP errors (RFC 1812 4.3.2.8 and RFC 1122 3.2.2 ask
// hosts to limit the rate of ICMP errors they send).
#pragma once

#include <algorithm>
#include <cstdint>

#include "stack/clock.hpp"

namespace flowgate {

class TokenBucket {
 public:
  TokenBucket(uint32_t rate_per_second, uint32_t burst)
      : rate_(rate_per_second), burst_(burst), tokens_nano_(uint64_t{burst} * kNano) {}

  // Takes one token if available.
  bool try_take(Instant now) {
    refill(now);
    if (tokens_nano_ < kNano) return false;
    tokens_nano_ -= kNano;
    return true;
  }

 private:
  static constexpr uint64_t kNano = 1'000'000'000;
  void refill(Instant now) {
    if (!started_) {
      last_ = now;
      started_ = true;
      return;
    }
    if (now <= last_) return;
    auto elapsed = static_cast<uint64_t>((now - last_).count());
    last_ = now;
    // Tokens are kept in units of 1e-9 token: elapsed ns * rate tokens/s. Capping the elapsed
    // time first keeps the product far from overflow after a long idle period.
    elapsed = std::min<uint64_t>(elapsed, (uint64_t{burst_} + 1) * kNano);
    const uint64_t add = elapsed * rate_;
    tokens_nano_ = std::min<uint64_t>(tokens_nano_ + add, uint64_t{burst_} * kNano);
  }

  uint32_t rate_;
  uint32_t burst_;
  uint64_t tokens_nano_;
  Instant last_{};
  bool started_ = false;
};

}  // namespace flowgate
