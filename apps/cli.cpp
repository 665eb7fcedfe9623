#include "apps/cli.hpp"

#include <charconv>
#include <cstdio>
#include <optional>
#include <string_view>
#include <utility>

#include "apps/bench/options.hpp"
#include "apps/commands.hpp"
#include "apps/config.hpp"
#include "monitoring/connection_snapshot.hpp"
#include "shm/layout.hpp"

namespace flowgate {
namespace {

constexpr std::string_view kVersion = "0.1.0";

constexpr std::string_view kMainUsage =
    R"(Usage: flowgate COMMAND [OPTIONS]

flowgate is a user-space TCP/IP stack that runs as a sharded L4 gateway: an I/O process owns
the network interface through AF_XDP and hands frames over shared memory to worker
processes, each running the whole stack (Ethernet, ARP, IPv4, ICMP, UDP, TCP) and the
applications.

Commands:
  run --config FILE     run the gateway (needs root); Ctrl-C or SIGTERM drains and stops it
  check --config FILE   validate a configuration file and print every error
  stats [--instance NAME]
                        print every counter of a running gateway and its frame accounting
  ss [--instance NAME] [--worker K] [--state STATE] [-n]
                        list every TCP connection of a running gateway, like `ss -tni`
  top [--instance NAME] [--interval SECONDS] [--iterations N]
                        live per-worker rates: frames, Mbit/s, connections, drops
  bench --interface IF --source A[-B] --target IP:PORT --mode MODE [OPTIONS]
                        load generator on our own stack over AF_XDP (needs root)
  help [COMMAND]        this text, or a command's

Options:
  -h, --help   this text; `flowgate COMMAND --help` describes a command
  --version    print the version

The configuration is documented in README.md and deploy/examples/flowgate.yaml.
)";

constexpr std::string_view kRunUsage =
    R"(Usage: flowgate run --config FILE

Runs the gateway described by FILE: creates the shared-memory segment
/dev/shm/flowgate.<instance>, starts the I/O process (which attaches flowgate's XDP program
and opens an AF_XDP socket on each queue, or an AF_PACKET socket) and the workers, and
watches them: a worker that dies is restarted, its frames taken back.

Signals:
  SIGTERM, SIGINT   drain: workers stop accepting, connections get `drain_timeout` to end,
                    then everything stops, the XDP program is detached and the segment removed
  SIGHUP            re-read FILE; a change that cannot be applied while running is refused
                    with the keys it concerns (the running configuration stays)

Exit status: 0 after a clean stop, 1 when the gateway could not start or its I/O process
died, 2 for a bad configuration (each error is printed as file:line: key: reason).
Needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF for the I/O process; workers drop to
`worker_user` with no capabilities).
)";

constexpr std::string_view kCheckUsage =
    R"(Usage: flowgate check --config FILE

Validates FILE without running anything and prints each error as `file:line: key: reason`
(exit status 1), or one line describing the gateway (exit status 0).
)";

constexpr std::string_view kStatsUsage =
    R"(Usage: flowgate stats [--instance NAME] [--frames]

Prints every counter of the running gateway instance NAME (default: "default") as
`name value` lines, read from its shared memory without disturbing it:
  io.<group>.<counter>            the I/O process (groups io, dispatch, faults_rx, faults_tx)
  worker.<k>.<group>.<counter>    worker k (groups event, drop, worker)
  workers.<group>.<counter>       the sum over workers
then each worker's state, pid and restarts, and the frame accounting (frames.free +
frames.in_flight + frames.held = frames.total; frames.balanced is 1 when every owner's count
agrees with the frame tags). --frames prints only the accounting.
)";

constexpr std::string_view kSsUsage =
    R"(Usage: flowgate ss [--instance NAME] [--worker K] [--state STATE] [-n]

