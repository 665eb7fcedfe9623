// `flowgate worker`: one worker process, started by the supervisor. It attaches to its slot
// of the segment, builds its stack and applications from the configuration stored there,
// drops every privilege, and runs until SIGTERM has drained it.
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <system_error>
#include <variant>
#include <vector>

#include "apps/commands.hpp"
#include "apps/config.hpp"
#include "apps/discard.hpp"
#include "apps/echo.hpp"
#include "apps/http/http_service.hpp"
#include "apps/http/listener_options.hpp"
#include "apps/proxy/proxy_service.hpp"
#include "apps/tcp_service.hpp"
#include "monitoring/connection_snapshot.hpp"
#include "monitoring/metrics_catalog.hpp"
#include "shm/segment.hpp"
#include "stack/clock.hpp"
#include "stack/stack.hpp"
#include "worker/worker.hpp"

namespace flowgate {
namespace {

// The applications of every listener, on this worker's stack. Every worker serves every
// listener: the dispatcher spreads connections over them by flow hash.
class ListenerApps final : public WorkerApps {
 public:
  // Each service registers its metrics with `metrics` (this worker's app metrics area).
  ListenerApps(Stack& stack, const GatewayConfig& config, metrics::AppMetricsWriter& metrics) {
    for (const ListenerConfig& l : config.listeners) {
      const bool tcp = l.protocol == ListenerProtocol::tcp;
      switch (l.app) {
        case AppKind::echo:
          if (tcp) {
            services_.push_back(std::make_unique<TcpService>(stack, l.port, TcpService::Kind::echo,
                                                             metrics, l.name));
          } else {
            services_.push_back(std::make_unique<UdpEcho>(stack, l.port, metrics, l.name));
          }
          break;
        case AppKind::discard:
          if (tcp) {
            services_.push_back(std::make_unique<TcpService>(
                stack, l.port, TcpService::Kind::discard, metrics, l.name));
          } else {
            services_.push_back(std::make_unique<UdpDiscard>(stack, l.port, metrics, l.name));
          }
          break;
        case AppKind::chargen:
          services_.push_back(std::make_unique<TcpService>(stack, l.port, TcpService::Kind::chargen,
                                                           metrics, l.name, l.chargen.bytes));
          break;
        case AppKind::proxy:
          break;  // one ProxyService serves every proxy listener, below
        case AppKind::http:
          services_.push_back(
              std::make_unique<http::HttpService>(stack, http::options_for_listener(l), metrics));
          break;
      }
    }
    const bool any_proxy =
        std::any_of(config.listeners.begin(), config.listeners.end(),
                    [](const ListenerConfig& l) { return l.app == AppKind::proxy; });
    if (any_proxy) {
      auto proxy = std::make_unique<proxy::ProxyService>(stack, config, config.workers, metrics);
      proxy_ = proxy.get();
      services_.push_back(std::move(proxy));
    }
  }
  // Only `pools` changes live (the supervisor refuses anything else): the proxy swaps its
  // pool definitions; connections in progress keep their backends.
  void reload(const std::string& config_text) override {
    ConfigResult parsed = parse_config(config_text, "(reloaded configuration)");
    if (const auto* errors = std::get_if<std::vector<ConfigError>>(&parsed)) {
      std::fprintf(stderr, "flowgate worker: the reloaded configuration does not parse (%s)\n",
                   errors->empty() ? "?" : errors->front().to_string().c_str());
      return;
    }
    if (proxy_ != nullptr) proxy_->reload(std::get<GatewayConfig>(parsed).pools);
  }
  void run() override {
    for (auto& s : services_) s->run();
  }
  void stop_accepting() override {
    for (auto& s : services_) s->stop_accepting();
  }
  bool idle() const override {
    for (const auto& s : services_) {
      if (!s->idle()) return false;
    }
    return true;
  }
  std::optional<Instant> next_deadline() const override {
    std::optional<Instant> soonest;
    for (const auto& s : services_) {
      if (const auto d = s->next_deadline()) soonest = soonest ? std::min(*soonest, *d) : *d;
    }
    return soonest;
  }

 private:
  std::vector<std::unique_ptr<Service>> services_;
  proxy::ProxyService* proxy_ = nullptr;  // in services_, when a listener runs the proxy
};

// Drops to `uid`/`gid` with no capabilities at all (effective, permitted, inheritable,
// ambient and bounding), and forbids regaining any (no_new_privs). Workers parse untrusted
// frames; if one is subverted, it holds nothing but its own shared-memory mapping.
// Returns an error message, empty on success.
std::string drop_privileges(uint32_t uid, uint32_t gid) {
  // The bounding set first: dropping from it needs CAP_SETPCAP, which we still have.
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
      return std::string("prctl(PR_CAPBSET_DROP): ") + std::strerror(errno);
    }
  }
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (::setgroups(0, nullptr) < 0) return std::string("setgroups: ") + std::strerror(errno);
  if (::setresgid(gid, gid, gid) < 0) return std::string("setresgid: ") + std::strerror(errno);
  // With every uid non-zero and no SECBIT_KEEP_CAPS, the kernel clears the permitted and
  // effective sets here (capabilities(7), "Effect of user ID changes on capabilities").
  if (::setresuid(uid, uid, uid) < 0) return std::string("setresuid: ") + std::strerror(errno);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    return std::string("prctl(PR_SET_NO_NEW_PRIVS): ") + std::strerror(errno);
  }
  // Trust, but verify.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) < 0) {
    return std::string("capget: ") + std::strerror(errno);
  }
  for (const auto& d : data) {
    if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0) {
      return "capabilities are still set after dropping to uid " + std::to_string(uid);
    }
  }
  return {};
}

