// `flowgate run`: the supervisor (DESIGN.md, "Processes").
//
//   flowgate run --config flowgate.yaml
//     ├── flowgate io        owns the NIC queues and the UMEM's free list
//     ├── flowgate worker 0  stack + applications, unprivileged after start-up
//     └── ...
//
// The children are the same binary, started with fork + exec (never a bare fork: the
// supervisor runs the management endpoint's threads (/metrics, /healthz, /readyz:
// monitoring/management_server.hpp), and a forked copy of a threaded process may only call
// async-signal-safe functions until it execs). They find everything in the segment, the
// configuration text included, so a worker restarted after a SIGHUP that was refused runs
// exactly what its siblings run. The eventfds that wake them are inherited.
//
// Children stay in the supervisor's process group (a SIGKILL of the group takes them all,
// which is what an operator expects), ignore SIGINT and SIGHUP (Ctrl-C and a terminal's
// hangup reach the whole foreground group; only the supervisor decides the order of a
// shutdown, and what a reload means), and die with the supervisor
// (PR_SET_PDEATHSIG: the I/O process gets SIGTERM so it still detaches the XDP program).
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "apps/commands.hpp"
#include "apps/config.hpp"
#include "apps/http/listener_options.hpp"
#include "monitoring/management_server.hpp"
#include "monitoring/metrics_catalog.hpp"
#include "rx_tx/interface_info.hpp"
#include "rx_tx/xdp/xdp_program.hpp"
#include "shm/frame_ownership.hpp"
#include "shm/segment.hpp"
#include "shm/wakeup.hpp"
#include "stack/clock.hpp"

