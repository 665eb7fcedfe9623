// A hashed timing wheel (Varghese and Lauck's scheme 6) for the many timers of many TCP
// connections: retransmission, delayed ACK, persist, keepalive, TIME-WAIT; with an overflow
// heap for the timers beyond one rotation.
//
// Time is cut into ticks of `tick` from `start`; tick k covers (start + (k-1)*tick,
// start + k*tick]. A timer for `when` is due at tick e = ceil((when - start) / tick). The
// wheel's slots hold only the timers of the coming rotation, e in (current, current + slots],
// timer e in slot e mod slots: so a slot holds the timers of one tick, and the earliest is
// the first occupied slot after the current tick (a bitmap finds it). Timers further away
// wait in a min-heap by (e, order of scheduling) and move into their slot as the wheel
// turns to within a rotation of them. A busy worker after close-heavy load holds ~10^5
// TIME-WAIT timers a minute out; they cost O(log n) each, once, and nothing per tick.
//
// Guarantees:
// - A timer never fires early and fires in the first advance(now) with now >= start + e*tick,
//   i.e. `when` rounded up to the tick. A timer whose rounded time is already behind the
//   wheel (when <= the last advance's now, rounded down to the tick) fires in the next
//   advance(), whatever its now.
// - Within one advance(), timers fire in order of e; timers with equal e in the order they
//   were scheduled. Overdue timers (previous rule) fire first, in schedule order.
// - A timer is removed before its callback runs: cancel() of its own handle returns false.
// - From inside a callback, schedule() and cancel() may be called (advance() may not):
//   . a cancelled timer that has not fired yet, even one due in this advance(), never fires;
//   . a new timer due after the wheel's current tick (the tick being fired; while overdue
//     timers fire, the tick the previous advance reached) and by this advance's now fires
//     later in this same advance(), in order;
//   . a new timer due at or before the wheel's current tick (e.g. "now") is overdue: it fires
//     in the NEXT advance(). So a callback re-arming itself for "now" cannot make advance()
//     spin, while one re-arming for a later tick within `now` runs again in this advance().
// - next_deadline() is exact: start + e*tick of the earliest pending timer (for an overdue
//   timer that instant is <= the last advance's now: call advance() at once).
// - `now` passed to advance() must not go backwards; an earlier now only fires overdue timers.
//
// Cost: schedule() and cancel() O(1) within a rotation, O(log far timers) beyond it.
// next_deadline() O(1) plus the overdue timers (two levels of occupancy bits); advance() visits
// only ticks that hold a due timer, so advancing hours with few timers is cheap. Not thread-safe:
// one wheel per worker.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "stack/clock.hpp"

namespace flowgate::tcp {

// Names one scheduled timer. Once the timer fires or is cancelled its slot may be reused, but
// the generation changes, so an old handle no longer names anything (cancel() returns false).
struct TimerHandle {
  uint32_t index = std::numeric_limits<uint32_t>::max();
  uint32_t generation = 0;
  bool operator==(const TimerHandle&) const = default;
};

class TimerWheel {
 public:
  // `slots` must be a power of two, at most 4096; `tick` positive.
  explicit TimerWheel(Instant start, Duration tick = std::chrono::milliseconds(1),
                      size_t slots = 4096);

  // Arms a timer that calls back with `cookie` (e.g. a connection id and timer kind).
  TimerHandle schedule(Instant when, uint64_t cookie);
  // Disarms a pending timer: true if it was pending, false for a fired, cancelled or
  // default-constructed handle.
  bool cancel(TimerHandle h);
  bool pending(TimerHandle h) const;

  // Fires every timer due by `now`, calling on_expire(cookie) for each (see the guarantees
  // above). Returns how many fired.
  template <typename OnExpire>
  size_t advance(Instant now, OnExpire&& on_expire) {
    begin_advance(now);
    size_t fired = 0;
    while (const std::optional<uint64_t> cookie = pop_expired()) {
      ++fired;
      on_expire(*cookie);
    }
    return fired;
  }

  // The time at which the earliest pending timer becomes due; nullopt if none is pending.
  std::optional<Instant> next_deadline() const;
  size_t size() const { return live_; }
  Duration tick() const { return tick_; }

 private:
  static constexpr uint32_t kNil = std::numeric_limits<uint32_t>::max();
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

  struct Node {
    int64_t expiry = 0;  // e, the tick at which the timer is due
    uint64_t cookie = 0;
    uint64_t order = 0;    // when it was scheduled: orders equal e in the heap
    uint32_t prev = kNil;  // in the heap: the node's index in heap_
    uint32_t next = kNil;  // also links the free list
    uint32_t generation = 0;
    uint32_t list = kNil;  // which list holds the node (or heap_list()); kNil when free
  };
  struct List {
    uint32_t head = kNil;
    uint32_t tail = kNil;
  };

  // lists_[0, slots) are the wheel; then the two below.
  uint32_t due_list() const { return static_cast<uint32_t>(mask_ + 1); }  // overdue timers
  uint32_t firing_list() const { return static_cast<uint32_t>(mask_ + 2); }
  // Not a list: the node is in heap_.
  uint32_t heap_list() const { return static_cast<uint32_t>(mask_ + 3); }

  int64_t tick_ceil(Instant when) const;
  int64_t tick_floor(Instant now) const;
  Instant tick_instant(int64_t k) const;

  void push_back(uint32_t list, uint32_t i);
  void unlink(uint32_t i);
  void release(uint32_t i);
  bool valid(TimerHandle h) const;
  // Earliest e among timers in the slots or the heap (not overdue or firing ones), kNever if
  // none.
  int64_t earliest_tick() const;
  // Where a timer due at e goes now: the due list, its slot, or the heap.
  void place(uint32_t i);
  // Moves the heap's timers due within a rotation of current_ into their slots. Called
  // whenever current_ moves: the heap then never holds a timer that a later schedule() would
  // put straight into a slot, which keeps equal e in schedule order.
  void pull_from_heap();

  bool heap_less(uint32_t a, uint32_t b) const;
  void heap_set(size_t pos, uint32_t i);
  void heap_push(uint32_t i);
  void heap_remove(uint32_t i);
  void heap_sift_up(size_t pos);
  void heap_sift_down(size_t pos);

  void begin_advance(Instant now);
  std::optional<uint64_t> pop_expired();

  Instant start_;
  Duration tick_;
  size_t mask_;
  std::vector<List> lists_;
  std::vector<uint64_t> occupied_;  // bit s: lists_[s] is not empty, for s < slots
  uint64_t occupied_words_ = 0;     // bit w: occupied_[w] != 0
  std::vector<Node> nodes_;
  std::vector<uint32_t> heap_;  // nodes due beyond the rotation, a min-heap by (expiry, order)
  uint32_t free_ = kNil;
  uint64_t scheduled_ = 0;  // schedule() calls so far: the next Node::order
  size_t live_ = 0;         // pending timers, all lists and the heap
  int64_t current_ = 0;     // every tick <= current_ has been processed
  int64_t target_ = 0;      // the tick advance() is processing up to
  bool advancing_ = false;
};

}  // namespace flowgate::tcp
