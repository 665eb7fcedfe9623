// A worker process's data plane: its four rings in the shared-memory segment turned into a
// Link for its Stack, and the loop that runs the stack and the applications until told to
// stop. The stack itself knows nothing of rings or processes; this module is the only place
// where the two meet.
//
// Frame flow (DESIGN.md, "Shared memory"):
//   rx ring          I/O -> here   received frames; the stack reads each in place (no copy),
//                                  then it goes back on the free ring
//   completion ring  I/O -> here   empty frames lent for transmission: the transmit pool
//   tx ring          here -> I/O   frames the stack built (copied into a pool frame)
//   free ring        here -> I/O   received frames we are done with
// Every frame handed on is tagged "in transit from this worker" before its descriptor is
// published (shm/frame_ownership.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "shm/layout.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "stack/clock.hpp"
#include "stack/counters.hpp"
#include "stack/link.hpp"
#include "wire/bytes.hpp"

namespace flowgate {

class Stack;

// X(name, help): the worker's own counters, beside the stack's.
#define FLOWGATE_WORKER_COUNTERS(X)                                                     \
  X(rx_batches, "Batches taken from the rx ring")                                       \
  X(tx_batches, "Batches submitted to the tx ring")                                     \
  X(tx_no_frame, "Frames the stack sent while no transmit frame was free (lost)")       \
  X(tx_oversize, "Frames the stack sent that are longer than a UMEM frame (lost)")      \
  X(tx_ring_full, "Submissions delayed because the tx ring was full")                   \
  X(free_ring_full, "Frees delayed because the free ring was full")                     \
  X(rx_bad_descriptor, "rx descriptors outside the UMEM or not tagged for us, ignored") \
  X(wakeups_sent, "Times this worker woke the I/O process")                             \
  X(sleeps, "Times this worker went to sleep with nothing to do")

struct WorkerCounters {
#define FLOWGATE_FIELD(name, help) uint64_t name = 0;
  FLOWGATE_WORKER_COUNTERS(FLOWGATE_FIELD)
#undef FLOWGATE_FIELD
  template <typename F>
  void for_each(F&& f) const {
#define FLOWGATE_VISIT(name, help) f(#name, help, name);
    FLOWGATE_WORKER_COUNTERS(FLOWGATE_VISIT)
#undef FLOWGATE_VISIT
  }
};

// What a worker keeps in its metrics block of the segment: plain memory, written by the
// worker only, read by the exporter and `flowgate stats`. It outlives the process, so a
// restarted worker continues its predecessor's counters instead of resetting them.
struct WorkerMetrics {
  StackCounters stack;
  WorkerCounters worker;
};
static_assert(sizeof(WorkerMetrics) <= shm::kWorkerMetricsBytes);
static_assert(std::is_trivially_copyable_v<WorkerMetrics>);

// The worker's block read as WorkerMetrics (the metrics area is suitably aligned and
// zero-initialised by the segment's creator, which is a valid WorkerMetrics).
WorkerMetrics& worker_metrics(const shm::Segment& segment, uint32_t worker);

class WorkerDataPlane final : public Link {
 public:
  // `io_wake_fd`: the I/O process's eventfd, written when it sleeps and we give it work.
  WorkerDataPlane(shm::Segment& segment, uint32_t index, int io_wake_fd);
  WorkerDataPlane(const WorkerDataPlane&) = delete;
  WorkerDataPlane& operator=(const WorkerDataPlane&) = delete;

  // Takes up to `max` received frames, calls on_frame(wire::Bytes) for each in order (the
  // bytes are the frame in the UMEM, valid during the call), then queues them for the free
  // ring. Returns how many.
  template <typename OnFrame>
  uint32_t receive(uint32_t max, OnFrame&& on_frame) {
    uint32_t first = 0;
    const uint32_t n = rx_.peek(max, &first);
    for (uint32_t i = 0; i < n; ++i) {
      const shm::RingDesc d = rx_.slot(first + i);
      if (!valid_received(d)) continue;
      on_frame(wire::Bytes(umem_ + d.offset, d.length));
      to_free_.push_back(d.offset);
    }
    if (n > 0) {
      rx_.release(n);
      ++metrics_.worker.rx_batches;
    }
    return n;
  }

