#include "tcp/rack.hpp"

#include <algorithm>
#include <iterator>

namespace flowgate::tcp {

namespace {

// RFC 8985 6.2, RACK_sent_after(t1, seq1, t2, seq2): "If t1 > t2: Return true; Else if t1 ==
// t2 AND seq1 > seq2: Return true". The sequence number breaks ties between segments sent
// within one clock tick (or one event: a burst shares its `now`).
bool sent_after(Instant t1, SeqNum seq1, Instant t2, SeqNum seq2) {
  return t1 > t2 || (t1 == t2 && seq1 > seq2);
}

// Bounds reo_wnd_mult; far above anything that matters, since the window is capped by SRTT.
constexpr uint32_t kMaxReoWndMult = 1024;

}  // namespace

uint32_t tcp_timestamp(Instant t, uint32_t offset) {
  // RFC 7323 5.4: a 1 ms clock.
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  return static_cast<uint32_t>(ms.count()) + offset;
}

size_t Rack::find(SeqNum s) const {
  // The last record starting at or before s.
  const auto it = std::upper_bound(log_.begin(), log_.end(), s,
                                   [](SeqNum v, const SentSegment& r) { return v < r.seq; });
  if (it == log_.begin()) return log_.size();
  const auto i = static_cast<size_t>(std::distance(log_.begin(), it)) - 1;
  return s < log_[i].end_seq ? i : log_.size();
}

void Rack::split_at(SeqNum s) {
  const size_t i = find(s);
  if (i == log_.size() || log_[i].seq == s) return;
  SentSegment upper = log_[i];
  upper.seq = s;
  log_[i].end_seq = s;
  if (upper.sacked) ++segs_sacked_;
  if (upper.lost) ++lost_segments_;
  log_.insert(log_.begin() + static_cast<std::ptrdiff_t>(i) + 1, upper);
}

void Rack::on_transmit(SeqNum seq, SeqNum end, Instant now) {
  if (end <= seq) return;
  if (log_.empty() || seq >= log_.back().end_seq) {
    log_.push_back(SentSegment{seq, end, now});
    return;
  }
  // A retransmission, which may run past what was sent before (a larger segment after the
  // MSS grew back, or data queued since).
  const SeqNum old_end = log_.back().end_seq;
  const SeqNum from = seq_max(seq, log_.front().seq);
  const SeqNum to = seq_min(end, old_end);
  if (from < to) {
    split_at(from);
    split_at(to);
    for (size_t i = find(from); i < log_.size() && log_[i].seq < to; ++i) {
      SentSegment& r = log_[i];
      r.xmit_ts = now;
      r.retransmitted = true;
      if (r.lost) {
        r.lost = false;
        --lost_segments_;
      }
    }
  }
  if (end > old_end) log_.push_back(SentSegment{old_end, end, now});
}

void Rack::mark_lost(SentSegment& s) {
  if (s.lost) return;
  s.lost = true;
  ++lost_segments_;
}

std::optional<Duration> Rack::min_rtt() const {
  if (!min_best_) return std::nullopt;
  return min_best_->rtt;
}

void Rack::update_min_rtt(Duration rtt, Instant now) {
  if (!min_best_ || rtt <= min_best_->rtt) {
    min_best_ = RttAt{rtt, now};
    min_recent_ = min_best_;
    return;
  }
  // The later half-window keeps its own best, so that when the overall best ages out the
  // minimum falls back to a recent measurement rather than to whatever comes next.
  if (!min_recent_ || rtt <= min_recent_->rtt || now - min_recent_->at > kMinRttWindow / 2)
    min_recent_ = RttAt{rtt, now};
  if (now - min_best_->at > kMinRttWindow) min_best_ = min_recent_;
}

RackAckResult Rack::on_ack(const Ack& ack, Instant now) {
  RackAckResult result;
  const std::optional<SeqNum> fack_before = fack_;
  // The most recently sent of this ACK's deliveries that step 2 accepts.
  struct Delivered {
    Instant xmit_ts;
    SeqNum end_seq;
    Duration rtt;
  };
  std::optional<Delivered> latest;
  std::optional<Delivered> oldest_cumulative;  // for the RFC 6298 sample
  bool cumulative_retransmission = false;

  const auto deliver = [&](const SentSegment& s, bool cumulative) {
    ++result.delivered;
    const Duration rtt = now - s.xmit_ts;
    // Step 3, RACK_detect_reordering(): "If Segment.end_seq > RACK.fack: RACK.fack =
    // Segment.end_seq. Else if Segment.end_seq < RACK.fack AND Segment.retransmitted is FALSE:
    // RACK.reordering_seen = TRUE". Segments sent once go out in sequence order, so walking
    // the deliveries in sequence order (not xmit_ts order) gives the same answer when the
    // test is made against RACK.fack as it stood before this ACK.
    if (fack_before && !s.retransmitted && s.end_seq < *fack_before) reordering_seen_ = true;
    if (!fack_ || s.end_seq > *fack_) fack_ = s.end_seq;
    // Step 1: min_RTT from segments sent once (no ambiguity about which copy arrived).
    if (!s.retransmitted) update_min_rtt(rtt, now);
    if (cumulative) {
      if (s.retransmitted) cumulative_retransmission = true;
      if (!oldest_cumulative || s.xmit_ts < oldest_cumulative->xmit_ts)
        oldest_cumulative = Delivered{s.xmit_ts, s.end_seq, rtt};
    }
    // Step 2, RACK_update(): for a retransmitted segment, "If ACK.ts_option.echo_reply <
    // Segment.xmit_ts" the ACK answers an earlier transmission, and "If rtt <
    // RACK.min_RTT" it came too soon to answer this one; either way the segment says nothing
    // about when the delivered data was sent. The timestamp test is made only for a
    // cumulative ACK: RFC 7323 4.3 echoes the TSval of the segment at the left window edge,
    // so the TSecr of an ACK that only SACKs a segment says nothing about that segment.
    if (s.retransmitted) {
      if (cumulative && ack.tsecr &&
          static_cast<int32_t>(*ack.tsecr - tcp_timestamp(s.xmit_ts, ack.ts_offset)) < 0)
        return;
      if (min_best_ && rtt < min_best_->rtt) return;
    }
    if (!latest || sent_after(s.xmit_ts, s.end_seq, latest->xmit_ts, latest->end_seq))
      latest = Delivered{s.xmit_ts, s.end_seq, rtt};
  };

  // Cumulatively acknowledged records leave the log; those not SACKed before are delivered now.
  split_at(ack.snd_una);
  size_t gone = 0;
  while (gone < log_.size() && log_[gone].end_seq <= ack.snd_una) {
    const SentSegment& s = log_[gone];
    if (s.sacked) {
      --segs_sacked_;
    } else {
      deliver(s, true);
    }
    if (s.lost) --lost_segments_;
    ++gone;
  }
  log_.erase(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(gone));

  // Selectively acknowledged records stay (the receiver may renege) but are delivered.
  for (const SackBlock& b : ack.sacked) {
    if (log_.empty()) break;
    const SeqNum left = seq_max(b.left, log_.front().seq);
    const SeqNum right = seq_min(b.right, log_.back().end_seq);
    if (left >= right) continue;
    split_at(left);
    split_at(right);
    for (size_t i = find(left); i < log_.size() && log_[i].seq < right; ++i) {
      SentSegment& s = log_[i];
      if (s.sacked) continue;
      s.sacked = true;
      ++segs_sacked_;
      if (s.lost) {
        // Deemed lost, yet it arrived: no retransmission needed any more.
        s.lost = false;
        --lost_segments_;
      }
      deliver(s, false);
    }
  }

  // Step 2's outcome: "RACK.rtt = rtt" for the last of the accepted deliveries in xmit_ts
  // order, and RACK.xmit_ts / RACK.end_seq advance only to a segment sent after them.
  if (latest) {
    rtt_ = latest->rtt;
    if (!xmit_ts_ || sent_after(latest->xmit_ts, latest->end_seq, *xmit_ts_, end_seq_)) {
      xmit_ts_ = latest->xmit_ts;
      end_seq_ = latest->end_seq;
    }
  }
  // Karn's algorithm (RFC 6298 section 3) for the RTO estimator: no sample from an ACK that
  // a retransmission may have caused. The oldest segment acknowledged is timed, as the
  // timestamp echo of RFC 7323 4.3 would: a delayed ACK's wait is part of the sample, so the
  // RTO covers it.
  if (oldest_cumulative && !cumulative_retransmission) result.rtt_sample = oldest_cumulative->rtt;

  // Step 4, the D-SACK part of RACK_update_reo_wnd(): "If RACK.dsack_round is not None AND
  // SND.UNA >= RACK.dsack_round: RACK.dsack_round = None" and "If RACK.dsack_round is None AND
  // any DSACK option is present on latest received ACK: RACK.dsack_round = SND.NXT,
  // RACK.reo_wnd_mult += 1, RACK.reo_wnd_persist = 16" (grow the window once per round trip
  // that sees a D-SACK: a spurious retransmission means it was too small).
  if (dsack_round_ && ack.snd_una >= *dsack_round_) dsack_round_.reset();
  if (!dsack_round_ && ack.dsack) {
    dsack_round_ = ack.snd_nxt;
    reo_wnd_mult_ = std::min(reo_wnd_mult_ + 1, kMaxReoWndMult);
    reo_wnd_persist_ = kReoWndPersist;
    result.reo_wnd_widened = true;
  }
  return result;
}

Duration Rack::reo_wnd(bool in_recovery, std::optional<Duration> srtt) const {
  // Step 4: "If RACK.reordering_seen is FALSE: If in Fast or RTO recovery: Return 0; Else if
  // RACK.segs_sacked >= DupThresh: Return 0" — without evidence of reordering, RACK is as
  // quick as RFC 6675's DupThresh — "Return min(RACK.reo_wnd_mult * RACK.min_RTT / 4, SRTT)".
  if (!reordering_seen_ && (in_recovery || segs_sacked_ >= kDupThresh)) return Duration::zero();
  Duration w = min_best_ ? min_best_->rtt * reo_wnd_mult_ / 4 : Duration::zero();
  if (srtt) w = std::min(w, *srtt);
  return w;
}

RackLossResult Rack::detect_loss(Instant now, bool in_recovery, std::optional<Duration> srtt) {
  RackLossResult result;
  if (!xmit_ts_) return result;  // nothing delivered yet: no reference point
  const Duration reo = reo_wnd(in_recovery, srtt);
  // "For each segment, Segment, not acknowledged yet: If RACK_sent_after(RACK.xmit_ts,
  // RACK.end_seq, Segment.xmit_ts, Segment.end_seq): remaining = Segment.xmit_ts + RACK.rtt +
  // RACK.reo_wnd - Now(); If remaining <= 0: Segment.lost = TRUE ... Else: timeout =
  // max(remaining, timeout)".
  for (SentSegment& s : log_) {
    if (s.sacked || s.lost) continue;
    if (!sent_after(*xmit_ts_, end_seq_, s.xmit_ts, s.end_seq)) continue;
    const Duration remaining = s.xmit_ts + rtt_ + reo - now;
    if (remaining <= Duration::zero()) {
      mark_lost(s);
      ++result.lost;
      if (s.retransmitted) ++result.lost_retransmits;
    } else {
      result.timeout = std::max(result.timeout, remaining);
    }
  }
  return result;
}

uint32_t Rack::on_rto(SeqNum snd_una, Instant now, std::optional<Duration> srtt) {
  for (SentSegment& s : log_) s.sacked = false;
  segs_sacked_ = 0;
  // Section 6.3, RACK_mark_losses_on_RTO(): "For each segment, Segment, not acknowledged
  // yet: If SEG.SEQ == SND.UNA OR Segment.xmit_ts + RACK.rtt + RACK.reo_wnd - Now() <= 0:
  // Segment.lost = TRUE" — the first was sent an RTO ago; later ones only if overdue, so a
  // segment sent just before the timeout (a probe, a retransmission) is not resent at once.
  const Duration reo = reo_wnd(true, srtt);
  uint32_t marked = 0;
  for (SentSegment& s : log_) {
    if (s.lost) continue;
    if (s.seq == snd_una || s.xmit_ts + rtt_ + reo - now <= Duration::zero()) {
      mark_lost(s);
      ++marked;
    }
  }
  tlp_reset();
  return marked;
}

void Rack::on_recovery_exit() {
  // Step 4: "Else if exiting Fast or RTO recovery: RACK.reo_wnd_persist -= 1; If
  // RACK.reo_wnd_persist <= 0: RACK.reo_wnd_mult = 1".
  if (reo_wnd_persist_ > 0) --reo_wnd_persist_;
  if (reo_wnd_persist_ == 0) reo_wnd_mult_ = 1;
}

uint32_t Rack::pipe() const {
  uint64_t pipe = 0;
  for (const SentSegment& s : log_) {
    if (!s.sacked && !s.lost) pipe += s.size();
  }
  return static_cast<uint32_t>(std::min<uint64_t>(pipe, UINT32_MAX));
}

std::optional<SackBlock> Rack::first_lost(uint32_t max_len) const {
  if (lost_segments_ == 0 || max_len == 0) return std::nullopt;
  for (size_t i = 0; i < log_.size(); ++i) {
    if (!log_[i].lost) continue;
    SackBlock r{log_[i].seq, log_[i].end_seq};
    for (size_t j = i + 1; j < log_.size() && log_[j].lost && log_[j].seq == r.right &&
                           r.size() + log_[j].size() <= max_len;
         ++j)
      r.right = log_[j].end_seq;
    if (r.size() > max_len) r.right = r.left + max_len;
    return r;
  }
  return std::nullopt;
}

std::optional<SackBlock> Rack::last_segment(uint32_t max_len) const {
  if (log_.empty() || max_len == 0) return std::nullopt;
  const SentSegment& s = log_.back();
  return SackBlock{s.end_seq - std::min(s.size(), max_len), s.end_seq};
}

void Rack::tlp_reset() {
  tlp_end_seq_.reset();
  tlp_is_retrans_ = false;
}

void Rack::tlp_on_probe(SeqNum seq, SeqNum snd_nxt, bool is_retrans) {
  tlp_end_seq_ = snd_nxt;
  tlp_seq_ = seq;
  tlp_is_retrans_ = is_retrans;
  tlp_rtt_sampled_ = false;
}

TlpOutcome Rack::tlp_on_ack(SeqNum ack, std::optional<SackBlock> dsack, bool pure_dupack) {
  // 7.4.2, TLP_process_ack(): "If TLP.end_seq is not None AND ACK's ack. number >=
  // TLP.end_seq":
  if (!tlp_end_seq_ || ack < *tlp_end_seq_) return TlpOutcome::none;
  // "If not TLP.is_retrans: TLP.end_seq = None /* TLP of new data delivered */"
  if (!tlp_is_retrans_) {
    tlp_reset();
    return TlpOutcome::delivered;
  }
  // "Else if ACK has a DSACK option matching TLP.end_seq: TLP.end_seq = None
  // /* Retransmission is redundant */" — the D-SACK names the probe's copy.
  if (dsack && (dsack->right == *tlp_end_seq_ || dsack->contains(tlp_seq_))) {
    tlp_reset();
    return TlpOutcome::spurious;
  }
  // "Else If ACK's ack. number > TLP.end_seq: TLP.end_seq = None /* Repaired the single
  // loss */" — data sent after the probe is acknowledged and no D-SACK came for the probe, so
  // only one copy arrived: the original was lost.
  if (ack > *tlp_end_seq_) {
    tlp_reset();
    return TlpOutcome::repaired;
  }
  // "Else If ACK is a DUPACK without any SACK option: TLP.end_seq = None" — a receiver that
  // sends no D-SACK answered the probe's duplicate: it already had the data.
  if (pure_dupack) {
    tlp_reset();
    return TlpOutcome::spurious;
  }
  return TlpOutcome::none;
}

void Rack::clear() {
  log_.clear();
  log_.shrink_to_fit();
  segs_sacked_ = 0;
  lost_segments_ = 0;
  tlp_reset();
}

void Rack::shrink_if_empty() {
  if (log_.empty() && log_.capacity() > 0) log_.shrink_to_fit();
}

}  // namespace flowgate::tcp
