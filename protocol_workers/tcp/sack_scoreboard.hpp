// The sender's SACK scoreboard and loss-recovery bookkeeping of RFC 6675 ("A Conservative
// Loss Recovery Algorithm Based on Selective Acknowledgment (SACK) for TCP"), fed by SACK
// blocks validated as RFC 2018 and RFC 2883 describe. A pure data structure: the caller
// passes SND.UNA / SND.NXT and SMSS in and gets byte counts and ranges out; congestion
// control (cwnd, ssthresh, DupAcks) stays with the caller.
//
// Mapping of the RFC 6675 section 2 variables (RFC 6675 names inclusive octets; here every
// range is half-open, [left, right), as on the wire):
//   HighACK + 1   = snd_una (the caller's; ranges at or below it are dropped by on_ack)
//   HighData + 1  = snd_nxt (pass the highest sequence number sent plus one: SND.MAX if the
//                   connection rewinds SND.NXT after a timeout)
//   HighRxt + 1   = the end of the last range retransmitted in this recovery (kept here)
//   RescueRxt + 1 = kept here, see next_segment() rule (4)
//   RecoveryPoint + 1 = recovery_point() (kept here: snd_nxt when recovery started)
//
// Policy, where the RFCs leave a choice:
// - Validation: a block is used only if SND.UNA < left < right <= SND.NXT (it must report
//   data sent and not cumulatively acknowledged; a receiver with data at SND.UNA would have
//   acknowledged it). Only the first kMaxSackBlocks blocks are considered. RFC 2883 section
//   4 tells the sender how to recognise a D-SACK (a report of data received twice): a first
//   block wholly at or below the cumulative ACK, or a first block lying inside the second.
//   Both are counted and kept out of the scoreboard (there is no spurious-retransmission undo
//   here); the first one is reported in SackAckResult::dsack for RACK-TLP. A block
//   straddling SND.UNA is neither a valid SACK nor a D-SACK (a D-SACK reports only the
//   duplicated part) and is counted as invalid.
// - Memory: SACKed ranges are kept merged (overlapping or adjacent blocks become one range),
//   sorted, and at most `max_ranges` of them. A valid block that would need a range beyond
//   that is ignored and counted (ignored_capacity): older information is never evicted for
//   newer, and forgetting a SACK only makes the sender retransmit more, never less.
// - IsLost counts "discontiguous SACKed sequences" as the merged SACKed ranges above the
//   sequence number: the scoreboard keeps no segment boundaries. With full-sized segments
//   both tests of RFC 6675 section 4 agree; with small contiguous segments loss is declared
//   later (by the byte test), which errs on the conservative side.
// - Retransmission timeout: reset. RFC 2018 section 5: "After a retransmit timeout the data
//   sender SHOULD turn off all of the SACKed bits, since the timeout might indicate that the
//   data receiver has reneged." RFC 6675 section 5.1 keeps that rule (retaining SACK
//   information across a timeout is suggested only "as long as robust tests for reneging
//   are present", and we have none), and requires that recovery end and that "a new
//   recovery phase ... MUST NOT be initiated until HighACK is greater than or equal to the
//   new value of RecoveryPoint". See on_rto().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "tcp/cold_state.hpp"
#include "tcp/sack.hpp"
#include "tcp/seq.hpp"

namespace flowgate::tcp {

// What on_ack() did with the SACK blocks of one ACK. The ignored_* fields are drop counters
// for the caller.
struct SackAckResult {
  uint32_t accepted = 0;          // blocks applied to the scoreboard
  uint32_t ignored_invalid = 0;   // reversed, empty, straddling SND.UNA, or beyond SND.NXT
  uint32_t ignored_dsack = 0;     // RFC 2883 D-SACK blocks
  uint32_t ignored_excess = 0;    // blocks after the first kMaxSackBlocks
  uint32_t ignored_capacity = 0;  // valid, but would need more than max_ranges ranges
  uint32_t newly_sacked_bytes = 0;
  // The D-SACK block, when the first block was one (RFC 2883 puts the D-SACK block first):
  // what the receiver got twice. RACK widens its reordering window on it and TLP recognises an
  // unnecessary probe by it (RFC 8985 6.2 step 4, 7.4.2).
  std::optional<SackBlock> dsack;
  bool recovery_ended = false;  // RFC 6675 section 5 (A): SND.UNA reached RecoveryPoint

