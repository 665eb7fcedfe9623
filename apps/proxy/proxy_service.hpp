// The proxy application: the L4 gateway. Each proxy listener accepts TCP connections and
// relays each to a backend of its pool, both ways, until both sides have finished.
//
// Written only against the fg_* socket API and the stack's clock, like every app. One epoll
// set (level-triggered) holds the listeners, both sockets of every proxied connection and
// the health checks' sockets. Per connection:
//   connecting  the client is accepted at once (the stack completed its handshake); a backend
//               is chosen and fg_connect'ed (EINPROGRESS). Nothing is read from the client yet.
//               A refusal, a reset or connect_timeout counts a failure against that backend
//               (passive ejection) and the next attempt goes to another backend, up to
//               connect_attempts; when none is left the client is reset.
//   relaying    bytes move both ways through one scratch buffer. What the receiving side's
//               send buffer does not take is kept (at most one read's worth) and the sending
//               side is not read again until it has gone: back-pressure reaches the slow
//               side's peer as a closing TCP window instead of growing memory here.
//               A FIN read from one side becomes a FIN (shutdown SHUT_WR) to the other once
//               everything before it was handed over; the connection ends when both ways
//               are done. A reset or error on either side resets both; so does idle_timeout
//               with no byte read either way.
// Backend connections take their source port from the stack's per-worker port table
// (fg_connect on an unbound socket), so their replies are dispatched back to this worker.
//
// Health checks (pools with health_check): every interval a TCP connect to each backend;
// connected within the timeout is a success (the socket is then reset: no TIME-WAIT is left
// on our side), anything else a failure. See health.hpp for what each worker deciding on
// its own means.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "apps/config.hpp"
#include "apps/proxy/backend_pool.hpp"
#include "apps/proxy/proxy_protocol.hpp"
#include "apps/service.hpp"
#include "monitoring/app_metrics.hpp"

namespace flowgate {

class Stack;

namespace proxy {

// One proxy listener's series (label: listener) in the worker's app metrics table. The
// backends' own are in BackendMetrics.
struct ProxyListenerMetrics {
  ProxyListenerMetrics() = default;
  ProxyListenerMetrics(metrics::AppMetricsWriter& writer, const std::string& listener);

  metrics::Counter accepted;  // client connections accepted
  metrics::Gauge active;      // client connections being served
  metrics::Counter relayed;   // connections that reached a backend
  // How connections ended (proxy_connections_closed{reason}).
  metrics::Counter completed;      // FINs both ways
  metrics::Counter resets;         // a reset or error on either side
  metrics::Counter no_backend;     // clients reset: no backend left to try
  metrics::Counter idle_timeouts;  // reset after idle_timeout
  // Connect attempts (proxy_connect_failures{reason}).
  metrics::Counter connect_failures;  // refused, reset or failed at once
  metrics::Counter connect_timeouts;
  metrics::Counter retries;              // attempts after the first
  metrics::Counter bytes_to_backends;    // read from clients and relayed
  metrics::Counter bytes_to_clients;     // read from backends and relayed
  metrics::Counter backpressure_pauses;  // times a side stopped being read: the other was full
};

class ProxyService final : public Service {
 public:
  // Opens every proxy listener of `config` (throws std::system_error when one cannot listen)
  // and builds its pools. `worker_count` divides each backend's max_connections. Listeners
  // and backends register their metrics with `metrics`, which must outlive the service.
  ProxyService(Stack& stack, const GatewayConfig& config, uint32_t worker_count,
               metrics::AppMetricsWriter& metrics);
  ~ProxyService() override;
  ProxyService(const ProxyService&) = delete;
  ProxyService& operator=(const ProxyService&) = delete;

  // A SIGHUP's new pools: connections in progress keep their backend (even one removed);
  // new connections use the new definitions. Listeners do not change live.
  void reload(const std::vector<PoolConfig>& pools);

  void run() override;
  void stop_accepting() override;
  bool idle() const override { return sessions_.empty(); }
  std::optional<Instant> next_deadline() const override;

  // For tests (`flowgate stats` reads the same series from shared memory).
  const ProxyListenerMetrics& listener_metrics(const std::string& listener) const;
  uint64_t reloads() const { return reloads_.value(); }
  size_t sessions() const { return sessions_.size(); }
  const BackendPool* pool(const std::string& name) const;
  // Bytes held in the app's own buffers (what a side's send buffer did not take), summed
  // over every connection: bounded by one read per direction.
  size_t buffered_bytes() const;

