// `flowgate io`: the I/O process, started by the supervisor. It reads what it serves from
// the configuration stored in the segment and runs rx_tx's loop until SIGTERM.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <variant>

#include "apps/commands.hpp"
#include "apps/config.hpp"
#include "monitoring/metrics_catalog.hpp"
#include "rx_tx/io_process.hpp"
#include "shm/segment.hpp"

namespace flowgate {
namespace {

FaultConfig fault_config_for(const FaultInjectionConfig& f, uint64_t direction_salt) {
  FaultConfig c;
  // Each direction draws from its own sequence, both fixed by the one configured seed.
  c.seed = f.seed ^ direction_salt;
  c.drop = f.drop;
  c.duplicate = f.duplicate;
  c.reorder = f.reorder;
  c.corrupt = f.corrupt;
  return c;
}

}  // namespace

int run_io_command(const ChildOptions& options) {
  constexpr const char* kWho = "flowgate io";
  // The supervisor execs /proc/self/exe, so the kernel names this process "exe"; give ps,
  // top and pidof a name that says which process of the gateway this is.
  ::prctl(PR_SET_NAME, "flowgate-io", 0, 0, 0);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  const int signal_fd = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::fprintf(stderr, "%s: signalfd: %s\n", kWho, std::strerror(errno));
    return 1;
  }
  std::unique_ptr<shm::Segment> segment;
  try {
    segment = shm::Segment::open(options.instance, metrics_signature());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 1;
  }
  ConfigResult parsed = parse_config(segment->config_text(), "(configuration in the segment)");
  if (std::holds_alternative<std::vector<ConfigError>>(parsed)) {
    std::fprintf(stderr, "%s: the configuration in the segment does not parse\n", kWho);
    return 1;
  }
  const GatewayConfig config = std::get<GatewayConfig>(std::move(parsed));
  if (options.worker_wake_fds.size() != segment->worker_count()) {
    std::fprintf(stderr, "%s: %zu worker wake descriptors for %u workers\n", kWho,
                 options.worker_wake_fds.size(), segment->worker_count());
    return 1;
  }

  IoOptions io;
  io.interface = config.interface;
  io.queues = config.queues;
  io.backend = config.backend == LinkBackend::af_packet ? IoBackend::af_packet : IoBackend::xdp;
  io.xdp_native = config.xdp_mode == XdpMode::native;
  io.xdp_force_copy = config.xdp_force_copy;
  io.promiscuous = config.mac && *config.mac != options.interface_mac;
  io.address = config.address.address;
  if (config.fault_injection) {
    const FaultInjectionConfig& f = *config.fault_injection;
    if (f.on_receive) io.faults_rx = fault_config_for(f, 0x5258);   // "RX"
    if (f.on_transmit) io.faults_tx = fault_config_for(f, 0x5458);  // "TX"
  }
  io.wake_fd = options.wake_fd;
  io.worker_wake_fds = options.worker_wake_fds;
  io.supervisor_wake_fd = options.supervisor_wake_fd;
  io.signal_fd = signal_fd;
  return run_io_process(*segment, io);
}

}  // namespace flowgate
