// RACK-TLP (RFC 8985, "The RACK-TLP Loss Detection Algorithm for TCP"): the sender's
// per-segment transmission log, RACK's time-based loss detection over it (section 6), and the
// state of the Tail Loss Probe (section 7). A pure data structure like the SACK scoreboard:
// ACKs, SACKed ranges and `now` come in; segments marked lost, the reordering timer's delay
// and the in-flight count come out. Sending, the timers and congestion control stay with the
// connection.
//
// RFC 8985 section 4 makes two demands of the sender: "The connection MUST use selective
// acknowledgment (SACK) options [RFC2018]" and, for each data segment sent, it "MUST store
// its most recent transmission time with a timestamp whose granularity is finer than 1/4 of
// the minimum RTT of the connection". The connection therefore runs RACK-TLP only when SACK
// was negotiated (without it, NewReno recovery stays in charge), and transmit times here are
// the stack's Instant (nanoseconds from the worker's monotonic clock), not the millisecond
// TCP timestamp clock.
//
// Mapping of the RFC's variables:
//   Segment.xmit_ts / .end_seq / .retransmitted / .lost  SentSegment (below)
//   RACK.xmit_ts, RACK.end_seq      xmit_ts_, end_seq_ (unset until a first delivery)
//   RACK.rtt                        rtt_
//   RACK.min_RTT                    min_rtt() (windowed minimum, see update_min_rtt)
//   RACK.fack                       fack_
//   RACK.segs_sacked                segs_sacked()
//   RACK.reordering_seen            reordering_seen_
//   RACK.reo_wnd_mult, _persist     reo_wnd_mult_, reo_wnd_persist_
//   RACK.dsack_round                dsack_round_
//   TLP.end_seq, TLP.is_retrans     tlp_end_seq_, tlp_is_retrans_
//
// Policy, where the RFC leaves a choice:
// - The log holds one record per transmitted range, contiguous from SND.UNA to SND.MAX (a FIN
//   counts as one octet of its segment). A record is split where a cumulative ACK, a SACKed
//   range or a retransmission cuts it, so every record is wholly delivered or wholly not.
//   Records are bounded by the segments in flight plus two per SACKed range, and the
//   scoreboard caps SACKed ranges (SackScoreboard::kDefaultMaxRanges).
// - "Segment.lost" here means "deemed lost and not retransmitted since": a retransmission
//   clears it (the segment is in flight again, and RACK watches that retransmission as it
//   watched the original, which is how lost retransmissions are found). The RFC's
//   "Segment.xmit_ts = INFINITE_TS" for a lost segment is the same exclusion.
// - RACK.min_RTT is a windowed minimum over kMinRttWindow of RTTs measured from segments sent
//   once (step 1: the sender "SHOULD track a windowed min-filtered estimate of recent RTT
//   measurements that can adapt when migrating to significantly longer paths").
// - After a retransmission timeout the SACKed bits are cleared, as the scoreboard clears its
//   ranges (RFC 2018 section 5; see sack_scoreboard.hpp): both forget together, and later
//   SACK blocks mark the log again.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "stack/clock.hpp"
#include "tcp/cold_state.hpp"
#include "tcp/sack.hpp"
#include "tcp/seq.hpp"

namespace flowgate::tcp {

// The TCP timestamp clock of RFC 7323 5.4 (milliseconds) at `t`, offset per connection.
uint32_t tcp_timestamp(Instant t, uint32_t offset);

// RFC 8985 section 6.1, the per-segment variables, for one transmitted range.
struct SentSegment {
  SeqNum seq;                  // the first sequence number
  SeqNum end_seq;              // Segment.end_seq: one past the last (a FIN counts)
  Instant xmit_ts;             // Segment.xmit_ts: the most recent transmission
  bool retransmitted = false;  // Segment.retransmitted
  bool lost = false;           // Segment.lost, and not retransmitted since
  bool sacked = false;         // selectively acknowledged

  uint32_t size() const { return static_cast<uint32_t>(end_seq - seq); }
  bool operator==(const SentSegment&) const = default;
};

// What one ACK did (RFC 8985 6.2 steps 1 to 4).
struct RackAckResult {
  uint32_t delivered = 0;  // segments newly acknowledged, cumulatively or selectively
  // An RTT sample for RFC 6298: from the oldest of the segments this ACK newly acknowledged
  // cumulatively, when none of them was retransmitted (Karn's algorithm).
  std::optional<Duration> rtt_sample;
  bool reo_wnd_widened = false;  // a D-SACK started a new round of RACK.reo_wnd_mult
};

// What RACK_detect_loss() (step 5) found.
struct RackLossResult {
  uint32_t lost = 0;              // segments newly marked lost
  uint32_t lost_retransmits = 0;  // of them, retransmissions lost again
  // The reordering timer: "Arm the RACK timer to call RACK_detect_loss_and_arm_timer() after
  // timeout"; zero when none is needed.
  Duration timeout{};
};

// How an ACK ended a tail loss probe episode (RFC 8985 7.4.2, TLP_process_ack()).
enum class TlpOutcome {
  none,       // no probe outstanding, or the ACK does not settle it yet
  delivered,  // the probe carried new data, now acknowledged
  spurious,   // the probe retransmitted data the peer already had: no loss
  repaired,   // the probe repaired a loss: congestion control must react once
};

class Rack {
 public:
  // RFC 6675's DupThresh, which RACK uses to stay compatible with it (step 4).
  static constexpr uint32_t kDupThresh = 3;
  // Step 4: "Reset the window after 16 DSACK-free recoveries".
  static constexpr uint32_t kReoWndPersist = 16;
  // The min_RTT filter's window: long enough to outlast the queueing of any one transfer
  // phase, short enough to follow a route change within a minute.
  static constexpr Duration kMinRttWindow = std::chrono::seconds(60);

