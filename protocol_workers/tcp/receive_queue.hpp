// Out-of-order receive queue: segment text that arrived ahead of RCV.NXT, held until the hole
// before it is filled (RFC 9293 section 3.10.7.4, "Segments with higher beginning sequence
// numbers SHOULD be held for later processing"), and the SACK blocks that describe it
// (RFC 2018 section 4). A pure data structure: sequence numbers in, bytes and blocks out.
//
// Policy, where the RFCs leave a choice:
// - Overlap: bytes already held win; only the parts of a new segment that fill gaps are
//   stored. RFC 9293 section 3.10.7.4 assumes "the idealized segment that begins at RCV.NXT
//   and does not exceed the window" and leaves the choice of which copy of a byte to keep to
//   the implementation; keeping the first copy means held bytes never change once stored,
//   so a SACK block, once reported, always describes the same bytes.
// - Trimming: bytes below RCV.NXT are old duplicates and are dropped; bytes at or beyond
//   RCV.NXT + RCV.WND are outside the window and are dropped (RFC 9293: "trimming off any
//   portions that lie outside the window"). Bytes starting exactly at RCV.NXT are accepted
//   too and come straight back from the next take_contiguous().
// - Memory: `memory_limit` caps the payload bytes held (held_bytes() <= memory_limit at all
//   times). A segment whose new bytes would pass it is dropped whole (memory_limit), and
//   held data is never evicted to make room: RFC 2018 section 8 permits a receiver to
//   discard SACKed data ("reneging") but says "such discarding of SACKed packets is
//   discouraged", and a sender must then wait for a retransmission timeout to recover it.
//   So data further from RCV.NXT never displaces data closer to it, nor the reverse; the
//   dropped segment is simply retransmitted later.
// - Pieces: each stored run of bytes is one map entry. New bytes that continue an entry are
//   appended to it, so every insert adds at most one entry; `max_pieces` caps the entries so
//   per-entry overhead stays bounded even with tiny segments (too_many_pieces).
// - Wrap safety: entries are keyed by their offset from an anchor sequence number that never
//   lies after RCV.NXT, so map order is sequence order across 2^32; the anchor follows
//   RCV.NXT (re-keying at most once per 2^30 bytes of progress), and every held byte lies
//   within the window, below 2^31 from the anchor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "tcp/sack.hpp"
#include "tcp/seq.hpp"

namespace flowgate::tcp {

class ReceiveQueue {
 public:
  // Why insert() stored nothing, or that it stored something. Every drop reason is one
  // counter for the caller.
  enum class InsertResult {
    stored,           // at least one new byte is now held
    duplicate,        // nothing new: every byte was already held or below RCV.NXT (or none)
    outside_window,   // no byte lies within [RCV.NXT, RCV.NXT + RCV.WND)
    memory_limit,     // the new bytes would pass memory_limit: nothing stored
    too_many_pieces,  // a new entry would pass max_pieces: nothing stored
  };

  static constexpr size_t kDefaultMaxPieces = 1024;
  // Windows are at most 65535 << 14 bytes (RFC 7323 section 2.3); larger RCV.WND values are
  // clamped to this, which keeps every held byte within 2^31 of RCV.NXT.
  static constexpr uint32_t kMaxWindow = 1u << 30;
  // Most recently received segments remembered for SACK reporting (RFC 2018 section 4).
  static constexpr size_t kSackHistory = 8;

  explicit ReceiveQueue(size_t memory_limit, size_t max_pieces = kDefaultMaxPieces);

  // Stores the bytes of `data` (the text of a segment starting at `seq`) that lie in
  // [rcv_nxt, rcv_nxt + rcv_wnd) and are not held yet. When anything of the segment is held
  // afterwards (stored or duplicate of held bytes), the block containing it becomes the most
  // recent one for sack_blocks(). `rcv_nxt` must never move backwards between calls.
  InsertResult insert(SeqNum rcv_nxt, uint32_t rcv_wnd, SeqNum seq,
                      std::span<const std::byte> data);

