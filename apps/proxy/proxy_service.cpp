#include "apps/proxy/proxy_service.hpp"

#include <netinet/in.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <system_error>

#include "apps/proxy/proxy_protocol.hpp"
#include "stack/socket_api.hpp"
#include "stack/stack.hpp"

namespace flowgate::proxy {

namespace {

// Session::client_events / backend_events value for a socket not in the epoll set (no real
// interest mask has every bit set).
constexpr uint32_t kOutOfEpollSet = ~0u;

// One read's worth: what a direction may hold beyond the sockets' own buffers.
constexpr size_t kChunk = 16 * 1024;
constexpr int kMaxEvents = 64;
// Rounds of fg_epoll_wait per run(), as in tcp_service.cpp: enough for what a batch made
// ready, bounded so that a descriptor that stays ready cannot hold the loop.
constexpr int kMaxRounds = 16;

sockaddr_in endpoint(wire::Ipv4Address ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip.value);
  a.sin_port = htons(port);
  return a;
}

bool would_block() {
  return errno == EAGAIN || errno == EWOULDBLOCK;
}

// A relay writes what it has just read: Nagle's algorithm would add a round trip to every
// small write after the first (a PROXY header, then the request), on top of the sender's own.
void no_delay(Stack& stack, int fd) {
  const int on = 1;
  fg_setsockopt(stack, fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

int socket_error(Stack& stack, int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (fg_getsockopt(stack, fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
  return err;
}

void log_line(const char* format, const std::string& a, const std::string& b) {
  std::fprintf(stderr, format, a.c_str(), b.c_str());
  std::fflush(stderr);
}

}  // namespace

ProxyListenerMetrics::ProxyListenerMetrics(metrics::AppMetricsWriter& writer,
                                           const std::string& listener) {
  using metrics::AppFamily;
  const std::string_view l = listener;
  accepted = writer.counter(AppFamily::listener_connections_accepted, {l});
  active = writer.gauge(AppFamily::listener_connections_active, {l});
  relayed = writer.counter(AppFamily::proxy_connections_relayed, {l});
  completed = writer.counter(AppFamily::proxy_connections_closed, {l, "completed"});
  resets = writer.counter(AppFamily::proxy_connections_closed, {l, "reset"});
  no_backend = writer.counter(AppFamily::proxy_connections_closed, {l, "no_backend"});
  idle_timeouts = writer.counter(AppFamily::proxy_connections_closed, {l, "idle_timeout"});
  connect_failures = writer.counter(AppFamily::proxy_connect_failures, {l, "error"});
  connect_timeouts = writer.counter(AppFamily::proxy_connect_failures, {l, "timeout"});
  retries = writer.counter(AppFamily::proxy_connect_retries, {l});
  bytes_to_backends = writer.counter(AppFamily::listener_received_bytes, {l});
  bytes_to_clients = writer.counter(AppFamily::listener_sent_bytes, {l});
  backpressure_pauses = writer.counter(AppFamily::proxy_backpressure_pauses, {l});
}

ProxyService::ProxyService(Stack& stack, const GatewayConfig& config, uint32_t worker_count,
                           metrics::AppMetricsWriter& metrics)
    : stack_(stack),
      metrics_(metrics),
      worker_count_(std::max<uint32_t>(worker_count, 1)),
      scratch_(kChunk),
      reloads_(metrics.counter(metrics::AppFamily::proxy_reloads, {})) {
  epoll_fd_ = fg_epoll_create(stack_);
  if (epoll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "proxy: epoll");
  const Instant now = stack_.clock().now();
  for (const PoolConfig& p : config.pools) {
    pools_.push_back(std::make_unique<BackendPool>(p, worker_count_, now));
  }
  register_backends();
  try {
    for (const ListenerConfig& l : config.listeners) {
      if (l.app != AppKind::proxy) continue;
      ListenerState state{l.name, l.port, -1, l.proxy, ProxyListenerMetrics(metrics_, l.name)};
      state.fd = open_tcp_listener(stack_, l.port, "proxy " + l.name);
      fg_listen(stack_, state.fd, static_cast<int>(l.backlog));
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = state.fd;
      if (fg_epoll_ctl(stack_, epoll_fd_, EPOLL_CTL_ADD, state.fd, &ev) < 0) {
        const int err = errno;
        fg_close(stack_, state.fd);
        throw std::system_error(err, std::generic_category(), "proxy " + l.name + ": epoll");
      }
      listeners_.push_back(std::move(state));
    }
  } catch (...) {
    for (const ListenerState& l : listeners_) fg_close(stack_, l.fd);
    fg_close(stack_, epoll_fd_);
    throw;
  }
}

ProxyService::~ProxyService() {
  for (const auto& [fd, owner] : fds_) fg_close(stack_, fd);
  for (const ListenerState& l : listeners_) {
    if (l.fd >= 0) fg_close(stack_, l.fd);
  }
  fg_close(stack_, epoll_fd_);
}

const BackendPool* ProxyService::pool(const std::string& name) const {
  for (const auto& p : pools_) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

const ProxyListenerMetrics& ProxyService::listener_metrics(const std::string& listener) const {
  for (const ListenerState& l : listeners_) {
    if (l.name == listener) return l.metrics;
  }
  static const ProxyListenerMetrics kNone;  // null handles: every value reads 0
  return kNone;
}

void ProxyService::register_backends() {
  for (const auto& p : pools_) {
    for (const auto& b : p->backends()) {
      if (!b->metrics.registered) b->metrics.register_with(metrics_, p->name(), b->name);
      b->metrics.up.set(b->up() ? 1 : 0);  // a reload may have removed its health checks
    }
  }
}

void ProxyService::retire_if_gone(const std::string& pool, const Backend& b) {
  if (b.active > 0) return;
  if (const BackendPool* p = find_pool(pool); p != nullptr) {
    for (const auto& other : p->backends()) {
      if (other->name == b.name) return;  // back in the pool: the series is in use again
    }
  }
  b.metrics.retire();
}

BackendPool* ProxyService::find_pool(const std::string& name) {
  for (const auto& p : pools_) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

void ProxyService::reload(const std::vector<PoolConfig>& pools) {
  const Instant now = stack_.clock().now();
  std::vector<std::unique_ptr<BackendPool>> fresh;
  for (const PoolConfig& p : pools) {
    fresh.push_back(std::make_unique<BackendPool>(p, worker_count_, now, find_pool(p.name)));
  }
  // Backends that left every pool: a running check ends now (its result would be noise);
  // open connections keep their backend through their shared_ptr.
  for (const auto& old : pools_) {
    for (const auto& b : old->backends()) {
      const bool kept = std::any_of(fresh.begin(), fresh.end(), [&](const auto& np) {
        return std::find(np->backends().begin(), np->backends().end(), b) != np->backends().end();
      });
      if (!kept || !b->schedule) close_check(*b);
      if (!kept) b->removed = true;
    }
  }
  std::vector<std::unique_ptr<BackendPool>> old = std::move(pools_);
  pools_ = std::move(fresh);
  register_backends();
  for (const auto& p : old) {
    for (const auto& b : p->backends()) {
      if (b->removed) retire_if_gone(p->name(), *b);
    }
  }
  reloads_.add();
}

size_t ProxyService::buffered_bytes() const {
  size_t total = 0;
  for (const auto& [id, s] : sessions_) {
    total += s.up.pending.size() - s.up.pending_sent;
    total += s.down.pending.size() - s.down.pending_sent;
  }
  return total;
}

void ProxyService::stop_accepting() {
  for (ListenerState& l : listeners_) {
    if (l.fd < 0) continue;
    fg_close(stack_, l.fd);
    l.fd = -1;
  }
}

std::optional<Instant> ProxyService::next_deadline() const {
  if (more_ready_) return stack_.clock().now();
  std::optional<Instant> soonest;
  auto consider = [&](Instant t) { soonest = soonest ? std::min(*soonest, t) : t; };
  if (!timers_.empty()) consider(timers_.begin()->first);
  for (const auto& p : pools_) {
    for (const auto& b : p->backends()) {
      if (b->schedule) consider(b->schedule->next_deadline());
    }
  }
  return soonest;
}

void ProxyService::run() {
  epoll_event events[kMaxEvents];
  more_ready_ = false;
  for (int round = 0; round < kMaxRounds; ++round) {
    const int n = fg_epoll_wait(stack_, epoll_fd_, events, kMaxEvents, 0);
    if (n <= 0) break;
    // Stopped by the bound with a full batch: descriptors may still be ready, and without a
    // new frame nothing would call run() for them (see next_deadline()).
    more_ready_ = round + 1 == kMaxRounds && n == kMaxEvents;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      const auto l = std::find_if(listeners_.begin(), listeners_.end(),
                                  [&](const ListenerState& x) { return x.fd == fd; });
      if (l != listeners_.end()) {
        accept_all(static_cast<size_t>(l - listeners_.begin()));
      } else {
        on_event(fd, events[i].events);
      }
    }
  }
  const Instant now = stack_.clock().now();
  fire_timers(now);
  run_checks(now);
}

void ProxyService::accept_all(size_t listener) {
  for (;;) {
    sockaddr_in peer{};
    socklen_t peer_len = sizeof peer;
    const int fd =
        fg_accept(stack_, listeners_[listener].fd, reinterpret_cast<sockaddr*>(&peer), &peer_len);
    if (fd < 0) return;  // EAGAIN: no more completed handshakes
    listeners_[listener].metrics.accepted.add();
    no_delay(stack_, fd);
    sockaddr_in local{};
    socklen_t local_len = sizeof local;
    fg_getsockname(stack_, fd, reinterpret_cast<sockaddr*>(&local), &local_len);
    epoll_event ev{};
    ev.events = 0;  // nothing is read from the client until its backend is connected
    ev.data.fd = fd;
    if (fg_epoll_ctl(stack_, epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      abort_socket(fd);
      continue;
    }
    const uint64_t id = next_session_id_++;
    Session& s = sessions_[id];
    s.id = id;
    s.listener = listener;
    s.client_fd = fd;
    s.addresses =
        ProxiedConnection{wire::Ipv4Address{ntohl(peer.sin_addr.s_addr)}, ntohs(peer.sin_port),
                          wire::Ipv4Address{ntohl(local.sin_addr.s_addr)}, ntohs(local.sin_port)};
    fds_[fd] = FdOwner{Side::client, id, nullptr};
    listeners_[listener].metrics.active.add(1);
    try_connect(s);
  }
}

bool ProxyService::try_connect(Session& s) {
  const ProxySettings& settings = listeners_[s.listener].settings;
  const ProxyListenerMetrics& m = listeners_[s.listener].metrics;
  const Instant now = stack_.clock().now();
  while (s.attempts < settings.connect_attempts) {
    BackendPool* pool = find_pool(settings.pool);
    std::shared_ptr<Backend> b =
        pool != nullptr ? pool->choose(s.addresses.source.value, s.tried, now) : nullptr;
    if (!b) break;
    if (++s.attempts > 1) m.retries.add();
    s.tried.push_back(b.get());
    s.tried_keep.push_back(b);
    const int fd = fg_socket(stack_, AF_INET, SOCK_STREAM, 0);
    if (fd < 0) break;  // out of descriptors: no other backend would do better
    no_delay(stack_, fd);
    const sockaddr_in remote = endpoint(b->address, b->port);
    const int rc =
        fg_connect(stack_, fd, reinterpret_cast<const sockaddr*>(&remote), sizeof remote);
    if (rc < 0 && errno != EINPROGRESS) {
      // Failed at once (no route, no source port): a failure of this attempt, not of the
      // backend, so it does not count towards ejection.
      m.connect_failures.add();
      fg_close(stack_, fd);
      continue;
    }
    s.backend = b;
    ++b->active;
    b->metrics.active.add(1);
    b->metrics.connections.add();
    s.backend_fd = fd;
    s.backend_events = 0;
    s.phase = Phase::connecting;
    fds_[fd] = FdOwner{Side::backend, s.id, nullptr};
    epoll_event ev{};
    ev.events = 0;
    ev.data.fd = fd;
    fg_epoll_ctl(stack_, epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    watch(fd, s.backend_events, EPOLLOUT);
    s.connect_deadline = now + settings.connect_timeout;
    arm_timer(s, s.connect_deadline);
    if (rc == 0) connected(s);
    return true;
  }
  end_session(s, End::no_backend);
  return false;
}

void ProxyService::release_backend(Session& s) {
  if (s.backend_fd >= 0) {
    fds_.erase(s.backend_fd);
    s.backend_fd = -1;
  }
  if (s.backend) {
    Backend& b = *s.backend;
    --b.active;
    b.metrics.active.add(-1);
    if (b.removed) retire_if_gone(listeners_[s.listener].settings.pool, b);
    s.backend.reset();
  }
}

void ProxyService::connect_failed(Session& s, bool timed_out) {
  const ProxyListenerMetrics& m = listeners_[s.listener].metrics;
  (timed_out ? m.connect_timeouts : m.connect_failures).add();
  Backend& b = *s.backend;
  b.metrics.connect_failures.add();
  if (b.ejection && b.ejection->on_failure(stack_.clock().now())) {
    b.metrics.ejections.add();
    log_line("flowgate proxy: backend %s ejected after connect failures (pool %s)\n", b.name,
             listeners_[s.listener].settings.pool);
  }
  abort_socket(s.backend_fd);
  release_backend(s);
  try_connect(s);
}

void ProxyService::connected(Session& s) {
  const ProxySettings& settings = listeners_[s.listener].settings;
  s.phase = Phase::relaying;
  listeners_[s.listener].metrics.relayed.add();
  if (s.backend->ejection) s.backend->ejection->on_success();
  switch (settings.proxy_protocol) {
    case ProxyProtocolVersion::none:
      break;
    case ProxyProtocolVersion::v1:
      s.up.pending = proxy_header_v1(s.addresses);
      break;
    case ProxyProtocolVersion::v2:
      s.up.pending = proxy_header_v2(s.addresses);
      break;
  }
  s.last_activity = stack_.clock().now();
  arm_timer(s, s.last_activity + settings.idle_timeout);
  pump(s);
}

void ProxyService::on_event(int fd, uint32_t events) {
  const auto owner = fds_.find(fd);
  if (owner == fds_.end()) return;
  if (owner->second.side == Side::check) {
    const std::shared_ptr<Backend> b = owner->second.check;
    const bool success = (events & (EPOLLERR | EPOLLHUP)) == 0 && (events & EPOLLOUT) != 0 &&
                         socket_error(stack_, fd) == 0;
    if (success || (events & (EPOLLERR | EPOLLHUP)) != 0) {
      finish_check(*b, success, stack_.clock().now());
    }
    return;
  }
  const auto it = sessions_.find(owner->second.session);
  if (it == sessions_.end()) return;
  Session& s = it->second;
  const bool client = owner->second.side == Side::client;
  if (s.phase == Phase::connecting) {
    if (client) {
      // The client went away (reset) before its backend answered.
      if ((events & (EPOLLERR | EPOLLHUP)) != 0) end_session(s, End::reset);
      return;
    }
    const int err = socket_error(stack_, fd);
    if (err != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) {
      connect_failed(s, false);
    } else if ((events & EPOLLOUT) != 0) {
      connected(s);
    }
    return;
  }
  if ((events & EPOLLERR) != 0) {
    end_session(s, End::reset);
    return;
  }
  if (!pump(s)) return;
  // Hung up while we still owe that side bytes or our FIN: its connection is dead (both
  // directions of a live one cannot be finished before ours is).
  const Direction& towards = client ? s.down : s.up;
  if ((events & EPOLLHUP) != 0 && !towards.shut) end_session(s, End::reset);
}

bool ProxyService::pump(Session& s) {
  const ProxyListenerMetrics& m = listeners_[s.listener].metrics;
  if (!transfer(s, s.client_fd, s.backend_fd, s.up, m.bytes_to_backends) ||
      !transfer(s, s.backend_fd, s.client_fd, s.down, m.bytes_to_clients)) {
    end_session(s, End::reset);
    return false;
  }
  if (s.up.shut && s.down.shut) {
    end_session(s, End::completed);
    return false;
  }
  update_interest(s);
  return true;
}

bool ProxyService::flush(int to, Direction& d, const metrics::Counter& bytes) {
  while (d.has_pending()) {
    const ssize_t n = fg_send(stack_, to, d.pending.data() + d.pending_sent,
                              d.pending.size() - d.pending_sent, 0);
    if (n < 0) return would_block();
    d.pending_sent += static_cast<size_t>(n);
    bytes.add(static_cast<uint64_t>(n));
  }
  d.pending.clear();
  d.pending_sent = 0;
  return true;
}

bool ProxyService::transfer(Session& s, int from, int to, Direction& d,
                            const metrics::Counter& bytes) {
  if (!flush(to, d, bytes)) return false;
  while (!d.has_pending() && !d.eof) {
    const ssize_t n = fg_recv(stack_, from, scratch_.data(), scratch_.size(), 0);
    if (n == 0) {
      d.eof = true;
      break;
    }
    if (n < 0) {
      if (would_block()) break;
      return false;
    }
    s.last_activity = stack_.clock().now();
    size_t sent = 0;
    while (sent < static_cast<size_t>(n)) {
      const ssize_t m =
          fg_send(stack_, to, scratch_.data() + sent, static_cast<size_t>(n) - sent, 0);
      if (m < 0) {
        if (!would_block()) return false;
        break;
      }
      sent += static_cast<size_t>(m);
      bytes.add(static_cast<uint64_t>(m));
    }
    if (sent < static_cast<size_t>(n)) {
      // Back-pressure: `to` is full. Keep the rest and stop reading `from` until it drains.
      d.pending.assign(scratch_.begin() + static_cast<std::ptrdiff_t>(sent), scratch_.begin() + n);
      d.pending_sent = 0;
      listeners_[s.listener].metrics.backpressure_pauses.add();
    }
  }
  if (d.eof && !d.has_pending() && !d.shut) {
    // Half-close carried over: everything before the FIN was handed on, now the FIN.
    if (fg_shutdown(stack_, to, SHUT_WR) < 0) return false;
    d.shut = true;
  }
  return true;
}

void ProxyService::update_interest(Session& s) {
  const uint32_t client_wanted =
      (!s.up.eof && !s.up.has_pending() ? EPOLLIN : 0u) | (s.down.has_pending() ? EPOLLOUT : 0u);
  const uint32_t backend_wanted =
      (!s.down.eof && !s.down.has_pending() ? EPOLLIN : 0u) | (s.up.has_pending() ? EPOLLOUT : 0u);
  // A side finished both ways (its FIN read, ours sent) while the other still drains leaves
  // the epoll set: EPOLLHUP is reported whatever the interest (as on Linux), so it would
  // otherwise wake every round for nothing until the other side is done.
  const bool client_done = s.up.eof && s.down.shut;
  const bool backend_done = s.down.eof && s.up.shut;
  watch(s.client_fd, s.client_events,
        client_done && client_wanted == 0 ? kOutOfEpollSet : client_wanted);
  watch(s.backend_fd, s.backend_events,
        backend_done && backend_wanted == 0 ? kOutOfEpollSet : backend_wanted);
}

void ProxyService::watch(int fd, uint32_t& current, uint32_t wanted) {
  if (current == wanted) return;
  if (wanted == kOutOfEpollSet) {
    if (fg_epoll_ctl(stack_, epoll_fd_, EPOLL_CTL_DEL, fd, nullptr) == 0) current = wanted;
    return;
  }
  epoll_event ev{};
  ev.events = wanted;
  ev.data.fd = fd;
  const int op = current == kOutOfEpollSet ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (fg_epoll_ctl(stack_, epoll_fd_, op, fd, &ev) == 0) current = wanted;
}

void ProxyService::abort_socket(int fd) {
  if (fd < 0) return;
  // SO_LINGER 0: fg_close sends a reset instead of a FIN, as Linux does.
  const linger abort{1, 0};
  fg_setsockopt(stack_, fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  fg_close(stack_, fd);
}

void ProxyService::end_session(Session& s, End how) {
  const ProxyListenerMetrics& m = listeners_[s.listener].metrics;
  switch (how) {
    case End::completed:
      m.completed.add();
      break;
    case End::reset:
      m.resets.add();
      break;
    case End::no_backend:
      m.no_backend.add();
      break;
    case End::idle:
      m.idle_timeouts.add();
      break;
  }
  m.active.add(-1);
  if (how == End::completed) {
    fg_close(stack_, s.client_fd);
    if (s.backend_fd >= 0) fg_close(stack_, s.backend_fd);
  } else {
    abort_socket(s.client_fd);
    abort_socket(s.backend_fd);
  }
  fds_.erase(s.client_fd);
  release_backend(s);
  timers_.erase({s.timer_due, s.id});
  sessions_.erase(s.id);  // last: `s` is gone after this
}

void ProxyService::arm_timer(Session& s, Instant due) {
  timers_.erase({s.timer_due, s.id});
  s.timer_due = due;
  timers_.insert({due, s.id});
}

void ProxyService::fire_timers(Instant now) {
  while (!timers_.empty() && timers_.begin()->first <= now) {
    const uint64_t id = timers_.begin()->second;
    const auto it = sessions_.find(id);
    if (it == sessions_.end()) {
      timers_.erase(timers_.begin());
      continue;
    }
    Session& s = it->second;
    if (s.phase == Phase::connecting) {
      connect_failed(s, true);  // the connect deadline is the only timer while connecting
      continue;
    }
    const Instant idle_due = s.last_activity + listeners_[s.listener].settings.idle_timeout;
    if (now >= idle_due) {
      end_session(s, End::idle);
    } else {
      arm_timer(s, idle_due);
    }
  }
}

void ProxyService::run_checks(Instant now) {
  for (const auto& pool : pools_) {
    for (const auto& b : pool->backends()) {
      if (!b->schedule) continue;
      if (b->schedule->timed_out(now)) finish_check(*b, false, now);
      if (b->schedule->due(now)) start_check(*b, b, now);
    }
  }
}

void ProxyService::start_check(Backend& b, const std::shared_ptr<Backend>& keep, Instant now) {
  b.schedule->start(now);
  b.metrics.checks.add();
  const int fd = fg_socket(stack_, AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    finish_check(b, false, now);
    return;
  }
  const sockaddr_in remote = endpoint(b.address, b.port);
  if (fg_connect(stack_, fd, reinterpret_cast<const sockaddr*>(&remote), sizeof remote) < 0 &&
      errno != EINPROGRESS) {
    fg_close(stack_, fd);
    finish_check(b, false, now);
    return;
  }
  b.check_fd = fd;
  fds_[fd] = FdOwner{Side::check, 0, keep};
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.fd = fd;
  fg_epoll_ctl(stack_, epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
}

void ProxyService::close_check(Backend& b) {
  if (b.check_fd < 0) return;
  const int fd = b.check_fd;
  b.check_fd = -1;
  abort_socket(fd);
  fds_.erase(fd);  // may drop the last reference to b: nothing of b is used after this
}

void ProxyService::finish_check(Backend& b, bool success, Instant now) {
  (void)now;
  // close_check() may drop the last reference to b (a backend a reload removed): hold one.
  std::shared_ptr<Backend> keep;
  if (const auto it = fds_.find(b.check_fd); it != fds_.end()) keep = it->second.check;
  close_check(b);
  if (b.schedule) b.schedule->finish();
  if (!success) b.metrics.checks_failed.add();
  if (!b.health || !b.health->record(success)) return;
  b.metrics.up.set(b.health->up() ? 1 : 0);
  if (b.health->up()) {
    log_line("flowgate proxy: backend %s is up%s\n", b.name, "");
  } else {
    b.metrics.marked_down.add();
    log_line("flowgate proxy: backend %s is down%s\n", b.name, "");
  }
}

}  // namespace flowgate::proxy
