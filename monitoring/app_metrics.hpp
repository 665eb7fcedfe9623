// The applications' labelled metrics: the layout of a worker's WorkerBlock::app_metrics area
// (shm/layout.hpp), the families that may live in it, the handles the applications update,
// the writer that registers them, and the reader the exporter and `flowgate stats` use.
//
// The area is a fixed table of slots. A scalar slot holds one counter or gauge: its family,
// up to three label values and the value. A histogram slot holds the same head and a
// LatencyHistogram (stack/metric_words.hpp). Slots are registered by the worker (when it
// builds its services, and when a proxy reload brings new backends), never on the packet
// path; the applications keep the handle they got and each update is one relaxed load and
// store into shared memory, no lookup, no lock, no system call.
//
// Publishing: the writer fills a slot's family, labels and value, then stores its state word
// with release; readers load the state with acquire before reading anything else, so a
// slot they see published has its labels whole. Labels never change once written: a slot
// is only ever published, retired (hidden from readers) and published again with the same
// family and labels.
//
// Process lifetime: the area outlives the worker. A restarted worker's writer retires every
// slot and zeroes every gauge (the new process owns no connection and has no verdict yet);
// registering the same family and labels again finds the old slot, so counters and
// histograms continue where the dead worker left them, as the stack's counters do.
//
// A full table (or a label value too long) gives a null handle: its updates go nowhere, and
// the area counts the refusal (`registrations_refused`), which `flowgate stats` and the
// exporter show.
//
// Header-only: the applications (and readers) include this and link nothing.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

#include "stack/clock.hpp"
#include "stack/metric_words.hpp"

