#include "apps/proxy/health.hpp"

namespace flowgate::proxy {

bool HealthState::record(bool success) {
  if (success == up_) {
    streak_ = 0;  // a result that agrees with the state restarts the count against it
    return false;
  }
  ++streak_;
  if (streak_ < (up_ ? fall_ : rise_)) return false;
  up_ = !up_;
  streak_ = 0;
  return true;
}

Instant CheckSchedule::start(Instant now) {
  in_flight_ = true;
  started_ = now;
  // The next start on the grid after now (one interval on if the check started on time).
  do {
    next_start_ += interval_;
  } while (next_start_ <= now);
  return started_ + timeout_;
}

bool PassiveEjection::on_failure(Instant now) {
  if (ejected(now)) return false;
  if (++consecutive_ < failures_) return false;
  consecutive_ = 0;
  until_ = now + duration_;
  ++ejections_;
  return true;
}

}  // namespace flowgate::proxy
