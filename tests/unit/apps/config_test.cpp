// The configuration file: the shipped examples parse, the defaults are the documented ones,
// every kind of mistake gives one `file:line: key: reason` error at the right line, several
// mistakes are all reported in file order, and the helpers that turn a configuration into a
// worker's stack configuration or check it against the interface.
#include "apps/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace flowgate {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// The repository root, found from this file's own path (the build passes sources by absolute
// path): tests/unit/apps/config_test.cpp is three folders below it.
std::filesystem::path repo_root() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string describe(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const ConfigError& e : errors) out += "\n  " + e.to_string();
  return out;
}

// The configuration, or a test failure listing the errors.
GatewayConfig parsed(const ConfigResult& result) {
  if (const auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
    ADD_FAILURE() << "unexpected errors:" << describe(*errors);
    return {};
  }
  return std::get<GatewayConfig>(result);
}

GatewayConfig parse_ok(const std::string& text) {
  return parsed(parse_config(text, "test.yaml"));
}

std::vector<ConfigError> parse_errors(const std::string& text) {
  const ConfigResult result = parse_config(text, "test.yaml");
  if (std::holds_alternative<GatewayConfig>(result)) {
    ADD_FAILURE() << "parsed, but errors were expected:\n" << text;
    return {};
  }
  return std::get<std::vector<ConfigError>>(result);
}

// Two lines that make a valid file; cases below add to it from line 3.
const std::string kBase = "interface: eth1\naddress: 198.18.0.1/24\n";

// ---------------------------------------------------------------------------------------------
// The examples in deploy/examples/.

TEST(ConfigExamples, FullExampleParsesAndStatesTheDefaults) {
  const auto path = repo_root() / "deploy/examples/flowgate.yaml";
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  const GatewayConfig c = parsed(load_config_file(path.string()));
  EXPECT_EQ(c.source, path.string());
  EXPECT_EQ(c.interface, "eth1");
  EXPECT_EQ(c.address.to_string(), "198.18.0.1/24");
  ASSERT_TRUE(c.gateway);
  EXPECT_EQ(c.gateway->to_string(), "198.18.0.254");
  ASSERT_TRUE(c.mac);
  EXPECT_EQ(c.mac->to_string(), "02:00:00:00:00:01");
  EXPECT_EQ(c.mtu, 1500);
  EXPECT_EQ(c.vlan, 100);
  ASSERT_EQ(c.static_arp.size(), 1u);
  EXPECT_EQ(c.static_arp[0].ip.to_string(), "198.18.0.254");
  EXPECT_EQ(c.static_arp[0].mac.to_string(), "02:00:00:00:00:fe");
  EXPECT_EQ(c.workers, 2u);
  EXPECT_FALSE(c.fault_injection) << "the example must not turn the fault injector on";

  // The example says every other value is the default: hold it to that.
  const GatewayConfig defaults;
  EXPECT_EQ(c.instance, defaults.instance);
  EXPECT_TRUE(c.queues.empty());
  EXPECT_EQ(c.backend, defaults.backend);
  EXPECT_EQ(c.xdp_mode, defaults.xdp_mode);
  EXPECT_EQ(c.xdp_force_copy, defaults.xdp_force_copy);
  EXPECT_EQ(c.worker_user, defaults.worker_user);
  EXPECT_EQ(c.drain_timeout, defaults.drain_timeout);
  EXPECT_EQ(c.watchdog_timeout, defaults.watchdog_timeout);
  EXPECT_EQ(c.umem_frames, defaults.umem_frames);
  EXPECT_EQ(c.frame_size, defaults.frame_size);
  EXPECT_EQ(c.ring_size, defaults.ring_size);
  ASSERT_TRUE(c.management);
  EXPECT_EQ(c.management->to_string(), defaults.management->to_string());
  const tcp::TcpConfig t;
  EXPECT_EQ(c.tcp.send_buffer, t.send_buffer);
  EXPECT_EQ(c.tcp.receive_buffer, t.receive_buffer);
  EXPECT_EQ(c.tcp.min_mss, t.min_mss);
  EXPECT_EQ(c.tcp.rto_initial, t.rto_initial);
  EXPECT_EQ(c.tcp.rto_min, t.rto_min);
  EXPECT_EQ(c.tcp.rto_max, t.rto_max);
  EXPECT_EQ(c.tcp.msl, t.msl);
  EXPECT_EQ(c.tcp.delayed_ack, t.delayed_ack);
  EXPECT_EQ(c.tcp.keepalive_idle, t.keepalive_idle);
  EXPECT_EQ(c.tcp.keepalive_interval, t.keepalive_interval);
  EXPECT_EQ(c.tcp.keepalive_count, t.keepalive_count);
  EXPECT_EQ(c.tcp.syn_retries, t.syn_retries);
  EXPECT_EQ(c.tcp.synack_retries, t.synack_retries);
  EXPECT_EQ(c.tcp.max_syn_backlog, t.max_syn_backlog);
  EXPECT_EQ(c.tcp.max_time_wait, t.max_time_wait);
  EXPECT_EQ(c.tcp.syn_cookies, t.syn_cookies);
  EXPECT_EQ(c.tcp.timestamps, t.timestamps);
  EXPECT_EQ(c.tcp.sack, t.sack);
  EXPECT_EQ(c.tcp.window_scaling, t.window_scaling);
  EXPECT_EQ(c.tcp.ecn, t.ecn);
  EXPECT_EQ(c.tcp.cubic, t.cubic);
  EXPECT_EQ(c.tcp.challenge_acks_per_second, t.challenge_acks_per_second);
  EXPECT_EQ(c.tcp.ooo_memory_limit, t.ooo_memory_limit);
  EXPECT_EQ(c.tcp.persist_max, t.persist_max);

  ASSERT_EQ(c.listeners.size(), 5u);
  const ListenerConfig default_listener;
  for (const ListenerConfig& l : c.listeners) {
    SCOPED_TRACE(l.name);
    if (l.protocol == ListenerProtocol::tcp) {
      EXPECT_EQ(l.backlog, default_listener.backlog);
    }
    EXPECT_EQ(l.chargen.bytes, default_listener.chargen.bytes);
  }
  EXPECT_EQ(c.listeners[4].name, "chargen");
  EXPECT_EQ(c.listeners[4].app, AppKind::chargen);
  EXPECT_EQ(c.listeners[4].port, 19);
}

// The testing section is commented out in the example (its presence turns the injector on);
// uncommented, it must parse too and give the defaults it documents.
TEST(ConfigExamples, FullExampleTestingSectionParsesWhenUncommented) {
  const std::string text = read_text(repo_root() / "deploy/examples/flowgate.yaml");
  const size_t start = text.find("\n# testing:\n");
  ASSERT_NE(start, std::string::npos);
  std::string uncommented = text.substr(0, start + 1);
  std::istringstream rest(text.substr(start + 1));
  for (std::string line; std::getline(rest, line);) {
    ASSERT_EQ(line.rfind("# ", 0), 0u) << "the testing block must end the file: " << line;
    uncommented += line.substr(2) + "\n";
  }
  const GatewayConfig c = parse_ok(uncommented);
  ASSERT_TRUE(c.fault_injection);
  const FaultInjectionConfig defaults;
  EXPECT_EQ(c.fault_injection->seed, defaults.seed);
  EXPECT_EQ(c.fault_injection->drop, 0.0);
  EXPECT_EQ(c.fault_injection->duplicate, 0.0);
  EXPECT_EQ(c.fault_injection->reorder, 0.0);
  EXPECT_EQ(c.fault_injection->corrupt, 0.0);
  EXPECT_TRUE(c.fault_injection->on_receive);
  EXPECT_TRUE(c.fault_injection->on_transmit);
}

