// Every counter a running gateway keeps in its segment, by name, with its help text: the one
// list `flowgate stats` prints and the Prometheus exporter will serve. The values are read
// from shared memory without locks or system calls; each has a single writer (the I/O
// process or one worker), so a reader sees each value whole, if a moment old.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "shm/segment.hpp"

namespace flowgate {

struct MetricSample {
  // "io" for the I/O process, "worker" for a worker (then `worker` says which).
  std::string_view process;
  uint32_t worker = 0;
  // The block the counter belongs to: "io", "dispatch", "faults_rx", "faults_tx" (I/O);
  // "event", "drop", "worker" (workers).
  std::string_view group;
  std::string_view name;
  std::string_view help;
  uint64_t value = 0;
};

void visit_metrics(const shm::Segment& segment,
                   const std::function<void(const MetricSample&)>& visit);

// The signature of the metrics blocks' layout: a hash of every group and counter name in
// order, so a reader built from other sources refuses a segment it would misread.
uint64_t metrics_signature();

}  // namespace flowgate
