// Time for the stack. Nothing in the stack reads the system clock: a Clock is injected, and
// every timer works on Instant values, so tests drive time by hand (STYLE.md point 9).
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>

namespace flowgate {

using Duration = std::chrono::nanoseconds;

// Tag clock for Instant: a monotonic timeline whose epoch is arbitrary.
struct StackClock {
  using duration = Duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<StackClock>;
  static constexpr bool is_steady = true;
};
using Instant = StackClock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Instant now() const = 0;
};

// CLOCK_MONOTONIC: what the worker process uses.
class MonotonicClock final : public Clock {
 public:
  Instant now() const override {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return Instant(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
  }
};

// Moves only when told: what every unit test uses.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Instant start = Instant(std::chrono::seconds(1000))) : now_(start) {}
  Instant now() const override { return now_; }
  void advance(Duration d) { now_ += d; }
  void set(Instant t) { now_ = t; }

 private:
  Instant now_;
};

}  // namespace flowgate
