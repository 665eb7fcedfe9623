#include "worker/worker.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "shm/frame_ownership.hpp"
#include "shm/wakeup.hpp"
#include "stack/stack.hpp"

namespace flowgate {
namespace {

// Descriptors moved per ring operation: one release store and at most one wakeup per batch.
constexpr uint32_t kBatch = 64;
// Received batches handled before timers and output get their turn.
constexpr int kBatchesPerRound = 8;
// While output waits for room in a full ring, look again this often (the I/O process does
// not wake us for room, only for new input).
constexpr int kRetryMs = 1;
constexpr int kMaxSleepMs = 60 * 60 * 1000;

}  // namespace

WorkerMetrics& worker_metrics(const shm::Segment& segment, uint32_t worker) {
  return *reinterpret_cast<WorkerMetrics*>(segment.worker(worker).metrics);
}

WorkerDataPlane::WorkerDataPlane(shm::Segment& segment, uint32_t index, int io_wake_fd)
    : segment_(segment),
      index_(index),
      io_wake_fd_(io_wake_fd),
      control_(segment.worker(index).control),
      metrics_(worker_metrics(segment, index)),
      umem_(segment.umem()),
      tags_(segment.frame_tags()),
      frame_size_(segment.layout().params.frame_size),
      umem_size_(segment.umem_size()),
      rx_(segment.ring(index, shm::RingKind::rx)),
      completion_(segment.ring(index, shm::RingKind::completion)),
      tx_(segment.ring(index, shm::RingKind::tx)),
      free_(segment.ring(index, shm::RingKind::free)) {
  const uint32_t ring_size = segment.layout().params.ring_size;
  pool_.reserve(ring_size * 2);
  to_send_.reserve(ring_size);
  to_free_.reserve(ring_size * 2);
}

bool WorkerDataPlane::valid_received(const shm::RingDesc& d) {
  const uint64_t frame = d.offset / frame_size_;
  const bool ok = d.offset < umem_size_ && d.length <= frame_size_ - d.offset % frame_size_ &&
                  tags_[frame] == shm::owner::worker(index_);
  if (!ok) ++metrics_.worker.rx_bad_descriptor;
  return ok;
}

bool WorkerDataPlane::transmit(wire::Bytes frame) {
  if (frame.size() > frame_size_) {
    ++metrics_.worker.tx_oversize;
    return false;
  }
  if (pool_.empty()) refill_pool();
  if (pool_.empty()) {
    // Every lent frame is in flight; the stack counts the loss (link_transmit_full) and
    // TCP retransmits. A steady stream of these means the pool is too small for the load.
    ++metrics_.worker.tx_no_frame;
    return false;
  }
  const uint64_t slot = pool_.back();
  pool_.pop_back();
  std::memcpy(umem_ + slot, frame.data(), frame.size());
  to_send_.push_back(shm::RingDesc{slot, static_cast<uint32_t>(frame.size()), 0});
  if (to_send_.size() >= kBatch) submit_tx();
  return true;
}

void WorkerDataPlane::refill_pool() {
  uint32_t first = 0;
  const uint32_t n = completion_.peek(kBatch * 4, &first);
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t offset = completion_.slot(first + i).offset;
    const uint64_t slot = offset - offset % frame_size_;
    if (slot >= umem_size_ || tags_[slot / frame_size_] != shm::owner::worker(index_)) {
      ++metrics_.worker.rx_bad_descriptor;
      continue;
    }
    pool_.push_back(slot);
  }
  if (n > 0) completion_.release(n);
}

void WorkerDataPlane::submit_tx() {
  size_t done = 0;
  while (done < to_send_.size()) {
    uint32_t first = 0;
    const uint32_t want = static_cast<uint32_t>(std::min<size_t>(kBatch, to_send_.size() - done));
    const uint32_t n = tx_.reserve(want, &first);
    if (n == 0) {
      ++metrics_.worker.tx_ring_full;
      break;
    }
    for (uint32_t i = 0; i < n; ++i) {
      const shm::RingDesc& d = to_send_[done + i];
      // The tag first: the ring's release store in submit() publishes both together.
      tags_[d.offset / frame_size_] = shm::owner::in_transit_from(index_);
      tx_.slot(first + i) = d;
    }
    tx_.submit(n);
    ++metrics_.worker.tx_batches;
    done += n;
    io_has_work_ = true;
  }
  to_send_.erase(to_send_.begin(), to_send_.begin() + static_cast<std::ptrdiff_t>(done));
}

void WorkerDataPlane::submit_free() {
  size_t done = 0;
  while (done < to_free_.size()) {
    uint32_t first = 0;
    const uint32_t want = static_cast<uint32_t>(std::min<size_t>(kBatch, to_free_.size() - done));
    const uint32_t n = free_.reserve(want, &first);
    if (n == 0) {
      ++metrics_.worker.free_ring_full;
      break;
    }
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t offset = to_free_[done + i];
      tags_[offset / frame_size_] = shm::owner::in_transit_from(index_);
      free_.slot(first + i) = shm::RingDesc{offset, 0, 0};
    }
    free_.submit(n);
    done += n;
    io_has_work_ = true;
  }
  to_free_.erase(to_free_.begin(), to_free_.begin() + static_cast<std::ptrdiff_t>(done));
}

void WorkerDataPlane::flush() {
  submit_tx();
  submit_free();
  // Keep a small pool ready so the next burst does not start by reading the ring.
  if (pool_.size() < kBatch) refill_pool();
  publish_counts();
  if (io_has_work_) wake_io();
}

