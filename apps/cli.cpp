#include "apps/cli.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <utility>

#include "apps/standalone.hpp"

namespace flowgate {
namespace {

constexpr std::string_view kVersion = "0.1.0";

constexpr std::string_view kMainUsage =
    R"(Usage: flowgate COMMAND [OPTIONS]

flowgate is a user-space TCP/IP stack that becomes a sharded L4 gateway.

Commands:
  standalone   run one stack on one network interface, in this process, through an
               AF_PACKET socket (UDP and TCP echo and discard services)
  help [COMMAND]
               this text, or a command's options

Options:
  -h, --help   this text; `flowgate COMMAND --help` describes a command
  --version    print the version

Note: `standalone` is the single-process AF_PACKET mode. It exists until the AF_XDP data
plane (an I/O process, shared-memory rings and worker processes) lands.
)";

constexpr std::string_view kStandaloneUsage =
    R"(Usage: flowgate standalone --interface IF --address IP/PREFIX [OPTIONS]

Runs one protocol stack (Ethernet, ARP, IPv4 with fragmentation and reassembly, ICMP, UDP,
TCP)
on one network interface, in this process, reading and writing whole frames through an
AF_PACKET socket. Needs root (or CAP_NET_RAW). This single-process AF_PACKET mode exists
until the AF_XDP data plane (an I/O process, shared-memory rings and workers) lands.

The kernel still sees every frame of that interface: give it no IPv4 address there, or it
answers too. deploy/lab/lab.sh builds a veth pair and a network namespace set up that way.

Required:
  --interface IF        the network interface to run on
  --address IP/PREFIX   our IPv4 address and subnet, e.g. 198.18.0.1/24

Options:
  --mac MAC             our MAC address (default: the interface's). Another MAC than the
                        interface's puts the interface in promiscuous mode.
  --gateway IP          next hop for destinations outside the subnet (default: none, so
                        they are unreachable)
  --mtu N               IPv4 MTU, 68 up to the interface's MTU (default: the interface's)
  --udp-echo PORT       serve UDP echo (RFC 862) on PORT; repeat for more ports
  --udp-discard PORT    serve UDP discard (RFC 863) on PORT; repeat for more ports
  --tcp-echo PORT       serve TCP echo (RFC 862) on PORT; repeat for more ports
  --tcp-discard PORT    serve TCP discard (RFC 863) on PORT; repeat for more ports
  --stats-interval SECONDS
                        every SECONDS (decimals allowed): rewrite --stats-file, or without
                        one print the non-zero counters
  --stats-file PATH     keep PATH holding every counter, one `name value` per line,
                        replaced atomically at start, every interval (default 1 s) and at
                        exit
  -h, --help            this text

Options take their value as `--opt VALUE` or `--opt=VALUE`.
SIGINT (Ctrl-C) or SIGTERM stops it: it prints the non-zero counters as `name = value`
and exits with status 0. Status 1: the link or a service could not be set up; status 2:
a bad argument.

Example (deploy/lab/run-demo.sh does this on a veth lab):
  flowgate standalone --interface fg1a2b3c-gw --address 198.18.0.1/24 \
      --udp-echo 7 --udp-discard 9 --tcp-echo 7 --tcp-discard 9
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

// Digits only, no sign, no spaces, within [min, max].
std::optional<uint64_t> parse_number(std::string_view text, uint64_t min, uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 10);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (value < min || value > max) return std::nullopt;
  return value;
}

uint16_t parse_port(std::string_view option, std::string_view text) {
  const auto port = parse_number(text, 1, 65535);
  if (!port) bad(std::string(option) + ": " + quoted(text) + " is not a port number (1-65535)");
  return static_cast<uint16_t>(*port);
}

std::chrono::nanoseconds parse_seconds(std::string_view option, std::string_view text) {
  // std::from_chars for double is in g++ 11+, but locale-free strtod is enough here: the text
  // must be entirely a plain decimal number.
  const std::string s(text);
  const bool plain = !s.empty() && s.find_first_not_of("0123456789.") == std::string::npos;
  char* end = nullptr;
  const double value = plain ? std::strtod(s.c_str(), &end) : 0.0;
  if (!plain || end != s.c_str() + s.size() || !std::isfinite(value) || value < 0.01 ||
      value > 86400.0) {
    bad(std::string(option) + ": " + quoted(text) +
        " is not a number of seconds from 0.01 to 86400");
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(value * 1e9)));
}

wire::Ipv4Cidr parse_address(std::string_view option, std::string_view text) {
  const auto cidr = wire::Ipv4Cidr::parse(text);
  if (!cidr || cidr->prefix_len == 0) {
    bad(std::string(option) + ": " + quoted(text) +
        " is not an IPv4 address with a prefix length 1-32, like 198.18.0.1/24");
  }
  const wire::Ipv4Address a = cidr->address;
  if (a.is_unspecified() || a.is_limited_broadcast() || a.is_multicast() || a.is_loopback()) {
    bad(std::string(option) + ": " + quoted(text) +
        " is not a unicast address a host can use (it is 0.0.0.0, broadcast, multicast or "
        "loopback)");
  }
  // /31 (RFC 3021) and /32 have no network and broadcast addresses to avoid.
  if (cidr->prefix_len <= 30 && (a == cidr->network() || a == cidr->directed_broadcast())) {
    bad(std::string(option) + ": " + quoted(text) +
        " is the network or broadcast address of its subnet");
  }
  return *cidr;
}

wire::Ipv4Address parse_gateway(std::string_view option, std::string_view text,
                                const wire::Ipv4Cidr& subnet) {
  const auto gw = wire::Ipv4Address::parse(text);
  if (!gw) bad(std::string(option) + ": " + quoted(text) + " is not an IPv4 address");
  if (!subnet.contains(*gw) || *gw == subnet.address ||
      (subnet.prefix_len <= 30 &&
       (*gw == subnet.network() || *gw == subnet.directed_broadcast()))) {
    bad(std::string(option) + ": " + quoted(text) + " is not another host of " +
        subnet.to_string());
  }
  return *gw;
}

