// `flowgate stats`: every counter of a running gateway, like nstat, read from its segment
// without disturbing it, then the frame accounting.
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "apps/commands.hpp"
#include "monitoring/metrics_catalog.hpp"
#include "shm/frame_ownership.hpp"
#include "shm/segment.hpp"

namespace flowgate {

int run_stats_command(const std::string& instance, bool frames_only) {
  std::unique_ptr<shm::Segment> segment;
  try {
    segment = shm::Segment::open(instance, metrics_signature());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flowgate stats: %s\n", e.what());
    return 1;
  }
  if (!frames_only) {
    // Per process (`io.dispatch.by_ports`, `worker.1.drop.tcp_bad_checksum`), then the sum
    // over workers (`workers.event.tcp_established`).
    std::map<std::string, uint64_t> sums;
    visit_metrics(*segment, [&](const MetricSample& m) {
      std::string name(m.process);
      if (m.process == "worker") name += "." + std::to_string(m.worker);
      name += "." + std::string(m.group) + "." + std::string(m.name);
      std::printf("%s %" PRIu64 "\n", name.c_str(), m.value);
      if (m.process == "worker") {
        sums["workers." + std::string(m.group) + "." + std::string(m.name)] += m.value;
      }
    });
    for (const auto& [name, value] : sums) std::printf("%s %" PRIu64 "\n", name.c_str(), value);
    for (uint32_t k = 0; k < segment->worker_count(); ++k) {
      const shm::WorkerControl& c = segment->worker(k).control;
      std::printf("worker.%u.state %s\n", k,
                  shm::to_string(static_cast<shm::WorkerState>(c.state.load())));
      std::printf("worker.%u.pid %d\n", k, c.pid.load());
      std::printf("worker.%u.restarts %u\n", k, c.restarts.load());
    }
  }
  const shm::FrameAudit audit = shm::audit_frames(*segment);
  std::printf("frames.total %" PRIu64 "\nframes.free %" PRIu64 "\nframes.in_flight %" PRIu64
              "\nframes.held %" PRIu64 "\nframes.balanced %d\n",
              audit.total, audit.free, audit.in_flight, audit.held, audit.balanced() ? 1 : 0);
  // The per-owner detail as comments, so `name value` parsers skip it.
  const std::string detail = audit.to_string();
  size_t at = 0;
  while (at < detail.size()) {
    const size_t end = detail.find('\n', at);
    std::printf("# %s\n", detail.substr(at, end - at).c_str());
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return 0;
}

}  // namespace flowgate
