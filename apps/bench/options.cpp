#include "apps/bench/options.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>

namespace flowgate::bench {

const char* to_string(Mode mode) {
  switch (mode) {
    case Mode::http_keepalive:
      return "http-keepalive";
    case Mode::http_close:
      return "http-close";
    case Mode::udp_echo:
      return "udp-echo";
    case Mode::idle:
      return "idle";
  }
  return "?";
}

const char* const kBenchUsage =
    R"(Usage: flowgate bench --interface IF --source A.B.C.D[-A.B.C.E] --target IP:PORT
                      --mode http-keepalive|http-close|udp-echo|idle [OPTIONS]

A load generator on flowgate's own stack over AF_XDP, run on the client end of a link (in
the lab: inside the peer namespace, on the peer veth). Each source address is its own stack
with its own MAC (02:fb and the address); the XDP program hands their traffic to us and
leaves everything else to the kernel. Needs root (XDP, AF_XDP).

  --interface IF          the interface to attach to
  --xdp-mode native|skb   how the XDP program attaches (default native)
  --queue Q               the RX queue to bind (default 0)
  --source A[-B]          source address or inclusive range, at most 64 addresses
  --source-prefix N       their prefix length (default 24); the target must be on-link
  --gateway-mac MAC|auto  the target's MAC, or auto (default) to resolve it by ARP
  --target IP:PORT        the server
  --mode MODE             http-keepalive: N connections, one request at a time each
                          http-close: a new connection per request (Connection: close),
                            N in parallel
                          udp-echo: N datagrams outstanding, counting echoes
                          idle: open N connections, hold them --hold seconds silent,
                            then one request on each, counting the answers
  --connections N         connections (udp-echo: datagrams in flight) (default 64)
  --duration SECONDS      measure for this long (default 10 s)
  --requests N            or stop after N requests
  --rate R                fixed total request rate, open loop; latency counts from each
                          request's scheduled time
  --connect-rate R        new connections per second at most (default 50000)
  --path PATH             the HTTP request path (default /)
  --payload BYTES         udp-echo datagram size (default 64, at least 16)
  --hold SECONDS          idle: how long to hold the connections (default 10)
  --warmup SECONDS        run this long before measuring (default 0)
  --json                  print one JSON object instead of text
  -h, --help              this help

Reports: mode, connections requested and established, connect failures, requests,
responses, errors by kind, duration, requests/s, bytes in, latency p50/p99/p999 (us), and
the CPU time the bench used; the stacks' own drops go to stderr. Exit status: 0 when the
run completed (its errors are in the report), 1 when it could not start, 2 on a usage error.
)";

namespace {

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

struct Bad {
  std::string message;
};

uint64_t whole(const std::string& opt, const std::string& v, uint64_t min, uint64_t max) {
  uint64_t n = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || n < min || n > max) {
    throw Bad{opt + ": " + quoted(v) + " is not a whole number from " + std::to_string(min) +
              " to " + std::to_string(max)};
  }
  return n;
}

double decimal(const std::string& opt, const std::string& v, double min, double max,
               const char* unit) {
  double d = 0;
  const auto [ptr, ec] =
      std::from_chars(v.data(), v.data() + v.size(), d, std::chars_format::fixed);
  if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || !std::isfinite(d) ||
      d < min || d > max) {
    char range[96];
    std::snprintf(range, sizeof range, " is not a number of %s from %g to %g", unit, min, max);
    throw Bad{opt + ": " + quoted(v) + range};
  }
  return d;
}

}  // namespace

std::optional<std::vector<wire::Ipv4Address>> parse_source_range(const std::string& text,
                                                                 std::string* error) {
  const auto dash = text.find('-');
  const auto first = wire::Ipv4Address::parse(text.substr(0, dash));
  const auto last =
      dash == std::string::npos ? first : wire::Ipv4Address::parse(text.substr(dash + 1));
  if (!first || !last) {
    *error = quoted(text) + " is not an IPv4 address or a range A.B.C.D-A.B.C.E";
    return std::nullopt;
  }
  if (last->value < first->value) {
    *error = quoted(text) + ": the range ends before it starts";
    return std::nullopt;
  }
  if (last->value - first->value >= kMaxSources) {
    *error = quoted(text) + " holds " + std::to_string(uint64_t{last->value} - first->value + 1) +
             " addresses; at most " + std::to_string(kMaxSources);
    return std::nullopt;
  }
  std::vector<wire::Ipv4Address> out;
  for (uint32_t a = first->value;; ++a) {
    const wire::Ipv4Address addr{a};
    if (addr.is_unspecified() || addr.is_multicast() || addr.is_limited_broadcast() ||
        addr.is_loopback()) {
      *error = quoted(text) + ": " + addr.to_string() + " cannot be a source address";
      return std::nullopt;
    }
    out.push_back(addr);
    if (a == last->value) break;
  }
  return out;
}

