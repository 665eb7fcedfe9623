// Value rules shared by the configuration file and the command line.
#include <charconv>
#include <limits>

#include "apps/config.hpp"

namespace flowgate::config_rules {

std::optional<uint64_t> parse_decimal(std::string_view text, uint64_t min, uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  // "010" is 8 to a YAML 1.1 reader and to strtol(…, 0): refuse it rather than guess.
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 10);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (value < min || value > max) return std::nullopt;
  return value;
}

std::optional<std::string> host_address_problem(const wire::Ipv4Cidr& cidr) {
  if (cidr.prefix_len == 0) return "has prefix length 0; a host needs 1-32";
  const wire::Ipv4Address a = cidr.address;
  if (a.is_unspecified()) return "is 0.0.0.0, which no host can use";
  if (a.is_limited_broadcast()) return "is the broadcast address 255.255.255.255";
  if (a.is_multicast()) return "is a multicast address (224.0.0.0/4)";
  if (a.is_loopback()) return "is a loopback address (127.0.0.0/8)";
  if (cidr.prefix_len <= 30 && a == cidr.network()) {
    return "is the network address of " + cidr.network().to_string() + "/" +
           std::to_string(cidr.prefix_len);
  }
  if (cidr.prefix_len <= 30 && a == cidr.directed_broadcast()) {
    return "is the broadcast address of " + cidr.network().to_string() + "/" +
           std::to_string(cidr.prefix_len);
  }
  return std::nullopt;
}

bool is_other_host(const wire::Ipv4Cidr& subnet, wire::Ipv4Address address) {
  if (!subnet.contains(address) || address == subnet.address) return false;
  if (subnet.prefix_len <= 30 &&
      (address == subnet.network() || address == subnet.directed_broadcast())) {
    return false;
  }
  return true;
}

bool is_interface_name(std::string_view name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  for (const char c : name) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
        c == '\f') {
      return false;
    }
  }
  return true;
}

namespace {

struct DurationUnit {
  std::string_view suffix;
  Duration length;
};

// Longest suffix first, so "ms" is not read as "m" followed by garbage.
constexpr DurationUnit kDurationUnits[] = {
    {"us", std::chrono::microseconds(1)}, {"ms", std::chrono::milliseconds(1)},
    {"s", std::chrono::seconds(1)},       {"m", std::chrono::minutes(1)},
    {"h", std::chrono::hours(1)},
};

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  const size_t digits = text.find_first_not_of("0123456789");
  if (digits == 0 || digits == std::string_view::npos) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  for (const DurationUnit& u : kDurationUnits) {
    if (unit != u.suffix) continue;
    // A year in microseconds has 14 digits; anything longer is a mistake, and this bound
    // keeps the product below int64's range.
    const auto count = parse_decimal(text.substr(0, digits), 0, 999'999'999'999);
    if (!count) return std::nullopt;
    const auto max_count =
        static_cast<uint64_t>(std::numeric_limits<Duration::rep>::max() / u.length.count());
    if (*count > max_count) return std::nullopt;
    return u.length * static_cast<Duration::rep>(*count);
  }
  return std::nullopt;
}

std::string format_duration(Duration d) {
  if (d.count() == 0) return "0s";
  // Largest unit first: 120s prints as 2m.
  for (auto it = std::rbegin(kDurationUnits); it != std::rend(kDurationUnits); ++it) {
    if (d.count() % it->length.count() == 0) {
      return std::to_string(d.count() / it->length.count()) + std::string(it->suffix);
    }
  }
  return std::to_string(d.count()) + "ns";
}

}  // namespace flowgate::config_rules