TEST(ConfigExamples, MinimalExampleParsesWithAllDefaults) {
  const auto path = repo_root() / "deploy/examples/minimal.yaml";
  const GatewayConfig c = parsed(load_config_file(path.string()));
  const GatewayConfig defaults;
  EXPECT_EQ(c.interface, "eth1");
  EXPECT_EQ(c.address.to_string(), "198.18.0.1/24");
  EXPECT_EQ(c.instance, "default");
  EXPECT_TRUE(c.queues.empty());
  EXPECT_EQ(c.backend, LinkBackend::xdp);
  EXPECT_EQ(c.xdp_mode, XdpMode::native);
  EXPECT_FALSE(c.xdp_force_copy);
  EXPECT_FALSE(c.gateway);
  EXPECT_FALSE(c.mac);
  EXPECT_FALSE(c.mtu);
  EXPECT_FALSE(c.vlan);
  EXPECT_TRUE(c.static_arp.empty());
  EXPECT_EQ(c.workers, 1u);
  EXPECT_EQ(c.worker_user, "nobody");
  EXPECT_EQ(c.drain_timeout, seconds(5));
  EXPECT_EQ(c.watchdog_timeout, seconds(10));
  EXPECT_EQ(c.umem_frames, 16384u);
  EXPECT_EQ(c.frame_size, 4096u);
  EXPECT_EQ(c.ring_size, 2048u);
  EXPECT_EQ(c.tcp.rto_min, milliseconds(200));
  EXPECT_TRUE(c.tcp.cubic);
  EXPECT_TRUE(c.listeners.empty());
  EXPECT_FALSE(c.fault_injection);
  ASSERT_TRUE(c.management);
  EXPECT_EQ(c.management->to_string(), "127.0.0.1:9180");
}

// ---------------------------------------------------------------------------------------------
// Values that parse.

TEST(ConfigValues, ListenerDefaultsAndOnePortPerProtocol) {
  const GatewayConfig c = parse_ok(kBase +
                                   "listeners:\n"
                                   "  - name: echo\n"
                                   "    port: 7\n"
                                   "  - name: echo-udp\n"
                                   "    protocol: udp\n"
                                   "    port: 7\n"
                                   "  - name: chargen\n"
                                   "    port: 19\n"
                                   "    app: chargen\n"
                                   "    chargen: {bytes: 0}\n");
  ASSERT_EQ(c.listeners.size(), 3u);
  EXPECT_EQ(c.listeners[0].protocol, ListenerProtocol::tcp);
  EXPECT_EQ(c.listeners[0].app, AppKind::echo);
  EXPECT_EQ(c.listeners[0].backlog, 128u);
  EXPECT_EQ(c.listeners[0].line, 4);
  EXPECT_EQ(c.listeners[1].protocol, ListenerProtocol::udp);
  EXPECT_EQ(c.listeners[1].port, 7);
  EXPECT_EQ(c.listeners[2].chargen.bytes, 0u);
  EXPECT_EQ(c.line_of("listeners[1]"), 6);
  EXPECT_EQ(c.line_of("listeners[1].port"), 8);
  EXPECT_EQ(c.line_of("tcp"), 0);
}

// ---------------------------------------------------------------------------------------------
// Backend pools and proxy listeners.

const std::string kPools =
    "pools:\n"                                                              // 3
    "  - name: web\n"                                                       // 4
    "    balance: maglev\n"                                                 // 5
    "    backends:\n"                                                       // 6
    "      - {address: 198.18.0.11:80, weight: 3, max_connections: 100}\n"  // 7
    "      - {address: 198.18.0.12:80, weight: 0}\n"                        // 8
    "    health_check: {interval: 1s, timeout: 500ms, rise: 1, fall: 2}\n"  // 9
    "    passive_ejection: {failures: 5, duration: 1m}\n"                   // 10
    "  - name: api\n"                                                       // 11
    "    backends:\n"                                                       // 12
    "      - address: 198.18.0.2:8081\n";                                   // 13

TEST(ConfigValues, PoolsAndProxyListeners) {
  const GatewayConfig c = parse_ok(kBase + kPools +
                                   "listeners:\n"
                                   "  - {name: web, port: 80, app: proxy, proxy: {pool: web}}\n"
                                   "  - name: api\n"
                                   "    port: 81\n"
                                   "    app: proxy\n"
                                   "    proxy: {pool: api, connect_timeout: 250ms,\n"
                                   "            connect_attempts: 3, idle_timeout: 10s,\n"
                                   "            proxy_protocol: v2}\n");
  ASSERT_EQ(c.pools.size(), 2u);
  const PoolConfig& web = c.pools[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.balance, BalanceKind::maglev);
  ASSERT_EQ(web.backends.size(), 2u);
  EXPECT_EQ(web.backends[0].address, wire::Ipv4Address::from_octets(198, 18, 0, 11));
  EXPECT_EQ(web.backends[0].port, 80);
  EXPECT_EQ(web.backends[0].weight, 3u);
  EXPECT_EQ(web.backends[0].max_connections, 100u);
  EXPECT_EQ(web.backends[1].weight, 0u);
  ASSERT_TRUE(web.health_check);
  EXPECT_EQ(web.health_check->interval, seconds(1));
  EXPECT_EQ(web.health_check->timeout, milliseconds(500));
  EXPECT_EQ(web.health_check->rise, 1u);
  EXPECT_EQ(web.health_check->fall, 2u);
  ASSERT_TRUE(web.passive_ejection);
  EXPECT_EQ(web.passive_ejection->failures, 5u);
  EXPECT_EQ(web.passive_ejection->duration, minutes(1));
  // Defaults: round robin, weight 1, unlimited, no checks, no ejection.
  const PoolConfig& api = c.pools[1];
  EXPECT_EQ(api.balance, BalanceKind::round_robin);
  EXPECT_EQ(api.backends[0].weight, 1u);
  EXPECT_EQ(api.backends[0].max_connections, 0u);
  EXPECT_FALSE(api.health_check);
  EXPECT_FALSE(api.passive_ejection);

  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].app, AppKind::proxy);
  EXPECT_EQ(c.listeners[0].proxy.pool, "web");
  EXPECT_EQ(c.listeners[0].proxy.connect_timeout, seconds(3));
  EXPECT_EQ(c.listeners[0].proxy.connect_attempts, 2u);
  EXPECT_EQ(c.listeners[0].proxy.idle_timeout, seconds(300));
  EXPECT_EQ(c.listeners[0].proxy.proxy_protocol, ProxyProtocolVersion::none);
  EXPECT_EQ(c.listeners[1].proxy.connect_timeout, milliseconds(250));
  EXPECT_EQ(c.listeners[1].proxy.connect_attempts, 3u);
  EXPECT_EQ(c.listeners[1].proxy.idle_timeout, seconds(10));
  EXPECT_EQ(c.listeners[1].proxy.proxy_protocol, ProxyProtocolVersion::v2);
}

TEST(ConfigExamples, ProxyExampleParses) {
  const auto path = repo_root() / "deploy/examples/proxy.yaml";
  const GatewayConfig c = parsed(load_config_file(path.string()));
  ASSERT_EQ(c.pools.size(), 2u);
  EXPECT_EQ(c.pools[0].backends.size(), 3u);
  EXPECT_EQ(c.pools[0].backends[2].weight, 0u);
  EXPECT_EQ(c.pools[1].balance, BalanceKind::maglev);
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].proxy.proxy_protocol, ProxyProtocolVersion::v1);
  EXPECT_EQ(c.listeners[1].proxy.pool, "sessions");
}

TEST(ConfigExamples, HttpExampleParses) {
  const auto path = repo_root() / "deploy/examples/http.yaml";
  const GatewayConfig c = parsed(load_config_file(path.string()));
  ASSERT_EQ(c.listeners.size(), 2u);
  const HttpSettings defaults;
  const HttpSettings& site = c.listeners[0].http;
  EXPECT_EQ(c.listeners[0].app, AppKind::http);
  EXPECT_EQ(site.root, "/srv/www");
  EXPECT_EQ(site.index, defaults.index);
  EXPECT_EQ(site.request_timeout, defaults.request_timeout);
  EXPECT_EQ(site.keepalive_timeout, defaults.keepalive_timeout);
  EXPECT_EQ(site.max_header_bytes, defaults.max_header_bytes);
  EXPECT_EQ(site.max_headers, defaults.max_headers);
  EXPECT_EQ(site.max_requests_per_connection, defaults.max_requests_per_connection);
  const HttpSettings& bench = c.listeners[1].http;
  ASSERT_TRUE(bench.response);
  EXPECT_EQ(bench.response->status, 200u);
  EXPECT_EQ(bench.response->body_bytes, 1024u);
  EXPECT_EQ(bench.response->content_type, HttpResponseSettings().content_type);
  EXPECT_EQ(c.listeners[1].backlog, 1024u);
}

