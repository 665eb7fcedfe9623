// A backend pool as one worker runs it: its backends with their live state (connections
// open, health, ejection) and the balancing rule that picks one for a new connection.
//
// Backends are shared_ptr: a proxied connection keeps its backend alive, so a SIGHUP that
// removes a backend from the pool lets that backend's open connections run to their end (and
// its connection count stays right) while new connections go elsewhere. A reload builds a
// new pool and carries over, by address and port, the state of backends it keeps.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "apps/config.hpp"
#include "apps/proxy/balancer.hpp"
#include "apps/proxy/health.hpp"
#include "apps/proxy/maglev.hpp"
#include "monitoring/app_metrics.hpp"

namespace flowgate::proxy {

// A backend's series (labels: pool, backend) in the worker's app metrics table, registered
// by the proxy when the backend first appears in a pool, retired by it once a reload has
// removed the backend and its last connection has ended. A backend removed and added back
// while its old connections still run is a second Backend on the same series: hence
// `active` moves by increments (the two add up), never by setting a count.
struct BackendMetrics {
  void register_with(metrics::AppMetricsWriter& writer, const std::string& pool,
                     const std::string& backend);
  void retire() const;

  bool registered = false;
  metrics::Gauge up;
  metrics::Gauge active;
  metrics::Counter connections;       // connections handed to it
  metrics::Counter connect_failures;  // refused, reset or timed out
  metrics::Counter checks;
  metrics::Counter checks_failed;
  metrics::Counter marked_down;  // up -> down verdicts
  metrics::Counter ejections;    // passive ejections
};

struct Backend {
  std::string name;  // "198.18.0.2:8081": log lines, counters, the Maglev permutation
  wire::Ipv4Address address;
  uint16_t port = 0;
  uint32_t weight = 1;
  // This worker's share of the configured max_connections (0: unlimited). Workers share no
  // state, so each allows ceil(max_connections / workers) and together they allow about the
  // configured number (a little more when it does not divide evenly).
  uint32_t max_connections = 0;
  uint32_t active = 0;  // proxied connections on this worker, connecting or established
  std::optional<HealthState> health;        // with health_check
  std::optional<CheckSchedule> schedule;    // with health_check
  std::optional<PassiveEjection> ejection;  // with passive_ejection
  int check_fd = -1;                        // the running active check's socket
  bool removed = false;                     // a reload took it out of its pool
  BackendMetrics metrics;                   // this worker's

  bool up() const { return !health || health->up(); }
  bool ejected(Instant now) const { return ejection && ejection->ejected(now); }
  bool full() const { return max_connections != 0 && active >= max_connections; }
  // In rotation: new connections may go to it (weight 0 drains it).
  bool in_rotation(Instant now) const { return weight > 0 && up() && !ejected(now); }
};

class BackendPool {
 public:
  // `previous`: the pool of the same name before a reload, whose backends' state is kept for
  // the addresses that stay. `now` starts the health checks (the first one at once).
  BackendPool(const PoolConfig& config, uint32_t worker_count, Instant now,
              const BackendPool* previous = nullptr);

  const std::string& name() const { return name_; }
  BalanceKind balance() const { return balance_; }
  const std::vector<std::shared_ptr<Backend>>& backends() const { return backends_; }
  bool health_checked() const { return health_checked_; }

  // The backend for a new connection from `client_ip`, skipping those in `tried` (earlier
  // attempts of the same connection), those out of rotation and those at their limit; null
  // when none is left. Maglev: the client's slot owner, or, if that one cannot take it, the
  // owner of the next slot that can (the same for a given client, so a retry is stable too).
  std::shared_ptr<Backend> choose(uint32_t client_ip, std::span<const Backend* const> tried,
                                  Instant now);

  // Rebuilds of the Maglev table (a backend left or joined the rotation); for tests.
  uint64_t maglev_rebuilds() const { return maglev_rebuilds_; }

 private:
  bool may_take(const Backend& b, std::span<const Backend* const> tried, Instant now) const;
  void refresh_maglev(Instant now);

  std::string name_;
  BalanceKind balance_;
  bool health_checked_ = false;
  std::vector<std::shared_ptr<Backend>> backends_;
  SmoothRoundRobin round_robin_;
  LeastConnections least_connections_;
  std::vector<Candidate> candidates_;  // scratch for the balancers
  // Maglev: the table over the backends in rotation when it was built, and which they were.
  MaglevTable maglev_;
  std::vector<size_t> maglev_members_;  // table index -> index in backends_
  std::vector<bool> maglev_rotation_;   // backends_[i] was in rotation at the last build
  bool maglev_built_ = false;
  uint64_t maglev_rebuilds_ = 0;
};

}  // namespace flowgate::proxy
