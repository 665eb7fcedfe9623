// `flowgate standalone`: one Stack on one interface, in this process, through an AF_PACKET
// socket. It exists until the AF_XDP data plane (I/O process, shared-memory rings, workers)
// lands, so the stack can run on a real link and be tested against real Linux peers.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wire/addresses.hpp"

namespace flowgate {

struct StandaloneOptions {
  std::string interface;
  wire::Ipv4Cidr address;
  std::optional<wire::MacAddress> mac;       // default: the interface's
  std::optional<wire::Ipv4Address> gateway;  // default: none (off-link is unreachable)
  std::optional<uint16_t> mtu;               // default: the interface's
  std::vector<uint16_t> udp_echo_ports;
  std::vector<uint16_t> udp_discard_ports;
  std::vector<uint16_t> tcp_echo_ports;
  std::vector<uint16_t> tcp_discard_ports;
  std::optional<std::chrono::nanoseconds> stats_interval;
  std::string stats_file;  // empty: none
};

// Runs until SIGINT or SIGTERM. Returns the process exit status: 0 after a clean stop,
// 1 when the link or a service cannot be set up or the interface is removed, 2 when an
// argument does not fit the interface (unknown interface, MTU above the interface's).
int run_standalone(const StandaloneOptions& options);

}  // namespace flowgate
