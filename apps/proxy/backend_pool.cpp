#include "apps/proxy/backend_pool.hpp"

#include <algorithm>

namespace flowgate::proxy {

void BackendMetrics::retire() const {
  for (const metrics::Gauge* g : {&up, &active}) g->retire();
  for (const metrics::Counter* c :
       {&connections, &connect_failures, &checks, &checks_failed, &marked_down, &ejections}) {
    c->retire();
  }
}

void BackendMetrics::register_with(metrics::AppMetricsWriter& writer, const std::string& pool,
                                   const std::string& backend) {
  using metrics::AppFamily;
  const std::string_view p = pool;
  const std::string_view b = backend;
  up = writer.gauge(AppFamily::backend_up, {p, b});
  active = writer.gauge(AppFamily::backend_active_connections, {p, b});
  connections = writer.counter(AppFamily::backend_connections, {p, b});
  connect_failures = writer.counter(AppFamily::backend_connect_failures, {p, b});
  checks = writer.counter(AppFamily::backend_health_checks, {p, b});
  checks_failed = writer.counter(AppFamily::backend_health_check_failures, {p, b});
  marked_down = writer.counter(AppFamily::backend_marked_down, {p, b});
  ejections = writer.counter(AppFamily::backend_ejections, {p, b});
  registered = true;
}

BackendPool::BackendPool(const PoolConfig& config, uint32_t worker_count, Instant now,
                         const BackendPool* previous)
    : name_(config.name),
      balance_(config.balance),
      health_checked_(config.health_check.has_value()) {
  const uint32_t workers = std::max<uint32_t>(worker_count, 1);
  for (const BackendConfig& bc : config.backends) {
    const std::string name = bc.address.to_string() + ":" + std::to_string(bc.port);
    std::shared_ptr<Backend> b;
    if (previous != nullptr) {
      for (const auto& old : previous->backends_) {
        if (old->name == name) b = old;
      }
    }
    if (!b) {
      b = std::make_shared<Backend>();
      b->name = name;
      b->address = bc.address;
      b->port = bc.port;
    }
    b->weight = bc.weight;
    b->max_connections = bc.max_connections == 0 ? 0 : (bc.max_connections + workers - 1) / workers;
    if (const auto& h = config.health_check) {
      // A kept backend keeps its verdict; a new one starts up and is checked at once.
      if (b->health) {
        b->health->set_thresholds(h->rise, h->fall);
      } else {
        b->health.emplace(h->rise, h->fall);
      }
      if (b->schedule) {
        b->schedule->set_timing(h->interval, h->timeout);
      } else {
        b->schedule.emplace(h->interval, h->timeout, now);
      }
    } else {
      b->health.reset();  // no checks: always up
      b->schedule.reset();
    }
    if (const auto& e = config.passive_ejection) {
      if (b->ejection) {
        b->ejection->set_policy(e->failures, e->duration);
      } else {
        b->ejection.emplace(e->failures, e->duration);
      }
    } else {
      b->ejection.reset();
    }
    backends_.push_back(std::move(b));
  }
  round_robin_.reset(backends_.size());
}

bool BackendPool::may_take(const Backend& b, std::span<const Backend* const> tried,
                           Instant now) const {
  if (!b.in_rotation(now) || b.full()) return false;
  return std::find(tried.begin(), tried.end(), &b) == tried.end();
}

std::shared_ptr<Backend> BackendPool::choose(uint32_t client_ip,
                                             std::span<const Backend* const> tried, Instant now) {
  if (balance_ == BalanceKind::maglev) {
    refresh_maglev(now);
    const int32_t first = maglev_.lookup(maglev_client_key(client_ip));
    if (first == MaglevTable::kNone) return nullptr;
    const bool any = std::any_of(backends_.begin(), backends_.end(),
                                 [&](const auto& b) { return may_take(*b, tried, now); });
    if (!any) return nullptr;
    // Walk the table from the client's slot: every member owns slots, so a member that may
    // take the connection is met within a few steps.
    const uint64_t key = maglev_client_key(client_ip) % maglev_.size();
    for (uint64_t step = 0; step < maglev_.size(); ++step) {
      const int32_t member = maglev_.owner(static_cast<uint32_t>((key + step) % maglev_.size()));
      const auto& b = backends_[maglev_members_[static_cast<size_t>(member)]];
      if (may_take(*b, tried, now)) return b;
    }
    // Only backends outside the table (none: the table holds every one in rotation) remain.
    return nullptr;
  }
  candidates_.resize(backends_.size());
  for (size_t i = 0; i < backends_.size(); ++i) {
    const Backend& b = *backends_[i];
    candidates_[i] = Candidate{b.weight, b.active, may_take(b, tried, now)};
  }
  const int32_t picked = balance_ == BalanceKind::round_robin
                             ? round_robin_.pick(candidates_)
                             : least_connections_.pick(candidates_);
  if (picked == kNoCandidate) return nullptr;
  return backends_[static_cast<size_t>(picked)];
}

// The table holds the backends in rotation (weight > 0, up, not ejected), rebuilt when that
// set changes: a backend that goes down or is drained moves only its own clients (Maglev's
// minimal disruption), and they come back to it when it returns.
void BackendPool::refresh_maglev(Instant now) {
  std::vector<bool> rotation(backends_.size());
  for (size_t i = 0; i < backends_.size(); ++i) rotation[i] = backends_[i]->in_rotation(now);
  if (maglev_built_ && rotation == maglev_rotation_) return;
  std::vector<MaglevEntry> entries;
  maglev_members_.clear();
  for (size_t i = 0; i < backends_.size(); ++i) {
    if (!rotation[i]) continue;
    entries.push_back(MaglevEntry{backends_[i]->name, backends_[i]->weight});
    maglev_members_.push_back(i);
  }
  maglev_ = MaglevTable(entries);
  maglev_rotation_ = std::move(rotation);
  maglev_built_ = true;
  ++maglev_rebuilds_;
}

}  // namespace flowgate::proxy