 private:
  struct ListenerState {
    std::string name;
    uint16_t port = 0;
    int fd = -1;
    ProxySettings settings;
    ProxyListenerMetrics metrics;
  };
  // One direction of a proxied connection: bytes read from one side, for the other.
  struct Direction {
    std::vector<uint8_t> pending;  // read, not yet taken by the other side's send buffer
    size_t pending_sent = 0;
    bool eof = false;   // the FIN of the side we read from has been read
    bool shut = false;  // and passed on as our FIN to the other side
    bool has_pending() const { return pending_sent < pending.size(); }
  };
  enum class Phase : uint8_t { connecting, relaying };
  struct Session {
    uint64_t id = 0;
    size_t listener = 0;
    int client_fd = -1;
    int backend_fd = -1;
    Phase phase = Phase::connecting;
    std::shared_ptr<Backend> backend;
    std::vector<const Backend*> tried;
    std::vector<std::shared_ptr<Backend>> tried_keep;  // keeps `tried` valid across reloads
    uint32_t attempts = 0;
    Instant connect_deadline{};
    Instant last_activity{};
    Instant timer_due{};  // its entry in timers_ (one per session)
    ProxiedConnection addresses;
    Direction up;                // client -> backend
    Direction down;              // backend -> client
    uint32_t client_events = 0;  // what the epoll set watches now
    uint32_t backend_events = 0;
  };
  enum class Side : uint8_t { client, backend, check };
  struct FdOwner {
    Side side;
    uint64_t session = 0;            // client/backend
    std::shared_ptr<Backend> check;  // check: the backend it checks
  };

  void accept_all(size_t listener);
  void on_event(int fd, uint32_t events);
  void on_backend_connecting(Session& s, uint32_t events);
  // Starts the next connect attempt of `s`; false when the session was ended.
  bool try_connect(Session& s);
  void connect_failed(Session& s, bool timed_out);
  void connected(Session& s);
  // Moves what can move both ways; ends the session when done or on error. False if ended.
  bool pump(Session& s);
  // One direction from `from` to `to`; false on an error of either socket.
  bool transfer(Session& s, int from, int to, Direction& d, const metrics::Counter& bytes);
  bool flush(int to, Direction& d, const metrics::Counter& bytes);
  void update_interest(Session& s);
  void watch(int fd, uint32_t& current, uint32_t wanted);
  enum class End : uint8_t { completed, reset, no_backend, idle };
  void end_session(Session& s, End how);
  void arm_timer(Session& s, Instant due);
  void fire_timers(Instant now);
  void run_checks(Instant now);
  void start_check(Backend& b, const std::shared_ptr<Backend>& keep, Instant now);
  void finish_check(Backend& b, bool success, Instant now);
  void close_check(Backend& b);
  void release_backend(Session& s);
  // Registers the series of backends new in the pools, and sets every backend's up gauge.
  void register_backends();
  // A backend removed from its pool: its series go once its last connection has ended
  // (unless a reload has brought the same backend back meanwhile).
  void retire_if_gone(const std::string& pool, const Backend& b);
  BackendPool* find_pool(const std::string& name);
  void abort_socket(int fd);

  Stack& stack_;
  metrics::AppMetricsWriter& metrics_;
  uint32_t worker_count_;
  int epoll_fd_ = -1;
  std::vector<ListenerState> listeners_;
  std::vector<std::unique_ptr<BackendPool>> pools_;
  std::unordered_map<uint64_t, Session> sessions_;
  std::unordered_map<int, FdOwner> fds_;
  // Each session's next deadline (connect timeout, then idle timeout), soonest first. Moved
  // only when a phase changes or a deadline passes, never per byte: an idle deadline that
  // activity pushed back is found when the old one comes and is re-filed then.
  std::set<std::pair<Instant, uint64_t>> timers_;
  uint64_t next_session_id_ = 1;
  bool more_ready_ = false;  // the last run() left ready descriptors unserved
  std::vector<uint8_t> scratch_;
  metrics::Counter reloads_;
};

}  // namespace proxy
}  // namespace flowgate
