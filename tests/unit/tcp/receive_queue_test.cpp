#include "tcp/receive_queue.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <ostream>
#include <random>
#include <vector>

namespace flowgate::tcp {

void PrintTo(const SackBlock& b, std::ostream* os) {
  *os << "[" << b.left.raw() << ", " << b.right.raw() << ")";
}

namespace {

using Result = ReceiveQueue::InsertResult;
constexpr uint32_t kWnd = 65535;

// The byte a sender with pattern `tag` puts at sequence number `s`: two senders' copies of the
// same sequence number differ, so a test sees which copy was kept.
std::byte pattern(SeqNum s, uint8_t tag) {
  return static_cast<std::byte>(static_cast<uint8_t>(s.raw() * 7u + (s.raw() >> 8)) ^ tag);
}

std::vector<std::byte> text(SeqNum seq, size_t len, uint8_t tag = 0) {
  std::vector<std::byte> out;
  for (size_t i = 0; i < len; ++i) out.push_back(pattern(seq + static_cast<uint32_t>(i), tag));
  return out;
}

std::vector<std::byte> concat(std::initializer_list<std::vector<std::byte>> parts) {
  std::vector<std::byte> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Result put(ReceiveQueue& q, SeqNum rcv_nxt, uint32_t seq, size_t len, uint8_t tag = 0,
           uint32_t wnd = kWnd) {
  const auto data = text(SeqNum(seq), len, tag);
  return q.insert(rcv_nxt, wnd, SeqNum(seq), data);
}

std::vector<std::byte> take(ReceiveQueue& q, SeqNum rcv_nxt) {
  std::vector<std::byte> out;
  const size_t n = q.take_contiguous(rcv_nxt, out);
  EXPECT_EQ(n, out.size());
  return out;
}

SackBlock blk(uint32_t left, uint32_t right) {
  return {SeqNum(left), SeqNum(right)};
}
using Blocks = std::vector<SackBlock>;

TEST(ReceiveQueue, HoldsDataAfterAHoleAndDeliversItOnceTheHoleIsFilled) {
  ReceiveQueue q(64 * 1024);
  const SeqNum rcv_nxt(1000);
  EXPECT_EQ(put(q, rcv_nxt, 1100, 100), Result::stored);
  EXPECT_EQ(put(q, rcv_nxt, 1200, 100), Result::stored);
  EXPECT_EQ(q.held_bytes(), 200u);
  EXPECT_EQ(q.piece_count(), 1u) << "in-order data after a piece is appended to it";
  EXPECT_TRUE(take(q, rcv_nxt).empty()) << "the hole at 1000 is still open";

  // The caller receives 1000..1100 in order and advances RCV.NXT past it.
  EXPECT_EQ(take(q, SeqNum(1100)), text(SeqNum(1100), 200));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.held_bytes(), 0u);
  EXPECT_TRUE(q.sack_blocks(4).empty());
}

TEST(ReceiveQueue, TakeContiguousStopsAtTheNextGap) {
  ReceiveQueue q(64 * 1024);
  const SeqNum rcv_nxt(1000);
  ASSERT_EQ(put(q, rcv_nxt, 1100, 100), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 1300, 100), Result::stored);
  EXPECT_EQ(take(q, SeqNum(1100)), text(SeqNum(1100), 100));
  EXPECT_EQ(q.held_bytes(), 100u);
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(1300, 1400)}));
  EXPECT_EQ(take(q, SeqNum(1300)), text(SeqNum(1300), 100));
  EXPECT_TRUE(q.empty());
}

TEST(ReceiveQueue, TakeContiguousJoinsSeveralHeldPieces) {
  ReceiveQueue q(64 * 1024);
  const SeqNum rcv_nxt(1000);
  // Arriving backwards, each segment becomes a piece of its own.
  ASSERT_EQ(put(q, rcv_nxt, 1400, 100), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 1300, 100), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 1200, 100), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 1600, 100), Result::stored);
  EXPECT_EQ(q.piece_count(), 4u);
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(1600, 1700), blk(1200, 1500)}))
      << "adjacent pieces are reported as one block";
  EXPECT_EQ(take(q, SeqNum(1200)), text(SeqNum(1200), 300));
  EXPECT_EQ(q.held_bytes(), 100u);
}