namespace flowgate::metrics {

enum class MetricType : uint8_t { counter, gauge, histogram };

inline constexpr size_t kMaxLabels = 3;
inline constexpr size_t kLabelValueBytes = 32;  // listener and pool names are 1-32 characters

// X(id, prometheus name, type, help, label names...)
// Names follow Prometheus conventions: base units (seconds, bytes), `_total` for counters.
// No `worker` label: the exporter adds it (each worker has its own area).
#define FLOWGATE_APP_FAMILIES(X)                                                                  \
  X(listener_connections_accepted, "flowgate_listener_connections_accepted_total", counter,       \
    "TCP connections the listener's application accepted", "listener")                            \
  X(listener_connections_active, "flowgate_listener_connections_active", gauge,                   \
    "Connections the listener's application is serving now", "listener")                          \
  X(listener_received_bytes, "flowgate_listener_received_bytes_total", counter,                   \
    "Bytes the listener's application read from its clients", "listener")                         \
  X(listener_sent_bytes, "flowgate_listener_sent_bytes_total", counter,                           \
    "Bytes the listener's application handed to the stack for its clients", "listener")           \
  X(listener_datagrams_received, "flowgate_listener_datagrams_received_total", counter,           \
    "UDP datagrams the listener's application read", "listener")                                  \
  X(listener_datagrams_sent, "flowgate_listener_datagrams_sent_total", counter,                   \
    "UDP datagrams the listener's application sent", "listener")                                  \
  X(listener_errors, "flowgate_listener_errors_total", counter,                                   \
    "Connections ended by a reset or socket error; UDP datagrams that could not be sent",         \
    "listener")                                                                                   \
  X(udp_echo_refused, "flowgate_udp_echo_refused_total", counter,                                 \
    "Datagrams not echoed: their source port (0, 7, 13, 17, 19, 37) could start a ping-pong",     \
    "listener")                                                                                   \
  X(http_requests, "flowgate_http_requests_total", counter,                                       \
    "HTTP responses sent, by status code (refused and timed-out requests included)", "listener",  \
    "code")                                                                                       \
  X(http_request_duration, "flowgate_http_request_duration_seconds", histogram,                   \
    "From a request's first byte to its whole response handed to TCP", "listener")                \
  X(http_timeouts, "flowgate_http_timeouts_total", counter,                                       \
    "HTTP connections given up on a timeout: request (408 sent), idle, linger, send", "listener", \
    "kind")                                                                                       \
  X(http_file_errors, "flowgate_http_file_errors_total", counter,                                 \
    "Files that could not be read to their announced length", "listener")                         \
  X(proxy_connections_relayed, "flowgate_proxy_connections_relayed_total", counter,               \
    "Client connections that reached a backend", "listener")                                      \
  X(proxy_connections_closed, "flowgate_proxy_connections_closed_total", counter,                 \
    "Proxied connections ended: completed (FINs both ways), reset, no_backend, idle_timeout",     \
    "listener", "reason")                                                                         \
  X(proxy_connect_failures, "flowgate_proxy_connect_failures_total", counter,                     \
    "Backend connect attempts that failed: error (refused, reset, at once) or timeout",           \
    "listener", "reason")                                                                         \
  X(proxy_connect_retries, "flowgate_proxy_connect_retries_total", counter,                       \
    "Backend connect attempts after a connection's first", "listener")                            \
  X(proxy_backpressure_pauses, "flowgate_proxy_backpressure_pauses_total", counter,               \
    "Times one side stopped being read because the other's send buffer was full", "listener")     \
  X(proxy_reloads, "flowgate_proxy_reloads_total", counter, "Pool definitions reloaded (SIGHUP)") \
  X(backend_up, "flowgate_backend_up", gauge,                                                     \
    "1 while health checks (or their absence) keep the backend up, 0 when marked down", "pool",   \
    "backend")                                                                                    \
  X(backend_active_connections, "flowgate_backend_active_connections", gauge,                     \
    "Proxied connections on the backend now, connecting or established", "pool", "backend")       \
  X(backend_connections, "flowgate_backend_connections_total", counter,                           \
    "Connect attempts handed to the backend", "pool", "backend")                                  \
  X(backend_connect_failures, "flowgate_backend_connect_failures_total", counter,                 \
    "Connect attempts to the backend refused, reset or timed out", "pool", "backend")             \
  X(backend_health_checks, "flowgate_backend_health_checks_total", counter,                       \
    "Active health checks started", "pool", "backend")                                            \
  X(backend_health_check_failures, "flowgate_backend_health_check_failures_total", counter,       \
    "Active health checks that failed", "pool", "backend")                                        \
  X(backend_marked_down, "flowgate_backend_marked_down_total", counter,                           \
    "Times health checks marked the backend down", "pool", "backend")                             \
  X(backend_ejections, "flowgate_backend_ejections_total", counter,                               \
    "Times connect failures ejected the backend from rotation (passive ejection)", "pool",        \
    "backend")

enum class AppFamily : uint16_t {
#define FLOWGATE_APP_FAMILY_ENUM(id, ...) id,
  FLOWGATE_APP_FAMILIES(FLOWGATE_APP_FAMILY_ENUM)
#undef FLOWGATE_APP_FAMILY_ENUM
      count_
};
inline constexpr size_t kAppFamilyCount = static_cast<size_t>(AppFamily::count_);

struct FamilyInfo {
  std::string_view name;  // the Prometheus metric name
  MetricType type;
  std::string_view help;
  std::array<std::string_view, kMaxLabels> label_names;
  size_t label_count;
};

namespace detail {
template <typename... Names>
constexpr FamilyInfo family_info(std::string_view name, MetricType type, std::string_view help,
                                 Names... labels) {
  static_assert(sizeof...(Names) <= kMaxLabels);
  return FamilyInfo{name, type, help, {std::string_view(labels)...}, sizeof...(Names)};
}
}  // namespace detail

inline constexpr std::array<FamilyInfo, kAppFamilyCount> kFamilies = {
#define FLOWGATE_APP_FAMILY_INFO(id, name, type, ...) \
  detail::family_info(name, MetricType::type, __VA_ARGS__),
    FLOWGATE_APP_FAMILIES(FLOWGATE_APP_FAMILY_INFO)
#undef FLOWGATE_APP_FAMILY_INFO
};

constexpr const FamilyInfo& info(AppFamily f) {
  return kFamilies[static_cast<size_t>(f)];
}

// ---- the layout of the area ----

// A slot's state word: what readers load (acquire) before anything else of the slot.
enum class SlotState : uint32_t {
  free = 0,       // never used (zeroed memory)
  published = 1,  // family, labels and value valid: readers show it
  retired = 2,    // family and labels valid, hidden; registration publishes it again
};

struct SlotHead {
  std::atomic<uint32_t> state{0};  // SlotState
  uint16_t family = 0;             // AppFamily
  uint8_t label_count = 0;
  std::array<uint8_t, kMaxLabels> label_lengths{};
  std::array<std::array<char, kLabelValueBytes>, kMaxLabels> label_values{};
};

struct alignas(64) ScalarSlot {
  SlotHead head;
  uint64_t value = 0;  // a counter's count, or a gauge's value as int64 two's complement
};

struct alignas(64) HistogramSlot {
  SlotHead head;
  LatencyHistogram histogram;
};

inline constexpr size_t kAppMetricsAreaBytes = 128 * 1024;  // shm::kAppMetricsBytes
inline constexpr size_t kAreaHeaderBytes = 64;
inline constexpr size_t kHistogramSlotCount = 64;
inline constexpr size_t kScalarSlotCount =
    (kAppMetricsAreaBytes - kAreaHeaderBytes - kHistogramSlotCount * sizeof(HistogramSlot)) /
    sizeof(ScalarSlot);

struct AppMetricsArea {
  // How many slots of each table were ever taken (released after the slot's state): readers
  // look no further.
  std::atomic<uint32_t> scalar_slots_used{0};
  std::atomic<uint32_t> histogram_slots_used{0};
  uint64_t registrations_refused = 0;  // table full, label too long, or the wrong kind
  alignas(kAreaHeaderBytes) std::array<ScalarSlot, kScalarSlotCount> scalars;
  std::array<HistogramSlot, kHistogramSlotCount> histograms;
};
static_assert(sizeof(AppMetricsArea) <= kAppMetricsAreaBytes);
static_assert(std::is_standard_layout_v<AppMetricsArea>);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(offsetof(ScalarSlot, value) % alignof(uint64_t) == 0);

// ---- handles: what the applications keep and update ----

// A counter: only ever increases. A default-constructed (null) handle ignores updates.
class Counter {
 public:
  Counter() = default;
  void add(uint64_t n = 1) const {
    if (slot_ != nullptr) metric_add(slot_->value, n);
  }
  uint64_t value() const { return slot_ != nullptr ? metric_load(slot_->value) : 0; }
  explicit operator bool() const { return slot_ != nullptr; }
  // Hides the series from readers (its subject is gone); registering it again shows it.
  void retire() const;

