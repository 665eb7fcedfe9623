// What to send and building the segments: windows, Nagle, silly-window avoidance, options.
#include <algorithm>

#include "tcp/connection.hpp"

namespace flowgate::tcp {

using wire::TcpFlag;
using wire::TcpFlags;

uint32_t Connection::send_mss() const {
  // RFC 6691 section 2: the MSS option leaves options out, "conversely, the sender MUST
  // reduce the TCP data length to account for any IP or TCP options that it is including in
  // the packets that it sends". SMSS already allows for the timestamps; SACK blocks, which
  // every segment carries while we hold out-of-order data (send_segment), cost their
  // option's length, or a full segment would exceed the MTU and, with DF set, never leave.
  if (!sack_ok_ || out_of_order_.empty()) return smss_;
  const uint32_t blocks = static_cast<uint32_t>(
      std::min<size_t>(out_of_order_.piece_count(), ts_ok_ ? 3 : 4));  // as send_segment
  const uint32_t option = 4 + 8 * blocks;  // NOP, NOP, kind, length, 8 bytes a block
  return smss_ > option ? smss_ - option : smss_;
}

uint32_t Connection::effective_cwnd() const {
  if (!cc_) return smss_;
  // NewReno's inflated window during its fast recovery; RFC 6675 recovery uses cwnd.
  return in_recovery_ && !sack_ok_ ? recovery_cwnd_ : cc_->cwnd();
}

void Connection::send_syn(Instant now) {
  const bool syn_ack = state_ == TcpState::syn_received;
  wire::TcpRepr r;
  r.seq = snd_.iss.raw();
  r.flags = TcpFlag::syn;
  if (syn_ack) {
    r.flags |= TcpFlag::ack;
    r.ack = rcv_.nxt.raw();
  }
  // RFC 7323 2.2: the window of a SYN is never scaled.
  const uint32_t window =
      static_cast<uint32_t>(std::min<size_t>(receive_buffer_.capacity(), 65535));
  r.window = static_cast<uint16_t>(window);
  if (syn_ack) rcv_.adv = rcv_.nxt + window;
  r.options.mss = our_mss_;
  // A SYN-ACK carries an option only if the SYN did (RFC 7323 2.2/3.2, RFC 2018 2).
  if (syn_ack ? wscale_ok_ : config_.window_scaling) r.options.window_scale = rcv_wscale_;
  r.options.sack_permitted = syn_ack ? sack_ok_ : config_.sack;
  if (syn_ack ? ts_ok_ : config_.timestamps)
    r.options.timestamps = wire::TcpTimestamps{ts_now(now), syn_ack ? ts_recent_ : 0};
  // RFC 3168 6.1.1: an ECN-setup SYN has ECE and CWR; the SYN-ACK agreeing has ECE only.
  if (!syn_ack && config_.ecn) r.flags |= TcpFlag::ece | TcpFlag::cwr;
  if (syn_ack && ecn_ok_) r.flags |= TcpFlag::ece;
  snd_.nxt = snd_.iss + 1;
  snd_.max = seq_max(snd_.max, snd_.nxt);
  if (rtx_timeouts_ == 0) {
    rtt_probe_ = std::pair{snd_.iss, now};
  } else {
    rtt_probe_.reset();  // Karn: no sample from a retransmitted SYN
  }
  rtx_deadline_ = now + rto_.rto();
  host_.transmit(*this, r, false);
}

uint16_t Connection::advertise_window() {
  const uint8_t shift = wscale_ok_ ? rcv_wscale_ : 0;
  const uint32_t capacity = static_cast<uint32_t>(receive_buffer_.capacity());
  uint32_t space = static_cast<uint32_t>(receive_buffer_.free_space());
  const uint32_t held = static_cast<uint32_t>(out_of_order_.held_bytes());
  space = space > held ? space - held : 0;
  space = std::min<uint32_t>(space, uint32_t{65535} << shift);
  const uint32_t previous = rcv_.adv > rcv_.nxt ? static_cast<uint32_t>(rcv_.adv - rcv_.nxt) : 0;
  // RFC 9293 3.8.6.2.2 (receiver silly-window avoidance): move the right edge only in steps
  // of at least min(buffer / 2, MSS)...
  if (space > previous && space - previous < std::min<uint32_t>(capacity / 2, our_mss_))
    space = previous;
  // ...and never shrink the window we offered (RFC 9293 3.8.6: "SHOULD NOT shrink").
  space = std::max(space, previous);
  uint32_t units = space >> shift;
  if ((units << shift) < previous) ++units;  // rounding must not shrink it either
  units = std::min<uint32_t>(units, 65535);
  rcv_.adv = rcv_.nxt + (units << shift);
  return static_cast<uint16_t>(units);
}

void Connection::send_segment(SeqNum seq, TcpFlags flags, size_t buffer_offset, size_t len,
                              Instant now) {
  wire::TcpRepr r;
  r.seq = seq.raw();
  r.ack = rcv_.nxt.raw();
  r.flags = flags | TcpFlag::ack;
  r.window = advertise_window();
  if (ts_ok_) r.options.timestamps = wire::TcpTimestamps{ts_now(now), ts_recent_};
  if (sack_ok_ && !out_of_order_.empty()) {
    // RFC 2018 4: with timestamps 3 blocks fit in the 40 option bytes, otherwise 4.
    for (const auto& b : out_of_order_.sack_blocks(ts_ok_ ? 3 : 4))
      r.options.add_sack_block({b.left.raw(), b.right.raw()});
  }
  bool ect = false;
  if (ecn_ok_) {
    if (ece_pending_) r.flags |= TcpFlag::ece;
    const bool new_data = len > 0 && seq >= snd_.max;
    // RFC 3168 6.1.2: CWR goes on the first new data segment, never on a retransmission.
    if (new_data && cwr_pending_) {
      r.flags |= TcpFlag::cwr;
      cwr_pending_ = false;
    }
    // RFC 3168 6.1.5: retransmissions and pure ACKs are not ECN-capable.
    ect = new_data;
  }
  if (len > 0) r.payload = send_buffer_.view(buffer_offset, len);
  // RFC 8985 section 4: every data transmission's time goes into the log RACK reads.
  if (rack_active() && (len > 0 || flags.has(TcpFlag::fin))) {
    rack_.on_transmit(seq, seq + static_cast<uint32_t>(len) + (flags.has(TcpFlag::fin) ? 1u : 0u),
                      now);
  }
  // Every segment carries an ACK: the delayed one is no longer owed.
  delack_deadline_.reset();
  segments_unacked_ = 0;
  ack_now_ = false;
  host_.transmit(*this, r, ect);
}

void Connection::send_ack(Instant now) {
  send_segment(snd_.nxt, TcpFlags(), 0, 0, now);
}

void Connection::send_probe(Instant now) {
  // RFC 9293 3.8.6.1 zero-window probes and RFC 1122 4.2.3.6 keepalives: a segment with an
  // old sequence number that the peer must answer with an ACK carrying its window.
  send_segment(snd_.una - 1, TcpFlags(), 0, 0, now);
}

void Connection::send_rst(SeqNum seq) {
  wire::TcpRepr r;
  r.seq = seq.raw();
  r.flags = TcpFlag::rst;
  counters_.count(Event::tcp_resets_sent);
  host_.transmit(*this, r, false);
}

void Connection::schedule_ack(bool immediately, Instant now) {
  if (immediately) {
    ack_now_ = true;
    return;
  }
  if (!delack_deadline_) delack_deadline_ = now + config_.delayed_ack;
}

void Connection::maybe_window_update(Instant now) {
  if (state_ != TcpState::established && state_ != TcpState::fin_wait_1 &&
      state_ != TcpState::fin_wait_2)
    return;
  const uint32_t previous = rcv_.adv > rcv_.nxt ? static_cast<uint32_t>(rcv_.adv - rcv_.nxt) : 0;
  const uint8_t shift = wscale_ok_ ? rcv_wscale_ : 0;
  const uint32_t capacity = static_cast<uint32_t>(receive_buffer_.capacity());
  uint32_t space = static_cast<uint32_t>(receive_buffer_.free_space());
  const uint32_t held = static_cast<uint32_t>(out_of_order_.held_bytes());
  space = space > held ? space - held : 0;
  // The window we could advertise (advertise_window()'s cap) — not the raw free space, or
  // an unscaled connection would send a duplicate ACK after every read.
  space = std::min<uint32_t>(space, uint32_t{65535} << shift);
  if (space <= previous) return;
  // Tell the peer when reading opened the window by a useful amount: from below one MSS to
  // at least one, or by half the buffer (RFC 9293 3.8.6.2.2).
  if ((previous < our_mss_ && space >= our_mss_) || space - previous >= capacity / 2) send_ack(now);
}

void Connection::retransmit_first(Instant now) {
  const uint32_t outstanding = static_cast<uint32_t>(snd_.max - snd_.una);
  const uint32_t buffered = static_cast<uint32_t>(send_buffer_.size());
  const uint32_t len = std::min({send_mss(), outstanding, buffered});
  TcpFlags flags;
  if (len > 0) flags |= TcpFlag::psh;
  if (fin_sent_ && snd_.una + len == fin_seq_) flags |= TcpFlag::fin;
  if (len == 0 && !flags.has(TcpFlag::fin)) return;
  rtt_probe_.reset();  // Karn's algorithm
  ++retransmits_;
  counters_.count(Event::tcp_retransmits_fast);
  send_segment(snd_.una, flags, 0, len, now);
  restart_retransmit_timer(now);
}

bool Connection::can_send_data() const {
  return state_ == TcpState::established || state_ == TcpState::close_wait ||
         state_ == TcpState::fin_wait_1 || state_ == TcpState::closing ||
         state_ == TcpState::last_ack;
}

void Connection::output(Instant now) {
  if (can_send_data() && cc_) {
    if ((in_recovery_ || rto_recovery_) && rack_active()) {
      rack_recovery_output(now);
    } else if (in_recovery_ && sack_ok_) {
      sack_recovery_output(now);
    } else {
      send_within_windows(now);
    }
  }
  if (rack_active()) {
    // RFC 8985 7.2: "The sender SHOULD start or restart a loss probe PTO timer after
    // transmitting new data (that was not itself a loss probe) or upon receiving an ACK that
    // cumulatively acknowledges new data"; a PTO whose conditions no longer hold goes.
    if (pto_restart_) {
      pto_restart_ = false;
      arm_pto(now);
    } else if (pto_deadline_ && !tlp_may_arm()) {
      pto_deadline_.reset();
    }
  }
  if (ack_now_) send_ack(now);
}

void Connection::send_within_windows(Instant now) {
  // RFC 5681 4.1: after an idle period longer than the RTO, restart from the restart window.
  if (snd_.max == snd_.una && last_data_sent_ && send_buffer_.size() > 0)
    cc_->on_idle_restart(now, now - *last_data_sent_, rto_.rto());
  // RFC 3042: "a TCP sender SHOULD send a previously unsent data segment upon the receipt of
  // each of the first two duplicate ACKs" if "the receiver's advertised window allows the
  // transmission of the segment", "the amount of outstanding data would remain less than or
  // equal to the congestion window plus 2*SMSS", and new data is available; "the congestion
  // window (cwnd) MUST NOT be changed".
  const uint32_t limited_transmit = !in_recovery_ && !rto_recovery_ && snd_.nxt == snd_.max
                                        ? std::min<uint32_t>(dupacks_, 2) * smss_
                                        : 0;
  const uint32_t mss = send_mss();
  for (int guard = 0; guard < 4096; ++guard) {
    const uint32_t sent = static_cast<uint32_t>(snd_.nxt - snd_.una);
    const uint32_t buffered = static_cast<uint32_t>(send_buffer_.size());
    if (sent > buffered) break;  // only the FIN is beyond the data, and it is out
    const uint32_t unsent = buffered - sent;
    const uint32_t in_flight = flight_size();
    const uint32_t cwnd = effective_cwnd();
    const uint32_t rwnd_room = snd_.wnd > in_flight ? snd_.wnd - in_flight : 0;
    const uint32_t cwnd_room = cwnd > in_flight ? cwnd - in_flight : 0;
    const uint64_t lt_window = uint64_t{cwnd} + limited_transmit;
    const uint32_t lt_room =
        lt_window > in_flight ? static_cast<uint32_t>(lt_window - in_flight) : 0;
    const uint32_t usable = std::min(rwnd_room, lt_room);
    const uint32_t len = std::min({unsent, mss, usable});
    const bool fin_here = fin_queued_ && snd_.nxt + len == data_end();
    if (len == 0 && !fin_here) break;
    if (len < unsent && len < mss) {
      // RFC 9293 3.8.6.2.1 (sender silly-window avoidance): with more data waiting, send a
      // less-than-full segment only if it is at least half the largest window offered.
      if (len < snd_.max_wnd / 2 && !force_send_) break;
    } else if (len == unsent && len < mss && len > 0 && !fin_here) {
      // Nagle (RFC 896, RFC 9293 3.7.4): a small final piece waits while earlier data is
      // unacknowledged, unless TCP_NODELAY.
      if (!options_.nodelay && in_flight > 0) break;
    }
    if (len > cwnd_room) {
      counters_.count(Event::tcp_limited_transmits);
      limited_transmit_bytes_ += len;
    }
    send_from_nxt(len, fin_here, now);
    if (fin_here || one_segment_) break;
  }
  // Data waits — for a window the peer closed, or held back by silly-window avoidance — and
  // nothing is in flight to bring an ACK: the persist timer probes (RFC 9293 3.8.6.1) or, for
  // a small open window, forces the segment out (the override timeout of RFC 9293
  // 3.8.6.2.1 / RFC 1122 4.2.3.4), so neither can stall us for good.
  const uint32_t sent = static_cast<uint32_t>(snd_.nxt - snd_.una);
  if (send_buffer_.size() > sent && snd_.max == snd_.una && !persist_deadline_)
    persist_deadline_ = now + rto_.rto();
}

void Connection::send_from_nxt(uint32_t len, bool fin_here, Instant now) {
  const uint32_t sent = static_cast<uint32_t>(snd_.nxt - snd_.una);
  const uint32_t unsent = static_cast<uint32_t>(send_buffer_.size()) - sent;
  TcpFlags flags;
  if (len > 0 && len == unsent) flags |= TcpFlag::psh;
  if (fin_here) flags |= TcpFlag::fin;
  const bool retransmission = snd_.nxt < snd_.max;
  if (retransmission) {
    ++retransmits_;
    counters_.count(Event::tcp_retransmits_timeout);
    rtt_probe_.reset();
  } else {
    if (!rtt_probe_ && len > 0 && !ts_ok_) rtt_probe_ = std::pair{snd_.nxt, now};
    pto_restart_ = true;
  }
  send_segment(snd_.nxt, flags, sent, len, now);
  if (len > 0) last_data_sent_ = now;
  snd_.nxt += len + (fin_here ? 1u : 0u);
  if (fin_here) {
    fin_sent_ = true;
    fin_seq_ = snd_.nxt - 1;
  }
  snd_.max = seq_max(snd_.max, snd_.nxt);
  if (!rtx_deadline_) restart_retransmit_timer(now);
}

bool Connection::retransmit_range(SeqNum seq, SeqNum end, Instant now) {
  if (seq < snd_.una) seq = snd_.una;
  if (end <= seq) return false;
  const SeqNum data_stop = data_end();
  const uint32_t len =
      seq < data_stop ? std::min(static_cast<uint32_t>(seq_min(end, data_stop) - seq), send_mss())
                      : 0u;
  TcpFlags flags;
  // The FIN goes again only with the range that reaches it.
  const bool fin = fin_sent_ && seq + len == fin_seq_ && end > fin_seq_;
  if (fin) flags |= TcpFlag::fin;
  if (len == 0 && !fin) return false;
  if (len > 0 && seq + len == data_stop) flags |= TcpFlag::psh;
  ++retransmits_;
  rtt_probe_.reset();  // Karn
  send_segment(seq, flags, static_cast<uint32_t>(seq - snd_.una), len, now);
  // RFC 6298 5.1: "Every time a packet containing data is sent (including a
  // retransmission), if the timer is not running, start it running".
  if (!rtx_deadline_) restart_retransmit_timer(now);
  return true;
}

}  // namespace flowgate::tcp

