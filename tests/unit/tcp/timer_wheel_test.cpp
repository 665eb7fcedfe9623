#include "tcp/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <set>
#include <vector>

namespace flowgate::tcp {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// Collects fired cookies.
struct Fired {
  std::vector<uint64_t> cookies;
  void operator()(uint64_t c) { cookies.push_back(c); }
};

std::vector<uint64_t> advance(TimerWheel& w, Instant now) {
  Fired f;
  w.advance(now, [&](uint64_t c) { f(c); });
  return f.cookies;
}

using Cookies = std::vector<uint64_t>;

TEST(TimerWheel, FiresInDeadlineOrderThenScheduleOrder) {
  const ManualClock clock;
  const Instant t0 = clock.now();
  TimerWheel w(t0);
  w.schedule(t0 + milliseconds(30), 3);
  w.schedule(t0 + milliseconds(10), 1);
  w.schedule(t0 + milliseconds(20), 2);
  w.schedule(t0 + milliseconds(10), 11);   // same tick as 1, scheduled later
  w.schedule(t0 + microseconds(9500), 0);  // rounds up to the 10 ms tick, yet scheduled last
  EXPECT_EQ(w.size(), 5u);
  EXPECT_EQ(advance(w, t0 + milliseconds(25)), (Cookies{1, 11, 0, 2}));
  EXPECT_EQ(advance(w, t0 + seconds(1)), (Cookies{3}));
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, NeverEarlyAndRoundsUpToTheTick) {
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0, milliseconds(1));
  w.schedule(t0 + microseconds(1500), 7);
  EXPECT_TRUE(advance(w, t0 + microseconds(1500)).empty()) << "rounded up to 2 ms";
  EXPECT_TRUE(advance(w, t0 + microseconds(1999)).empty());
  EXPECT_EQ(advance(w, t0 + milliseconds(2)), (Cookies{7}));
  // On a tick boundary: due exactly then.
  w.schedule(t0 + milliseconds(5), 8);
  EXPECT_TRUE(advance(w, t0 + milliseconds(5) - nanoseconds(1)).empty());
  EXPECT_EQ(advance(w, t0 + milliseconds(5)), (Cookies{8}));
}

TEST(TimerWheel, OverdueTimerFiresAtTheNextAdvance) {
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0);
  advance(w, t0 + milliseconds(100) + microseconds(500));
  w.schedule(t0 + milliseconds(50), 1);                       // in the past
  w.schedule(t0 + milliseconds(100) + microseconds(200), 2);  // rounds to 101 ms: in the future
  w.schedule(t0 + milliseconds(100), 3);  // exactly the tick the wheel reached: overdue
  EXPECT_EQ(w.next_deadline(), t0 + milliseconds(50));
  EXPECT_EQ(advance(w, t0 + milliseconds(100) + microseconds(600)), (Cookies{1, 3}));
  EXPECT_EQ(advance(w, t0 + milliseconds(101)), (Cookies{2}));
}

TEST(TimerWheel, CancelStopsATimer) {
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0);
  const TimerHandle a = w.schedule(t0 + milliseconds(5), 1);
  const TimerHandle b = w.schedule(t0 + milliseconds(5), 2);
  EXPECT_TRUE(w.pending(a));
  EXPECT_TRUE(w.cancel(a));
  EXPECT_FALSE(w.pending(a));
  EXPECT_FALSE(w.cancel(a)) << "twice";
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(advance(w, t0 + seconds(1)), (Cookies{2}));
  EXPECT_FALSE(w.cancel(b)) << "already fired";
  EXPECT_FALSE(w.cancel(TimerHandle{})) << "default handle names nothing";
}

TEST(TimerWheel, StaleHandleDoesNotCancelTheReusedSlot) {
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0);
  const TimerHandle old = w.schedule(t0 + milliseconds(1), 1);
  EXPECT_EQ(advance(w, t0 + milliseconds(1)), (Cookies{1}));
  const TimerHandle fresh = w.schedule(t0 + milliseconds(3), 2);
  ASSERT_EQ(fresh.index, old.index) << "the freed node is reused";
  EXPECT_NE(fresh.generation, old.generation);
  EXPECT_FALSE(w.cancel(old));
  EXPECT_FALSE(w.pending(old));
  EXPECT_TRUE(w.pending(fresh));
  EXPECT_EQ(advance(w, t0 + milliseconds(3)), (Cookies{2}));
}

