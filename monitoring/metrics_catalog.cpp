#include "monitoring/metrics_catalog.hpp"

#include "rx_tx/io_process.hpp"
#include "stack/counters.hpp"
#include "worker/worker.hpp"

namespace flowgate {
namespace {

// Calls f(group, name, help, value) for every counter of each block, in layout order.
template <typename F>
void visit_io(const IoMetrics& m, F&& f) {
  m.io.for_each([&](const char* name, const char* help, uint64_t v) { f("io", name, help, v); });
  for (size_t i = 0; i < kDispatchCounterCount; ++i) {
    const auto c = static_cast<DispatchCounter>(i);
    f("dispatch", name(c), help(c), m.dispatch[c]);
  }
  for (size_t i = 0; i < kFaultCounterCount; ++i) {
    const auto c = static_cast<FaultCounter>(i);
    f("faults_rx", name(c), help(c), m.faults_rx[c]);
    f("faults_tx", name(c), help(c), m.faults_tx[c]);
  }
}

template <typename F>
void visit_worker(const WorkerMetrics& m, F&& f) {
  for (size_t i = 0; i < kEventCount; ++i) {
    const auto e = static_cast<Event>(i);
    f("event", name(e), help(e), m.stack[e]);
  }
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const auto r = static_cast<DropReason>(i);
    f("drop", name(r), help(r), m.stack[r]);
  }
  m.worker.for_each(
      [&](const char* name, const char* help, uint64_t v) { f("worker", name, help, v); });
}

}  // namespace

void visit_metrics(const shm::Segment& segment,
                   const std::function<void(const MetricSample&)>& visit) {
  visit_io(io_metrics(segment), [&](std::string_view group, std::string_view name,
                                    std::string_view help, uint64_t value) {
    visit(MetricSample{"io", 0, group, name, help, value});
  });
  for (uint32_t k = 0; k < segment.worker_count(); ++k) {
    visit_worker(worker_metrics(segment, k), [&](std::string_view group, std::string_view name,
                                                 std::string_view help, uint64_t value) {
      visit(MetricSample{"worker", k, group, name, help, value});
    });
  }
}

uint64_t metrics_signature() {
  // FNV-1a over "group/name;" of every counter, then the block sizes.
  uint64_t h = 0xcbf29ce484222325u;
  auto mix = [&](std::string_view s) {
    for (char c : s) {
      h ^= static_cast<uint8_t>(c);
      h *= 0x100000001b3u;
    }
  };
  auto add = [&](std::string_view group, std::string_view name, std::string_view, uint64_t) {
    mix(group);
    mix("/");
    mix(name);
    mix(";");
  };
  visit_io(IoMetrics{}, add);
  visit_worker(WorkerMetrics{}, add);
  mix(std::to_string(sizeof(IoMetrics)) + "," + std::to_string(sizeof(WorkerMetrics)));
  return h == 0 ? 1 : h;
}

}  // namespace flowgate