namespace flowgate {
namespace {

constexpr const char* kWho = "flowgate";
// How long the I/O process may take to attach before the start is abandoned.
constexpr auto kIoStartTimeout = std::chrono::seconds(15);
// After SIGTERM, how long the I/O process may take to detach before it is killed.
constexpr auto kIoStopTimeout = std::chrono::seconds(5);
// A worker that dies sooner than this after starting is restarted only after a pause, so a
// worker that cannot start does not spin the machine.
constexpr auto kCrashLoopWindow = std::chrono::seconds(2);
constexpr auto kCrashLoopPause = std::chrono::seconds(1);
// Top-level keys whose change a SIGHUP applies to the running gateway. Everything else
// shapes processes, rings or sockets that exist already: changing it needs a restart.
// `pools`: the proxy swaps its backend pools and keeps the connections in progress.
const std::set<std::string> kLiveKeys = {"pools"};

void log(const char* format, ...) __attribute__((format(printf, 1, 2)));
void log(const char* format, ...) {
  std::fprintf(stderr, "%s: ", kWho);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return std::string("was killed by ") + strsignal(WTERMSIG(status)) +
           (WCOREDUMP(status) ? " (core dumped)" : "");
  }
  return "stopped";
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

uint32_t rx_queue_count(const std::string& interface) {
  uint32_t n = 0;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/sys/class/net/" + interface + "/queues", ec)) {
    if (entry.path().filename().string().rfind("rx-", 0) == 0) ++n;
  }
  return std::max<uint32_t>(n, 1);
}

int make_eventfd() {
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  return fd;
}

// The top-level keys whose values differ between two configuration texts.
std::vector<std::string> changed_keys(const std::string& before, const std::string& after) {
  std::vector<std::string> changed;
  const YAML::Node a = YAML::Load(before);
  const YAML::Node b = YAML::Load(after);
  std::vector<std::string> keys;
  for (const YAML::Node* n : {&a, &b}) {
    if (!n->IsMap()) continue;
    for (const auto& kv : *n) keys.push_back(kv.first.as<std::string>());
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  for (const std::string& k : keys) {
    const YAML::Node va = a[k];
    const YAML::Node vb = b[k];
    const std::string da = va ? YAML::Dump(va) : "";
    const std::string db = vb ? YAML::Dump(vb) : "";
    if (da != db) changed.push_back(k);
  }
  return changed;
}

class Supervisor {
 public:
  Supervisor(std::string config_path, GatewayConfig config, std::string config_text)
      : config_path_(std::move(config_path)),
        config_(std::move(config)),
        config_text_(std::move(config_text)),
        workers_(config_.workers) {}
  int run();

 private:
  // The watchdog's view of one process: the heartbeat last seen from it, and since when it
  // has not moved; whether the idle process was woken to prove it still turns.
  struct Watch {
    pid_t pid = 0;
    uint64_t heartbeat = 0;
    Instant since{};
    bool woken = false;
  };
  enum class WatchVerdict { alive, wake, hung };
  WatchVerdict watch(Watch& w, pid_t pid, bool running, uint64_t heartbeat, Instant now) const;

  struct WorkerSlot {
    pid_t pid = 0;
    bool restart_pending = false;
    Instant started{};
    Instant restart_not_before{};
    uint32_t restarts = 0;
    Watch watch;
  };

  bool prepare();
  pid_t spawn(const std::vector<std::string>& args, const std::vector<int>& keep_fds,
              int death_signal);
  bool start_io();
  void start_worker(uint32_t k);
  void on_child_exit();
  void restart_due_workers();
  void watch_processes();
  void reload();
  int shutdown(int status);
  bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout, int* status);

  std::string config_path_;
  GatewayConfig config_;
  std::string config_text_;
  InterfaceInfo interface_;
  uint32_t worker_uid_ = 0;
  uint32_t worker_gid_ = 0;
  std::unique_ptr<shm::Segment> segment_;
  // After segment_: destroyed first, so no scrape reads a segment that is gone.
  std::unique_ptr<exporter::ManagementServer> management_;
  MonotonicClock clock_;

  int signal_fd_ = -1;
  int io_wake_fd_ = -1;
  int supervisor_wake_fd_ = -1;
  std::vector<int> worker_wake_fds_;
  sigset_t blocked_{};
  sigset_t old_mask_{};

  pid_t io_pid_ = 0;
  std::vector<WorkerSlot> workers_;
  bool stopping_ = false;
  bool io_failed_ = false;
  Watch io_watch_;
};

bool Supervisor::prepare() {
  if (::geteuid() != 0) {
    log("needs root: the I/O process attaches an XDP program and opens AF_XDP or AF_PACKET "
        "sockets (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF)");
    return false;
  }
  try {
    interface_ = query_interface(config_.interface);
  } catch (const std::exception& e) {
    log("%s:%d: interface: %s", config_.source.c_str(), config_.line_of("interface"), e.what());
    return false;
  }
  InterfaceFacts facts;
  facts.mtu = static_cast<uint16_t>(std::min<uint32_t>(interface_.mtu, 65535));
  facts.rx_queues = rx_queue_count(config_.interface);
  std::vector<ConfigError> errors = check_against_interface(config_, facts);
  // What the workers will open: a root that cannot be opened would make every worker exit
  // at start and be restarted for ever.
  for (ConfigError& e : http::check_http_roots(config_)) errors.push_back(std::move(e));
  for (const ConfigError& e : errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!errors.empty()) return false;
  if (!interface_.up) {
    log("warning: %s is down; nothing is received until it is up (ip link set %s up)",
        interface_.name.c_str(), interface_.name.c_str());
  }

  const passwd* user = ::getpwnam(config_.worker_user.c_str());
  if (user == nullptr) {
    log("%s:%d: worker_user: no user '%s' on this host (the workers drop to it)",
        config_.source.c_str(), config_.line_of("worker_user"), config_.worker_user.c_str());
    return false;
  }
  if (user->pw_uid == 0) {
    log("%s:%d: worker_user: '%s' is root; workers parse untrusted input and must not be",
        config_.source.c_str(), config_.line_of("worker_user"), config_.worker_user.c_str());
    return false;
  }
  worker_uid_ = user->pw_uid;
  worker_gid_ = user->pw_gid;

  // A segment left by a run that died (SIGKILL, power cut) is stale; one whose supervisor
  // still runs belongs to a live gateway, and starting a second one on it would corrupt it.
  if (const int owner = shm::Segment::find_live_owner(config_.instance); owner != 0) {
    log("instance '%s' is already running (supervisor pid %d); stop it first or give this "
        "one another `instance:`",
        config_.instance.c_str(), owner);
    return false;
  }
  if (shm::Segment::remove(config_.instance)) {
    log("removed the stale segment of instance '%s' left by an earlier run",
        config_.instance.c_str());
  }

  shm::SegmentParams params;
  params.worker_count = config_.workers;
  params.frame_count = config_.umem_frames;
  params.frame_size = config_.frame_size;
  params.ring_size = config_.ring_size;
  uint32_t seed = 0;
  if (::getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) {
    seed = static_cast<uint32_t>(::getpid()) * 2654435761u;
  }
  try {
    segment_ =
        shm::Segment::create(config_.instance, params, config_text_, seed, metrics_signature());
  } catch (const std::exception& e) {
    log("%s", e.what());
    return false;
  }

  sigemptyset(&blocked_);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&blocked_, s);
  sigprocmask(SIG_BLOCK, &blocked_, &old_mask_);
  signal_fd_ = ::signalfd(-1, &blocked_, SFD_NONBLOCK | SFD_CLOEXEC);
  io_wake_fd_ = make_eventfd();
  supervisor_wake_fd_ = make_eventfd();
  for (uint32_t k = 0; k < config_.workers; ++k) worker_wake_fds_.push_back(make_eventfd());
  // Only now, with the signals blocked: the endpoint's threads inherit this thread's mask,
  // so SIGCHLD and the others still reach the signalfd and nothing else. Before the I/O
  // process: a port that is taken refuses the start before anything is attached.
  if (config_.management) {
    try {
      management_ = std::make_unique<exporter::ManagementServer>(
          *segment_, config_.management->address.to_string(), config_.management->port);
    } catch (const exporter::ManagementError& e) {
      const int line = config_.line_of("management.address") != 0
                           ? config_.line_of("management.address")
                           : config_.line_of("management");
      std::fprintf(
          stderr, "%s\n",
          ConfigError{config_.source, line, "management.address", e.what()}.to_string().c_str());
      return false;
    }
  }
  return signal_fd_ >= 0;
}