  // --- the transmission log ---
  // Data (and/or FIN) [seq, end) went out at `now`: new data extends the log; a range
  // already in it is a retransmission (Segment.retransmitted = TRUE, xmit_ts = now, no
  // longer lost).
  void on_transmit(SeqNum seq, SeqNum end, Instant now);

  // --- ACK processing: RFC 8985 section 6.2, steps 1 to 4 ---
  struct Ack {
    SeqNum snd_una;                     // SND.UNA after this ACK
    SeqNum snd_nxt;                     // SND.NXT: the highest sequence number sent, plus one
    std::span<const SackBlock> sacked;  // the scoreboard's SACKed ranges after this ACK
    bool dsack = false;                 // the ACK carried a D-SACK block (RFC 2883)
    std::optional<uint32_t> tsecr;      // its TSecr, when timestamps are in use
    uint32_t ts_offset = 0;             // our TSval = tcp_timestamp(now, ts_offset)
  };
  RackAckResult on_ack(const Ack& ack, Instant now);

  // Step 5, RACK_detect_loss(): marks what was sent before the most recently delivered
  // segment and is overdue by RACK.rtt + RACK.reo_wnd. `in_recovery`: fast or RTO recovery.
  RackLossResult detect_loss(Instant now, bool in_recovery, std::optional<Duration> srtt);

  // Step 4's reordering window, RACK_update_reo_wnd()'s value.
  Duration reo_wnd(bool in_recovery, std::optional<Duration> srtt) const;

  // Section 6.3, RACK_mark_losses_on_RTO(), after clearing the SACKed bits (see the header).
  // Also resets the TLP state (7.1). Returns how many segments were marked.
  uint32_t on_rto(SeqNum snd_una, Instant now, std::optional<Duration> srtt);

  // Fast or RTO recovery ended (step 4: "Else if exiting Fast or RTO recovery").
  void on_recovery_exit();

  // --- for loss recovery ---
  // RFC 6675's pipe with RACK's marks: octets neither SACKed nor deemed lost (a lost segment
  // retransmitted since is in flight again).
  uint32_t pipe() const;
  // The lowest segment marked lost and not retransmitted since, [left, right), at most
  // `max_len` octets (adjacent lost records are joined); nullopt if there is none.
  std::optional<SackBlock> first_lost(uint32_t max_len) const;
  // The highest-sequence segment sent so far, at most `max_len` octets from its end.
  std::optional<SackBlock> last_segment(uint32_t max_len) const;
  uint32_t segs_sacked() const { return segs_sacked_; }
  uint32_t lost_segments() const { return lost_segments_; }
  bool empty() const { return log_.empty(); }
  std::span<const SentSegment> log() const { return log_; }

  // --- Tail Loss Probe state (RFC 8985 section 7) ---
  // 7.1: "Reset TLP.is_retrans and TLP.end_seq when initiating a connection, fast recovery,
  // or RTO recovery."
  void tlp_reset();
  // 7.3: a probe of [seq, end) went out; `snd_nxt` is SND.NXT after it (TLP.end_seq).
  void tlp_on_probe(SeqNum seq, SeqNum snd_nxt, bool is_retrans);
  // 7.3 condition 1: "there is no other previous loss probe still in flight".
  bool tlp_in_flight() const { return tlp_end_seq_.has_value(); }
  // 7.3 condition 2: "the sender has obtained an RTT measurement since the last loss probe
  // transmission or the start of the connection, whichever was later".
  bool tlp_rtt_sampled() const { return tlp_rtt_sampled_; }
  void note_rtt_sample() { tlp_rtt_sampled_ = true; }
  // 7.4.2, TLP_process_ack(): `ack` is SEG.ACK; `dsack` the ACK's D-SACK block, if any;
  // `pure_dupack`: a duplicate ACK (RFC 5681) carrying no SACK option.
  TlpOutcome tlp_on_ack(SeqNum ack, std::optional<SackBlock> dsack, bool pure_dupack);
  std::optional<SeqNum> tlp_end_seq() const { return tlp_end_seq_; }
  bool tlp_is_retrans() const { return tlp_is_retrans_; }

  // --- introspection (TCP_INFO, tests) ---
  std::optional<Duration> min_rtt() const;
  Duration rtt() const { return rtt_; }
  std::optional<Instant> xmit_ts() const { return xmit_ts_; }
  bool reordering_seen() const { return reordering_seen_; }
  uint32_t reo_wnd_mult() const { return reo_wnd_mult_; }