TEST(ConfigValues, BackendsBeyondTheSubnetNeedTheGateway) {
  const std::string pool = "pools:\n  - {name: far, backends: [{address: 10.1.2.3:80}]}\n";
  const GatewayConfig c = parse_ok(kBase + "gateway: 198.18.0.254\n" + pool);
  EXPECT_EQ(c.pools[0].backends[0].address, wire::Ipv4Address::from_octets(10, 1, 2, 3));
  const auto errors = parse_errors(kBase + pool);
  ASSERT_EQ(errors.size(), 1u) << describe(errors);
  EXPECT_EQ(errors[0].line, 4);
  EXPECT_EQ(errors[0].key, "pools[0].backends[0].address");
  EXPECT_NE(errors[0].reason.find("is outside our subnet 198.18.0.0/24 and no gateway is set"),
            std::string::npos)
      << errors[0].to_string();
}

TEST(ConfigErrors, EachBrokenPoolOrProxyListenerGivesOneErrorAtItsLine) {
  struct Case {
    const char* what;
    std::string text;
    int line;
    std::string key;
    std::string reason;
  };
  const std::string proxy80 = "listeners:\n  - {name: p, port: 80, app: proxy, proxy: {pool: ";
  const std::vector<Case> cases = {
      {"an unknown pool", kBase + kPools + proxy80 + "www}}\n", 15, "listeners[0].proxy.pool",
       "no pool is named 'www' (pools: web, api)"},
      {"a proxy listener without pools", kBase + proxy80 + "web}}\n", 4, "listeners[0].proxy.pool",
       "no pool is named 'web' (the file has no pools)"},
      {"a proxy listener without proxy settings",
       kBase + kPools + "listeners:\n  - {name: p, port: 80, app: proxy}\n", 15,
       "listeners[0].proxy", "is required for app proxy"},
      {"proxy settings on an echo listener",
       kBase + kPools + "listeners:\n  - {name: e, port: 7, proxy: {pool: web}}\n", 15,
       "listeners[0].proxy", "holds settings for app proxy, but this listener's app is echo"},
      {"a proxy over UDP",
       kBase + kPools +
           "listeners:\n  - {name: p, protocol: udp, port: 80, app: proxy, proxy: {pool: web}}\n",
       15, "listeners[0].app", "proxy is served over TCP only"},
      {"an unknown PROXY protocol version",
       kBase + kPools + proxy80 + "web, proxy_protocol: v3}}\n", 15,
       "listeners[0].proxy.proxy_protocol", "must be none, v1 or v2, got 'v3'"},
      {"connect attempts out of range", kBase + kPools + proxy80 + "web, connect_attempts: 0}}\n",
       15, "listeners[0].proxy.connect_attempts", "must be an integer from 1 to 16"},
      {"a duplicate pool name",
       kBase + "pools:\n  - {name: a, backends: [{address: 198.18.0.2:80}]}\n"
               "  - {name: a, backends: [{address: 198.18.0.3:80}]}\n",
       5, "pools[1].name", "'a' is already the name of the pool at line 4"},
      {"a duplicate backend",
       kBase + "pools:\n  - name: a\n    backends:\n      - {address: 198.18.0.2:80}\n"
               "      - {address: 198.18.0.2:80, weight: 2}\n",
       7, "pools[0].backends[1].address",
       "198.18.0.2:80 is already a backend of this pool (pools[0].backends[0], line 6)"},
      {"a backend without a port",
       kBase + "pools:\n  - {name: a, backends: [{address: 198.18.0.2}]}\n", 4,
       "pools[0].backends[0].address", "the port is missing"},
      {"a backend that is our own address",
       kBase + "pools:\n  - {name: a, backends: [{address: 198.18.0.1:80}]}\n", 4,
       "pools[0].backends[0].address", "is our own address"},
      {"a loopback backend", kBase + "pools:\n  - {name: a, backends: [{address: 127.0.0.1:80}]}\n",
       4, "pools[0].backends[0].address", "is a loopback address"},
      {"an empty backend list", kBase + "pools:\n  - {name: a, backends: []}\n", 4,
       "pools[0].backends", "must list at least one backend"},
      {"a pool without backends", kBase + "pools:\n  - name: a\n", 4, "pools[0].backends",
       "is required"},
      {"an unknown balancing rule",
       kBase +
           "pools:\n  - name: a\n    balance: random\n    backends: [{address: 198.18.0.2:80}]\n",
       5, "pools[0].balance", "must be round_robin, least_connections or maglev, got 'random'"},
      {"a weight out of range",
       kBase + "pools:\n  - {name: a, backends: [{address: 198.18.0.2:80, weight: 1001}]}\n", 4,
       "pools[0].backends[0].weight", "must be an integer from 0 to 1000"},
      {"a health check timeout beyond its interval",
       kBase + "pools:\n  - name: a\n    backends: [{address: 198.18.0.2:80}]\n"
               "    health_check:\n      interval: 1s\n      timeout: 2s\n",
       8, "pools[0].health_check.timeout", "2s must not exceed the interval (1s)"},
      {"a health check fall of zero",
       kBase + "pools:\n  - name: a\n    backends: [{address: 198.18.0.2:80}]\n"
               "    health_check: {fall: 0}\n",
       6, "pools[0].health_check.fall", "must be an integer from 1 to 100"},
      {"an unknown key in passive ejection",
       kBase + "pools:\n  - name: a\n    backends: [{address: 198.18.0.2:80}]\n"
               "    passive_ejection: {failure: 3}\n",
       6, "pools[0].passive_ejection.failure", "did you mean 'failures'?"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.what) + ":\n" + c.text);
    const std::vector<ConfigError> errors = parse_errors(c.text);
    ASSERT_EQ(errors.size(), 1u) << describe(errors);
    EXPECT_EQ(errors[0].line, c.line) << errors[0].to_string();
    EXPECT_EQ(errors[0].key, c.key) << errors[0].to_string();
    EXPECT_NE(errors[0].reason.find(c.reason), std::string::npos) << errors[0].to_string();
  }
}

TEST(ConfigValues, DurationsSizesBooleansAndChoices) {
  const GatewayConfig c = parse_ok(kBase +
                                   "xdp_mode: skb\n"
                                   "xdp_force_copy: yes\n"
                                   "drain_timeout: 0s\n"
                                   "watchdog_timeout: 0s\n"
                                   "queues: [3, 0]\n"
                                   "tcp:\n"
                                   "  rto_initial: 1500000us\n"
                                   "  rto_min: 250ms\n"
                                   "  rto_max: 3m\n"
                                   "  keepalive_idle: 1h\n"
                                   "  send_buffer: 1MiB\n"
                                   "  receive_buffer: 65536\n"
                                   "  ooo_memory_limit: 0\n"
                                   "  sack: off\n"
                                   "  congestion: newreno\n"
                                   "  max_syn_backlog: 1024\n"
                                   "  max_time_wait: 0\n");
  EXPECT_EQ(c.xdp_mode, XdpMode::skb);
  EXPECT_TRUE(c.xdp_force_copy);
  EXPECT_EQ(c.drain_timeout, Duration::zero());
  EXPECT_EQ(c.watchdog_timeout, Duration::zero());
  EXPECT_EQ(c.queues, (std::vector<uint32_t>{3, 0}));
  EXPECT_EQ(c.tcp.rto_initial, milliseconds(1500));
  EXPECT_EQ(c.tcp.rto_min, milliseconds(250));
  EXPECT_EQ(c.tcp.rto_max, minutes(3));
  EXPECT_EQ(c.tcp.keepalive_idle, hours(1));
  EXPECT_EQ(c.tcp.send_buffer, 1024u * 1024);
  EXPECT_EQ(c.tcp.receive_buffer, 65536u);
  EXPECT_EQ(c.tcp.ooo_memory_limit, 0u);
  EXPECT_FALSE(c.tcp.sack);
  EXPECT_FALSE(c.tcp.cubic);
  EXPECT_EQ(c.tcp.max_syn_backlog, 1024u);
  EXPECT_EQ(c.tcp.max_time_wait, 0u);
}