// fork + exec of this binary. Only async-signal-safe calls between fork and exec.
pid_t Supervisor::spawn(const std::vector<std::string>& args, const std::vector<int>& keep_fds,
                        int death_signal) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    log("fork: %s", std::strerror(errno));
    return -1;
  }
  if (pid > 0) return pid;
  // Child.
  ::prctl(PR_SET_PDEATHSIG, death_signal);
  if (::getppid() != parent) _exit(1);  // the supervisor died before the line above
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGINT, &ignore, nullptr);
  ::sigaction(SIGHUP, &ignore, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  // SIGPIPE: civetweb (the management endpoint) ignores it in the whole supervisor, and an
  // ignored signal would stay ignored across exec.
  for (int s : {SIGTERM, SIGCHLD, SIGPIPE}) ::sigaction(s, &dfl, nullptr);
  ::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
  for (int fd : keep_fds) {
    const int flags = ::fcntl(fd, F_GETFD);
    ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  ::execv("/proc/self/exe", argv.data());
  _exit(127);
}

bool Supervisor::start_io() {
  std::string wakes;
  for (int fd : worker_wake_fds_) wakes += (wakes.empty() ? "" : ",") + std::to_string(fd);
  const std::vector<std::string> args = {"flowgate",
                                         "io",
                                         "--instance",
                                         config_.instance,
                                         "--interface-mac",
                                         interface_.mac.to_string(),
                                         "--wake-fd",
                                         std::to_string(io_wake_fd_),
                                         "--supervisor-wake-fd",
                                         std::to_string(supervisor_wake_fd_),
                                         "--worker-wake-fds",
                                         wakes};
  std::vector<int> keep = worker_wake_fds_;
  keep.push_back(io_wake_fd_);
  keep.push_back(supervisor_wake_fd_);
  io_pid_ = spawn(args, keep, SIGTERM);
  if (io_pid_ < 0) return false;

  // Wait until it has attached (or failed): workers started before that would see their
  // first frames dropped, and an attach error is better reported before anything else.
  const Instant deadline = clock_.now() + kIoStartTimeout;
  while (segment_->io().state.load(std::memory_order_acquire) !=
         static_cast<uint32_t>(shm::IoState::running)) {
    int status = 0;
    if (::waitpid(io_pid_, &status, WNOHANG) == io_pid_) {
      log("the I/O process %s before it was ready (see its message above)",
          describe_exit(status).c_str());
      io_pid_ = 0;
      io_failed_ = true;
      return false;
    }
    if (clock_.now() >= deadline) {
      log("the I/O process did not become ready within %lld s",
          static_cast<long long>(kIoStartTimeout.count()));
      return false;
    }
    pollfd p{supervisor_wake_fd_, POLLIN, 0};
    ::poll(&p, 1, 50);
    shm::drain_eventfd(supervisor_wake_fd_);
  }
  return true;
}

void Supervisor::start_worker(uint32_t k) {
  shm::WorkerControl& c = segment_->worker(k).control;
  c.generation.fetch_add(1, std::memory_order_relaxed);
  c.pid.store(0, std::memory_order_relaxed);
  c.state.store(static_cast<uint32_t>(shm::WorkerState::starting), std::memory_order_release);
  const uint16_t mtu = static_cast<uint16_t>(std::min<uint32_t>(interface_.mtu, 65535));
  const std::vector<std::string> args = {"flowgate",        "worker",
                                         "--instance",      config_.instance,
                                         "--index",         std::to_string(k),
                                         "--interface-mac", interface_.mac.to_string(),
                                         "--mtu",           std::to_string(mtu),
                                         "--uid",           std::to_string(worker_uid_),
                                         "--gid",           std::to_string(worker_gid_),
                                         "--wake-fd",       std::to_string(worker_wake_fds_[k]),
                                         "--io-wake-fd",    std::to_string(io_wake_fd_)};
  WorkerSlot& w = workers_[k];
  w.pid = spawn(args, {worker_wake_fds_[k], io_wake_fd_}, SIGKILL);
  w.started = clock_.now();
  w.restart_pending = false;
  if (w.pid < 0) {
    w.pid = 0;
    c.state.store(static_cast<uint32_t>(shm::WorkerState::dead), std::memory_order_release);
    shm::signal_eventfd(io_wake_fd_);
    w.restart_pending = true;
    w.restart_not_before = clock_.now() + kCrashLoopPause;
  }
}

void Supervisor::on_child_exit() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == io_pid_) {
      io_pid_ = 0;
      if (!stopping_) {
        log("the I/O process %s; the gateway cannot run without it: stopping",
            describe_exit(status).c_str());
        io_failed_ = true;
      }
      continue;
    }
    for (uint32_t k = 0; k < workers_.size(); ++k) {
      WorkerSlot& w = workers_[k];
      if (w.pid != pid) continue;
      w.pid = 0;
      shm::WorkerControl& c = segment_->worker(k).control;
      c.state.store(static_cast<uint32_t>(shm::WorkerState::dead), std::memory_order_release);
      shm::signal_eventfd(io_wake_fd_);  // the I/O process reclaims its frames
      if (stopping_) break;
      const Instant now = clock_.now();
      const bool crash_loop = now - w.started < kCrashLoopWindow;
      log("worker %u (pid %d) %s; restarting it%s", k, pid, describe_exit(status).c_str(),
          crash_loop ? " in 1 s (it died right after starting)" : "");
      w.restart_pending = true;
      w.restart_not_before = crash_loop ? now + kCrashLoopPause : now;
      ++w.restarts;
      c.restarts.fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
}