TEST(ReceiveQueue, RcvNxtMovingIntoHeldDataDropsTheBytesBelowIt) {
  ReceiveQueue q(64 * 1024);
  ASSERT_EQ(put(q, SeqNum(1000), 1100, 100), Result::stored);
  // An in-order segment 1000..1150 overlapped the held one; the caller delivered all of it.
  EXPECT_EQ(take(q, SeqNum(1150)), text(SeqNum(1150), 50));
  EXPECT_TRUE(q.empty());
}

TEST(ReceiveQueue, ExactDuplicateAndDataInsideHeldDataStoreNothing) {
  ReceiveQueue q(64 * 1024);
  const SeqNum rcv_nxt(1000);
  ASSERT_EQ(put(q, rcv_nxt, 2000, 100, 0x00), Result::stored);
  EXPECT_EQ(put(q, rcv_nxt, 2000, 100, 0x80), Result::duplicate);
  EXPECT_EQ(put(q, rcv_nxt, 2020, 30, 0x80), Result::duplicate);
  EXPECT_EQ(q.held_bytes(), 100u);
  EXPECT_EQ(take(q, SeqNum(2000)), text(SeqNum(2000), 100, 0x00)) << "held data wins";
}

TEST(ReceiveQueue, SegmentSpanningHeldDataStoresOnlyBothEnds) {
  ReceiveQueue q(64 * 1024);
  const SeqNum rcv_nxt(1000);
  ASSERT_EQ(put(q, rcv_nxt, 2000, 100, 0x00), Result::stored);
  EXPECT_EQ(put(q, rcv_nxt, 1950, 200, 0x80), Result::stored);
  EXPECT_EQ(q.held_bytes(), 200u);
  EXPECT_EQ(q.piece_count(), 2u) << "the tail is appended, the head is a new piece";
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(1950, 2150)}));
  EXPECT_EQ(take(q, SeqNum(1950)),
            concat({text(SeqNum(1950), 50, 0x80), text(SeqNum(2000), 100, 0x00),
                    text(SeqNum(2100), 50, 0x80)}));
}

TEST(ReceiveQueue, PartialOverlapOnEitherSideStoresOnlyTheNewPart) {
  ReceiveQueue q(64 * 1024);
  const SeqNum rcv_nxt(1000);
  ASSERT_EQ(put(q, rcv_nxt, 2000, 100, 0x00), Result::stored);
  EXPECT_EQ(put(q, rcv_nxt, 1980, 30, 0x80), Result::stored);  // 1980..2010: left
  EXPECT_EQ(q.held_bytes(), 120u);
  EXPECT_EQ(put(q, rcv_nxt, 2090, 40, 0x40), Result::stored);  // 2090..2130: right
  EXPECT_EQ(q.held_bytes(), 150u);
  EXPECT_EQ(take(q, SeqNum(1980)),
            concat({text(SeqNum(1980), 20, 0x80), text(SeqNum(2000), 100, 0x00),
                    text(SeqNum(2100), 30, 0x40)}));
}

TEST(ReceiveQueue, SegmentCoveringSeveralPiecesFillsEveryGap) {
  ReceiveQueue q(64 * 1024);
  const SeqNum rcv_nxt(1000);
  ASSERT_EQ(put(q, rcv_nxt, 2000, 100, 0x00), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 2200, 100, 0x00), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 2400, 50, 0x00), Result::stored);
  EXPECT_EQ(put(q, rcv_nxt, 1900, 600, 0x80), Result::stored);
  EXPECT_EQ(q.held_bytes(), 600u);
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(1900, 2500)}));
  EXPECT_EQ(take(q, SeqNum(1900)),
            concat({text(SeqNum(1900), 100, 0x80), text(SeqNum(2000), 100, 0x00),
                    text(SeqNum(2100), 100, 0x80), text(SeqNum(2200), 100, 0x00),
                    text(SeqNum(2300), 100, 0x80), text(SeqNum(2400), 50, 0x00),
                    text(SeqNum(2450), 50, 0x80)}));
}