void WorkerDataPlane::publish_counts() {
  control_.rx_held.store(static_cast<uint32_t>(to_free_.size()), std::memory_order_relaxed);
  control_.tx_pool.store(static_cast<uint32_t>(pool_.size()), std::memory_order_relaxed);
  control_.tx_pending.store(static_cast<uint32_t>(to_send_.size()), std::memory_order_relaxed);
}

void WorkerDataPlane::wake_io() {
  io_has_work_ = false;
  if (shm::wake_if_sleeping(segment_.io().wake, io_wake_fd_)) ++metrics_.worker.wakeups_sent;
}

bool WorkerDataPlane::has_input() {
  return !rx_.empty();
}

void WorkerDataPlane::announce_running() {
  publish_counts();
  control_.pid.store(::getpid(), std::memory_order_relaxed);
  control_.state.store(static_cast<uint32_t>(shm::WorkerState::running), std::memory_order_release);
  shm::signal_eventfd(io_wake_fd_);
}

bool WorkerDataPlane::wait_for_transmit_frames(int wake_fd, int timeout_ms) {
  constexpr int kStepMs = 10;
  for (int waited = 0;; waited += kStepMs) {
    refill_pool();
    if (!pool_.empty()) break;
    if (waited >= timeout_ms) return false;
    shm::announce_sleep(control_.wake);
    pollfd p{wake_fd, POLLIN, 0};
    if (completion_.empty()) ::poll(&p, 1, kStepMs);
    shm::cancel_sleep(control_.wake);
    shm::drain_eventfd(wake_fd);
  }
  publish_counts();
  return true;
}

void WorkerDataPlane::heartbeat(Instant now) {
  control_.heartbeat_ns.store(static_cast<uint64_t>(now.time_since_epoch().count()),
                              std::memory_order_relaxed);
}

namespace {

int ms_until(Instant now, Instant t) {
  if (t <= now) return 0;
  const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t - now).count();
  return static_cast<int>(std::min<int64_t>((ns + 999'999) / 1'000'000, kMaxSleepMs));
}

}  // namespace

int run_worker_loop(WorkerDataPlane& plane, Stack& stack, WorkerApps& apps, const Clock& clock,
                    const WorkerLoopOptions& options) {
  bool draining = false;
  Instant drain_deadline{};
  uint32_t config_generation = plane.segment().config_generation();
  for (;;) {
    bool worked = false;
    if (options.answer_tools && options.answer_tools(stack)) worked = true;
    // A reload costs one shared load per round to notice; the supervisor wakes us for it.
    if (const uint32_t g = plane.segment().config_generation(); g != config_generation) {
      config_generation = g;
      apps.reload(plane.segment().config_text());
      worked = true;
    }
    for (int b = 0; b < kBatchesPerRound; ++b) {
      const uint32_t n = plane.receive(kBatch, [&](wire::Bytes frame) { stack.receive(frame); });
      if (n == 0) break;
      worked = true;
      // The applications answer what this batch brought; the answers leave in the flush.
      apps.run();
    }
    Instant now = clock.now();
    if (const auto due = stack.next_deadline(); due && *due <= now) {
      stack.poll();
      apps.run();  // timers free send buffers and finish connections
      worked = true;
    } else if (const auto app_due = apps.next_deadline(); app_due && *app_due <= now) {
      apps.run();  // an application's own timer (request timeout, health check)
      worked = true;
    }
    plane.flush();
    plane.heartbeat(now);

    if (draining && (apps.idle() || now >= drain_deadline)) return 0;
    if (worked) continue;

    // Nothing to do: sleep until a frame, a signal or the next timer (need_wakeup style).
    shm::announce_sleep(plane.wake_word());
    if (plane.has_input()) {
      shm::cancel_sleep(plane.wake_word());
      continue;
    }
    std::optional<Instant> wake = stack.next_deadline();
    if (const auto app_due = apps.next_deadline())
      wake = wake ? std::min(*wake, *app_due) : *app_due;
    if (draining) wake = wake ? std::min(*wake, drain_deadline) : drain_deadline;
    int timeout = wake ? ms_until(now, *wake) : -1;
    if (plane.output_pending()) timeout = timeout < 0 ? kRetryMs : std::min(timeout, kRetryMs);
    ++plane.metrics().worker.sleeps;
    pollfd fds[2] = {{options.wake_fd, POLLIN, 0}, {options.signal_fd, POLLIN, 0}};
    const int rc = ::poll(fds, options.signal_fd >= 0 ? 2 : 1, timeout);
    shm::cancel_sleep(plane.wake_word());
    if (rc < 0 && errno != EINTR) {
      std::fprintf(stderr, "flowgate worker: poll: %s\n", std::strerror(errno));
      return 1;
    }
    if (rc > 0 && (fds[0].revents & POLLIN) != 0) shm::drain_eventfd(options.wake_fd);
    if (rc > 0 && options.signal_fd >= 0 && (fds[1].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      // Every pending signal (the descriptor is non-blocking): SIGUSR1 needs nothing here,
      // answer_tools runs at the top of the next round; any other starts the drain.
      while (::read(options.signal_fd, &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGUSR1 || draining) continue;
        draining = true;
        drain_deadline = clock.now() + options.drain_timeout;
        apps.stop_accepting();
      }
    }
  }
}

}  // namespace flowgate