Lists every TCP connection of the running gateway instance NAME (default: "default"), as
`ss -tni` does for the kernel: one line per connection (State, Recv-Q, Send-Q, local and
peer address:port, the worker that owns it), then its TCP_INFO indented:
  rtt:SRTT/RTTVAR (ms) rto (ms) mss rcvmss cwnd (segments) cwnd_bytes ssthresh
  ssthresh_bytes retrans wscale:SND,RCV and the options in use (ts sack ecn)
  send: acked in_flight sendable not_sendable snd_wnd   the send window's four zones
  recv: read unread rcv_wnd out_of_order                 the receive side
TIME-WAIT connections are the compact records TCP keeps (timer: time left); listeners
show their accept queue, SYN queue and backlog.

Each worker copies its connections into its area of the shared memory when asked (a
request word and SIGUSR1; needs root), at most 9360 per worker: more are counted, not
listed. A worker that is not running or does not answer within 2 s is reported on stderr
(exit status 1) while the others' connections are still listed.

Options:
  --instance NAME   the gateway instance (default: "default")
  --worker K        only worker K
  --state STATE     only connections in STATE: established, syn-sent, syn-recv,
                    fin-wait-1, fin-wait-2, time-wait, close-wait, last-ack, closing,
                    listen, or all (listeners included); default: all but listeners
  -n, --numeric     ports as numbers, not service names
)";

constexpr std::string_view kTopUsage =
    R"(Usage: flowgate top [--instance NAME] [--interval SECONDS] [--iterations N]

Shows live rates of the running gateway instance NAME (default: "default"), from two
samples of its counters each interval: per process (the I/O process, each worker, and the
sum of the workers) its state, pid and restarts, frames in and out per second, Mbit/s in
and out, TCP connections opened per second and established now, frames dropped per second
and TCP segments retransmitted per second. Read from shared memory without disturbing the
gateway.

On a terminal the table is redrawn in place every interval until Ctrl-C. When standard
output is not a terminal, or --iterations is given, each interval's table is printed
after the previous one (plain text, a blank line between).

Options:
  --instance NAME       the gateway instance (default: "default")
  --interval SECONDS    time between samples, 0.1 to 3600 (default: 1; fractions allowed)
  --iterations N        stop after N tables
)";

// A bad argument: the message names it. Caught in flowgate_main, which adds the command.
struct UsageError {
  std::string message;
};

[[noreturn]] void bad(std::string message) {
  throw UsageError{std::move(message)};
}

std::string quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}

// Walks `--opt VALUE` / `--opt=VALUE` arguments.
class OptionReader {
 public:
  OptionReader(const std::vector<std::string>& args, size_t first) : args_(args), next_(first) {}

  bool done() const { return next_ >= args_.size(); }

  std::string option() {
    const std::string& arg = args_[next_++];
    inline_value_.reset();
    if (arg.rfind("--", 0) == 0) {
      const auto eq = arg.find('=');
      if (eq != std::string::npos) {
        inline_value_ = arg.substr(eq + 1);
        return arg.substr(0, eq);
      }
      return arg;
    }
    if (arg.rfind("-", 0) == 0 && arg.size() > 1) return arg;
    bad("unexpected argument " + quoted(arg) + " (options start with --)");
  }

  std::string value(const std::string& option) {
    if (inline_value_) return *std::exchange(inline_value_, std::nullopt);
    if (done()) bad(option + ": a value is missing");
    return args_[next_++];
  }

  void no_value(const std::string& option) {
    if (inline_value_) bad(option + " takes no value");
  }

 private:
  const std::vector<std::string>& args_;
  size_t next_;
  std::optional<std::string> inline_value_;
};

uint64_t number(const std::string& option, const std::string& text, uint64_t max) {
  const auto v = config_rules::parse_decimal(text, 0, max);
  if (!v) bad(option + ": " + quoted(text) + " is not a number from 0 to " + std::to_string(max));
  return *v;
}

// A decimal number of seconds ("1", "0.5", "2.25") within [min, max].
double seconds(const std::string& option, const std::string& text, double min, double max) {
  double v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v, std::chars_format::fixed);
  if (ec != std::errc() || ptr != end || !(v >= min && v <= max)) {
    char range[64];
    std::snprintf(range, sizeof range, " is not a number of seconds from %g to %g", min, max);
    bad(option + ": " + quoted(text) + range);
  }
  return v;
}