TEST(ReceiveQueue, TrimsBytesBelowRcvNxtAndBeyondTheWindow) {
  ReceiveQueue q(64 * 1024);
  const SeqNum rcv_nxt(1000);
  EXPECT_EQ(put(q, rcv_nxt, 800, 200), Result::duplicate) << "wholly below RCV.NXT";
  EXPECT_EQ(put(q, rcv_nxt, 1400, 200, 0, 500), Result::stored);
  EXPECT_EQ(q.held_bytes(), 100u) << "1500..1600 lies beyond RCV.NXT + RCV.WND";
  EXPECT_EQ(put(q, rcv_nxt, 1500, 100, 0, 500), Result::outside_window);
  EXPECT_EQ(put(q, rcv_nxt, 1100, 10, 0, 0), Result::outside_window) << "zero window";
  EXPECT_EQ(q.insert(rcv_nxt, kWnd, SeqNum(1100), {}), Result::duplicate) << "no text";
  // A segment straddling RCV.NXT keeps its new part, which is then in order.
  EXPECT_EQ(put(q, rcv_nxt, 900, 200), Result::stored);
  EXPECT_EQ(take(q, rcv_nxt), text(SeqNum(1000), 100));
}

TEST(ReceiveQueue, WorksAcrossTheSequenceNumberWrap) {
  ReceiveQueue q(64 * 1024);
  const SeqNum rcv_nxt(0xffffff00u);
  // Out of order across 2^32: the piece after zero arrives first.
  ASSERT_EQ(put(q, rcv_nxt, 0x80u, 0x80), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 0xffffff80u, 0x100), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 0x200u, 0x10), Result::stored);
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(0x200u, 0x210u), blk(0xffffff80u, 0x100u)}));
  EXPECT_EQ(put(q, rcv_nxt, 0xfffffff0u, 0x20, 0x80), Result::duplicate);
  EXPECT_EQ(take(q, SeqNum(0xffffff80u)), text(SeqNum(0xffffff80u), 0x180));
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(0x200u, 0x210u)}));
  EXPECT_EQ(q.held_bytes(), 0x10u);
}

TEST(ReceiveQueue, StaysOrderedWhileRcvNxtTravelsSeveralTimesAroundTheSequenceSpace) {
  // Data is held the whole time, so the queue has to re-key its entries as RCV.NXT moves on.
  ReceiveQueue q(64 * 1024);
  constexpr uint32_t kStep = ReceiveQueue::kMaxWindow / 2;
  SeqNum rcv_nxt(0xfffff000u);
  SeqNum near = rcv_nxt + kStep;
  ASSERT_EQ(q.insert(rcv_nxt, ReceiveQueue::kMaxWindow, near, text(near, 100)), Result::stored);
  for (int i = 0; i < 20; ++i) {  // about 20 * 2^29 bytes: two and a half times around
    const SeqNum far = rcv_nxt + 2 * kStep - 200;
    ASSERT_EQ(q.insert(rcv_nxt, ReceiveQueue::kMaxWindow, far, text(far, 100)), Result::stored);
    ASSERT_EQ(q.sack_blocks(4), (Blocks{{far, far + 100}, {near, near + 100}})) << "step " << i;
    rcv_nxt = near;  // the hole before `near` was filled in order
    ASSERT_EQ(take(q, rcv_nxt), text(near, 100)) << "step " << i;
    rcv_nxt += 100;
    near = far;
    ASSERT_EQ(q.held_bytes(), 100u);
  }
  EXPECT_EQ(take(q, near), text(near, 100));
}

TEST(ReceiveQueue, MemoryLimitIsNeverPassedAndHeldDataIsNeverEvicted) {
  ReceiveQueue q(300);
  const SeqNum rcv_nxt(1000);
  ASSERT_EQ(put(q, rcv_nxt, 1100, 100), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 1300, 100), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 1500, 100), Result::stored);
  EXPECT_EQ(put(q, rcv_nxt, 1700, 100), Result::memory_limit);
  EXPECT_EQ(put(q, rcv_nxt, 1050, 50), Result::memory_limit)
      << "data nearer RCV.NXT does not evict data further away either";
  EXPECT_EQ(put(q, rcv_nxt, 1100, 150), Result::memory_limit)
      << "a segment that does not fit whole stores nothing";
  EXPECT_EQ(put(q, rcv_nxt, 1100, 100), Result::duplicate) << "no new bytes: fits";
  EXPECT_EQ(q.held_bytes(), 300u);
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(1100, 1200), blk(1500, 1600), blk(1300, 1400)}))
      << "the duplicate made 1100's block the most recent; nothing rejected was recorded";

  EXPECT_EQ(take(q, SeqNum(1100)).size(), 100u);
  EXPECT_EQ(put(q, SeqNum(1200), 1700, 100), Result::stored) << "room again";
  EXPECT_EQ(q.held_bytes(), 300u);
}