ParseResult parse_bench_options(const std::vector<std::string>& args) {
  BenchOptions o;
  std::map<std::string, bool> seen;
  bool have_target = false;
  bool have_mode = false;
  bool have_connections = false;
  // Options that take a value, by name; each stores it into `o` or throws Bad.
  const std::map<std::string, std::function<void(const std::string&, const std::string&)>>
      with_value = {
          {"--interface",
           [&](const std::string& opt, const std::string& v) {
             if (v.empty() || v.size() > 15)
               throw Bad{opt + ": " + quoted(v) + " is not an interface name"};
             o.interface = v;
           }},
          {"--xdp-mode",
           [&](const std::string& opt, const std::string& v) {
             if (v != "native" && v != "skb")
               throw Bad{opt + ": " + quoted(v) + " is not native or skb"};
             o.xdp_native = v == "native";
           }},
          {"--queue",
           [&](const std::string& opt, const std::string& v) {
             o.queue = static_cast<uint32_t>(whole(opt, v, 0, 63));
           }},
          {"--source",
           [&](const std::string& opt, const std::string& v) {
             std::string error;
             auto range = parse_source_range(v, &error);
             if (!range) throw Bad{opt + ": " + error};
             o.sources = std::move(*range);
           }},
          {"--source-prefix",
           [&](const std::string& opt, const std::string& v) {
             o.source_prefix = static_cast<uint8_t>(whole(opt, v, 8, 30));
           }},
          {"--gateway-mac",
           [&](const std::string& opt, const std::string& v) {
             if (v == "auto") return o.gateway_mac.reset();
             const auto mac = wire::MacAddress::parse(v);
             if (!mac || !mac->is_unicast())
               throw Bad{opt + ": " + quoted(v) + " is not a unicast MAC address or auto"};
             o.gateway_mac = *mac;
           }},
          {"--target",
           [&](const std::string& opt, const std::string& v) {
             const auto colon = v.rfind(':');
             const auto ip = wire::Ipv4Address::parse(v.substr(0, colon));
             if (colon == std::string::npos || !ip)
               throw Bad{opt + ": " + quoted(v) + " is not IP:PORT"};
             o.target = *ip;
             o.target_port =
                 static_cast<uint16_t>(whole(opt + " port", v.substr(colon + 1), 1, 65535));
             have_target = true;
           }},
          {"--mode",
           [&](const std::string& opt, const std::string& v) {
             if (v == "http-keepalive") {
               o.mode = Mode::http_keepalive;
             } else if (v == "http-close") {
               o.mode = Mode::http_close;
             } else if (v == "udp-echo") {
               o.mode = Mode::udp_echo;
             } else if (v == "idle") {
               o.mode = Mode::idle;
             } else {
               throw Bad{opt + ": " + quoted(v) +
                         " is not http-keepalive, http-close, udp-echo or idle"};
             }
             have_mode = true;
           }},
          {"--connections",
           [&](const std::string& opt, const std::string& v) {
             // 64 sources x ~64K ports: the most one process can address.
             o.connections = whole(opt, v, 1, uint64_t{kMaxSources} * 64'000);
             have_connections = true;
           }},
          {"--duration",
           [&](const std::string& opt, const std::string& v) {
             o.duration_s = decimal(opt, v, 0.1, 86400, "seconds");
           }},
          {"--requests",
           [&](const std::string& opt, const std::string& v) {
             o.requests = whole(opt, v, 1, uint64_t{1} << 40);
           }},
          {"--rate",
           [&](const std::string& opt, const std::string& v) {
             o.rate = decimal(opt, v, 1, 100'000'000, "requests per second");
           }},
          {"--connect-rate",
           [&](const std::string& opt, const std::string& v) {
             o.connect_rate = decimal(opt, v, 1, 10'000'000, "connections per second");
           }},
          {"--path",
           [&](const std::string& opt, const std::string& v) {
             if (v.empty() || v[0] != '/' || v.find_first_of(" \r\n\t") != std::string::npos ||
                 v.size() > 1024) {
               throw Bad{opt + ": " + quoted(v) + " is not a path starting with / without spaces"};
             }
             o.path = v;
           }},
          {"--payload",
           [&](const std::string& opt, const std::string& v) {
             o.payload = static_cast<uint32_t>(whole(opt, v, kMinUdpPayload, 1472));
           }},
          {"--hold",
           [&](const std::string& opt, const std::string& v) {
             o.hold_s = decimal(opt, v, 0, 86400, "seconds");
           }},
          {"--warmup",
           [&](const std::string& opt, const std::string& v) {
             o.warmup_s = decimal(opt, v, 0, 3600, "seconds");
           }},
      };
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      std::string opt = args[i];
      std::optional<std::string> inline_value;
      if (opt == "-h" || opt == "--help") return ParseHelp{};
      if (opt.rfind("--", 0) != 0)
        throw Bad{"unexpected argument " + quoted(opt) + " (options start with --)"};
      if (const auto eq = opt.find('='); eq != std::string::npos) {
        inline_value = opt.substr(eq + 1);
        opt.resize(eq);
      }
      if (opt == "--json") {
        if (inline_value) throw Bad{"--json takes no value"};
        o.json = true;
        continue;
      }
      const auto handler = with_value.find(opt);
      if (handler == with_value.end()) throw Bad{"unknown option " + quoted(opt)};
      if (seen[opt]) throw Bad{opt + " is given twice"};
      seen[opt] = true;
      std::string value;
      if (inline_value) {
        value = *inline_value;
      } else {
        if (i + 1 >= args.size()) throw Bad{opt + ": a value is missing"};
        value = args[++i];
      }
      handler->second(opt, value);
    }
    if (o.interface.empty()) throw Bad{"--interface IF is required"};
    if (o.sources.empty()) throw Bad{"--source A.B.C.D[-A.B.C.E] is required"};
    if (!have_target) throw Bad{"--target IP:PORT is required"};
    if (!have_mode) throw Bad{"--mode is required (http-keepalive, http-close, udp-echo or idle)"};
    if (o.duration_s && o.requests) throw Bad{"--duration and --requests exclude each other"};
    const wire::Ipv4Cidr net{o.sources.front(), o.source_prefix};
    for (const auto& s : o.sources) {
      if (s == o.target) throw Bad{"--source: " + s.to_string() + " is the target itself"};
      if (!net.contains(s)) {
        throw Bad{"--source: " + s.to_string() + " is not in " + net.network().to_string() + "/" +
                  std::to_string(o.source_prefix) + " with the first source"};
      }
    }
    if (!net.contains(o.target)) {
      throw Bad{"--target: " + o.target.to_string() + " is not on-link (" +
                net.network().to_string() + "/" + std::to_string(o.source_prefix) +
                "); the bench does not route"};
    }
    if (!have_connections) o.connections = kDefaultConnections;
    // Each (source, target) pair has 64,512 ephemeral ports (1024-65535).
    if (o.mode != Mode::udp_echo && o.connections > o.sources.size() * 64'512) {
      throw Bad{"--connections: " + std::to_string(o.connections) + " connections need more than " +
                std::to_string(o.sources.size()) + " source address(es) (64512 ports each)"};
    }
    if (o.mode == Mode::idle && (o.rate || o.requests || o.duration_s)) {
      throw Bad{"--mode idle: --rate, --requests and --duration do not apply (use --hold)"};
    }
    if (o.mode == Mode::udp_echo && seen["--path"]) throw Bad{"--path: only for the http modes"};
    if (o.mode != Mode::udp_echo && seen["--payload"])
      throw Bad{"--payload: only for --mode udp-echo"};
    if (o.mode != Mode::idle && seen["--hold"]) throw Bad{"--hold: only for --mode idle"};
    if (!o.duration_s && !o.requests && o.mode != Mode::idle) o.duration_s = kDefaultDurationS;
  } catch (const Bad& bad) {
    return ParseError{bad.message};
  }
  return o;
}

}  // namespace flowgate::bench
