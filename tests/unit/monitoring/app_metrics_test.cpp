// The applications' metric table: registration, lookup of a series registered before, the
// refusals (wrong type, label count, label length, full table) and their null handles, what
// the reader sees (family, labels, values, histograms), retirement, and a restarted writer
// continuing counters while its gauges start from zero.
#include "monitoring/app_metrics.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace flowgate::metrics {
namespace {

using namespace std::chrono_literals;

// Every published series as "family{v1,v2} value" (histograms: their count).
std::map<std::string, int64_t> read_all(const AppMetricsArea& area) {
  std::map<std::string, int64_t> out;
  read_app_metrics(area, [&](const AppMetricView& v) {
    std::string key(v.info->name);
    key += "{";
    for (size_t i = 0; i < v.label_count; ++i) key += (i ? "," : "") + std::string(v.labels[i]);
    key += "}";
    int64_t value = 0;
    switch (v.info->type) {
      case MetricType::counter:
        value = static_cast<int64_t>(v.counter);
        break;
      case MetricType::gauge:
        value = v.gauge;
        break;
      case MetricType::histogram:
        value = static_cast<int64_t>(v.histogram.count);
        break;
    }
    EXPECT_TRUE(out.emplace(key, value).second) << "seen twice: " << key;
  });
  return out;
}

struct Table {
  std::unique_ptr<AppMetricsArea> area = std::make_unique<AppMetricsArea>();
};

TEST(AppMetrics, FamiliesFollowPrometheusConventions) {
  std::set<std::string_view> names;
  for (const FamilyInfo& f : kFamilies) {
    EXPECT_TRUE(f.name.starts_with("flowgate_")) << f.name;
    EXPECT_TRUE(names.insert(f.name).second) << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
    EXPECT_EQ(f.type == MetricType::counter, f.name.ends_with("_total")) << f.name;
    if (f.type == MetricType::histogram) {
      EXPECT_TRUE(f.name.ends_with("_seconds")) << f.name;
    }
    for (size_t i = 0; i < f.label_count; ++i) {
      EXPECT_FALSE(f.label_names[i].empty()) << f.name;
      EXPECT_NE(f.label_names[i], "worker") << "the exporter adds it: " << f.name;
      EXPECT_EQ(f.label_names[i].find_first_not_of("abcdefghijklmnopqrstuvwxyz_"),
                std::string_view::npos);
    }
    for (char c : f.name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << f.name;
  }
  EXPECT_EQ(info(AppFamily::http_requests).name, "flowgate_http_requests_total");
  EXPECT_EQ(info(AppFamily::http_requests).label_names[1], "code");
  EXPECT_EQ(info(AppFamily::backend_up).type, MetricType::gauge);
  EXPECT_EQ(info(AppFamily::proxy_reloads).label_count, 0u);
}

TEST(AppMetrics, TheReaderSeesWhatTheWriterWroteWithItsLabels) {
  Table t;
  AppMetricsWriter w(*t.area);
  const Counter ok = w.counter(AppFamily::http_requests, {"web", "200"});
  const Counter missing = w.counter(AppFamily::http_requests, {"web", "404"});
  const Gauge up = w.gauge(AppFamily::backend_up, {"pool-a", "198.18.0.2:8080"});
  const Counter reloads = w.counter(AppFamily::proxy_reloads, {});
  ASSERT_TRUE(ok && missing && up && reloads);
  ok.add();
  ok.add(4);
  up.set(1);
  reloads.add();
  EXPECT_EQ(ok.value(), 5u);
  EXPECT_EQ(up.value(), 1);

  const auto seen = read_all(*t.area);
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen.at("flowgate_http_requests_total{web,200}"), 5);
  EXPECT_EQ(seen.at("flowgate_http_requests_total{web,404}"), 0);  // registered, never hit
  EXPECT_EQ(seen.at("flowgate_backend_up{pool-a,198.18.0.2:8080}"), 1);
  EXPECT_EQ(seen.at("flowgate_proxy_reloads_total{}"), 1);

  // The view also names the labels, in the family's order.
  read_app_metrics(*t.area, [&](const AppMetricView& v) {
    if (v.family != AppFamily::backend_up) return;
    ASSERT_EQ(v.label_count, 2u);
    EXPECT_EQ(v.info->label_names[0], "pool");
    EXPECT_EQ(v.labels[0], "pool-a");
    EXPECT_EQ(v.info->label_names[1], "backend");
    EXPECT_EQ(v.labels[1], "198.18.0.2:8080");
  });
  EXPECT_EQ(w.refused(), 0u);
}

TEST(AppMetrics, RegisteringASeriesAgainGivesItsSlot) {
  Table t;
  AppMetricsWriter w(*t.area);
  const Counter a = w.counter(AppFamily::listener_connections_accepted, {"web"});
  a.add(3);
  const Counter b = w.counter(AppFamily::listener_connections_accepted, {"web"});
  EXPECT_EQ(b.value(), 3u);
  b.add();
  EXPECT_EQ(a.value(), 4u);
  EXPECT_EQ(read_all(*t.area).size(), 1u);
  // Same labels, another family: another series.
  const Counter other = w.counter(AppFamily::listener_errors, {"web"});
  EXPECT_EQ(other.value(), 0u);
  EXPECT_EQ(read_all(*t.area).size(), 2u);
}

TEST(AppMetrics, UnfitRegistrationsGiveNullHandlesAndAreCounted) {
  Table t;
  AppMetricsWriter w(*t.area);
  const Counter wrong_type = w.counter(AppFamily::backend_up, {"p", "b"});  // a gauge
  const Gauge wrong_labels = w.gauge(AppFamily::backend_up, {"p"});
  const Counter too_long =
      w.counter(AppFamily::listener_errors, {std::string(kLabelValueBytes + 1, 'x')});
  const Counter empty = w.counter(AppFamily::listener_errors, {""});
  const Histogram not_a_histogram = w.histogram(AppFamily::listener_errors, {"web"});
  EXPECT_FALSE(wrong_type);
  EXPECT_FALSE(wrong_labels);
  EXPECT_FALSE(too_long);
  EXPECT_FALSE(empty);
  EXPECT_FALSE(not_a_histogram);
  EXPECT_EQ(w.refused(), 5u);
  // Null handles take updates and keep nothing.
  wrong_type.add(7);
  wrong_labels.set(3);
  not_a_histogram.observe(1ms);
  EXPECT_EQ(wrong_type.value(), 0u);
  EXPECT_EQ(wrong_labels.value(), 0);
  EXPECT_EQ(not_a_histogram.snapshot().count, 0u);
  EXPECT_TRUE(read_all(*t.area).empty());
  // The longest acceptable value fits whole.
  const std::string longest(kLabelValueBytes, 'y');
  ASSERT_TRUE(w.counter(AppFamily::listener_errors, {longest}));
  EXPECT_EQ(read_all(*t.area).count("flowgate_listener_errors_total{" + longest + "}"), 1u);
}

TEST(AppMetrics, AFullTableGivesNullHandlesAndCountsThem) {
  Table t;
  AppMetricsWriter w(*t.area);
  std::vector<Counter> counters;
  for (size_t i = 0; i < kScalarSlotCount; ++i) {
    counters.push_back(w.counter(AppFamily::http_requests, {"web", std::to_string(i)}));
    ASSERT_TRUE(counters.back()) << i;
  }
  const Counter one_too_many = w.counter(AppFamily::http_requests, {"web", "overflow"});
  EXPECT_FALSE(one_too_many);
  EXPECT_EQ(w.refused(), 1u);
  one_too_many.add();  // goes nowhere, harms no other slot
  counters.back().add(2);
  EXPECT_EQ(counters.back().value(), 2u);
  EXPECT_EQ(counters.front().value(), 0u);
  // Series already registered are still found; histograms have their own table.
  EXPECT_TRUE(w.counter(AppFamily::http_requests, {"web", "0"}));
  EXPECT_TRUE(w.histogram(AppFamily::http_request_duration, {"web"}));
  EXPECT_EQ(w.refused(), 1u);
  EXPECT_EQ(read_all(*t.area).size(), kScalarSlotCount + 1);

  for (size_t i = 1; i < kHistogramSlotCount; ++i) {
    ASSERT_TRUE(w.histogram(AppFamily::http_request_duration, {std::to_string(i)}));
  }
  EXPECT_FALSE(w.histogram(AppFamily::http_request_duration, {"full"}));
  EXPECT_EQ(w.refused(), 2u);
}

TEST(AppMetrics, HistogramsKeepTheLatencyBuckets) {
  Table t;
  AppMetricsWriter w(*t.area);
  const Histogram h = w.histogram(AppFamily::http_request_duration, {"web"});
  ASSERT_TRUE(h);
  h.observe(40us);  // <= 50 µs
  h.observe(3ms);   // (2.5, 5] ms
  h.observe(3ms);
  h.observe(20s);  // +Inf
  bool seen = false;
  read_app_metrics(*t.area, [&](const AppMetricView& v) {
    ASSERT_EQ(v.family, AppFamily::http_request_duration);
    ASSERT_EQ(v.labels[0], "web");
    seen = true;
    EXPECT_EQ(v.histogram.count, 4u);
    EXPECT_EQ(v.histogram.cumulative[0], 1u);
    EXPECT_EQ(v.histogram.cumulative[5], 1u);  // <= 2.5 ms
    EXPECT_EQ(v.histogram.cumulative[6], 3u);  // <= 5 ms
    EXPECT_EQ(v.histogram.cumulative[16], 3u);
    EXPECT_EQ(v.histogram.cumulative[17], 4u);
    EXPECT_EQ(v.histogram.sum_ns, 40'000u + 6'000'000u + 20'000'000'000u);
  });
  EXPECT_TRUE(seen);
  EXPECT_EQ(h.snapshot().count, 4u);
}

TEST(AppMetrics, RetiredSeriesAreHiddenUntilRegisteredAgain) {
  Table t;
  AppMetricsWriter w(*t.area);
  const Gauge active = w.gauge(AppFamily::backend_active_connections, {"p", "198.18.0.9:80"});
  const Counter failures = w.counter(AppFamily::backend_connect_failures, {"p", "198.18.0.9:80"});
  failures.add(2);
  active.set(1);
  active.retire();
  failures.retire();
  EXPECT_TRUE(read_all(*t.area).empty());
  active.set(0);  // the handle still works (a connection of a removed backend ends)
  const Counter again = w.counter(AppFamily::backend_connect_failures, {"p", "198.18.0.9:80"});
  EXPECT_EQ(again.value(), 2u);  // a counter never goes back
  const auto seen = read_all(*t.area);
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen.at("flowgate_backend_connect_failures_total{p,198.18.0.9:80}"), 2);
}