void Supervisor::restart_due_workers() {
  const Instant now = clock_.now();
  for (uint32_t k = 0; k < workers_.size(); ++k) {
    WorkerSlot& w = workers_[k];
    if (!w.restart_pending || now < w.restart_not_before) continue;
    // Only once the I/O process has taken back every frame the old worker held and emptied
    // its rings: a new worker on half-drained rings would receive the dead one's frames.
    const auto state = static_cast<shm::WorkerState>(
        segment_->worker(k).control.state.load(std::memory_order_acquire));
    if (state != shm::WorkerState::reclaimed) continue;
    start_worker(k);
  }
}

// The watchdog (`watchdog_timeout`). A running worker or I/O process writes its heartbeat
// every round of its loop; an idle one sleeps and writes nothing, so halfway through the
// timeout it is woken (its eventfd) and must make one round. A process whose heartbeat still
// has not moved at the timeout is hung (a loop that never returns) or stopped (SIGSTOP, a
// debugger): it serves nothing while its slot looks healthy, so it is killed. A worker is
// then restarted like any dead one; the I/O process cannot be replaced under running workers
// (it owns the sockets and the frames), so its death stops the gateway, for the service
// manager to restart it whole.
Supervisor::WatchVerdict Supervisor::watch(Watch& w, pid_t pid, bool running, uint64_t heartbeat,
                                           Instant now) const {
  if (pid <= 0 || !running || w.pid != pid || heartbeat != w.heartbeat) {
    // Starting, dead, new, or alive: the silence is counted from here.
    w.pid = pid;
    w.heartbeat = heartbeat;
    w.since = now;
    w.woken = false;
    return WatchVerdict::alive;
  }
  const Duration silent = now - w.since;
  if (silent >= config_.watchdog_timeout) {
    w.since = now;  // one kill; its exit arrives as SIGCHLD
    return WatchVerdict::hung;
  }
  if (silent >= config_.watchdog_timeout / 2 && !w.woken) {
    w.woken = true;
    return WatchVerdict::wake;
  }
  return WatchVerdict::alive;
}

