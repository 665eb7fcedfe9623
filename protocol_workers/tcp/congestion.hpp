// Congestion control: the sender's cwnd/ssthresh policy (RFC 5681, RFC 9438), behind one
// interface so the connection does not care which algorithm runs. Pure: events and `now` in,
// cwnd() and ssthresh() out; no clock reads, no timers.
//
// Division of work with the connection:
// - The connection detects losses (duplicate ACKs, SACK, RTO), ECN echoes and idle periods,
//   and runs loss recovery. NewReno's window inflation/deflation during fast recovery (RFC
//   6582 3.2 steps 2-4) and the RFC 6675 pipe live in the connection's recovery code; here is
//   only the policy: what ssthresh and cwnd become at each event.
// - During fast recovery the connection does not report ACKs with on_ack(); it calls
//   on_recovery_exit() when recovery ends. After an RTO there is no fast recovery: the sender
//   slow-starts from the loss window, so ACKs are reported with on_ack() as usual.
//
// Choices common to both algorithms:
// - Byte counting (RFC 3465) in slow start, with L = 2*SMSS ("TCP implementations MAY use
//   L=2*SMSS bytes and MUST NOT use L > 2*SMSS bytes"); L = 1*SMSS in the slow start that
//   follows an RTO, where RFC 3465 2.3 asks for the conservative limit because the ACKs may
//   cover segments the receiver already held.
// - Slow start when cwnd < ssthresh, congestion avoidance when cwnd >= ssthresh (RFC 5681 3.1:
//   "When cwnd and ssthresh are equal, the sender may use either slow start or congestion
//   avoidance").
// - cwnd grows only while the sender is cwnd-limited: RFC 9438 5.8, "CUBIC does not increase
//   its congestion window if a flow is application limited", and the same for NewReno (RFC
//   7661's reasoning: growth that was never tested by sending is not validated). An ACK is
//   cwnd-limited when the data in flight before it left no room for another full segment.
// - Every ssthresh is at least 2*SMSS (RFC 5681 eq. 4); so is cwnd after a congestion event,
//   for an ECN echo too (RFC 9438 4.6 would allow 1*SMSS there; RFC 3168 6.1.2 only asks to
//   halve).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "stack/clock.hpp"

namespace flowgate::tcp {

enum class CongestionAlgorithm { cubic, newreno };

// RFC 6928 section 2: "IW = min (10*MSS, max (2*MSS, 14600))". Use it for a connection whose
// SYN exchange went without retransmission; RFC 6928 section 2 (and RFC 5681 3.1) asks for an
// initial window of one segment after a lost SYN or SYN-ACK: pass `smss` instead.
uint32_t initial_window(uint32_t smss);

class CongestionControl {
 public:
  virtual ~CongestionControl() = default;
  CongestionControl(const CongestionControl&) = delete;
  CongestionControl& operator=(const CongestionControl&) = delete;

  virtual std::string_view name() const = 0;

  // Bytes. The connection may have in flight min(cwnd, rwnd) (RFC 5681 2), plus whatever its
  // fast-recovery algorithm adds.
  uint32_t cwnd() const { return cwnd_; }
  uint32_t ssthresh() const { return ssthresh_; }
  uint32_t smss() const { return smss_; }
  bool in_slow_start() const { return cwnd_ < ssthresh_; }

  // An ACK that acknowledged new data (`bytes_acked` > 0) outside fast recovery: RFC 5681 3.1
  // slow start (eq. 2 with RFC 3465 byte counting) or congestion avoidance (RFC 5681 3.1 /
  // RFC 3465 2.1 byte counting for NewReno, RFC 9438 4.2-4.5 for CUBIC).
  //   srtt: RFC 6298 SRTT if there is one (RFC 9438 4.2: "RTT is the smoothed round-trip
  //         time"); NewReno ignores it.
  //   bytes_in_flight: FlightSize after this ACK, i.e. SND.NXT - SND.UNA with SND.UNA
  //         already advanced. Together with bytes_acked it tells whether the sender was
  //         cwnd-limited (see above); passing 0 freezes cwnd.
  void on_ack(Instant now, uint32_t bytes_acked, std::optional<Duration> srtt,
              uint32_t bytes_in_flight);

