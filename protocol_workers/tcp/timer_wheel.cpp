#include "tcp/timer_wheel.hpp"

#include <algorithm>
#include <bit>
#include <cassert>

namespace flowgate::tcp {

TimerWheel::TimerWheel(Instant start, Duration tick, size_t slots)
    : start_(start),
      tick_(tick),
      mask_(slots - 1),
      lists_(slots + 2),
      occupied_((slots + 63) / 64) {
  assert(tick.count() > 0);
  assert(slots > 0 && (slots & (slots - 1)) == 0 && "slots must be a power of two");
  assert(slots <= 64 * 64 && "two levels of 64-bit occupancy words");
}

int64_t TimerWheel::tick_ceil(Instant when) const {
  const int64_t d = (when - start_).count();
  const int64_t t = tick_.count();
  // C++ division truncates toward zero: that is the ceiling for d <= 0.
  return d / t + (d % t > 0 ? 1 : 0);
}

int64_t TimerWheel::tick_floor(Instant now) const {
  const int64_t d = (now - start_).count();
  const int64_t t = tick_.count();
  return d / t - (d % t < 0 ? 1 : 0);
}

Instant TimerWheel::tick_instant(int64_t k) const {
  const int64_t t = tick_.count();
  const int64_t room = (Instant::max() - start_).count() / t;  // ticks before Instant::max()
  if (k > room) return Instant::max();
  return start_ + k * tick_;
}

void TimerWheel::push_back(uint32_t list, uint32_t i) {
  List& l = lists_[list];
  Node& n = nodes_[i];
  n.list = list;
  n.prev = l.tail;
  n.next = kNil;
  if (l.tail != kNil) {
    nodes_[l.tail].next = i;
  } else {
    l.head = i;
    if (list <= mask_) {
      occupied_[list / 64] |= uint64_t{1} << (list % 64);
      occupied_words_ |= uint64_t{1} << (list / 64);
    }
  }
  l.tail = i;
}

void TimerWheel::unlink(uint32_t i) {
  Node& n = nodes_[i];
  if (n.list == heap_list()) {
    heap_remove(i);
    n.list = kNil;
    return;
  }
  List& l = lists_[n.list];
  if (n.prev != kNil) {
    nodes_[n.prev].next = n.next;
  } else {
    l.head = n.next;
  }
  if (n.next != kNil) {
    nodes_[n.next].prev = n.prev;
  } else {
    l.tail = n.prev;
  }
  if (n.list <= mask_ && l.head == kNil) {
    uint64_t& word = occupied_[n.list / 64];
    word &= ~(uint64_t{1} << (n.list % 64));
    if (word == 0) occupied_words_ &= ~(uint64_t{1} << (n.list / 64));
  }
  n.prev = n.next = kNil;
  n.list = kNil;
}

void TimerWheel::release(uint32_t i) {
  Node& n = nodes_[i];
  ++n.generation;  // every handle to this use of the node goes stale
  n.next = free_;
  free_ = i;
  --live_;
}

bool TimerWheel::valid(TimerHandle h) const {
  return h.index < nodes_.size() && nodes_[h.index].list != kNil &&
         nodes_[h.index].generation == h.generation;
}

// --- the overflow heap ------------------------------------------------------------------------

bool TimerWheel::heap_less(uint32_t a, uint32_t b) const {
  const Node& x = nodes_[a];
  const Node& y = nodes_[b];
  return x.expiry != y.expiry ? x.expiry < y.expiry : x.order < y.order;
}

void TimerWheel::heap_set(size_t pos, uint32_t i) {
  heap_[pos] = i;
  nodes_[i].prev = static_cast<uint32_t>(pos);
}

void TimerWheel::heap_sift_up(size_t pos) {
  const uint32_t i = heap_[pos];
  while (pos > 0) {
    const size_t parent = (pos - 1) / 2;
    if (!heap_less(i, heap_[parent])) break;
    heap_set(pos, heap_[parent]);
    pos = parent;
  }
  heap_set(pos, i);
}

void TimerWheel::heap_sift_down(size_t pos) {
  const uint32_t i = heap_[pos];
  const size_t n = heap_.size();
  for (;;) {
    size_t child = 2 * pos + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_less(heap_[child + 1], heap_[child])) ++child;
    if (!heap_less(heap_[child], i)) break;
    heap_set(pos, heap_[child]);
    pos = child;
  }
  heap_set(pos, i);
}

void TimerWheel::heap_push(uint32_t i) {
  nodes_[i].list = heap_list();
  nodes_[i].next = kNil;
  heap_.push_back(i);
  heap_sift_up(heap_.size() - 1);
}

void TimerWheel::heap_remove(uint32_t i) {
  const size_t pos = nodes_[i].prev;
  const uint32_t last = heap_.back();
  heap_.pop_back();
  nodes_[i].prev = kNil;
  if (last == i) return;  // it was the last element
  heap_set(pos, last);
  if (pos > 0 && heap_less(last, heap_[(pos - 1) / 2])) {
    heap_sift_up(pos);
  } else {
    heap_sift_down(pos);
  }
}

