// What Prometheus's own tool says of our output and our rules, and that the dashboard and
// the rules only name metrics /metrics has:
//   - `promtool check metrics` accepts the exposition of a segment where every family has a
//     series (its lint: names, units, _total, HELP);
//   - `promtool check rules` accepts monitoring/alerts/flowgate.rules.yml, and
//     `promtool test rules` passes its tests (each alert fires when and as documented);
//   - every flowgate_* name in monitoring/grafana/flowgate.json and in the rules is a family
//     or a series (_bucket, _sum, _count) of that exposition.
// promtool is Debian's `prometheus` package (deploy/install-deps.sh; CI installs it): without
// it the promtool cases are skipped, saying so.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "exposition.hpp"
#include "monitoring/app_metrics.hpp"
#include "monitoring/exporter.hpp"
#include "worker/worker.hpp"

namespace flowgate::exporter {
namespace {

using namespace std::chrono_literals;

const std::filesystem::path kSource = FLOWGATE_SOURCE_DIR;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool have_promtool() {
  return std::system("command -v promtool >/dev/null 2>&1") == 0;
}

#define REQUIRE_PROMTOOL()                                                   \
  if (!have_promtool()) {                                                    \
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus; " \
                    "deploy/install-deps.sh installs it)";                   \
  }

struct CommandResult {
  int status = -1;
  std::string output;  // stdout and stderr
};

CommandResult run(const std::string& command) {
  CommandResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, p)) > 0;) r.output.append(buffer, n);
  const int status = ::pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A segment where every family has a series with a value: every application family
// registered, traffic counted, the SRTT histogram filled, a worker restarted.
std::string full_exposition(testing::TestSegment& t) {
  shm::Segment& s = *t.segment;
  s.io().state.store(static_cast<uint32_t>(shm::IoState::running));
  for (uint32_t k = 0; k < s.worker_count(); ++k) {
    s.worker(k).control.state.store(static_cast<uint32_t>(shm::WorkerState::running));
    StackCounters& stack = worker_metrics(s, k).stack;
    stack.count(Event::frames_received, 1000 + k);
    stack.drop(DropReason::tcp_no_socket, 3);
    stack.tcp_connection_entered(tcp::TcpState::established);
    stack.srtt.observe(2ms);
  }
  s.worker(1).control.restarts.store(1);
  metrics::AppMetricsWriter writer(app_metrics_area(s, 0));
  for (size_t i = 0; i < metrics::kAppFamilyCount; ++i) {
    const auto family = static_cast<metrics::AppFamily>(i);
    const metrics::FamilyInfo& info = metrics::info(family);
    auto register_with = [&](metrics::Labels labels) {
      switch (info.type) {
        case metrics::MetricType::counter:
          writer.counter(family, labels).add(2);
          break;
        case metrics::MetricType::gauge:
          writer.gauge(family, labels).set(1);
          break;
        case metrics::MetricType::histogram:
          writer.histogram(family, labels).observe(3ms);
          break;
      }
    };
    if (info.label_count == 0) register_with({});
    if (info.label_count == 1) register_with({"web"});
    if (info.label_count == 2) register_with({"web", "200"});
    if (info.label_count == 3) register_with({"web", "200", "x"});
  }
  return serialize(collect(s));
}

TEST(Promtool, ChecksTheExpositionWithoutAComplaint) {
  REQUIRE_PROMTOOL();
  testing::TestSegment t("promtool");
  const std::string text = full_exposition(t);
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("flowgate-metrics-" + std::to_string(::getpid()));
  std::ofstream(file) << text;
  const CommandResult r = run("promtool check metrics < " + file.string());
  std::filesystem::remove(file);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "") << text;
}

TEST(Promtool, ChecksTheAlertRules) {
  REQUIRE_PROMTOOL();
  const CommandResult r =
      run("promtool check rules " + (kSource / "monitoring/alerts/flowgate.rules.yml").string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("SUCCESS"), std::string::npos) << r.output;
}

TEST(Promtool, TheAlertRuleTestsPass) {
  REQUIRE_PROMTOOL();
  const CommandResult r = run("promtool test rules " +
                              (kSource / "monitoring/alerts/flowgate.rules.test.yml").string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("SUCCESS"), std::string::npos) << r.output;
}

std::set<std::string> names_in(const std::string& text) {
  std::set<std::string> names;
  static const std::regex kName("flowgate_[a-z0-9_]+");
  for (std::sregex_iterator it(text.begin(), text.end(), kName), end; it != end; ++it) {
    names.insert(it->str());
  }
  return names;
}

TEST(DashboardAndRules, NameOnlyMetricsTheExporterServes) {
  testing::TestSegment t("names");
  const testing::Exposition e = testing::parse_exposition(full_exposition(t));
  auto served = [&](const std::string& name) { return e.families.count(name) != 0 || e.has(name); };
  for (const char* file :
       {"monitoring/grafana/flowgate.json", "monitoring/alerts/flowgate.rules.yml"}) {
    const std::set<std::string> names = names_in(read_text(kSource / file));
    EXPECT_GT(names.size(), 10u) << file;
    for (const std::string& name : names) EXPECT_TRUE(served(name)) << file << " names " << name;
  }
}

}  // namespace
}  // namespace flowgate::exporter
