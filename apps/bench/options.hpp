// `flowgate bench`'s command line: what to load, how hard and for how long. Parsing is pure
// (no I/O), so every refusal is unit-tested; each one names the option and says what would
// be accepted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "wire/addresses.hpp"

namespace flowgate::bench {

enum class Mode : uint8_t { http_keepalive, http_close, udp_echo, idle };
const char* to_string(Mode mode);

// Each source address is one stack of its own; beyond 64 the demux table and the per-stack
// ARP and port tables stop being small.
inline constexpr uint32_t kMaxSources = 64;

struct BenchOptions {
  std::string interface;
  bool xdp_native = true;  // --xdp-mode native|skb
  uint32_t queue = 0;
  std::vector<wire::Ipv4Address> sources;  // --source A.B.C.D[-A.B.C.E], in order
  uint8_t source_prefix = 24;
  std::optional<wire::MacAddress> gateway_mac;  // unset: "auto", resolved by ARP
  wire::Ipv4Address target;
  uint16_t target_port = 0;
  Mode mode = Mode::http_keepalive;
  uint64_t connections = 0;  // 0: the mode's default (kDefaultConnections)
  // The end: after `duration_s` of measurement, or once `requests` responses are in. When
  // neither is given: 10 s (idle ends by itself after --hold).
  std::optional<double> duration_s;
  std::optional<uint64_t> requests;
  std::optional<double> rate;  // requests (datagrams) per second over all connections
  std::string path = "/";
  uint32_t payload = 64;  // udp-echo datagram bytes (at least kMinUdpPayload)
  double hold_s = 10;     // idle
  double warmup_s = 0;
  double connect_rate = 50'000;  // new connections per second (all sources together)
  bool json = false;
};

inline constexpr uint64_t kDefaultConnections = 64;
inline constexpr double kDefaultDurationS = 10;
// A udp-echo datagram carries its slot and send time: 16 bytes.
inline constexpr uint32_t kMinUdpPayload = 16;

struct ParseHelp {};  // --help was asked for
struct ParseError {
  std::string message;  // names the option: "--rate: '0' is not ..."
};
using ParseResult = std::variant<BenchOptions, ParseHelp, ParseError>;

// args: the words after "bench".
ParseResult parse_bench_options(const std::vector<std::string>& args);

// "198.18.0.10" or "198.18.0.10-198.18.0.13" (inclusive, ascending, at most kMaxSources).
// nullopt with `error` set otherwise.
std::optional<std::vector<wire::Ipv4Address>> parse_source_range(const std::string& text,
                                                                 std::string* error);

extern const char* const kBenchUsage;

}  // namespace flowgate::bench