TEST(TimerWheel, FarFutureTimersWaitOutManyRotations) {
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0, milliseconds(1), 8);  // one rotation is 8 ms
  const Instant far = t0 + milliseconds(8 * 1000 + 3);
  w.schedule(far, 1);
  w.schedule(far + milliseconds(8), 2);  // same slot, one rotation later
  w.schedule(t0 + milliseconds(3), 0);   // same slot, first rotation
  EXPECT_EQ(w.next_deadline(), t0 + milliseconds(3));
  Cookies fired;
  // Tick by tick through all 1000 rotations: each slot is passed a thousand times.
  for (Instant now = t0; now < far; now += milliseconds(1)) {
    for (uint64_t c : advance(w, now)) fired.push_back(c);
  }
  EXPECT_EQ(fired, (Cookies{0}));
  EXPECT_EQ(w.next_deadline(), far);
  EXPECT_EQ(advance(w, far), (Cookies{1}));
  EXPECT_TRUE(advance(w, far + milliseconds(7)).empty());
  EXPECT_EQ(advance(w, far + milliseconds(8)), (Cookies{2}));
}

// Timers beyond one rotation wait in the overflow heap; equal ticks still fire in schedule
// order, whether a timer came from the heap or was put straight into its slot later.
TEST(TimerWheel, EqualTicksKeepScheduleOrderAcrossTheOverflow) {
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0, milliseconds(1), 8);  // one rotation is 8 ms
  const Instant at = t0 + milliseconds(100);
  w.schedule(at, 1);                    // far: the heap
  w.schedule(at + milliseconds(8), 9);  // far, the same slot one rotation later
  w.schedule(at, 2);                    // far, same tick, later
  EXPECT_TRUE(advance(w, t0 + milliseconds(95)).empty());
  w.schedule(at, 3);  // now within the rotation: straight into the slot, after 1 and 2
  w.schedule(at - milliseconds(1), 0);
  EXPECT_EQ(w.next_deadline(), at - milliseconds(1));
  EXPECT_EQ(advance(w, at), (Cookies{0, 1, 2, 3}));
  EXPECT_EQ(w.next_deadline(), at + milliseconds(8));
  EXPECT_EQ(advance(w, at + milliseconds(8)), (Cookies{9}));
}

// Cancelling timers in the heap, at its top and inside it, leaves the others exact.
TEST(TimerWheel, CancelInTheOverflow) {
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0, milliseconds(1), 8);
  std::vector<TimerHandle> h;
  for (uint64_t i = 0; i < 64; ++i) h.push_back(w.schedule(t0 + milliseconds(20 + 3 * i), i));
  EXPECT_TRUE(w.cancel(h[0]));   // the heap's top
  EXPECT_TRUE(w.cancel(h[37]));  // somewhere inside
  EXPECT_TRUE(w.cancel(h[63]));  // the last
  EXPECT_FALSE(w.cancel(h[37]));
  EXPECT_EQ(w.size(), 61u);
  EXPECT_EQ(w.next_deadline(), t0 + milliseconds(23));
  Cookies expected;
  for (uint64_t i = 1; i < 63; ++i) {
    if (i != 37) expected.push_back(i);
  }
  Cookies fired;
  for (Instant now = t0; now <= t0 + milliseconds(300); now += milliseconds(5)) {
    for (uint64_t c : advance(w, now)) fired.push_back(c);
  }
  EXPECT_EQ(fired, expected);
  EXPECT_EQ(w.next_deadline(), std::nullopt);
}

