#include "shm/frame_ownership.hpp"

#include <array>
#include <cstdio>

#include "shm/segment.hpp"

namespace flowgate::shm {

bool FrameAudit::balanced() const {
  if (unknown_tags != 0 || free + in_flight + held != total) return false;
  for (const Line& l : lines) {
    if (l.by_tag != l.counted) return false;
  }
  return true;
}

std::string FrameAudit::to_string() const {
  std::string out;
  char line[160];
  for (const Line& l : lines) {
    std::snprintf(line, sizeof line, "  %-28s tags %8llu  counted %8llu%s\n", l.what.c_str(),
                  static_cast<unsigned long long>(l.by_tag),
                  static_cast<unsigned long long>(l.counted), l.by_tag == l.counted ? "" : "  <-");
    out += line;
  }
  std::snprintf(line, sizeof line,
                "frames: free %llu + in flight %llu + held %llu = %llu of %llu (%s)%s\n",
                static_cast<unsigned long long>(free), static_cast<unsigned long long>(in_flight),
                static_cast<unsigned long long>(held),
                static_cast<unsigned long long>(free + in_flight + held),
                static_cast<unsigned long long>(total), balanced() ? "balanced" : "NOT balanced",
                unknown_tags != 0 ? ", unknown tags!" : "");
  return line + out;
}

FrameAudit audit_frames(const Segment& segment) {
  const uint32_t frames = segment.layout().params.frame_count;
  const uint32_t workers = segment.worker_count();
  std::array<uint64_t, 256> by_tag{};
  const uint8_t* tags = segment.frame_tags();
  for (uint32_t i = 0; i < frames; ++i) ++by_tag[tags[i]];

  FrameAudit a;
  a.total = frames;
  const IoFrameCounts& io = segment.io().frames;
  auto load = [](const std::atomic<uint32_t>& v) { return v.load(std::memory_order_acquire); };
  auto add = [&](std::string what, uint64_t tag_count, uint64_t counted) {
    a.lines.push_back({std::move(what), tag_count, counted});
  };
  add("io free", by_tag[owner::kIoFree], load(io.free));
  add("io posted for reception", by_tag[owner::kKernelRx], load(io.kernel_rx));
  add("io sending", by_tag[owner::kKernelTx], load(io.kernel_tx));
  add("io fault injector", by_tag[owner::kFaultHeld], load(io.fault_held));
  add("io in hand", by_tag[owner::kIoInHand], load(io.in_hand));
  a.free = load(io.free);
  a.in_flight = load(io.kernel_rx) + load(io.kernel_tx) + load(io.fault_held) + load(io.in_hand);

  uint64_t known = by_tag[owner::kIoFree] + by_tag[owner::kKernelRx] + by_tag[owner::kKernelTx] +
                   by_tag[owner::kFaultHeld] + by_tag[owner::kIoInHand];
  for (uint32_t k = 0; k < workers; ++k) {
    const WorkerControl& c = segment.worker(k).control;
    const uint64_t to_worker = segment.ring(k, RingKind::rx).occupancy() +
                               segment.ring(k, RingKind::completion).occupancy();
    const uint64_t from_worker =
        segment.ring(k, RingKind::tx).occupancy() + segment.ring(k, RingKind::free).occupancy();
    const uint64_t held = uint64_t{load(c.rx_held)} + load(c.tx_pool) + load(c.tx_pending);
    const std::string who = "worker " + std::to_string(k);
    add(who + " held + rings to it", by_tag[owner::worker(k)], to_worker + held);
    add(who + " rings from it", by_tag[owner::in_transit_from(k)], from_worker);
    known += by_tag[owner::worker(k)] + by_tag[owner::in_transit_from(k)];
    a.in_flight += to_worker + from_worker;
    a.held += held;
  }
  a.unknown_tags = frames - known;
  return a;
}

}  // namespace flowgate::shm
