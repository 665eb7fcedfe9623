// Segment arrival: RFC 9293 section 3.10.7, in its step order, with RFC 5961's defences,
// RFC 7323's PAWS and RFC 3168's ECN signals.
#include <algorithm>
#include <array>
#include <cerrno>
#include <vector>

#include "tcp/connection.hpp"
#include "wire/icmp.hpp"

namespace flowgate::tcp {

using wire::TcpFlag;

void Connection::on_segment(const Segment& seg, Instant now) {
  switch (state_) {
    case TcpState::closed:
    case TcpState::listen:
    case TcpState::time_wait:  // the host answers for TIME-WAIT from its compact record
      return;
    case TcpState::syn_sent:
      on_segment_syn_sent(seg, now);
      return;
    default:
      on_segment_synchronized(seg, now);
      return;
  }
}

// RFC 9293 3.10.7.3, "If the state is SYN-SENT".
void Connection::on_segment_syn_sent(const Segment& seg, Instant now) {
  const auto& f = seg.tcp.flags;
  bool ack_acceptable = false;
  // "first check the ACK bit: If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless
  // the RST bit is set, if so drop the segment and return) <SEQ=SEG.ACK><CTL=RST>".
  if (f.has(TcpFlag::ack)) {
    if (seg.ack() <= snd_.iss || seg.ack() > snd_.max) {
      counters_.drop(DropReason::tcp_syn_sent_bad_ack);
      if (!f.has(TcpFlag::rst)) send_rst(seg.ack());
      return;
    }
    ack_acceptable = true;
  }
  // "second check the RST bit": RFC 5961 3.2 — in SYN-SENT a RST is acceptable only if its
  // ACK acknowledges our SYN. "If the ACK was acceptable, then signal to the user 'error:
  // connection reset', drop the segment, enter CLOSED state".
  if (f.has(TcpFlag::rst)) {
    if (ack_acceptable) {
      counters_.count(Event::tcp_resets_received);
      to_closed(ECONNREFUSED, Ending::reset);
    } else {
      counters_.drop(DropReason::tcp_rst_out_of_window);
    }
    return;
  }
  // "fourth check the SYN bit".
  if (!f.has(TcpFlag::syn)) {
    counters_.drop(DropReason::tcp_no_ack_flag);
    return;
  }
  rcv_.irs = seg.seq();
  rcv_.nxt = seg.seq() + 1;
  rcv_.adv = rcv_.nxt;
  apply_peer_syn_options(seg.tcp.options, true);
  if (ts_ok_) ts_recent_ = seg.tcp.options.timestamps->tsval;
  // RFC 3168 6.1.1: the SYN-ACK agrees to ECN with ECE set and CWR clear.
  ecn_ok_ = config_.ecn && f.has(TcpFlag::ece) && !f.has(TcpFlag::cwr);
  if (ack_acceptable) {
    // "If SND.UNA > ISS (our SYN has been ACKed), change the connection state to
    // ESTABLISHED, form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and send it."
    take_rtt_sample(seg, now);
    snd_.una = seg.ack();
    // The window in a SYN segment is never scaled (RFC 7323 2.2).
    snd_.wnd = seg.tcp.window;
    snd_.max_wnd = snd_.wnd;
    snd_.wl1 = seg.seq();
    snd_.wl2 = seg.ack();
    rtx_deadline_.reset();
    enter_established(now);
    if (!seg.tcp.payload.empty() || f.has(TcpFlag::fin)) {
      process_data(seg, now);
      process_fin(seg, now);
    }
    send_ack(now);
    output(now);
    return;
  }
  // Simultaneous open: "Otherwise, enter SYN-RECEIVED, form a SYN,ACK segment
  // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it."
  snd_.wnd = seg.tcp.window;
  snd_.max_wnd = snd_.wnd;
  snd_.wl1 = seg.seq();
  snd_.wl2 = snd_.iss;
  set_state(TcpState::syn_received);
  snd_.nxt = snd_.iss;  // the SYN goes out again, now with ACK
  send_syn(now);
}

// RFC 9293 3.10.7.4: the segment acceptability test, against the window we advertised.
bool Connection::acceptable(const Segment& seg) const {
  const uint32_t len = seg.len();
  const uint32_t wnd = rcv_.adv > rcv_.nxt ? static_cast<uint32_t>(rcv_.adv - rcv_.nxt) : 0;
  const SeqNum seq = seg.seq();
  // A segment without data is acceptable up to and including the right edge: "special
  // allowance should be made to accept valid ACKs". A peer that filled our window sends its
  // pure ACKs at SEG.SEQ = RCV.NXT + RCV.WND (its SND.NXT); the table's strict RCV.NXT =<
  // SEG.SEQ < RCV.NXT+RCV.WND would drop every one of them, and with them the ACKs of our own
  // data, until the retransmission timeout (Linux's tcp_sequence() accepts the edge too).
  if (len == 0) return in_window(seq, rcv_.nxt, wnd + 1);
  // A zero window accepts no data, "but special allowance should be made to accept valid
  // ACKs, URGs, and RSTs": a segment at RCV.NXT is processed for its ACK (data trimmed).
  if (wnd == 0) return seq == rcv_.nxt;
  return in_window(seq, rcv_.nxt, wnd) || in_window(seq + (len - 1), rcv_.nxt, wnd);
}

void Connection::on_segment_synchronized(const Segment& seg, Instant now) {
  const auto& f = seg.tcp.flags;
  restart_keepalive(now);
  heard_since_timeout_ = true;

  // Simultaneous open, RFC 9293 figure 7 line 6: in SYN-RECEIVED the peer's SYN,ACK for our
  // SYN (its SYN again, now with the ACK) completes the handshake; acknowledge it.
  if (state_ == TcpState::syn_received && !passive_ && f.has(TcpFlag::syn) && f.has(TcpFlag::ack) &&
      seg.seq() == rcv_.irs && snd_.una < seg.ack() && seg.ack() <= snd_.max &&
      !f.has(TcpFlag::rst)) {
    take_rtt_sample(seg, now);
    snd_.una = seg.ack();
    if (snd_.nxt < snd_.una) snd_.nxt = snd_.una;
    snd_.wnd = seg.tcp.window;  // a SYN's window is never scaled
    snd_.max_wnd = std::max(snd_.max_wnd, snd_.wnd);
    snd_.wl1 = seg.seq();
    snd_.wl2 = seg.ack();
    rtx_deadline_.reset();
    enter_established(now);
    send_ack(now);
    output(now);
    return;
  }
  // A retransmitted SYN while we are in SYN-RECEIVED: our SYN-ACK was lost; send it again.
  if (state_ == TcpState::syn_received && f.has(TcpFlag::syn) && !f.has(TcpFlag::ack) &&
      seg.seq() == rcv_.irs) {
    snd_.nxt = snd_.iss;
    send_syn(now);
    return;
  }

  // RFC 7323 5.3 PAWS, before the sequence check: a segment whose timestamp is older than
  // TS.Recent is a duplicate from an earlier wrap of the sequence space.
  const auto& ts = seg.tcp.options.timestamps;
  if (ts_ok_ && ts && !f.has(TcpFlag::rst) && static_cast<int32_t>(ts->tsval - ts_recent_) < 0) {
    counters_.drop(DropReason::tcp_paws_rejected);
    send_ack(now);
    return;
  }

  // "first check sequence number": "If an incoming segment is not acceptable, an
  // acknowledgment should be sent in reply (unless the RST bit is set, if so drop the
  // segment and return)".
  if (!acceptable(seg)) {
    if (f.has(TcpFlag::rst)) {
      counters_.drop(DropReason::tcp_rst_out_of_window);
    } else {
      counters_.drop(DropReason::tcp_out_of_window);
      send_ack(now);
    }
    return;
  }
  // RFC 7323 4.3: remember the timestamp of a segment that covers the left window edge.
  if (ts_ok_ && ts && seg.seq() <= rcv_.nxt) ts_recent_ = ts->tsval;

  // "second check the RST bit" with RFC 5961 3.2: "If the RST bit is set and the sequence
  // number exactly matches the next expected sequence number (RCV.NXT), then TCP MUST reset
  // the connection ... Otherwise (the sequence number is in the window but not an exact
  // match) TCP MUST send an ACK (challenge ACK)".
  if (f.has(TcpFlag::rst)) {
    if (seg.seq() != rcv_.nxt) {
      counters_.drop(DropReason::tcp_rst_not_exact);
      challenge_ack(now);
      return;
    }
    counters_.count(Event::tcp_resets_received);
    switch (state_) {
      case TcpState::syn_received:
        // "If this connection was initiated with a passive OPEN, then return this connection
        // to the LISTEN state": the half-open connection just goes away. An active one
        // (simultaneous open) is refused.
        to_closed(passive_ ? 0 : ECONNREFUSED, Ending::reset);
        return;
      case TcpState::established:
      case TcpState::fin_wait_1:
      case TcpState::fin_wait_2:
      case TcpState::close_wait:
        to_closed(ECONNRESET, Ending::reset);
        return;
      default:  // CLOSING, LAST-ACK: "enter the CLOSED state"
        to_closed(0, Ending::reset);
        return;
    }
  }

  // "fourth, check the SYN bit": RFC 5961 4.2 — any SYN in a synchronized state gets a
  // challenge ACK instead of the RFC 793 reset, so a blind SYN cannot kill the connection.
  if (f.has(TcpFlag::syn)) {
    counters_.drop(DropReason::tcp_syn_in_synchronized);
    challenge_ack(now);
    return;
  }

  // "fifth check the ACK field": "if the ACK bit is off drop the segment and return".
  if (!f.has(TcpFlag::ack)) {
    counters_.drop(DropReason::tcp_no_ack_flag);
    return;
  }
  if (state_ == TcpState::syn_received) {
    // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state ... If the segment
    // acknowledgment is not acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST>".
    if (!(snd_.una < seg.ack() && seg.ack() <= snd_.max)) {
      counters_.drop(DropReason::tcp_ack_unacceptable);
      send_rst(seg.ack());
      return;
    }
    if (passive_ && !host_.admit(*this)) {
      // The accept queue is full: drop the ACK and stay in SYN-RECEIVED, as Linux does
      // (tcp_abort_on_overflow=0). Our SYN-ACK retransmission makes the peer ACK again.
      counters_.drop(DropReason::tcp_accept_queue_full);
      return;
    }
    take_rtt_sample(seg, now);
    snd_.una = seg.ack();
    if (snd_.nxt < snd_.una) snd_.nxt = snd_.una;
    snd_.wnd = uint32_t{seg.tcp.window} << snd_wscale_;
    snd_.max_wnd = std::max(snd_.max_wnd, snd_.wnd);
    snd_.wl1 = seg.seq();
    snd_.wl2 = seg.ack();
    rtx_deadline_.reset();
    enter_established(now);
    if (state_ != TcpState::established) return;
  }
  if (!process_ack(seg, now)) return;

  // "sixth, check the URG bit": urgent data is delivered inline (SO_OOBINLINE, RFC 6093's
  // advice); we only track the pointer, and only when it points into this segment or later.
  if (f.has(TcpFlag::urg) && seg.tcp.urgent_pointer != 0) {
    const SeqNum up = seg.seq() + seg.tcp.urgent_pointer;
    if (up > rcv_.up) rcv_.up = up;
  }

  // "seventh, process the segment text" and "eighth, check the FIN bit".
  process_data(seg, now);
  if (state_ == TcpState::closed) return;
  process_fin(seg, now);
  if (state_ == TcpState::closed || state_ == TcpState::time_wait) return;
  output(now);
}

// RFC 9293 "fifth check the ACK field" for ESTABLISHED and the closing states. Returns false
// when the connection ended (CLOSED or TIME-WAIT) and nothing more may be done with it.
bool Connection::process_ack(const Segment& seg, Instant now) {
  const SeqNum ack = seg.ack();
  // RFC 5961 5.2: the ACK is acceptable only within [SND.UNA - MAX.SND.WND, SND.NXT];
  // anything else gets a (rate-limited) challenge ACK and is dropped. SND.MAX stands for
  // SND.NXT here since a timeout may have moved SND.NXT back.
  if (ack > snd_.max || ack < snd_.una - std::max<uint32_t>(snd_.max_wnd, 1)) {
    counters_.drop(DropReason::tcp_ack_unacceptable);
    challenge_ack(now);
    return false;
  }
  ecn_on_ack(seg, now);
  std::optional<SackBlock> dsack;
  if (sack_ok_ && snd_.max > snd_.una) {
    // RFC 6675 update of the scoreboard; blocks are validated there (RFC 2018, 2883).
    std::array<SackBlock, kMaxSackBlocks> blocks;
    size_t n = 0;
    for (const auto& b : seg.tcp.options.sack()) {
      if (n == blocks.size()) break;
      blocks[n++] = SackBlock{SeqNum(b.left), SeqNum(b.right)};
    }
    const auto r = scoreboard_.on_ack(ack, std::span<const SackBlock>(blocks.data(), n), snd_.max);
    const uint32_t ignored = r.ignored_invalid + r.ignored_excess + r.ignored_capacity;
    if (ignored > 0) counters_.count(Event::tcp_sack_blocks_ignored, ignored);
    dsack = r.dsack;
    if (dsack) counters_.count(Event::tcp_dsacks_received);
  }
  // RFC 5681 section 2's duplicate ACK: nothing new acknowledged, no data, no SYN/FIN, same
  // window, and data outstanding.
  const bool duplicate = ack == snd_.una && seg.tcp.payload.empty() &&
                         !seg.tcp.flags.has(TcpFlag::syn) && !seg.tcp.flags.has(TcpFlag::fin) &&
                         (uint32_t{seg.tcp.window} << snd_wscale_) == snd_.wnd &&
                         snd_.max > snd_.una;
  std::optional<Duration> log_rtt;
  TlpOutcome tlp = TlpOutcome::none;
  const uint32_t flight_before = flight_size();
  if (rack_active() && ack >= snd_.una) log_rtt = rack_on_ack(seg, dsack, duplicate, tlp, now);
  if (ack > snd_.una) {
    on_new_ack(seg, static_cast<uint32_t>(ack - snd_.una), log_rtt, now);
  } else if (duplicate) {
    on_duplicate_ack(now);
  }
  if (tlp == TlpOutcome::repaired && cc_ && !in_recovery_ && !rto_recovery_) {
    // RFC 8985 7.4.2: "If the TLP sender does not receive such an indication, then it MUST
    // assume that the original data segment, the TLP retransmission, or a corresponding ACK
    // was lost for congestion control purposes": one reduction (ssthresh and cwnd, as for an
    // ECN echo), from the FlightSize before this ACK, unless a recovery already made it for
    // this window.
    cc_->on_congestion_event(now, flight_before);
    cc_->on_recovery_exit(now);
  }
  // "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be updated".
  update_send_window(seg);
  if (rack_active()) {
    rack_detect_and_recover(now);
  } else {
    maybe_enter_sack_recovery(now);
  }

  switch (state_) {
    case TcpState::fin_wait_1:
      // "In addition to the processing for the ESTABLISHED state, if the FIN segment is now
      // acknowledged, then enter FIN-WAIT-2 and continue processing in that state."
      if (fin_acked()) {
        set_state(TcpState::fin_wait_2);
        if (orphaned_) orphan_deadline_ = now + 2 * config_.msl;
      }
      return true;
    case TcpState::closing:
      // "if the ACK acknowledges our FIN, then enter the TIME-WAIT state".
      if (fin_acked()) {
        enter_time_wait(now);
        return false;
      }
      return true;
    case TcpState::last_ack:
      // "If our FIN is now acknowledged, delete the TCB, enter the CLOSED state".
      if (fin_acked()) {
        to_closed(0, Ending::orderly);
        return false;
      }
      return true;
    default:
      return true;
  }
}

void Connection::update_send_window(const Segment& seg) {
  if (!(snd_.una <= seg.ack() && seg.ack() <= snd_.max)) return;
  // "If (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)), set SND.WND <-
  // SEG.WND, set SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK."
  if (snd_.wl1 < seg.seq() || (snd_.wl1 == seg.seq() && snd_.wl2 <= seg.ack())) {
    snd_.wnd = uint32_t{seg.tcp.window} << snd_wscale_;
    snd_.wl1 = seg.seq();
    snd_.wl2 = seg.ack();
    snd_.max_wnd = std::max(snd_.max_wnd, snd_.wnd);
    if (snd_.wnd > 0) {
      persist_deadline_.reset();
      persist_backoff_ = 0;
      if (zero_window_rtx_) {
        // The window reopened after our retransmissions served as probes: everything
        // outstanding may have been refused, so send it again from SND.UNA now rather
        // than after another backed-off timeout.
        zero_window_rtx_ = false;
        snd_.nxt = snd_.una;
        rtt_probe_.reset();
      }
    }
  }
}

void Connection::on_new_ack(const Segment& seg, uint32_t acked, std::optional<Duration> log_rtt,
                            Instant now) {
  // Bytes of the buffer acknowledged: the FIN occupies a sequence number but no buffer byte.
  const uint32_t data_acked = std::min<uint32_t>(acked, static_cast<uint32_t>(send_buffer_.size()));
  send_buffer_.consume(data_acked);
  bytes_acked_ += data_acked;
  snd_.una = seg.ack();
  if (snd_.nxt < snd_.una) snd_.nxt = snd_.una;
  rtx_timeouts_ = 0;
  take_rtt_sample(seg, now, log_rtt);
  dupacks_ = 0;
  limited_transmit_bytes_ = 0;
  // RFC 8985 7.2: the PTO is restarted "upon receiving an ACK that cumulatively acknowledges
  // new data" (output() does it, if a probe may be scheduled at all).
  pto_restart_ = true;

  if (in_recovery_ && rack_active()) {
    // RFC 6675 section 5 (A): "An incoming cumulative ACK for a sequence number greater than
    // RecoveryPoint signals the end of loss recovery"; recover_ is RecoveryPoint + 1. Until
    // then rack_recovery_output() resends what RACK marks and keeps the pipe full.
    if (snd_.una >= recover_) {
      in_recovery_ = false;
      cc_->on_recovery_exit(now);
      rack_.on_recovery_exit();
    }
  } else if (in_recovery_ && sack_ok_) {
    // RFC 6675 section 5: recovery ends once SND.UNA passes RecoveryPoint (the scoreboard
    // saw it in on_ack); until then sack_recovery_output() keeps the pipe full.
    if (!scoreboard_.in_recovery()) {
      in_recovery_ = false;
      cc_->on_recovery_exit(now);
    }
  } else if (in_recovery_) {
    if (snd_.una >= recover_) {
      // RFC 6582 3.2 step 3, full acknowledgment: leave fast recovery with
      // cwnd = ssthresh (the congestion controller's choice).
      in_recovery_ = false;
      cc_->on_recovery_exit(now);
    } else {
      // Step 4, partial acknowledgment: retransmit the first unacknowledged segment,
      // deflate the window by the amount acknowledged and add back one SMSS.
      recovery_cwnd_ = (recovery_cwnd_ > data_acked ? recovery_cwnd_ - data_acked : 0);
      if (data_acked >= smss_) recovery_cwnd_ += smss_;
      retransmit_first(now);
    }
  } else if (cc_ && !(ecn_ok_ && seg.tcp.flags.has(TcpFlag::ece))) {
    // RFC 3168 6.1.2: no window growth in response to an ACK carrying ECE.
    cc_->on_ack(now, data_acked, rto_.srtt(), flight_size());
  }
  if (rto_recovery_ && snd_.una >= recover_) {
    // Everything outstanding at the timeout is acknowledged (RFC 6675 5.1's barrier).
    rto_recovery_ = false;
    rack_.on_recovery_exit();
  }
  // RFC 6298 5.2/5.3: stop the timer when everything is acknowledged, else restart it.
  if (snd_.una >= snd_.max) {
    rtx_deadline_.reset();
  } else {
    restart_retransmit_timer(now);
  }
  release_buffers_if_idle();
}

void Connection::on_duplicate_ack(Instant now) {
  counters_.count(Event::tcp_dup_acks_received);
  ++dupacks_;
  if (in_recovery_) {
    // RFC 6582 3.2 step 2 (RFC 5681 3.2 step 4): each further duplicate ACK means a segment
    // left the network: inflate the window by one SMSS.
    recovery_cwnd_ += smss_;
    return;
  }
  // RFC 5681 3.2 step 2 with RFC 6582 3.2 step 1: on the third duplicate ACK, enter fast
  // recovery — unless this ACK does not cover more than `recover` (the losses of a window
  // we already recovered from must not halve the window twice).
  if (sack_ok_) return;  // SACK: maybe_enter_sack_recovery() decides (RFC 6675)
  if (dupacks_ != 3 || !cc_) return;
  if (!(snd_.una - 1 >= recover_)) return;
  recover_ = snd_.max;
  cc_->on_congestion_event(now, flight_size_for_ssthresh());
  recovery_cwnd_ = cc_->ssthresh() + 3 * smss_;
  in_recovery_ = true;
  counters_.count(Event::tcp_fast_recoveries);
  retransmit_first(now);
}

void Connection::maybe_enter_sack_recovery(Instant now) {
  if (!sack_ok_ || in_recovery_ || !cc_ || snd_.max == snd_.una) return;
  // RFC 6675 section 5: enter loss recovery on DupThresh duplicate ACKs, or as soon as the
  // scoreboard deems the first unacknowledged segment lost (IsLost(HighACK + 1)).
  if (dupacks_ < SackScoreboard::kDupThresh && !scoreboard_.is_lost(snd_.una, smss_)) return;
  if (!scoreboard_.may_enter_recovery(snd_.una)) return;
  recover_ = snd_.max;
  // (4.2): ssthresh = cwnd = the congestion controller's reduced window (limited transmit
  // left out of FlightSize, RFC 5681 3.2).
  cc_->on_congestion_event(now, flight_size_for_ssthresh());
  in_recovery_ = true;
  counters_.count(Event::tcp_fast_recoveries);
  // (4.3): retransmit the first segment NextSeg() picks, then (C) fills the pipe.
  send_next_segment(scoreboard_.enter_recovery(snd_.una, snd_.max, smss_), now);
  sack_recovery_output(now);
}

std::optional<Duration> Connection::rack_on_ack(const Segment& seg, std::optional<SackBlock> dsack,
                                                bool duplicate, TlpOutcome& tlp, Instant now) {
  Rack::Ack a;
  a.snd_una = seg.ack();
  a.snd_nxt = snd_.max;
  a.sacked = scoreboard_.sacked_ranges();
  a.dsack = dsack.has_value();
  if (ts_ok_ && seg.tcp.options.timestamps) a.tsecr = seg.tcp.options.timestamps->tsecr;
  a.ts_offset = ts_offset_;
  const RackAckResult r = rack_.on_ack(a, now);
  if (r.reo_wnd_widened) counters_.count(Event::tcp_rack_reo_wnd_widened);
  const bool pure_dupack = duplicate && seg.tcp.options.sack().empty();
  tlp = rack_.tlp_on_ack(seg.ack(), dsack, pure_dupack);
  switch (tlp) {
    case TlpOutcome::repaired:
      counters_.count(Event::tcp_tlp_recoveries);  // the reduction follows in process_ack()
      break;
    case TlpOutcome::spurious:
      counters_.count(Event::tcp_tlp_spurious);
      break;
    case TlpOutcome::delivered:
    case TlpOutcome::none:
      break;
  }
  return r.rtt_sample;
}

void Connection::rack_detect_and_recover(Instant now) {
  if (!cc_ || !can_send_data() || snd_.max == snd_.una) {
    reo_deadline_.reset();
    return;
  }
  const bool recovering = in_recovery_ || rto_recovery_;
  const RackLossResult r = rack_.detect_loss(now, recovering, rto_.srtt());
  if (r.lost > 0) counters_.count(Event::tcp_rack_losses, r.lost);
  if (r.lost_retransmits > 0) counters_.count(Event::tcp_rack_lost_retransmits, r.lost_retransmits);
  // RACK_detect_loss_and_arm_timer(): "If timeout != 0: Arm the RACK timer to call
  // RACK_detect_loss_and_arm_timer() after timeout".
  if (r.timeout > Duration::zero()) {
    reo_deadline_ = now + r.timeout;
  } else {
    reo_deadline_.reset();
  }
  // A lost segment found in recovery (a later hole, or a lost retransmission) is just resent:
  // one reduction per window of data (RFC 5681 3.2, RFC 6675 section 5). Otherwise this is
  // the start of fast recovery, RFC 6675 section 5 step (4) with RACK deciding "lost".
  if (recovering || rack_.lost_segments() == 0) return;
  // (4.1) "RecoveryPoint = HighData".
  recover_ = snd_.max;
  // (4.2): ssthresh = cwnd = the congestion controller's reduced window.
  cc_->on_congestion_event(now, flight_size_for_ssthresh());
  in_recovery_ = true;
  counters_.count(Event::tcp_fast_recoveries);
  // RFC 8985 7.1: the TLP state is reset on entering fast recovery.
  rack_.tlp_reset();
  pto_deadline_.reset();
  // (4.3) "Retransmit the first data segment presumed dropped", whatever the pipe says; then
  // (C): output() resends the other marked segments and new data as the pipe allows.
  if (const auto first = rack_.first_lost(send_mss())) {
    if (retransmit_range(first->left, first->right, now))
      counters_.count(Event::tcp_retransmits_fast);
  }
}

void Connection::take_rtt_sample(const Segment& seg, Instant now, std::optional<Duration> log_rtt) {
  if (log_rtt) {
    // The transmission log timed the oldest segment this ACK newly covered, none of them
    // retransmitted (Karn), at the clock's precision: RFC 7323's timestamps count whole
    // milliseconds, which on a sub-millisecond path rounds every sample to 0 or 1 ms, and
    // the PTO (2*SRTT) and RACK's reordering window are derived from SRTT.
    record_rtt(*log_rtt);
    rtt_probe_.reset();
    return;
  }
  const auto& ts = seg.tcp.options.timestamps;
  if (ts_ok_ && ts && ts->tsecr != 0) {
    // RFC 7323 4.1: RTT from the echoed timestamp, which stays valid for retransmissions.
    const auto ms = static_cast<int32_t>(ts_now(now) - ts->tsecr);
    if (ms >= 0) record_rtt(std::chrono::milliseconds(ms));
    rtt_probe_.reset();
    return;
  }
  // Karn's algorithm: the probe is cleared whenever anything is retransmitted, so a sample
  // is only taken for a segment sent once.
  if (rtt_probe_ && seg.ack() > rtt_probe_->first) {
    record_rtt(now - rtt_probe_->second);
    rtt_probe_.reset();
  }
}

void Connection::ecn_on_ack(const Segment& seg, Instant now) {
  if (!ecn_ok_) return;
  const auto& f = seg.tcp.flags;
  // RFC 3168 6.1.2: react to ECE at most once per window of data, like a loss.
  if (f.has(TcpFlag::ece) && cc_ && !in_recovery_ && !rto_recovery_ && seg.ack() > ecn_recover_) {
    cc_->on_congestion_event(now, flight_size());
    cc_->on_recovery_exit(now);
    cwr_pending_ = true;
    ecn_recover_ = snd_.max;
  }
}

void Connection::process_data(const Segment& seg, Instant now) {
  if (state_ != TcpState::established && state_ != TcpState::fin_wait_1 &&
      state_ != TcpState::fin_wait_2)
    return;
  // RFC 3168 6.1.3: a CWR ends our ECE echo; a CE mark (re)starts it.
  if (ecn_ok_) {
    if (seg.tcp.flags.has(TcpFlag::cwr)) ece_pending_ = false;
    if (seg.ip_ecn == 3) {
      ece_pending_ = true;
      counters_.count(Event::tcp_ecn_ce_received);
    }
  }
  wire::Bytes payload = seg.tcp.payload;
  if (payload.empty()) return;
  if (orphaned_) {
    // Nobody will ever read this: tell the peer with RST (as Linux does after close()).
    counters_.drop(DropReason::tcp_data_after_close);
    abort(now);
    return;
  }
  SeqNum seq = seg.seq() + (seg.tcp.flags.has(TcpFlag::syn) ? 1 : 0);
  // Trim what we already have on the left...
  if (seq < rcv_.nxt) {
    const uint32_t dup = static_cast<uint32_t>(rcv_.nxt - seq);
    if (dup >= payload.size()) {
      schedule_ack(true, now);  // a pure duplicate: the peer missed our ACK
      return;
    }
    payload = payload.subspan(dup);
    seq = rcv_.nxt;
  }
  // ...and what lies beyond the window we advertised on the right.
  if (seq >= rcv_.adv) {
    schedule_ack(true, now);
    return;
  }
  const uint32_t room = static_cast<uint32_t>(rcv_.adv - seq);
  if (payload.size() > room) payload = payload.first(room);

  const bool full_sized = payload.size() >= std::min<uint32_t>(smss_, our_mss_);
  if (seq == rcv_.nxt) {
    const bool filled_hole = !out_of_order_.empty();
    if (!read_shut_) receive_buffer_.append(payload);
    rcv_.nxt += static_cast<uint32_t>(payload.size());
    if (filled_hole) {
      std::vector<std::byte> more;
      const size_t n = out_of_order_.take_contiguous(rcv_.nxt, more);
      if (!read_shut_) receive_buffer_.append(more);
      rcv_.nxt += static_cast<uint32_t>(n);
    }
    if (full_sized) ++segments_unacked_;
    // RFC 5681 4.2: ACK at least every second full-sized segment; RFC 5681 3.2: ACK at once
    // when a segment fills (part of) a hole. Otherwise the delayed-ACK timer.
    schedule_ack(filled_hole || segments_unacked_ >= 2 || ece_pending_, now);
    return;
  }
  // Out of order: hold it, and send an immediate duplicate ACK with SACK blocks (RFC 5681
  // 4.2 "an immediate ACK SHOULD be generated when an out-of-order segment arrives").
  const auto stored =
      out_of_order_.insert(rcv_.nxt, static_cast<uint32_t>(rcv_.adv - rcv_.nxt), seq, payload);
  if (stored == ReceiveQueue::InsertResult::memory_limit ||
      stored == ReceiveQueue::InsertResult::too_many_pieces)
    counters_.drop(DropReason::tcp_ooo_memory_limit);
  schedule_ack(true, now);
}

void Connection::process_fin(const Segment& seg, Instant now) {
  if (!seg.tcp.flags.has(TcpFlag::fin)) return;
  if (state_ == TcpState::closed || state_ == TcpState::syn_sent) return;
  const SeqNum fin_seq = seg.seq() + (seg.tcp.flags.has(TcpFlag::syn) ? 1 : 0) +
                         static_cast<uint32_t>(seg.tcp.payload.size());
  if (fin_received_) {
    // A retransmitted FIN: our ACK was lost.
    if (fin_seq + 1 == rcv_.nxt) send_ack(now);
    return;
  }
  // Only a FIN in sequence counts; one beyond a hole waits for the peer's retransmission.
  if (fin_seq != rcv_.nxt) return;
  // "advance RCV.NXT over the FIN, and send an acknowledgment for the FIN".
  rcv_.nxt += 1;
  fin_received_ = true;
  send_ack(now);
  switch (state_) {
    case TcpState::syn_received:
    case TcpState::established:
      set_state(TcpState::close_wait);
      break;
    case TcpState::fin_wait_1:
      // "If our FIN has been ACKed ... enter TIME-WAIT ... otherwise, enter the CLOSING
      // state."
      if (fin_acked()) {
        enter_time_wait(now);
      } else {
        set_state(TcpState::closing);
      }
      break;
    case TcpState::fin_wait_2:
      enter_time_wait(now);
      break;
    default:
      break;
  }
}

void Connection::challenge_ack(Instant now) {
  // RFC 5961 section 7: rate-limit challenge ACKs so they cannot be used to flood, nor their
  // count used as a side channel (CVE-2016-5696 came from a global limit; ours is per
  // connection).
  if (!challenge_limiter_.try_take(now)) {
    counters_.count(Event::tcp_challenge_acks_limited);
    return;
  }
  counters_.count(Event::tcp_challenge_acks_sent);
  send_ack(now);
}

void Connection::on_icmp_error(uint8_t type, uint8_t code, uint16_t next_hop_mtu, SeqNum quoted_seq,
                               Instant now) {
  using wire::IcmpType;
  using wire::IcmpUnreachableCode;
  // RFC 5927 4.1: act only on errors quoting data we have in flight, so a blind attacker
  // must guess a sequence number in [SND.UNA, SND.NXT) as for a RST.
  if (!(snd_.una <= quoted_seq && quoted_seq < snd_.max)) return;
  if (type == static_cast<uint8_t>(IcmpType::destination_unreachable) &&
      code == static_cast<uint8_t>(IcmpUnreachableCode::fragmentation_needed)) {
    // RFC 1191: lower the MSS to fit the next hop, never below our floor (an attacker could
    // otherwise force tiny segments), then resend what did not fit.
    const uint32_t mss =
        next_hop_mtu > 40 ? uint32_t{next_hop_mtu} - 40u - (ts_ok_ ? 12u : 0u) : 0u;
    const uint32_t clamped = std::max<uint32_t>(mss, config_.min_mss);
    if (clamped < smss_) {
      smss_ = clamped;
      if (cc_) cc_->set_mss(smss_);
      counters_.count(Event::tcp_pmtu_updates);
      // RFC 1191 6.5: resend what was in flight at the new size; this is not a congestion
      // signal, so cwnd is left alone (no RTO, no recovery).
      if (snd_.max > snd_.una) {
        // "only one segment should be retransmitted until acknowledgements begin to arrive
        // again": go back to SND.UNA, send one segment; ACKs then pull the rest out.
        snd_.nxt = snd_.una;
        rtt_probe_.reset();
        one_segment_ = true;
        output(now);
        one_segment_ = false;
      }
    }
    return;
  }
  // RFC 1122 4.2.3.9: other unreachables are soft errors: report them only if the
  // connection then fails (kept for SO_ERROR while connecting).
  if (state_ == TcpState::syn_sent) error_ = EHOSTUNREACH;
}

}  // namespace flowgate::tcp