 private:
  friend class AppMetricsWriter;
  explicit Counter(ScalarSlot* slot) : slot_(slot) {}
  ScalarSlot* slot_ = nullptr;
};

// A gauge: a value that goes up and down (connections open, up/down).
class Gauge {
 public:
  Gauge() = default;
  void set(int64_t v) const {
    if (slot_ != nullptr) metric_store(slot_->value, static_cast<uint64_t>(v));
  }
  void add(int64_t delta) const {
    if (slot_ != nullptr) metric_add(slot_->value, static_cast<uint64_t>(delta));
  }
  int64_t value() const {
    return slot_ != nullptr ? static_cast<int64_t>(metric_load(slot_->value)) : 0;
  }
  explicit operator bool() const { return slot_ != nullptr; }
  void retire() const;

 private:
  friend class AppMetricsWriter;
  explicit Gauge(ScalarSlot* slot) : slot_(slot) {}
  ScalarSlot* slot_ = nullptr;
};

// A histogram of durations with the latency buckets (50 µs .. 10 s).
class Histogram {
 public:
  Histogram() = default;
  void observe(Duration d) const {
    if (slot_ != nullptr) slot_->histogram.observe(d);
  }
  LatencyHistogramSnapshot snapshot() const {
    return slot_ != nullptr ? LatencyHistogramSnapshot::of(slot_->histogram)
                            : LatencyHistogramSnapshot{};
  }
  explicit operator bool() const { return slot_ != nullptr; }
  void retire() const;