void Supervisor::watch_processes() {
  if (config_.watchdog_timeout == Duration::zero() || stopping_) return;
  const Instant now = clock_.now();
  const auto silent_for = [&](Instant since) {
    return config_rules::format_duration(
        std::chrono::duration_cast<std::chrono::milliseconds>(now - since));
  };
  const shm::IoBlock& io = segment_->io();
  const bool io_running =
      static_cast<shm::IoState>(io.state.load(std::memory_order_acquire)) == shm::IoState::running;
  const Instant io_since = io_watch_.since;  // watch() restarts it on a kill
  switch (
      watch(io_watch_, io_pid_, io_running, io.heartbeat_ns.load(std::memory_order_relaxed), now)) {
    case WatchVerdict::hung:
      log("the I/O process (pid %d) made no progress for %s (hung or stopped): killing it", io_pid_,
          silent_for(io_since).c_str());
      ::kill(io_pid_, SIGKILL);
      break;
    case WatchVerdict::wake:
      shm::signal_eventfd(io_wake_fd_);
      break;
    case WatchVerdict::alive:
      break;
  }
  for (uint32_t k = 0; k < workers_.size(); ++k) {
    WorkerSlot& w = workers_[k];
    const shm::WorkerControl& c = segment_->worker(k).control;
    const bool running = static_cast<shm::WorkerState>(c.state.load(std::memory_order_acquire)) ==
                         shm::WorkerState::running;
    const Instant since = w.watch.since;
    switch (watch(w.watch, w.pid, running, c.heartbeat_ns.load(std::memory_order_relaxed), now)) {
      case WatchVerdict::hung:
        log("worker %u (pid %d) made no progress for %s (hung or stopped): killing it; it is "
            "restarted like a crashed worker",
            k, w.pid, silent_for(since).c_str());
        ::kill(w.pid, SIGKILL);
        break;
      case WatchVerdict::wake:
        shm::signal_eventfd(worker_wake_fds_[k]);
        break;
      case WatchVerdict::alive:
        break;
    }
  }
}