void TimerWheel::pull_from_heap() {
  const int64_t horizon = current_ + static_cast<int64_t>(mask_ + 1);
  while (!heap_.empty() && nodes_[heap_.front()].expiry <= horizon) {
    const uint32_t i = heap_.front();
    unlink(i);
    place(i);
  }
}

// --- scheduling ---------------------------------------------------------------------------------

void TimerWheel::place(uint32_t i) {
  const int64_t e = nodes_[i].expiry;
  if (e <= current_) {
    // Behind the wheel: the next advance() fires it (see the header).
    push_back(due_list(), i);
  } else if (e - current_ <= static_cast<int64_t>(mask_ + 1)) {
    push_back(static_cast<uint32_t>(static_cast<uint64_t>(e) & mask_), i);
  } else {
    heap_push(i);
  }
}

TimerHandle TimerWheel::schedule(Instant when, uint64_t cookie) {
  uint32_t i = free_;
  if (i != kNil) {
    free_ = nodes_[i].next;
  } else {
    assert(nodes_.size() < kNil);
    i = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& n = nodes_[i];
  n.expiry = tick_ceil(when);
  n.cookie = cookie;
  n.order = scheduled_++;
  ++live_;
  place(i);
  return {i, n.generation};
}

bool TimerWheel::cancel(TimerHandle h) {
  if (!valid(h)) return false;
  unlink(h.index);
  release(h.index);
  return true;
}

bool TimerWheel::pending(TimerHandle h) const {
  return valid(h);
}

int64_t TimerWheel::earliest_tick() const {
  // Slots hold the ticks current_+1 .. current_+slots, one tick each, in slot order from
  // current_+1 round to current_: the first occupied slot from there holds the earliest, and
  // every timer in the heap is due after all of them.
  const auto first_in = [&](size_t word) {
    const size_t slot = word * 64 + static_cast<size_t>(std::countr_zero(occupied_[word]));
    return nodes_[lists_[slot].head].expiry;
  };
  const size_t from = static_cast<size_t>(static_cast<uint64_t>(current_ + 1) & mask_);
  const size_t w = from / 64;
  if (const uint64_t bits = occupied_[w] & (~uint64_t{0} << (from % 64)); bits != 0) {
    return nodes_[lists_[w * 64 + static_cast<size_t>(std::countr_zero(bits))].head].expiry;
  }
  // Words after w, then round from word 0 to w itself (whose slots >= from are empty).
  const uint64_t after = w == 63 ? 0 : occupied_words_ & (~uint64_t{0} << (w + 1));
  if (after != 0) return first_in(static_cast<size_t>(std::countr_zero(after)));
  if (occupied_words_ != 0) return first_in(static_cast<size_t>(std::countr_zero(occupied_words_)));
  return heap_.empty() ? kNever : nodes_[heap_.front()].expiry;
}

std::optional<Instant> TimerWheel::next_deadline() const {
  if (live_ == 0) return std::nullopt;
  int64_t best = earliest_tick();
  for (const uint32_t list : {due_list(), firing_list()}) {
    for (uint32_t i = lists_[list].head; i != kNil; i = nodes_[i].next) {
      best = std::min(best, nodes_[i].expiry);
    }
  }
  return tick_instant(best);
}

void TimerWheel::begin_advance(Instant now) {
  assert(!advancing_ && "advance() called from inside an advance() callback");
  advancing_ = true;
  target_ = std::max(current_, tick_floor(now));
  // Overdue timers fire first, in the order they were scheduled. Timers that callbacks make
  // overdue from here on go to the (now empty) due list, for the next advance().
  while (lists_[due_list()].head != kNil) {
    const uint32_t i = lists_[due_list()].head;
    unlink(i);
    push_back(firing_list(), i);
  }
}

std::optional<uint64_t> TimerWheel::pop_expired() {
  for (;;) {
    if (const uint32_t i = lists_[firing_list()].head; i != kNil) {
      const uint64_t cookie = nodes_[i].cookie;
      unlink(i);
      release(i);  // before the callback runs: its handle is already stale
      return cookie;
    }
    const int64_t m = earliest_tick();
    if (m > target_) {
      current_ = target_;
      pull_from_heap();
      advancing_ = false;
      return std::nullopt;
    }
    // Tick m is the next with a due timer (nothing is due between current_ and m). First
    // the heap's timers due by m - 1 + slots join their slots, so m's own are all in m's slot
    // (those from the heap were scheduled before any already there: pull_from_heap() at every
    // earlier move of current_ guarantees it). Then all of m's move, in schedule order, to
    // the firing list, where a callback can still cancel them; then the rotation's new tick,
    // m + slots, is filled from the heap, into the slot m's timers have left.
    current_ = m - 1;
    pull_from_heap();
    current_ = m;
    const uint32_t slot = static_cast<uint32_t>(static_cast<uint64_t>(m) & mask_);
    while (lists_[slot].head != kNil) {
      const uint32_t i = lists_[slot].head;
      assert(nodes_[i].expiry == m);
      unlink(i);
      push_back(firing_list(), i);
    }
    pull_from_heap();
  }
}

}  // namespace flowgate::tcp