 private:
  friend class AppMetricsWriter;
  explicit Histogram(HistogramSlot* slot) : slot_(slot) {}
  HistogramSlot* slot_ = nullptr;
};

namespace detail {
inline void retire(SlotHead* head) {
  if (head != nullptr) {
    head->state.store(static_cast<uint32_t>(SlotState::retired), std::memory_order_release);
  }
}
}  // namespace detail

inline void Counter::retire() const {
  detail::retire(slot_ != nullptr ? &slot_->head : nullptr);
}
inline void Gauge::retire() const {
  detail::retire(slot_ != nullptr ? &slot_->head : nullptr);
}
inline void Histogram::retire() const {
  detail::retire(slot_ != nullptr ? &slot_->head : nullptr);
}

using Labels = std::initializer_list<std::string_view>;

// ---- the writer: registration, by the one process that owns the area ----

class AppMetricsWriter {
 public:
  // Takes over `area` for this process: every slot a previous process left is retired and
  // every gauge zeroed (see "Process lifetime" above). `area` is zeroed memory or an area a
  // previous writer used.
  explicit AppMetricsWriter(AppMetricsArea& area) : area_(area) {
    const uint32_t scalars = area_.scalar_slots_used.load(std::memory_order_relaxed);
    for (uint32_t i = 0; i < scalars; ++i) {
      ScalarSlot& s = area_.scalars[i];
      if (s.head.family < kAppFamilyCount &&
          info(static_cast<AppFamily>(s.head.family)).type == MetricType::gauge) {
        metric_store(s.value, 0);
      }
      detail::retire(&s.head);
    }
    const uint32_t histograms = area_.histogram_slots_used.load(std::memory_order_relaxed);
    for (uint32_t i = 0; i < histograms; ++i) detail::retire(&area_.histograms[i].head);
  }
  AppMetricsWriter(const AppMetricsWriter&) = delete;
  AppMetricsWriter& operator=(const AppMetricsWriter&) = delete;

  // The handle for (family, label values), which must be of the handle's type and give one
  // value per label name of the family. Registering the same series twice gives the same
  // slot. Null (and counted) when the family has another type, a label count differs, a
  // value is empty or longer than kLabelValueBytes, or the table is full.
  Counter counter(AppFamily family, Labels labels) {
    return Counter(
        register_slot(area_.scalars, area_.scalar_slots_used, family, labels, MetricType::counter));
  }
  Gauge gauge(AppFamily family, Labels labels) {
    return Gauge(
        register_slot(area_.scalars, area_.scalar_slots_used, family, labels, MetricType::gauge));
  }
  Histogram histogram(AppFamily family, Labels labels) {
    return Histogram(register_slot(area_.histograms, area_.histogram_slots_used, family, labels,
                                   MetricType::histogram));
  }

  uint64_t refused() const { return metric_load(area_.registrations_refused); }
  const AppMetricsArea& area() const { return area_; }

 private:
  static bool same_series(const SlotHead& h, AppFamily family, Labels labels) {
    if (h.family != static_cast<uint16_t>(family) || h.label_count != labels.size()) return false;
    size_t i = 0;
    for (std::string_view v : labels) {
      if (std::string_view(h.label_values[i].data(), h.label_lengths[i]) != v) return false;
      ++i;
    }
    return true;
  }

  template <typename Slot, size_t N>
  Slot* register_slot(std::array<Slot, N>& table, std::atomic<uint32_t>& used, AppFamily family,
                      Labels labels, MetricType type) {
    const bool acceptable = static_cast<size_t>(family) < kAppFamilyCount &&
                            info(family).type == type && labels.size() == info(family).label_count;
    bool labels_fit = true;
    for (std::string_view v : labels)
      labels_fit = labels_fit && !v.empty() && v.size() <= kLabelValueBytes;
    if (!acceptable || !labels_fit) return refuse();
    // Registration is rare (start-up, reload) and the table small: a scan finds the series
    // a previous process (or an earlier call) registered.
    const uint32_t n = used.load(std::memory_order_relaxed);
    for (uint32_t i = 0; i < n; ++i) {
      Slot& s = table[i];
      if (!same_series(s.head, family, labels)) continue;
      s.head.state.store(static_cast<uint32_t>(SlotState::published), std::memory_order_release);
      return &s;
    }
    if (n >= N) return refuse();
    Slot& s = table[n];
    s.head.family = static_cast<uint16_t>(family);
    s.head.label_count = static_cast<uint8_t>(labels.size());
    size_t i = 0;
    for (std::string_view v : labels) {
      s.head.label_lengths[i] = static_cast<uint8_t>(v.size());
      std::memcpy(s.head.label_values[i].data(), v.data(), v.size());
      ++i;
    }
    // Labels (and the zeroed value) first, then the state, then the table's extent.
    s.head.state.store(static_cast<uint32_t>(SlotState::published), std::memory_order_release);
    used.store(n + 1, std::memory_order_release);
    return &s;
  }

