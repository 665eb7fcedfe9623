// Health verdicts (rise/fall), the active checks' timing, and passive ejection, on Instants
// chosen by the test.
#include "apps/proxy/health.hpp"

#include <gtest/gtest.h>

namespace flowgate::proxy {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const Instant kT0 = Instant(seconds(1000));

TEST(HealthState, FallAndRiseNeedConsecutiveResults) {
  HealthState h(2, 3);
  EXPECT_TRUE(h.up());
  EXPECT_FALSE(h.record(false));
  EXPECT_FALSE(h.record(false));
  EXPECT_FALSE(h.record(true));  // a success restarts the count
  EXPECT_FALSE(h.record(false));
  EXPECT_FALSE(h.record(false));
  EXPECT_TRUE(h.up());
  EXPECT_TRUE(h.record(false));  // third in a row
  EXPECT_FALSE(h.up());
  EXPECT_FALSE(h.record(true));
  EXPECT_FALSE(h.record(false));
  EXPECT_FALSE(h.record(true));
  EXPECT_TRUE(h.record(true));  // two in a row
  EXPECT_TRUE(h.up());
}

// A backend checked every interval with the given timeout, dead from kT0 (its checks time
// out) until `back`, then answering at once: when does it go down, and when up again?
struct Timeline {
  Instant down{};
  Instant up{};
};
Timeline simulate(Duration interval, Duration timeout, uint32_t rise, uint32_t fall, Instant back) {
  CheckSchedule schedule(interval, timeout, kT0);
  HealthState health(rise, fall);
  Timeline t;
  for (Instant now = kT0; now < kT0 + seconds(120); now += milliseconds(1)) {
    if (schedule.timed_out(now)) {
      schedule.finish();
      if (health.record(false) && !health.up()) t.down = now;
    }
    if (schedule.due(now)) {
      schedule.start(now);
      if (now >= back) {  // answered at once
        schedule.finish();
        if (health.record(true) && health.up()) t.up = now;
      }
    }
    if (t.up != Instant{}) break;
  }
  return t;
}

TEST(CheckSchedule, DownWithinFallIntervalsAndUpAfterRiseChecks) {
  const Timeline t = simulate(seconds(1), milliseconds(500), 2, 3, kT0 + seconds(10));
  // Checks at 0, 1, 2 s time out at 0.5, 1.5, 2.5 s: down at the third, within fall × interval.
  EXPECT_EQ(t.down, kT0 + milliseconds(2500));
  EXPECT_LE(t.down - kT0, 3 * seconds(1));
  // Back at 10 s: checks at 10 and 11 s succeed, up at the second.
  EXPECT_EQ(t.up, kT0 + seconds(11));
}

TEST(CheckSchedule, OneCheckAtATimeOnTheIntervalGrid) {
  CheckSchedule s(seconds(2), seconds(2), kT0);
  EXPECT_TRUE(s.due(kT0));
  EXPECT_EQ(s.start(kT0), kT0 + seconds(2));
  EXPECT_FALSE(s.due(kT0 + seconds(2)));  // still in flight
  EXPECT_EQ(s.next_deadline(), kT0 + seconds(2));
  EXPECT_TRUE(s.timed_out(kT0 + seconds(2)));
  s.finish();
  EXPECT_TRUE(s.due(kT0 + seconds(2)));
  // Started late: the next one stays on the grid (kT0 + 6 s), it does not drift.
  s.start(kT0 + milliseconds(4500));
  s.finish();
  EXPECT_FALSE(s.due(kT0 + milliseconds(5999)));
  EXPECT_TRUE(s.due(kT0 + seconds(6)));
}

TEST(PassiveEjection, ConsecutiveFailuresEjectForTheDuration) {
  PassiveEjection e(3, seconds(10));
  EXPECT_FALSE(e.on_failure(kT0));
  EXPECT_FALSE(e.on_failure(kT0));
  e.on_success();  // resets the count
  EXPECT_FALSE(e.on_failure(kT0));
  EXPECT_FALSE(e.on_failure(kT0));
  EXPECT_FALSE(e.ejected(kT0));
  EXPECT_TRUE(e.on_failure(kT0 + seconds(1)));
  EXPECT_TRUE(e.ejected(kT0 + seconds(1)));
  EXPECT_TRUE(e.ejected(kT0 + milliseconds(10999)));
  EXPECT_FALSE(e.on_failure(kT0 + seconds(5))) << "failures while ejected do not extend it";
  EXPECT_FALSE(e.ejected(kT0 + seconds(11)));
  // After the cool-down it needs three new failures.
  EXPECT_FALSE(e.on_failure(kT0 + seconds(12)));
  EXPECT_FALSE(e.on_failure(kT0 + seconds(12)));
  EXPECT_TRUE(e.on_failure(kT0 + seconds(12)));
  EXPECT_EQ(e.ejections(), 2u);
}

}  // namespace
}  // namespace flowgate::proxy
