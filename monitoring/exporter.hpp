// The Prometheus view of a running gateway: every metric its segment holds, turned into
// prometheus-cpp MetricFamily values when a scrape asks for them. Nothing is copied, counted
// or locked on the packet path (STYLE.md point 14): the workers and the I/O process keep
// plain words in shared memory, and this module is the only code that knows prometheus-cpp.
//
// What is exported, and under which names, follows Prometheus's conventions: the `flowgate_`
// prefix, `_total` on counters, base units (seconds, bytes), and labels instead of names for
// what varies (worker, direction, reason, state, ...). The catalogue (metrics_catalog.hpp)
// says what each value is; this module decides what it is called:
//   - a sample the catalogue already places in a labelled family (drops by reason, TCP
//     connections by state) keeps that family and label;
//   - a few related counters are folded into one family with a label (kRoutes in
//     exporter.cpp: frames in and out as {direction}, retransmissions as {cause}, ...);
//   - every other counter becomes a family of its own, named after its group and name
//     (`event.tcp_delayed_acks` -> flowgate_tcp_delayed_acks_total), with its one-line help.
// So a counter added to the catalogue is exported without a change here.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>
#include <string_view>
#include <vector>

#include "shm/segment.hpp"

namespace flowgate::exporter {

// Every family of `segment`, in a stable order: the gateway's own (start time, the I/O
// process, the UMEM), then what the catalogue lists, then the histograms and the
// applications' metrics. Each family has HELP text and at least one sample.
std::vector<prometheus::MetricFamily> collect(const shm::Segment& segment);

// The Collectable the Exposer calls at each scrape of /metrics.
class SegmentCollector final : public prometheus::Collectable {
 public:
  explicit SegmentCollector(const shm::Segment& segment) : segment_(segment) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return collect(segment_); }

 private:
  const shm::Segment& segment_;
};

// The text format of `families` (prometheus::TextSerializer), as /metrics serves it.
std::string serialize(const std::vector<prometheus::MetricFamily>& families);

// The Prometheus name of a catalogue counter that no route or catalogue family names:
// flowgate_<prefix><name>[_total]. Exposed for the tests.
std::string default_family_name(std::string_view group, std::string_view name, bool counter);

}  // namespace flowgate::exporter