  // RFC 6675 section 2: "we define a "duplicate acknowledgment" as a segment that arrives
  // carrying a SACK block that identifies previously unacknowledged and un-SACKed octets
  // between HighACK and HighData" (even if it also moves the cumulative ACK point).
  bool duplicate_ack() const { return newly_sacked_bytes > 0; }
};

// One segment proposed by next_segment() (RFC 6675 section 4, NextSeg()).
struct NextSegment {
  enum class Kind {
    none,                 // rule (5): nothing to send
    retransmit_lost,      // rule (1), and the first retransmission of section 5 step (4.3)
    new_data,             // rule (2): previously unsent data starting at snd_nxt
    retransmit_unsacked,  // rule (3): an unSACKed range not (yet) deemed lost
    rescue_retransmit,    // rule (4): the once-per-recovery rescue retransmission
  };
  Kind kind = Kind::none;
  SeqNum seq;
  uint32_t len = 0;

  bool operator==(const NextSegment&) const = default;
};

class SackScoreboard {
 public:
  // RFC 6675 section 2: "DupThresh ... this threshold is defined to be 3".
  static constexpr uint32_t kDupThresh = 3;
  static constexpr size_t kDefaultMaxRanges = 256;

  explicit SackScoreboard(size_t max_ranges = kDefaultMaxRanges);

  // RFC 6675 section 4, Update(): applies one ACK. `snd_una` is the cumulative point after
  // this ACK was processed, `snd_nxt` is HighData + 1. Drops SACKed ranges at or below
  // snd_una, ends recovery once snd_una reaches the recovery point (section 5 (A); the
  // SACK information above it is kept, as (A) asks), then validates and records `blocks`.
  SackAckResult on_ack(SeqNum snd_una, std::span<const SackBlock> blocks, SeqNum snd_nxt);

  // RFC 6675 section 4, IsLost(SeqNum): "The routine returns true when either DupThresh
  // discontiguous SACKed sequences have arrived above 'SeqNum' or more than (DupThresh - 1)
  // * SMSS bytes with sequence numbers greater than 'SeqNum' have been SACKed."
  bool is_lost(SeqNum seq, uint32_t smss) const;

  // RFC 6675 section 4, SetPipe(): over every octet S1 of [snd_una, snd_nxt) not SACKed,
  // "(a) If IsLost (S1) returns false: Pipe is incremented by 1 octet. ... (b) If S1 <=
  // HighRxt: Pipe is incremented by 1 octet." Computed per hole, not per octet.
  uint32_t pipe(SeqNum snd_una, SeqNum snd_nxt, uint32_t smss) const;

  // RFC 6675 section 4, NextSeg(). `new_data_sendable` is how many previously unsent bytes
  // the caller could send now: min(unsent bytes in its buffer, room in the peer's window)
  // (rule (2): "there exists available unsent data and the receiver's advertised window
  // allows"). Retransmissions stop at the next SACKed range; none is longer than `smss`.
  // Rule (4) applies only in recovery. Pure: tell the scoreboard what was sent with
  // on_sent().
  NextSegment next_segment(SeqNum snd_una, SeqNum snd_nxt, uint32_t smss,
                           uint32_t new_data_sendable) const;

  // --- Loss recovery (RFC 6675 section 5) ---

  // False while in recovery, and after a timeout until snd_una reaches the snd_nxt of that
  // moment (section 5.1).
  bool may_enter_recovery(SeqNum snd_una) const;
  // Section 5 step (4): "(4.1) RecoveryPoint = HighData" and "(4.3) Retransmit the first
  // data segment presumed dropped -- the segment starting with sequence number HighACK + 1.
  // To prevent repeated retransmission of the same data or a premature rescue
  // retransmission, set both HighRxt and RescueRxt to the highest sequence number in the
  // retransmitted segment." Returns that segment (the caller MUST send it), or kind none
  // and stays out of recovery when may_enter_recovery() is false or nothing is
  // outstanding. Steps (4.2) (ssthresh, cwnd) and (4.4) (SetPipe) are the caller's.
  NextSegment enter_recovery(SeqNum snd_una, SeqNum snd_nxt, uint32_t smss);
  // Section 5 (C.2): "If any of the data octets sent in (C.1) are below HighData, HighRxt
  // MUST be set to the highest sequence number of the retransmitted segment unless NextSeg
  // () rule (4) was invoked for this retransmission." Rule (4) instead sets RescueRxt to
  // RecoveryPoint. Pass the segment as sent (its len may be shorter than proposed). No
  // effect outside recovery or for new data.
  void on_sent(const NextSegment& sent);
  // Retransmission timeout: clears every SACKed range (RFC 2018 section 5), ends recovery,
  // and bars a new one until snd_una >= `snd_nxt` (RFC 6675 section 5.1). SACK blocks that
  // arrive afterwards are used again.
  void on_rto(SeqNum snd_nxt);

