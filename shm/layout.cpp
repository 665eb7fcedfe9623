#include "shm/layout.hpp"

namespace flowgate::shm {
namespace {

constexpr uint64_t round_up(uint64_t v, uint64_t to) {
  return (v + to - 1) / to * to;
}

}  // namespace

const char* check_params(const SegmentParams& p) {
  if (p.worker_count == 0 || p.worker_count > kMaxWorkers) return "worker count must be 1-64";
  if (!is_power_of_two(p.frame_count) || p.frame_count < 64 || p.frame_count > (1u << 20)) {
    return "frame count must be a power of two from 64 to 1048576";
  }
  if (p.frame_size != 2048 && p.frame_size != 4096) return "frame size must be 2048 or 4096";
  if (!is_power_of_two(p.ring_size) || p.ring_size < 8 || p.ring_size > 65536) {
    return "ring size must be a power of two from 8 to 65536";
  }
  if (p.config_capacity == 0 || p.config_capacity > (16u << 20)) {
    return "config capacity must be 1 byte to 16 MiB";
  }
  return nullptr;
}

SegmentLayout compute_layout(const SegmentParams& p) {
  SegmentLayout l;
  l.params = p;
  uint64_t at = kPageSize;  // the header's page
  l.io_offset = at;
  at = round_up(at + sizeof(IoBlock), kPageSize);

  // A worker block: control and metrics, then its four rings, each cache-line aligned.
  uint64_t in_block = round_up(sizeof(WorkerBlock), kCacheLine);
  for (auto& ring_offset : l.ring_offsets) {
    ring_offset = in_block;
    in_block = round_up(in_block + ring_bytes<RingDesc>(p.ring_size), kCacheLine);
  }
  l.worker_stride = round_up(in_block, kPageSize);
  l.workers_offset = at;
  at += l.worker_stride * p.worker_count;

  l.tags_offset = at;
  at = round_up(at + p.frame_count, kPageSize);
  l.config_offset = at;
  at = round_up(at + 2 * uint64_t{p.config_capacity}, kPageSize);
  // AF_XDP wants the UMEM page aligned; 2 MiB alignment also lets it sit on huge pages.
  l.umem_offset = round_up(at, 2 * 1024 * 1024);
  l.umem_size = uint64_t{p.frame_count} * p.frame_size;
  l.total_size = l.umem_offset + l.umem_size;
  return l;
}

const char* to_string(WorkerState s) {
  switch (s) {
    case WorkerState::stopped:
      return "stopped";
    case WorkerState::starting:
      return "starting";
    case WorkerState::running:
      return "running";
    case WorkerState::dead:
      return "dead";
    case WorkerState::reclaimed:
      return "reclaimed";
  }
  return "?";
}

const char* to_string(IoState s) {
  switch (s) {
    case IoState::stopped:
      return "stopped";
    case IoState::starting:
      return "starting";
    case IoState::running:
      return "running";
    case IoState::stopping:
      return "stopping";
  }
  return "?";
}

}  // namespace flowgate::shm