  // A congestion event: loss detected by duplicate ACKs or SACK (entering fast recovery), or
  // an ECN echo (RFC 3168 6.1.2: "at most once per window of data"; the connection enforces
  // that and sets CWR). Sets ssthresh and cwnd to the window recovery should aim at:
  //   NewReno, RFC 5681 eq. 4: ssthresh = max (FlightSize / 2, 2*SMSS); cwnd = ssthresh
  //     (the connection adds step 3's 3*SMSS inflation itself).
  //   CUBIC, RFC 9438 4.6/4.7: W_max bookkeeping, ssthresh = max(flight_size * 0.7, 2*SMSS);
  //     cwnd = ssthresh.
  // flight_size: FlightSize at the event (RFC 5681: sent but not cumulatively acknowledged).
  void on_congestion_event(Instant now, uint32_t flight_size);

  // Fast recovery ended (RFC 6582 3.2 step 3, full ACK; RFC 6675 when the recovery point is
  // acknowledged). Of step 3's two options, "(1) min (ssthresh, max (FlightSize, SMSS) +
  // SMSS) or (2) ssthresh", we take (2): cwnd = ssthresh. The RFC notes option (1) guards
  // against a burst; the connection's output already sends at most what cwnd allows per ACK.
  // Not needed after an ECN-only reduction, where cwnd already equals ssthresh.
  void on_recovery_exit(Instant now);

  // The retransmission timer expired. RFC 5681 3.1: "upon a timeout ... cwnd MUST be set to
  // no more than the loss window, LW, which equals 1 full-sized segment", and eq. 4 for
  // ssthresh when "the given segment has not yet been resent by way of the retransmission
  // timer". So a repeated timeout with no new data acknowledged in between (the backed-off
  // retransmission of the same segment) keeps ssthresh. CUBIC: RFC 9438 4.8.
  void on_retransmit_timeout(Instant now, uint32_t flight_size);

  // The connection is about to send new data with nothing in flight, `idle` after it last
  // sent data. RFC 5681 4.1: "a TCP SHOULD set cwnd to no more than RW before beginning
  // transmission if the TCP has not sent data in an interval exceeding the retransmission
  // timeout", RW = min (IW, cwnd). CUBIC also leaves the idle time out of its curve time
  // (RFC 9438 4.2), so call this after any idle period, not only after one longer than `rto`.
  void on_idle_restart(Instant now, Duration idle, Duration rto);

  // The SMSS changed (PMTU discovery, RFC 8899/1191). cwnd and ssthresh stay in bytes; growth
  // from now on is in the new SMSS.
  void set_mss(uint32_t smss);

 protected:
  // ssthresh before the first congestion event: RFC 5681 3.1 says it "SHOULD be set
  // arbitrarily high (e.g., to the size of the largest possible advertised window)". Half the
  // uint32_t range is above any window (2^30 with scaling, RFC 7323) and leaves headroom.
  static constexpr uint32_t kInitialSsthresh = UINT32_MAX / 2;
  // cwnd never grows beyond this: above any usable window, and additions cannot overflow.
  static constexpr uint32_t kMaxCwnd = UINT32_MAX / 2;

  enum class Reduction { congestion_event, timeout };

  CongestionControl(uint32_t smss, uint32_t initial_window);

  uint32_t cwnd_;
  uint32_t ssthresh_ = kInitialSsthresh;
  uint32_t smss_;

 private:
  // Congestion avoidance (cwnd >= ssthresh) for `bytes_acked` newly acknowledged bytes of a
  // cwnd-limited ACK.
  virtual void congestion_avoidance(Instant now, uint32_t bytes_acked,
                                    std::optional<Duration> srtt) = 0;
  // A congestion event or the first timeout of a loss: record what the algorithm needs
  // (cwnd_ still holds the window at the event) and return the new ssthresh before the
  // 2*SMSS floor.
  virtual uint32_t reduce(Reduction why, uint32_t flight_size) = 0;
  // cwnd did not grow from the previous ACK until `now` (application-limited or idle).
  virtual void growth_paused(Instant /*now*/) {}
  // cwnd was set by something other than congestion-avoidance growth: the next congestion
  // avoidance ACK starts a new congestion avoidance stage.
  virtual void stage_ended() {}

  uint32_t initial_window_;
  // An RTO happened and no new data has been acknowledged since.
  bool timeout_unacked_ = false;
  // In the slow start that follows an RTO (byte counting limit L = 1*SMSS).
  bool slow_start_after_timeout_ = false;
};

// `initial_window_bytes` is the IW (see initial_window()); ssthresh starts arbitrarily high.
std::unique_ptr<CongestionControl> make_congestion_control(CongestionAlgorithm algorithm,
                                                           uint32_t smss,
                                                           uint32_t initial_window_bytes);

}  // namespace flowgate::tcp
