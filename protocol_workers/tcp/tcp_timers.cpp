// Timers: retransmission (RFC 6298), RACK's reordering timer and TLP's probe timeout (RFC
// 8985), persist (RFC 9293 3.8.6.1), delayed ACK (RFC 1122 4.2.3.2), keepalive (RFC 1122
// 4.2.3.6), and the orphaned FIN-WAIT-2 limit.
#include <algorithm>
#include <cerrno>

#include "tcp/connection.hpp"

namespace flowgate::tcp {

namespace {

// Linux's tcp_retries2: consecutive timeouts on an established connection before giving up
// (about 15 minutes with exponential backoff).
constexpr uint32_t kMaxDataRetransmissions = 15;

void consider(std::optional<Instant>& next, const std::optional<Instant>& t) {
  if (t && (!next || *t < *next)) next = t;
}

}  // namespace

std::optional<Instant> Connection::next_deadline() const {
  std::optional<Instant> next;
  consider(next, rtx_deadline_);
  consider(next, reo_deadline_);
  consider(next, pto_deadline_);
  consider(next, persist_deadline_);
  consider(next, delack_deadline_);
  consider(next, keepalive_deadline_);
  consider(next, orphan_deadline_);
  return next;
}

void Connection::on_timer(Instant now) {
  if (delack_deadline_ && now >= *delack_deadline_) {
    delack_deadline_.reset();
    counters_.count(Event::tcp_delayed_acks);
    send_ack(now);
  }
  // RACK and TLP first: a probe due with the RTO (the PTO is capped at the RTO's
  // expiration, RFC 8985 7.2) re-arms the RTO, which then does not fire.
  if (reo_deadline_ && now >= *reo_deadline_) on_reorder_timeout(now);
  if (pto_deadline_ && now >= *pto_deadline_) on_probe_timeout(now);
  if (rtx_deadline_ && now >= *rtx_deadline_) on_retransmit_timeout(now);
  if (state_ == TcpState::closed || state_ == TcpState::time_wait) return;
  if (persist_deadline_ && now >= *persist_deadline_) on_persist_timeout(now);
  if (keepalive_deadline_ && now >= *keepalive_deadline_) on_keepalive_timeout(now);
  if (state_ == TcpState::closed) return;
  if (orphan_deadline_ && now >= *orphan_deadline_) {
    // close() was called and the peer never sent its FIN: like Linux's tcp_fin_timeout, stop
    // waiting rather than keep the connection forever.
    orphan_deadline_.reset();
    to_closed(0, Ending::timed_out);
  }
}

void Connection::on_retransmit_timeout(Instant now) {
  rtx_deadline_.reset();
  counters_.count(Event::tcp_timeouts);
  ++rtx_timeouts_;
  switch (state_) {
    case TcpState::syn_sent:
      if (rtx_timeouts_ > config_.syn_retries) {
        to_closed(ETIMEDOUT, Ending::timed_out);
        return;
      }
      rto_.on_timeout();
      send_syn(now);
      return;
    case TcpState::syn_received:
      if (rtx_timeouts_ > config_.synack_retries) {
        to_closed(passive_ ? 0 : ETIMEDOUT, Ending::timed_out);
        return;
      }
      rto_.on_timeout();
      send_syn(now);
      return;
    default:
      break;
  }
  if (snd_.max == snd_.una) return;  // nothing outstanding any more
  if (snd_.wnd == 0) {
    // The peer shrank its window to zero with our data outstanding. Our retransmissions
    // become window probes; RFC 1122 4.2.2.17: the connection stays open as long as the peer
    // keeps answering them, so answered timeouts do not count towards giving up.
    if (heard_since_timeout_ && rtx_timeouts_ > 0) --rtx_timeouts_;
    heard_since_timeout_ = false;
    if (rtx_timeouts_ > kMaxDataRetransmissions) {
      to_closed(ETIMEDOUT, Ending::timed_out);
      return;
    }
    rto_.on_timeout();
    counters_.count(Event::tcp_zero_window_probes);
    zero_window_rtx_ = true;
    retransmit_first(now);
    return;
  }
  heard_since_timeout_ = false;
  if (rtx_timeouts_ > kMaxDataRetransmissions) {
    to_closed(ETIMEDOUT, Ending::timed_out);
    return;
  }
  // RFC 6298 5.5: back off the timer; RFC 5681 3.1 eq. 4 and cwnd = 1 SMSS (the congestion
  // controller); RFC 6582 4: recover = highest sequence sent, leave fast recovery.
  rto_.on_timeout();
  if (cc_) cc_->on_retransmit_timeout(now, flight_size());
  in_recovery_ = false;
  dupacks_ = 0;
  limited_transmit_bytes_ = 0;
  recover_ = snd_.max;
  if (sack_ok_) scoreboard_.on_rto(snd_.max);  // RFC 2018 5 / RFC 6675 5.1
  rtt_probe_.reset();
  if (rack_active()) {
    // RFC 8985 6.3: "Upon RTO timer expiration, RACK marks the first outstanding segment as
    // lost (since it was sent an RTO ago); for all the other segments, RACK only marks the
    // segments lost if the time elapsed since the segment was transmitted is at least the
    // sum of the recent RTT and the reordering window." RTO recovery then resends the marked
    // segments from cwnd = 1 SMSS (RFC 5681), skipping whatever the peer SACKs meanwhile,
    // instead of going back N over data it may hold. TLP state is reset (7.1).
    rack_.on_rto(snd_.una, now, rto_.srtt());
    rto_recovery_ = true;
    reo_deadline_.reset();
    pto_deadline_.reset();
    // RFC 6298 5.4: "Retransmit the earliest segment that has not been acknowledged by the
    // TCP receiver", whatever else is still counted in the pipe; then the pipe rule.
    if (const auto first = rack_.first_lost(send_mss())) {
      if (retransmit_range(first->left, first->right, now))
        counters_.count(Event::tcp_retransmits_timeout);
    }
    output(now);
    restart_retransmit_timer(now);
    return;
  }
  // Go back N: resend from SND.UNA as the (now one-segment) window allows; SND.MAX keeps
  // what had been sent, so ACKs for it stay acceptable.
  snd_.nxt = snd_.una;
  output(now);
  restart_retransmit_timer(now);
}

void Connection::on_reorder_timeout(Instant now) {
  reo_deadline_.reset();
  counters_.count(Event::tcp_rack_reorder_timeouts);
  if (!rack_active()) return;
  // RFC 8985 6.2 step 5: the timer calls RACK_detect_loss_and_arm_timer() again.
  rack_detect_and_recover(now);
  output(now);
}

void Connection::on_probe_timeout(Instant now) {
  pto_deadline_.reset();
  if (!tlp_may_arm()) return;
  // RFC 8985 7.3: "When the PTO timer expires, the sender MUST check whether both of the
  // following conditions are met before sending a loss probe: 1. First, there is no other
  // previous loss probe still in flight. ... 2. Second, the sender has obtained an RTT
  // measurement since the last loss probe transmission or the start of the connection,
  // whichever was later. ... If either one of these two conditions is not met, then the
  // sender MUST skip sending a loss probe and MUST proceed to re-arm the RTO timer".
  if (rack_.tlp_in_flight() || !rack_.tlp_rtt_sampled()) {
    restart_retransmit_timer(now);
    return;
  }
  // TLP_send_probe(): "If an unsent segment exists AND the receive window allows new data
  // to be sent: Transmit the lowest-sequence unsent segment of up to SMSS ... Else:
  // Retransmit the highest-sequence segment sent so far". The probe goes out whatever cwnd
  // says ("The cwnd remains unchanged"): at most one segment beyond it per tail.
  const uint32_t sent = static_cast<uint32_t>(snd_.nxt - snd_.una);
  const uint32_t buffered = static_cast<uint32_t>(send_buffer_.size());
  const uint32_t unsent = buffered > sent ? buffered - sent : 0;
  const SeqNum right_edge = snd_.una + snd_.wnd;
  const uint32_t room = right_edge > snd_.nxt ? static_cast<uint32_t>(right_edge - snd_.nxt) : 0;
  const uint32_t mss = send_mss();
  const uint32_t len = std::min({unsent, mss, room});
  const bool fin_here = fin_queued_ && !fin_sent_ && sent <= buffered && len == unsent;
  const SeqNum probe_seq = snd_.nxt;
  bool probed = false;
  if (len > 0 || fin_here) {
    send_from_nxt(len, fin_here, now);
    pto_restart_ = false;  // "after transmitting new data (that was not itself a loss probe)"
    rack_.tlp_on_probe(probe_seq, snd_.max, false);
    probed = true;
  } else if (const auto last = rack_.last_segment(mss)) {
    if (retransmit_range(last->left, last->right, now)) {
      rack_.tlp_on_probe(last->left, snd_.max, true);
      probed = true;
    }
  }
  if (probed) counters_.count(Event::tcp_tlp_probes);
  // "After attempting to send a loss probe, regardless of whether a loss probe was sent, the
  // sender MUST re-arm the RTO timer, not the PTO timer, if FlightSize is not zero."
  restart_retransmit_timer(now);
}

void Connection::on_persist_timeout(Instant now) {
  persist_deadline_.reset();
  if (snd_.wnd > 0) {
    force_send_ = true;
    output(now);
    force_send_ = false;
    return;
  }
  counters_.count(Event::tcp_zero_window_probes);
  send_probe(now);
  // Back off like the retransmission timer, up to persist_max; RFC 1122 4.2.2.17: probing
  // goes on as long as the peer answers (the connection is never dropped for a closed window).
  ++persist_backoff_;
  const auto base = rto_.rto();
  Duration interval = base * (1LL << std::min<uint32_t>(persist_backoff_, 16));
  interval = std::min(interval, config_.persist_max);
  persist_deadline_ = now + interval;
}

void Connection::restart_keepalive(Instant now) {
  keepalive_probes_ = 0;
  if (options_.keepalive && (state_ == TcpState::established || state_ == TcpState::close_wait)) {
    keepalive_deadline_ = now + options_.keepalive_idle;
  } else {
    keepalive_deadline_.reset();
  }
}

void Connection::on_keepalive_timeout(Instant now) {
  keepalive_deadline_.reset();
  if (!options_.keepalive || (state_ != TcpState::established && state_ != TcpState::close_wait))
    return;
  if (keepalive_probes_ >= options_.keepalive_count) {
    counters_.count(Event::tcp_keepalive_timeouts);
    to_closed(ETIMEDOUT, Ending::timed_out);
    return;
  }
  ++keepalive_probes_;
  counters_.count(Event::tcp_keepalive_probes);
  send_probe(now);
  keepalive_deadline_ = now + options_.keepalive_interval;
}

}  // namespace flowgate::tcp
