// The retransmission timeout (RFC 6298): the RTT estimator of section 2 and the exponential
// backoff of section 5. A pure value type: samples and timeouts in, the RTO out. It does not
// run the timer; the connection does (RFC 6298 5.1-5.6) and asks rto() whenever it arms it.
//
// Policy, where the RFC leaves a choice:
// - Minimum: RFC 6298 2.4 says "if it is less than 1 second, then the RTO SHOULD be rounded up
//   to 1 second". We default to 200 ms, as Linux does: inside a datacenter RTTs are tens of
//   microseconds and a 1 s floor turns every tail loss into a second of silence. Configurable.
// - Maximum: 2.5 allows one "provided it is at least 60 seconds"; we default to 120 s.
// - Karn's algorithm (section 3) is the caller's: it must not feed samples taken from
//   retransmitted segments (unless they carry timestamps, RFC 7323 4.1).
// - Backoff: "the backed-off RTO is kept" until a valid sample arrives. RFC 6298 section 5
//   notes that a new RTT measurement "may result in 'collapsing' RTO back down after it has
//   been subjected to exponential backoff"; nothing else collapses it. So an ACK of new data
//   (5.3 restarts the timer) restarts it with the backed-off value, and only on_rtt_sample()
//   resets the backoff.
// - RFC 6298 5 also says an implementation "MAY clear SRTT and RTTVAR after backing off the
//   timer multiple times"; we do not: the backoff already covers a path that got slower.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "stack/clock.hpp"

namespace flowgate::tcp {

struct RtoConfig {
  Duration initial = std::chrono::seconds(1);           // RFC 6298 2.1: "set RTO <- 1 second"
  Duration min = std::chrono::milliseconds(200);        // 2.4 says 1 s; see the policy above
  Duration max = std::chrono::seconds(120);             // 2.5: at least 60 s
  Duration granularity = std::chrono::milliseconds(1);  // G, the clock granularity of 2.2/2.3
};

class RtoEstimator {
 public:
  explicit RtoEstimator(RtoConfig config = {});

  // One RTT measurement R (RFC 6298 2.2 for the first, 2.3 afterwards), taken per Karn's
  // algorithm by the caller. Recomputes the RTO and clears any backoff. A negative R (a
  // clock or caller bug) is ignored.
  void on_rtt_sample(Duration r);

  // The retransmission timer expired (RFC 6298 5.5): "RTO <- RTO * 2 ('back off the timer')",
  // with the maximum of 2.5 applied.
  void on_timeout();

  // RFC 6298 5.7: "If the timer expires awaiting the ACK of a SYN segment and the TCP
  // implementation is using an RTO less than 3 seconds, the RTO MUST be re-initialized to 3
  // seconds when data transmission begins (i.e., after the three-way handshake completes)."
  // Call it on entering ESTABLISHED if the SYN or SYN-ACK was retransmitted by the timer. The
  // backoff is cleared (the handshake's timeouts are over); 3 s is clamped to `max`.
  void on_established_after_syn_timeout();

  // The RTO to arm the retransmission timer with: including backoff, within [min, max].
  Duration rto() const { return rto_; }
  // SRTT, or nothing before the first sample.
  std::optional<Duration> srtt() const { return srtt_; }
  // RTTVAR (zero before the first sample).
  Duration rttvar() const { return rttvar_; }
  // Timeouts since the last valid RTT sample (or since on_established_after_syn_timeout()).
  uint32_t backoff_count() const { return backoff_count_; }

 private:
  static constexpr Duration kSynTimeoutRto = std::chrono::seconds(3);

  Duration clamp(Duration d) const;

  RtoConfig config_;
  std::optional<Duration> srtt_;
  Duration rttvar_{0};
  Duration rto_;
  uint32_t backoff_count_ = 0;
};

}  // namespace flowgate::tcp
