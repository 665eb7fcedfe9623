// `flowgate top`: live per-process rates of a running gateway, from two samples of the
// counters in its segment each interval (monitoring/top_view.hpp). On a terminal the table
// is redrawn in place until Ctrl-C; otherwise, or with --iterations, plain snapshots follow
// one another (what scripts and tests read). Reads shared memory only: the workers do
// nothing for it.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "apps/commands.hpp"
#include "monitoring/metrics_catalog.hpp"
#include "monitoring/top_view.hpp"
#include "shm/segment.hpp"

namespace flowgate {
namespace {

constexpr const char* kWho = "flowgate top";

volatile sig_atomic_t g_stop = 0;

void on_stop_signal(int) {
  g_stop = 1;
}

uint64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Sleeps until `until_ns` (CLOCK_MONOTONIC) or a stop signal; false if stopped.
bool sleep_until(uint64_t until_ns) {
  const timespec t{static_cast<time_t>(until_ns / 1'000'000'000u),
                   static_cast<long>(until_ns % 1'000'000'000u)};
  while (!g_stop) {
    const int rc = ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, nullptr);
    if (rc == 0) return !g_stop;
    if (rc != EINTR) return false;
  }
  return false;
}

// The table redrawn over the previous one: home, each line cleared to its end, and whatever
// the previous (longer) table left below erased.
std::string in_place(const std::string& table) {
  std::string out = "\x1b[H";
  size_t at = 0;
  while (at < table.size()) {
    const size_t end = table.find('\n', at);
    out.append(table, at, end == std::string::npos ? std::string::npos : end - at);
    out += "\x1b[K\n";
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return out + "(Ctrl-C to quit)\x1b[K\x1b[J";
}

}  // namespace

int run_top_command(const TopOptions& options) {
  std::unique_ptr<shm::Segment> segment;
  try {
    segment = shm::Segment::open(options.instance, metrics_signature());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 1;
  }
  const bool redraw = !options.iterations && ::isatty(STDOUT_FILENO) == 1;

  struct sigaction stop {};
  stop.sa_handler = on_stop_signal;
  sigemptyset(&stop.sa_mask);
  stop.sa_flags = 0;  // no SA_RESTART: the sleep returns at once
  ::sigaction(SIGINT, &stop, nullptr);
  ::sigaction(SIGTERM, &stop, nullptr);
  if (redraw) std::fputs("\x1b[?25l\x1b[2J", stdout);  // hide the cursor, clear the screen

  const auto interval_ns = static_cast<uint64_t>(std::llround(options.interval_seconds * 1e9));
  const int32_t supervisor = segment->header().supervisor_pid.load(std::memory_order_relaxed);
  uint64_t next = monotonic_ns();
  TopSample before = take_top_sample(*segment, next);
  int status = 0;
  for (uint64_t i = 0; !options.iterations || i < *options.iterations; ++i) {
    next += interval_ns;
    if (!sleep_until(next)) break;
    const TopSample after = take_top_sample(*segment, monotonic_ns());
    const std::string table = format_top(options.instance, before, after);
    if (redraw) {
      std::fputs(in_place(table).c_str(), stdout);
    } else {
      if (i > 0) std::fputc('\n', stdout);
      std::fputs(table.c_str(), stdout);
    }
    std::fflush(stdout);
    before = after;
    // The segment stays mapped after the gateway removes it: stop instead of showing zeros.
    if (supervisor > 0 && ::kill(supervisor, 0) < 0 && errno == ESRCH) {
      std::fprintf(stderr, "%s: the gateway (supervisor pid %d) has stopped\n", kWho, supervisor);
      status = 1;
      break;
    }
  }
  if (redraw) std::fputs("\x1b[?25h\n", stdout);  // the cursor back
  std::fflush(stdout);
  return status;
}

}  // namespace flowgate
