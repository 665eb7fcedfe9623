#include "tcp/sack_scoreboard.hpp"

#include <algorithm>
#include <iterator>
#include <limits>

namespace flowgate::tcp {

namespace {

// A D-SACK reports data received twice, so it lies at most a window below SND.UNA (windows
// are at most 2^30 bytes, RFC 7323 section 2.3); a "block" further away is garbage.
constexpr int64_t kMaxDsackDistance = int64_t{1} << 30;

// The part of `r` inside [from, to); empty (left == right) when they do not meet.
SackBlock clip(const SackBlock& r, SeqNum from, SeqNum to) {
  const SeqNum left = seq_max(r.left, from);
  const SeqNum right = seq_min(r.right, to);
  return left < right ? SackBlock{left, right} : SackBlock{left, left};
}

}  // namespace

SackScoreboard::SackScoreboard(size_t max_ranges) : max_ranges_(max_ranges) {}

void SackScoreboard::clear() {
  ranges_.clear();
  sacked_bytes_ = 0;
  in_recovery_ = false;
  high_rxt_.reset();
  rescue_rxt_.reset();
  rto_recovery_point_.reset();
}

// Everything at or below the cumulative ACK point is acknowledged: SACK state for it is moot.
void SackScoreboard::drop_below(SeqNum snd_una) {
  size_t gone = 0;
  while (gone < ranges_.size() && ranges_[gone].right <= snd_una) {
    sacked_bytes_ -= ranges_[gone].size();
    ++gone;
  }
  ranges_.erase(ranges_.begin(), ranges_.begin() + static_cast<std::ptrdiff_t>(gone));
  if (!ranges_.empty() && ranges_.front().left < snd_una) {
    sacked_bytes_ -= static_cast<uint32_t>(snd_una - ranges_.front().left);
    ranges_.front().left = snd_una;
  }
}

// Merges `block` (already validated: inside [snd_una, snd_nxt)) into the sorted ranges.
// Overlapping and adjacent ranges become one, so the vector holds the fewest ranges possible.
bool SackScoreboard::record(SackBlock block) {
  // The first range that overlaps or touches the block, then every range starting at or
  // before its right edge.
  const auto first =
      std::lower_bound(ranges_.begin(), ranges_.end(), block.left,
                       [](const SackBlock& r, SeqNum left) { return r.right < left; });
  auto last = first;
  while (last != ranges_.end() && last->left <= block.right) ++last;
  if (first == last) {
    if (ranges_.size() >= max_ranges_) return false;
    ranges_.insert(first, block);
    sacked_bytes_ += block.size();
    return true;
  }
  const SackBlock merged{seq_min(block.left, first->left),
                         seq_max(block.right, std::prev(last)->right)};
  for (auto it = first; it != last; ++it) sacked_bytes_ -= it->size();
  sacked_bytes_ += merged.size();
  *first = merged;
  ranges_.erase(std::next(first), last);
  return true;
}

SackAckResult SackScoreboard::on_ack(SeqNum snd_una, std::span<const SackBlock> blocks,
                                     SeqNum snd_nxt) {
  SackAckResult result;
  drop_below(snd_una);
  if (rto_recovery_point_ && snd_una >= *rto_recovery_point_) rto_recovery_point_.reset();
  // RFC 6675 section 5 (A): "An incoming cumulative ACK for a sequence number greater than
  // RecoveryPoint signals the end of loss recovery ... Any information contained in the
  // scoreboard for sequence numbers greater than the new value of HighACK SHOULD NOT be
  // cleared when leaving the loss recovery phase." recovery_point_ is RecoveryPoint + 1.
  if (in_recovery_ && snd_una >= recovery_point_) {
    in_recovery_ = false;
    high_rxt_.reset();
    rescue_rxt_.reset();
    result.recovery_ended = true;
  }

  const int64_t flight = std::max<int64_t>(snd_nxt - snd_una, 0);
  const size_t considered = std::min(blocks.size(), kMaxSackBlocks);
  result.ignored_excess = static_cast<uint32_t>(blocks.size() - considered);
  const uint32_t sacked_before = sacked_bytes_;
  for (size_t i = 0; i < considered; ++i) {
    const SackBlock& b = blocks[i];
    // Offsets from SND.UNA: wrap-safe for anything within 2^31 of it; garbage further away
    // lands in one of the rejected classes.
    const int64_t left = b.left - snd_una;
    const int64_t right = b.right - snd_una;
    if (left >= right) {
      ++result.ignored_invalid;  // reversed or empty
    } else if (right <= 0 && left >= -kMaxDsackDistance) {
      ++result.ignored_dsack;  // RFC 2883: wholly below the cumulative ACK
      if (i == 0) result.dsack = b;
    } else if (i == 0 && considered >= 2 && blocks[1].left <= b.left &&
               b.right <= blocks[1].right) {
      ++result.ignored_dsack;  // RFC 2883: the first block lies inside the second
      result.dsack = b;
    } else if (left <= 0 || right > flight) {
      ++result.ignored_invalid;  // RFC 2018: must report data sent and not yet ACKed
    } else if (record(b)) {
      ++result.accepted;
    } else {
      ++result.ignored_capacity;
    }
  }
  result.newly_sacked_bytes = sacked_bytes_ - sacked_before;
  return result;
}

bool SackScoreboard::lost_given(uint32_t ranges_above, uint64_t bytes_above, uint32_t smss) const {
  return ranges_above >= kDupThresh ||
         bytes_above > static_cast<uint64_t>(kDupThresh - 1) * static_cast<uint64_t>(smss);
}

bool SackScoreboard::is_lost(SeqNum seq, uint32_t smss) const {
  uint32_t ranges_above = 0;
  uint64_t bytes_above = 0;
  const SeqNum after = seq + 1;  // the octets "with sequence numbers greater than 'SeqNum'"
  for (auto it = ranges_.rbegin(); it != ranges_.rend() && after < it->right; ++it) {
    ++ranges_above;
    bytes_above += static_cast<uint32_t>(it->right - seq_max(it->left, after));
  }
  return lost_given(ranges_above, bytes_above, smss);
}

// Every octet of a hole (an unSACKed run between two ranges) has the same SACKed ranges and
// bytes above it, so IsLost() is constant over a hole and SetPipe() can add whole holes.
uint32_t SackScoreboard::pipe(SeqNum snd_una, SeqNum snd_nxt, uint32_t smss) const {
  if (snd_nxt <= snd_una) return 0;
  uint64_t pipe = 0;
  uint32_t ranges_above = 0;
  uint64_t bytes_above = 0;
  const auto add_hole = [&](SeqNum from, SeqNum to) {
    if (to <= from) return;
    // "(a) If IsLost (S1) returns false: Pipe is incremented by 1 octet."
    if (!lost_given(ranges_above, bytes_above, smss)) pipe += static_cast<uint32_t>(to - from);
    // "(b) If S1 <= HighRxt: Pipe is incremented by 1 octet."
    if (high_rxt_ && from < *high_rxt_) {
      pipe += static_cast<uint32_t>(seq_min(*high_rxt_, to) - from);
    }
  };
  SeqNum hole_end = snd_nxt;
  for (auto it = ranges_.rbegin(); it != ranges_.rend(); ++it) {
    if (it->right <= snd_una) break;
    const SackBlock r = clip(*it, snd_una, snd_nxt);
    if (r.size() == 0) continue;
    add_hole(r.right, hole_end);
    ++ranges_above;
    bytes_above += r.size();
    hole_end = r.left;
  }
  add_hole(snd_una, hole_end);
  return static_cast<uint32_t>(std::min<uint64_t>(pipe, std::numeric_limits<uint32_t>::max()));
}

NextSegment SackScoreboard::next_segment(SeqNum snd_una, SeqNum snd_nxt, uint32_t smss,
                                         uint32_t new_data_sendable) const {
  using Kind = NextSegment::Kind;
  if (smss == 0) return {};

  // Rules (1) and (3) look at the same octet: the lowest unSACKed one that is above HighRxt
  // "(1.a)" and below the highest SACKed octet "(1.b)", i.e. in a hole below some range.
  // IsLost() only falls as sequence numbers rise, so if that octet is not lost "(1.c)",
  // no higher one is, and rule (1) fails.
  uint32_t ranges_above = 0;
  uint64_t bytes_above = 0;
  for (const SackBlock& range : ranges_) {
    const SackBlock r = clip(range, snd_una, snd_nxt);
    if (r.size() == 0) continue;
    ++ranges_above;
    bytes_above += r.size();
  }
  std::optional<NextSegment> rule3;
  SeqNum hole_start = snd_una;
  for (const SackBlock& range : ranges_) {
    const SackBlock r = clip(range, snd_una, snd_nxt);
    if (r.size() == 0) continue;
    const SeqNum from = high_rxt_ ? seq_max(hole_start, *high_rxt_) : hole_start;
    if (from < r.left) {
      // "the sequence range of one segment of up to SMSS octets starting with S2": it stops
      // at the next SACKed range, which the receiver already holds.
      const uint32_t len = std::min(smss, static_cast<uint32_t>(r.left - from));
      if (lost_given(ranges_above, bytes_above, smss)) return {Kind::retransmit_lost, from, len};
      rule3 = NextSegment{Kind::retransmit_unsacked, from, len};
      break;
    }
    --ranges_above;
    bytes_above -= r.size();
    hole_start = r.right;
  }

  // "(2) If no sequence number 'S2' per rule (1) exists but there exists available unsent
  // data and the receiver's advertised window allows, the sequence range of one segment of
  // up to SMSS octets of previously unsent data starting with sequence number HighData+1
  // MUST be returned."
  if (new_data_sendable > 0) return {Kind::new_data, snd_nxt, std::min(smss, new_data_sendable)};

  // "(3) If the conditions for rules (1) and (2) fail, but there exists an unSACKed sequence
  // number 'S3' that meets the criteria for detecting loss given in steps (1.a) and (1.b)
  // above (specifically excluding step (1.c)), then one segment of up to SMSS octets
  // starting with S3 SHOULD be returned."
  if (rule3) return *rule3;

  // "(4) ... we provide the opportunity for a single "rescue" retransmission per entrance
  // into loss recovery. If HighACK is greater than RescueRxt (or RescueRxt is undefined),
  // then one segment of up to SMSS octets that MUST include the highest outstanding
  // unSACKed sequence number SHOULD be returned". With HighACK = snd_una - 1 and
  // rescue_rxt_ = RescueRxt + 1, the test is snd_una > rescue_rxt_.
  if (in_recovery_ && (!rescue_rxt_ || snd_una > *rescue_rxt_)) {
    // The top hole [top_start, top_end): below snd_nxt, or below a range reaching snd_nxt.
    SeqNum top_start = snd_una;
    SeqNum top_end = snd_nxt;
    for (auto it = ranges_.rbegin(); it != ranges_.rend(); ++it) {
      const SackBlock r = clip(*it, snd_una, snd_nxt);
      if (r.size() == 0) continue;
      if (r.right < top_end) {
        top_start = r.right;
        break;
      }
      top_end = r.left;
    }
    if (top_start < top_end) {
      const uint32_t len = std::min(smss, static_cast<uint32_t>(top_end - top_start));
      return {Kind::rescue_retransmit, top_end - len, len};
    }
  }
  // "(5) If the conditions for each of (1), (2), (3), and (4) are not met, then NextSeg ()
  // MUST indicate failure, and no segment is returned."
  return {};
}

bool SackScoreboard::may_enter_recovery(SeqNum snd_una) const {
  return !in_recovery_ && (!rto_recovery_point_ || snd_una >= *rto_recovery_point_);
}

NextSegment SackScoreboard::enter_recovery(SeqNum snd_una, SeqNum snd_nxt, uint32_t smss) {
  if (!may_enter_recovery(snd_una) || snd_nxt <= snd_una || smss == 0) return {};
  in_recovery_ = true;
  recovery_point_ = snd_nxt;  // "(4.1) RecoveryPoint = HighData"
  uint32_t len = std::min(smss, static_cast<uint32_t>(snd_nxt - snd_una));
  // Like rule (1), the retransmission stops where SACKed data begins.
  for (const SackBlock& range : ranges_) {
    const SackBlock r = clip(range, snd_una, snd_nxt);
    if (r.size() == 0) continue;
    if (snd_una < r.left) len = std::min(len, static_cast<uint32_t>(r.left - snd_una));
    break;
  }
  high_rxt_ = snd_una + len;
  rescue_rxt_ = snd_una + len;
  return {NextSegment::Kind::retransmit_lost, snd_una, len};
}

void SackScoreboard::on_sent(const NextSegment& sent) {
  if (!in_recovery_ || sent.len == 0) return;
  switch (sent.kind) {
    case NextSegment::Kind::retransmit_lost:
    case NextSegment::Kind::retransmit_unsacked: {
      const SeqNum end = sent.seq + sent.len;
      high_rxt_ = high_rxt_ ? seq_max(*high_rxt_, end) : end;
      break;
    }
    case NextSegment::Kind::rescue_retransmit:
      // "RescueRxt set to RecoveryPoint. HighRxt MUST NOT be updated."
      rescue_rxt_ = recovery_point_;
      break;
    case NextSegment::Kind::new_data:
    case NextSegment::Kind::none:
      break;
  }
}

void SackScoreboard::on_rto(SeqNum snd_nxt) {
  ranges_.clear();
  sacked_bytes_ = 0;
  in_recovery_ = false;
  high_rxt_.reset();
  rescue_rxt_.reset();
  // RFC 6675 section 5.1: "If an RTO occurs during loss recovery as specified in this
  // document, RecoveryPoint MUST be set to HighData. ... a new recovery phase ... MUST NOT be
  // initiated until HighACK is greater than or equal to the new value of RecoveryPoint."
  // Applied after any timeout, in or out of recovery (as RFC 6582's "recover" is).
  rto_recovery_point_ = snd_nxt;
}

std::optional<SeqNum> SackScoreboard::recovery_point() const {
  if (!in_recovery_) return std::nullopt;
  return recovery_point_;
}

bool SackScoreboard::is_sacked(SeqNum seq) const {
  const auto it = std::upper_bound(ranges_.begin(), ranges_.end(), seq,
                                   [](SeqNum s, const SackBlock& r) { return s < r.left; });
  return it != ranges_.begin() && std::prev(it)->contains(seq);
}

std::optional<SeqNum> SackScoreboard::highest_sacked() const {
  if (ranges_.empty()) return std::nullopt;
  return ranges_.back().right;
}

}  // namespace flowgate::tcp
