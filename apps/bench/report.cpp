// The report of a bench run: the names are the shared contract other scripts parse
// (tests/bench/lab_bench.sh, the C1M script), so they change only together.
#include <cinttypes>
#include <cstdio>
#include <string>

#include "apps/bench/engine.hpp"

namespace flowgate::bench {

namespace {

double us(uint64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace

std::string format_text(const BenchResult& r) {
  std::string out;
  auto line = [&](const char* name, const std::string& value) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "%-24s %s\n", name, value.c_str());
    out += buf;
  };
  auto num = [&](const char* name, uint64_t v) { line(name, std::to_string(v)); };
  line("mode", to_string(r.mode));
  num("connections_requested", r.connections_requested);
  num("connections_established", r.connections_established);
  num("connect_failures", r.connect_failures);
  num("requests", r.requests);
  num("responses", r.responses);
  num("errors", r.error_total());
  for (size_t k = 0; k < r.errors.size(); ++k) {
    if (r.errors[k] == 0) continue;
    const std::string name = std::string("  ") + to_string(static_cast<ErrorKind>(k));
    line(name.c_str(), std::to_string(r.errors[k]));
  }
  line("duration_s", fmt("%.3f", r.duration_s));
  if (r.target_rate > 0) line("target_rate", fmt("%.1f", r.target_rate));
  line("requests_per_s", fmt("%.1f", r.requests_per_s()));
  num("bytes_in", r.bytes_in);
  line("latency_p50_us", fmt("%.1f", us(r.latency.percentile(0.50))));
  line("latency_p99_us", fmt("%.1f", us(r.latency.percentile(0.99))));
  line("latency_p999_us", fmt("%.1f", us(r.latency.percentile(0.999))));
  line("latency_max_us", fmt("%.1f", us(r.latency.max())));
  line("cpu_user_s", fmt("%.3f", r.cpu_user_s));
  line("cpu_sys_s", fmt("%.3f", r.cpu_sys_s));
  return out;
}

std::string format_json(const BenchResult& r) {
  std::string out = "{";
  bool first = true;
  auto key = [&](const char* name) {
    if (!first) out += ", ";
    first = false;
    out += '"';
    out += name;
    out += "\": ";
  };
  auto num = [&](const char* name, uint64_t v) {
    key(name);
    out += std::to_string(v);
  };
  auto real = [&](const char* name, double v, const char* format) {
    key(name);
    out += fmt(format, v);
  };
  key("mode");
  out += std::string("\"") + to_string(r.mode) + "\"";
  num("connections_requested", r.connections_requested);
  num("connections_established", r.connections_established);
  num("connect_failures", r.connect_failures);
  num("requests", r.requests);
  num("responses", r.responses);
  key("errors");
  out += "{\"total\": " + std::to_string(r.error_total());
  for (size_t k = 0; k < r.errors.size(); ++k) {
    out += std::string(", \"") + to_string(static_cast<ErrorKind>(k)) +
           "\": " + std::to_string(r.errors[k]);
  }
  out += "}";
  real("duration_s", r.duration_s, "%.6f");
  real("target_rate", r.target_rate, "%.3f");
  real("requests_per_s", r.requests_per_s(), "%.3f");
  num("bytes_in", r.bytes_in);
  real("latency_p50_us", us(r.latency.percentile(0.50)), "%.3f");
  real("latency_p99_us", us(r.latency.percentile(0.99)), "%.3f");
  real("latency_p999_us", us(r.latency.percentile(0.999)), "%.3f");
  real("latency_max_us", us(r.latency.max()), "%.3f");
  real("cpu_user_s", r.cpu_user_s, "%.6f");
  real("cpu_sys_s", r.cpu_sys_s, "%.6f");
  out += "}\n";
  return out;
}

}  // namespace flowgate::bench