  // After RCV.NXT advanced by in-order data: discards every held byte below `rcv_nxt`, then
  // appends to `out` the held bytes contiguous from exactly `rcv_nxt` and removes them.
  // Returns how many were appended; the caller advances RCV.NXT by that much.
  size_t take_contiguous(SeqNum rcv_nxt, std::vector<std::byte>& out);

  // RFC 2018 section 4: up to `max_blocks` blocks of held data (the caller computes how many
  // fit beside its other options: 4 without timestamps, 3 with). "The first SACK block ...
  // MUST specify the contiguous block of data containing the segment which triggered this
  // ACK, unless that segment advanced the Acknowledgment Number field"; the next ones repeat
  // the blocks of the previously received segments, most recent first, skipping blocks
  // already listed; then, since the receiver "SHOULD include as many distinct SACK blocks as
  // possible", any other held blocks, lowest first. Blocks are maximal (adjacent entries are
  // reported as one) and disjoint.
  std::vector<SackBlock> sack_blocks(size_t max_blocks) const;

  size_t held_bytes() const { return held_; }
  bool empty() const { return pieces_.empty(); }
  size_t piece_count() const { return pieces_.size(); }
  size_t memory_limit() const { return memory_limit_; }

  // Connection teardown: drops everything.
  void clear();

 private:
  using Key = uint32_t;  // offset of a piece's first byte from anchor_
  using Pieces = std::map<Key, std::vector<std::byte>>;

  void advance_to(SeqNum rcv_nxt);
  void rebase(SeqNum new_anchor);
  void remember(SeqNum seq);
  std::optional<SackBlock> block_containing(SeqNum seq) const;

  Key key_of(SeqNum s) const { return s.raw() - anchor_.raw(); }
  SeqNum seq_of(Key k) const { return anchor_ + k; }

  size_t memory_limit_;
  size_t max_pieces_;
  size_t held_ = 0;
  SeqNum anchor_;
  Pieces pieces_;
  // A byte of each recently received segment, most recent first; every entry is held.
  std::vector<SeqNum> recent_;
};

// The out-of-order queue as a Connection holds it: allocated while it holds bytes, freed
// when it holds none (a segment filled the last hole, or teardown). An empty queue behaves
// as a fresh one: insert() first moves the anchor to RCV.NXT when nothing is held, and the
// recent-block history names held bytes only.
class ColdReceiveQueue {
 public:
  using InsertResult = ReceiveQueue::InsertResult;

  explicit ColdReceiveQueue(size_t memory_limit) : memory_limit_(memory_limit) {}

  InsertResult insert(SeqNum rcv_nxt, uint32_t rcv_wnd, SeqNum seq,
                      std::span<const std::byte> data) {
    if (!q_) q_ = std::make_unique<ReceiveQueue>(memory_limit_);
    const InsertResult r = q_->insert(rcv_nxt, rcv_wnd, seq, data);
    release_if_empty();
    return r;
  }
  size_t take_contiguous(SeqNum rcv_nxt, std::vector<std::byte>& out) {
    if (!q_) return 0;
    const size_t n = q_->take_contiguous(rcv_nxt, out);
    release_if_empty();
    return n;
  }
  std::vector<SackBlock> sack_blocks(size_t max_blocks) const {
    return q_ ? q_->sack_blocks(max_blocks) : std::vector<SackBlock>{};
  }
  size_t held_bytes() const { return q_ ? q_->held_bytes() : 0; }
  bool empty() const { return !q_ || q_->empty(); }
  size_t piece_count() const { return q_ ? q_->piece_count() : 0; }
  size_t memory_limit() const { return memory_limit_; }
  bool allocated() const { return q_ != nullptr; }
  void clear() { q_.reset(); }

 private:
  void release_if_empty() {
    if (q_->empty()) q_.reset();
  }

  std::unique_ptr<ReceiveQueue> q_;
  size_t memory_limit_;
};

}  // namespace flowgate::tcp