  std::nullptr_t refuse() {
    metric_add(area_.registrations_refused, 1);
    return nullptr;
  }

  AppMetricsArea& area_;
};

// ---- the reader: the exporter, `flowgate stats`, tests ----

struct AppMetricView {
  AppFamily family{};
  const FamilyInfo* info = nullptr;
  // Values of info->label_names, in order; they point into the area (valid while mapped).
  std::array<std::string_view, kMaxLabels> labels{};
  size_t label_count = 0;
  uint64_t counter = 0;                // type counter
  int64_t gauge = 0;                   // type gauge
  LatencyHistogramSnapshot histogram;  // type histogram
};

namespace detail {
// A reader trusts nothing it did not validate: another process wrote the area.
template <typename Slot>
bool read_head(const Slot& slot, AppMetricView& view) {
  // Acquire: pairs with the writer's release of the state, after the family and labels.
  const auto state = static_cast<SlotState>(slot.head.state.load(std::memory_order_acquire));
  if (state != SlotState::published || slot.head.family >= kAppFamilyCount) return false;
  view.family = static_cast<AppFamily>(slot.head.family);
  view.info = &info(view.family);
  if (slot.head.label_count != view.info->label_count) return false;
  view.label_count = slot.head.label_count;
  for (size_t i = 0; i < view.label_count; ++i) {
    const size_t length = std::min<size_t>(slot.head.label_lengths[i], kLabelValueBytes);
    view.labels[i] = std::string_view(slot.head.label_values[i].data(), length);
  }
  return true;
}
}  // namespace detail

// Calls `visit` for every published slot: scalars in registration order, then histograms.
inline void read_app_metrics(const AppMetricsArea& area,
                             const std::function<void(const AppMetricView&)>& visit) {
  // Acquire: pairs with the writer's release of the extent, after the slots it covers.
  const size_t scalars =
      std::min<size_t>(area.scalar_slots_used.load(std::memory_order_acquire), kScalarSlotCount);
  for (size_t i = 0; i < scalars; ++i) {
    const ScalarSlot& slot = area.scalars[i];
    AppMetricView view;
    if (!detail::read_head(slot, view) || view.info->type == MetricType::histogram) continue;
    const uint64_t raw = metric_load(slot.value);
    if (view.info->type == MetricType::counter) {
      view.counter = raw;
    } else {
      view.gauge = static_cast<int64_t>(raw);
    }
    visit(view);
  }
  const size_t histograms = std::min<size_t>(
      area.histogram_slots_used.load(std::memory_order_acquire), kHistogramSlotCount);
  for (size_t i = 0; i < histograms; ++i) {
    const HistogramSlot& slot = area.histograms[i];
    AppMetricView view;
    if (!detail::read_head(slot, view) || view.info->type != MetricType::histogram) continue;
    view.histogram = LatencyHistogramSnapshot::of(slot.histogram);
    visit(view);
  }
}

// A hash of the family table and the area's layout, for metrics_signature().
inline uint64_t app_metrics_signature() {
  // FNV-1a over every family (name, type, labels), the sizes that place the slots, and the
  // histogram bounds.
  uint64_t h = 0xcbf29ce484222325u;
  auto mix = [&](std::string_view s) {
    for (char c : s) {
      h ^= static_cast<uint8_t>(c);
      h *= 0x100000001b3u;
    }
    h ^= ';';
    h *= 0x100000001b3u;
  };
  for (const FamilyInfo& f : kFamilies) {
    mix(f.name);
    mix(std::to_string(static_cast<int>(f.type)));
    for (size_t i = 0; i < f.label_count; ++i) mix(f.label_names[i]);
  }
  for (const size_t n : {sizeof(AppMetricsArea), sizeof(ScalarSlot), sizeof(HistogramSlot),
                         kScalarSlotCount, kHistogramSlotCount, kLabelValueBytes}) {
    mix(std::to_string(n));
  }
  for (const int64_t bound : kLatencyBucketBoundsNs) mix(std::to_string(bound));
  return h;
}

}  // namespace flowgate::metrics