TEST(ConfigValues, FaultInjectionIsOnWhenPresentAndDirectionSelectsTheSides) {
  EXPECT_FALSE(parse_ok(kBase).fault_injection);
  EXPECT_TRUE(parse_ok(kBase + "testing:\n  fault_injection: {}\n").fault_injection);
  const GatewayConfig c = parse_ok(kBase +
                                   "testing:\n"
                                   "  fault_injection:\n"
                                   "    seed: 18446744073709551615\n"
                                   "    drop: 0.05\n"
                                   "    duplicate: 1\n"
                                   "    reorder: 1e-3\n"
                                   "    corrupt: 0\n"
                                   "    direction: transmit\n");
  ASSERT_TRUE(c.fault_injection);
  EXPECT_EQ(c.fault_injection->seed, UINT64_MAX);
  EXPECT_DOUBLE_EQ(c.fault_injection->drop, 0.05);
  EXPECT_DOUBLE_EQ(c.fault_injection->duplicate, 1.0);
  EXPECT_DOUBLE_EQ(c.fault_injection->reorder, 0.001);
  EXPECT_FALSE(c.fault_injection->on_receive);
  EXPECT_TRUE(c.fault_injection->on_transmit);
}

TEST(ConfigValues, PointToPointPrefixesHaveNoNetworkOrBroadcastAddress) {
  // RFC 3021: on a /31 both addresses are hosts.
  const GatewayConfig c =
      parse_ok("interface: eth1\naddress: 198.18.0.0/31\ngateway: 198.18.0.1\n");
  EXPECT_EQ(c.gateway->to_string(), "198.18.0.1");
  parse_ok("interface: eth1\naddress: 198.18.0.7/32\n");
}

// ---------------------------------------------------------------------------------------------
// Broken files: each gives exactly one error, at this line, for this key, with this reason.

struct BrokenCase {
  const char* what;
  std::string text;
  int line;
  std::string key;
  std::string reason;  // a substring of the reason
};

