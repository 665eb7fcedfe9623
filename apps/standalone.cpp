#include "apps/standalone.hpp"

#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>
#include <utility>

#include "apps/cli.hpp"
#include "apps/discard.hpp"
#include "apps/echo.hpp"
#include "apps/tcp_service.hpp"
#include "rx_tx/af_packet_link.hpp"
#include "stack/clock.hpp"
#include "stack/config.hpp"
#include "stack/stack.hpp"

namespace flowgate {
namespace {

constexpr const char* kWho = "flowgate standalone";
// Receive batches handled per wake-up before timers get their turn; poll(2) is
// level-triggered, so frames left over wake the loop again at once.
constexpr int kMaxBatchesPerWake = 16;
// The longest poll(2) sleep: nothing is due, but a bound keeps the loop honest.
constexpr int kMaxSleepMs = 60 * 60 * 1000;

using CounterList = std::vector<std::pair<std::string, uint64_t>>;

// SIGINT and SIGTERM are blocked and read from a descriptor in the poll set, so a signal
// can never slip in between checking a flag and going to sleep.
//
// They are the documented way to stop, so an inherited "ignore" is undone: a shell without
// job control starts its background commands with SIGINT ignored, and an ignored signal
// never reaches a signalfd.
class SignalFd {
 public:
  SignalFd() {
    sigemptyset(&mask_);
    sigaddset(&mask_, SIGINT);
    sigaddset(&mask_, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask_, &old_mask_) < 0) {
      throw std::system_error(errno, std::generic_category(), "sigprocmask");
    }
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGINT, &dfl, &old_int_);
    sigaction(SIGTERM, &dfl, &old_term_);
    fd_ = signalfd(-1, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd_ < 0) {
      const int err = errno;
      restore();
      throw std::system_error(err, std::generic_category(), "signalfd");
    }
  }
  ~SignalFd() {
    ::close(fd_);
    restore();
  }
  SignalFd(const SignalFd&) = delete;
  SignalFd& operator=(const SignalFd&) = delete;

  int fd() const { return fd_; }
  // The signal that arrived, or 0.
  int take() {
    signalfd_siginfo info{};
    const ssize_t n = ::read(fd_, &info, sizeof info);
    return n == static_cast<ssize_t>(sizeof info) ? static_cast<int>(info.ssi_signo) : 0;
  }

 private:
  void restore() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
  }

  sigset_t mask_{};
  sigset_t old_mask_{};
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
  int fd_ = -1;
};

CounterList collect_counters(const Stack& stack, const AfPacketLink& link,
                             const std::vector<std::unique_ptr<Service>>& services) {
  CounterList out;
  const StackCounters& c = stack.counters();
  for (size_t i = 0; i < kEventCount; ++i) {
    const auto e = static_cast<Event>(i);
    out.emplace_back(std::string(name(e)), c[e]);
  }
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const auto r = static_cast<DropReason>(i);
    out.emplace_back(std::string(name(r)), c[r]);
  }
  link.stats().for_each([&](const char* n, const char*, uint64_t v) {
    out.emplace_back(std::string("link_") + n, v);
  });
  for (const auto& s : services) {
    s->for_each_counter([&](const std::string& n, uint64_t v) { out.emplace_back(n, v); });
  }
  return out;
}

void print_nonzero(const CounterList& counters) {
  for (const auto& [n, v] : counters) {
    if (v != 0) std::printf("%s = %" PRIu64 "\n", n.c_str(), v);
  }
  std::fflush(stdout);
}

// Replaces `path` atomically (write a temporary file beside it, then rename), so a reader
// never sees half a file. Returns an error message, empty on success.
std::string write_stats_file(const std::string& path, const CounterList& counters) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return "cannot create " + tmp + ": " + std::strerror(errno);
  for (const auto& [n, v] : counters) std::fprintf(f, "%s %" PRIu64 "\n", n.c_str(), v);
  const bool write_failed = std::ferror(f) != 0;
  if (std::fclose(f) != 0 || write_failed) {
    const int err = errno;
    std::remove(tmp.c_str());
    return "cannot write " + tmp + ": " + std::strerror(err);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return "cannot rename " + tmp + " to " + path + ": " + std::strerror(err);
  }
  return {};
}

// Milliseconds poll(2) may sleep before `t`, rounded up so the loop never wakes just before
// a deadline and spins with timeout 0 until it passes.
int ms_until(Instant now, Instant t) {
  if (t <= now) return 0;
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t - now).count();
  const int64_t ms = (ns + 999'999) / 1'000'000;
  return static_cast<int>(std::min<int64_t>(ms, kMaxSleepMs));
}

