// The catalogue over a real segment: what a worker writes in its blocks (stack counters,
// gauges, the SRTT histogram, the applications' table) is what visit_metrics,
// visit_histograms and visit_app_metrics hand a reader, per worker, with the labels the
// exporter needs; and a segment written with another signature is refused.
#include "monitoring/metrics_catalog.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <string>

#include "shm/layout.hpp"
#include "worker/worker.hpp"

namespace flowgate {
namespace {

using namespace std::chrono_literals;

struct TestSegment {
  std::string name = "test-catalog-" + std::to_string(::getpid());
  std::unique_ptr<shm::Segment> segment;

  TestSegment() {
    shm::Segment::remove(name);
    shm::SegmentParams p;
    p.worker_count = 2;
    p.frame_count = 256;
    p.frame_size = 2048;
    p.ring_size = 64;
    p.config_capacity = 4096;
    segment = shm::Segment::create(name, p, "", 0, metrics_signature());
  }
  ~TestSegment() { shm::Segment::remove(name); }
};

TEST(MetricsCatalog, WorkerGaugesAndCountersAreVisitedWithTheirLabels) {
  TestSegment t;
  StackCounters& stack = worker_metrics(*t.segment, 1).stack;
  stack.count(Event::tcp_connections_closed, 4);
  stack.drop(DropReason::tcp_bad_checksum, 2);
  stack.set(StackGauge::arp_entries, 3);
  stack.tcp_connection_entered(tcp::TcpState::established);
  stack.tcp_connection_entered(tcp::TcpState::established);
  stack.tcp_connection_entered(tcp::TcpState::time_wait);

  std::map<std::string, MetricSample> seen;
  visit_metrics(*t.segment, [&](const MetricSample& m) {
    std::string key(m.process);
    if (m.process == "worker") key += "." + std::to_string(m.worker);
    key += "." + std::string(m.group) + "." + std::string(m.name);
    EXPECT_TRUE(seen.emplace(key, m).second) << "twice: " << key;
    EXPECT_FALSE(m.help.empty()) << key;
  });
  EXPECT_EQ(seen.at("worker.1.event.tcp_connections_closed").value, 4u);
  EXPECT_EQ(seen.at("worker.0.event.tcp_connections_closed").value, 0u);
  const MetricSample& drop = seen.at("worker.1.drop.tcp_bad_checksum");
  EXPECT_EQ(drop.value, 2u);
  EXPECT_EQ(drop.family, "drops");
  EXPECT_EQ(drop.label_name, "reason");
  EXPECT_EQ(drop.label_value, "tcp_bad_checksum");
  const MetricSample& arp = seen.at("worker.1.gauge.arp_entries");
  EXPECT_EQ(arp.value, 3u);
  EXPECT_EQ(arp.kind, MetricKind::gauge);
  const MetricSample& established = seen.at("worker.1.gauge.tcp_connections_established");
  EXPECT_EQ(established.value, 2u);
  EXPECT_EQ(established.kind, MetricKind::gauge);
  EXPECT_EQ(established.family, "tcp_connections");
  EXPECT_EQ(established.label_name, "state");
  EXPECT_EQ(established.label_value, "established");
  EXPECT_EQ(seen.at("worker.1.gauge.tcp_connections_time_wait").value, 1u);
  EXPECT_EQ(seen.count("worker.1.gauge.tcp_connections_listen"), 0u);  // not a connection
  EXPECT_EQ(seen.count("worker.1.gauge.tcp_connections_closed"), 0u);
  EXPECT_EQ(seen.at("worker.1.event.frames_received").kind, MetricKind::counter);
  EXPECT_EQ(seen.at("worker.0.app_metrics.registrations_refused").value, 0u);
}

TEST(MetricsCatalog, TheSrttHistogramIsVisitedPerWorkerWithItsBounds) {
  TestSegment t;
  worker_metrics(*t.segment, 0).stack.srtt.observe(80us);
  worker_metrics(*t.segment, 0).stack.srtt.observe(7ms);
  std::map<uint32_t, LatencyHistogramSnapshot> seen;
  visit_histograms(*t.segment, [&](const HistogramSample& h) {
    EXPECT_EQ(h.name, "tcp_srtt_seconds");
    EXPECT_FALSE(h.help.empty());
    ASSERT_EQ(h.upper_bounds_seconds.size() + 1, h.snapshot.cumulative.size());
    EXPECT_DOUBLE_EQ(h.upper_bounds_seconds.front(), 0.00005);
    EXPECT_DOUBLE_EQ(h.upper_bounds_seconds.back(), 10.0);
    seen[h.worker] = h.snapshot;
  });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].count, 2u);
  EXPECT_EQ(seen[0].cumulative[0], 0u);
  EXPECT_EQ(seen[0].cumulative[1], 1u);  // 80 µs <= 100 µs
  EXPECT_EQ(seen[0].cumulative[7], 2u);  // 7 ms <= 10 ms
  EXPECT_EQ(seen[0].sum_ns, 7'080'000u);
  EXPECT_EQ(seen[1].count, 0u);
}

TEST(MetricsCatalog, AppMetricsAreVisitedPerWorker) {
  TestSegment t;
  metrics::AppMetricsWriter w0(app_metrics_area(*t.segment, 0));
  metrics::AppMetricsWriter w1(app_metrics_area(*t.segment, 1));
  w0.counter(metrics::AppFamily::http_requests, {"web", "200"}).add(3);
  w1.counter(metrics::AppFamily::http_requests, {"web", "200"}).add(5);
  w1.gauge(metrics::AppFamily::backend_up, {"pool", "198.18.0.2:80"}).set(1);
  w1.counter(metrics::AppFamily::listener_errors, {std::string(40, 'x')});  // refused
  std::map<std::string, int64_t> seen;
  visit_app_metrics(*t.segment, [&](uint32_t worker, const metrics::AppMetricView& v) {
    std::string key = std::to_string(worker) + " " + std::string(v.info->name);
    for (size_t i = 0; i < v.label_count; ++i) key += " " + std::string(v.labels[i]);
    seen[key] =
        v.info->type == metrics::MetricType::gauge ? v.gauge : static_cast<int64_t>(v.counter);
  });
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen.at("0 flowgate_http_requests_total web 200"), 3);
  EXPECT_EQ(seen.at("1 flowgate_http_requests_total web 200"), 5);
  EXPECT_EQ(seen.at("1 flowgate_backend_up pool 198.18.0.2:80"), 1);
  uint64_t refused = 0;
  visit_metrics(*t.segment, [&](const MetricSample& m) {
    if (m.group == "app_metrics" && m.worker == 1) refused = m.value;
  });
  EXPECT_EQ(refused, 1u);
}

TEST(MetricsCatalog, ASegmentWithAnotherSignatureIsRefused) {
  TestSegment t;
  EXPECT_NO_THROW(shm::Segment::open(t.name, metrics_signature()));
  EXPECT_THROW(shm::Segment::open(t.name, metrics_signature() ^ 1), shm::SegmentError);
  EXPECT_EQ(metrics_signature(), metrics_signature());
}

}  // namespace
}  // namespace flowgate