  // Link: copies the frame into a transmit frame; it leaves at the next flush() (or at once
  // when a batch is full). False when no frame is free or it is too long (counted).
  bool transmit(wire::Bytes frame) override;
  // Submits built frames to tx and received ones to free, wakes the I/O process if it
  // sleeps, and publishes the frame counts.
  void flush();
  // Work is waiting for us (received frames), or output could not all be submitted.
  bool has_input();
  bool output_pending() const { return !to_send_.empty() || !to_free_.empty(); }

  shm::WakeWord& wake_word() { return control_.wake; }
  const shm::Segment& segment() const { return segment_; }
  WorkerMetrics& metrics() { return metrics_; }
  // Marks this slot running (the I/O process starts lending frames) and wakes the I/O
  // process; the last step of attaching.
  void announce_running();
  // Waits (at most `timeout_ms`) until the I/O process has lent the first transmit frames,
  // so what the stack sends on start (the gratuitous ARP) is not lost. False on timeout.
  bool wait_for_transmit_frames(int wake_fd, int timeout_ms);
  void heartbeat(Instant now);

 private:
  bool valid_received(const shm::RingDesc& d);
  void refill_pool();
  void submit_tx();
  void submit_free();
  void publish_counts();
  void wake_io();

  shm::Segment& segment_;
  uint32_t index_;
  int io_wake_fd_;
  shm::WorkerControl& control_;
  WorkerMetrics& metrics_;
  std::byte* umem_;
  uint8_t* tags_;
  uint32_t frame_size_;
  uint64_t umem_size_;
  shm::RingConsumer<shm::RingDesc> rx_;
  shm::RingConsumer<shm::RingDesc> completion_;
  shm::RingProducer<shm::RingDesc> tx_;
  shm::RingProducer<shm::RingDesc> free_;
  std::vector<uint64_t> pool_;          // empty transmit frames (UMEM offsets)
  std::vector<shm::RingDesc> to_send_;  // built, not yet on the tx ring
  std::vector<uint64_t> to_free_;       // received, not yet on the free ring
  bool io_has_work_ = false;            // something was submitted since the last wake
};

// The applications a worker runs, as the loop sees them (apps/ implements it: the worker
// module knows no application).
class WorkerApps {
 public:
  virtual ~WorkerApps() = default;
  // Serves whatever the sockets have ready; never blocks.
  virtual void run() = 0;
  // Drain: close the listening sockets, keep serving the connections already open.
  virtual void stop_accepting() = 0;
  // True when no connection is left to finish.
  virtual bool idle() const = 0;
  // The supervisor accepted a reload: `config_text` is the whole new configuration (only
  // what may change live differs from the running one).
  virtual void reload(const std::string& config_text) { (void)config_text; }
  // When run() is due even without input (application timers); nullopt: never.
  virtual std::optional<Instant> next_deadline() const { return std::nullopt; }
};

struct WorkerLoopOptions {
  int wake_fd = -1;  // our eventfd: the I/O process writes it when we sleep
  // signalfd for SIGUSR1 (a tool asked something of us: it only wakes the loop, which then
  // calls answer_tools) and any other signal it carries, which starts the drain. The worker
  // process gives it SIGTERM; SIGINT it ignores, since Ctrl-C is for the supervisor, which
  // then drains every worker with SIGTERM.
  int signal_fd = -1;
  Duration drain_timeout = std::chrono::seconds(5);
  // Called with the stack at the start of every round: answers what the tools asked
  // (`flowgate ss`'s connection snapshot, monitoring/connection_snapshot.hpp). It must cost
  // next to nothing when nothing was asked (it is polled, since signals merge and a busy
  // loop does not read the signalfd); returns true when it did some work.
  std::function<bool(Stack&)> answer_tools;
};

// Runs until a drain finishes (all connections done, or the drain timeout). Returns the
// process exit status.
int run_worker_loop(WorkerDataPlane& plane, Stack& stack, WorkerApps& apps, const Clock& clock,
                    const WorkerLoopOptions& options);

}  // namespace flowgate
