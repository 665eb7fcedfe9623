// `flowgate ss`: every TCP connection of a running gateway, like `ss -tni`. Connections live
// in each worker's own heap, so this asks each worker for a snapshot (a request word in its
// connection_snapshot area and a SIGUSR1) and prints what they publish; the protocol is in
// monitoring/connection_snapshot.hpp. A worker that is not running, or does not answer
// within kAnswerTimeout, is reported, never waited for longer.
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "apps/commands.hpp"
#include "monitoring/connection_snapshot.hpp"
#include "monitoring/metrics_catalog.hpp"
#include "shm/segment.hpp"

namespace flowgate {
namespace {

constexpr const char* kWho = "flowgate ss";
// A running worker answers within one round of its loop (microseconds when idle, a batch of
// frames when busy); two seconds means it is stuck, stopped or dying.
constexpr auto kAnswerTimeout = std::chrono::seconds(2);
constexpr auto kPollStep = std::chrono::milliseconds(1);

using SteadyClock = std::chrono::steady_clock;

struct WorkerQuery {
  uint32_t index = 0;
  uint32_t generation = 0;
  int32_t pid = 0;
  uint32_t ticket = 0;
  bool asked = false;
  std::optional<ConnectionSnapshot> snapshot;
  std::string problem;  // why there is no snapshot
  SteadyClock::time_point asked_at{};
  SteadyClock::time_point answered_at{};
};

shm::WorkerState state_of(const shm::WorkerControl& c) {
  return static_cast<shm::WorkerState>(c.state.load(std::memory_order_acquire));
}

std::string describe(const shm::WorkerControl& c) {
  return std::string("state ") + shm::to_string(state_of(c)) + ", restarts " +
         std::to_string(c.restarts.load(std::memory_order_relaxed));
}

// The process's parent, from /proc (0 if it is gone).
int32_t parent_of(int32_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("PPid:", 0) == 0) return static_cast<int32_t>(std::atoi(line.c_str() + 5));
  }
  return 0;
}

// SIGUSR1 to the worker's process, through a pidfd so that a worker which dies (and whose
// pid is reused) meanwhile cannot make us signal another process: the pidfd pins the
// process; after opening it we check that the slot still says running, and that the process
// is a child of the gateway's supervisor (workers run /proc/self/exe, so their name says
// nothing). Empty on success, else why not.
std::string signal_worker(const shm::Segment& segment, const shm::WorkerControl& c, int32_t pid,
                          uint32_t generation) {
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return std::string("pidfd_open: ") + std::strerror(errno);
  std::string problem;
  const int32_t supervisor = segment.header().supervisor_pid.load(std::memory_order_relaxed);
  if (state_of(c) != shm::WorkerState::running ||
      c.generation.load(std::memory_order_acquire) != generation || parent_of(pid) != supervisor) {
    problem = "it stopped before it could be asked";
  } else if (::syscall(SYS_pidfd_send_signal, static_cast<int>(fd), SIGUSR1, nullptr, 0) < 0) {
    problem = std::string("signal: ") + std::strerror(errno);
  }
  ::close(static_cast<int>(fd));
  return problem;
}

bool shown(const ConnectionRecord& r, const SsOptions& o) {
  if (o.all_states) return true;
  if (o.state) return r.state == *o.state;
  return r.tcp_state() != tcp::TcpState::listen;
}

std::string plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