  bool in_recovery() const { return in_recovery_; }
  std::optional<SeqNum> recovery_point() const;  // RecoveryPoint + 1, while in recovery
  std::optional<SeqNum> high_rxt() const { return high_rxt_; }      // HighRxt + 1
  std::optional<SeqNum> rescue_rxt() const { return rescue_rxt_; }  // RescueRxt + 1

  // --- Scoreboard queries ---
  bool is_sacked(SeqNum seq) const;
  uint32_t sacked_bytes() const { return sacked_bytes_; }
  // One past the highest SACKed octet (the right edge of the highest range), if any.
  std::optional<SeqNum> highest_sacked() const;
  // The SACKed ranges, sorted, disjoint and not adjacent.
  std::span<const SackBlock> sacked_ranges() const { return ranges_; }

  // Connection teardown or reuse: forgets everything, including the timeout barrier.
  void clear();

  // Same state: what every query answers and every change does next are the same.
  // RecoveryPoint counts only in recovery (it is set anew when recovery begins).
  bool operator==(const SackScoreboard& o) const {
    return max_ranges_ == o.max_ranges_ && ranges_ == o.ranges_ &&
           sacked_bytes_ == o.sacked_bytes_ && in_recovery_ == o.in_recovery_ &&
           (!in_recovery_ || recovery_point_ == o.recovery_point_) && high_rxt_ == o.high_rxt_ &&
           rescue_rxt_ == o.rescue_rxt_ && rto_recovery_point_ == o.rto_recovery_point_;
  }

 private:
  bool lost_given(uint32_t ranges_above, uint64_t bytes_above, uint32_t smss) const;
  void drop_below(SeqNum snd_una);
  bool record(SackBlock block);  // false: ignored for capacity

  size_t max_ranges_;
  std::vector<SackBlock> ranges_;  // sorted by sequence; all within [snd_una, snd_nxt)
  uint32_t sacked_bytes_ = 0;
  bool in_recovery_ = false;
  SeqNum recovery_point_;                     // RecoveryPoint + 1, valid while in_recovery_
  std::optional<SeqNum> high_rxt_;            // HighRxt + 1, only while in recovery
  std::optional<SeqNum> rescue_rxt_;          // RescueRxt + 1, only while in recovery
  std::optional<SeqNum> rto_recovery_point_;  // section 5.1 barrier
};

// The scoreboard as a Connection holds it (tcp/cold_state.hpp): nothing allocated while no
// SACKed range is held, no recovery runs and no timeout barrier stands, which is the whole
// life of a connection that loses nothing.
class ColdSackScoreboard {
 public:
  SackAckResult on_ack(SeqNum snd_una, std::span<const SackBlock> blocks, SeqNum snd_nxt) {
    return s_.update([&](SackScoreboard& s) { return s.on_ack(snd_una, blocks, snd_nxt); });
  }
  bool is_lost(SeqNum seq, uint32_t smss) const { return s_.get().is_lost(seq, smss); }
  uint32_t pipe(SeqNum snd_una, SeqNum snd_nxt, uint32_t smss) const {
    return s_.get().pipe(snd_una, snd_nxt, smss);
  }
  NextSegment next_segment(SeqNum snd_una, SeqNum snd_nxt, uint32_t smss,
                           uint32_t new_data_sendable) const {
    return s_.get().next_segment(snd_una, snd_nxt, smss, new_data_sendable);
  }
  bool may_enter_recovery(SeqNum snd_una) const { return s_.get().may_enter_recovery(snd_una); }
  NextSegment enter_recovery(SeqNum snd_una, SeqNum snd_nxt, uint32_t smss) {
    return s_.update([&](SackScoreboard& s) { return s.enter_recovery(snd_una, snd_nxt, smss); });
  }
  void on_sent(const NextSegment& sent) {
    s_.update([&](SackScoreboard& s) { s.on_sent(sent); });
  }
  void on_rto(SeqNum snd_nxt) {
    s_.update([&](SackScoreboard& s) { s.on_rto(snd_nxt); });
  }
  bool in_recovery() const { return s_.get().in_recovery(); }
  std::span<const SackBlock> sacked_ranges() const { return s_.get().sacked_ranges(); }
  const SackScoreboard& get() const { return s_.get(); }
  bool allocated() const { return s_.allocated(); }
  void clear() { s_.reset(); }

 private:
  ColdState<SackScoreboard> s_;
};

}  // namespace flowgate::tcp
