// The processes and tools behind the `flowgate` subcommands (apps/cli.cpp parses their
// arguments). Each returns the process exit status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wire/addresses.hpp"

namespace flowgate {

// `flowgate run --config FILE`: the supervisor. Creates the shared-memory segment, starts
// the I/O process and the workers, restarts a dead worker, reloads on SIGHUP, drains and
// cleans up on SIGTERM/SIGINT.
int run_supervisor(const std::string& config_path);

// What the supervisor passes to the processes it starts (internal commands; not for users).
struct ChildOptions {
  std::string instance;
  wire::MacAddress interface_mac;    // the interface's own MAC (the config may set another)
  uint16_t mtu = 1500;               // the interface's MTU (the config may set a lower one)
  int wake_fd = -1;                  // this process's eventfd
  int io_wake_fd = -1;               // worker: the I/O process's eventfd
  int supervisor_wake_fd = -1;       // I/O: the supervisor's eventfd
  std::vector<int> worker_wake_fds;  // I/O: every worker's eventfd
  uint32_t index = 0;                // worker: its slot
  uint32_t uid = 0;                  // worker: the user and group it drops to
  uint32_t gid = 0;
};

// `flowgate io ...`: the I/O process (started by the supervisor).
int run_io_command(const ChildOptions& options);
// `flowgate worker ...`: one worker (started by the supervisor).
int run_worker_command(const ChildOptions& options);

// `flowgate stats [--instance NAME]`: every counter of a running gateway and its frame
// accounting, read from the shared memory without disturbing it.
int run_stats_command(const std::string& instance, bool frames_only);

// `flowgate ss`: every TCP connection of a running gateway, like `ss -tni`, from the snapshot
// each worker publishes on request (monitoring/connection_snapshot.hpp).
struct SsOptions {
  std::string instance = "default";
  std::optional<uint32_t> worker;  // only this worker
  // Only this state (a tcp::TcpState); unset: every state but LISTEN, as ss without -l.
  std::optional<uint8_t> state;
  bool all_states = false;  // --state all: listeners too
  bool numeric = false;     // -n: ports as numbers, not service names
};
int run_ss_command(const SsOptions& options);

// `flowgate top`: per-process rates from the counters, redrawn in place on a terminal, or
// printed as plain snapshots (not a terminal, or --iterations given).
struct TopOptions {
  std::string instance = "default";
  double interval_seconds = 1.0;
  std::optional<uint64_t> iterations;
};
int run_top_command(const TopOptions& options);

// `flowgate bench ...` (apps/bench/): the load generator on our own stack over AF_XDP.
// `args`: the words after "bench"; it parses them itself (exit 2 on a usage error).
int run_bench_command(const std::vector<std::string>& args);

}  // namespace flowgate
