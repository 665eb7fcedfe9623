// The exporter over a real segment: known values written where the processes write them
// come out of /metrics's text under the documented names, types, labels and HELP; every value
// the catalogue lists is exported exactly once; the names follow Prometheus's conventions.
#include "monitoring/exporter.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <regex>

#include "exposition.hpp"
#include "monitoring/app_metrics.hpp"
#include "monitoring/metrics_catalog.hpp"
#include "rx_tx/io_process.hpp"
#include "worker/worker.hpp"

namespace flowgate::exporter {
namespace {

using namespace std::chrono_literals;
using testing::Exposition;
using testing::TestSegment;

Exposition scrape(const shm::Segment& segment) {
  const std::string text = serialize(collect(segment));
  Exposition e = testing::parse_exposition(text);
  EXPECT_TRUE(e.problems.empty()) << ::testing::PrintToString(e.problems) << "\n" << text;
  return e;
}

TEST(Exporter, GatewayAndWorkerStateFromTheControlWords) {
  TestSegment t("state");
  shm::Segment& s = *t.segment;
  s.io().state.store(static_cast<uint32_t>(shm::IoState::running));
  s.worker(0).control.state.store(static_cast<uint32_t>(shm::WorkerState::running));
  s.worker(1).control.state.store(static_cast<uint32_t>(shm::WorkerState::dead));
  s.worker(1).control.restarts.store(3);
  s.publish_config("workers: 2\n");

  const Exposition e = scrape(s);
  EXPECT_EQ(e.value("flowgate_io_up"), 1);
  EXPECT_EQ(e.value("flowgate_worker_up", R"(worker="0")"), 1);
  EXPECT_EQ(e.value("flowgate_worker_up", R"(worker="1")"), 0);
  EXPECT_EQ(e.value("flowgate_worker_state", R"(worker="1",state="dead")"), 1);
  EXPECT_EQ(e.value("flowgate_worker_state", R"(worker="1",state="running")"), 0);
  EXPECT_EQ(e.value("flowgate_worker_state", R"(worker="0",state="running")"), 1);
  EXPECT_EQ(e.value("flowgate_worker_restarts_total", R"(worker="1")"), 3);
  EXPECT_EQ(e.families.at("flowgate_worker_restarts_total").type, "counter");
  EXPECT_EQ(e.families.at("flowgate_worker_up").type, "gauge");
  EXPECT_EQ(e.value("flowgate_config_reloads_total"), 1);
  EXPECT_EQ(e.value("flowgate_build_info", R"(version=")" FLOWGATE_TEST_VERSION R"(")"), 1);
  const double started = e.value("flowgate_start_time_seconds");
  EXPECT_NEAR(started, static_cast<double>(::time(nullptr)), 60);
}

TEST(Exporter, UmemFramesAndRingOccupancy) {
  TestSegment t("frames");
  shm::Segment& s = *t.segment;
  shm::IoFrameCounts& io = s.io().frames;
  io.free.store(900);
  io.kernel_rx.store(64);
  io.kernel_tx.store(2);
  io.fault_held.store(1);
  shm::WorkerControl& c = s.worker(1).control;
  c.rx_held.store(5);
  c.tx_pool.store(30);
  c.tx_pending.store(2);
  s.io().lent[1].store(32);
  // Three descriptors on worker 1's rx ring, one on worker 0's free ring.
  shm::RingProducer<shm::RingDesc> rx(s.ring(1, shm::RingKind::rx));
  uint32_t first = 0;
  ASSERT_EQ(rx.reserve(3, &first), 3u);
  rx.submit(3);
  shm::RingProducer<shm::RingDesc> free_ring(s.ring(0, shm::RingKind::free));
  ASSERT_EQ(free_ring.reserve(1, &first), 1u);
  free_ring.submit(1);

  const Exposition e = scrape(s);
  EXPECT_EQ(e.value("flowgate_umem_capacity_frames"), 1024);
  EXPECT_EQ(e.value("flowgate_umem_frames", R"(state="free")"), 900);
  EXPECT_EQ(e.value("flowgate_umem_frames", R"(state="in_flight")"), 64 + 2 + 1 + 3 + 1);
  EXPECT_EQ(e.value("flowgate_umem_frames", R"(state="held")"), 5 + 30 + 2);
  EXPECT_EQ(e.value("flowgate_io_frames_in_flight", R"(state="posted_rx")"), 64);
  EXPECT_EQ(e.value("flowgate_io_frames_in_flight", R"(state="fault_held")"), 1);
  EXPECT_EQ(e.value("flowgate_worker_frames_held", R"(worker="1",state="tx_pool")"), 30);
  EXPECT_EQ(e.value("flowgate_worker_tx_frames_lent", R"(worker="1")"), 32);
  EXPECT_EQ(e.value("flowgate_ring_used_slots", R"(worker="1",ring="rx")"), 3);
  EXPECT_EQ(e.value("flowgate_ring_used_slots", R"(worker="0",ring="free")"), 1);
  EXPECT_EQ(e.value("flowgate_ring_used_slots", R"(worker="0",ring="rx")"), 0);
  EXPECT_EQ(e.value("flowgate_ring_size_slots", R"(worker="1",ring="completion")"), 64);
  EXPECT_EQ(e.families.at("flowgate_umem_frames").type, "gauge");
}

TEST(Exporter, StackCountersUnderTheirFamiliesWithHelp) {
  TestSegment t("stack");
  StackCounters& stack = worker_metrics(*t.segment, 1).stack;
  stack.count(Event::frames_received, 10);
  stack.count(Event::frames_sent, 20);
  stack.count(Event::bytes_received, 1500);
  stack.count(Event::tcp_active_opens, 3);
  stack.count(Event::tcp_passive_opens, 4);
  stack.count(Event::tcp_retransmits_timeout, 5);
  stack.count(Event::tcp_retransmits_fast, 6);
  stack.count(Event::tcp_syn_cookies_sent, 7);
  stack.count(Event::tcp_syn_cookies_validated, 8);
  stack.count(Event::tcp_challenge_acks_sent, 11);
  stack.count(Event::tcp_connections_reset, 12);
  stack.count(Event::tcp_delayed_acks, 13);
  stack.count(Event::reasm_completed, 14);
  stack.drop(DropReason::tcp_bad_checksum, 9);
  stack.drop(DropReason::reasm_timeout, 2);
  stack.set(StackGauge::arp_entries, 4);
  stack.set(StackGauge::reassemblies_in_progress, 1);
  stack.tcp_connection_entered(tcp::TcpState::established);
  stack.tcp_connection_entered(tcp::TcpState::established);
  worker_metrics(*t.segment, 1).worker.tx_ring_full = 15;
  IoMetrics& io = io_metrics(*t.segment);
  io.io.rx_frames = 100;
  io.io.drop_worker_ring_full = 16;
  io.dispatch.values[static_cast<size_t>(DispatchCounter::by_ports)] = 17;
  io.faults_tx.values[static_cast<size_t>(FaultCounter::dropped)] = 18;

  const Exposition e = scrape(*t.segment);
  EXPECT_EQ(e.value("flowgate_frames_total", R"(worker="1",direction="rx")"), 10);
  EXPECT_EQ(e.value("flowgate_frames_total", R"(worker="1",direction="tx")"), 20);
  EXPECT_EQ(e.value("flowgate_frames_total", R"(worker="0",direction="rx")"), 0);
  EXPECT_EQ(e.value("flowgate_bytes_total", R"(worker="1",direction="rx")"), 1500);
  EXPECT_EQ(e.value("flowgate_tcp_connections_opened_total", R"(worker="1",side="active")"), 3);
  EXPECT_EQ(e.value("flowgate_tcp_connections_opened_total", R"(worker="1",side="passive")"), 4);
  EXPECT_EQ(e.value("flowgate_tcp_retransmitted_segments_total", R"(worker="1",cause="timeout")"),
            5);
  EXPECT_EQ(e.value("flowgate_tcp_retransmitted_segments_total", R"(worker="1",cause="fast")"), 6);
  EXPECT_EQ(e.value("flowgate_tcp_syn_cookies_total", R"(worker="1",result="sent")"), 7);
  EXPECT_EQ(e.value("flowgate_tcp_syn_cookies_total", R"(worker="1",result="validated")"), 8);
  EXPECT_EQ(e.value("flowgate_tcp_challenge_acks_total", R"(worker="1",result="sent")"), 11);
  EXPECT_EQ(e.value("flowgate_tcp_connections_reset_total", R"(worker="1")"), 12);
  EXPECT_EQ(e.value("flowgate_tcp_delayed_acks_total", R"(worker="1")"), 13);
  EXPECT_EQ(e.value("flowgate_drops_total", R"(worker="1",reason="tcp_bad_checksum")"), 9);
  EXPECT_EQ(e.value("flowgate_drops_total", R"(worker="1",reason="reasm_timeout")"), 2);
  EXPECT_EQ(e.value("flowgate_ipv4_reassemblies_total", R"(worker="1",result="completed")"), 14);
  EXPECT_EQ(e.value("flowgate_ipv4_reassemblies_total", R"(worker="1",result="timed_out")"), 2);
  EXPECT_EQ(e.value("flowgate_ipv4_reassemblies_in_progress", R"(worker="1")"), 1);
  EXPECT_EQ(e.value("flowgate_arp_entries", R"(worker="1")"), 4);
  EXPECT_EQ(e.value("flowgate_tcp_connections", R"(worker="1",state="established")"), 2);
  EXPECT_EQ(e.value("flowgate_tcp_connections", R"(worker="0",state="time_wait")"), 0);
  EXPECT_EQ(e.value("flowgate_worker_ring_full_total", R"(worker="1",ring="tx")"), 15);
  EXPECT_EQ(e.value("flowgate_io_frames_total", R"(direction="rx")"), 100);
  EXPECT_EQ(e.value("flowgate_io_drops_total", R"(reason="worker_ring_full")"), 16);
  EXPECT_EQ(e.value("flowgate_dispatch_steered_total", R"(rule="by_ports")"), 17);
  EXPECT_EQ(e.value("flowgate_fault_injector_faults_total", R"(direction="tx",fault="dropped")"),
            18);

  // Types, and HELP: a family of one counter has that counter's one line; a shared family
  // its own.
  EXPECT_EQ(e.families.at("flowgate_drops_total").type, "counter");
  EXPECT_EQ(e.families.at("flowgate_tcp_connections").type, "gauge");
  EXPECT_EQ(e.families.at("flowgate_arp_entries").type, "gauge");
  EXPECT_EQ(e.families.at("flowgate_tcp_delayed_acks_total").help, help(Event::tcp_delayed_acks));
  EXPECT_EQ(e.families.at("flowgate_tcp_connections").help, kTcpConnectionsHelp);
  EXPECT_NE(e.families.at("flowgate_drops_total").help.find("by reason"), std::string::npos);
  EXPECT_NE(e.families.at("flowgate_tcp_retransmitted_segments_total").help.find("(timeout)"),
            std::string::npos);
  // Every reason is a series, zeros included, so rate() works from the first scrape.
  EXPECT_EQ(e.families.at("flowgate_drops_total").series.at("flowgate_drops_total").size(),
            2 * kDropReasonCount);
}

// Every word of the I/O process's and the workers' metrics blocks gets a value of its own;
// each value the catalogue visits must come out of /metrics exactly once (a reassembly
// timeout twice: it is also one end of flowgate_ipv4_reassemblies_total).
TEST(Exporter, EveryCatalogueValueIsExportedExactlyOnce) {
  TestSegment t("complete");
  uint64_t next = 1'000'000;
  auto fill = [&](void* block, size_t bytes) {
    auto* words = static_cast<uint64_t*>(block);
    for (size_t i = 0; i < bytes / sizeof(uint64_t); ++i) words[i] = next++;
  };
  fill(&io_metrics(*t.segment), sizeof(IoMetrics));
  for (uint32_t k = 0; k < t.segment->worker_count(); ++k) {
    fill(&worker_metrics(*t.segment, k), sizeof(WorkerMetrics));
  }
  std::map<uint64_t, std::string> visited;  // value -> what
  visit_metrics(*t.segment, [&](const MetricSample& m) {
    if (m.value < 1'000'000) return;  // the app table's refusals: not in these blocks
    visited[m.value] = std::string(m.process) + "." + std::to_string(m.worker) + "." +
                       std::string(m.group) + "." + std::string(m.name);
  });
  ASSERT_GT(visited.size(), 150u);

  const Exposition e = scrape(*t.segment);
  std::map<uint64_t, std::vector<std::string>> exported;
  for (const auto& [family, f] : e.families) {
    if (f.type == "histogram") continue;
    for (const auto& [name, series] : f.series) {
      for (const auto& [labels, v] : series) {
        // The gateway's own values (its start time, ...) are outside the range filled.
        if (v >= 1'000'000 && v < static_cast<double>(next)) {
          exported[static_cast<uint64_t>(v)].push_back(name + "{" + labels + "}");
        }
      }
    }
  }
  for (const auto& [value, what] : visited) {
    const auto it = exported.find(value);
    const size_t times = it == exported.end() ? 0 : it->second.size();
    const bool twice = what.find(".drop.reasm_timeout") != std::string::npos;
    EXPECT_EQ(times, twice ? 2u : 1u)
        << what << " exported as "
        << (it == exported.end() ? "nothing" : ::testing::PrintToString(it->second));
  }
  for (const auto& [value, names] : exported) {
    EXPECT_EQ(visited.count(value), 1u)
        << "exported but not in the catalogue: " << ::testing::PrintToString(names);
  }
}

TEST(Exporter, NamesTypesLabelsAndHelpFollowPrometheusConventions) {
  TestSegment t("names");
  // One series of every application family, so they are checked too.
  metrics::AppMetricsWriter writer(app_metrics_area(*t.segment, 0));
  for (size_t i = 0; i < metrics::kAppFamilyCount; ++i) {
    const auto family = static_cast<metrics::AppFamily>(i);
    const metrics::FamilyInfo& info = metrics::info(family);
    // An initializer_list's values live only as long as the braces that made it, so each
    // label count gets its own call.
    auto register_with = [&](metrics::Labels labels) {
      switch (info.type) {
        case metrics::MetricType::counter:
          return static_cast<bool>(writer.counter(family, labels));
        case metrics::MetricType::gauge:
          return static_cast<bool>(writer.gauge(family, labels));
        case metrics::MetricType::histogram:
          return static_cast<bool>(writer.histogram(family, labels));
      }
      return false;
    };
    const bool registered = info.label_count == 0   ? register_with({})
                            : info.label_count == 1 ? register_with({"x"})
                            : info.label_count == 2 ? register_with({"x", "x"})
                                                    : register_with({"x", "x", "x"});
    EXPECT_TRUE(registered) << info.name;
  }
  const Exposition e = scrape(*t.segment);
  const std::regex name_syntax("[a-zA-Z_:][a-zA-Z0-9_:]*");
  // promtool's lint refuses these as unit abbreviations when they stand alone in a name.
  const std::regex abbreviation("_(s|ms|us|ns|sec|b|kb|mb|gb|m|h|d)(_|$)");
  for (const auto& [name, f] : e.families) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(std::regex_match(name, name_syntax));
    EXPECT_EQ(name.rfind("flowgate_", 0), 0u);
    EXPECT_FALSE(std::regex_search(name, abbreviation));
    EXPECT_FALSE(f.help.empty());
    EXPECT_FALSE(f.series.empty());
    const bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    EXPECT_EQ(f.type == "counter", total) << f.type;
    EXPECT_TRUE(f.type == "counter" || f.type == "gauge" || f.type == "histogram") << f.type;
    // Every series of a family has the same label names.
    std::set<std::string> label_sets;
    for (const auto& [sample_name, series] : f.series) {
      for (const auto& [labels, v] : series) {
        std::string names = std::regex_replace(labels, std::regex(R"(="(?:[^"\\]|\\.)*\")"), "");
        names = std::regex_replace(names, std::regex(",?le$|le,"), "");
        label_sets.insert(names);
      }
    }
    EXPECT_EQ(label_sets.size(), 1u) << ::testing::PrintToString(label_sets);
  }
  EXPECT_EQ(e.value("flowgate_http_requests_total", R"(worker="0",listener="x",code="x")"), 0);
  EXPECT_EQ(e.value("flowgate_backend_up", R"(worker="0",pool="x",backend="x")"), 0);
}

TEST(Exporter, TheSrttHistogramInSecondsWithCumulativeBuckets) {
  TestSegment t("srtt");
  LatencyHistogram& srtt = worker_metrics(*t.segment, 0).stack.srtt;
  srtt.observe(1ms);
  srtt.observe(1ms);
  srtt.observe(30ms);
  srtt.observe(20s);  // beyond the last bound: only +Inf
  const Exposition e = scrape(*t.segment);
  EXPECT_EQ(e.families.at("flowgate_tcp_srtt_seconds").type, "histogram");
  EXPECT_EQ(e.families.at("flowgate_tcp_srtt_seconds").help, kSrttHelp);
  const std::string w0 = R"(worker="0",)";
  EXPECT_EQ(e.value("flowgate_tcp_srtt_seconds_bucket", w0 + R"(le="0.0005")"), 0);
  EXPECT_EQ(e.value("flowgate_tcp_srtt_seconds_bucket", w0 + R"(le="0.001")"), 2);
  EXPECT_EQ(e.value("flowgate_tcp_srtt_seconds_bucket", w0 + R"(le="0.025")"), 2);
  EXPECT_EQ(e.value("flowgate_tcp_srtt_seconds_bucket", w0 + R"(le="0.05")"), 3);
  EXPECT_EQ(e.value("flowgate_tcp_srtt_seconds_bucket", w0 + R"(le="10")"), 3);
  EXPECT_EQ(e.value("flowgate_tcp_srtt_seconds_bucket", w0 + R"(le="+Inf")"), 4);
  EXPECT_EQ(e.value("flowgate_tcp_srtt_seconds_count", R"(worker="0")"), 4);
  EXPECT_NEAR(e.value("flowgate_tcp_srtt_seconds_sum", R"(worker="0")"), 20.032, 1e-9);
  EXPECT_EQ(e.value("flowgate_tcp_srtt_seconds_count", R"(worker="1")"), 0);
}

TEST(Exporter, ApplicationSeriesWithTheirLabelsPerWorker) {
  TestSegment t("apps");
  metrics::AppMetricsWriter w0(app_metrics_area(*t.segment, 0));
  metrics::AppMetricsWriter w1(app_metrics_area(*t.segment, 1));
  w0.counter(metrics::AppFamily::http_requests, {"web", "200"}).add(5);
  w0.counter(metrics::AppFamily::http_requests, {"web", "404"}).add(1);
  w1.counter(metrics::AppFamily::http_requests, {"web", "200"}).add(7);
  w1.gauge(metrics::AppFamily::backend_up, {"pool-a", "198.18.0.2:80"}).set(1);
  w1.gauge(metrics::AppFamily::backend_active_connections, {"pool-a", "198.18.0.2:80"}).set(3);
  const auto duration = w0.histogram(metrics::AppFamily::http_request_duration, {"web"});
  duration.observe(200us);
  duration.observe(3ms);

  const Exposition e = scrape(*t.segment);
  EXPECT_EQ(e.families.at("flowgate_http_requests_total").type, "counter");
  EXPECT_EQ(e.value("flowgate_http_requests_total", R"(worker="0",listener="web",code="200")"), 5);
  EXPECT_EQ(e.value("flowgate_http_requests_total", R"(worker="0",listener="web",code="404")"), 1);
  EXPECT_EQ(e.value("flowgate_http_requests_total", R"(worker="1",listener="web",code="200")"), 7);
  EXPECT_EQ(e.value("flowgate_backend_up", R"(worker="1",pool="pool-a",backend="198.18.0.2:80")"),
            1);
  EXPECT_EQ(e.value("flowgate_backend_active_connections",
                    R"(worker="1",pool="pool-a",backend="198.18.0.2:80")"),
            3);
  EXPECT_EQ(e.families.at("flowgate_http_request_duration_seconds").type, "histogram");
  EXPECT_EQ(e.value("flowgate_http_request_duration_seconds_bucket",
                    R"(worker="0",listener="web",le="0.00025")"),
            1);
  EXPECT_EQ(e.value("flowgate_http_request_duration_seconds_bucket",
                    R"(worker="0",listener="web",le="0.005")"),
            2);
  EXPECT_EQ(e.value("flowgate_http_request_duration_seconds_count", R"(worker="0",listener="web")"),
            2);
  EXPECT_EQ(e.families.at("flowgate_http_requests_total").help,
            metrics::info(metrics::AppFamily::http_requests).help);
  // Unregistered families are absent, not empty.
  EXPECT_EQ(e.families.count("flowgate_proxy_reloads_total"), 0u);
}

TEST(Exporter, DefaultNamesCarryTheGroupAndTotalOnce) {
  EXPECT_EQ(default_family_name("event", "tcp_delayed_acks", true),
            "flowgate_tcp_delayed_acks_total");
  EXPECT_EQ(default_family_name("gauge", "arp_entries", false), "flowgate_arp_entries");
  EXPECT_EQ(default_family_name("io", "fill_starved", true), "flowgate_io_fill_starved_total");
  EXPECT_EQ(default_family_name("worker", "sleeps", true), "flowgate_worker_sleeps_total");
  EXPECT_EQ(default_family_name("faults", "new_fault", true),
            "flowgate_fault_injector_new_fault_total");
  EXPECT_EQ(default_family_name("app_metrics", "registrations_refused", true),
            "flowgate_app_metrics_registrations_refused_total");
  EXPECT_EQ(default_family_name("event", "things_total", true), "flowgate_things_total");
}

}  // namespace
}  // namespace flowgate::exporter