// A starting IPv4 identification that differs between runs: a restart must not reuse the
// IDs of fragments the peer may still hold for reassembly (RFC 791, RFC 6864).
uint16_t random_ip_id() {
  uint16_t id = 1;
  if (getrandom(&id, sizeof id, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof id)) {
    id = static_cast<uint16_t>(::getpid());
  }
  return id;
}

std::string describe_ports(const std::vector<uint16_t>& ports) {
  std::string s;
  for (uint16_t p : ports) s += (s.empty() ? "" : ",") + std::to_string(p);
  return s;
}

}  // namespace

int run_standalone(const StandaloneOptions& options) {
  InterfaceInfo info;
  try {
    info = query_interface(options.interface);
  } catch (const LinkError& e) {
    std::fprintf(stderr, "%s: --interface: %s\nTry 'flowgate standalone --help'.\n", kWho,
                 e.what());
    return kExitUsage;
  }
  if (options.mtu && *options.mtu > info.mtu) {
    std::fprintf(stderr,
                 "%s: --mtu: %u is larger than the MTU of %s (%u): frames that long cannot "
                 "leave it\nTry 'flowgate standalone --help'.\n",
                 kWho, static_cast<unsigned>(*options.mtu), info.name.c_str(), info.mtu);
    return kExitUsage;
  }
  if (info.mtu < 68) {
    std::fprintf(stderr, "%s: the MTU of %s (%u) is below IPv4's minimum of 68\n", kWho,
                 info.name.c_str(), info.mtu);
    return 1;
  }
  if (!info.up) {
    std::fprintf(stderr,
                 "%s: warning: %s is down; nothing is received until it is up "
                 "(ip link set %s up)\n",
                 kWho, info.name.c_str(), info.name.c_str());
  }

  StackConfig config;
  config.mac = options.mac.value_or(info.mac);
  config.address = options.address;
  config.gateway = options.gateway;
  config.mtu = options.mtu.value_or(static_cast<uint16_t>(std::min<uint32_t>(info.mtu, 65535)));
  config.first_ip_id = random_ip_id();

  std::unique_ptr<SignalFd> signals;
  std::unique_ptr<AfPacketLink> link;
  try {
    signals = std::make_unique<SignalFd>();
    AfPacketConfig link_config;
    link_config.interface = options.interface;
    link_config.promiscuous = config.mac != info.mac;
    link = std::make_unique<AfPacketLink>(std::move(link_config));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 1;
  }

  MonotonicClock clock;
  Stack stack(config, clock, *link);
  std::vector<std::unique_ptr<Service>> services;
  try {
    for (uint16_t port : options.udp_echo_ports) {
      services.push_back(std::make_unique<UdpEcho>(stack, port));
    }
    for (uint16_t port : options.udp_discard_ports) {
      services.push_back(std::make_unique<UdpDiscard>(stack, port));
    }
    for (uint16_t port : options.tcp_echo_ports) {
      services.push_back(std::make_unique<TcpService>(stack, port, TcpService::Kind::echo));
    }
    for (uint16_t port : options.tcp_discard_ports) {
      services.push_back(std::make_unique<TcpService>(stack, port, TcpService::Kind::discard));
    }
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 1;
  }

  // Statistics: the file is rewritten every interval (1 s unless told); without a file an
  // interval prints the non-zero counters.
  std::optional<Duration> stats_period = options.stats_interval;
  if (!stats_period && !options.stats_file.empty()) stats_period = std::chrono::seconds(1);
  auto emit_stats = [&]() -> bool {
    const CounterList counters = collect_counters(stack, *link, services);
    if (options.stats_file.empty()) {
      std::printf("--- counters ---\n");
      print_nonzero(counters);
      return true;
    }
    const std::string err = write_stats_file(options.stats_file, counters);
    if (!err.empty()) std::fprintf(stderr, "%s: --stats-file: %s\n", kWho, err.c_str());
    return err.empty();
  };
  if (!options.stats_file.empty() && !emit_stats()) return 1;

  stack.start();  // gratuitous ARP
  link->flush();

  std::printf("%s: %s on %s (MAC %s, MTU %u)", kWho, config.address.to_string().c_str(),
              info.name.c_str(), config.mac.to_string().c_str(), static_cast<unsigned>(config.mtu));
  if (config.gateway) std::printf(", gateway %s", config.gateway->to_string().c_str());
  if (!options.udp_echo_ports.empty()) {
    std::printf(", UDP echo on %s", describe_ports(options.udp_echo_ports).c_str());
  }
  if (!options.udp_discard_ports.empty()) {
    std::printf(", UDP discard on %s", describe_ports(options.udp_discard_ports).c_str());
  }
  if (!options.tcp_echo_ports.empty()) {
    std::printf(", TCP echo on %s", describe_ports(options.tcp_echo_ports).c_str());
  }
  if (!options.tcp_discard_ports.empty()) {
    std::printf(", TCP discard on %s", describe_ports(options.tcp_discard_ports).c_str());
  }
  std::printf(". Ctrl-C stops.\n");
  std::fflush(stdout);

  auto run_services = [&] {
    for (auto& s : services) s->run();
  };

  Instant next_stats = clock.now() + stats_period.value_or(Duration::zero());
  Instant next_link_report{};
  bool warned_stuck_deadline = false;
  int stop_signal = 0;
  int exit_status = 0;
  while (stop_signal == 0) {
    // Sleep until a frame arrives, a signal, or the next stack timer or statistics dump.
    Instant now = clock.now();
    std::optional<Instant> wake = stack.next_deadline();
    if (stats_period) wake = wake ? std::min(*wake, next_stats) : next_stats;
    int timeout_ms = wake ? ms_until(now, *wake) : -1;
    if (warned_stuck_deadline && timeout_ms == 0) timeout_ms = 1;

    pollfd fds[2] = {
        {link->fd(), static_cast<short>(POLLIN | (link->tx_pending() ? POLLOUT : 0)), 0},
        {signals->fd(), POLLIN, 0},
    };
    if (::poll(fds, 2, timeout_ms) < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "%s: poll: %s\n", kWho, std::strerror(errno));
      return 1;
    }
    if ((fds[1].revents & POLLIN) != 0) stop_signal = signals->take();

    if ((fds[0].revents & POLLIN) != 0) {
      for (int b = 0; b < kMaxBatchesPerWake; ++b) {
        const size_t n = link->receive([&](wire::Bytes frame) { stack.receive(frame); });
        if (n == 0) break;
        // Apps answer what this batch brought, and the answers leave in one sendmmsg.
        run_services();
        link->flush();
        if (n < link->batch()) break;  // the socket is drained
      }
    }

    now = clock.now();
    if (const auto due = stack.next_deadline(); due && *due <= now) {
      stack.poll();
      // Timers free send buffers (retransmissions acknowledged, connections finished):
      // the services get their turn, as after a batch of frames.
      run_services();
      // A timer that stays due after poll() would make this loop spin: a stack bug. Say
      // so once and sleep at least 1 ms per round instead of burning the CPU.
      if (const auto again = stack.next_deadline();
          again && *again <= now && !warned_stuck_deadline) {
        warned_stuck_deadline = true;
        std::fprintf(stderr,
                     "%s: warning: stack.next_deadline() is still due after poll() "
                     "(stack bug); the loop now sleeps at least 1 ms per round\n",
                     kWho);
      }
    }
    link->flush();

    if ((fds[0].revents & POLLERR) != 0 || link->has_error()) {
      const int err = link->take_error();
      if (err != 0 && now >= next_link_report) {
        std::fprintf(stderr, "%s: link %s: %s\n", kWho, info.name.c_str(), std::strerror(err));
        next_link_report = now + std::chrono::seconds(1);
      }
      // A removed interface unbinds the socket for good (even if one with the same name
      // comes back): stop rather than report errors for ever. A link that is merely down
      // comes back by itself.
      if (err != 0 && if_nametoindex(info.name.c_str()) != static_cast<unsigned>(info.index)) {
        std::fprintf(stderr, "%s: interface %s was removed; stopping\n", kWho, info.name.c_str());
        exit_status = 1;
        break;
      }
    }
    if (stats_period && now >= next_stats) {
      link->update_kernel_stats();
      emit_stats();
      next_stats = now + *stats_period;
    }
  }

  link->flush();
  link->update_kernel_stats();
  if (stop_signal != 0) std::fprintf(stderr, "%s: stopped by %s\n", kWho, strsignal(stop_signal));
  if (!options.stats_file.empty()) emit_stats();
  print_nonzero(collect_counters(stack, *link, services));
  return exit_status;
}

}  // namespace flowgate
