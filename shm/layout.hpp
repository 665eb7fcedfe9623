// The layout of one gateway instance's shared-memory segment (/dev/shm/flowgate.<instance>).
// Everything is at a fixed offset computed from the parameters in the header, and nothing in
// the segment is a pointer: each process maps it wherever mmap puts it and finds every part
// by offset. A reader checks magic and layout version first; a change to any structure here
// bumps kLayoutVersion.
//
//   offset 0            SegmentHeader (one page)
//   io_offset           IoBlock: the I/O process's control words, frame counts, metrics
//   workers_offset      WorkerBlock × worker_count, each worker_stride bytes:
//                         WorkerControl, then the rings rx, completion, tx, free
//   tags_offset         one owner byte per UMEM frame (frame_ownership.hpp)
//   config_offset       the configuration text the instance runs with: two slots of
//                       config_capacity bytes, so a reload writes one while readers use
//                       the other
//   umem_offset         the UMEM: frame_count frames of frame_size bytes, page aligned
//
// Rings per worker (single producer, single consumer each):
//   rx          I/O -> worker  received frames for this worker
//   completion  I/O -> worker  empty frames the worker may build transmissions in
//   tx          worker -> I/O  frames to send
//   free        worker -> I/O  received frames the worker is done with
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shm/ring.hpp"
#include "shm/wakeup.hpp"

