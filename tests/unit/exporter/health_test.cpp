// /healthz and /readyz decided from the segment's control words: the I/O process's state
// and whether its pid is alive, each worker's state, the drain.
#include "monitoring/health.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exposition.hpp"

namespace flowgate::exporter {
namespace {

using testing::TestSegment;

void set_io(shm::Segment& s, shm::IoState state, int32_t pid) {
  s.io().state.store(static_cast<uint32_t>(state));
  s.io().pid.store(pid);
}
void set_worker(shm::Segment& s, uint32_t k, shm::WorkerState state, uint32_t restarts = 0) {
  s.worker(k).control.state.store(static_cast<uint32_t>(state));
  s.worker(k).control.restarts.store(restarts);
}

// A pid that certainly names no process: one of ours that has been reaped.
int32_t reaped_pid() {
  const pid_t child = ::fork();
  if (child == 0) _exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

TEST(Health, AliveWhileTheIoProcessRuns) {
  TestSegment t("live");
  shm::Segment& s = *t.segment;
  EXPECT_EQ(liveness(s).reason, "not alive: the I/O process is stopped");
  set_io(s, shm::IoState::starting, ::getpid());
  EXPECT_FALSE(liveness(s).ok);
  EXPECT_EQ(liveness(s).reason, "not alive: the I/O process is starting");
  set_io(s, shm::IoState::running, ::getpid());
  EXPECT_TRUE(liveness(s).ok);
  EXPECT_EQ(liveness(s).reason, "alive: the supervisor and the I/O process (pid " +
                                    std::to_string(::getpid()) + ") are running");
  const int32_t gone = reaped_pid();
  set_io(s, shm::IoState::running, gone);
  EXPECT_FALSE(liveness(s).ok);
  EXPECT_EQ(liveness(s).reason,
            "not alive: the I/O process (pid " + std::to_string(gone) + ") has exited");
  set_io(s, shm::IoState::stopping, ::getpid());
  EXPECT_EQ(liveness(s).reason, "not alive: the I/O process is stopping");
}

TEST(Health, ReadyWhenEveryWorkerRunsAndNotDraining) {
  TestSegment t("ready", 3);
  shm::Segment& s = *t.segment;
  set_io(s, shm::IoState::running, ::getpid());
  for (uint32_t k = 0; k < 3; ++k) set_worker(s, k, shm::WorkerState::running);
  EXPECT_TRUE(readiness(s, false).ok);
  EXPECT_EQ(readiness(s, false).reason, "ready: 3 of 3 workers running");

  set_worker(s, 1, shm::WorkerState::dead, 2);
  EXPECT_FALSE(readiness(s, false).ok);
  EXPECT_EQ(readiness(s, false).reason,
            "not ready: 2 of 3 workers running; worker 1 dead (restarts 2)");
  set_worker(s, 2, shm::WorkerState::starting, 1);
  EXPECT_EQ(readiness(s, false).reason,
            "not ready: 1 of 3 workers running; worker 1 dead (restarts 2), 2 starting "
            "(restarts 1)");
  for (uint32_t k = 0; k < 3; ++k) set_worker(s, k, shm::WorkerState::running);

  const HealthVerdict draining = readiness(s, true);
  EXPECT_FALSE(draining.ok);
  EXPECT_EQ(draining.reason, "not ready: draining, the gateway is stopping");

  set_io(s, shm::IoState::starting, ::getpid());
  EXPECT_EQ(readiness(s, false).reason, "not ready: the I/O process is starting");
  for (const HealthVerdict& v : {liveness(s), readiness(s, false), readiness(s, true)}) {
    EXPECT_EQ(v.reason.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace flowgate::exporter
