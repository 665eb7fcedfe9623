// Who owns each UMEM frame. A frame has exactly one owner at any time, recorded in one byte
// per frame in the segment (the tag array). Whoever hands a frame on writes the new owner's
// tag BEFORE publishing the descriptor (the ring's release store orders the two), so a tag
// is never behind the descriptor it describes.
//
// Tags make two things possible that counters alone cannot:
//   - reclaiming a dead worker's frames by identity: every frame tagged with that worker
//     (received frames it held, transmit frames in its pool) or "in transit from" it (a
//     descriptor it tagged but died before publishing) goes back to the free list;
//   - validating what a worker returns: a descriptor whose frame is not tagged "in transit
//     from" that worker is refused and counted, so a buggy or compromised worker cannot make
//     the I/O process free or send a frame twice.
//
// The accounting (free + in flight + held = total) is checked by audit_frames(): it counts
// the tags per owner and compares them with the counts each owner publishes and with the
// rings' occupancies. Each count has one writer and is exact; read by a third process under
// traffic they are snapshots taken microseconds apart, so the comparison is exact when the
// data plane is quiet (what tests check) and within the frames in motion otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shm/layout.hpp"

namespace flowgate::shm {

// Tag encoding: the top two bits say the kind, the low six the worker (kMaxWorkers = 64).
namespace owner {
inline constexpr uint8_t kWorkerKind = 0x00;     // held by worker k, or in its rx/completion rings
inline constexpr uint8_t kInTransitKind = 0x40;  // in worker k's tx/free rings, bound for I/O
inline constexpr uint8_t kIoKind = 0xC0;
inline constexpr uint8_t kIoFree = 0xC0;     // the I/O process's free list
inline constexpr uint8_t kKernelRx = 0xC1;   // posted to a port for reception
inline constexpr uint8_t kKernelTx = 0xC2;   // handed to a port for sending
inline constexpr uint8_t kFaultHeld = 0xC3;  // held back by the fault injector
inline constexpr uint8_t kIoInHand = 0xC4;   // being processed by the I/O process

constexpr uint8_t worker(uint32_t k) {
  return static_cast<uint8_t>(kWorkerKind | (k & 0x3f));
}
constexpr uint8_t in_transit_from(uint32_t k) {
  return static_cast<uint8_t>(kInTransitKind | (k & 0x3f));
}
}  // namespace owner

struct FrameAudit {
  struct Line {
    std::string what;      // e.g. "worker 1 held"
    uint64_t by_tag = 0;   // frames whose tag says so
    uint64_t counted = 0;  // what the owner's counters and the rings say
  };
  uint64_t total = 0;      // frame_count
  uint64_t free = 0;       // in the I/O process's free list
  uint64_t in_flight = 0;  // posted to or sent by a port, held by the fault injector, in rings
  uint64_t held = 0;       // held by workers (received frames, transmit pools)
  uint64_t unknown_tags = 0;
  std::vector<Line> lines;

  // Every line agrees and free + in_flight + held == total.
  bool balanced() const;
  // One line per owner and the sum, for `flowgate stats` and test logs.
  std::string to_string() const;
};

class Segment;
FrameAudit audit_frames(const Segment& segment);

}  // namespace flowgate::shm
