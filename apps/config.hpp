// The gateway's configuration file: one YAML document (yaml-cpp), documented key by key in
// README.md and deploy/examples/flowgate.yaml.
//
// Loading never throws on bad input: it returns every error it found, each as
// `file:line: key: reason` (key is the dotted path, e.g. `listeners[1].port`). Unknown keys
// are errors, so a typo never silently falls back to a default. `flowgate check` prints the
// errors; `flowgate run` refuses to start with the same messages.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "stack/clock.hpp"
#include "stack/config.hpp"
#include "wire/addresses.hpp"

namespace flowgate {

enum class LinkBackend : uint8_t { xdp, af_packet };
enum class XdpMode : uint8_t { native, skb };
enum class ListenerProtocol : uint8_t { tcp, udp };
enum class AppKind : uint8_t { echo, discard, chargen, proxy, http };

// The app's name as the file writes it (`listeners[].app`).
std::string_view app_name(AppKind app);

struct ChargenSettings {
  uint64_t bytes = 1024 * 1024;  // sent on each connection, then the connection is closed
};

// The proxy app's settings on a listener (`proxy:`): which pool its connections go to and
// how (apps/proxy/).
enum class ProxyProtocolVersion : uint8_t { none, v1, v2 };
struct ProxySettings {
  std::string pool;                                    // required: a name in `pools`
  Duration connect_timeout = std::chrono::seconds(3);  // per attempt
  uint32_t connect_attempts = 2;                       // 2: one retry on another backend
  Duration idle_timeout = std::chrono::seconds(300);   // no byte either way: both reset
  ProxyProtocolVersion proxy_protocol = ProxyProtocolVersion::none;  // header to the backend
};

// The http app's settings on a listener (`http:`, apps/http/): static files beneath `root`,
// or one fixed `response` (for benchmarks); exactly one of the two.
struct HttpResponseSettings {
  uint32_t status = 200;
  std::string body;  // `body`, or `body_bytes` bytes of a filler pattern
  std::optional<uint64_t> body_bytes;
  std::string content_type = "text/plain; charset=utf-8";
};
struct HttpSettings {
  std::string root;                  // an absolute path
  std::string index = "index.html";  // served for a directory
  std::optional<HttpResponseSettings> response;
  Duration request_timeout = std::chrono::seconds(10);    // a request must arrive within it
  Duration keepalive_timeout = std::chrono::seconds(60);  // idle persistent connection; 0: none
  uint32_t max_header_bytes = 8 * 1024;
  uint32_t max_headers = 100;
  uint64_t max_requests_per_connection = 0;  // 0: no limit
};

struct ListenerConfig {
  std::string name;
  ListenerProtocol protocol = ListenerProtocol::tcp;
  uint16_t port = 0;
  AppKind app = AppKind::echo;
  uint32_t backlog = 128;  // TCP only: listen(backlog)
  ChargenSettings chargen;
  ProxySettings proxy;
  HttpSettings http;
  int line = 0;  // where the listener starts in the file, for later messages
};

// A backend pool (`pools:`), what proxy listeners send their connections to. The only part
// of the file a SIGHUP changes live: backends, weights, limits, checks.
enum class BalanceKind : uint8_t { round_robin, least_connections, maglev };
struct BackendConfig {
  wire::Ipv4Address address{};
  uint16_t port = 0;
  uint32_t weight = 1;           // 0: drain (no new connections, open ones continue)
  uint32_t max_connections = 0;  // 0: unlimited; each worker allows its share (see proxy)
  int line = 0;
};
struct HealthCheckConfig {  // active checks: a TCP connect every interval
  Duration interval = std::chrono::seconds(2);
  Duration timeout = std::chrono::seconds(1);  // at most interval
  uint32_t rise = 2;                           // consecutive successes that bring a down backend up
  uint32_t fall = 3;                           // consecutive failures that take an up backend down
};
struct PassiveEjectionConfig {  // consecutive connect failures of proxied connections
  uint32_t failures = 3;
  Duration duration = std::chrono::seconds(30);  // the backend is skipped this long
};
struct PoolConfig {
  std::string name;
  BalanceKind balance = BalanceKind::round_robin;
  std::vector<BackendConfig> backends;
  std::optional<HealthCheckConfig> health_check;          // absent: always up
  std::optional<PassiveEjectionConfig> passive_ejection;  // absent: never ejected
  int line = 0;
};

// Test-only: the I/O process's seeded fault injector (this kernel has no netem). Off unless
// the `testing.fault_injection` section is present.
struct FaultInjectionConfig {
  uint64_t seed = 1;
  double drop = 0;          // probability per frame, 0..1
  double duplicate = 0;     // probability per frame that a copy follows it
  double reorder = 0;       // probability per frame that it is held back behind the next one
  double corrupt = 0;       // probability per frame that one bit of its IPv4 part is flipped
  bool on_receive = true;   // frames from the link to the workers
  bool on_transmit = true;  // frames from the workers to the link
};

// The management endpoint (`management:`): /metrics, /healthz and /readyz, served by the
// supervisor on a kernel socket (not through flowgate's own stack). Loopback by default:
// /metrics has no authentication.
struct ManagementConfig {
  wire::Ipv4Address address = wire::Ipv4Address::from_octets(127, 0, 0, 1);
  uint16_t port = 9180;

