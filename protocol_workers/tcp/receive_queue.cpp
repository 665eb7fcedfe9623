#include "tcp/receive_queue.hpp"

#include <algorithm>
#include <iterator>

namespace flowgate::tcp {

namespace {

uint32_t piece_size(const std::vector<std::byte>& bytes) {
  // A piece never holds more than kMaxWindow bytes: it lies inside the window.
  return static_cast<uint32_t>(bytes.size());
}

}  // namespace

ReceiveQueue::ReceiveQueue(size_t memory_limit, size_t max_pieces)
    : memory_limit_(memory_limit), max_pieces_(max_pieces) {}

void ReceiveQueue::clear() {
  pieces_.clear();
  recent_.clear();
  held_ = 0;
}

// Drops every held byte below `rcv_nxt` and keeps the anchor at most kMaxWindow behind it, so
// that every key (held bytes lie below rcv_nxt + kMaxWindow) stays below 2^31.
void ReceiveQueue::advance_to(SeqNum rcv_nxt) {
  while (!pieces_.empty()) {
    auto it = pieces_.begin();
    const SeqNum start = seq_of(it->first);
    const uint32_t size = piece_size(it->second);
    if (start + size <= rcv_nxt) {
      held_ -= size;
      pieces_.erase(it);
      continue;
    }
    if (start < rcv_nxt) {
      // The piece straddles rcv_nxt: its head is old data now delivered in order.
      const auto cut = static_cast<uint32_t>(rcv_nxt - start);
      auto node = pieces_.extract(it);
      node.mapped().erase(node.mapped().begin(), node.mapped().begin() + cut);
      node.key() += cut;
      pieces_.insert(std::move(node));
      held_ -= cut;
    }
    break;
  }
  std::erase_if(recent_, [rcv_nxt](SeqNum s) { return s < rcv_nxt; });
  if (pieces_.empty()) {
    anchor_ = rcv_nxt;
    return;
  }
  const int32_t lead = rcv_nxt - anchor_;
  if (lead < 0 || static_cast<uint32_t>(lead) > kMaxWindow) rebase(rcv_nxt);
}

// Re-keys every piece relative to `new_anchor`. All pieces lie at or after it (advance_to ran)
// and within 2^31 of it, so the order of the keys does not change.
void ReceiveQueue::rebase(SeqNum new_anchor) {
  const uint32_t delta = new_anchor.raw() - anchor_.raw();
  Pieces rekeyed;
  while (!pieces_.empty()) {
    auto node = pieces_.extract(pieces_.begin());
    node.key() -= delta;
    rekeyed.insert(rekeyed.end(), std::move(node));
  }
  pieces_.swap(rekeyed);
  anchor_ = new_anchor;
}

ReceiveQueue::InsertResult ReceiveQueue::insert(SeqNum rcv_nxt, uint32_t rcv_wnd, SeqNum seq,
                                                std::span<const std::byte> data) {
  advance_to(rcv_nxt);
  if (data.empty()) return InsertResult::duplicate;

  // RFC 9293 section 3.10.7.4: "One could tailor actual segments to fit this assumption by
  // trimming off any portions that lie outside the window". Offsets relative to rcv_nxt.
  const int64_t first = seq - rcv_nxt;
  const int64_t last = first + static_cast<int64_t>(data.size());
  if (last <= 0) return InsertResult::duplicate;  // entirely below RCV.NXT: old data
  const int64_t lo = std::max<int64_t>(first, 0);
  const int64_t hi = std::min<int64_t>(last, std::min(rcv_wnd, kMaxWindow));
  if (lo >= hi) return InsertResult::outside_window;

  const Key base = key_of(rcv_nxt);  // <= kMaxWindow after advance_to
  const Key klo = base + static_cast<uint32_t>(lo);
  const Key khi = base + static_cast<uint32_t>(hi);
  const auto skip = static_cast<size_t>(lo - first);  // bytes of `data` before klo

  // The gaps of [klo, khi) not covered by held pieces: only they are stored (held data wins).
  // Each gap remembers the piece ending exactly where it starts, if any, to append to it.
  struct Gap {
    Key from;
    Key to;
    Pieces::iterator pred;
  };
  std::vector<Gap> gaps;
  Key cursor = klo;
  auto pred = pieces_.end();
  auto it = pieces_.upper_bound(klo);
  if (it != pieces_.begin()) {
    const auto before = std::prev(it);
    const Key before_end = before->first + piece_size(before->second);
    if (before_end >= klo) {
      cursor = std::min(before_end, khi);
      pred = before;
    }
  }
  while (cursor < khi) {
    if (it == pieces_.end() || it->first >= khi) {
      gaps.push_back({cursor, khi, pred});
      break;
    }
    if (it->first > cursor) gaps.push_back({cursor, it->first, pred});
    cursor = std::min(it->first + piece_size(it->second), khi);
    pred = it;
    ++it;
  }

  size_t new_bytes = 0;
  for (const Gap& g : gaps) new_bytes += g.to - g.from;
  if (new_bytes == 0) {
    remember(seq_of(klo));
    return InsertResult::duplicate;
  }
  if (new_bytes > memory_limit_ - held_) return InsertResult::memory_limit;
  // Every gap but the first starts where a held piece ends, so at most one entry is added.
  if (gaps.front().pred == pieces_.end() && pieces_.size() >= max_pieces_) {
    return InsertResult::too_many_pieces;
  }

  for (const Gap& g : gaps) {
    const auto src = data.subspan(skip + (g.from - klo), g.to - g.from);
    if (g.pred != pieces_.end()) {
      g.pred->second.insert(g.pred->second.end(), src.begin(), src.end());
    } else {
      pieces_.emplace(g.from, std::vector<std::byte>(src.begin(), src.end()));
    }
  }
  held_ += new_bytes;
  remember(seq_of(klo));
  return InsertResult::stored;
}

// Makes the block holding `seq` (a byte of the segment just received) the most recent one.
// Older entries inside the same block are dropped: they would report the same block.
void ReceiveQueue::remember(SeqNum seq) {
  if (const auto block = block_containing(seq)) {
    std::erase_if(recent_, [&](SeqNum s) { return block->contains(s); });
  }
  recent_.insert(recent_.begin(), seq);
  if (recent_.size() > kSackHistory) recent_.pop_back();
}

std::optional<SackBlock> ReceiveQueue::block_containing(SeqNum seq) const {
  const Key k = key_of(seq);
  auto it = pieces_.upper_bound(k);
  if (it == pieces_.begin()) return std::nullopt;
  --it;
  Key left = it->first;
  Key right = it->first + piece_size(it->second);
  if (k >= right) return std::nullopt;
  // Adjacent pieces (a gap filled by a piece of its own) form one block.
  for (auto l = it; l != pieces_.begin();) {
    const auto p = std::prev(l);
    if (p->first + piece_size(p->second) != l->first) break;
    l = p;
    left = l->first;
  }
  for (auto r = std::next(it); r != pieces_.end() && r->first == right; ++r) {
    right += piece_size(r->second);
  }
  return SackBlock{seq_of(left), seq_of(right)};
}

std::vector<SackBlock> ReceiveQueue::sack_blocks(size_t max_blocks) const {
  std::vector<SackBlock> out;
  const auto listed = [&out](SeqNum s) {
    return std::any_of(out.begin(), out.end(), [s](const SackBlock& b) { return b.contains(s); });
  };
  // RFC 2018 section 4: the block of the most recent segment first, then "repeating the most
  // recently reported SACK blocks ... that are not subsets of a SACK block already included".
  for (const SeqNum s : recent_) {
    if (out.size() >= max_blocks) return out;
    if (listed(s)) continue;
    if (const auto block = block_containing(s)) out.push_back(*block);
  }
  // "The data receiver SHOULD include as many distinct SACK blocks as possible".
  for (auto it = pieces_.begin(); it != pieces_.end() && out.size() < max_blocks;) {
    const Key left = it->first;
    Key right = left + piece_size(it->second);
    for (++it; it != pieces_.end() && it->first == right; ++it) right += piece_size(it->second);
    if (!listed(seq_of(left))) out.push_back({seq_of(left), seq_of(right)});
  }
  return out;
}

size_t ReceiveQueue::take_contiguous(SeqNum rcv_nxt, std::vector<std::byte>& out) {
  advance_to(rcv_nxt);
  size_t taken = 0;
  Key expected = key_of(rcv_nxt);
  while (!pieces_.empty() && pieces_.begin()->first == expected) {
    const auto it = pieces_.begin();
    const uint32_t size = piece_size(it->second);
    out.insert(out.end(), it->second.begin(), it->second.end());
    expected += size;
    taken += size;
    held_ -= size;
    pieces_.erase(it);
  }
  // The SACK history and the anchor follow the new RCV.NXT.
  if (taken > 0) advance_to(rcv_nxt + static_cast<uint32_t>(taken));
  return taken;
}

}  // namespace flowgate::tcp