TEST(ReceiveQueue, PieceLimitBoundsEntriesButStillAllowsAppends) {
  ReceiveQueue q(64 * 1024, 2);
  const SeqNum rcv_nxt(1000);
  ASSERT_EQ(put(q, rcv_nxt, 1100, 100), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 1300, 100), Result::stored);
  EXPECT_EQ(put(q, rcv_nxt, 1500, 100), Result::too_many_pieces);
  EXPECT_EQ(put(q, rcv_nxt, 1200, 50), Result::stored);
  EXPECT_EQ(put(q, rcv_nxt, 1400, 50), Result::stored);
  EXPECT_EQ(q.piece_count(), 2u);
  EXPECT_EQ(q.held_bytes(), 300u);
}

// RFC 2018 section 6, the example with 500-byte segments from 5000 where "the 2nd, 4th, 6th,
// and 8th (last) segments are dropped", continued by the 4th and then the 2nd arriving.
TEST(ReceiveQueue, SackBlocksFollowRfc2018Examples) {
  ReceiveQueue q(64 * 1024);
  SeqNum rcv_nxt(5500);  // 5000..5500 arrived in order
  ASSERT_EQ(put(q, rcv_nxt, 6000, 500), Result::stored);
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(6000, 6500)}));
  ASSERT_EQ(put(q, rcv_nxt, 7000, 500), Result::stored);
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(7000, 7500), blk(6000, 6500)}));
  ASSERT_EQ(put(q, rcv_nxt, 8000, 500), Result::stored);
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(8000, 8500), blk(7000, 7500), blk(6000, 6500)}));

  // "Suppose at this point, the 4th packet is received out of order."
  ASSERT_EQ(put(q, rcv_nxt, 6500, 500), Result::stored);
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(6000, 7500), blk(8000, 8500)}));

  // "Suppose at this point, the 2nd segment is received": it advances the ACK to 7500.
  rcv_nxt = SeqNum(6000);
  rcv_nxt += static_cast<uint32_t>(take(q, rcv_nxt).size());
  EXPECT_EQ(rcv_nxt, SeqNum(7500));
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(8000, 8500)}));
}

TEST(ReceiveQueue, SackBlocksHonourMaxBlocksAndListTheMostRecentFirst) {
  ReceiveQueue q(64 * 1024);
  const SeqNum rcv_nxt(1000);
  for (uint32_t i = 0; i < 10; ++i) ASSERT_EQ(put(q, rcv_nxt, 2000 + i * 200, 100), Result::stored);
  EXPECT_TRUE(q.sack_blocks(0).empty());
  EXPECT_EQ(q.sack_blocks(1), (Blocks{blk(3800, 3900)}));
  EXPECT_EQ(q.sack_blocks(3), (Blocks{blk(3800, 3900), blk(3600, 3700), blk(3400, 3500)}));
  EXPECT_EQ(q.sack_blocks(4).size(), 4u);
  EXPECT_EQ(q.sack_blocks(100).size(), 10u) << "every distinct block when there is room";

  // A duplicate of an old block makes it the most recent again.
  EXPECT_EQ(put(q, rcv_nxt, 2200, 100), Result::duplicate);
  EXPECT_EQ(q.sack_blocks(3), (Blocks{blk(2200, 2300), blk(3800, 3900), blk(3600, 3700)}));
}

TEST(ReceiveQueue, SackBlocksFillFromTheLowestOnceHistoryRunsOut) {
  ReceiveQueue q(64 * 1024);
  const SeqNum rcv_nxt(1000);
  ASSERT_EQ(put(q, rcv_nxt, 3000, 100), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 2000, 100), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 4000, 100), Result::stored);
  // 2100..2200 joins 2000's block: the history now has two blocks, then the rest fills in.
  ASSERT_EQ(put(q, rcv_nxt, 2100, 100), Result::stored);
  ASSERT_EQ(put(q, rcv_nxt, 2150, 10), Result::duplicate);
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(2000, 2200), blk(4000, 4100), blk(3000, 3100)}));
}

