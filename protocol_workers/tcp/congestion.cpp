#include "tcp/congestion.hpp"

#include <algorithm>

#include "tcp/cubic.hpp"
#include "tcp/newreno.hpp"

namespace flowgate::tcp {

uint32_t initial_window(uint32_t smss) {
  // RFC 6928 section 2: IW = min (10*MSS, max (2*MSS, 14600)). 64-bit so no SMSS overflows.
  const uint64_t mss = smss;
  return static_cast<uint32_t>(std::min<uint64_t>(10 * mss, std::max<uint64_t>(2 * mss, 14600)));
}

std::unique_ptr<CongestionControl> make_congestion_control(CongestionAlgorithm algorithm,
                                                           uint32_t smss,
                                                           uint32_t initial_window_bytes) {
  switch (algorithm) {
    case CongestionAlgorithm::newreno:
      return std::make_unique<NewReno>(smss, initial_window_bytes);
    case CongestionAlgorithm::cubic:
      break;
  }
  return std::make_unique<Cubic>(smss, initial_window_bytes);
}

CongestionControl::CongestionControl(uint32_t smss, uint32_t initial_window)
    : cwnd_(std::clamp<uint32_t>(initial_window, std::max<uint32_t>(smss, 1), kMaxCwnd)),
      smss_(std::max<uint32_t>(smss, 1)),
      initial_window_(cwnd_) {}

void CongestionControl::on_ack(Instant now, uint32_t bytes_acked, std::optional<Duration> srtt,
                               uint32_t bytes_in_flight) {
  if (bytes_acked == 0) return;
  // New data acknowledged: a later timeout is a new loss (RFC 5681 eq. 4 applies again).
  timeout_unacked_ = false;

  // cwnd-limited: before this ACK the flight left less than a full segment of window.
  const uint64_t prior_in_flight = uint64_t{bytes_in_flight} + bytes_acked;
  if (prior_in_flight + smss_ <= cwnd_) {
    growth_paused(now);
    return;
  }

  uint32_t remaining = bytes_acked;
  if (cwnd_ < ssthresh_) {
    // RFC 5681 3.1 eq. 2, "cwnd += min (N, SMSS)", with RFC 3465 2.2's limit L for N.
    const uint32_t limit = slow_start_after_timeout_ ? smss_ : 2 * smss_;
    const uint32_t increase = std::min(bytes_acked, limit);
    const uint32_t room = ssthresh_ - cwnd_;
    if (increase < room) {
      cwnd_ += increase;
      return;
    }
    // Slow start ends at ssthresh; the bytes beyond what it took to get there count towards
    // congestion avoidance.
    cwnd_ = ssthresh_;
    slow_start_after_timeout_ = false;
    remaining = bytes_acked - std::min(bytes_acked, room);
    if (remaining == 0) return;
  }
  congestion_avoidance(now, remaining, srtt);
}

void CongestionControl::on_congestion_event(Instant /*now*/, uint32_t flight_size) {
  ssthresh_ = std::max(reduce(Reduction::congestion_event, flight_size), 2 * smss_);
  cwnd_ = ssthresh_;
  slow_start_after_timeout_ = false;
  stage_ended();
}

void CongestionControl::on_recovery_exit(Instant /*now*/) {
  cwnd_ = ssthresh_;
  stage_ended();
}

void CongestionControl::on_retransmit_timeout(Instant /*now*/, uint32_t flight_size) {
  if (!timeout_unacked_) {
    ssthresh_ = std::max(reduce(Reduction::timeout, flight_size), 2 * smss_);
    timeout_unacked_ = true;
  }
  cwnd_ = smss_;  // LW
  slow_start_after_timeout_ = true;
  stage_ended();
}

void CongestionControl::on_idle_restart(Instant now, Duration idle, Duration rto) {
  growth_paused(now);
  // RW = min (IW, cwnd): only a cwnd above IW changes.
  if (idle <= rto || cwnd_ <= initial_window_) return;
  cwnd_ = initial_window_;
  stage_ended();
}

void CongestionControl::set_mss(uint32_t smss) {
  smss_ = std::max<uint32_t>(smss, 1);
}

}  // namespace flowgate::tcp