const std::vector<BrokenCase>& broken_cases() {
  static const std::vector<BrokenCase> cases = {
      {"unknown key at the top level, with a suggestion", kBase + "workres: 2\n", 3, "workres",
       "unknown key (did you mean 'workers'? known keys: instance, interface,"},
      {"unknown key in a section", kBase + "tcp:\n  sack: true\n  rto_minimum: 1s\n", 5,
       "tcp.rto_minimum", "unknown key (known keys: send_buffer,"},
      {"unknown key in a listener",
       kBase + "listeners:\n  - name: echo\n    port: 7\n    bakclog: 10\n", 6,
       "listeners[0].bakclog", "did you mean 'backlog'?"},
      {"unknown key in the fault injector", kBase + "testing:\n  fault_injection:\n    loss: 0.1\n",
       5, "testing.fault_injection.loss", "unknown key (known keys: seed, drop, duplicate,"},
      {"a list where a map is expected", kBase + "tcp: [1, 2]\n", 3, "tcp",
       "must be a map of TCP settings, got a list"},
      {"a map where a list is expected", kBase + "listeners:\n  name: echo\n", 3, "listeners",
       "must be a list of listeners, got a map"},
      {"a list where a number is expected", kBase + "workers: [2]\n", 3, "workers",
       "must be an integer from 1 to 64, got a list"},
      {"a listener that is not a map", kBase + "listeners:\n  - echo\n", 4, "listeners[0]",
       "must be a map with name, port and app"},
      {"a port that is a name", kBase + "listeners:\n  - name: web\n    port: http\n", 5,
       "listeners[0].port", "must be an integer from 1 to 65535, got 'http'"},
      {"a port out of range", kBase + "listeners:\n  - name: web\n    port: 70000\n", 5,
       "listeners[0].port", "must be an integer from 1 to 65535, got '70000'"},
      {"a TIME-WAIT limit out of range", kBase + "tcp:\n  max_time_wait: 16777217\n", 4,
       "tcp.max_time_wait", "must be an integer from 0 to 16777216, got '16777217'"},
      {"an MTU out of range", kBase + "mtu: 67\n", 3, "mtu",
       "must be an integer from 68 to 9000, got '67'"},
      {"a VLAN out of range", kBase + "vlan: 4095\n", 3, "vlan",
       "must be an integer from 1 to 4094, got '4095'"},
      {"a number with a leading zero", kBase + "workers: 08\n", 3, "workers", "no leading zeros"},
      {"a duplicate TCP port",
       kBase + "listeners:\n  - name: echo\n    port: 7\n  - name: other\n    port: 7\n", 7,
       "listeners[1].port", "TCP port 7 is already used by listener 'echo' (line 5)"},
      {"a duplicate UDP port",
       kBase + "listeners:\n  - {name: a, protocol: udp, port: 9}\n"
               "  - {name: b, protocol: udp, port: 9, app: discard}\n",
       5, "listeners[1].port", "UDP port 9 is already used by listener 'a' (line 4)"},
      {"a duplicate listener name",
       kBase + "listeners:\n  - name: echo\n    port: 7\n  - name: echo\n    port: 8\n", 6,
       "listeners[1].name", "'echo' is already the name of listeners[0] (line 4)"},
      {"a listener name with capitals", kBase + "listeners:\n  - name: Echo\n    port: 7\n", 4,
       "listeners[0].name", "must be a listener name: 1-32 characters of a-z, 0-9"},
      {"a gateway outside the subnet", kBase + "gateway: 10.0.0.1\n", 3, "gateway",
       "must be another host of our subnet, but 10.0.0.1 is outside our subnet "
       "198.18.0.0/24"},
      {"our own address as gateway", kBase + "gateway: 198.18.0.1\n", 3, "gateway",
       "is our own address"},
      {"a gateway with a prefix", kBase + "gateway: 198.18.0.254/24\n", 3, "gateway",
       "(one host: no prefix length)"},
      {"a watchdog under a second", kBase + "watchdog_timeout: 500ms\n", 3, "watchdog_timeout",
       "must be 0s (no watchdog) or from 1s to 1h, got 500ms"},
      {"a watchdog over an hour", kBase + "watchdog_timeout: 2h\n", 3, "watchdog_timeout",
       "must be a duration from 0s to 1h"},
      {"a duration without a unit", kBase + "drain_timeout: 5\n", 3, "drain_timeout",
       "got '5' (a plain number has no unit: write 5s or 5ms)"},
      {"a duration with an unknown unit", kBase + "tcp:\n  msl: 2d\n", 4, "tcp.msl",
       "must be a duration from 1ms to 10m, a whole number with a unit (us, ms, s, m, h)"},
      {"a fractional duration", kBase + "tcp:\n  rto_initial: 1.5s\n", 4, "tcp.rto_initial",
       "whole numbers only"},
      {"a delayed ACK of half a second", kBase + "tcp:\n  delayed_ack: 500001us\n", 4,
       "tcp.delayed_ack", "from 1ms to 500ms"},
      {"a malformed MAC", kBase + "mac: 02:00:00:00:00\n", 3, "mac",
       "must be a MAC address, six hex pairs like 02:00:00:00:00:01, got '02:00:00:00:00'"},
      {"a multicast MAC", kBase + "mac: 01:00:5e:00:00:01\n", 3, "mac",
       "must be a unicast MAC address, but '01:00:5e:00:00:01' is a multicast address"},
      {"chargen over UDP",
       kBase + "listeners:\n  - name: cg\n    protocol: udp\n    port: 19\n    app: chargen\n", 7,
       "listeners[0].app", "chargen is served over TCP only"},
      {"a backlog on a UDP listener",
       kBase + "listeners:\n  - name: u\n    protocol: udp\n    port: 7\n    backlog: 10\n", 7,
       "listeners[0].backlog", "applies to TCP listeners only"},
      {"chargen settings on an echo listener",
       kBase + "listeners:\n  - name: e\n    port: 7\n    app: echo\n    chargen:\n"
               "      bytes: 10\n",
       7, "listeners[0].chargen",
       "holds settings for app chargen, but this listener's app is echo"},
      {"a missing interface", "address: 198.18.0.1/24\nworkers: 1\n", 1, "interface",
       "is required"},
      {"a missing address", "# a comment first\ninterface: eth1\n", 2, "address", "is required"},
      {"a listener without a name", kBase + "listeners:\n  - port: 7\n", 4, "listeners[0].name",
       "is required"},
      {"a listener without a port", kBase + "listeners:\n  - name: x\n    app: discard\n", 4,
       "listeners[0].port", "is required"},
      {"a static neighbour without a MAC", kBase + "static_arp:\n  - ip: 198.18.0.2\n", 4,
       "static_arp[0].mac", "is required"},
      {"a YAML syntax error", "interface: eth1\n  address: 198.18.0.1/24\n", 2, "",
       "YAML syntax error"},
      {"tabs for indentation", kBase + "tcp:\n\tsack: true\n", 4, "",
       "YAML indentation must be spaces"},
      {"an empty file", "", 0, "", "the file is empty"},
      {"a file of comments only", "# nothing here\n\n", 0, "", "the file is empty"},
      {"a list at the top level", "- interface: eth1\n", 1, "",
       "the file must be a map of settings"},
      {"a key given twice", kBase + "workers: 2\nworkers: 3\n", 4, "workers",
       "is given twice (first at line 3)"},
      {"two YAML documents", kBase + "---\nworkers: 2\n", 4, "",
       "a second YAML document starts here"},
      {"a UMEM too small for the rings", kBase + "workers: 4\n", 3, "umem.frames",
       "16384 frames (the default) are too few for 4 workers and 1 NIC queue with ring_size "
       "2048: every ring full at once needs ring_size x 2 x (workers + queues) = 20480"},
      {"a UMEM too small, blamed on umem.frames",
       kBase + "umem:\n  frames: 4096\nring_size: 1024\nqueues: [0, 1]\n", 4, "umem.frames",
       "set umem.frames: 8192"},
      {"UMEM frames not a power of two", kBase + "umem:\n  frames: 10000\n", 4, "umem.frames",
       "must be a power of two from 1024 to 262144, got '10000'"},
      {"a frame size the UMEM cannot use", kBase + "umem:\n  frame_size: 1024\n", 4,
       "umem.frame_size", "must be 2048 or 4096, got '1024'"},
      {"a ring size not a power of two", kBase + "ring_size: 100\n", 3, "ring_size",
       "must be a power of two from 64 to 16384, got '100'"},
      {"an MTU larger than a frame holds", kBase + "mtu: 1800\numem:\n  frame_size: 2048\n", 3,
       "mtu", "1800 does not fit a UMEM frame of 2048 bytes, which holds an MTU of at most 1778"},
      {"the network address as ours", "interface: eth1\naddress: 198.18.0.0/24\n", 2, "address",
       "is the network address of 198.18.0.0/24"},
      {"the broadcast address as ours", "interface: eth1\naddress: 198.18.0.255/24\n", 2, "address",
       "is the broadcast address of 198.18.0.0/24"},
      {"an address without a prefix", "interface: eth1\naddress: 198.18.0.1\n", 2, "address",
       "must be an IPv4 address with a prefix length 1-32, like 198.18.0.1/24"},
      {"an interface name too long", "interface: abcdefghijklmnop\naddress: 198.18.0.1/24\n", 1,
       "interface", "must be a network interface name: 1-15 characters"},
      {"a duplicate static neighbour",
       kBase + "static_arp:\n  - {ip: 198.18.0.2, mac: 02:00:00:00:00:02}\n"
               "  - {ip: 198.18.0.2, mac: 02:00:00:00:00:03}\n",
       5, "static_arp[1].ip", "198.18.0.2 is already listed (static_arp[0], line 4)"},
      {"a static neighbour outside the subnet",
       kBase + "static_arp:\n  - ip: 10.0.0.2\n    mac: 02:00:00:00:00:02\n", 4, "static_arp[0].ip",
       "is outside our subnet 198.18.0.0/24"},
      {"a queue listed twice", kBase + "queues:\n  - 0\n  - 0\n", 5, "queues[1]",
       "queue 0 is already listed (queues[0], line 4)"},
      {"a queue out of range", kBase + "queues: [64]\n", 3, "queues[0]",
       "must be an integer from 0 to 63, got '64'"},
      {"queues neither all nor a list", kBase + "queues: some\n", 3, "queues",
       "must be 'all' or a list of queue numbers 0-63"},
      {"an XDP mode on the AF_PACKET backend", kBase + "backend: af_packet\nxdp_mode: skb\n", 4,
       "xdp_mode", "applies to backend xdp only, and backend is af_packet (line 3)"},
      {"an unknown backend", kBase + "backend: dpdk\n", 3, "backend",
       "must be xdp or af_packet, got 'dpdk'"},
      {"rto_min above rto_initial", kBase + "tcp:\n  rto_min: 2s\n", 4, "tcp.rto_min",
       "rto_min (2s) must not exceed rto_initial (1s)"},
      {"a min_mss the MTU cannot carry", kBase + "mtu: 576\ntcp:\n  min_mss: 1460\n", 5,
       "tcp.min_mss", "lower tcp.min_mss to 536 or raise mtu"},
      {"a send buffer too small", kBase + "tcp:\n  send_buffer: 1KiB\n", 4, "tcp.send_buffer",
       "must be a size in bytes from 4KiB to 64MiB"},
      {"an unknown congestion control", kBase + "tcp:\n  congestion: bbr\n", 4, "tcp.congestion",
       "must be cubic or newreno, got 'bbr'"},
      {"a boolean that is not", kBase + "tcp:\n  sack: maybe\n", 4, "tcp.sack",
       "must be true or false, got 'maybe'"},
      {"a probability above 1", kBase + "testing:\n  fault_injection:\n    drop: 1.5\n", 5,
       "testing.fault_injection.drop", "must be a probability from 0 to 1, like 0.01, got '1.5'"},
      {"an unknown direction", kBase + "testing:\n  fault_injection:\n    direction: sideways\n", 5,
       "testing.fault_injection.direction", "must be receive, transmit or both, got 'sideways'"},
      {"an instance name with spaces", "instance: my gw\n" + kBase, 1, "instance",
       "must be an instance name: 1-32 characters of a-z, 0-9, '_' and '-', got 'my gw'"},
      {"a worker user with capitals", kBase + "worker_user: Nobody\n", 3, "worker_user",
       "must be a user name"},
      {"a required value left empty", "interface:\naddress: 198.18.0.1/24\n", 1, "interface",
       "got nothing"},
  };
  return cases;
}

TEST(ConfigErrors, EachBrokenFileGivesOneErrorAtItsLine) {
  ASSERT_GE(broken_cases().size(), 25u);
  for (const BrokenCase& c : broken_cases()) {
    SCOPED_TRACE(std::string(c.what) + ":\n" + c.text);
    const std::vector<ConfigError> errors = parse_errors(c.text);
    ASSERT_EQ(errors.size(), 1u) << describe(errors);
    const ConfigError& e = errors[0];
    EXPECT_EQ(e.file, "test.yaml");
    EXPECT_EQ(e.line, c.line) << e.to_string();
    EXPECT_EQ(e.key, c.key) << e.to_string();
    EXPECT_NE(e.reason.find(c.reason), std::string::npos) << e.to_string();
  }
}

TEST(ConfigErrors, AllErrorsOfAFileAreReportedInFileOrder) {
  // Line by line: 1 fine, 2 cross-check (gateway, found after the pass), 3 unknown key, 4-5
  // fine, 6 bad duration, 8 duplicate port, 9 bad probability... and a missing required key
  // that belongs to the top-level map (line 1).
  const std::string text =
      "address: 198.18.0.1/24\n"  // 1 (interface missing: reported here)
      "gateway: 198.19.0.1\n"     // 2
      "wokers: 2\n"               // 3
      "tcp:\n"                    // 4
      "  sack: true\n"            // 5
      "  msl: 30\n"               // 6
      "listeners:\n"              // 7
      "  - {name: a, port: 7}\n"  // 8
      "  - {name: b, port: 7}\n"  // 9
      "testing:\n"                // 10
      "  fault_injection:\n"      // 11
      "    corrupt: -0.1\n";      // 12
  const std::vector<ConfigError> errors = parse_errors(text);
  std::vector<std::pair<int, std::string>> got;
  for (const ConfigError& e : errors) got.emplace_back(e.line, e.key);
  const std::vector<std::pair<int, std::string>> want = {
      {1, "interface"}, {2, "gateway"},           {3, "wokers"},
      {6, "tcp.msl"},   {9, "listeners[1].port"}, {12, "testing.fault_injection.corrupt"},
  };
  EXPECT_EQ(got, want) << describe(errors);
}