TEST(ReceiveQueue, ClearForgetsEverything) {
  ReceiveQueue q(64 * 1024);
  ASSERT_EQ(put(q, SeqNum(1000), 1100, 100), Result::stored);
  q.clear();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.held_bytes(), 0u);
  EXPECT_TRUE(q.sack_blocks(4).empty());
  EXPECT_EQ(put(q, SeqNum(0x80000000u), 0x80000010u, 10), Result::stored);
  EXPECT_EQ(q.sack_blocks(4), (Blocks{blk(0x80000010u, 0x8000001au)}));
}

// Random segments against a byte-per-byte model, crossing the wrap; a fixed seed keeps it
// deterministic.
TEST(ReceiveQueue, MatchesAByteModelUnderRandomArrivals) {
  constexpr size_t kLimit = 2048;
  constexpr uint32_t kWindow = 4096;
  ReceiveQueue q(kLimit, 1u << 20);
  const SeqNum base(0xffffe000u);
  int64_t nxt = 0;                     // RCV.NXT as an offset from base
  std::map<int64_t, std::byte> model;  // held bytes by offset
  std::mt19937 rng(12345);
  const auto uniform = [&rng](int64_t lo, int64_t hi) {  // inclusive
    return lo + static_cast<int64_t>(rng() % static_cast<uint32_t>(hi - lo + 1));
  };
  const auto seq_at = [&base](int64_t off) { return base + static_cast<uint32_t>(off); };

  for (int step = 0; step < 4000; ++step) {
    if (uniform(0, 3) == 0) {
      // In-order data of `n` bytes reaches the caller directly, then the queue catches up.
      nxt += uniform(0, 300);
      model.erase(model.begin(), model.lower_bound(nxt));
      std::vector<std::byte> expected;
      for (auto it = model.begin(); it != model.end() && it->first == nxt;) {
        expected.push_back(it->second);
        it = model.erase(it);
        ++nxt;
      }
      std::vector<std::byte> out;
      ASSERT_EQ(q.take_contiguous(seq_at(nxt - static_cast<int64_t>(expected.size())), out),
                expected.size());
      ASSERT_EQ(out, expected);
    } else {
      const int64_t start = nxt + uniform(-200, kWindow + 100);
      const auto len = static_cast<size_t>(uniform(0, 300));
      const auto tag = static_cast<uint8_t>(uniform(0, 255));
      const auto data = text(seq_at(start), len, tag);
      const int64_t end = start + static_cast<int64_t>(len);
      const int64_t lo = std::max(start, nxt);
      const int64_t hi = std::min<int64_t>(end, nxt + kWindow);
      size_t fresh = 0;
      for (int64_t o = lo; o < hi; ++o) fresh += model.count(o) == 0 ? 1 : 0;
      Result want = Result::stored;
      if (len == 0 || end <= nxt) {
        want = Result::duplicate;
      } else if (lo >= hi) {
        want = Result::outside_window;
      } else if (fresh == 0) {
        want = Result::duplicate;
      } else if (fresh > kLimit - model.size()) {
        want = Result::memory_limit;
      }
      ASSERT_EQ(q.insert(seq_at(nxt), kWindow, seq_at(start), data), want) << "step " << step;
      if (want == Result::stored) {
        for (int64_t o = lo; o < hi; ++o) model.emplace(o, data[static_cast<size_t>(o - start)]);
      }
      const auto blocks = q.sack_blocks(4);
      if (want == Result::stored || (want == Result::duplicate && lo < hi)) {
        ASSERT_FALSE(blocks.empty());
        EXPECT_TRUE(blocks.front().contains(seq_at(lo))) << "step " << step;
      }
    }
    ASSERT_EQ(q.held_bytes(), model.size());
    ASSERT_LE(q.held_bytes(), kLimit);
    // Every reported block is held, maximal, and distinct from the others.
    const auto blocks = q.sack_blocks(4);
    for (size_t i = 0; i < blocks.size(); ++i) {
      const int64_t l = nxt + (blocks[i].left - seq_at(nxt));
      const int64_t r = nxt + (blocks[i].right - seq_at(nxt));
      ASSERT_LT(l, r);
      for (int64_t o = l; o < r; ++o) ASSERT_EQ(model.count(o), 1u) << "step " << step;
      ASSERT_EQ(model.count(l - 1), 0u);
      ASSERT_EQ(model.count(r), 0u);
      for (size_t j = 0; j < i; ++j) {
        ASSERT_FALSE(blocks[j].left < blocks[i].right && blocks[i].left < blocks[j].right);
      }
    }
  }
}

}  // namespace
}  // namespace flowgate::tcp