namespace flowgate::tcp {

void Connection::sack_recovery_output(Instant now) {
  for (int guard = 0; guard < 4096; ++guard) {
    // RFC 6675 (C): "If cwnd - pipe >= 1 SMSS, the sender SHOULD transmit one or more
    // segments" chosen by NextSeg().
    const uint32_t pipe = scoreboard_.pipe(snd_.una, snd_.max, smss_);
    if (pipe + smss_ > cc_->cwnd()) return;
    const uint32_t buffered = static_cast<uint32_t>(send_buffer_.size());
    const uint32_t sent = static_cast<uint32_t>(snd_.max - snd_.una);
    const uint32_t unsent = buffered > sent ? buffered - sent : 0;
    const SeqNum right_edge = snd_.una + snd_.wnd;
    const uint32_t room = right_edge > snd_.max ? static_cast<uint32_t>(right_edge - snd_.max) : 0;
    const NextSegment next =
        scoreboard_.next_segment(snd_.una, snd_.max, smss_, std::min(unsent, room));
    if (next.kind == NextSegment::Kind::none) return;
    send_next_segment(next, now);
  }
}

void Connection::send_next_segment(const NextSegment& next, Instant now) {
  if (next.kind == NextSegment::Kind::none) return;
  const uint32_t offset = static_cast<uint32_t>(next.seq - snd_.una);
  const uint32_t buffered = static_cast<uint32_t>(send_buffer_.size());
  const uint32_t len = offset < buffered ? std::min({next.len, buffered - offset, send_mss()}) : 0;
  TcpFlags flags;
  const bool fin =
      fin_sent_ && next.seq + len == fin_seq_ && next.kind != NextSegment::Kind::new_data;
  if (fin) flags |= TcpFlag::fin;
  if (len == 0 && !fin) return;
  if (next.kind == NextSegment::Kind::new_data) {
    if (len > 0 && offset + len == buffered) flags |= TcpFlag::psh;
    send_segment(next.seq, flags, offset, len, now);
    last_data_sent_ = now;
    snd_.nxt = seq_max(snd_.nxt, next.seq + len);
    snd_.max = seq_max(snd_.max, snd_.nxt);
  } else {
    ++retransmits_;
    counters_.count(Event::tcp_retransmits_fast);
    rtt_probe_.reset();  // Karn
    send_segment(next.seq, flags, offset, len, now);
  }
  NextSegment sent = next;
  sent.len = len;
  scoreboard_.on_sent(sent);
  if (!rtx_deadline_) restart_retransmit_timer(now);
}

}  // namespace flowgate::tcp

