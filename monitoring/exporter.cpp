#include "monitoring/exporter.hpp"

#include <prometheus/text_serializer.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "monitoring/app_metrics.hpp"
#include "monitoring/metrics_catalog.hpp"
#include "rx_tx/io_process.hpp"
#include "shm/layout.hpp"

#ifndef FLOWGATE_VERSION
#define FLOWGATE_VERSION "unknown"
#endif

namespace flowgate::exporter {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// Catalogue counters folded into one family with a label. Everything not listed here (and
// not already in a catalogue family) is exported under default_family_name().
struct Route {
  std::string_view group;
  std::string_view name;
  std::string_view family;
  std::string_view label;  // empty: the family has no label of its own (only `worker`)
  std::string_view value;
};

// clang-format off
constexpr Route kRoutes[] = {
    // A worker's stack.
    {"event", "frames_received", "flowgate_frames_total", "direction", "rx"},
    {"event", "frames_sent", "flowgate_frames_total", "direction", "tx"},
    {"event", "bytes_received", "flowgate_bytes_total", "direction", "rx"},
    {"event", "bytes_sent", "flowgate_bytes_total", "direction", "tx"},
    {"event", "arp_requests_received", "flowgate_arp_requests_total", "direction", "rx"},
    {"event", "arp_requests_sent", "flowgate_arp_requests_total", "direction", "tx"},
    {"event", "arp_replies_received", "flowgate_arp_replies_total", "direction", "rx"},
    {"event", "arp_replies_sent", "flowgate_arp_replies_total", "direction", "tx"},
    {"event", "ipv4_datagrams_received", "flowgate_ipv4_datagrams_total", "direction", "rx"},
    {"event", "ipv4_datagrams_sent", "flowgate_ipv4_datagrams_total", "direction", "tx"},
    {"event", "ipv4_fragments_received", "flowgate_ipv4_fragments_total", "direction", "rx"},
    {"event", "ipv4_fragments_sent", "flowgate_ipv4_fragments_total", "direction", "tx"},
    {"event", "reasm_completed", "flowgate_ipv4_reassemblies_total", "result", "completed"},
    {"event", "icmp_errors_received", "flowgate_icmp_errors_total", "direction", "rx"},
    {"event", "icmp_errors_sent", "flowgate_icmp_errors_total", "direction", "tx"},
    {"event", "udp_datagrams_received", "flowgate_udp_datagrams_total", "direction", "rx"},
    {"event", "udp_datagrams_sent", "flowgate_udp_datagrams_total", "direction", "tx"},
    {"event", "tcp_segments_received", "flowgate_tcp_segments_total", "direction", "rx"},
    {"event", "tcp_segments_sent", "flowgate_tcp_segments_total", "direction", "tx"},
    {"event", "tcp_active_opens", "flowgate_tcp_connections_opened_total", "side", "active"},
    {"event", "tcp_passive_opens", "flowgate_tcp_connections_opened_total", "side", "passive"},
    {"event", "tcp_established", "flowgate_tcp_connections_established_total", "", ""},
    {"event", "tcp_accepted", "flowgate_tcp_connections_accepted_total", "", ""},
    {"event", "tcp_retransmits_timeout", "flowgate_tcp_retransmitted_segments_total", "cause", "timeout"},
    {"event", "tcp_retransmits_fast", "flowgate_tcp_retransmitted_segments_total", "cause", "fast"},
    {"event", "tcp_timeouts", "flowgate_tcp_retransmission_timeouts_total", "", ""},
    {"event", "tcp_syn_cookies_sent", "flowgate_tcp_syn_cookies_total", "result", "sent"},
    {"event", "tcp_syn_cookies_validated", "flowgate_tcp_syn_cookies_total", "result", "validated"},
    {"event", "tcp_challenge_acks_sent", "flowgate_tcp_challenge_acks_total", "result", "sent"},
    {"event", "tcp_challenge_acks_limited", "flowgate_tcp_challenge_acks_total", "result", "rate_limited"},
    {"gauge", "reassemblies_in_progress", "flowgate_ipv4_reassemblies_in_progress", "", ""},
    // A worker's rings.
    {"worker", "rx_batches", "flowgate_worker_ring_batches_total", "ring", "rx"},
    {"worker", "tx_batches", "flowgate_worker_ring_batches_total", "ring", "tx"},
    {"worker", "tx_no_frame", "flowgate_worker_tx_lost_frames_total", "reason", "no_frame"},
    {"worker", "tx_oversize", "flowgate_worker_tx_lost_frames_total", "reason", "oversize"},
    {"worker", "tx_ring_full", "flowgate_worker_ring_full_total", "ring", "tx"},
    {"worker", "free_ring_full", "flowgate_worker_ring_full_total", "ring", "free"},
    {"worker", "rx_bad_descriptor", "flowgate_worker_bad_descriptors_total", "", ""},
    // The I/O process.
    {"io", "rx_frames", "flowgate_io_frames_total", "direction", "rx"},
    {"io", "tx_frames", "flowgate_io_frames_total", "direction", "tx"},
    {"io", "rx_bytes", "flowgate_io_bytes_total", "direction", "rx"},
    {"io", "tx_bytes", "flowgate_io_bytes_total", "direction", "tx"},
    {"io", "rx_to_workers", "flowgate_io_frames_to_workers_total", "", ""},
    {"io", "drop_dispatch", "flowgate_io_drops_total", "reason", "dispatch"},
    {"io", "drop_worker_down", "flowgate_io_drops_total", "reason", "worker_down"},
    {"io", "drop_worker_ring_full", "flowgate_io_drops_total", "reason", "worker_ring_full"},
    {"io", "drop_no_frame_for_copy", "flowgate_io_drops_total", "reason", "no_frame_for_copy"},
    {"io", "tx_link_full", "flowgate_io_drops_total", "reason", "link_tx_full"},
    {"dispatch", "to_one_worker", "flowgate_dispatch_decisions_total", "decision", "one_worker"},
    {"dispatch", "to_all_workers", "flowgate_dispatch_decisions_total", "decision", "all_workers"},
    {"dispatch", "dropped", "flowgate_dispatch_decisions_total", "decision", "dropped"},
    {"dispatch", "dropped_ethernet_truncated", "flowgate_dispatch_drops_total", "reason", "ethernet_truncated"},
    {"dispatch", "by_ports", "flowgate_dispatch_steered_total", "rule", "by_ports"},
    {"dispatch", "by_addresses", "flowgate_dispatch_steered_total", "rule", "by_addresses"},
    {"dispatch", "icmp_error_by_quoted_ports", "flowgate_dispatch_steered_total", "rule", "icmp_error_by_quoted_ports"},
    {"dispatch", "icmp_error_by_quoted_addresses", "flowgate_dispatch_steered_total", "rule", "icmp_error_by_quoted_addresses"},
    {"dispatch", "fragments_steered", "flowgate_dispatch_steered_total", "rule", "fragments_steered"},
    {"dispatch", "fragments_unsteered", "flowgate_dispatch_steered_total", "rule", "fragments_unsteered"},
    {"dispatch", "unclassified_ethertype", "flowgate_dispatch_steered_total", "rule", "unclassified_ethertype"},
    {"dispatch", "unclassified_ipv4", "flowgate_dispatch_steered_total", "rule", "unclassified_ipv4"},
    {"dispatch", "unclassified_transport", "flowgate_dispatch_steered_total", "rule", "unclassified_transport"},
    {"dispatch", "unclassified_icmp_quote", "flowgate_dispatch_steered_total", "rule", "unclassified_icmp_quote"},
    // The fault injector, once per direction (the group's suffix becomes `direction`).
    {"faults", "frames", "flowgate_fault_injector_frames_total", "", ""},
    {"faults", "dropped", "flowgate_fault_injector_faults_total", "fault", "dropped"},
    {"faults", "duplicated", "flowgate_fault_injector_faults_total", "fault", "duplicated"},
    {"faults", "duplicate_skipped", "flowgate_fault_injector_faults_total", "fault", "duplicate_skipped"},
    {"faults", "reordered", "flowgate_fault_injector_faults_total", "fault", "reordered"},
    {"faults", "released_by_timeout", "flowgate_fault_injector_faults_total", "fault", "released_by_timeout"},
    {"faults", "corrupted", "flowgate_fault_injector_faults_total", "fault", "corrupted"},
};
// clang-format on

// A catalogue counter that also belongs to a second family: a reassembly timeout is a drop
// reason (flowgate_drops_total{reason="reasm_timeout"}) and one of the two ends of a
// reassembly.
constexpr Route kAlsoRoutes[] = {
    {"drop", "reasm_timeout", "flowgate_ipv4_reassemblies_total", "result", "timed_out"},
};

// HELP for families several counters share (a family of one counter has that counter's own
// one-line help). One line each, like the counters'.
struct FamilyHelp {
  std::string_view family;
  std::string_view help;
};

// clang-format off
constexpr FamilyHelp kFamilyHelp[] = {
    {"flowgate_drops_total", "Frames a worker's stack dropped, by reason: each dropped frame counts under exactly one (protocol_workers/stack/counters.hpp explains each)"},
    {"flowgate_frames_total", "Frames a worker's stack received from its rings (rx) and passed to them for sending (tx)"},
    {"flowgate_bytes_total", "Bytes of the frames a worker's stack received (rx) and passed to its rings (tx)"},
    {"flowgate_arp_requests_total", "ARP requests for our address received (rx); requests sent to resolve, refresh or announce (tx)"},
    {"flowgate_arp_replies_total", "ARP replies accepted into the neighbour table (rx) and sent (tx)"},
    {"flowgate_ipv4_datagrams_total", "IPv4 datagrams delivered to a transport after reassembly (rx), sent before fragmentation (tx)"},
    {"flowgate_ipv4_fragments_total", "IPv4 fragments received (rx) and sent (tx)"},
    {"flowgate_ipv4_reassemblies_total", "IPv4 datagrams reassembled (completed) or discarded incomplete at the reassembly timeout (timed_out)"},
    {"flowgate_icmp_errors_total", "ICMP errors received and passed to a transport (rx), and sent (tx)"},
    {"flowgate_udp_datagrams_total", "UDP datagrams queued to a socket (rx) and sent (tx)"},
    {"flowgate_tcp_segments_total", "TCP segments received with a valid checksum (rx) and sent (tx)"},
    {"flowgate_tcp_connections_opened_total", "TCP connections opened by fg_connect, SYN sent (active), or by a listener, SYN-ACK sent (passive)"},
    {"flowgate_tcp_retransmitted_segments_total", "TCP segments retransmitted after a retransmission timeout (timeout) or by fast retransmit and recovery (fast)"},
    {"flowgate_tcp_syn_cookies_total", "SYN-ACKs carrying a SYN cookie because the SYN queue was full (sent); connections established from a valid one (validated)"},
    {"flowgate_tcp_challenge_acks_total", "RFC 5961 challenge ACKs sent (sent) and suppressed by their rate limit (rate_limited)"},
    {"flowgate_worker_ring_batches_total", "Batches a worker took from its rx ring (rx) and submitted to its tx ring (tx)"},
    {"flowgate_worker_tx_lost_frames_total", "Frames a worker's stack sent that could not go out: no free transmit frame (no_frame), longer than a UMEM frame (oversize)"},
    {"flowgate_worker_ring_full_total", "Submissions a worker delayed because its tx or free ring was full (retried, not lost)"},
    {"flowgate_io_frames_total", "Frames the I/O process received from the link (rx) and handed to it for sending (tx)"},
    {"flowgate_io_bytes_total", "Bytes of the frames the I/O process received from the link (rx) and handed to it (tx)"},
    {"flowgate_io_drops_total", "Frames the I/O process dropped: shorter than Ethernet (dispatch), for a worker not running (worker_down) or whose rx ring is full (worker_ring_full), ARP copies with no free frame (no_frame_for_copy), link TX ring full (link_tx_full)"},
    {"flowgate_dispatch_decisions_total", "Frames the dispatcher classified, by decision: to one worker, to every worker (ARP), dropped"},
    {"flowgate_dispatch_drops_total", "Frames the dispatcher dropped, by reason (ethernet_truncated: shorter than an Ethernet header or its 802.1Q tag)"},
    {"flowgate_dispatch_steered_total", "Frames steered to one worker, by the rule that chose it (a first fragment counts under its datagram's rule; unclassified_* go to worker 0 to be dropped)"},
    {"flowgate_fault_injector_frames_total", "Frames the test-only fault injector decided on, by direction (rx: link to workers, tx: workers to link)"},
    {"flowgate_fault_injector_faults_total", "What the test-only fault injector did: frames dropped, duplicated, reordered or corrupted; duplicates skipped (no free frame); held frames released at the hold time"},
};
// clang-format on

const Route* find_route(std::string_view group, std::string_view name) {
  for (const Route& r : kRoutes) {
    if (r.group == group && r.name == name) return &r;
  }
  return nullptr;
}

std::string_view family_help(std::string_view family, std::string_view fallback) {
  for (const FamilyHelp& h : kFamilyHelp) {
    if (h.family == family) return h.help;
  }
  return fallback;
}

// prometheus-cpp 1.0.1's TextSerializer writes HELP as given; the text format wants a
// backslash and a line feed escaped there (label values it escapes itself).
std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// The families of one scrape, in the order they were first named, each named once.
class FamilySet {
 public:
  MetricFamily& family(std::string_view name, MetricType type, std::string_view help) {
    const auto [at, inserted] = index_.try_emplace(std::string(name), families_.size());
    if (inserted) {
      MetricFamily f;
      f.name = std::string(name);
      f.help = escape_help(help);
      f.type = type;
      families_.push_back(std::move(f));
    }
    return families_[at->second];
  }
  void counter(std::string_view name, std::string_view help, Labels labels, uint64_t value) {
    ClientMetric m;
    m.label = std::move(labels);
    m.counter.value = static_cast<double>(value);
    family(name, MetricType::Counter, help).metric.push_back(std::move(m));
  }
  void gauge(std::string_view name, std::string_view help, Labels labels, double value) {
    ClientMetric m;
    m.label = std::move(labels);
    m.gauge.value = value;
    family(name, MetricType::Gauge, help).metric.push_back(std::move(m));
  }
  template <typename Bounds>
  void histogram(std::string_view name, std::string_view help, Labels labels,
                 const Bounds& upper_bounds_seconds, const LatencyHistogramSnapshot& snapshot) {
    ClientMetric m;
    m.label = std::move(labels);
    // The snapshot has one cumulative count per finite bound and a last one for +Inf, which
    // is also the count (metric_words.hpp), so _count and the +Inf bucket always agree.
    size_t i = 0;
    for (const double bound : upper_bounds_seconds) {
      if (i + 1 >= snapshot.cumulative.size()) break;
      m.histogram.bucket.push_back({snapshot.cumulative[i], bound});
      ++i;
    }
    m.histogram.bucket.push_back({snapshot.count, std::numeric_limits<double>::infinity()});
    m.histogram.sample_count = snapshot.count;
    m.histogram.sample_sum = snapshot.sum_seconds();
    family(name, MetricType::Histogram, help).metric.push_back(std::move(m));
  }
  std::vector<MetricFamily> take() { return std::move(families_); }

