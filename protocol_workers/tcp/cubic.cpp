#include "tcp/cubic.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace flowgate::tcp {
namespace {

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

Cubic::Cubic(uint32_t smss, uint32_t initial_window, CubicConfig config)
    : CongestionControl(smss, initial_window), config_(config) {}

double Cubic::w_cubic(double t) const {
  // RFC 9438 4.2, eq. 1: W_cubic(t) = C * (t - K)^3 + W_max, in segments.
  const double dt = t - k_;
  return kC * dt * dt * dt * smss_ + w_max_;
}

void Cubic::set_exact_cwnd(double bytes) {
  const double bounded =
      std::clamp(bytes, static_cast<double>(smss_), static_cast<double>(kMaxCwnd));
  const double whole = std::floor(bounded);
  cwnd_ = static_cast<uint32_t>(whole);
  cwnd_fraction_ = bounded - whole;
}

void Cubic::congestion_avoidance(Instant now, uint32_t bytes_acked, std::optional<Duration> srtt) {
  const double cwnd = exact_cwnd();
  if (!epoch_start_) {
    // A new congestion avoidance stage. RFC 9438 4.2, eq. 2: "K = cubic_root((W_max -
    // cwnd_epoch) / C)", "where cwnd_epoch is the cwnd at the beginning of the current
    // congestion avoidance stage". 4.3: "W_est is set equal to cwnd_epoch at the start of the
    // congestion avoidance stage."
    epoch_start_ = now;
    last_ack_ = now;
    if (cwnd >= w_max_) {
      // 4.8 (after a timeout): "K is set to 0, and W_max is set to the congestion window size
      // at the beginning of the current congestion avoidance stage". The same when the window
      // is already past W_max for any other reason: the curve starts convex from here.
      w_max_ = cwnd;
      k_ = 0;
    } else {
      k_ = std::cbrt((w_max_ - cwnd) / smss_ / kC);
    }
    w_est_ = cwnd;
  }
  last_ack_ = now;
  const double t = seconds(now - *epoch_start_);
  const double acked = bytes_acked;

  // 4.3, eq. 4: W_est = W_est + alpha_cubic * segments_acked / cwnd (segments); in bytes that
  // is alpha_cubic * bytes_acked * SMSS / cwnd. "Once W_est has grown to reach the cwnd at
  // the time of most recently setting ssthresh -- that is, W_est >= cwnd_prior -- the sender
  // SHOULD set alpha_cubic to 1".
  const double alpha = w_est_ >= cwnd_prior_ ? 1.0 : kAlpha;
  w_est_ += alpha * acked * smss_ / cwnd;

  if (w_cubic(t) < w_est_) {
    // 4.3: "If so, CUBIC is in the Reno-friendly region and cwnd SHOULD be set to W_est at
    // each reception of a new ACK."
    set_exact_cwnd(std::max(cwnd, w_est_));
    return;
  }
  // 4.4 (concave, cwnd < W_max) and 4.5 (convex, cwnd >= W_max) grow alike: "cwnd MUST be
  // incremented by (target - cwnd) / cwnd for each received new ACK", per segment acked, with
  // 4.2's target = W_cubic(t + RTT) bounded to [cwnd, 1.5 * cwnd].
  const double rtt = srtt ? seconds(*srtt) : 0.0;
  const double target = std::clamp(w_cubic(t + rtt), cwnd, 1.5 * cwnd);
  set_exact_cwnd(cwnd + (target - cwnd) / cwnd * acked);
}

uint32_t Cubic::reduce(Reduction why, uint32_t flight_size) {
  const double cwnd = exact_cwnd();
  if (why == Reduction::congestion_event) {
    // 4.7: "W_max = cwnd * (1 + beta_cubic) / 2" "if cwnd < W_max and fast convergence is
    // enabled, further reduce W_max"; "W_max = cwnd" otherwise (remember cwnd before
    // reduction).
    w_max_ = config_.fast_convergence && cwnd < w_max_ ? cwnd * (1.0 + kBeta) / 2.0 : cwnd;
  } else {
    // 4.8: after a timeout W_max becomes the window at the start of the next congestion
    // avoidance stage, with K = 0 (congestion_avoidance() does that when cwnd >= W_max).
    w_max_ = 0;
  }
  // 4.6: "cwnd_prior = cwnd // for fast convergence"; "ssthresh = flight_size * beta_cubic".
  cwnd_prior_ = cwnd;
  return static_cast<uint32_t>(flight_size * kBeta);
}

void Cubic::growth_paused(Instant now) {
  // 4.2: leave the paused interval out of t by moving the epoch forward.
  if (epoch_start_ && now > last_ack_) *epoch_start_ += now - last_ack_;
  last_ack_ = std::max(last_ack_, now);
}

void Cubic::stage_ended() {
  epoch_start_.reset();
  cwnd_fraction_ = 0;
}

}  // namespace flowgate::tcp