int descriptor(const std::string& option, const std::string& text) {
  return static_cast<int>(number(option, text, 1 << 20));
}

// `run --config FILE` and `check --config FILE`. nullopt: --help was printed.
std::optional<std::string> parse_config_option(const std::vector<std::string>& args,
                                               std::string_view usage) {
  OptionReader reader(args, 1);
  std::optional<std::string> path;
  while (!reader.done()) {
    const std::string opt = reader.option();
    if (opt == "-h" || opt == "--help") {
      reader.no_value(opt);
      std::fputs(usage.data(), stdout);
      return std::nullopt;
    }
    if (opt != "--config") bad("unknown option " + quoted(opt));
    if (path) bad("--config is given twice");
    path = reader.value(opt);
    if (path->empty()) bad("--config: the path is empty");
  }
  if (!path) bad("--config FILE is required");
  return path;
}

// The internal commands `io` and `worker`: arguments come from the supervisor.
ChildOptions parse_child(const std::vector<std::string>& args) {
  ChildOptions o;
  OptionReader reader(args, 1);
  while (!reader.done()) {
    const std::string opt = reader.option();
    const std::string v = reader.value(opt);
    if (opt == "--instance") {
      o.instance = v;
    } else if (opt == "--interface-mac") {
      const auto mac = wire::MacAddress::parse(v);
      if (!mac) bad(opt + ": " + quoted(v) + " is not a MAC address");
      o.interface_mac = *mac;
    } else if (opt == "--mtu") {
      o.mtu = static_cast<uint16_t>(number(opt, v, 65535));
    } else if (opt == "--wake-fd") {
      o.wake_fd = descriptor(opt, v);
    } else if (opt == "--io-wake-fd") {
      o.io_wake_fd = descriptor(opt, v);
    } else if (opt == "--supervisor-wake-fd") {
      o.supervisor_wake_fd = descriptor(opt, v);
    } else if (opt == "--worker-wake-fds") {
      size_t at = 0;
      while (at <= v.size()) {
        const size_t comma = std::min(v.find(',', at), v.size());
        o.worker_wake_fds.push_back(descriptor(opt, v.substr(at, comma - at)));
        at = comma + 1;
      }
    } else if (opt == "--index") {
      o.index = static_cast<uint32_t>(number(opt, v, 63));
    } else if (opt == "--uid") {
      o.uid = static_cast<uint32_t>(number(opt, v, 0xfffffffe));
    } else if (opt == "--gid") {
      o.gid = static_cast<uint32_t>(number(opt, v, 0xfffffffe));
    } else {
      bad("unknown option " + quoted(opt));
    }
  }
  if (o.instance.empty()) bad("--instance is required");
  if (o.wake_fd < 0) bad("--wake-fd is required");
  return o;
}

int usage_error(std::string_view command, const std::string& message) {
  const std::string prefix = command.empty() ? "flowgate" : "flowgate " + std::string(command);
  const std::string help = command.empty() ? "flowgate --help" : prefix + " --help";
  std::fprintf(stderr, "%s: %s\nTry '%s'.\n", prefix.c_str(), message.c_str(), help.c_str());
  return kExitUsage;
}

std::optional<std::string_view> usage_of(std::string_view command) {
  if (command == "run") return kRunUsage;
  if (command == "check") return kCheckUsage;
  if (command == "stats") return kStatsUsage;
  if (command == "ss") return kSsUsage;
  if (command == "top") return kTopUsage;
  if (command == "bench") return std::string_view(bench::kBenchUsage);
  return std::nullopt;
}

