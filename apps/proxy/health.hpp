// Backend health, as pure state machines on a caller's clock (no sockets, no clock reads):
// the active check's schedule and its rise/fall verdict, and passive ejection after connect
// failures of proxied connections.
//
// Each worker runs its own checks and keeps its own verdicts: there is no state shared
// between workers (DESIGN.md: a worker owns its flows). So for a moment after a backend dies
// or returns, workers may disagree about it; each of them converges within fall (or rise)
// intervals on its own, and a worker that still believes a dead backend up loses nothing
// but a connect attempt, which is retried on another backend.
#pragma once

#include <cstdint>
#include <optional>

#include "stack/clock.hpp"

namespace flowgate::proxy {

// Up/down with hysteresis: an up backend goes down after `fall` consecutive failed checks, a
// down one comes up after `rise` consecutive successes; a result of the other kind restarts
// the count. A backend starts up, so a new worker (or a new backend) serves at once; a dead
// one is found by the first fall checks, and meanwhile by connect retries.
class HealthState {
 public:
  HealthState(uint32_t rise, uint32_t fall, bool up = true) : rise_(rise), fall_(fall), up_(up) {}

  // Records one check; true when it changed the state.
  bool record(bool success);
  bool up() const { return up_; }
  // Consecutive results against the current state (failures while up, successes while down).
  uint32_t streak() const { return streak_; }
  void set_thresholds(uint32_t rise, uint32_t fall) {
    rise_ = rise;
    fall_ = fall;
    streak_ = 0;
  }

 private:
  uint32_t rise_;
  uint32_t fall_;
  bool up_;
  uint32_t streak_ = 0;
};

// When active checks start and time out. One check at a time (the configuration keeps the
// timeout within the interval); checks start every `interval` from `first`, and a check that
// ends late does not bunch up the next ones: the next start stays on the interval's grid.
class CheckSchedule {
 public:
  CheckSchedule(Duration interval, Duration timeout, Instant first)
      : interval_(interval), timeout_(timeout), next_start_(first) {}

  bool due(Instant now) const { return !in_flight_ && now >= next_start_; }
  // A check starts now; returns when it times out.
  Instant start(Instant now);
  void finish() { in_flight_ = false; }
  bool in_flight() const { return in_flight_; }
  bool timed_out(Instant now) const { return in_flight_ && now >= started_ + timeout_; }
  // When the caller must look again: the running check's timeout, or the next start.
  Instant next_deadline() const { return in_flight_ ? started_ + timeout_ : next_start_; }
  void set_timing(Duration interval, Duration timeout) {
    interval_ = interval;
    timeout_ = timeout;
  }

 private:
  Duration interval_;
  Duration timeout_;
  Instant next_start_;
  Instant started_{};
  bool in_flight_ = false;
};

// Passive ejection: `failures` consecutive connect failures (refused, timed out) of proxied
// connections take a backend out of rotation for `duration`; a successful connect resets the
// count. When the time is up it is back in rotation with a fresh count, so it needs
// `failures` new failures to be ejected again (a cool-down, not a permanent exile).
class PassiveEjection {
 public:
  PassiveEjection(uint32_t failures, Duration duration)
      : failures_(failures), duration_(duration) {}

  // True when this failure ejected the backend.
  bool on_failure(Instant now);
  void on_success() { consecutive_ = 0; }
  bool ejected(Instant now) const { return until_ && now < *until_; }
  std::optional<Instant> ejected_until() const { return until_; }
  uint64_t ejections() const { return ejections_; }
  void set_policy(uint32_t failures, Duration duration) {
    failures_ = failures;
    duration_ = duration;
  }

 private:
  uint32_t failures_;
  Duration duration_;
  uint32_t consecutive_ = 0;
  std::optional<Instant> until_;
  uint64_t ejections_ = 0;
};

}  // namespace flowgate::proxy
