// `flowgate top`: live per-process rates from two samples of the counters in the segment.
// Sampling reads shared memory only (no request to the workers, unlike `flowgate ss`); the
// arithmetic and the table are pure functions of the samples, so tests need no gateway.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shm/segment.hpp"

namespace flowgate {

// The counters top turns into rates, for one process at one instant (monotonic totals).
struct TopCounters {
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t opened = 0;       // TCP connections opened, passive and active
  uint64_t drops = 0;        // frames dropped, every reason
  uint64_t retransmits = 0;  // TCP segments retransmitted, after a timeout or fast

  bool operator==(const TopCounters&) const = default;
};

struct TopProcess {
  std::string name;  // "io", "worker.0", ...
  std::string state;
  int32_t pid = 0;
  std::optional<uint32_t> restarts;     // workers only
  std::optional<uint64_t> established;  // TCP connections ESTABLISHED now, when it is known
  TopCounters counters;
};

struct TopSample {
  uint64_t taken_ns = 0;  // CLOCK_MONOTONIC
  TopProcess io;
  std::vector<TopProcess> workers;
};

// Per second between two samples. Mbit/s are 10^6 bits per second of whole frames.
struct TopRates {
  double frames_in = 0;
  double frames_out = 0;
  double mbit_in = 0;
  double mbit_out = 0;
  double opened = 0;
  double drops = 0;
  double retransmits = 0;
};

// `seconds` <= 0 gives zero rates. A counter that went backwards (a new gateway under the
// same name) counts as no change rather than a huge negative or wrapped rate.
TopRates rates_between(const TopCounters& before, const TopCounters& after, double seconds);

// The sum of the workers' counters (and of their established connections, when every
// worker's is known).
TopProcess sum_of_workers(const std::vector<TopProcess>& workers);

// Reads the segment: the I/O process's and every worker's counters, states, pids and
// restarts. `now_ns` is the caller's CLOCK_MONOTONIC.
TopSample take_top_sample(const shm::Segment& segment, uint64_t now_ns);

// The table for the interval between two samples of the same gateway: a title line, the
// column heads, one line per process (io, each worker, then `workers`, their sum).
//   PROCESS   STATE     PID  RESTARTS FRAMES_IN/s FRAMES_OUT/s MBIT_IN/s MBIT_OUT/s ...
std::string format_top(const std::string& instance, const TopSample& before,
                       const TopSample& after);

}  // namespace flowgate