// A callback arming a timer beyond the rotation, while the wheel jumps across many rotations
// in one advance(): it lands in the heap and fires in order within the same advance.
TEST(TimerWheel, CallbackArmingBeyondTheRotationDuringAJump) {
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0, milliseconds(1), 8);
  w.schedule(t0 + milliseconds(10), 1);
  w.schedule(t0 + milliseconds(50), 3);
  Cookies fired;
  w.advance(t0 + milliseconds(100), [&](uint64_t c) {
    fired.push_back(c);
    if (c == 1) {
      w.schedule(t0 + milliseconds(40), 2);   // 30 ms on: beyond the 8 ms rotation
      w.schedule(t0 + milliseconds(150), 4);  // after this advance's now
    }
  });
  EXPECT_EQ(fired, (Cookies{1, 2, 3}));
  EXPECT_EQ(w.next_deadline(), t0 + milliseconds(150));
  EXPECT_EQ(advance(w, t0 + milliseconds(150)), (Cookies{4}));
}

TEST(TimerWheel, LargeTimeJumps) {
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0);  // 1 ms ticks, 4096 slots: a rotation is about 4 s
  w.schedule(t0 + hours(4), 4);
  w.schedule(t0 + hours(1), 1);
  w.schedule(t0 + hours(6), 6);
  w.schedule(t0 + hours(2) + nanoseconds(1), 2);
  EXPECT_EQ(w.next_deadline(), t0 + hours(1));
  EXPECT_EQ(advance(w, t0 + hours(5)), (Cookies{1, 2, 4}));
  EXPECT_EQ(w.next_deadline(), t0 + hours(6));
  EXPECT_TRUE(advance(w, t0 + hours(6) - nanoseconds(1)).empty());
  EXPECT_EQ(advance(w, t0 + hours(6)), (Cookies{6}));
  EXPECT_EQ(w.next_deadline(), std::nullopt);
  // An empty wheel jumps ten years at once, then still works at the new time.
  const Instant later = t0 + hours(24 * 365 * 10);
  EXPECT_TRUE(advance(w, later).empty());
  w.schedule(later + milliseconds(2), 9);
  EXPECT_EQ(w.next_deadline(), later + milliseconds(2));
  EXPECT_EQ(advance(w, later + milliseconds(2)), (Cookies{9}));
}

TEST(TimerWheel, CallbackReschedulingForALaterTickFiresInTheSameAdvance) {
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0);
  Instant next = t0 + milliseconds(10);
  w.schedule(next, 1);
  std::vector<Instant> runs;
  const size_t fired = w.advance(t0 + milliseconds(55), [&](uint64_t) {
    runs.push_back(next);
    next += milliseconds(10);  // a periodic timer
    w.schedule(next, 1);
  });
  EXPECT_EQ(fired, 5u) << "10, 20, 30, 40 and 50 ms, all by 55 ms";
  EXPECT_EQ(runs.back(), t0 + milliseconds(50));
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.next_deadline(), t0 + milliseconds(60));
}

TEST(TimerWheel, CallbackSchedulingForNowFiresInTheNextAdvance) {
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0);
  w.schedule(t0 + milliseconds(10), 1);
  Cookies fired;
  const Instant now = t0 + milliseconds(20);
  w.advance(now, [&](uint64_t c) {
    fired.push_back(c);
    if (c == 1) {
      w.schedule(t0 + milliseconds(10), 2);  // the tick being fired: overdue
      w.schedule(t0 + milliseconds(3), 3);   // earlier still: overdue
      w.schedule(now, 4);                    // a later tick, due by now: this advance
    }
  });
  EXPECT_EQ(fired, (Cookies{1, 4}));
  EXPECT_EQ(w.next_deadline(), t0 + milliseconds(3)) << "overdue: in the past";
  // Self re-arming for "now" does not spin: one firing per advance.
  size_t runs = 0;
  auto rearm = [&](uint64_t c) {
    ++runs;
    if (c == 2) w.schedule(now, 2);
  };
  EXPECT_EQ(w.advance(now, rearm), 2u) << "2 then 3; the re-armed 2 waits";
  EXPECT_EQ(w.advance(now, rearm), 1u);
  EXPECT_EQ(runs, 3u);
}

