// Every metric a running gateway keeps in its segment, by name, with its help text: the one
// list `flowgate stats` prints and the Prometheus exporter serves. The values are read
// from shared memory without locks or system calls; each has a single writer (the I/O
// process or one worker), so a reader sees each value whole, if a moment old.
//
// Three visitors, for three shapes:
//   visit_metrics      every counter and gauge with one value: the I/O process's blocks, and
//                      per worker the stack's events, drops, gauges and TCP connections by
//                      state, the worker's own counters, the app table's refusals;
//   visit_histograms   per worker the stack's histograms (the SRTT), cumulative buckets;
//   visit_app_metrics  per worker the applications' labelled series (monitoring/app_metrics.hpp:
//                      families with Prometheus names, types, help and label names).
// The exporter adds the `worker` label itself; nothing here carries one.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "monitoring/app_metrics.hpp"
#include "shm/segment.hpp"
#include "stack/metric_words.hpp"

namespace flowgate {

enum class MetricKind : uint8_t { counter, gauge };

struct MetricSample {
  // "io" for the I/O process, "worker" for a worker (then `worker` says which).
  std::string_view process;
  uint32_t worker = 0;
  // The block the metric belongs to: "io", "dispatch", "faults_rx", "faults_tx" (I/O);
  // "event", "drop", "gauge", "worker", "app_metrics" (workers).
  std::string_view group;
  // Unique within its group: `flowgate stats` prints <process>.<group>.<name>.
  std::string_view name;
  std::string_view help;
  uint64_t value = 0;
  MetricKind kind = MetricKind::counter;
  // When the sample is one series of a labelled family, the family and its one label, for
  // the exporter: "drops" {reason=<name>} for the drop group, "tcp_connections"
  // {state=established} for the gauge named tcp_connections_established (the help is the
  // family's). Empty otherwise.
  std::string_view family;
  std::string_view label_name;
  std::string_view label_value;
};

void visit_metrics(const shm::Segment& segment,
                   const std::function<void(const MetricSample&)>& visit);

struct HistogramSample {
  std::string_view process;  // "worker"
  uint32_t worker = 0;
  std::string_view group;  // "histogram"
  std::string_view name;   // "tcp_srtt_seconds"
  std::string_view help;
  // Finite upper bounds (`le`); snapshot.cumulative has one more entry, +Inf (= count).
  std::span<const double> upper_bounds_seconds;
  LatencyHistogramSnapshot snapshot;
};

void visit_histograms(const shm::Segment& segment,
                      const std::function<void(const HistogramSample&)>& visit);

// `view.info` names the family (Prometheus name, type, help, label names) and view.labels
// holds the label values; for histograms, the bounds are kLatencyBucketBoundsSeconds.
void visit_app_metrics(
    const shm::Segment& segment,
    const std::function<void(uint32_t worker, const metrics::AppMetricView&)>& visit);

// A worker's app metrics area in the segment (the worker writes it, readers read it).
metrics::AppMetricsArea& app_metrics_area(const shm::Segment& segment, uint32_t worker);

// The signature of the metrics blocks' layout: a hash of every group and metric name in
// order, the app families and the blocks' sizes, so a reader built from other sources
// refuses a segment it would misread.
uint64_t metrics_signature();

}  // namespace flowgate