 private:
  std::vector<MetricFamily> families_;
  std::unordered_map<std::string, size_t> index_;
};

Labels worker_labels(uint32_t worker) {
  return {{"worker", std::to_string(worker)}};
}

template <typename T>
uint64_t load(const std::atomic<T>& v) {
  return static_cast<uint64_t>(v.load(std::memory_order_acquire));
}

// The gateway's own state, read from the segment's control words (not the catalogue).
void collect_gateway(const shm::Segment& segment, FamilySet& out) {
  out.gauge("flowgate_build_info", "flowgate's version, as the label; the value is always 1",
            {{"version", FLOWGATE_VERSION}}, 1);
  out.gauge("flowgate_start_time_seconds",
            "When the gateway started (created its segment), in seconds since the Unix epoch", {},
            static_cast<double>(segment.header().created_unix_ns) * 1e-9);
  const shm::IoBlock& io = segment.io();
  out.gauge("flowgate_io_up", "1 while the I/O process runs attached to the link, 0 otherwise", {},
            load(io.state) == static_cast<uint32_t>(shm::IoState::running) ? 1 : 0);
  out.counter("flowgate_config_reloads_total",
              "Configurations a SIGHUP applied to the running gateway (the pools)", {},
              segment.config_generation() / 2);
}

// Where every UMEM frame is, from the counts each owner publishes: the same arithmetic as
// shm::audit_frames() without its scan of the owner bytes (262144 of them at most), which
// only checks these counts and is `flowgate stats --frames`'s business. Under traffic the
// counts are read microseconds apart, so the three states add up to the total within the
// frames in motion.
void collect_frames(const shm::Segment& segment, FamilySet& out) {
  const shm::IoFrameCounts& io = segment.io().frames;
  const uint64_t free = load(io.free);
  uint64_t in_flight =
      load(io.kernel_rx) + load(io.kernel_tx) + load(io.fault_held) + load(io.in_hand);
  uint64_t held = 0;
  constexpr shm::RingKind kRings[] = {shm::RingKind::rx, shm::RingKind::completion,
                                      shm::RingKind::tx, shm::RingKind::free};
  for (uint32_t k = 0; k < segment.worker_count(); ++k) {
    const shm::WorkerControl& c = segment.worker(k).control;
    held += load(c.rx_held) + load(c.tx_pool) + load(c.tx_pending);
    for (shm::RingKind ring : kRings) in_flight += segment.ring(k, ring).occupancy();
  }
  out.gauge("flowgate_umem_capacity_frames", "Frames in the UMEM", {},
            static_cast<double>(segment.layout().params.frame_count));
  constexpr std::string_view kUmemHelp =
      "UMEM frames by owner: free (the I/O process's free list), in_flight (at the link, in "
      "the fault injector, in hand, or in a worker's rings), held (by workers)";
  out.gauge("flowgate_umem_frames", kUmemHelp, {{"state", "free"}}, static_cast<double>(free));
  out.gauge("flowgate_umem_frames", kUmemHelp, {{"state", "in_flight"}},
            static_cast<double>(in_flight));
  out.gauge("flowgate_umem_frames", kUmemHelp, {{"state", "held"}}, static_cast<double>(held));

  constexpr std::string_view kIoHelp =
      "Frames the I/O process has out: posted for reception (posted_rx), being sent "
      "(sending), held back by the fault injector (fault_held), in hand this instant (in_hand)";
  const std::pair<const char*, uint64_t> io_states[] = {{"posted_rx", load(io.kernel_rx)},
                                                        {"sending", load(io.kernel_tx)},
                                                        {"fault_held", load(io.fault_held)},
                                                        {"in_hand", load(io.in_hand)}};
  for (const auto& [state, frames] : io_states) {
    out.gauge("flowgate_io_frames_in_flight", kIoHelp, {{"state", state}},
              static_cast<double>(frames));
  }
}

// Each worker slot: its state, restarts, frames and rings.
void collect_workers(const shm::Segment& segment, FamilySet& out) {
  constexpr shm::WorkerState kStates[] = {shm::WorkerState::stopped, shm::WorkerState::starting,
                                          shm::WorkerState::running, shm::WorkerState::dead,
                                          shm::WorkerState::reclaimed};
  constexpr shm::RingKind kRings[] = {shm::RingKind::rx, shm::RingKind::completion,
                                      shm::RingKind::tx, shm::RingKind::free};
  for (uint32_t k = 0; k < segment.worker_count(); ++k) {
    const shm::WorkerControl& c = segment.worker(k).control;
    const uint64_t state = load(c.state);
    out.gauge("flowgate_worker_up",
              "1 while the worker runs attached to its rings; 0 while it starts, is dead or is "
              "being restarted",
              worker_labels(k), state == static_cast<uint32_t>(shm::WorkerState::running) ? 1 : 0);
    for (shm::WorkerState s : kStates) {
      Labels labels = worker_labels(k);
      labels.push_back({"state", shm::to_string(s)});
      out.gauge("flowgate_worker_state",
                "The worker slot's state: 1 for the current one of stopped, starting, running, "
                "dead (exited, frames not yet reclaimed) and reclaimed",
                std::move(labels), state == static_cast<uint32_t>(s) ? 1 : 0);
    }
    out.counter("flowgate_worker_restarts_total",
                "Times the supervisor started the worker again after it died", worker_labels(k),
                load(c.restarts));

    constexpr std::string_view kHeldHelp =
        "Frames a worker holds: received and not yet freed (received), empty transmit frames "
        "(tx_pool), built and not yet on its tx ring (tx_pending)";
    const std::pair<const char*, uint64_t> held[] = {{"received", load(c.rx_held)},
                                                     {"tx_pool", load(c.tx_pool)},
                                                     {"tx_pending", load(c.tx_pending)}};
    for (const auto& [held_state, frames] : held) {
      Labels labels = worker_labels(k);
      labels.push_back({"state", held_state});
      out.gauge("flowgate_worker_frames_held", kHeldHelp, std::move(labels),
                static_cast<double>(frames));
    }
    out.gauge("flowgate_worker_tx_frames_lent",
              "Frames the I/O process lent the worker for transmission and has not got back",
              worker_labels(k), static_cast<double>(load(segment.io().lent[k % shm::kMaxWorkers])));

    for (shm::RingKind ring : kRings) {
      const auto memory = segment.ring(k, ring);
      Labels labels = worker_labels(k);
      labels.push_back({"ring", shm::kRingNames[static_cast<int>(ring)]});
      out.gauge("flowgate_ring_used_slots",
                "Descriptors in a worker's ring now: rx and completion (I/O process to worker), "
                "tx and free (worker to I/O process)",
                labels, static_cast<double>(memory.occupancy()));
      out.gauge("flowgate_ring_size_slots", "Slots in a worker's ring", std::move(labels),
                static_cast<double>(memory.size));
    }
  }
}

// The group a fault counter comes from ("faults_rx") is the family's direction.
std::string_view route_group(std::string_view group, std::string_view* direction) {
  constexpr std::string_view kFaults = "faults_";
  if (group.substr(0, kFaults.size()) == kFaults) {
    *direction = group.substr(kFaults.size());
    return "faults";
  }
  return group;
}

void collect_catalogue(const shm::Segment& segment, FamilySet& out) {
  visit_metrics(segment, [&](const MetricSample& s) {
    const bool counter = s.kind == MetricKind::counter;
    Labels labels;
    if (s.process == "worker") labels = worker_labels(s.worker);
    std::string_view direction;
    const std::string_view group = route_group(s.group, &direction);
    if (!direction.empty()) labels.push_back({"direction", std::string(direction)});

    std::string family;
    std::string_view help = s.help;
    if (!s.family.empty()) {
      // The catalogue's own family (drops by reason, TCP connections by state).
      family = "flowgate_" + std::string(s.family) + (counter ? "_total" : "");
      labels.push_back({std::string(s.label_name), std::string(s.label_value)});
    } else if (const Route* r = find_route(group, s.name)) {
      family = r->family;
      if (!r->label.empty()) labels.push_back({std::string(r->label), std::string(r->value)});
    } else {
      family = default_family_name(group, s.name, counter);
    }
    help = family_help(family, help);
    if (counter) {
      out.counter(family, help, labels, s.value);
    } else {
      // Gauges are kept as unsigned words; one that went below zero (a bug) shows as negative.
      out.gauge(family, help, labels, static_cast<double>(static_cast<int64_t>(s.value)));
    }
    for (const Route& also : kAlsoRoutes) {
      if (also.group != group || also.name != s.name) continue;
      Labels more = worker_labels(s.worker);
      more.push_back({std::string(also.label), std::string(also.value)});
      out.counter(also.family, family_help(also.family, s.help), std::move(more), s.value);
    }
  });
}

void collect_histograms(const shm::Segment& segment, FamilySet& out) {
  visit_histograms(segment, [&](const HistogramSample& h) {
    out.histogram("flowgate_" + std::string(h.name), h.help, worker_labels(h.worker),
                  h.upper_bounds_seconds, h.snapshot);
  });
}

void collect_apps(const shm::Segment& segment, FamilySet& out) {
  visit_app_metrics(segment, [&](uint32_t worker, const metrics::AppMetricView& v) {
    Labels labels = worker_labels(worker);
    for (size_t i = 0; i < v.label_count; ++i) {
      labels.push_back({std::string(v.info->label_names[i]), std::string(v.labels[i])});
    }
    switch (v.info->type) {
      case metrics::MetricType::counter:
        out.counter(v.info->name, v.info->help, std::move(labels), v.counter);
        break;
      case metrics::MetricType::gauge:
        out.gauge(v.info->name, v.info->help, std::move(labels), static_cast<double>(v.gauge));
        break;
      case metrics::MetricType::histogram:
        out.histogram(v.info->name, v.info->help, std::move(labels), kLatencyBucketBoundsSeconds,
                      v.histogram);
        break;
    }
  });
}

}  // namespace

std::string default_family_name(std::string_view group, std::string_view name, bool counter) {
  // The stack's counters and gauges carry their protocol in their name (tcp_, arp_, ...);
  // the other groups are named after their process or block.
  std::string family = "flowgate_";
  if (group == "io" || group == "dispatch" || group == "worker") {
    family += std::string(group) + "_";
  } else if (group == "faults") {
    family += "fault_injector_";
  } else if (group != "event" && group != "gauge" && group != "drop") {
    family += std::string(group) + "_";
  }
  family += name;
  constexpr std::string_view kTotal = "_total";
  const bool has_total = family.size() >= kTotal.size() &&
                         family.compare(family.size() - kTotal.size(), kTotal.size(), kTotal) == 0;
  if (counter && !has_total) family += kTotal;
  return family;
}

std::vector<MetricFamily> collect(const shm::Segment& segment) {
  FamilySet out;
  collect_gateway(segment, out);
  collect_frames(segment, out);
  collect_workers(segment, out);
  collect_catalogue(segment, out);
  collect_histograms(segment, out);
  collect_apps(segment, out);
  return out.take();
}

std::string serialize(const std::vector<MetricFamily>& families) {
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, families);
  return text.str();
}

}  // namespace flowgate::exporter
