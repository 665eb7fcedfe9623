// The I/O process (`flowgate io`): owns the NIC's queues (AF_XDP sockets through our XDP
// program, or one AF_PACKET socket), the UMEM's free list, and the I/O side of every
// worker's rings. One thread, one loop:
//
//   port RX ──dispatch──▶ worker rx rings          worker free rings ──▶ free list
//   worker tx rings ──▶ port TX ──completion──▶ free list ──lend──▶ worker completion rings
//                                               free list ──post──▶ port fill rings
//
// It knows frames and the flow hash, not TCP. A worker's death costs it nothing: it stops
// feeding that worker, takes back every frame the worker held (shm/frame_ownership.hpp) and
// says so in the worker's control word, and the supervisor starts a new one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rx_tx/dispatch.hpp"
#include "rx_tx/fault_injector.hpp"
#include "shm/segment.hpp"
#include "wire/addresses.hpp"

namespace flowgate {

// X(name, help): the I/O process's own counters, in its metrics block.
#define FLOWGATE_IO_COUNTERS(X)                                                          \
  X(rx_frames, "Frames received from the link")                                          \
  X(rx_bytes, "Bytes of frames received from the link")                                  \
  X(tx_frames, "Frames handed to the link for sending")                                  \
  X(tx_bytes, "Bytes of frames handed to the link for sending")                          \
  X(rx_to_workers, "Frames put on a worker's rx ring (ARP copies included)")             \
  X(drop_dispatch, "Frames dropped by the dispatcher (too short for Ethernet)")          \
  X(drop_worker_down, "Frames for a worker that is not running (restarting), dropped")   \
  X(drop_worker_ring_full, "Frames dropped because the worker's rx ring was full")       \
  X(drop_no_frame_for_copy, "ARP copies for other workers not made: no free frame")      \
  X(tx_link_full, "Frames from workers dropped because the link's TX ring was full")     \
  X(bad_descriptors, "Descriptors from workers outside the UMEM or not theirs, ignored") \
  X(frames_lent, "Empty frames lent to workers for transmission")                        \
  X(fill_starved, "Times the fill rings could not be topped up: no free frame")          \
  X(worker_reclaims, "Dead workers whose frames were taken back")                        \
  X(frames_reclaimed, "Frames taken back from dead workers")                             \
  X(wakeups_sent, "Times the I/O process woke a sleeping worker")                        \
  X(sleeps, "Times the I/O process went to sleep with nothing to do")

struct IoCounters {
#define FLOWGATE_FIELD(name, help) uint64_t name = 0;
  FLOWGATE_IO_COUNTERS(FLOWGATE_FIELD)
#undef FLOWGATE_FIELD
  template <typename F>
  void for_each(F&& f) const {
#define FLOWGATE_VISIT(name, help) f(#name, help, name);
    FLOWGATE_IO_COUNTERS(FLOWGATE_VISIT)
#undef FLOWGATE_VISIT
  }
};

// Everything the I/O process keeps in its metrics block of the segment (one writer).
struct IoMetrics {
  IoCounters io;
  DispatchCounters dispatch;
  FaultCounters faults_rx;
  FaultCounters faults_tx;
};
static_assert(sizeof(IoMetrics) <= shm::kIoMetricsBytes);
static_assert(std::is_trivially_copyable_v<IoMetrics>);

IoMetrics& io_metrics(const shm::Segment& segment);

enum class IoBackend : uint8_t { xdp, af_packet };

struct IoOptions {
  std::string interface;
  std::vector<uint32_t> queues;  // RX queues to open (XDP); empty: all of the interface's
  IoBackend backend = IoBackend::xdp;
  bool xdp_native = true;  // false: generic (skb) attach
  bool xdp_force_copy = false;
  bool promiscuous = false;  // AF_PACKET: our MAC is not the interface's
  wire::Ipv4Address address;
  std::optional<FaultConfig> faults_rx;  // test-only fault injection, per direction
  std::optional<FaultConfig> faults_tx;
  int wake_fd = -1;                  // ours: workers write it when we sleep
  std::vector<int> worker_wake_fds;  // one per worker
  int supervisor_wake_fd = -1;       // told after a dead worker's frames are reclaimed
  int signal_fd = -1;                // SIGTERM/SIGINT: stop
};

// Runs until SIGTERM/SIGINT arrives on options.signal_fd. Returns the exit status (1 when
// the link cannot be set up; the message is on stderr).
int run_io_process(shm::Segment& segment, const IoOptions& options);

}  // namespace flowgate
