// `flowgate stats`: every counter and gauge of a running gateway, like nstat, read from its
// segment without disturbing it: the stack's and workers' metrics, the histograms (count,
// sum and quantiles), the applications' labelled series, then the frame accounting.
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "apps/commands.hpp"
#include "monitoring/metrics_catalog.hpp"
#include "shm/frame_ownership.hpp"
#include "shm/segment.hpp"

namespace flowgate {
namespace {

// count, sum (seconds) and estimated quantiles of one histogram, as `<prefix>.<what> value`.
void print_histogram(const std::string& prefix, const LatencyHistogramSnapshot& h) {
  std::printf("%s.count %" PRIu64 "\n", prefix.c_str(), h.count);
  std::printf("%s.sum %.9g\n", prefix.c_str(), h.sum_seconds());
  for (const auto& [label, q] : {std::pair{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}}) {
    std::printf("%s.%s %.9g\n", prefix.c_str(), label, h.quantile_seconds(q));
  }
}

// Sums over workers: the buckets are the same for every histogram.
void add_to(LatencyHistogramSnapshot& total, const LatencyHistogramSnapshot& h) {
  for (size_t i = 0; i < total.cumulative.size(); ++i) total.cumulative[i] += h.cumulative[i];
  total.count += h.count;
  total.sum_ns += h.sum_ns;
}

// "http_requests_total{listener=web,code=200}": the family without the flowgate_ prefix
// every family shares, and its labels (their values never hold spaces).
std::string series_name(const metrics::AppMetricView& v) {
  std::string_view family = v.info->name;
  if (family.starts_with("flowgate_")) family.remove_prefix(9);
  std::string name(family);
  if (v.label_count > 0) {
    name += "{";
    for (size_t i = 0; i < v.label_count; ++i) {
      if (i > 0) name += ",";
      name += std::string(v.info->label_names[i]) + "=" + std::string(v.labels[i]);
    }
    name += "}";
  }
  return name;
}

void print_app_metrics(const shm::Segment& segment) {
  std::map<std::string, int64_t> sums;  // counters and gauges over workers
  std::map<std::string, LatencyHistogramSnapshot> histogram_sums;
  visit_app_metrics(segment, [&](uint32_t worker, const metrics::AppMetricView& v) {
    const std::string series = series_name(v);
    const std::string prefix = "worker." + std::to_string(worker) + ".app." + series;
    switch (v.info->type) {
      case metrics::MetricType::counter:
        std::printf("%s %" PRIu64 "\n", prefix.c_str(), v.counter);
        sums[series] += static_cast<int64_t>(v.counter);
        break;
      case metrics::MetricType::gauge:
        std::printf("%s %" PRId64 "\n", prefix.c_str(), v.gauge);
        sums[series] += v.gauge;
        break;
      case metrics::MetricType::histogram: {
        print_histogram(prefix, v.histogram);
        add_to(histogram_sums[series], v.histogram);
        break;
      }
    }
  });
  for (const auto& [series, value] : sums) {
    std::printf("workers.app.%s %" PRId64 "\n", series.c_str(), value);
  }
  for (const auto& [series, h] : histogram_sums) print_histogram("workers.app." + series, h);
}

}  // namespace

int run_stats_command(const std::string& instance, bool frames_only) {
  std::unique_ptr<shm::Segment> segment;
  try {
    segment = shm::Segment::open(instance, metrics_signature());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flowgate stats: %s\n", e.what());
    return 1;
  }
  if (!frames_only) {
    // Per process (`io.dispatch.by_ports`, `worker.1.drop.tcp_bad_checksum`,
    // `worker.0.gauge.tcp_connections_established`), then the sum over workers
    // (`workers.event.tcp_established`).
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
    std::map<std::string, LatencyHistogramSnapshot> histogram_sums;
    visit_histograms(*segment, [&](const HistogramSample& h) {
      const std::string name = std::string(h.group) + "." + std::string(h.name);
      print_histogram("worker." + std::to_string(h.worker) + "." + name, h.snapshot);
      add_to(histogram_sums[name], h.snapshot);
    });
    for (const auto& [name, h] : histogram_sums) print_histogram("workers." + name, h);
    print_app_metrics(*segment);
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
