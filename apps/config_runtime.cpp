// What the gateway does with a loaded configuration: the worker's stack configuration, the
// checks that need the interface, the frame budget, and `flowgate check`.
#include <string>
#include <variant>

#include "apps/config.hpp"

namespace flowgate {

namespace {

// Bytes the kernel keeps free in front of every received frame in an AF_XDP UMEM frame
// (XDP_PACKET_HEADROOM). The same rule applies to the AF_PACKET backend, so that switching
// backends never makes a working configuration fail.
constexpr uint32_t kXdpHeadroom = 256;
constexpr uint32_t kEthernetHeader = 14;
constexpr uint32_t kVlanTag = 4;
constexpr uint32_t kMaxUmemFrames = 262144;

std::string plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string protocol_name(ListenerProtocol p) {
  return p == ListenerProtocol::tcp ? "tcp" : "udp";
}


}  // namespace

// The frame budget. UMEM frames are all carved out at start-up and never allocated on
// demand, so the UMEM must hold every frame that can be in use at the same moment, or some
// ring runs dry under load and that path stalls (a worker that cannot send, a NIC queue that
// cannot receive) while frames sit elsewhere. At the worst moment:
//   - each NIC queue the I/O process serves has its XSK fill ring full (ring_size frames
//     waiting for the kernel to write into), and up to ring_size received frames in its RX
//     ring or in the I/O process's hands on their way to a worker;
//   - each worker has up to ring_size received frames (its rx ring, or being processed), and
//     a transmit pool of ring_size frames, which is what its tx ring, the XSK TX ring and the
//     completion ring hold between them for that worker.
// So frames >= ring_size x 2 x (workers + NIC queues). This assumes the XSK rings are sized
// like the worker rings (ring_size).
uint64_t min_umem_frames(uint32_t workers, uint32_t ring_size, uint32_t nic_queues) {
  return uint64_t{ring_size} * 2 * (uint64_t{workers} + uint64_t{nic_queues});
}

uint32_t max_mtu_for_frame_size(uint32_t frame_size, bool vlan) {
  const uint32_t overhead = kXdpHeadroom + kEthernetHeader + (vlan ? kVlanTag : 0);
  return frame_size > overhead ? frame_size - overhead : 0;
}

StackConfig stack_config_for(const GatewayConfig& config, wire::MacAddress interface_mac,
                             uint16_t interface_mtu) {
  StackConfig stack;
  stack.mac = config.mac.value_or(interface_mac);
  stack.address = config.address;
  stack.gateway = config.gateway;
  stack.vlan_id = config.vlan;
  stack.mtu = config.mtu.value_or(interface_mtu);
  stack.arp.static_entries = config.static_arp;
  stack.tcp = config.tcp;
  return stack;
}

std::vector<ConfigError> check_against_interface(const GatewayConfig& config,
                                                 const InterfaceFacts& facts) {
  std::vector<ConfigError> errors;
  auto error = [&](std::string key, std::string reason) {
    const int line = config.line_of(key);
    errors.push_back(ConfigError{config.source, line, std::move(key), std::move(reason)});
  };
  const std::string& ifname = config.interface;

  for (size_t i = 0; i < config.queues.size(); ++i) {
    if (config.queues[i] >= facts.rx_queues) {
      error("queues[" + std::to_string(i) + "]",
            "queue " + std::to_string(config.queues[i]) + " does not exist: " + ifname + " has " +
                plural(facts.rx_queues, "RX queue", "RX queues") + " (0-" +
                std::to_string(facts.rx_queues == 0 ? 0 : facts.rx_queues - 1) + ")");
    }
  }

  if (config.mtu && *config.mtu > facts.mtu) {
    error("mtu", std::to_string(*config.mtu) + " is larger than the MTU of " + ifname + " (" +
                     std::to_string(facts.mtu) + "); lower it or raise the interface's");
  } else if (!config.mtu) {
    const uint32_t largest = max_mtu_for_frame_size(config.frame_size, config.vlan.has_value());
    if (facts.mtu > largest) {
      error("umem.frame_size",
            "the MTU of " + ifname + " (" + std::to_string(facts.mtu) +
                ") does not fit a UMEM frame of " + std::to_string(config.frame_size) +
                " bytes, which holds an MTU of at most " + std::to_string(largest) +
                (config.frame_size < 4096 ? "; set umem.frame_size: 4096, or set mtu"
                                          : "; set mtu: " + std::to_string(largest)));
    }
  }

  if (config.queues.empty()) {
    const uint64_t needed = min_umem_frames(config.workers, config.ring_size, facts.rx_queues);
    if (config.umem_frames < needed) {
      uint64_t suggestion = 1024;
      while (suggestion < needed) suggestion *= 2;
      error("umem.frames",
            std::to_string(config.umem_frames) + " frames are too few for " +
                plural(config.workers, "worker", "workers") + " and the " +
                plural(facts.rx_queues, "RX queue", "RX queues") + " of " + ifname +
                " (queues: all) with ring_size " + std::to_string(config.ring_size) +
                ": at least " + std::to_string(needed) +
                " = ring_size x 2 x (workers + queues) are needed; " +
                (suggestion <= kMaxUmemFrames
                     ? "set umem.frames: " + std::to_string(suggestion) + ", or list fewer queues"
                     : "list fewer queues or lower ring_size"));
    }
  }
  return errors;
}

int check_config_command(const std::string& path, std::FILE* out, std::FILE* err) {
  const ConfigResult result = load_config_file(path);
  if (const auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
    for (const ConfigError& e : *errors) std::fprintf(err, "%s\n", e.to_string().c_str());
    return 1;
  }
  const GatewayConfig& config = std::get<GatewayConfig>(result);
  std::string summary = path + ": ok: interface " + config.interface + ", " +
                        config.address.to_string() + ", " +
                        plural(config.workers, "worker", "workers") + ", ";
  if (config.listeners.empty()) {
    summary += "no listeners";
  } else {
    summary += plural(config.listeners.size(), "listener", "listeners") + " (";
    for (size_t i = 0; i < config.listeners.size(); ++i) {
      const ListenerConfig& l = config.listeners[i];
      if (i > 0) summary += ", ";
      summary += protocol_name(l.protocol) + "/" + std::to_string(l.port) + " " + std::string(app_name(l.app));
    }
    summary += ")";
  }
  if (!config.pools.empty()) {
    size_t backends = 0;
    for (const PoolConfig& p : config.pools) backends += p.backends.size();
    summary += ", " + plural(config.pools.size(), "pool", "pools") + " of " +
               plural(backends, "backend", "backends");
  }
  // Said on the summary line because it must never reach production unnoticed.
  if (config.fault_injection) summary += ", testing.fault_injection ON";
  std::fprintf(out, "%s\n", summary.c_str());
  return 0;
}

}  // namespace flowgate