namespace flowgate::tcp {

void Connection::rack_recovery_output(Instant now) {
  const Event counter =
      rto_recovery_ ? Event::tcp_retransmits_timeout : Event::tcp_retransmits_fast;
  for (int guard = 0; guard < 4096; ++guard) {
    // RFC 6675 (C): "If cwnd - pipe >= 1 SMSS, the sender SHOULD transmit one or more
    // segments", pipe counting what is neither SACKed nor deemed lost by RACK.
    if (uint64_t{rack_.pipe()} + smss_ > cc_->cwnd()) return;
    // NextSeg() rule (1), RACK's marks standing for IsLost(): the lowest lost segment.
    const uint32_t mss = send_mss();
    if (const auto lost = rack_.first_lost(mss)) {
      if (!retransmit_range(lost->left, lost->right, now)) return;
      counters_.count(counter);
      continue;
    }
    // Rule (2): "previously unsent data ... [if] the receiver's advertised window allows".
    // Rules (3) and (4) (retransmitting what is not deemed lost, and the rescue
    // retransmission) are left to RACK's timer and the tail loss probe, as RFC 8985 intends.
    if (snd_.nxt != snd_.max) return;  // a PMTU resend is under way (on_icmp_error)
    const uint32_t sent = static_cast<uint32_t>(snd_.nxt - snd_.una);
    const uint32_t buffered = static_cast<uint32_t>(send_buffer_.size());
    if (sent > buffered) return;  // the FIN is out
    const SeqNum right_edge = snd_.una + snd_.wnd;
    const uint32_t room = right_edge > snd_.nxt ? static_cast<uint32_t>(right_edge - snd_.nxt) : 0u;
    const uint32_t len = std::min({buffered - sent, mss, room});
    const bool fin_here = fin_queued_ && snd_.nxt + len == data_end();
    if (len == 0 && !fin_here) return;
    send_from_nxt(len, fin_here, now);
    if (fin_here) return;
  }
}

bool Connection::tlp_may_arm() const {
  // RFC 8985 7.2: a probe is scheduled for a connection in the open state only: not in fast
  // recovery or RTO recovery, and with no segment SACKed (then RACK's reordering timer is
  // watching the flight). Nothing to probe for without data in flight, nor into a closed
  // window (the persist and zero-window logic own that), nor while a PMTU resend rewound
  // SND.NXT.
  return rack_active() && cc_ && can_send_data() && snd_.max > snd_.una && snd_.nxt == snd_.max &&
         !in_recovery_ && !rto_recovery_ && rack_.segs_sacked() == 0 && snd_.wnd > 0 &&
         !zero_window_rtx_;
}

void Connection::arm_pto(Instant now) {
  if (!tlp_may_arm()) {
    pto_deadline_.reset();
    return;
  }
  // RFC 8985 7.2, TLP_calc_PTO(): "If SRTT is available: PTO = 2 * SRTT; If FlightSize is
  // one segment: PTO += TLP.max_ack_delay; Else: PTO = 1 sec" and "If Now() + PTO >
  // TCP_RTO_expiration(): PTO = TCP_RTO_expiration() - Now()". Our floor (tlp_min_pto, see
  // TcpConfig) applies before the RTO cap.
  Duration pto = std::chrono::seconds(1);
  if (const auto srtt = rto_.srtt()) {
    pto = 2 * *srtt;
    if (flight_size() <= smss_) pto += config_.tlp_max_ack_delay;
    pto = std::max(pto, config_.tlp_min_pto);
  }
  Instant at = now + pto;
  if (rtx_deadline_ && at > *rtx_deadline_) at = *rtx_deadline_;
  pto_deadline_ = at;
}

}  // namespace flowgate::tcp