// SIGHUP. A valid file whose changes are all in kLiveKeys is published to the segment and
// the workers apply it; any other change is refused, naming the keys, and nothing changes.
void Supervisor::reload() {
  const std::optional<std::string> text = read_file(config_path_);
  if (!text) {
    log("SIGHUP: cannot read %s: %s; keeping the running configuration", config_path_.c_str(),
        std::strerror(errno));
    return;
  }
  const ConfigResult result = parse_config(*text, config_path_);
  if (const auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
    for (const ConfigError& e : *errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    log("SIGHUP: %s has errors (above); keeping the running configuration", config_path_.c_str());
    return;
  }
  const std::vector<std::string> changed = changed_keys(config_text_, *text);
  if (changed.empty()) {
    log("SIGHUP: %s is unchanged; nothing to do", config_path_.c_str());
    return;
  }
  std::string fixed, live;
  for (const std::string& k : changed) {
    std::string& list = kLiveKeys.count(k) != 0 ? live : fixed;
    list += (list.empty() ? "" : ", ") + k;
  }
  if (!fixed.empty()) {
    log("SIGHUP: refused: %s cannot change while the gateway runs (restart flowgate to apply "
        "it); keeping the running configuration",
        fixed.c_str());
    return;
  }
  try {
    segment_->publish_config(*text);
  } catch (const std::exception& e) {
    log("SIGHUP: refused: %s; keeping the running configuration", e.what());
    return;
  }
  config_text_ = *text;
  config_ = std::get<GatewayConfig>(result);
  // Workers notice the new generation at their next round; wake the sleeping ones.
  for (int fd : worker_wake_fds_) shm::signal_eventfd(fd);
  log("SIGHUP: applied the new %s", live.c_str());
}

bool Supervisor::wait_for_exit(pid_t pid, std::chrono::milliseconds timeout, int* status) {
  const Instant deadline = clock_.now() + timeout;
  for (;;) {
    if (::waitpid(pid, status, WNOHANG) == pid) return true;
    if (clock_.now() >= deadline) return false;
    ::usleep(10'000);
  }
}

int Supervisor::shutdown(int status) {
  stopping_ = true;
  // /readyz says so from now on, so a load balancer stops sending new clients.
  if (management_) management_->begin_draining();
  // Workers first: they stop accepting and give their connections drain_timeout to end.
  for (WorkerSlot& w : workers_) {
    if (w.pid > 0) ::kill(w.pid, SIGTERM);
  }
  // They drain at the same time: one deadline for all, with a little time to exit after.
  const Instant drained = clock_.now() + config_.drain_timeout + std::chrono::seconds(2);
  for (uint32_t k = 0; k < workers_.size(); ++k) {
    WorkerSlot& w = workers_[k];
    if (w.pid <= 0) continue;
    int ws = 0;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::max(drained - clock_.now(), Duration::zero()));
    if (!wait_for_exit(w.pid, left, &ws)) {
      log("worker %u did not finish draining in time; killing it", k);
      ::kill(w.pid, SIGKILL);
      ::waitpid(w.pid, &ws, 0);
    }
    w.pid = 0;
    segment_->worker(k).control.state.store(static_cast<uint32_t>(shm::WorkerState::dead),
                                            std::memory_order_release);
  }
  if (io_pid_ > 0) {
    ::kill(io_pid_, SIGTERM);
    int is = 0;
    if (!wait_for_exit(io_pid_, kIoStopTimeout, &is)) {
      log("the I/O process did not stop in time; killing it");
      ::kill(io_pid_, SIGKILL);
      ::waitpid(io_pid_, &is, 0);
    }
    io_pid_ = 0;
  }
  // The I/O process detaches the program when it stops; if it was killed, or died, the
  // program is still attached and would swallow our address's traffic.
  if (config_.backend == LinkBackend::xdp) {
    try {
      if (XdpProgram::detach_stale(config_.interface)) {
        log("detached the XDP program the I/O process left on %s", config_.interface.c_str());
      }
    } catch (const std::exception& e) {
      log("cannot check %s for a leftover XDP program: %s", config_.interface.c_str(), e.what());
    }
  }
  // /metrics and /healthz answered until here (the last scrape shows the drain); the server
  // joins its threads before the segment they read is unmapped.
  management_.reset();
  segment_.reset();
  shm::Segment::remove(config_.instance);
  return status;
}

int Supervisor::run() {
  if (!prepare()) {
    if (segment_) shm::Segment::remove(config_.instance);
    return 1;
  }
  if (!start_io()) return shutdown(1);
  for (uint32_t k = 0; k < config_.workers; ++k) start_worker(k);
  const std::string endpoint = management_ ? "; metrics on http://" +
                                                 config_.management->address.to_string() + ":" +
                                                 std::to_string(management_->port()) + "/metrics"
                                           : "; management endpoint off";
  log("running instance '%s' on %s as %s: %u worker%s, %s%s; pid %d%s", config_.instance.c_str(),
      config_.interface.c_str(), config_.address.to_string().c_str(), config_.workers,
      config_.workers == 1 ? "" : "s",
      config_.backend == LinkBackend::af_packet
          ? "AF_PACKET"
          : (config_.xdp_mode == XdpMode::native ? "AF_XDP (native XDP)" : "AF_XDP (generic XDP)"),
      config_.fault_injection ? ", FAULT INJECTION ON (testing)" : "", ::getpid(),
      endpoint.c_str());

  for (;;) {
    if (io_failed_) return shutdown(1);
    // Wake for signals and the I/O process's "reclaimed" notes; poll faster only while a
    // restart waits out its pause.
    int timeout = -1;
    // The watchdog looks four times per timeout, so a hung worker is killed at most a
    // quarter of it late.
    if (config_.watchdog_timeout != Duration::zero()) {
      timeout = static_cast<int>(std::max<int64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(config_.watchdog_timeout / 4)
              .count(),
          1));
    }
    for (const WorkerSlot& w : workers_) {
      if (w.restart_pending) timeout = 50;
    }
    pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {supervisor_wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, timeout) < 0 && errno != EINTR) {
      log("poll: %s", std::strerror(errno));
      return shutdown(1);
    }
    if ((fds[1].revents & POLLIN) != 0) shm::drain_eventfd(supervisor_wake_fd_);
    if ((fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      while (::read(signal_fd_, &info, sizeof info) == sizeof info) {
        switch (info.ssi_signo) {
          case SIGCHLD:
            on_child_exit();
            break;
          case SIGHUP:
            reload();
            break;
          case SIGINT:
          case SIGTERM:
            log("%s: draining (up to %s), then stopping",
                strsignal(static_cast<int>(info.ssi_signo)),
                config_rules::format_duration(config_.drain_timeout).c_str());
            return shutdown(0);
          default:
            break;
        }
      }
    }
    restart_due_workers();
    watch_processes();
  }
}

}  // namespace

int run_supervisor(const std::string& config_path) {
  const std::optional<std::string> text = read_file(config_path);
  if (!text) {
    std::fprintf(stderr, "%s: %s: cannot read the configuration: %s\n", kWho, config_path.c_str(),
                 std::strerror(errno));
    return 2;
  }
  ConfigResult result = parse_config(*text, config_path);
  if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
    for (const ConfigError& e : *errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "%s: %s: %zu error%s; not started\n", kWho, config_path.c_str(),
                 errors->size(), errors->size() == 1 ? "" : "s");
    return 2;
  }
  Supervisor supervisor(config_path, std::get<GatewayConfig>(std::move(result)), *text);
  return supervisor.run();
}

}  // namespace flowgate