  std::string to_string() const { return address.to_string() + ":" + std::to_string(port); }
};

struct GatewayConfig {
  std::string source;  // the file it came from ("<string>" when parsed from text)

  // The instance names the shared-memory segment (/dev/shm/flowgate.<instance>); two
  // gateways on one host need two names. [a-z0-9_-], 1-32 characters.
  std::string instance = "default";

  // The link.
  std::string interface;         // required
  std::vector<uint32_t> queues;  // empty: every RX queue of the interface
  LinkBackend backend = LinkBackend::xdp;
  XdpMode xdp_mode = XdpMode::native;
  bool xdp_force_copy = false;  // XDP_COPY even where zero-copy would work

  // Our IPv4 identity on that link.
  wire::Ipv4Cidr address{};                  // required
  std::optional<wire::Ipv4Address> gateway;  // next hop for everything off the subnet
  std::optional<wire::MacAddress> mac;       // default: the interface's own
  std::optional<uint16_t> mtu;               // default: the interface's own
  std::optional<uint16_t> vlan;              // 802.1Q VLAN id, 1-4094
  std::vector<StaticNeighbour> static_arp;

  // Processes.
  uint32_t workers = 1;                // 1-64
  std::string worker_user = "nobody";  // workers drop to this user and no capabilities
  Duration drain_timeout = std::chrono::seconds(5);  // SIGTERM: time connections get to end
  // A running worker whose loop makes no round for this long (hung, or stopped) is killed
  // and restarted like a crashed one. Zero: never.
  Duration watchdog_timeout = std::chrono::seconds(10);

  // Shared memory: the UMEM (frames shared by the kernel, the I/O process and workers) and
  // the per-worker rings.
  uint32_t umem_frames = 16384;  // power of two, 1024-262144
  uint32_t frame_size = 4096;    // 2048 or 4096
  uint32_t ring_size = 2048;     // per worker ring, power of two, 64-16384

  tcp::TcpConfig tcp;  // the `tcp:` section: tunables (see stack config)
  std::vector<ListenerConfig> listeners;
  std::vector<PoolConfig> pools;

  std::optional<FaultInjectionConfig> fault_injection;

  // nullopt: `management: off`, no endpoint at all.
  std::optional<ManagementConfig> management = ManagementConfig{};

  // Where each key was set: dotted path ("tcp.rto_min", "listeners[1]", "listeners[1].port")
  // to its 1-based line. Checks made after loading (against the interface at start-up, on a
  // SIGHUP reload) point at the line like the parser does.
  std::map<std::string, int, std::less<>> key_lines;
  // The line of `key`, or 0 when the file does not set it.
  int line_of(std::string_view key) const;
};

struct ConfigError {
  std::string file;
  int line = 0;     // 1-based; 0 when the error concerns the whole file
  std::string key;  // dotted path; empty for a file-level error
  std::string reason;