uint16_t random_ip_id() {
  uint16_t id = 1;
  if (::getrandom(&id, sizeof id, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof id)) {
    id = static_cast<uint16_t>(::getpid());
  }
  return id;
}

}  // namespace

int run_worker_command(const ChildOptions& options) {
  char who[48];
  std::snprintf(who, sizeof who, "flowgate worker %u", options.index);
  // Named for ps and top instead of the "exe" that exec of /proc/self/exe leaves (the
  // kernel keeps 15 characters: "flowgate-wk63" fits).
  char process_name[16];
  std::snprintf(process_name, sizeof process_name, "flowgate-wk%u", options.index);
  ::prctl(PR_SET_NAME, process_name, 0, 0, 0);
  auto fail = [&](const std::string& message) {
    std::fprintf(stderr, "%s: %s\n", who, message.c_str());
    return 1;
  };

  // SIGTERM starts a drain: read from a descriptor in the loop's poll set. SIGUSR1 is a
  // tool's request (`flowgate ss`) and only wakes the loop; blocked from here on, so that
  // its default action (terminate) never applies once our pid is published.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGUSR1);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  const int signal_fd = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd < 0) return fail(std::string("signalfd: ") + std::strerror(errno));

  std::unique_ptr<shm::Segment> segment;
  try {
    segment = shm::Segment::open(options.instance, metrics_signature());
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  if (options.index >= segment->worker_count()) {
    return fail("worker index " + std::to_string(options.index) + " is not in the segment");
  }
  ConfigResult parsed = parse_config(segment->config_text(), "(configuration in the segment)");
  if (std::holds_alternative<std::vector<ConfigError>>(parsed)) {
    return fail("the configuration in the segment does not parse (mixed versions?)");
  }
  const GatewayConfig config = std::get<GatewayConfig>(std::move(parsed));

  StackConfig stack_config = stack_config_for(config, options.interface_mac, options.mtu);
  stack_config.first_ip_id = random_ip_id();
  stack_config.steering.worker_index = options.index;
  stack_config.steering.worker_count = segment->worker_count();
  stack_config.steering.seed = segment->header().flow_seed;
  // Every worker sees every ARP frame; one answer and one announcement are enough.
  stack_config.arp.answer_requests = options.index == 0;
  stack_config.arp.gratuitous_on_start = options.index == 0;

  MonotonicClock clock;
  WorkerDataPlane plane(*segment, options.index, options.io_wake_fd);
  Stack stack(stack_config, clock, plane, &plane.metrics().stack);
  // The applications' labelled metrics: this process takes the area over (app_metrics.hpp).
  metrics::AppMetricsWriter app_metrics(app_metrics_area(*segment, options.index));
  std::unique_ptr<ListenerApps> apps;
  try {
    apps = std::make_unique<ListenerApps>(stack, config, app_metrics);
  } catch (const std::system_error& e) {
    return fail(e.what());
  }

  if (const std::string err = drop_privileges(options.uid, options.gid); !err.empty()) {
    return fail("cannot drop privileges: " + err);
  }
  // Credential changes clear the parent-death signal: set it again, and make sure the
  // supervisor did not die in between.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) return fail("the supervisor is gone");

  plane.announce_running();
  if (!plane.wait_for_transmit_frames(options.wake_fd, 1000)) {
    std::fprintf(stderr, "%s: warning: no transmit frames from the I/O process after 1 s\n", who);
  }
  stack.start();
  WorkerLoopOptions loop;
  loop.wake_fd = options.wake_fd;
  loop.signal_fd = signal_fd;
  loop.drain_timeout = config.drain_timeout;
  // `flowgate ss` asks for the connection table through the worker's snapshot area.
  ConnectionSnapshotArea snapshot = ConnectionSnapshotArea::of_worker(*segment, options.index);
  const int32_t pid = ::getpid();
  loop.answer_tools = [&snapshot, pid](Stack& s) {
    if (!snapshot.requested()) return false;
    snapshot.answer(s.tcp(), s.clock().now(), pid);
    return true;
  };
  return run_worker_loop(plane, stack, *apps, clock, loop);
}

}  // namespace flowgate