wire::MacAddress parse_mac(std::string_view option, std::string_view text) {
  const auto mac = wire::MacAddress::parse(text);
  if (!mac) {
    bad(std::string(option) + ": " + quoted(text) +
        " is not a MAC address (six hex pairs: 02:00:00:00:00:01)");
  }
  if (!mac->is_unicast()) {
    bad(std::string(option) + ": " + quoted(text) + " is not a unicast MAC address");
  }
  return *mac;
}

// Walks `--opt VALUE` / `--opt=VALUE` arguments.
class OptionReader {
 public:
  OptionReader(const std::vector<std::string>& args, size_t first) : args_(args), next_(first) {}

  bool done() const { return next_ >= args_.size(); }

  // The next argument's option name ("--mtu"); its value, if given as --opt=VALUE, is kept
  // for value().
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

// nullopt: --help was asked for (and printed).
std::optional<StandaloneOptions> parse_standalone(const std::vector<std::string>& args,
                                                  size_t first) {
  StandaloneOptions o;
  OptionReader reader(args, first);
  bool have_interface = false;
  std::optional<std::string> address_text;
  std::optional<std::string> gateway_text;
  auto once = [](bool& seen, const std::string& option) {
    if (seen) bad(option + " is given twice");
    seen = true;
  };
  bool seen_mac = false, seen_mtu = false, seen_interval = false, seen_file = false;

  while (!reader.done()) {
    const std::string opt = reader.option();
    if (opt == "-h" || opt == "--help") {
      reader.no_value(opt);
      std::fputs(kStandaloneUsage.data(), stdout);
      return std::nullopt;
    } else if (opt == "--interface") {
      once(have_interface, opt);
      o.interface = reader.value(opt);
      if (o.interface.empty() || o.interface.size() > 15) {
        bad(opt + ": " + quoted(o.interface) + " is not an interface name (1-15 characters)");
      }
    } else if (opt == "--address") {
      if (address_text) bad(opt + " is given twice");
      address_text = reader.value(opt);
    } else if (opt == "--gateway") {
      if (gateway_text) bad(opt + " is given twice");
      gateway_text = reader.value(opt);
    } else if (opt == "--mac") {
      once(seen_mac, opt);
      o.mac = parse_mac(opt, reader.value(opt));
    } else if (opt == "--mtu") {
      once(seen_mtu, opt);
      const std::string v = reader.value(opt);
      const auto mtu = parse_number(v, 68, 65535);
      if (!mtu) bad(opt + ": " + quoted(v) + " is not an MTU from 68 to 65535");
      o.mtu = static_cast<uint16_t>(*mtu);
    } else if (opt == "--udp-echo") {
      o.udp_echo_ports.push_back(parse_port(opt, reader.value(opt)));
    } else if (opt == "--udp-discard") {
      o.udp_discard_ports.push_back(parse_port(opt, reader.value(opt)));
    } else if (opt == "--tcp-echo") {
      o.tcp_echo_ports.push_back(parse_port(opt, reader.value(opt)));
    } else if (opt == "--tcp-discard") {
      o.tcp_discard_ports.push_back(parse_port(opt, reader.value(opt)));
    } else if (opt == "--stats-interval") {
      once(seen_interval, opt);
      o.stats_interval = parse_seconds(opt, reader.value(opt));
    } else if (opt == "--stats-file") {
      once(seen_file, opt);
      o.stats_file = reader.value(opt);
      if (o.stats_file.empty()) bad(opt + ": the path is empty");
    } else {
      bad("unknown option " + quoted(opt));
    }
  }

  if (!have_interface) bad("--interface is required");
  if (!address_text) bad("--address is required");
  o.address = parse_address("--address", *address_text);
  if (gateway_text) o.gateway = parse_gateway("--gateway", *gateway_text, o.address);

  // One service per port and protocol.
  auto check_unique = [](std::vector<uint16_t> ports, const std::vector<uint16_t>& more,
                         const std::string& what) {
    ports.insert(ports.end(), more.begin(), more.end());
    for (size_t i = 0; i < ports.size(); ++i) {
      for (size_t j = i + 1; j < ports.size(); ++j) {
        if (ports[i] == ports[j])
          bad(what + " port " + std::to_string(ports[i]) + " is given twice");
      }
    }
  };
  check_unique(o.udp_echo_ports, o.udp_discard_ports, "UDP");
  check_unique(o.tcp_echo_ports, o.tcp_discard_ports, "TCP");
  return o;
}

int usage_error(std::string_view command, const std::string& message) {
  const std::string prefix = command.empty() ? "flowgate" : "flowgate " + std::string(command);
  const std::string help = command.empty() ? "flowgate --help" : prefix + " --help";
  std::fprintf(stderr, "%s: %s\nTry '%s'.\n", prefix.c_str(), message.c_str(), help.c_str());
  return kExitUsage;
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
    if (args[1] == "standalone") {
      std::fputs(kStandaloneUsage.data(), stdout);
      return 0;
    }
    return usage_error("", "no help for " + quoted(args[1]) + ": the commands are: standalone");
  }
  if (command == "standalone") {
    std::optional<StandaloneOptions> options;
    try {
      options = parse_standalone(args, 1);
    } catch (const UsageError& e) {
      return usage_error(command, e.message);
    }
    if (!options) return 0;  // --help
    return run_standalone(*options);
  }
  return usage_error("", "unknown command " + quoted(command) + " (commands: standalone)");
}

}  // namespace flowgate
