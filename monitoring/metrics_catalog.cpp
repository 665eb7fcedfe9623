#include "monitoring/metrics_catalog.hpp"

#include <array>
#include <memory>
#include <string>

#include "rx_tx/io_process.hpp"
#include "shm/layout.hpp"
#include "stack/counters.hpp"
#include "worker/worker.hpp"

namespace flowgate {

static_assert(metrics::kAppMetricsAreaBytes == shm::kAppMetricsBytes,
              "app_metrics.hpp must describe WorkerBlock::app_metrics");
static_assert(sizeof(metrics::AppMetricsArea) <= sizeof(shm::WorkerBlock::app_metrics));
static_assert(alignof(metrics::AppMetricsArea) <= shm::kPageSize);

namespace {

MetricSample sample(std::string_view group, std::string_view name, std::string_view help,
                    uint64_t value, MetricKind kind = MetricKind::counter) {
  MetricSample s;
  s.group = group;
  s.name = name;
  s.help = help;
  s.value = value;
  s.kind = kind;
  return s;
}

MetricSample labelled(MetricSample s, std::string_view family, std::string_view label_name,
                      std::string_view label_value) {
  s.family = family;
  s.label_name = label_name;
  s.label_value = label_value;
  return s;
}

// Calls f(sample) for every counter of each block, in layout order; the process and worker
// fields are the caller's.
template <typename F>
void visit_io(const IoMetrics& m, F&& f) {
  m.io.for_each(
      [&](const char* name, const char* help, uint64_t v) { f(sample("io", name, help, v)); });
  for (size_t i = 0; i < kDispatchCounterCount; ++i) {
    const auto c = static_cast<DispatchCounter>(i);
    f(sample("dispatch", name(c), help(c), m.dispatch[c]));
  }
  for (size_t i = 0; i < kFaultCounterCount; ++i) {
    const auto c = static_cast<FaultCounter>(i);
    f(sample("faults_rx", name(c), help(c), m.faults_rx[c]));
    f(sample("faults_tx", name(c), help(c), m.faults_tx[c]));
  }
}

// "tcp_connections_<state>" for the states a connection can be in (not CLOSED, not LISTEN).
constexpr tcp::TcpState kConnectionStates[] = {
    tcp::TcpState::syn_sent,   tcp::TcpState::syn_received, tcp::TcpState::established,
    tcp::TcpState::fin_wait_1, tcp::TcpState::fin_wait_2,   tcp::TcpState::close_wait,
    tcp::TcpState::closing,    tcp::TcpState::last_ack,     tcp::TcpState::time_wait};

const std::array<std::string, std::size(kConnectionStates)>& state_gauge_names() {
  static const auto names = [] {
    std::array<std::string, std::size(kConnectionStates)> n;
    for (size_t i = 0; i < n.size(); ++i) {
      n[i] = "tcp_connections_" + std::string(tcp::metric_label(kConnectionStates[i]));
    }
    return n;
  }();
  return names;
}

template <typename F>
void visit_worker(const WorkerMetrics& m, const metrics::AppMetricsArea& app, F&& f) {
  for (size_t i = 0; i < kEventCount; ++i) {
    const auto e = static_cast<Event>(i);
    f(sample("event", name(e), help(e), m.stack[e]));
  }
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const auto r = static_cast<DropReason>(i);
    f(labelled(sample("drop", name(r), help(r), m.stack[r]), "drops", "reason", name(r)));
  }
  for (size_t i = 0; i < kGaugeCount; ++i) {
    const auto g = static_cast<StackGauge>(i);
    f(sample("gauge", name(g), help(g), m.stack[g], MetricKind::gauge));
  }
  for (size_t i = 0; i < std::size(kConnectionStates); ++i) {
    const tcp::TcpState s = kConnectionStates[i];
    f(labelled(sample("gauge", state_gauge_names()[i], kTcpConnectionsHelp,
                      m.stack.connections_in(s), MetricKind::gauge),
               "tcp_connections", "state", tcp::metric_label(s)));
  }
  m.worker.for_each(
      [&](const char* name, const char* help, uint64_t v) { f(sample("worker", name, help, v)); });
  f(sample("app_metrics", "registrations_refused",
           "Application metric series not registered: table full or labels unfit",
           metric_load(app.registrations_refused)));
}

}  // namespace

metrics::AppMetricsArea& app_metrics_area(const shm::Segment& segment, uint32_t worker) {
  return *reinterpret_cast<metrics::AppMetricsArea*>(segment.worker(worker).app_metrics);
}

void visit_metrics(const shm::Segment& segment,
                   const std::function<void(const MetricSample&)>& visit) {
  visit_io(io_metrics(segment), [&](MetricSample s) {
    s.process = "io";
    visit(s);
  });
  for (uint32_t k = 0; k < segment.worker_count(); ++k) {
    visit_worker(worker_metrics(segment, k), app_metrics_area(segment, k), [&](MetricSample s) {
      s.process = "worker";
      s.worker = k;
      visit(s);
    });
  }
}

void visit_histograms(const shm::Segment& segment,
                      const std::function<void(const HistogramSample&)>& visit) {
  for (uint32_t k = 0; k < segment.worker_count(); ++k) {
    HistogramSample s;
    s.process = "worker";
    s.worker = k;
    s.group = "histogram";
    s.name = "tcp_srtt_seconds";
    s.help = kSrttHelp;
    s.upper_bounds_seconds = kLatencyBucketBoundsSeconds;
    s.snapshot = LatencyHistogramSnapshot::of(worker_metrics(segment, k).stack.srtt);
    visit(s);
  }
}

void visit_app_metrics(
    const shm::Segment& segment,
    const std::function<void(uint32_t worker, const metrics::AppMetricView&)>& visit) {
  for (uint32_t k = 0; k < segment.worker_count(); ++k) {
    metrics::read_app_metrics(app_metrics_area(segment, k),
                              [&](const metrics::AppMetricView& v) { visit(k, v); });
  }
}

uint64_t metrics_signature() {
  // FNV-1a over "group/name;" of every metric, the histograms, the app families, then the
  // block sizes.
  uint64_t h = 0xcbf29ce484222325u;
  auto mix = [&](std::string_view s) {
    for (char c : s) {
      h ^= static_cast<uint8_t>(c);
      h *= 0x100000001b3u;
    }
  };
  auto add = [&](const MetricSample& s) {
    mix(s.group);
    mix("/");
    mix(s.name);
    mix(";");
  };
  visit_io(IoMetrics{}, add);
  const auto app = std::make_unique<metrics::AppMetricsArea>();
  visit_worker(WorkerMetrics{}, *app, add);
  mix("histogram/tcp_srtt_seconds;");
  for (int64_t bound : kLatencyBucketBoundsNs) mix(std::to_string(bound) + ",");
  mix(std::to_string(metrics::app_metrics_signature()));
  mix(std::to_string(sizeof(IoMetrics)) + "," + std::to_string(sizeof(WorkerMetrics)));
  return h == 0 ? 1 : h;
}

}  // namespace flowgate