TEST(ConfigErrors, OneMistakeDoesNotCascade) {
  // A broken address hides no other error but causes none either: the gateway and static
  // neighbours cannot be checked against it, so they are not reported.
  const std::vector<ConfigError> errors = parse_errors(
      "interface: eth1\naddress: 198.18.0.0/24\ngateway: 10.0.0.1\n"
      "static_arp:\n  - {ip: 10.0.0.2, mac: 02:00:00:00:00:02}\n");
  ASSERT_EQ(errors.size(), 1u) << describe(errors);
  EXPECT_EQ(errors[0].key, "address");

  // A broken umem section does not also give "too few frames" computed from defaults.
  const std::vector<ConfigError> umem = parse_errors(kBase + "workers: 8\numem: [1]\n");
  ASSERT_EQ(umem.size(), 1u) << describe(umem);
  EXPECT_EQ(umem[0].key, "umem");

  // A broken rto_min is not compared with rto_initial through its default (200ms)...
  const std::vector<ConfigError> rto =
      parse_errors(kBase + "tcp:\n  rto_min: fast\n  rto_initial: 100ms\n");
  ASSERT_EQ(rto.size(), 1u) << describe(rto);
  EXPECT_EQ(rto[0].key, "tcp.rto_min");
  // ...but an unknown key beside them hides no real mistake.
  const std::vector<ConfigError> both =
      parse_errors(kBase + "tcp:\n  rto_mni: 2s\n  rto_initial: 100ms\n");
  ASSERT_EQ(both.size(), 2u) << describe(both);
  EXPECT_EQ(both[0].key, "tcp.rto_mni");
  EXPECT_EQ(both[1].key, "tcp.rto_initial");
}

TEST(ConfigErrors, NothingThrowsWhateverTheInput) {
  const std::vector<std::string> inputs = {
      std::string("\0\1\2\xff", 4),
      "interface: [",
      "? [a, b]\n: c\n",
      "a: &x 1\nb: *y\n",
      std::string(5000, '[') + std::string(5000, ']'),
      "interface: eth1\naddress: 198.18.0.1/24\nlisteners:\n  - !!binary aGVsbG8=\n",
      "interface: {a: {b: {c: [1, {d: 2}]}}}\naddress: 198.18.0.1/24\n",
      "~: 1\n",
      "'': 2\n",
  };
  for (const std::string& text : inputs) {
    SCOPED_TRACE(text.substr(0, 60));
    ConfigResult result;
    EXPECT_NO_THROW(result = parse_config(text, "fuzz.yaml"));
    ASSERT_TRUE(std::holds_alternative<std::vector<ConfigError>>(result));
    EXPECT_FALSE(std::get<std::vector<ConfigError>>(result).empty());
  }
}

TEST(ConfigErrors, ToStringNamesFileLineAndKey) {
  EXPECT_EQ((ConfigError{"f.yaml", 3, "tcp.rto_min", "is wrong"}).to_string(),
            "f.yaml:3: tcp.rto_min: is wrong");
  EXPECT_EQ((ConfigError{"f.yaml", 2, "", "YAML syntax error: x"}).to_string(),
            "f.yaml:2: YAML syntax error: x");
  EXPECT_EQ((ConfigError{"f.yaml", 0, "", "the file is empty"}).to_string(),
            "f.yaml: the file is empty");
}

TEST(ConfigErrors, AMissingFileIsOneErrorNamingIt) {
  const ConfigResult result = load_config_file("/nonexistent/flowgate.yaml");
  ASSERT_TRUE(std::holds_alternative<std::vector<ConfigError>>(result));
  const auto& errors = std::get<std::vector<ConfigError>>(result);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].to_string(),
            "/nonexistent/flowgate.yaml: cannot open: No such file or directory");
}

// ---------------------------------------------------------------------------------------------
// `flowgate check`.

std::string contents(std::FILE* f) {
  std::rewind(f);
  std::string out;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) out.append(buffer, n);
  return out;
}

class CheckCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = std::tmpfile();
    err_ = std::tmpfile();
    ASSERT_TRUE(out_ && err_);
    std::string pattern =
        (std::filesystem::temp_directory_path() / "flowgate_config_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    if (out_) std::fclose(out_);
    if (err_) std::fclose(err_);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  std::FILE* out_ = nullptr;
  std::FILE* err_ = nullptr;
  std::filesystem::path dir_;
};

TEST_F(CheckCommand, PrintsOneSummaryLineForAGoodFile) {
  const std::string path = write("flowgate.yaml",
                                 "interface: eth1\n"
                                 "address: 198.18.0.1/24\n"
                                 "workers: 2\n"
                                 "listeners:\n"
                                 "  - {name: echo, port: 7}\n"
                                 "  - {name: echo-udp, protocol: udp, port: 7}\n"
                                 "  - {name: discard, port: 9, app: discard}\n");
  EXPECT_EQ(check_config_command(path, out_, err_), 0);
  EXPECT_EQ(contents(out_), path +
                                ": ok: interface eth1, 198.18.0.1/24, 2 workers, 3 listeners "
                                "(tcp/7 echo, udp/7 echo, tcp/9 discard)\n");
  EXPECT_EQ(contents(err_), "");
}

TEST_F(CheckCommand, SaysWhenTheFaultInjectorIsOn) {
  const std::string path = write("t.yaml", kBase + "testing:\n  fault_injection:\n    drop: 0.1\n");
  EXPECT_EQ(check_config_command(path, out_, err_), 0);
  EXPECT_EQ(contents(out_), path +
                                ": ok: interface eth1, 198.18.0.1/24, 1 worker, no listeners, "
                                "testing.fault_injection ON\n");
}

TEST_F(CheckCommand, PrintsEveryErrorAndFails) {
  const std::string path = write("bad.yaml", "interface: eth1\nmtu: 10\nvlan: 0\n");
  EXPECT_EQ(check_config_command(path, out_, err_), 1);
  EXPECT_EQ(contents(out_), "");
  EXPECT_EQ(contents(err_),
            path +
                ":1: address: is required: our IPv4 address and subnet, like `address: "
                "198.18.0.1/24`\n" +
                path + ":2: mtu: must be an integer from 68 to 9000, got '10'\n" + path +
                ":3: vlan: must be an integer from 1 to 4094, got '0'\n");
}

// ---------------------------------------------------------------------------------------------
// After loading: the worker's stack configuration and the checks against the interface.

// ---------------------------------------------------------------------------------------------
// The http app's settings.

TEST(ConfigHttp, RootListenerWithDefaults) {
  const GatewayConfig c = parse_ok(kBase +
                                   "listeners:\n"
                                   "  - name: web\n"
                                   "    port: 80\n"
                                   "    app: http\n"
                                   "    http: {root: /srv/www}\n");
  ASSERT_EQ(c.listeners.size(), 1u);
  const ListenerConfig& l = c.listeners[0];
  EXPECT_EQ(l.app, AppKind::http);
  EXPECT_EQ(l.http.root, "/srv/www");
  EXPECT_EQ(l.http.index, "index.html");
  EXPECT_FALSE(l.http.response);
  EXPECT_EQ(l.http.request_timeout, seconds(10));
  EXPECT_EQ(l.http.keepalive_timeout, seconds(60));
  EXPECT_EQ(l.http.max_header_bytes, 8192u);
  EXPECT_EQ(l.http.max_headers, 100u);
  EXPECT_EQ(l.http.max_requests_per_connection, 0u);
}