TEST(TimerWheel, CallbackCancelsATimerDueInTheSameAdvance) {
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0);
  TimerHandle same_tick;
  TimerHandle later_tick;
  TimerHandle own;
  own = w.schedule(t0 + milliseconds(5), 1);
  same_tick = w.schedule(t0 + milliseconds(5), 2);
  later_tick = w.schedule(t0 + milliseconds(7), 3);
  Cookies fired;
  w.advance(t0 + milliseconds(10), [&](uint64_t c) {
    fired.push_back(c);
    if (c == 1) {
      EXPECT_FALSE(w.cancel(own)) << "a timer is removed before its callback";
      EXPECT_TRUE(w.cancel(same_tick));
      EXPECT_TRUE(w.cancel(later_tick));
    }
  });
  EXPECT_EQ(fired, (Cookies{1}));
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, NextDeadlineIsExact) {
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0, milliseconds(1), 16);
  EXPECT_EQ(w.next_deadline(), std::nullopt);
  const TimerHandle a = w.schedule(t0 + microseconds(2500), 1);
  EXPECT_EQ(w.next_deadline(), t0 + milliseconds(3)) << "rounded up to the tick it fires at";
  const TimerHandle b = w.schedule(t0 + seconds(10), 2);  // 625 rotations away
  EXPECT_EQ(w.next_deadline(), t0 + milliseconds(3));
  w.schedule(t0 + milliseconds(2), 3);
  EXPECT_EQ(w.next_deadline(), t0 + milliseconds(2));
  EXPECT_EQ(advance(w, t0 + milliseconds(2)), (Cookies{3}));
  EXPECT_EQ(w.next_deadline(), t0 + milliseconds(3));
  EXPECT_TRUE(w.cancel(a));
  EXPECT_EQ(w.next_deadline(), t0 + seconds(10)) << "beyond a rotation, still exact";
  w.schedule(t0 + seconds(10) - milliseconds(16), 4);  // same slot, one rotation earlier
  EXPECT_EQ(w.next_deadline(), t0 + seconds(10) - milliseconds(16));
  EXPECT_TRUE(w.cancel(b));
  EXPECT_EQ(advance(w, *w.next_deadline()), (Cookies{4}));
  EXPECT_EQ(w.next_deadline(), std::nullopt);
}