int run_ss_command(const SsOptions& options) {
  std::unique_ptr<shm::Segment> segment;
  try {
    segment = shm::Segment::open(options.instance, metrics_signature());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 1;
  }
  if (options.worker && *options.worker >= segment->worker_count()) {
    std::fprintf(stderr, "%s: --worker %u: the gateway has workers 0 to %u\n", kWho,
                 *options.worker, segment->worker_count() - 1);
    return 1;
  }

  // Ask every worker first, then wait for all of them at once.
  std::vector<WorkerQuery> queries;
  for (uint32_t k = 0; k < segment->worker_count(); ++k) {
    if (options.worker && *options.worker != k) continue;
    WorkerQuery q;
    q.index = k;
    const shm::WorkerControl& c = segment->worker(k).control;
    // generation before state (acquire): a restart between the two shows as a changed
    // generation when we look again.
    q.generation = c.generation.load(std::memory_order_acquire);
    if (state_of(c) != shm::WorkerState::running) {
      q.problem = "not running (" + describe(c) + ")";
      queries.push_back(std::move(q));
      continue;
    }
    q.pid = c.pid.load(std::memory_order_relaxed);
    ConnectionSnapshotArea area = ConnectionSnapshotArea::of_worker(*segment, k);
    q.ticket = area.request();
    q.asked = true;
    q.asked_at = SteadyClock::now();
    if (std::string problem = signal_worker(*segment, c, q.pid, q.generation); !problem.empty()) {
      // Not fatal: the worker also checks the request word every round of its loop, so a
      // busy one answers anyway; an idle one would sleep through it, and the wait says so.
      std::fprintf(stderr, "%s: worker %u (pid %d): %s\n", kWho, k, q.pid, problem.c_str());
    }
    queries.push_back(std::move(q));
  }

  const auto deadline = SteadyClock::now() + kAnswerTimeout;
  for (;;) {
    bool waiting = false;
    for (WorkerQuery& q : queries) {
      if (!q.asked || q.snapshot || !q.problem.empty()) continue;
      const ConnectionSnapshotArea area = ConnectionSnapshotArea::of_worker(*segment, q.index);
      if ((q.snapshot = area.read(q.ticket))) {
        q.answered_at = SteadyClock::now();
        continue;
      }
      const shm::WorkerControl& c = segment->worker(q.index).control;
      if (state_of(c) != shm::WorkerState::running ||
          c.generation.load(std::memory_order_acquire) != q.generation) {
        q.problem = "stopped while asked (" + describe(c) + ")";
        continue;
      }
      waiting = true;
    }
    if (!waiting) break;
    if (SteadyClock::now() >= deadline) {
      for (WorkerQuery& q : queries) {
        if (q.asked && !q.snapshot && q.problem.empty()) {
          q.problem = "no answer within " + std::to_string(kAnswerTimeout.count()) + " s (pid " +
                      std::to_string(q.pid) + ", " + describe(segment->worker(q.index).control) +
                      ")";
        }
      }
      break;
    }
    const timespec step{0, std::chrono::nanoseconds(kPollStep).count()};
    ::nanosleep(&step, nullptr);
  }

  std::string out = format_connection_header();
  for (const WorkerQuery& q : queries) {
    if (!q.snapshot) continue;
    std::vector<ConnectionRecord> records = q.snapshot->records;
    // Listeners, then connections, then TIME-WAIT; within each by local port and peer.
    auto key = [](const ConnectionRecord& r) {
      const int group = r.has(ConnectionRecord::kListener)         ? 0
                        : r.has(ConnectionRecord::kTimeWaitRecord) ? 2
                                                                   : 1;
      return std::make_tuple(group, r.local_port, r.remote_ip, r.remote_port);
    };
    std::sort(
        records.begin(), records.end(),
        [&](const ConnectionRecord& a, const ConnectionRecord& b) { return key(a) < key(b); });
    for (const ConnectionRecord& r : records) {
      if (shown(r, options)) out += format_connection(r, q.index, options.numeric);
    }
  }
  std::fputs(out.c_str(), stdout);

  // Per worker: what it holds, and whether all of it fitted in the snapshot.
  int status = 0;
  for (const WorkerQuery& q : queries) {
    if (!q.snapshot) {
      std::fprintf(stderr, "%s: worker %u: %s\n", kWho, q.index, q.problem.c_str());
      status = 1;
      continue;
    }
    const ConnectionSnapshotSummary& s = q.snapshot->summary;
    if (s.format != kSnapshotFormat) {
      std::fprintf(stderr,
                   "%s: worker %u answered in another format (%08x, this tool reads %08x)\n", kWho,
                   q.index, s.format, kSnapshotFormat);
      status = 1;
      continue;
    }
    const double ms = std::chrono::duration<double, std::milli>(q.answered_at - q.asked_at).count();
    std::string fit = s.records == s.total
                          ? "all in the snapshot"
                          : std::to_string(s.records) + " in the snapshot (it holds at most " +
                                std::to_string(s.capacity) + "), the rest not shown";
    std::printf("# worker %u (pid %d): %s (%s, %s, %s), %s; answered in %.1f ms\n", q.index, s.pid,
                plural(s.total, "socket", "sockets").c_str(),
                plural(s.listeners, "listening", "listening").c_str(),
                plural(s.connections, "connection", "connections").c_str(),
                plural(s.time_wait, "TIME-WAIT record", "TIME-WAIT records").c_str(), fit.c_str(),
                ms);
  }
  return status;
}

}  // namespace flowgate