TEST(ConfigHttp, FixedResponseListenerWithEveryKey) {
  const GatewayConfig c = parse_ok(kBase +
                                   "listeners:\n"
                                   "  - name: bench\n"
                                   "    port: 8080\n"
                                   "    app: http\n"
                                   "    http:\n"
                                   "      response:\n"
                                   "        status: 503\n"
                                   "        body_bytes: 4KiB\n"
                                   "        content_type: application/octet-stream\n"
                                   "      request_timeout: 500ms\n"
                                   "      keepalive_timeout: 0s\n"
                                   "      max_header_bytes: 16KiB\n"
                                   "      max_headers: 20\n"
                                   "      max_requests_per_connection: 1000\n"
                                   "  - name: hello\n"
                                   "    port: 8081\n"
                                   "    app: http\n"
                                   "    http: {response: {body: \"hello\\n\"}}\n");
  const HttpSettings& h = c.listeners[0].http;
  ASSERT_TRUE(h.response);
  EXPECT_EQ(h.response->status, 503u);
  EXPECT_EQ(h.response->body_bytes, 4096u);
  EXPECT_EQ(h.response->content_type, "application/octet-stream");
  EXPECT_EQ(h.request_timeout, milliseconds(500));
  EXPECT_EQ(h.keepalive_timeout, seconds(0));
  EXPECT_EQ(h.max_header_bytes, 16384u);
  EXPECT_EQ(h.max_headers, 20u);
  EXPECT_EQ(h.max_requests_per_connection, 1000u);
  const HttpSettings& hello = c.listeners[1].http;
  ASSERT_TRUE(hello.response);
  EXPECT_EQ(hello.response->status, 200u);
  EXPECT_EQ(hello.response->body, "hello\n");
  EXPECT_FALSE(hello.response->body_bytes);
  EXPECT_EQ(hello.response->content_type, "text/plain; charset=utf-8");
}

TEST(ConfigHttp, EachMistakeGivesOneErrorAtItsLine) {
  // Lines 3-5 start every listener: `listeners:`, `- name: w`, `port: 80`.
  const std::string head = kBase + "listeners:\n  - name: w\n    port: 80\n";
  const std::vector<BrokenCase> cases = {
      {"http over UDP", head + "    protocol: udp\n    app: http\n    http: {root: /srv}\n", 7,
       "listeners[0].app", "http is served over TCP only"},
      {"app http without settings", head + "    app: http\n", 4, "listeners[0].http",
       "is required for app http: root (a directory of static files) or response"},
      {"neither root nor response", head + "    app: http\n    http: {index: a.html}\n", 7,
       "listeners[0].http", "needs root (a directory of static files) or response"},
      {"both root and response",
       head + "    app: http\n    http:\n      root: /srv\n      response: {body: x}\n", 9,
       "listeners[0].http.response", "root (line 8) and response (line 9) exclude each other"},
      {"a relative root", head + "    app: http\n    http: {root: srv/www}\n", 7,
       "listeners[0].http.root", "must be an absolute path to a directory, like /srv/www"},
      {"an index with a slash", head + "    app: http\n    http: {root: /srv, index: a/b}\n", 7,
       "listeners[0].http.index", "must be a file name (no '/')"},
      {"an index for a fixed response",
       head + "    app: http\n    http:\n      response: {body: x}\n      index: i.html\n", 9,
       "listeners[0].http.index", "applies to root only"},
      {"body and body_bytes",
       head + "    app: http\n    http:\n      response:\n        body: x\n"
              "        body_bytes: 10\n",
       10, "listeners[0].http.response.body_bytes", "body and body_bytes exclude each other"},
      {"a status out of range", head + "    app: http\n    http: {response: {status: 700}}\n", 7,
       "listeners[0].http.response.status", "must be an integer from 200 to 599, got '700'"},
      {"content in a 204", head + "    app: http\n    http: {response: {status: 204, body: x}}\n",
       7, "listeners[0].http.response.body", "a 204 (No Content) response cannot have content"},
      {"a body too large", head + "    app: http\n    http: {response: {body_bytes: 65MiB}}\n", 7,
       "listeners[0].http.response.body_bytes", "must be a size in bytes from 0 to 64MiB"},
      {"an empty content type", head + "    app: http\n    http: {response: {content_type: ''}}\n",
       7, "listeners[0].http.response.content_type", "must be a media type"},
      {"a zero request timeout",
       head + "    app: http\n    http: {root: /srv, request_timeout: 0s}\n", 7,
       "listeners[0].http.request_timeout", "must be a duration from 1ms to 1h"},
      {"a keepalive timeout without a unit",
       head + "    app: http\n    http: {root: /srv, keepalive_timeout: 60}\n", 7,
       "listeners[0].http.keepalive_timeout", "a plain number has no unit"},
      {"a header limit too small",
       head + "    app: http\n    http: {root: /srv, max_header_bytes: 100}\n", 7,
       "listeners[0].http.max_header_bytes", "must be a size in bytes from 1KiB to 1MiB"},
      {"no headers allowed", head + "    app: http\n    http: {root: /srv, max_headers: 0}\n", 7,
       "listeners[0].http.max_headers", "must be an integer from 1 to 10000"},
      {"a negative request limit",
       head + "    app: http\n    http: {root: /srv, max_requests_per_connection: -1}\n", 7,
       "listeners[0].http.max_requests_per_connection", "must be an integer from 0 to 4294967295"},
      {"a misspelt key", head + "    app: http\n    http: {roots: /srv}\n", 7,
       "listeners[0].http.roots", "unknown key (did you mean 'root'?"},
      {"http settings on an echo listener", head + "    app: echo\n    http: {root: /srv}\n", 7,
       "listeners[0].http", "holds settings for app http, but this listener's app is echo"},
      {"http settings on a default listener", head + "    http: {root: /srv}\n", 6,
       "listeners[0].http", "this listener's app is echo (the default)"},
      {"an unknown app", head + "    app: gopher\n", 6, "listeners[0].app",
       "must be echo, discard, chargen, proxy or http, got 'gopher'"},
  };
  for (const BrokenCase& c : cases) {
    SCOPED_TRACE(std::string(c.what) + ":\n" + c.text);
    const std::vector<ConfigError> errors = parse_errors(c.text);
    ASSERT_EQ(errors.size(), 1u) << describe(errors);
    const ConfigError& e = errors[0];
    EXPECT_EQ(e.line, c.line) << e.to_string();
    EXPECT_EQ(e.key, c.key) << e.to_string();
    EXPECT_NE(e.reason.find(c.reason), std::string::npos) << e.to_string();
  }
}

TEST(StackConfigFor, TakesTheFileAndFallsBackToTheInterface) {
  const auto interface_mac = *wire::MacAddress::parse("02:aa:00:00:00:01");
  GatewayConfig c = parse_ok(kBase +
                             "gateway: 198.18.0.254\n"
                             "vlan: 7\n"
                             "static_arp:\n  - {ip: 198.18.0.9, mac: 02:00:00:00:00:09}\n"
                             "tcp:\n  msl: 1s\n  ecn: true\n");
  StackConfig s = stack_config_for(c, interface_mac, 1400);
  EXPECT_EQ(s.mac, interface_mac);
  EXPECT_EQ(s.mtu, 1400);
  EXPECT_EQ(s.address.to_string(), "198.18.0.1/24");
  EXPECT_EQ(s.gateway->to_string(), "198.18.0.254");
  EXPECT_EQ(s.vlan_id, 7);
  ASSERT_EQ(s.arp.static_entries.size(), 1u);
  EXPECT_EQ(s.arp.static_entries[0].ip.to_string(), "198.18.0.9");
  EXPECT_EQ(s.tcp.msl, seconds(1));
  EXPECT_TRUE(s.tcp.ecn);

  c = parse_ok(kBase + "mac: 02:00:00:00:00:05\nmtu: 1280\n");
  s = stack_config_for(c, interface_mac, 1500);
  EXPECT_EQ(s.mac.to_string(), "02:00:00:00:00:05");
  EXPECT_EQ(s.mtu, 1280);
  EXPECT_FALSE(s.gateway);
  EXPECT_FALSE(s.vlan_id);
}