// 100k timers with random deadlines (some overdue, some hours away), random cancels, and
// callbacks that schedule and cancel, checked against a model: each timer fires exactly once
// unless cancelled, never before its time rounded up to the tick, and in the first advance
// whose now reaches that time, in order of due tick and then of scheduling; next_deadline()
// and size() always match the model.
TEST(TimerWheel, RandomTimersFireExactlyOnceAndOnTime) {
  const Duration tick = milliseconds(1);
  const Instant t0 = ManualClock().now();
  TimerWheel w(t0, tick, 256);
  std::mt19937_64 rng(0x5eedf00d);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };

  struct Timer {
    Instant due;       // `when` rounded up to the tick
    size_t scheduled;  // index of the advance() that can first fire it
    TimerHandle handle;
    bool cancelled = false;
    int fired = 0;
  };
  std::vector<Timer> timers;
  std::set<std::pair<Instant, uint64_t>> pending;  // (due, cookie)
  std::vector<Instant> advance_now = {t0};         // advance_now[i]: now of advance i; 0 is t0
  size_t current = 1;                              // the advance() about to run, or running
  size_t fired_count = 0;

  auto round_up = [&](Instant when) {
    const int64_t d = (when - t0).count();
    const int64_t q = d / tick.count() + (d % tick.count() > 0 ? 1 : 0);
    return t0 + q * tick;
  };
  auto add = [&](Instant when) {
    const uint64_t cookie = timers.size();
    timers.push_back({round_up(when), current, w.schedule(when, cookie)});
    pending.emplace(timers.back().due, cookie);
  };
  auto cancel_random = [&]() {
    if (pending.empty()) return;
    // A random pending timer: the first at or after a random due time.
    const Instant probe = pending.begin()->first + nanoseconds(uniform(0, 20'000'000'000));
    auto it = pending.lower_bound({probe, 0});
    if (it == pending.end()) it = pending.begin();
    Timer& t = timers[it->second];
    EXPECT_TRUE(w.cancel(t.handle));
    t.cancelled = true;
    pending.erase(it);
  };

  constexpr size_t kTimers = 100'000;
  while (timers.size() < kTimers) {
    const Instant now = advance_now.back();
    for (int i = 0; i < 4; ++i) {
      const int64_t kind = uniform(0, 99);
      if (kind < 5) {
        add(now - nanoseconds(uniform(0, 5'000'000)));  // overdue
      } else if (kind < 10) {
        add(now + nanoseconds(uniform(0, 3 * 3600'000'000'000)));  // up to 3 hours
      } else {
        add(now + nanoseconds(uniform(0, 10'000'000'000)));  // up to 10 s
      }
    }
    if (uniform(0, 9) == 0) cancel_random();
    if (uniform(0, 9) == 0 && !timers.empty()) {
      // A handle of a timer that fired or was cancelled is stale.
      const Timer& t = timers[uniform(0, static_cast<int64_t>(timers.size()) - 1)];
      if (t.fired || t.cancelled) {
        EXPECT_FALSE(w.cancel(t.handle));
      }
    }

    const Instant next = now + (uniform(0, 999) == 0 ? nanoseconds(uniform(0, 3600'000'000'000))
                                                     : nanoseconds(uniform(0, 20'000'000)));
    advance_now.push_back(next);
    // Timers not overdue fire by due tick, equal ticks in schedule order (cookies grow with it).
    std::optional<std::pair<Instant, uint64_t>> last_on_time;
    w.advance(next, [&](uint64_t cookie) {
      Timer& t = timers.at(cookie);
      ASSERT_FALSE(t.cancelled) << cookie;
      ASSERT_EQ(t.fired, 0) << cookie;
      if (t.due > advance_now[current - 1]) {
        const std::pair<Instant, uint64_t> key{t.due, cookie};
        if (last_on_time) {
          ASSERT_LT(*last_on_time, key) << "fired out of order";
        }
        last_on_time = key;
      }
      ++t.fired;
      ++fired_count;
      pending.erase({t.due, cookie});
      ASSERT_GE(next, t.due) << "never early";
      if (current > t.scheduled) {
        ASSERT_LT(advance_now[current - 1], t.due) << "should have fired in an earlier advance";
      }
      const int64_t action = uniform(0, 9);
      if (action < 2 && timers.size() < kTimers) {
        // Re-arm from the callback. A timer that was overdue arms past this advance's now (the
        // wheel's tick is ahead of its own); others may land within this advance.
        const bool overdue = t.due <= advance_now[current - 1];
        const Instant base = overdue ? next : t.due;
        add(base + nanoseconds(1 + uniform(0, 30'000'000)));
      } else if (action == 2) {
        cancel_random();
      }
    });
    ++current;
    ASSERT_EQ(w.size(), pending.size());
    if (pending.empty()) {
      ASSERT_EQ(w.next_deadline(), std::nullopt);
    } else {
      ASSERT_EQ(w.next_deadline(), pending.begin()->first);
      ASSERT_GT(pending.begin()->first, next) << "everything due by now has fired";
    }
    if (HasFatalFailure()) return;
  }

  // Drain: everything left fires at the final advance, each exactly once.
  const Instant end = advance_now.back() + hours(4);
  advance_now.push_back(end);
  w.advance(end, [&](uint64_t cookie) {
    Timer& t = timers.at(cookie);
    ASSERT_FALSE(t.cancelled);
    ASSERT_GE(end, t.due);
    ++t.fired;
    ++fired_count;
  });
  size_t cancelled = 0;
  for (const Timer& t : timers) {
    EXPECT_EQ(t.fired, t.cancelled ? 0 : 1);
    cancelled += t.cancelled;
  }
  EXPECT_EQ(fired_count + cancelled, timers.size());
  EXPECT_GT(cancelled, 1000u);
  EXPECT_GE(timers.size(), kTimers);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.next_deadline(), std::nullopt);
}

}  // namespace
}  // namespace flowgate::tcp