int dispatch(const std::string& command, const std::vector<std::string>& args) {
  if (command == "run") {
    const auto path = parse_config_option(args, kRunUsage);
    return path ? run_supervisor(*path) : 0;
  }
  if (command == "check") {
    const auto path = parse_config_option(args, kCheckUsage);
    return path ? check_config_command(*path, stdout, stderr) : 0;
  }
  if (command == "stats") {
    OptionReader reader(args, 1);
    std::string instance = "default";
    bool frames_only = false;
    while (!reader.done()) {
      const std::string opt = reader.option();
      if (opt == "-h" || opt == "--help") {
        std::fputs(kStatsUsage.data(), stdout);
        return 0;
      } else if (opt == "--instance") {
        instance = reader.value(opt);
      } else if (opt == "--frames") {
        reader.no_value(opt);
        frames_only = true;
      } else {
        bad("unknown option " + quoted(opt));
      }
    }
    return run_stats_command(instance, frames_only);
  }
  if (command == "ss") {
    OptionReader reader(args, 1);
    SsOptions o;
    while (!reader.done()) {
      const std::string opt = reader.option();
      if (opt == "-h" || opt == "--help") {
        std::fputs(kSsUsage.data(), stdout);
        return 0;
      } else if (opt == "--instance") {
        o.instance = reader.value(opt);
      } else if (opt == "--worker") {
        o.worker = static_cast<uint32_t>(number(opt, reader.value(opt), shm::kMaxWorkers - 1));
      } else if (opt == "--state") {
        const std::string v = reader.value(opt);
        if (v == "all") {
          o.all_states = true;
        } else if (const auto state = parse_state_name(v)) {
          o.state = static_cast<uint8_t>(*state);
        } else {
          bad(opt + ": " + quoted(v) + " is not a TCP state (established, time-wait, ...) or all");
        }
      } else if (opt == "-n" || opt == "--numeric") {
        reader.no_value(opt);
        o.numeric = true;
      } else {
        bad("unknown option " + quoted(opt));
      }
    }
    return run_ss_command(o);
  }
  if (command == "top") {
    OptionReader reader(args, 1);
    TopOptions o;
    while (!reader.done()) {
      const std::string opt = reader.option();
      if (opt == "-h" || opt == "--help") {
        std::fputs(kTopUsage.data(), stdout);
        return 0;
      } else if (opt == "--instance") {
        o.instance = reader.value(opt);
      } else if (opt == "--interval") {
        o.interval_seconds = seconds(opt, reader.value(opt), 0.1, 3600);
      } else if (opt == "--iterations") {
        o.iterations = number(opt, reader.value(opt), 1'000'000'000);
        if (*o.iterations == 0) bad(opt + ": at least 1");
      } else {
        bad("unknown option " + quoted(opt));
      }
    }
    return run_top_command(o);
  }
  if (command == "bench") return run_bench_command({args.begin() + 1, args.end()});
  if (command == "io") return run_io_command(parse_child(args));
  if (command == "worker") return run_worker_command(parse_child(args));
  return usage_error(
      "", "unknown command " + quoted(command) + " (commands: run, check, stats, ss, top, bench)");
}

}  // namespace

int flowgate_main(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::fputs(kMainUsage.data(), stderr);
    return kExitUsage;
  }
  const std::string& command = args[0];
  if (command == "-h" || command == "--help") {
    std::fputs(kMainUsage.data(), stdout);
    return 0;
  }
  if (command == "--version") {
    std::printf("flowgate %.*s\n", static_cast<int>(kVersion.size()), kVersion.data());
    return 0;
  }
  if (command == "help") {
    if (args.size() == 1) {
      std::fputs(kMainUsage.data(), stdout);
      return 0;
    }
    if (args.size() > 2) return usage_error("", "help takes one command name");
    if (const auto usage = usage_of(args[1])) {
      std::fputs(usage->data(), stdout);
      return 0;
    }
    return usage_error(
        "", "no help for " + quoted(args[1]) + ": the commands are run, check, stats, ss, top, bench");
  }
  try {
    return dispatch(command, args);
  } catch (const UsageError& e) {
    return usage_error(command, e.message);
  }
}

}  // namespace flowgate
