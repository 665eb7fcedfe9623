// CUBIC (RFC 9438): the window grows as a cubic function of the time since the last
// congestion event, W_cubic(t) = C*(t-K)^3 + W_max (section 4.2), concave below W_max and
// convex above it, never slower than Reno (the Reno-friendly region, 4.3). Slow start is
// Reno's (4.10, no HyStart++). The multiplicative decrease and fast recovery are as for
// NewReno apart from beta_cubic = 0.7 (4.6).
//
// Units: the RFC counts windows in segments and time in seconds. We keep the windows in bytes
// (so an SMSS change does not rescale history) as doubles, and convert with SMSS where a
// formula is in segments; cwnd() is the whole-byte part, the fraction is carried between ACKs.
//
// Choices:
// - ssthresh = flight_size * beta_cubic, the RFC's formula (4.6). It notes that "some
//   implementations of CUBIC currently use cwnd instead of flight_size", which it allows only
//   with measures that stop cwnd growing while application-limited; we have those too (see
//   congestion.hpp), so switching would be one line.
// - The congestion avoidance stage (the "epoch") starts at the first ACK in congestion
//   avoidance after cwnd was set by an event (loss, recovery exit, RTO, idle restart); t counts
//   from there, minus the time cwnd did not grow because the sender was application-limited
//   or idle (4.2: t "MUST NOT include periods during which cwnd has not been updated due to
//   application-limited behavior").
// - If cwnd at the start of a stage is at or above W_max (the first stage after an RTO, 4.8,
//   or after an idle restart above it), W_max = cwnd_epoch and K = 0, as 4.8 prescribes
//   after a timeout.
// - In the Reno-friendly region cwnd is set to W_est, but never lowered by an ACK.
// - Spurious congestion event undo (4.9) is not implemented: nothing detects them yet.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "stack/clock.hpp"
#include "tcp/congestion.hpp"

namespace flowgate::tcp {

struct CubicConfig {
  // RFC 9438 4.7: fast convergence "SHOULD be implemented" and "SHOULD be disabled" only
  // with a single CUBIC flow and no other traffic.
  bool fast_convergence = true;
};

class Cubic final : public CongestionControl {
 public:
  // RFC 9438 section 5: C = 0.4, beta_cubic = 0.7; alpha_cubic = 3 * (1 - beta_cubic) / (1 +
  // beta_cubic) (4.3) gives Reno's average window.
  static constexpr double kC = 0.4;
  static constexpr double kBeta = 0.7;
  static constexpr double kAlpha = 3.0 * (1.0 - kBeta) / (1.0 + kBeta);

  Cubic(uint32_t smss, uint32_t initial_window, CubicConfig config = {});

  std::string_view name() const override { return "cubic"; }

  // For tests and introspection. W_max and W_est in bytes; K in seconds (valid during a
  // congestion avoidance stage).
  double w_max() const { return w_max_; }
  double w_est() const { return w_est_; }
  double k() const { return k_; }

 private:
  void congestion_avoidance(Instant now, uint32_t bytes_acked,
                            std::optional<Duration> srtt) override;
  uint32_t reduce(Reduction why, uint32_t flight_size) override;
  void growth_paused(Instant now) override;
  void stage_ended() override;

  // W_cubic(t) of RFC 9438 4.2, in bytes; t in seconds since the epoch.
  double w_cubic(double t) const;
  double exact_cwnd() const { return cwnd_ + cwnd_fraction_; }
  void set_exact_cwnd(double bytes);

  CubicConfig config_;
  double w_max_ = 0;       // W_max: the window at the last congestion event (after 4.7)
  double cwnd_prior_ = 0;  // cwnd_prior: cwnd before the last reduction
  // The current congestion avoidance stage, if one is running.
  std::optional<Instant> epoch_start_;  // epoch_start, moved forward by paused time
  Instant last_ack_{};                  // where the curve clock was last advanced
  double k_ = 0;                        // K, seconds
  double w_est_ = 0;                    // W_est of 4.3
  double cwnd_fraction_ = 0;            // the part of cwnd below one byte, [0, 1)
};

}  // namespace flowgate::tcp
