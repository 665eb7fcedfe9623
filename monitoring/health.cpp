#include "monitoring/health.hpp"

#include <signal.h>

#include <cerrno>

namespace flowgate::exporter {
namespace {

// The process exists (a zombie not yet reaped counts: the supervisor reaps it within a poll
// round and then stops the gateway).
bool process_exists(int32_t pid) {
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

}  // namespace

HealthVerdict liveness(const shm::Segment& segment) {
  const shm::IoBlock& io = segment.io();
  const uint32_t state = io.state.load(std::memory_order_acquire);
  const int32_t pid = io.pid.load(std::memory_order_acquire);
  if (state != static_cast<uint32_t>(shm::IoState::running)) {
    return {false, std::string("not alive: the I/O process is ") +
                       shm::to_string(static_cast<shm::IoState>(state))};
  }
  if (!process_exists(pid)) {
    return {false, "not alive: the I/O process (pid " + std::to_string(pid) + ") has exited"};
  }
  return {true, "alive: the supervisor and the I/O process (pid " + std::to_string(pid) +
                    ") are running"};
}

HealthVerdict readiness(const shm::Segment& segment, bool draining) {
  if (draining) return {false, "not ready: draining, the gateway is stopping"};
  HealthVerdict alive = liveness(segment);
  if (!alive.ok) {
    alive.reason.replace(0, std::string_view("not alive").size(), "not ready");
    return alive;
  }
  const uint32_t workers = segment.worker_count();
  std::string down;
  uint32_t running = 0;
  for (uint32_t k = 0; k < workers; ++k) {
    const shm::WorkerControl& c = segment.worker(k).control;
    const auto state = static_cast<shm::WorkerState>(c.state.load(std::memory_order_acquire));
    if (state == shm::WorkerState::running) {
      ++running;
      continue;
    }
    down += (down.empty() ? "" : ", ") + std::to_string(k) + " " + shm::to_string(state) +
            " (restarts " + std::to_string(c.restarts.load(std::memory_order_relaxed)) + ")";
  }
  if (running != workers) {
    return {false, "not ready: " + std::to_string(running) + " of " + std::to_string(workers) +
                       " workers running; worker " + down};
  }
  return {true, "ready: " + std::to_string(workers) + " of " + std::to_string(workers) +
                    " workers running"};
}

}  // namespace flowgate::exporter