TEST(CheckAgainstInterface, ReportsWhatOnlyTheInterfaceReveals) {
  EXPECT_TRUE(check_against_interface(parse_ok(kBase), InterfaceFacts{1500, 1}).empty());

  const GatewayConfig listed = parse_ok(kBase + "queues: [0, 4]\nmtu: 1500\n");
  auto errors = check_against_interface(listed, InterfaceFacts{1400, 4});
  ASSERT_EQ(errors.size(), 2u) << describe(errors);
  EXPECT_EQ(errors[0].to_string(),
            "test.yaml:3: queues[1]: queue 4 does not exist: eth1 has 4 RX queues (0-3)");
  EXPECT_EQ(errors[1].to_string(),
            "test.yaml:4: mtu: 1500 is larger than the MTU of eth1 (1400); lower it or raise the "
            "interface's");

  // queues: all on a NIC with 8 queues: 2048 x 2 x (1 + 8) = 36864 frames.
  errors = check_against_interface(parse_ok(kBase), InterfaceFacts{1500, 8});
  ASSERT_EQ(errors.size(), 1u) << describe(errors);
  EXPECT_EQ(errors[0].key, "umem.frames");
  EXPECT_NE(errors[0].reason.find("at least 36864"), std::string::npos) << errors[0].reason;

  // A jumbo interface MTU that a 4096-byte frame cannot hold, with no mtu in the file.
  errors = check_against_interface(parse_ok(kBase), InterfaceFacts{9000, 1});
  ASSERT_EQ(errors.size(), 1u) << describe(errors);
  EXPECT_EQ(errors[0].key, "umem.frame_size");
  EXPECT_NE(errors[0].reason.find("set mtu: 3826"), std::string::npos) << errors[0].reason;
}

TEST(FrameBudget, RingsAndFrames) {
  EXPECT_EQ(min_umem_frames(1, 2048, 1), 8192u);
  EXPECT_EQ(min_umem_frames(64, 16384, 64), 4194304u);
  EXPECT_EQ(max_mtu_for_frame_size(4096, false), 3826u);
  EXPECT_EQ(max_mtu_for_frame_size(4096, true), 3822u);
  EXPECT_EQ(max_mtu_for_frame_size(2048, false), 1778u);
  // The defaults serve three workers on one queue.
  const GatewayConfig defaults;
  EXPECT_LE(min_umem_frames(3, defaults.ring_size, 1), defaults.umem_frames);
  EXPECT_GT(min_umem_frames(4, defaults.ring_size, 1), defaults.umem_frames);
}

// ---------------------------------------------------------------------------------------------
// The rules shared with the command line.

TEST(ConfigRules, Durations) {
  using config_rules::format_duration;
  using config_rules::parse_duration;
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("5s"), seconds(5));
  EXPECT_EQ(parse_duration("2m"), minutes(2));
  EXPECT_EQ(parse_duration("3h"), hours(3));
  EXPECT_EQ(parse_duration("10us"), microseconds(10));
  EXPECT_EQ(parse_duration("0s"), Duration::zero());
  for (const char* bad :
       {"", "5", "s", "5 s", "-5s", "5S", "1.5s", "05s", "5sec", "5ns", "9999999999999h"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
  EXPECT_EQ(format_duration(seconds(120)), "2m");
  EXPECT_EQ(format_duration(milliseconds(200)), "200ms");
  EXPECT_EQ(format_duration(microseconds(1500)), "1500us");
  EXPECT_EQ(format_duration(Duration::zero()), "0s");
}

TEST(ConfigRules, NumbersNamesAndAddresses) {
  using namespace config_rules;
  EXPECT_EQ(parse_decimal("0", 0, 10), 0u);
  EXPECT_EQ(parse_decimal("18446744073709551615", 0, UINT64_MAX), UINT64_MAX);
  EXPECT_FALSE(parse_decimal("18446744073709551616", 0, UINT64_MAX));
  EXPECT_FALSE(parse_decimal("+1", 0, 10));
  EXPECT_FALSE(parse_decimal("01", 0, 10));
  EXPECT_FALSE(parse_decimal("11", 0, 10));

  EXPECT_TRUE(is_interface_name("eth1"));
  EXPECT_TRUE(is_interface_name("fg1a2b3c-gw"));
  EXPECT_TRUE(is_interface_name("abcdefghijklmno"));  // 15
  EXPECT_FALSE(is_interface_name("abcdefghijklmnop"));
  for (const char* bad : {"", ".", "..", "a/b", "a:b", "a b"}) EXPECT_FALSE(is_interface_name(bad));

  auto cidr = [](const char* text) { return *wire::Ipv4Cidr::parse(text); };
  EXPECT_FALSE(host_address_problem(cidr("198.18.0.1/24")));
  EXPECT_FALSE(host_address_problem(cidr("198.18.0.0/31")));
  EXPECT_TRUE(host_address_problem(cidr("198.18.0.0/30")));
  EXPECT_TRUE(host_address_problem(cidr("127.0.0.1/8")));
  EXPECT_TRUE(host_address_problem(cidr("224.0.0.1/24")));
  EXPECT_TRUE(host_address_problem(cidr("0.0.0.0/8")));
  EXPECT_TRUE(host_address_problem(cidr("198.18.0.1/0")));

  const auto subnet = cidr("198.18.0.1/24");
  auto ip = [](const char* text) { return *wire::Ipv4Address::parse(text); };
  EXPECT_TRUE(is_other_host(subnet, ip("198.18.0.254")));
  EXPECT_FALSE(is_other_host(subnet, ip("198.18.0.1")));
  EXPECT_FALSE(is_other_host(subnet, ip("198.18.0.0")));
  EXPECT_FALSE(is_other_host(subnet, ip("198.18.0.255")));
  EXPECT_FALSE(is_other_host(subnet, ip("198.18.1.1")));
}

// ---------------------------------------------------------------------------------------------
// The management endpoint (`management:`).

TEST(ConfigManagement, DefaultOffAndAnAddress) {
  EXPECT_EQ(parse_ok(kBase).management->to_string(), "127.0.0.1:9180");
  EXPECT_EQ(parse_ok(kBase + "management:\n").management->to_string(), "127.0.0.1:9180");
  EXPECT_EQ(parse_ok(kBase + "management: {}\n").management->to_string(), "127.0.0.1:9180");
  EXPECT_FALSE(parse_ok(kBase + "management: off\n").management);
  const GatewayConfig c = parse_ok(kBase + "management:\n  address: 0.0.0.0:9100\n");
  ASSERT_TRUE(c.management);
  EXPECT_EQ(c.management->address, wire::Ipv4Address::any());
  EXPECT_EQ(c.management->port, 9100);
  EXPECT_EQ(c.line_of("management.address"), 4);
}

TEST(ConfigManagement, EachMistakeGivesOneErrorAtItsLine) {
  const std::vector<BrokenCase> cases = {
      {"a word other than off", kBase + "management: on\n", 3, "management",
       "must be off, or a map with address, like {address: 127.0.0.1:9180}, got 'on'"},
      {"a list", kBase + "management: [127.0.0.1:9180]\n", 3, "management",
       "must be off, or a map with address"},
      {"no port", kBase + "management:\n  address: 127.0.0.1\n", 4, "management.address",
       "(the port is missing)"},
      {"port 0", kBase + "management:\n  address: 127.0.0.1:0\n", 4, "management.address",
       "must be an IPv4 address and port like 127.0.0.1:9180"},
      {"a host name", kBase + "management:\n  address: localhost:9180\n", 4, "management.address",
       "got 'localhost:9180'"},
      {"a multicast address", kBase + "management:\n  address: 224.0.0.1:9180\n", 4,
       "management.address", "is a multicast or broadcast address"},
      {"a misspelt key", kBase + "management:\n  adress: 127.0.0.1:9180\n", 4, "management.adress",
       "did you mean 'address'?"},
      {"the gateway's own address", kBase + "management:\n  address: 198.18.0.1:9180\n", 4,
       "management.address", "198.18.0.1 is flowgate's own (address, line 2)"},
  };
  for (const BrokenCase& c : cases) {
    SCOPED_TRACE(std::string(c.what) + ":\n" + c.text);
    const std::vector<ConfigError> errors = parse_errors(c.text);
    ASSERT_EQ(errors.size(), 1u) << describe(errors);
    EXPECT_EQ(errors[0].line, c.line) << errors[0].to_string();
    EXPECT_EQ(errors[0].key, c.key) << errors[0].to_string();
    EXPECT_NE(errors[0].reason.find(c.reason), std::string::npos) << errors[0].to_string();
  }
}

}  // namespace
}  // namespace flowgate
