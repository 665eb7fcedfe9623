// A hashed timing wheel (Varghese and Lauck's scheme 6) for the many timers of many TCP
// connections: retransmission, delayed ACK, persist, keepalive, TIME-WAIT.
//
// Time is cut into ticks of `tick` from `start`; tick k covers (start + (k-1)*tick,
// start + k*tick]. A timer for `when` is due at tick e = ceil((when - start) / tick) and
// lives in slot e mod slots, with e itself stored, so a timer more than one rotation away
// simply stays in its slot until the wheel reaches e (no separate overflow list).
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
// Cost: schedule() and cancel() O(1). advance() visits only ticks that hold a due timer: it
// finds them with the same scan as next_deadline(), which walks slots forward from the current
// tick and stops at the first due one, or after one rotation (all slots and timers visited)
// jumps straight to the earliest timer, so advancing hours with few timers is cheap. The
// earliest tick is cached until the timer at it fires or is cancelled.
// Not thread-safe, const members included (next_deadline() fills that cache): one wheel per
// worker.
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
  // `slots` must be a power of two; `tick` positive.
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
    uint32_t prev = kNil;
    uint32_t next = kNil;  // also links the free list
    uint32_t generation = 0;
    uint32_t list = kNil;  // which list holds the node; kNil when free
  };
  struct List {
    uint32_t head = kNil;
    uint32_t tail = kNil;
  };

  // lists_[0, slots) are the wheel; then the two below.
  uint32_t due_list() const { return static_cast<uint32_t>(mask_ + 1); }  // overdue timers
  uint32_t firing_list() const { return static_cast<uint32_t>(mask_ + 2); }

  int64_t tick_ceil(Instant when) const;
  int64_t tick_floor(Instant now) const;
  Instant tick_instant(int64_t k) const;

  void push_back(uint32_t list, uint32_t i);
  void unlink(uint32_t i);
  void release(uint32_t i);
  bool valid(TimerHandle h) const;
  // Earliest e among timers in the wheel (not overdue or firing ones), kNever if none.
  int64_t earliest_tick() const;

  void begin_advance(Instant now);
  std::optional<uint64_t> pop_expired();

  Instant start_;
  Duration tick_;
  size_t mask_;
  std::vector<List> lists_;
  std::vector<Node> nodes_;
  uint32_t free_ = kNil;
  size_t live_ = 0;      // pending timers, all lists
  size_t in_wheel_ = 0;  // pending timers in lists_[0, slots)
  int64_t current_ = 0;  // every tick <= current_ has been processed
  int64_t target_ = 0;   // the tick advance() is processing up to
  bool advancing_ = false;
  mutable bool earliest_valid_ = true;
  mutable int64_t earliest_ = kNever;
};

}  // namespace flowgate::tcp