  // Teardown: forgets the log (and its memory) and the TLP episode.
  void clear();
  // Gives the log's memory back once nothing is in flight (an idle connection stays small).
  void shrink_if_empty();
  // Same state (the log's capacity aside).
  bool operator==(const Rack&) const = default;

 private:
  // Index of the record holding `s`, or log_.size() if none does.
  size_t find(SeqNum s) const;
  // Ensures a record boundary at `s` (a record holding it strictly inside is cut in two).
  void split_at(SeqNum s);
  void update_min_rtt(Duration rtt, Instant now);
  void mark_lost(SentSegment& s);

  std::vector<SentSegment> log_;
  uint32_t segs_sacked_ = 0;
  uint32_t lost_segments_ = 0;

  std::optional<Instant> xmit_ts_;  // RACK.xmit_ts
  SeqNum end_seq_;                  // RACK.end_seq (valid with xmit_ts_)
  Duration rtt_{};                  // RACK.rtt
  std::optional<SeqNum> fack_;      // RACK.fack
  bool reordering_seen_ = false;
  uint32_t reo_wnd_mult_ = 1;
  uint32_t reo_wnd_persist_ = 0;
  std::optional<SeqNum> dsack_round_;
  // The windowed minimum: the best sample of the window, and the best of its later half
  // (which takes over when the best ages out).
  struct RttAt {
    Duration rtt;
    Instant at;
    bool operator==(const RttAt&) const = default;
  };
  std::optional<RttAt> min_best_;
  std::optional<RttAt> min_recent_;

  std::optional<SeqNum> tlp_end_seq_;  // TLP.end_seq
  SeqNum tlp_seq_;                     // where the probe began (to match a D-SACK)
  bool tlp_is_retrans_ = false;        // TLP.is_retrans
  bool tlp_rtt_sampled_ = false;
};

// RACK-TLP state as a Connection holds it (tcp/cold_state.hpp): nothing allocated until the
// first data segment is sent. The handshake's RTT sample sets TLP.rtt_sampled, so "fresh and
// sampled" is a second state that needs no allocation.
struct RackFresh {
  static constexpr int count = 2;
  static const Rack& state(int i) {
    static const Rack unsampled;
    static const Rack sampled = [] {
      Rack r;
      r.note_rtt_sample();
      return r;
    }();
    return i == 0 ? unsampled : sampled;
  }
};

class ColdRack {
 public:
  void on_transmit(SeqNum seq, SeqNum end, Instant now) {
    r_.update([&](Rack& r) { r.on_transmit(seq, end, now); });
  }
  RackAckResult on_ack(const Rack::Ack& ack, Instant now) {
    return r_.update([&](Rack& r) { return r.on_ack(ack, now); });
  }
  RackLossResult detect_loss(Instant now, bool in_recovery, std::optional<Duration> srtt) {
    return r_.update([&](Rack& r) { return r.detect_loss(now, in_recovery, srtt); });
  }
  uint32_t on_rto(SeqNum snd_una, Instant now, std::optional<Duration> srtt) {
    return r_.update([&](Rack& r) { return r.on_rto(snd_una, now, srtt); });
  }
  void on_recovery_exit() {
    r_.update([](Rack& r) { r.on_recovery_exit(); });
  }
  void tlp_reset() {
    r_.update([](Rack& r) { r.tlp_reset(); });
  }
  void tlp_on_probe(SeqNum seq, SeqNum snd_nxt, bool is_retrans) {
    r_.update([&](Rack& r) { r.tlp_on_probe(seq, snd_nxt, is_retrans); });
  }
  void note_rtt_sample() {
    r_.update([](Rack& r) { r.note_rtt_sample(); });
  }
  TlpOutcome tlp_on_ack(SeqNum ack, std::optional<SackBlock> dsack, bool pure_dupack) {
    return r_.update([&](Rack& r) { return r.tlp_on_ack(ack, dsack, pure_dupack); });
  }
  void shrink_if_empty() {
    r_.update([](Rack& r) { r.shrink_if_empty(); });
  }
  // Rack::clear() keeps what it learnt of the path (RACK.rtt, min_RTT): not a reset.
  void clear() {
    r_.update([](Rack& r) { r.clear(); });
  }

  uint32_t pipe() const { return r_.get().pipe(); }
  std::optional<SackBlock> first_lost(uint32_t max_len) const {
    return r_.get().first_lost(max_len);
  }
  std::optional<SackBlock> last_segment(uint32_t max_len) const {
    return r_.get().last_segment(max_len);
  }
  uint32_t segs_sacked() const { return r_.get().segs_sacked(); }
  uint32_t lost_segments() const { return r_.get().lost_segments(); }
  bool tlp_in_flight() const { return r_.get().tlp_in_flight(); }
  bool tlp_rtt_sampled() const { return r_.get().tlp_rtt_sampled(); }
  const Rack& get() const { return r_.get(); }
  bool allocated() const { return r_.allocated(); }

 private:
  ColdState<Rack, RackFresh> r_;
};

}  // namespace flowgate::tcp