  // `file:line: key: reason`
  std::string to_string() const;
};

using ConfigResult = std::variant<GatewayConfig, std::vector<ConfigError>>;

// Reads and validates a file. A missing or unreadable file is one error naming the file.
ConfigResult load_config_file(const std::string& path);
// The same for text already in memory; `source` is the name used in messages.
ConfigResult parse_config(std::string_view text, const std::string& source);

// `flowgate check --config FILE`: prints each error to `err` as `file:line: key: reason` and
// returns 1, or prints a one-line summary to `out` and returns 0.
int check_config_command(const std::string& path, std::FILE* out, std::FILE* err);

// The configuration one worker's stack runs with. `interface_mac` and `interface_mtu` are the
// interface's own, used when the file sets no `mac` or `mtu`. The caller has checked the
// configured MTU against the interface with check_against_interface().
StackConfig stack_config_for(const GatewayConfig& config, wire::MacAddress interface_mac,
                             uint16_t interface_mtu);

// What the parser cannot know: facts about the interface, learnt at start-up.
struct InterfaceFacts {
  uint16_t mtu = 1500;     // the interface's MTU
  uint32_t rx_queues = 1;  // its number of RX queues (ethtool -l: combined or rx)
};

// The checks that need those facts, with the same `file:line: key: reason` errors: the queues
// exist, a configured MTU is no larger than the interface's, the MTU fits a UMEM frame, and
// the UMEM holds enough frames for the real number of queues (the parser counts one queue for
// `queues: all`). Empty when all is well.
std::vector<ConfigError> check_against_interface(const GatewayConfig& config,
                                                 const InterfaceFacts& facts);

// The fewest UMEM frames that let every ring be full at once (the rule is explained in
// apps/config_runtime.cpp). `nic_queues` is the number of NIC queues the I/O process serves.
uint64_t min_umem_frames(uint32_t workers, uint32_t ring_size, uint32_t nic_queues);

// The largest IPv4 MTU whose frames fit a UMEM frame of `frame_size` bytes: the kernel keeps
// XDP_PACKET_HEADROOM (256 bytes) in front of each received frame, then come the Ethernet
// header (14 bytes) and, on a VLAN, the 802.1Q tag (4 bytes).
uint32_t max_mtu_for_frame_size(uint32_t frame_size, bool vlan);

// Value rules shared by the configuration file and the command line (apps/cli.cpp): the same
// input is accepted or refused the same way whichever way it is given.
namespace config_rules {

// Decimal digits only (no sign, no spaces, no leading zeros except "0"), within [min, max].
std::optional<uint64_t> parse_decimal(std::string_view text, uint64_t min, uint64_t max);

// Why `cidr` cannot be our address, or nullopt when it can: it needs a prefix length 1-32, a
// unicast address, and for prefixes up to /30 neither the network nor the broadcast address
// (/31, RFC 3021, and /32 have neither).
std::optional<std::string> host_address_problem(const wire::Ipv4Cidr& cidr);

// Another usable host of `subnet` (the gateway, a static neighbour): inside it, not our own
// address, not its network or broadcast address.
bool is_other_host(const wire::Ipv4Cidr& subnet, wire::Ipv4Address address);

// What Linux accepts as an interface name (dev_valid_name): 1-15 characters, not "." or "..",
// no '/', ':' or white space.
bool is_interface_name(std::string_view name);

// "250ms", "5s", "2m": a whole number and a unit (us, ms, s, m, h). A plain number is refused:
// a bare "5" is as likely meant as milliseconds as seconds.
std::optional<Duration> parse_duration(std::string_view text);
// The inverse, in the largest unit that is exact: 200ms, 2m, 1500us.
std::string format_duration(Duration d);

}  // namespace config_rules

}  // namespace flowgate
