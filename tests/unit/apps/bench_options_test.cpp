// flowgate bench's command line: what it accepts, and that every refusal names the option.
#include <gtest/gtest.h>

#include "apps/bench/options.hpp"

namespace flowgate::bench {
namespace {

std::vector<std::string> base(std::vector<std::string> more = {}) {
  std::vector<std::string> a = {
      "--interface", "veth0",         "--source", "198.18.0.10-198.18.0.13",
      "--target",    "198.18.0.1:80", "--mode",   "http-keepalive"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

BenchOptions ok(const std::vector<std::string>& args) {
  const ParseResult r = parse_bench_options(args);
  if (const auto* e = std::get_if<ParseError>(&r)) ADD_FAILURE() << e->message;
  return std::holds_alternative<BenchOptions>(r) ? std::get<BenchOptions>(r) : BenchOptions{};
}

std::string error(const std::vector<std::string>& args) {
  const ParseResult r = parse_bench_options(args);
  const auto* e = std::get_if<ParseError>(&r);
  return e == nullptr ? "(accepted)" : e->message;
}

TEST(BenchOptions, DefaultsAndTheRange) {
  const BenchOptions o = ok(base());
  EXPECT_EQ(o.interface, "veth0");
  EXPECT_TRUE(o.xdp_native);
  ASSERT_EQ(o.sources.size(), 4u);
  EXPECT_EQ(o.sources.front(), wire::Ipv4Address::from_octets(198, 18, 0, 10));
  EXPECT_EQ(o.sources.back(), wire::Ipv4Address::from_octets(198, 18, 0, 13));
  EXPECT_EQ(o.target, wire::Ipv4Address::from_octets(198, 18, 0, 1));
  EXPECT_EQ(o.target_port, 80);
  EXPECT_EQ(o.mode, Mode::http_keepalive);
  EXPECT_EQ(o.connections, kDefaultConnections);
  ASSERT_TRUE(o.duration_s);
  EXPECT_EQ(*o.duration_s, kDefaultDurationS);
  EXPECT_FALSE(o.requests);
  EXPECT_FALSE(o.gateway_mac);
  EXPECT_EQ(o.path, "/");
  EXPECT_FALSE(o.json);
}

TEST(BenchOptions, EveryOption) {
  const BenchOptions o = ok(base({"--xdp-mode",
                                  "skb",
                                  "--queue",
                                  "1",
                                  "--source-prefix",
                                  "16",
                                  "--gateway-mac",
                                  "02:00:00:00:00:01",
                                  "--connections=500",
                                  "--requests",
                                  "1000",
                                  "--rate",
                                  "2500.5",
                                  "--path",
                                  "/x?y=1",
                                  "--warmup",
                                  "0.5",
                                  "--connect-rate",
                                  "1000",
                                  "--json"}));
  EXPECT_FALSE(o.xdp_native);
  EXPECT_EQ(o.queue, 1u);
  EXPECT_EQ(o.source_prefix, 16);
  ASSERT_TRUE(o.gateway_mac);
  EXPECT_EQ(o.gateway_mac->to_string(), "02:00:00:00:00:01");
  EXPECT_EQ(o.connections, 500u);
  EXPECT_EQ(o.requests, 1000u);
  EXPECT_FALSE(o.duration_s);
  EXPECT_DOUBLE_EQ(*o.rate, 2500.5);
  EXPECT_EQ(o.path, "/x?y=1");
  EXPECT_DOUBLE_EQ(o.warmup_s, 0.5);
  EXPECT_DOUBLE_EQ(o.connect_rate, 1000);
  EXPECT_TRUE(o.json);
}

TEST(BenchOptions, ModesAndTheirOwnOptions) {
  std::vector<std::string> udp = base({"--payload", "100"});
  udp[7] = "udp-echo";
  EXPECT_EQ(ok(udp).mode, Mode::udp_echo);
  EXPECT_EQ(ok(udp).payload, 100u);
  std::vector<std::string> idle = base({"--hold", "30", "--connections", "100000"});
  idle[7] = "idle";
  const BenchOptions i = ok(idle);
  EXPECT_EQ(i.mode, Mode::idle);
  EXPECT_DOUBLE_EQ(i.hold_s, 30);
  EXPECT_FALSE(i.duration_s);  // idle ends by itself
  std::vector<std::string> close = base();
  close[7] = "http-close";
  EXPECT_EQ(ok(close).mode, Mode::http_close);
}

TEST(BenchOptions, RefusalsNameTheOption) {
  EXPECT_EQ(error(base({"--mode", "x"})), "--mode is given twice");
  std::vector<std::string> bad_mode = base();
  bad_mode[7] = "ftp";
  EXPECT_EQ(error(bad_mode), "--mode: 'ftp' is not http-keepalive, http-close, udp-echo or idle");
  EXPECT_EQ(error({"--source", "198.18.0.10", "--target", "198.18.0.1:80", "--mode", "idle"}),
            "--interface IF is required");
  EXPECT_EQ(error({"--interface", "v", "--target", "198.18.0.1:80", "--mode", "idle"}),
            "--source A.B.C.D[-A.B.C.E] is required");
  EXPECT_EQ(error({"--interface", "v", "--source", "198.18.0.10", "--mode", "idle"}),
            "--target IP:PORT is required");
  EXPECT_EQ(error({"--interface", "v", "--source", "198.18.0.10", "--target", "198.18.0.1:80"}),
            "--mode is required (http-keepalive, http-close, udp-echo or idle)");
  EXPECT_EQ(error(base({"--connections", "0"})),
            "--connections: '0' is not a whole number from 1 to 4096000");
  EXPECT_EQ(error(base({"--rate", "fast"})),
            "--rate: 'fast' is not a number of requests per second from 1 to 1e+08");
  EXPECT_EQ(error(base({"--duration", "1", "--requests", "5"})),
            "--duration and --requests exclude each other");
  EXPECT_EQ(error(base({"--bogus"})), "unknown option '--bogus'");
  EXPECT_EQ(error(base({"stray"})), "unexpected argument 'stray' (options start with --)");
  EXPECT_EQ(error(base({"--rate"})), "--rate: a value is missing");
  EXPECT_EQ(error(base({"--json=1"})), "--json takes no value");
  EXPECT_EQ(error(base({"--xdp-mode", "fast"})), "--xdp-mode: 'fast' is not native or skb");
  EXPECT_EQ(error(base({"--gateway-mac", "ff:ff:ff:ff:ff:ff"})),
            "--gateway-mac: 'ff:ff:ff:ff:ff:ff' is not a unicast MAC address or auto");
  EXPECT_EQ(error(base({"--payload", "8"})),
            "--payload: '8' is not a whole number from 16 to 1472");
  EXPECT_EQ(error(base({"--path", "nope"})),
            "--path: 'nope' is not a path starting with / without spaces");
  EXPECT_EQ(error(base({"--hold", "1"})), "--hold: only for --mode idle");
  std::vector<std::string> idle_rate = base({"--rate", "10"});
  idle_rate[7] = "idle";
  EXPECT_EQ(error(idle_rate),
            "--mode idle: --rate, --requests and --duration do not apply (use --hold)");
}

TEST(BenchOptions, AddressesMustBeOnLinkAndFewEnough) {
  std::vector<std::string> a = base();
  a[5] = "198.19.0.1:80";
  EXPECT_EQ(error(a),
            "--target: 198.19.0.1 is not on-link (198.18.0.0/24); the bench does not route");
  a = base();
  a[5] = "198.18.0.12:80";
  EXPECT_EQ(error(a), "--source: 198.18.0.12 is the target itself");
  a = base();
  a[5] = "198.18.0.1";
  EXPECT_EQ(error(a), "--target: '198.18.0.1' is not IP:PORT");
  a = base();
  a[5] = "198.18.0.1:0";
  EXPECT_EQ(error(a), "--target port: '0' is not a whole number from 1 to 65535");
  // 3 addresses x 64512 ports is the most connections to one target.
  a = base({"--connections", "258049"});
  EXPECT_EQ(
      error(a),
      "--connections: 258049 connections need more than 4 source address(es) (64512 ports each)");
  EXPECT_EQ(ok(base({"--connections", "258048"})).connections, 258048u);
}

TEST(BenchOptions, SourceRanges) {
  std::string e;
  EXPECT_EQ(parse_source_range("198.18.0.10", &e)->size(), 1u);
  EXPECT_EQ(parse_source_range("198.18.0.0-198.18.0.63", &e)->size(), 64u);
  EXPECT_FALSE(parse_source_range("198.18.0.0-198.18.0.64", &e));
  EXPECT_EQ(e, "'198.18.0.0-198.18.0.64' holds 65 addresses; at most 64");
  EXPECT_FALSE(parse_source_range("198.18.0.9-198.18.0.8", &e));
  EXPECT_EQ(e, "'198.18.0.9-198.18.0.8': the range ends before it starts");
  EXPECT_FALSE(parse_source_range("198.18.0", &e));
  EXPECT_EQ(e, "'198.18.0' is not an IPv4 address or a range A.B.C.D-A.B.C.E");
  EXPECT_FALSE(parse_source_range("224.0.0.1", &e));
  EXPECT_EQ(e, "'224.0.0.1': 224.0.0.1 cannot be a source address");
  // Across an octet boundary.
  const auto r = parse_source_range("198.18.0.254-198.18.1.1", &e);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[2], wire::Ipv4Address::from_octets(198, 18, 1, 0));
}

TEST(BenchOptions, Help) {
  EXPECT_TRUE(std::holds_alternative<ParseHelp>(parse_bench_options({"--help"})));
  // Help before anything is missing: --help needs no other option.
  EXPECT_TRUE(std::holds_alternative<ParseHelp>(parse_bench_options({"--interface", "v", "-h"})));
}

}  // namespace
}  // namespace flowgate::bench
