#include "tcp/timer_wheel.hpp"

#include <algorithm>
#include <cassert>

namespace flowgate::tcp {

TimerWheel::TimerWheel(Instant start, Duration tick, size_t slots)
    : start_(start), tick_(tick), mask_(slots - 1), lists_(slots + 2) {
  assert(tick.count() > 0);
  assert(slots > 0 && (slots & (slots - 1)) == 0 && "slots must be a power of two");
  assert(slots + 2 < kNil);
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
  }
  l.tail = i;
  if (list <= mask_) ++in_wheel_;
}

void TimerWheel::unlink(uint32_t i) {
  Node& n = nodes_[i];
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
  if (n.list <= mask_) --in_wheel_;
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

TimerHandle TimerWheel::schedule(Instant when, uint64_t cookie) {
  uint32_t i = free_;
  if (i != kNil) {
    free_ = nodes_[i].next;
  } else {
    assert(nodes_.size() < kNil);
    i = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  const int64_t e = tick_ceil(when);
  nodes_[i].expiry = e;
  nodes_[i].cookie = cookie;
  ++live_;
  if (e <= current_) {
    // Behind the wheel: the next advance() fires it (see the header).
    push_back(due_list(), i);
  } else {
    push_back(static_cast<uint32_t>(static_cast<uint64_t>(e) & mask_), i);
    if (earliest_valid_) earliest_ = std::min(earliest_, e);
  }
  return {i, nodes_[i].generation};
}

bool TimerWheel::cancel(TimerHandle h) {
  if (!valid(h)) return false;
  const Node& n = nodes_[h.index];
  if (n.list <= mask_ && n.expiry == earliest_) earliest_valid_ = false;
  unlink(h.index);
  release(h.index);
  return true;
}

bool TimerWheel::pending(TimerHandle h) const {
  return valid(h);
}

int64_t TimerWheel::earliest_tick() const {
  if (earliest_valid_) return earliest_;
  // Every timer in the wheel is due after current_, and a timer due at tick e sits in slot
  // e & mask_. Walking ticks current_+1, current_+2, ... the first slot holding a timer due
  // at exactly that tick gives the minimum; if one rotation finds none, every timer has been
  // seen and the minimum of their ticks is the answer.
  int64_t best = kNever;
  const auto slots = static_cast<int64_t>(mask_ + 1);
  for (int64_t k = current_ + 1; in_wheel_ > 0 && k <= current_ + slots; ++k) {
    const List& l = lists_[static_cast<uint64_t>(k) & mask_];
    for (uint32_t i = l.head; i != kNil; i = nodes_[i].next) {
      best = std::min(best, nodes_[i].expiry);
    }
    if (best == k) break;
  }
  earliest_ = best;
  earliest_valid_ = true;
  return best;
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
      advancing_ = false;
      return std::nullopt;
    }
    // Tick m is the next with a due timer: move all of them (in schedule order) to the firing
    // list, where a callback can still cancel them.
    current_ = m;
    const uint32_t slot = static_cast<uint32_t>(static_cast<uint64_t>(m) & mask_);
    for (uint32_t i = lists_[slot].head; i != kNil;) {
      const uint32_t next = nodes_[i].next;
      if (nodes_[i].expiry == m) {
        unlink(i);
        push_back(firing_list(), i);
      }
      i = next;
    }
    earliest_valid_ = false;
  }
}

}  // namespace flowgate::tcp
