// The worker's side of `flowgate ss` end to end: the real worker loop (run_worker_loop) on a
// real segment, with a signalfd for SIGTERM and SIGUSR1 as apps/worker_command.cpp sets it
// up, answers a request made through the connection_snapshot area and SIGUSR1 while it
// sleeps, and SIGUSR1 does not drain it; SIGTERM still does. The loop runs on a thread
// here; the waits are bounds that only a failure reaches.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <thread>

#include "monitoring/connection_snapshot.hpp"
#include "shm/segment.hpp"
#include "stack/socket_api.hpp"
#include "stack/stack.hpp"
#include "support/harness.hpp"
#include "worker/worker.hpp"

namespace flowgate {
namespace {

class NoApps final : public WorkerApps {
 public:
  void run() override {}
  void stop_accepting() override { stopped = true; }
  bool idle() const override { return true; }
  std::atomic<bool> stopped{false};
};

// Blocks SIGTERM and SIGUSR1 in this thread (and the threads it starts) for the test's
// lifetime, as the worker process blocks them, and takes back any left pending.
class BlockedSignals {
 public:
  BlockedSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~BlockedSignals() {
    const timespec none{0, 0};
    while (sigtimedwait(&set_, nullptr, &none) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  const sigset_t& set() const { return set_; }

 private:
  sigset_t set_{};
  sigset_t old_{};
};

template <typename Predicate>
bool within(std::chrono::milliseconds bound, Predicate done) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

TEST(SsWorkerLoop, AnswersOnSigusr1AndKeepsRunningUntilSigterm) {
  BlockedSignals blocked;
  const std::string instance = "test-ss-loop-" + std::to_string(::getpid());
  shm::Segment::remove(instance);
  shm::SegmentParams p;
  p.worker_count = 1;
  p.frame_count = 256;
  p.frame_size = 2048;
  p.ring_size = 64;
  p.config_capacity = 4096;
  auto segment = shm::Segment::create(instance, p, "", 1, 0);
  const int io_wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  const int wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  const int signals = ::signalfd(-1, &blocked.set(), SFD_NONBLOCK | SFD_CLOEXEC);
  ASSERT_GE(signals, 0);

  WorkerDataPlane plane(*segment, 0, io_wake);
  MonotonicClock clock;
  Stack stack(test::lab_config(), clock, plane, &plane.metrics().stack);
  // Something to list: a listener on port 7.
  const int listener = fg_socket(stack, AF_INET, SOCK_STREAM, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(7);
  ASSERT_EQ(fg_bind(stack, listener, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
  ASSERT_EQ(fg_listen(stack, listener, 8), 0);

  ConnectionSnapshotArea area = ConnectionSnapshotArea::of_worker(*segment, 0);
  std::atomic<int> answers{0};
  NoApps apps;
  WorkerLoopOptions options;
  options.wake_fd = wake;
  options.signal_fd = signals;
  options.drain_timeout = std::chrono::seconds(1);
  options.answer_tools = [&](Stack& s) {
    if (!area.requested()) return false;
    area.answer(s.tcp(), s.clock().now(), ::getpid());
    ++answers;
    return true;
  };
  auto loop = std::async(std::launch::async,
                         [&] { return run_worker_loop(plane, stack, apps, clock, options); });

  // Asleep (nothing to do, no timer): the signal is what wakes it.
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("request " + std::to_string(round));
    const uint32_t ticket = area.request();
    ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
    ASSERT_TRUE(within(std::chrono::seconds(5), [&] { return area.answered(ticket); }));
    const auto snapshot = area.read(ticket);
    ASSERT_TRUE(snapshot.has_value());
    EXPECT_EQ(snapshot->summary.listeners, 1u);
    ASSERT_EQ(snapshot->records.size(), 1u);
    EXPECT_EQ(snapshot->records[0].local_port, 7);
    EXPECT_EQ(snapshot->summary.pid, ::getpid());
  }
  EXPECT_EQ(answers.load(), 3);
  EXPECT_FALSE(apps.stopped) << "SIGUSR1 must not start a drain";
  EXPECT_EQ(loop.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);

  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  ASSERT_EQ(loop.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(loop.get(), 0);
  EXPECT_TRUE(apps.stopped);

  ::close(signals);
  ::close(wake);
  ::close(io_wake);
  segment.reset();
  shm::Segment::remove(instance);
}

}  // namespace
}  // namespace flowgate