TEST(AppMetrics, ARestartedWriterContinuesCountersAndZeroesGauges) {
  Table t;
  {
    AppMetricsWriter first(*t.area);
    first.counter(AppFamily::http_requests, {"web", "200"}).add(10);
    first.gauge(AppFamily::listener_connections_active, {"web"}).set(4);
    first.gauge(AppFamily::backend_up, {"p", "198.18.0.2:80"}).set(1);
    first.histogram(AppFamily::http_request_duration, {"web"}).observe(1ms);
  }
  // The worker died. The new one's writer hides everything until it registers again...
  AppMetricsWriter second(*t.area);
  EXPECT_TRUE(read_all(*t.area).empty());
  // ...and what it registers continues, except the gauges, which describe the dead process.
  EXPECT_EQ(second.counter(AppFamily::http_requests, {"web", "200"}).value(), 10u);
  EXPECT_EQ(second.gauge(AppFamily::listener_connections_active, {"web"}).value(), 0);
  EXPECT_EQ(second.histogram(AppFamily::http_request_duration, {"web"}).snapshot().count, 1u);
  const auto seen = read_all(*t.area);
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen.count("flowgate_backend_up{p,198.18.0.2:80}"), 0u);  // not in its config
}

TEST(AppMetrics, TheReaderIgnoresSlotsItCannotTrust) {
  Table t;
  AppMetricsWriter w(*t.area);
  w.counter(AppFamily::listener_errors, {"web"}).add();
  // Corruption a reader may meet (another build, a bug): an unknown family, a wrong label
  // count, an extent past the table.
  t.area->scalars[0].head.family = static_cast<uint16_t>(kAppFamilyCount + 3);
  EXPECT_TRUE(read_all(*t.area).empty());
  t.area->scalars[0].head.family = static_cast<uint16_t>(AppFamily::listener_errors);
  t.area->scalars[0].head.label_count = 2;
  EXPECT_TRUE(read_all(*t.area).empty());
  t.area->scalars[0].head.label_count = 1;
  t.area->scalar_slots_used.store(kScalarSlotCount + 100);
  EXPECT_EQ(read_all(*t.area).size(), 1u);
}

TEST(AppMetrics, SignatureCoversTheFamilies) {
  EXPECT_EQ(app_metrics_signature(), app_metrics_signature());
  EXPECT_NE(app_metrics_signature(), 0u);
}

}  // namespace
}  // namespace flowgate::metrics
