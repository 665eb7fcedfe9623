#include "monitoring/top_view.hpp"

#include <cinttypes>
#include <cstdio>
#include <string_view>

#include "monitoring/metrics_catalog.hpp"
#include "tcp/tcp_types.hpp"
#include "worker/worker.hpp"

namespace flowgate {
namespace {

double per_second(uint64_t before, uint64_t after, double seconds) {
  if (seconds <= 0 || after <= before) return 0;
  return static_cast<double>(after - before) / seconds;
}

// Where each sample comes from in the catalogue (monitoring/metrics_catalog.hpp).
void add_io_counter(TopCounters& c, std::string_view group, std::string_view name, uint64_t value) {
  if (group != "io") return;
  if (name == "rx_frames") c.frames_in = value;
  if (name == "tx_frames") c.frames_out = value;
  if (name == "rx_bytes") c.bytes_in = value;
  if (name == "tx_bytes") c.bytes_out = value;
  // Every frame the I/O process lost: drop_dispatch, drop_worker_down, drop_worker_ring_full,
  // drop_no_frame_for_copy, and transmissions the link had no room for.
  if (name.starts_with("drop_") || name == "tx_link_full") c.drops += value;
}

void add_worker_counter(TopProcess& p, std::string_view group, std::string_view name,
                        uint64_t value) {
  TopCounters& c = p.counters;
  if (group == "drop") {
    c.drops += value;
    return;
  }
  if (group != "event") return;
  if (name == "frames_received") c.frames_in = value;
  if (name == "frames_sent") c.frames_out = value;
  if (name == "bytes_received") c.bytes_in = value;
  if (name == "bytes_sent") c.bytes_out = value;
  if (name == "tcp_passive_opens" || name == "tcp_active_opens") c.opened += value;
  if (name == "tcp_retransmits_timeout" || name == "tcp_retransmits_fast") c.retransmits += value;
}

// Connections ESTABLISHED now: the worker's per-state gauge, in stacks whose counters keep
// one (StackCounters::connections_in); unknown otherwise.
template <typename Counters>
std::optional<uint64_t> established_now(const Counters& counters) {
  if constexpr (requires { counters.connections_in(tcp::TcpState::established); }) {
    return counters.connections_in(tcp::TcpState::established);
  } else {
    return std::nullopt;
  }
}

std::string rate(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

TopRates rates_between(const TopCounters& before, const TopCounters& after, double seconds) {
  TopRates r;
  r.frames_in = per_second(before.frames_in, after.frames_in, seconds);
  r.frames_out = per_second(before.frames_out, after.frames_out, seconds);
  r.mbit_in = per_second(before.bytes_in, after.bytes_in, seconds) * 8 / 1e6;
  r.mbit_out = per_second(before.bytes_out, after.bytes_out, seconds) * 8 / 1e6;
  r.opened = per_second(before.opened, after.opened, seconds);
  r.drops = per_second(before.drops, after.drops, seconds);
  r.retransmits = per_second(before.retransmits, after.retransmits, seconds);
  return r;
}

TopProcess sum_of_workers(const std::vector<TopProcess>& workers) {
  TopProcess sum;
  sum.name = "workers";
  sum.state = "-";
  sum.restarts = 0;
  sum.established = 0;
  for (const TopProcess& w : workers) {
    TopCounters& c = sum.counters;
    c.frames_in += w.counters.frames_in;
    c.frames_out += w.counters.frames_out;
    c.bytes_in += w.counters.bytes_in;
    c.bytes_out += w.counters.bytes_out;
    c.opened += w.counters.opened;
    c.drops += w.counters.drops;
    c.retransmits += w.counters.retransmits;
    *sum.restarts += w.restarts.value_or(0);
    if (sum.established && w.established) {
      *sum.established += *w.established;
    } else {
      sum.established.reset();
    }
  }
  return sum;
}

TopSample take_top_sample(const shm::Segment& segment, uint64_t now_ns) {
  TopSample s;
  s.taken_ns = now_ns;
  const shm::IoBlock& io = segment.io();
  s.io.name = "io";
  s.io.state = shm::to_string(static_cast<shm::IoState>(io.state.load(std::memory_order_relaxed)));
  s.io.pid = io.pid.load(std::memory_order_relaxed);
  s.workers.resize(segment.worker_count());
  for (uint32_t k = 0; k < segment.worker_count(); ++k) {
    const shm::WorkerControl& c = segment.worker(k).control;
    TopProcess& w = s.workers[k];
    w.name = "worker." + std::to_string(k);
    w.state = shm::to_string(static_cast<shm::WorkerState>(c.state.load()));
    w.pid = c.pid.load(std::memory_order_relaxed);
    w.restarts = c.restarts.load(std::memory_order_relaxed);
    w.established = established_now(worker_metrics(segment, k).stack);
  }
  visit_metrics(segment, [&](const MetricSample& m) {
    if (m.process == "io") {
      add_io_counter(s.io.counters, m.group, m.name, m.value);
    } else if (m.worker < s.workers.size()) {
      add_worker_counter(s.workers[m.worker], m.group, m.name, m.value);
    }
  });
  return s;
}

std::string format_top(const std::string& instance, const TopSample& before,
                       const TopSample& after) {
  const double seconds = after.taken_ns > before.taken_ns
                             ? static_cast<double>(after.taken_ns - before.taken_ns) / 1e9
                             : 0.0;
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "flowgate top: instance %s, %zu workers, rates over %.2f s\n",
                instance.c_str(), after.workers.size(), seconds);
  out += line;
  std::snprintf(line, sizeof line, "%-10s %-9s %8s %8s %12s %12s %10s %10s %9s %7s %8s %9s\n",
                "PROCESS", "STATE", "PID", "RESTARTS", "FRAMES_IN/s", "FRAMES_OUT/s", "MBIT_IN/s",
                "MBIT_OUT/s", "OPENED/s", "ESTAB", "DROPS/s", "RETRANS/s");
  out += line;
  // Each row: `after`'s state with the rates since `before` (matched by position: the worker
  // count of a gateway never changes).
  auto row = [&](const TopProcess& a, const TopCounters& b, bool tcp) {
    const TopRates r = rates_between(b, a.counters, seconds);
    const std::string pid = a.pid > 0 ? std::to_string(a.pid) : "-";
    const std::string restarts = a.restarts ? std::to_string(*a.restarts) : "-";
    const std::string established = a.established ? std::to_string(*a.established) : "-";
    std::snprintf(line, sizeof line, "%-10s %-9s %8s %8s %12s %12s %10s %10s %9s %7s %8s %9s\n",
                  a.name.c_str(), a.state.c_str(), pid.c_str(), restarts.c_str(),
                  rate(r.frames_in, 0).c_str(), rate(r.frames_out, 0).c_str(),
                  rate(r.mbit_in, 2).c_str(), rate(r.mbit_out, 2).c_str(),
                  tcp ? rate(r.opened, 1).c_str() : "-", tcp ? established.c_str() : "-",
                  rate(r.drops, 1).c_str(), tcp ? rate(r.retransmits, 1).c_str() : "-");
    out += line;
  };
  row(after.io, before.io.counters, false);
  for (size_t k = 0; k < after.workers.size(); ++k) {
    const TopCounters none = after.workers[k].counters;  // no earlier sample: rate 0
    row(after.workers[k], k < before.workers.size() ? before.workers[k].counters : none, true);
  }
  row(sum_of_workers(after.workers), sum_of_workers(before.workers).counters, true);
  return out;
}

}  // namespace flowgate