namespace flowgate::shm {

inline constexpr uint64_t kMagic = 0x45544147574f4c46;  // "FLOWGATE" in memory order (x86)
inline constexpr uint32_t kLayoutVersion = 3;
inline constexpr uint32_t kMaxWorkers = 64;
inline constexpr size_t kPageSize = 4096;
inline constexpr size_t kInstanceNameCapacity = 40;
inline constexpr size_t kIoMetricsBytes = 16 * 1024;
inline constexpr size_t kWorkerMetricsBytes = 16 * 1024;
// Per worker: the applications' labelled metrics (HTTP requests by code, per-backend
// gauges, histograms: monitoring/app_metrics.hpp), and the connection table a worker
// publishes when `flowgate ss` asks for it (monitoring/connection_snapshot.hpp).
inline constexpr size_t kAppMetricsBytes = 128 * 1024;
inline constexpr size_t kConnectionSnapshotBytes = 1024 * 1024;

// What the creator chooses; everything else follows from it.
struct SegmentParams {
  uint32_t worker_count = 1;
  uint32_t frame_count = 16384;  // power of two
  uint32_t frame_size = 4096;    // 2048 or 4096
  uint32_t ring_size = 2048;     // slots per worker ring, power of two
  uint32_t config_capacity = 256 * 1024;
};

// Where each part is, in bytes from the segment's start.
struct SegmentLayout {
  SegmentParams params;
  uint64_t io_offset = 0;
  uint64_t workers_offset = 0;
  uint64_t worker_stride = 0;
  uint64_t ring_offsets[4] = {};  // within a worker block, by RingKind
  uint64_t tags_offset = 0;
  uint64_t config_offset = 0;
  uint64_t umem_offset = 0;
  uint64_t umem_size = 0;
  uint64_t total_size = 0;
};

enum class RingKind : uint8_t { rx = 0, completion = 1, tx = 2, free = 3 };
inline constexpr const char* kRingNames[4] = {"rx", "completion", "tx", "free"};

// nullptr when the parameters are acceptable, else why not.
const char* check_params(const SegmentParams& p);
// The layout for acceptable parameters (check_params first).
SegmentLayout compute_layout(const SegmentParams& p);

// The lifecycle of one worker slot, written by the supervisor and the I/O process and the
// worker itself, each for its own transitions:
//   stopped  -> starting   supervisor: a worker process was started for the slot
//   starting -> running    worker: attached to its rings, ready for frames
//   running  -> dead       supervisor: the process exited (crash, kill, or drain finished)
//   starting -> dead       supervisor: it exited before attaching
//   dead     -> reclaimed  I/O process: every frame the slot held is back in the pool and
//                          the rings are empty
//   reclaimed-> starting   supervisor: restart
enum class WorkerState : uint32_t { stopped = 0, starting, running, dead, reclaimed };
const char* to_string(WorkerState s);

enum class IoState : uint32_t { stopped = 0, starting, running, stopping };
const char* to_string(IoState s);

struct alignas(kCacheLine) SegmentHeader {
  uint64_t magic = 0;
  uint32_t layout_version = 0;
  uint32_t header_bytes = 0;  // sizeof(SegmentHeader) of the writer, a second check
  SegmentLayout layout{};
  char instance[kInstanceNameCapacity] = {};
  uint32_t flow_seed = 0;  // the shared flow hash's seed (wire/flow_hash.hpp)
  // The signature of the metrics blocks' contents (counter names and order), so a reader
  // built from other sources refuses to misread them.
  uint64_t metrics_signature = 0;
  uint64_t created_unix_ns = 0;
  std::atomic<int32_t> supervisor_pid{0};
  // The configuration text: config_length[slot] bytes at config_offset + slot × capacity.
  // The supervisor writes the slot not in use, then publishes it: a reader takes the
  // generation (odd while a write is in progress), copies the slot it names, and retries if
  // the generation moved meanwhile (a seqlock), so it never uses a half-written text.
  std::atomic<uint32_t> config_length[2] = {};
  std::atomic<uint32_t> config_slot{0};
  std::atomic<uint32_t> config_generation{0};
  // 1 once the creator has filled everything in; readers wait for it.
  std::atomic<uint32_t> ready{0};
};

// Frame counts kept by the I/O process for the accounting (frame_ownership.hpp); written by
// the I/O process only, read by anyone.
struct IoFrameCounts {
  std::atomic<uint32_t> free{0};        // in the I/O process's free list
  std::atomic<uint32_t> kernel_rx{0};   // posted to a port for reception
  std::atomic<uint32_t> kernel_tx{0};   // handed to a port for sending, not completed
  std::atomic<uint32_t> fault_held{0};  // held back by the fault injector (reordering)
  std::atomic<uint32_t> in_hand{0};     // being processed this instant (0 when idle)
};

struct alignas(kPageSize) IoBlock {
  std::atomic<uint32_t> state{0};  // IoState
  std::atomic<int32_t> pid{0};
  std::atomic<uint64_t> heartbeat_ns{0};  // CLOCK_MONOTONIC of its last loop iteration
  WakeWord wake;                          // the I/O process sleeps; workers wake it
  alignas(kCacheLine) IoFrameCounts frames;
  // Frames lent to each worker for transmission and not yet back (see io_process).
  alignas(kCacheLine) std::atomic<uint32_t> lent[kMaxWorkers] = {};
  alignas(kCacheLine) std::byte metrics[kIoMetricsBytes] = {};
};

struct alignas(kCacheLine) WorkerControl {
  std::atomic<uint32_t> state{0};       // WorkerState
  std::atomic<uint32_t> generation{0};  // +1 per start, so the I/O process sees restarts
  std::atomic<int32_t> pid{0};
  std::atomic<uint32_t> restarts{0};
  std::atomic<uint64_t> heartbeat_ns{0};
  WakeWord wake;  // the worker sleeps; the I/O process wakes it
  // Frame counts kept by the worker (one writer).
  alignas(kCacheLine) std::atomic<uint32_t> rx_held{0};  // taken from rx, not yet freed
  std::atomic<uint32_t> tx_pool{0};                      // empty transmit frames it holds
  std::atomic<uint32_t> tx_pending{0};                   // built, not yet submitted to tx
};

struct alignas(kPageSize) WorkerBlock {
  WorkerControl control;
  alignas(kPageSize) std::byte metrics[kWorkerMetricsBytes] = {};
  alignas(kPageSize) std::byte app_metrics[kAppMetricsBytes] = {};
  alignas(kPageSize) std::byte connection_snapshot[kConnectionSnapshotBytes] = {};
  // The rings follow at SegmentLayout::ring_offsets.
};

static_assert(std::is_standard_layout_v<SegmentHeader>);
static_assert(std::is_standard_layout_v<IoBlock>);
static_assert(std::is_standard_layout_v<WorkerBlock>);
static_assert(sizeof(SegmentHeader) <= kPageSize);

}  // namespace flowgate::shm
