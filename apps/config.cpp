// The configuration file parser: YAML (yaml-cpp) into a GatewayConfig, checked key by key.
//
// One pass walks the document and reads every key it knows, reporting what it cannot use;
// the checks that relate keys to each other (the gateway against the address, the UMEM
// against the rings) run after it, on the values that were read successfully, so one mistake
// gives one error and not a cascade. Errors are sorted by line at the end, which puts them in
// file order whichever check found them.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include "apps/config.hpp"

namespace flowgate {

using config_rules::format_duration;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;
// A configuration file is a few kilobytes; anything this large is the wrong file.
constexpr size_t kMaxFileBytes = 4 * kMiB;

std::string quoted(std::string_view text) {
  // Long values are cut: the message must stay one readable line.
  constexpr size_t kMaxShown = 40;
  if (text.size() > kMaxShown) return "'" + std::string(text.substr(0, kMaxShown)) + "...'";
  return "'" + std::string(text) + "'";
}

// How a node that is not what was expected is named in "got ..." (its text, if a scalar).
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return quoted(node.Scalar());
    case YAML::NodeType::Sequence:
      return node.size() == 0 ? "an empty list" : "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::string join(std::string_view parent, std::string_view name) {
  if (parent.empty()) return std::string(name);
  return std::string(parent) + "." + std::string(name);
}

// "a", "a or b", "a, b or c".
std::string alternatives(const std::vector<std::string_view>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

// Sizes are shown in the unit they were most likely written in: 65536 as 64KiB.
std::string format_bytes(uint64_t bytes) {
  if (bytes != 0 && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + "MiB";
  if (bytes != 0 && bytes % kKiB == 0) return std::to_string(bytes / kKiB) + "KiB";
  return std::to_string(bytes);
}

bool is_power_of_two(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

// Names made of [a-z0-9_-] (instance and listener names: they appear in file names, metric
// labels and log lines, so nothing that needs quoting there).
bool is_simple_name(std::string_view s, size_t max_length) {
  if (s.empty() || s.size() > max_length) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// What useradd accepts by default (NAME_REGEX): [a-z_][a-z0-9_-]{0,31}.
bool is_user_name(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return false;
  return is_simple_name(s, 32);
}

// Levenshtein distance, for "did you mean" on unknown keys.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Why `address` cannot be another host of `subnet` (see config_rules::is_other_host).
std::string other_host_problem(const wire::Ipv4Cidr& subnet, wire::Ipv4Address address) {
  const std::string net = subnet.network().to_string() + "/" + std::to_string(subnet.prefix_len);
  if (!subnet.contains(address)) return "is outside our subnet " + net;
  if (address == subnet.address) return "is our own address";
  if (address == subnet.network()) return "is the network address of " + net;
  return "is the broadcast address of " + net;
}

std::string mac_problem(const wire::MacAddress& mac) {
  if (mac.is_zero()) return "is all zeros";
  if (mac.is_broadcast()) return "is the broadcast address";
  return "is a multicast address (the lowest bit of the first octet is set)";
}

// A YAML node and where it sits: its dotted path and the (1-based) line messages about it
// point at. For a map value that is the line of its key.
struct Value {
  YAML::Node node;
  std::string path;
  int line = 0;
};

// One known key of a map and what reads its value.
struct Key {
  std::string_view name;
  std::function<void(const Value&)> read;
};

template <typename T>
struct Choice {
  std::string_view name;
  T value;
};

class Parser {
 public:
  Parser(std::string_view text, const std::string& source) : text_(text) {
    config_.source = source;
  }

  ConfigResult run();

 private:
  void error(int line, std::string key, std::string reason) {
    failed_.insert(key);
    errors_.push_back(ConfigError{config_.source, line, std::move(key), std::move(reason)});
  }
  void error(const Value& v, std::string reason) { error(v.line, v.path, std::move(reason)); }
  // False when an error was reported for `path`, for a key under it (`queues` and
  // `queues[2]`) or for a section holding it (`umem` and `umem.frames`): cross-checks skip
  // such values, whose defaults would only produce a second, misleading error.
  bool ok(std::string_view path) const {
    auto is_under = [](std::string_view inner, std::string_view outer) {
      return inner.size() > outer.size() && inner.substr(0, outer.size()) == outer &&
             (inner[outer.size()] == '.' || inner[outer.size()] == '[');
    };
    return std::none_of(failed_.begin(), failed_.end(), [&](const std::string& f) {
      return f == path || is_under(f, path) || is_under(path, f);
    });
  }
  // "must be <expected>, got <what the value is>".
  void expected(const Value& v, std::string_view what, std::string_view hint = {}) {
    std::string reason = "must be " + std::string(what) + ", got " + describe(v.node);
    if (!hint.empty()) reason += " (" + std::string(hint) + ")";
    error(v, std::move(reason));
  }
  int line_of(const YAML::Node& node, int fallback) const {
    const YAML::Mark mark = node.Mark();
    return mark.is_null() ? fallback : mark.line + 1;
  }
  void read_document(const YAML::Node& root);

  // Structure. A null value (a key with nothing under it) reads as an empty map or list, so
  // a section whose every line is commented out is the same as no section.
  std::optional<std::set<std::string_view>> read_map(const Value& map, std::string_view what,
                                                     const std::vector<Key>& keys);
  std::optional<std::vector<Value>> list_items(const Value& list, std::string_view what);
  void require(const Value& map, const std::set<std::string_view>& seen, std::string_view name,
               std::string_view what);

  // Scalars. Each reports its own error and returns nullopt when the value is unusable.
  std::optional<std::string> scalar(const Value& v, std::string_view what);
  std::optional<uint64_t> integer(const Value& v, uint64_t min, uint64_t max);
  std::optional<uint64_t> power_of_two(const Value& v, uint64_t min, uint64_t max);
  std::optional<uint64_t> byte_size(const Value& v, uint64_t min, uint64_t max);
  std::optional<bool> boolean(const Value& v);
  std::optional<Duration> duration(const Value& v, Duration min, Duration max);
  std::optional<double> probability(const Value& v);
  template <typename T>
  std::optional<T> choice(const Value& v, std::initializer_list<Choice<T>> choices);
  std::optional<wire::Ipv4Address> ipv4_address(const Value& v);
  std::optional<wire::MacAddress> unicast_mac(const Value& v);

  // Sections.
  void read_root(const Value& root);
  void read_queues(const Value& v);
  void read_static_arp(const Value& v);
  void read_umem(const Value& v);
  void read_tcp(const Value& v);
  void read_listeners(const Value& v);
  void read_listener(const Value& v);
  void read_proxy_settings(const Value& v, ProxySettings& proxy);
  void read_http_settings(const Value& v, HttpSettings& http);
  void check_http_listener(const Value& v, const ListenerConfig& l, bool has_http_map);
  void read_pools(const Value& v);
  void read_pool(const Value& v);
  void read_backend(const Value& v, PoolConfig& pool, const std::string& pool_path);
  void read_testing(const Value& v);
  void read_fault_injection(const Value& v);
  void read_management(const Value& v);

  // Checks across keys, after the pass.
  void check_addresses();
  void check_link();
  void check_umem();
  void check_tcp();
  void check_pools();

  // The line of a key that was set, 0 if it was not.
  int key_line(std::string_view path) const { return config_.line_of(path); }

  std::string_view text_;
  GatewayConfig config_;
  std::vector<ConfigError> errors_;
  std::set<std::string, std::less<>> failed_;  // keys with an error
  int root_line_ = 1;

  // Values the cross-checks need, present only when read successfully.
  bool address_ok_ = false;
  std::optional<LinkBackend> backend_set_;
  struct NeighbourSeen {
    StaticNeighbour neighbour;
    std::string path;
    int ip_line = 0;
  };
  std::vector<NeighbourSeen> neighbours_;
  struct ListenerSeen {
    std::string path;  // listeners[i]
    bool has_name = false;
    bool has_port = false;
  };
  std::vector<ListenerSeen> listeners_seen_;  // parallel to config_.listeners
  struct ProxyListenerSeen {
    std::string path;  // listeners[i]
    std::string pool;  // its proxy.pool, checked against the pools after the pass
  };
  std::vector<ProxyListenerSeen> proxy_listeners_;
  struct BackendSeen {
    std::string path;  // pools[i].backends[j]
    wire::Ipv4Address address;
    int address_line = 0;
  };
  std::vector<BackendSeen> backends_seen_;  // every backend of every pool read successfully
  bool pools_ok_ = true;                    // false: a pool's name was unusable
  bool gateway_ok_ = true;                  // false: `gateway` was given but unusable
};

ConfigResult Parser::run() {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(text_));
  } catch (const YAML::Exception& e) {
    const int line = e.mark.is_null() ? 0 : e.mark.line + 1;
    std::string reason = "YAML syntax error: " + e.msg;
    // The most common cause by far, and yaml-cpp's message does not say it.
    if (text_.find('\t') != std::string_view::npos) {
      reason += " (the file contains tabs; YAML indentation must be spaces)";
    }
    error(line, "", std::move(reason));
    return errors_;
  }
  if (documents.empty() || documents[0].IsNull()) {
    error(0, "",
          "the file is empty: it needs at least `interface:` and `address:` (see "
          "deploy/examples/minimal.yaml)");
    return errors_;
  }
  if (documents.size() > 1) {
    error(line_of(documents[1], 0), "",
          "a second YAML document starts here (after '---'); the file must hold exactly one");
  }
  try {
    read_document(documents[0]);
  } catch (const YAML::Exception& e) {
    // Reading only iterates and looks at scalars, which do not throw; this is a safety net so
    // that no exception escapes whatever yaml-cpp does.
    error(e.mark.is_null() ? 0 : e.mark.line + 1, "", "cannot read the YAML: " + e.msg);
  }
  if (!errors_.empty()) {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
    return errors_;
  }
  return std::move(config_);
}

void Parser::read_document(const YAML::Node& root) {
  root_line_ = line_of(root, 1);
  if (!root.IsMap()) {
    error(root_line_, "",
          "the file must be a map of settings (`key: value` lines, like `interface: eth1`), got " +
              describe(root));
    return;
  }
  read_root(Value{root, "", root_line_});
  check_addresses();
  check_link();
  check_umem();
  check_tcp();
  check_pools();
}

std::optional<std::set<std::string_view>> Parser::read_map(const Value& map, std::string_view what,
                                                           const std::vector<Key>& keys) {
  std::set<std::string_view> seen;
  if (map.node.IsNull()) return seen;
  if (!map.node.IsMap()) {
    expected(map, what);
    return std::nullopt;
  }
  std::map<std::string, int, std::less<>> first_line;
  for (auto it = map.node.begin(); it != map.node.end(); ++it) {
    const YAML::Node key = it->first;
    const int line = line_of(key, map.line);
    if (!key.IsScalar()) {
      error(line, map.path, "keys must be names, got " + describe(key));
      continue;
    }
    const std::string& name = key.Scalar();
    const std::string path = join(map.path, name);
    if (const auto [first, inserted] = first_line.emplace(name, line); !inserted) {
      error(line, path, "is given twice (first at line " + std::to_string(first->second) + ")");
      continue;
    }
    const auto known =
        std::find_if(keys.begin(), keys.end(), [&](const Key& k) { return k.name == name; });
    if (known == keys.end()) {
      std::string reason = "unknown key (";
      std::string_view closest;
      size_t closest_distance = 3;  // suggest only near misses: typos, not other words
      std::vector<std::string_view> names;
      for (const Key& k : keys) {
        names.push_back(k.name);
        const size_t d = edit_distance(name, k.name);
        if (d < closest_distance && d < k.name.size()) {
          closest = k.name;
          closest_distance = d;
        }
      }
      if (!closest.empty()) reason += "did you mean '" + std::string(closest) + "'? ";
      reason += "known keys: ";
      for (size_t i = 0; i < names.size(); ++i) {
        if (i > 0) reason += ", ";
        reason += names[i];
      }
      error(line, path, reason + ")");
      continue;
    }
    seen.insert(known->name);
    config_.key_lines.emplace(path, line);
    known->read(Value{it->second, path, line});
  }
  return seen;
}

std::optional<std::vector<Value>> Parser::list_items(const Value& list, std::string_view what) {
  std::vector<Value> items;
  if (list.node.IsNull()) return items;
  if (!list.node.IsSequence()) {
    expected(list, what);
    return std::nullopt;
  }
  size_t index = 0;
  for (auto it = list.node.begin(); it != list.node.end(); ++it, ++index) {
    const YAML::Node item = *it;
    Value v{item, list.path + "[" + std::to_string(index) + "]", line_of(item, list.line)};
    // A null item (`- ` alone) has no mark of its own worth showing; keep the list's.
    if (item.IsNull()) v.line = std::max(v.line, list.line);
    config_.key_lines.emplace(v.path, v.line);
    items.push_back(std::move(v));
  }
  return items;
}

void Parser::require(const Value& map, const std::set<std::string_view>& seen,
                     std::string_view name, std::string_view what) {
  if (seen.count(name) == 0)
    error(map.line, join(map.path, name), "is required: " + std::string(what));
}

std::optional<std::string> Parser::scalar(const Value& v, std::string_view what) {
  if (v.node.IsScalar()) return v.node.Scalar();
  expected(v, what);
  return std::nullopt;
}

std::optional<uint64_t> Parser::integer(const Value& v, uint64_t min, uint64_t max) {
  const std::string what = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  const auto text = scalar(v, what);
  if (!text) return std::nullopt;
  const auto n = config_rules::parse_decimal(*text, min, max);
  if (!n) {
    const bool leading_zero = text->size() > 1 && (*text)[0] == '0' &&
                              text->find_first_not_of("0123456789") == std::string::npos;
    expected(v, what, leading_zero ? "no leading zeros: YAML 1.1 reads them as octal" : "");
  }
  return n;
}

std::optional<uint64_t> Parser::power_of_two(const Value& v, uint64_t min, uint64_t max) {
  const std::string what =
      "a power of two from " + std::to_string(min) + " to " + std::to_string(max);
  const auto text = scalar(v, what);
  if (!text) return std::nullopt;
  const auto n = config_rules::parse_decimal(*text, min, max);
  if (!n || !is_power_of_two(*n)) {
    expected(v, what);
    return std::nullopt;
  }
  return n;
}

std::optional<uint64_t> Parser::byte_size(const Value& v, uint64_t min, uint64_t max) {
  const std::string what = "a size in bytes from " + format_bytes(min) + " to " +
                           format_bytes(max) + " (a number, or with KiB, MiB or GiB: 256KiB)";
  const auto text = scalar(v, what);
  if (!text) return std::nullopt;
  const size_t digits = text->find_first_not_of("0123456789");
  const std::string_view unit =
      digits == std::string::npos ? std::string_view{} : std::string_view(*text).substr(digits);
  uint64_t multiplier = 0;
  if (unit.empty()) multiplier = 1;
  if (unit == "KiB") multiplier = kKiB;
  if (unit == "MiB") multiplier = kMiB;
  if (unit == "GiB") multiplier = kGiB;
  const auto count = config_rules::parse_decimal(std::string_view(*text).substr(0, digits), 0,
                                                 std::numeric_limits<uint64_t>::max());
  if (multiplier == 0 || !count || *count > std::numeric_limits<uint64_t>::max() / multiplier ||
      *count * multiplier < min || *count * multiplier > max) {
    expected(v, what);
    return std::nullopt;
  }
  return *count * multiplier;
}

std::optional<bool> Parser::boolean(const Value& v) {
  const auto text = scalar(v, "true or false");
  if (!text) return std::nullopt;
  // YAML 1.1's spellings, which operators do write.
  for (std::string_view yes : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}) {
    if (*text == yes) return true;
  }
  for (std::string_view no : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}) {
    if (*text == no) return false;
  }
  expected(v, "true or false");
  return std::nullopt;
}

std::optional<Duration> Parser::duration(const Value& v, Duration min, Duration max) {
  const std::string what = "a duration from " + format_duration(min) + " to " +
                           format_duration(max) +
                           ", a whole number with a unit (us, ms, s, m, h) like 250ms or 5s";
  const auto text = scalar(v, what);
  if (!text) return std::nullopt;
  const auto d = config_rules::parse_duration(*text);
  if (!d || *d < min || *d > max) {
    std::string hint;
    if (!text->empty() && text->find_first_not_of("0123456789") == std::string::npos) {
      hint = "a plain number has no unit: write " + *text + "s or " + *text + "ms";
    } else if (text->find('.') != std::string::npos) {
      hint = "whole numbers only: write 1500ms, not 1.5s";
    }
    expected(v, what, hint);
    return std::nullopt;
  }
  return d;
}

std::optional<double> Parser::probability(const Value& v) {
  constexpr std::string_view what = "a probability from 0 to 1, like 0.01";
  const auto text = scalar(v, what);
  if (!text) return std::nullopt;
  double p = -1;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), p);
  if (ec != std::errc() || end != text->data() + text->size() || !std::isfinite(p) || p < 0 ||
      p > 1) {
    expected(v, what);
    return std::nullopt;
  }
  return p;
}

template <typename T>
std::optional<T> Parser::choice(const Value& v, std::initializer_list<Choice<T>> choices) {
  std::vector<std::string_view> names;
  for (const Choice<T>& c : choices) names.push_back(c.name);
  const std::string what = alternatives(names);
  const auto text = scalar(v, what);
  if (!text) return std::nullopt;
  for (const Choice<T>& c : choices) {
    if (*text == c.name) return c.value;
  }
  expected(v, what);
  return std::nullopt;
}

std::optional<wire::Ipv4Address> Parser::ipv4_address(const Value& v) {
  constexpr std::string_view what = "an IPv4 address like 198.18.0.2";
  const auto text = scalar(v, what);
  if (!text) return std::nullopt;
  const auto a = wire::Ipv4Address::parse(*text);
  if (!a) {
    const bool has_prefix = text->find('/') != std::string::npos;
    expected(v, what, has_prefix ? "one host: no prefix length" : "");
  }
  return a;
}

std::optional<wire::MacAddress> Parser::unicast_mac(const Value& v) {
  constexpr std::string_view what = "a MAC address, six hex pairs like 02:00:00:00:00:01";
  const auto text = scalar(v, what);
  if (!text) return std::nullopt;
  const auto mac = wire::MacAddress::parse(*text);
  if (!mac) {
    expected(v, what);
    return std::nullopt;
  }
  if (!mac->is_unicast()) {
    error(v, "must be a unicast MAC address, but " + quoted(*text) + " " + mac_problem(*mac));
    return std::nullopt;
  }
  return mac;
}

void Parser::read_root(const Value& root) {
  GatewayConfig& c = config_;
  const auto seen = read_map(
      root, "a map of settings",
      {
          {"instance",
           [&](const Value& v) {
             constexpr std::string_view what =
                 "an instance name: 1-32 characters of a-z, 0-9, '_' and '-'";
             const auto s = scalar(v, what);
             if (!s) return;
             if (!is_simple_name(*s, 32)) return expected(v, what);
             c.instance = *s;
           }},
          {"interface",
           [&](const Value& v) {
             constexpr std::string_view what =
                 "a network interface name: 1-15 characters, no '/', ':' or spaces";
             const auto s = scalar(v, what);
             if (!s) return;
             if (!config_rules::is_interface_name(*s)) return expected(v, what);
             c.interface = *s;
           }},
          {"queues", [&](const Value& v) { read_queues(v); }},
          {"backend",
           [&](const Value& v) {
             if (const auto b = choice<LinkBackend>(
                     v, {{"xdp", LinkBackend::xdp}, {"af_packet", LinkBackend::af_packet}})) {
               c.backend = *b;
               backend_set_ = *b;
             }
           }},
          {"xdp_mode",
           [&](const Value& v) {
             if (const auto m =
                     choice<XdpMode>(v, {{"native", XdpMode::native}, {"skb", XdpMode::skb}})) {
               c.xdp_mode = *m;
             }
           }},
          {"xdp_force_copy",
           [&](const Value& v) {
             if (const auto b = boolean(v)) c.xdp_force_copy = *b;
           }},
          {"address",
           [&](const Value& v) {
             constexpr std::string_view what =
                 "an IPv4 address with a prefix length 1-32, like 198.18.0.1/24";
             const auto s = scalar(v, what);
             if (!s) return;
             const auto cidr = wire::Ipv4Cidr::parse(*s);
             if (!cidr) return expected(v, what);
             if (const auto problem = config_rules::host_address_problem(*cidr)) {
               return error(v,
                            "must be a unicast host address, but " + quoted(*s) + " " + *problem);
             }
             c.address = *cidr;
             address_ok_ = true;
           }},
          {"gateway",
           [&](const Value& v) {
             if (const auto a = ipv4_address(v)) c.gateway = *a;
             gateway_ok_ = c.gateway.has_value();
           }},
          {"mac",
           [&](const Value& v) {
             if (const auto m = unicast_mac(v)) c.mac = *m;
           }},
          {"mtu",
           [&](const Value& v) {
             if (const auto n = integer(v, 68, 9000)) c.mtu = static_cast<uint16_t>(*n);
           }},
          {"vlan",
           [&](const Value& v) {
             if (const auto n = integer(v, 1, 4094)) c.vlan = static_cast<uint16_t>(*n);
           }},
          {"static_arp", [&](const Value& v) { read_static_arp(v); }},
          {"workers",
           [&](const Value& v) {
             if (const auto n = integer(v, 1, 64)) c.workers = static_cast<uint32_t>(*n);
           }},
          {"worker_user",
           [&](const Value& v) {
             constexpr std::string_view what =
                 "a user name: a-z or '_', then up to 31 of a-z, 0-9, '_' and '-'";
             const auto s = scalar(v, what);
             if (!s) return;
             if (!is_user_name(*s)) return expected(v, what);
             c.worker_user = *s;
           }},
          {"drain_timeout",
           [&](const Value& v) {
             if (const auto d = duration(v, Duration::zero(), std::chrono::hours(1))) {
               c.drain_timeout = *d;
             }
           }},
          {"watchdog_timeout",
           [&](const Value& v) {
             const auto d = duration(v, Duration::zero(), std::chrono::hours(1));
             if (!d) return;
             // Below a second, a worker busy in one long round (a cold file read) would be
             // taken for a hung one.
             if (*d != Duration::zero() && *d < std::chrono::seconds(1)) {
               return error(v, "must be 0s (no watchdog) or from 1s to 1h, got " +
                                   config_rules::format_duration(*d));
             }
             c.watchdog_timeout = *d;
           }},
          {"umem", [&](const Value& v) { read_umem(v); }},
          {"ring_size",
           [&](const Value& v) {
             if (const auto n = power_of_two(v, 64, 16384)) c.ring_size = static_cast<uint32_t>(*n);
           }},
          {"tcp", [&](const Value& v) { read_tcp(v); }},
          {"listeners", [&](const Value& v) { read_listeners(v); }},
          {"testing", [&](const Value& v) { read_testing(v); }},
          {"pools", [&](const Value& v) { read_pools(v); }},
          {"management", [&](const Value& v) { read_management(v); }},
      });
  if (!seen) return;
  require(root, *seen, "interface", "the network interface to serve, like `interface: eth1`");
  require(root, *seen, "address", "our IPv4 address and subnet, like `address: 198.18.0.1/24`");
}

void Parser::read_queues(const Value& v) {
  constexpr std::string_view what = "'all' or a list of queue numbers 0-63, like [0, 1]";
  if (v.node.IsScalar()) {
    if (v.node.Scalar() != "all") expected(v, what);
    return;  // all: queues stays empty
  }
  if (!v.node.IsSequence() || v.node.size() == 0) return expected(v, what);
  const auto items = list_items(v, what);
  if (!items) return;
  std::map<uint64_t, const Value*> first;
  for (const Value& item : *items) {
    const auto q = integer(item, 0, 63);
    if (!q) continue;
    if (const auto [earlier, inserted] = first.emplace(*q, &item); !inserted) {
      error(item, "queue " + std::to_string(*q) + " is already listed (" + earlier->second->path +
                      ", line " + std::to_string(earlier->second->line) + ")");
      continue;
    }
    config_.queues.push_back(static_cast<uint32_t>(*q));
  }
}

void Parser::read_static_arp(const Value& v) {
  const auto items = list_items(v, "a list of {ip, mac} entries");
  if (!items) return;
  for (const Value& item : *items) {
    std::optional<wire::Ipv4Address> ip;
    std::optional<wire::MacAddress> mac;
    int ip_line = item.line;
    const auto seen =
        read_map(item, "a map with ip and mac, like {ip: 198.18.0.2, mac: 02:00:00:00:00:02}",
                 {
                     {"ip",
                      [&](const Value& x) {
                        ip_line = x.line;
                        ip = ipv4_address(x);
                      }},
                     {"mac", [&](const Value& x) { mac = unicast_mac(x); }},
                 });
    if (!seen) continue;
    require(item, *seen, "ip", "the neighbour's IPv4 address");
    require(item, *seen, "mac", "the neighbour's MAC address");
    if (!ip) continue;
    const auto duplicate =
        std::find_if(neighbours_.begin(), neighbours_.end(),
                     [&](const NeighbourSeen& n) { return n.neighbour.ip == *ip; });
    if (duplicate != neighbours_.end()) {
      error(ip_line, item.path + ".ip",
            ip->to_string() + " is already listed (" + duplicate->path + ", line " +
                std::to_string(duplicate->ip_line) + ")");
      continue;
    }
    if (!mac) continue;
    neighbours_.push_back(NeighbourSeen{StaticNeighbour{*ip, *mac}, item.path, ip_line});
    config_.static_arp.push_back(StaticNeighbour{*ip, *mac});
  }
}

void Parser::read_umem(const Value& v) {
  read_map(v, "a map with frames and frame_size",
           {
               {"frames",
                [&](const Value& x) {
                  if (const auto n = power_of_two(x, 1024, 262144)) {
                    config_.umem_frames = static_cast<uint32_t>(*n);
                  }
                }},
               {"frame_size",
                [&](const Value& x) {
                  const auto n = scalar(x, "2048 or 4096");
                  if (!n) return;
                  if (*n == "2048" || *n == "4096") {
                    config_.frame_size = static_cast<uint32_t>(std::stoul(*n));
                  } else {
                    expected(x, "2048 or 4096");
                  }
                }},
           });
}

void Parser::read_tcp(const Value& v) {
  tcp::TcpConfig& t = config_.tcp;
  // Each makes the reader of one field; the field is held by pointer because the reader
  // outlives the call that made it.
  auto buffer = [this](uint32_t& field) {
    return [this, out = &field](const Value& x) {
      if (const auto n = byte_size(x, 4096, 64 * kMiB)) *out = static_cast<uint32_t>(*n);
    };
  };
  auto time = [this](Duration& field, Duration min, Duration max) {
    return [this, out = &field, min, max](const Value& x) {
      if (const auto d = duration(x, min, max)) *out = *d;
    };
  };
  auto count = [this](uint32_t& field, uint64_t min, uint64_t max) {
    return [this, out = &field, min, max](const Value& x) {
      if (const auto n = integer(x, min, max)) *out = static_cast<uint32_t>(*n);
    };
  };
  auto flag = [this](bool& field) {
    return [this, out = &field](const Value& x) {
      if (const auto b = boolean(x)) *out = *b;
    };
  };
  // TCP_KEEPIDLE and TCP_KEEPINTVL accept 1-32767 seconds (as on Linux): the same here.
  constexpr Duration kKeepaliveMax = seconds(32767);
  read_map(v, "a map of TCP settings",
           {
               {"send_buffer", buffer(t.send_buffer)},
               {"receive_buffer", buffer(t.receive_buffer)},
               {"min_mss",
                [&](const Value& x) {
                  if (const auto n = integer(x, 88, 9000)) t.min_mss = static_cast<uint16_t>(*n);
                }},
               {"rto_initial", time(t.rto_initial, milliseconds(1), minutes(10))},
               {"rto_min", time(t.rto_min, milliseconds(1), minutes(10))},
               {"rto_max", time(t.rto_max, milliseconds(1), minutes(10))},
               {"msl", time(t.msl, milliseconds(1), minutes(10))},
               // 0 is allowed: no connection keeps a TIME-WAIT record.
               {"max_time_wait", count(t.max_time_wait, 0, 1u << 24)},
               // RFC 1122 4.2.3.2: the delay MUST be less than 0.5 seconds.
               {"delayed_ack", time(t.delayed_ack, milliseconds(1), milliseconds(500))},
               {"keepalive_idle", time(t.keepalive_idle, seconds(1), kKeepaliveMax)},
               {"keepalive_interval", time(t.keepalive_interval, seconds(1), kKeepaliveMax)},
               {"keepalive_count", count(t.keepalive_count, 1, 127)},
               {"syn_retries", count(t.syn_retries, 1, 127)},
               {"synack_retries", count(t.synack_retries, 1, 127)},
               {"max_syn_backlog", count(t.max_syn_backlog, 1, 1u << 20)},
               {"syn_cookies", flag(t.syn_cookies)},
               {"timestamps", flag(t.timestamps)},
               {"sack", flag(t.sack)},
               {"window_scaling", flag(t.window_scaling)},
               {"ecn", flag(t.ecn)},
               {"congestion",
                [&](const Value& x) {
                  if (const auto cubic = choice<bool>(x, {{"cubic", true}, {"newreno", false}})) {
                    t.cubic = *cubic;
                  }
                }},
               {"challenge_acks_per_second", count(t.challenge_acks_per_second, 1, 10000)},
               // 0 is allowed: every out-of-order segment is dropped and retransmitted.
               {"ooo_memory_limit",
                [&](const Value& x) {
                  if (const auto n = byte_size(x, 0, 64 * kMiB)) {
                    t.ooo_memory_limit = static_cast<uint32_t>(*n);
                  }
                }},
               {"persist_max", time(t.persist_max, milliseconds(100), minutes(10))},
           });
}

void Parser::read_listeners(const Value& v) {
  const auto items = list_items(v, "a list of listeners");
  if (!items) return;
  for (const Value& item : *items) read_listener(item);
}

// The layout of a listener: what every listener has (name, protocol, port, app), then a map
// named after its app with that app's settings (`chargen:` here; `http:` and `proxy:` later).
// Such a map is allowed only on a listener running that app.
void Parser::read_listener(const Value& v) {
  ListenerConfig l;
  l.line = v.line;
  bool has_name = false;
  bool has_port = false;
  bool app_ok = true;       // false: the app value was wrong (already reported)
  bool protocol_ok = true;  // likewise for the protocol
  const auto seen = read_map(
      v, "a map with name, port and app, like {name: echo, port: 7, app: echo}",
      {
          {"name",
           [&](const Value& x) {
             constexpr std::string_view what =
                 "a listener name: 1-32 characters of a-z, 0-9, '_' and '-'";
             const auto s = scalar(x, what);
             if (!s) return;
             if (!is_simple_name(*s, 32)) return expected(x, what);
             l.name = *s;
             has_name = true;
           }},
          {"protocol",
           [&](const Value& x) {
             const auto p = choice<ListenerProtocol>(
                 x, {{"tcp", ListenerProtocol::tcp}, {"udp", ListenerProtocol::udp}});
             if (p) l.protocol = *p;
             protocol_ok = p.has_value();
           }},
          {"port",
           [&](const Value& x) {
             if (const auto n = integer(x, 1, 65535)) {
               l.port = static_cast<uint16_t>(*n);
               has_port = true;
             }
           }},
          {"app",
           [&](const Value& x) {
             const auto a = choice<AppKind>(x, {{"echo", AppKind::echo},
                                                {"discard", AppKind::discard},
                                                {"chargen", AppKind::chargen},
                                                {"proxy", AppKind::proxy},
                                                {"http", AppKind::http}});
             if (a) l.app = *a;
             app_ok = a.has_value();
           }},
          {"backlog",
           [&](const Value& x) {
             if (const auto n = integer(x, 1, 65535)) l.backlog = static_cast<uint32_t>(*n);
           }},
          {"chargen",
           [&](const Value& x) {
             read_map(
                 x, "a map of chargen settings",
                 {
                     {"bytes",
                      [&](const Value& y) {
                        if (const auto n = byte_size(y, 0, std::numeric_limits<uint64_t>::max())) {
                          l.chargen.bytes = *n;
                        }
                      }},
                 });
           }},
          {"proxy", [&](const Value& x) { read_proxy_settings(x, l.proxy); }},
          {"http", [&](const Value& x) { read_http_settings(x, l.http); }},
      });
  if (!seen) return;
  require(v, *seen, "name", "the listener's name, used in logs and metrics");
  require(v, *seen, "port", "the port to listen on, 1-65535");

  const bool udp = protocol_ok && l.protocol == ListenerProtocol::udp;
  if (udp && app_ok && l.app == AppKind::chargen) {
    error(key_line(v.path + ".app"), v.path + ".app",
          "chargen is served over TCP only, and this listener's protocol is udp");
  }
  if (udp && seen->count("backlog") && ok(v.path + ".backlog")) {
    error(key_line(v.path + ".backlog"), v.path + ".backlog",
          "applies to TCP listeners only, and this listener's protocol is udp");
  }
  if (app_ok && l.app != AppKind::chargen && seen->count("chargen") && ok(v.path + ".chargen")) {
    error(key_line(v.path + ".chargen"), v.path + ".chargen",
          "holds settings for app chargen, but this listener's app is " +
              std::string(app_name(l.app)) + (seen->count("app") ? "" : " (the default)"));
  }
  if (app_ok && l.app == AppKind::proxy) {
    if (udp) {
      error(key_line(v.path + ".app"), v.path + ".app",
            "proxy is served over TCP only, and this listener's protocol is udp");
    } else if (!seen->count("proxy")) {
      error(v.line, v.path + ".proxy",
            "is required for app proxy: at least the pool, like `proxy: {pool: web}`");
    } else if (ok(v.path + ".proxy")) {
      if (l.proxy.pool.empty()) {
        error(key_line(v.path + ".proxy"), v.path + ".proxy.pool",
              "is required: the name of the pool (in `pools`) this listener forwards to");
      } else {
        proxy_listeners_.push_back(ProxyListenerSeen{v.path, l.proxy.pool});
      }
    }
  }
  if (app_ok && l.app != AppKind::proxy && seen->count("proxy") && ok(v.path + ".proxy")) {
    error(key_line(v.path + ".proxy"), v.path + ".proxy",
          "holds settings for app proxy, but this listener's app is " +
              std::string(app_name(l.app)) + (seen->count("app") ? "" : " (the default)"));
  }
  if (app_ok && l.app == AppKind::http) {
    if (udp) {
      error(key_line(v.path + ".app"), v.path + ".app",
            "http is served over TCP only, and this listener's protocol is udp");
    } else {
      check_http_listener(v, l, seen->count("http") != 0);
    }
  }
  if (app_ok && l.app != AppKind::http && seen->count("http") && ok(v.path + ".http")) {
    error(key_line(v.path + ".http"), v.path + ".http",
          "holds settings for app http, but this listener's app is " +
              std::string(app_name(l.app)) + (seen->count("app") ? "" : " (the default)"));
  }

  // A name and a port belong to one listener only. The first one keeps them; later ones are
  // told where it is.
  for (size_t i = 0; i < config_.listeners.size(); ++i) {
    const ListenerConfig& other = config_.listeners[i];
    const ListenerSeen& other_seen = listeners_seen_[i];
    if (has_name && other_seen.has_name && other.name == l.name) {
      error(key_line(v.path + ".name"), v.path + ".name",
            "'" + l.name + "' is already the name of " + other_seen.path + " (line " +
                std::to_string(key_line(other_seen.path + ".name")) + ")");
      has_name = false;
    }
    if (has_port && other_seen.has_port && protocol_ok && other.port == l.port &&
        other.protocol == l.protocol) {
      const std::string owner =
          other_seen.has_name ? "listener '" + other.name + "'" : other_seen.path;
      error(key_line(v.path + ".port"), v.path + ".port",
            std::string(udp ? "UDP" : "TCP") + " port " + std::to_string(l.port) +
                " is already used by " + owner + " (line " +
                std::to_string(key_line(other_seen.path + ".port")) + ")");
      has_port = false;
    }
  }
  listeners_seen_.push_back(ListenerSeen{v.path, has_name, has_port && protocol_ok});
  config_.listeners.push_back(std::move(l));
}

// A proxy listener's `proxy:` map. The pool is checked against `pools` after the pass (the
// pools may come later in the file).
void Parser::read_proxy_settings(const Value& v, ProxySettings& proxy) {
  read_map(v, "a map of proxy settings, like {pool: web}",
           {
               {"pool",
                [&](const Value& x) {
                  constexpr std::string_view what =
                      "a pool name: 1-32 characters of a-z, 0-9, '_' and '-'";
                  const auto s = scalar(x, what);
                  if (!s) return;
                  if (!is_simple_name(*s, 32)) return expected(x, what);
                  proxy.pool = *s;
                }},
               {"connect_timeout",
                [&](const Value& x) {
                  if (const auto d = duration(x, milliseconds(1), minutes(10))) {
                    proxy.connect_timeout = *d;
                  }
                }},
               {"connect_attempts",
                [&](const Value& x) {
                  if (const auto n = integer(x, 1, 16)) {
                    proxy.connect_attempts = static_cast<uint32_t>(*n);
                  }
                }},
               {"idle_timeout",
                [&](const Value& x) {
                  if (const auto d = duration(x, milliseconds(1), std::chrono::hours(24))) {
                    proxy.idle_timeout = *d;
                  }
                }},
               {"proxy_protocol",
                [&](const Value& x) {
                  if (const auto p =
                          choice<ProxyProtocolVersion>(x, {{"none", ProxyProtocolVersion::none},
                                                           {"v1", ProxyProtocolVersion::v1},
                                                           {"v2", ProxyProtocolVersion::v2}})) {
                    proxy.proxy_protocol = *p;
                  }
                }},
           });
}

// An http listener's `http:` map (apps/http/http_service.hpp). Whether it has exactly one of
// root and response is checked by check_http_listener, once the whole map is read.
void Parser::read_http_settings(const Value& v, HttpSettings& http) {
  read_map(
      v, "a map of http settings, like {root: /srv/www} or {response: {body: hello}}",
      {
          {"root",
           [&](const Value& x) {
             constexpr std::string_view what = "an absolute path to a directory, like /srv/www";
             const auto s = scalar(x, what);
             if (!s) return;
             if (s->empty() || (*s)[0] != '/' || s->find('\0') != std::string::npos ||
                 s->size() > 4095) {
               return expected(x, what);
             }
             http.root = *s;
           }},
          {"index",
           [&](const Value& x) {
             constexpr std::string_view what =
                 "a file name (no '/'), served for a directory, like index.html";
             const auto s = scalar(x, what);
             if (!s) return;
             if (s->empty() || *s == "." || *s == ".." || s->size() > 255 ||
                 s->find_first_of(std::string_view("/\0", 2)) != std::string::npos) {
               return expected(x, what);
             }
             http.index = *s;
           }},
          {"response",
           [&](const Value& x) {
             HttpResponseSettings r;
             const std::string body_path = x.path + ".body";
             const std::string bytes_path = x.path + ".body_bytes";
             const auto rs = read_map(
                 x, "a map with status, body or body_bytes, and content_type",
                 {
                     {"status",
                      [&](const Value& y) {
                        if (const auto n = integer(y, 200, 599))
                          r.status = static_cast<uint32_t>(*n);
                      }},
                     {"body",
                      [&](const Value& y) {
                        if (const auto b = scalar(y, "text")) r.body = *b;
                      }},
                     {"body_bytes",
                      [&](const Value& y) {
                        if (const auto n = byte_size(y, 0, 64 * kMiB)) r.body_bytes = *n;
                      }},
                     {"content_type",
                      [&](const Value& y) {
                        constexpr std::string_view what =
                            "a media type of 1-200 visible characters, like text/html";
                        const auto t = scalar(y, what);
                        if (!t) return;
                        const bool printable = std::all_of(
                            t->begin(), t->end(), [](char c) { return c >= 0x20 && c < 0x7f; });
                        if (t->empty() || t->size() > 200 || !printable) return expected(y, what);
                        r.content_type = *t;
                      }},
                 });
             if (!rs) return;
             if (rs->count("body") && rs->count("body_bytes") && ok(body_path) && ok(bytes_path)) {
               const bool bytes_later = key_line(bytes_path) > key_line(body_path);
               const std::string& later = bytes_later ? bytes_path : body_path;
               error(key_line(later), later,
                     std::string("body and body_bytes exclude each other: the content is either "
                                 "given or generated (") +
                         (bytes_later ? "body" : "body_bytes") + " is at line " +
                         std::to_string(key_line(bytes_later ? body_path : bytes_path)) + ")");
             }
             // RFC 9110 15.3.5: "A 204 response is terminated by the end of the header
             // section; it cannot contain content".
             const bool has_content = !r.body.empty() || r.body_bytes.value_or(0) > 0;
             if (r.status == 204 && has_content) {
               const std::string& at = rs->count("body") ? body_path : bytes_path;
               error(key_line(at), at, "a 204 (No Content) response cannot have content");
             }
             http.response = std::move(r);
           }},
          {"request_timeout",
           [&](const Value& x) {
             if (const auto d = duration(x, milliseconds(1), std::chrono::hours(1))) {
               http.request_timeout = *d;
             }
           }},
          {"keepalive_timeout",
           [&](const Value& x) {
             if (const auto d = duration(x, Duration::zero(), std::chrono::hours(1))) {
               http.keepalive_timeout = *d;
             }
           }},
          {"max_header_bytes",
           [&](const Value& x) {
             if (const auto n = byte_size(x, kKiB, kMiB)) {
               http.max_header_bytes = static_cast<uint32_t>(*n);
             }
           }},
          {"max_headers",
           [&](const Value& x) {
             if (const auto n = integer(x, 1, 10000)) http.max_headers = static_cast<uint32_t>(*n);
           }},
          {"max_requests_per_connection",
           [&](const Value& x) {
             if (const auto n = integer(x, 0, std::numeric_limits<uint32_t>::max())) {
               http.max_requests_per_connection = *n;
             }
           }},
      });
}

// An http listener serves static files (root) or a fixed response, never both, never neither.
void Parser::check_http_listener(const Value& v, const ListenerConfig& l, bool has_http_map) {
  const std::string http_path = v.path + ".http";
  if (!has_http_map) {
    return error(v.line, http_path,
                 "is required for app http: root (a directory of static files) or response (a "
                 "fixed response), like `http: {root: /srv/www}`");
  }
  if (!ok(http_path)) return;
  const std::string root_path = http_path + ".root";
  const std::string response_path = http_path + ".response";
  const std::string index_path = http_path + ".index";
  const int root_line = key_line(root_path);
  const int response_line = key_line(response_path);
  if (root_line == 0 && response_line == 0) {
    return error(key_line(http_path), http_path,
                 "needs root (a directory of static files) or response (a fixed response)");
  }
  if (root_line != 0 && response_line != 0) {
    const bool response_later = response_line > root_line;
    return error(response_later ? response_line : root_line,
                 response_later ? response_path : root_path,
                 "root (line " + std::to_string(root_line) + ") and response (line " +
                     std::to_string(response_line) +
                     ") exclude each other: a listener serves static files or a fixed response");
  }
  if (l.http.response && key_line(index_path) != 0 && ok(index_path)) {
    error(key_line(index_path), index_path,
          "applies to root only, and this listener has a fixed response");
  }
}

void Parser::read_pools(const Value& v) {
  const auto items = list_items(v, "a list of backend pools");
  if (!items) return;
  for (const Value& item : *items) read_pool(item);
}

void Parser::read_pool(const Value& v) {
  PoolConfig pool;
  pool.line = v.line;
  bool has_name = false;
  const auto seen = read_map(
      v, "a map with name and backends, like {name: web, backends: [{address: 198.18.0.2:80}]}",
      {
          {"name",
           [&](const Value& x) {
             constexpr std::string_view what =
                 "a pool name: 1-32 characters of a-z, 0-9, '_' and '-'";
             const auto s = scalar(x, what);
             if (!s) return;
             if (!is_simple_name(*s, 32)) return expected(x, what);
             pool.name = *s;
             has_name = true;
           }},
          {"balance",
           [&](const Value& x) {
             if (const auto b =
                     choice<BalanceKind>(x, {{"round_robin", BalanceKind::round_robin},
                                             {"least_connections", BalanceKind::least_connections},
                                             {"maglev", BalanceKind::maglev}})) {
               pool.balance = *b;
             }
           }},
          {"backends",
           [&](const Value& x) {
             const auto backends = list_items(x, "a list of backends, like [{address: ...}]");
             if (!backends) return;
             if (backends->empty()) {
               error(x, "must list at least one backend");
               return;
             }
             for (const Value& b : *backends) read_backend(b, pool, v.path);
           }},
          {"health_check",
           [&](const Value& x) {
             HealthCheckConfig h;
             const auto hs = read_map(
                 x, "a map of health check settings, like {interval: 2s, timeout: 1s}",
                 {
                     {"interval",
                      [&](const Value& y) {
                        if (const auto d = duration(y, milliseconds(10), std::chrono::hours(1))) {
                          h.interval = *d;
                        }
                      }},
                     {"timeout",
                      [&](const Value& y) {
                        if (const auto d = duration(y, milliseconds(1), std::chrono::hours(1))) {
                          h.timeout = *d;
                        }
                      }},
                     {"rise",
                      [&](const Value& y) {
                        if (const auto n = integer(y, 1, 100)) h.rise = static_cast<uint32_t>(*n);
                      }},
                     {"fall",
                      [&](const Value& y) {
                        if (const auto n = integer(y, 1, 100)) h.fall = static_cast<uint32_t>(*n);
                      }},
                 });
             if (!hs) return;
             const std::string timeout_path = x.path + ".timeout";
             // One check at a time per backend: a timeout longer than the interval would
             // have the next check start while the last one still waits.
             if (h.timeout > h.interval && ok(timeout_path) && ok(x.path + ".interval")) {
               const int line = key_line(timeout_path);
               error(line != 0 ? line : x.line, timeout_path,
                     format_duration(h.timeout) + " must not exceed the interval (" +
                         format_duration(h.interval) + ")");
             }
             pool.health_check = h;
           }},
          {"passive_ejection",
           [&](const Value& x) {
             PassiveEjectionConfig e;
             const auto es = read_map(
                 x, "a map with failures and duration, like {failures: 3, duration: 30s}",
                 {
                     {"failures",
                      [&](const Value& y) {
                        if (const auto n = integer(y, 1, 1000)) {
                          e.failures = static_cast<uint32_t>(*n);
                        }
                      }},
                     {"duration",
                      [&](const Value& y) {
                        if (const auto d = duration(y, milliseconds(1), std::chrono::hours(1))) {
                          e.duration = *d;
                        }
                      }},
                 });
             if (es) pool.passive_ejection = e;
           }},
      });
  if (!seen) {
    pools_ok_ = false;
    return;
  }
  require(v, *seen, "name", "the pool's name, which proxy listeners refer to");
  require(v, *seen, "backends", "the list of backends, like [{address: 198.18.0.2:80}]");
  if (!has_name) {
    pools_ok_ = false;
    return;
  }
  for (const PoolConfig& other : config_.pools) {
    if (other.name == pool.name) {
      error(key_line(v.path + ".name"), v.path + ".name",
            "'" + pool.name + "' is already the name of the pool at line " +
                std::to_string(other.line));
      return;
    }
  }
  config_.pools.push_back(std::move(pool));
}

void Parser::read_backend(const Value& v, PoolConfig& pool, const std::string& pool_path) {
  BackendConfig b;
  b.line = v.line;
  bool has_address = false;
  const auto seen = read_map(
      v, "a map with address, like {address: 198.18.0.2:80, weight: 1}",
      {
          {"address",
           [&](const Value& x) {
             constexpr std::string_view what = "an IPv4 address and port like 198.18.0.2:80";
             const auto s = scalar(x, what);
             if (!s) return;
             const size_t colon = s->rfind(':');
             if (colon == std::string::npos) return expected(x, what, "the port is missing");
             const auto ip = wire::Ipv4Address::parse(std::string_view(*s).substr(0, colon));
             const auto port =
                 config_rules::parse_decimal(std::string_view(*s).substr(colon + 1), 1, 65535);
             if (!ip || !port) return expected(x, what);
             if (const auto problem = config_rules::host_address_problem({*ip, 32})) {
               return error(x,
                            "must be a unicast host address, but " + quoted(*s) + " " + *problem);
             }
             b.address = *ip;
             b.port = static_cast<uint16_t>(*port);
             has_address = true;
           }},
          {"weight",
           [&](const Value& x) {
             if (const auto n = integer(x, 0, 1000)) b.weight = static_cast<uint32_t>(*n);
           }},
          {"max_connections",
           [&](const Value& x) {
             if (const auto n = integer(x, 0, 10'000'000)) {
               b.max_connections = static_cast<uint32_t>(*n);
             }
           }},
      });
  if (!seen) return;
  require(v, *seen, "address", "the backend's IPv4 address and port, like 198.18.0.2:80");
  if (!has_address) return;
  const std::string address_path = v.path + ".address";
  for (size_t i = 0; i < pool.backends.size(); ++i) {
    const BackendConfig& other = pool.backends[i];
    if (other.address == b.address && other.port == b.port) {
      error(key_line(address_path), address_path,
            b.address.to_string() + ":" + std::to_string(b.port) + " is already a backend of " +
                "this pool (" + pool_path + ".backends[" + std::to_string(i) + "], line " +
                std::to_string(other.line) + ")");
      return;
    }
  }
  backends_seen_.push_back(BackendSeen{v.path, b.address, key_line(address_path)});
  pool.backends.push_back(b);
}

// Test-only settings. Nothing here belongs in production: the fault injector exists because
// this kernel has no netem, so integration tests make their own loss and reordering.
// `management: off`, or `management: {address: HOST:PORT}` (an empty map keeps the default).
void Parser::read_management(const Value& v) {
  constexpr std::string_view what = "off, or a map with address, like {address: 127.0.0.1:9180}";
  if (v.node.IsScalar()) {
    if (v.node.Scalar() != "off") return expected(v, what);
    config_.management.reset();
    return;
  }
  ManagementConfig m;
  const auto seen = read_map(
      v, what,
      {
          {"address",
           [&](const Value& x) {
             constexpr std::string_view address_what =
                 "an IPv4 address and port like 127.0.0.1:9180 (0.0.0.0 for every address)";
             const auto s = scalar(x, address_what);
             if (!s) return;
             const size_t colon = s->rfind(':');
             if (colon == std::string::npos) {
               return expected(x, address_what, "the port is missing");
             }
             const auto ip = wire::Ipv4Address::parse(std::string_view(*s).substr(0, colon));
             const auto port =
                 config_rules::parse_decimal(std::string_view(*s).substr(colon + 1), 1, 65535);
             if (!ip || !port) return expected(x, address_what);
             if (ip->is_multicast() || ip->is_limited_broadcast()) {
               return error(x, "must be an address of this host, but " + quoted(*s) +
                                   " is a multicast or broadcast address");
             }
             m.address = *ip;
             m.port = static_cast<uint16_t>(*port);
           }},
      });
  if (seen) config_.management = m;
}

void Parser::read_testing(const Value& v) {
  read_map(v, "a map with fault_injection",
           {{"fault_injection", [&](const Value& x) { read_fault_injection(x); }}});
}

void Parser::read_fault_injection(const Value& v) {
  FaultInjectionConfig f;
  auto chance = [this](double& field) {
    return [this, out = &field](const Value& x) {
      if (const auto p = probability(x)) *out = *p;
    };
  };
  const auto seen =
      read_map(v, "a map of fault injection settings",
               {
                   {"seed",
                    [&](const Value& x) {
                      if (const auto n = integer(x, 0, std::numeric_limits<uint64_t>::max()))
                        f.seed = *n;
                    }},
                   {"drop", chance(f.drop)},
                   {"duplicate", chance(f.duplicate)},
                   {"reorder", chance(f.reorder)},
                   {"corrupt", chance(f.corrupt)},
                   {"direction",
                    [&](const Value& x) {
                      enum class Direction { receive, transmit, both };
                      const auto d = choice<Direction>(x, {{"receive", Direction::receive},
                                                           {"transmit", Direction::transmit},
                                                           {"both", Direction::both}});
                      if (!d) return;
                      f.on_receive = *d != Direction::transmit;
                      f.on_transmit = *d != Direction::receive;
                    }},
               });
  // Present is enabled, even when empty: the section's presence is the switch.
  if (seen) config_.fault_injection = f;
}

void Parser::check_addresses() {
  if (!address_ok_) return;
  const wire::Ipv4Cidr& subnet = config_.address;
  const std::string address_at = " (address, line " + std::to_string(key_line("address")) + ")";
  if (config_.gateway && !config_rules::is_other_host(subnet, *config_.gateway)) {
    error(key_line("gateway"), "gateway",
          "must be another host of our subnet, but " + config_.gateway->to_string() + " " +
              other_host_problem(subnet, *config_.gateway) + address_at);
  }
  for (const NeighbourSeen& n : neighbours_) {
    if (!config_rules::is_other_host(subnet, n.neighbour.ip)) {
      error(n.ip_line, n.path + ".ip",
            "must be another host of our subnet, but " + n.neighbour.ip.to_string() + " " +
                other_host_problem(subnet, n.neighbour.ip) + address_at);
    }
  }
  // The management socket is the kernel's, and the kernel must not have our address (it
  // would answer ARP and ping for it beside us), so binding to it could only fail at start.
  if (config_.management && config_.management->address == subnet.address &&
      ok("management.address")) {
    error(key_line("management.address"), "management.address",
          "must be an address the kernel has (the endpoint is a kernel socket), but " +
              config_.management->address.to_string() + " is flowgate's own" + address_at +
              "; use 127.0.0.1 or another address of this host");
  }
}

// Proxy listeners name pools that exist, and every backend can be reached from our address:
// on our subnet (and not our own address), or beyond it through the gateway.
void Parser::check_pools() {
  if (pools_ok_ && ok("pools")) {
    for (const ProxyListenerSeen& l : proxy_listeners_) {
      const bool found = std::any_of(config_.pools.begin(), config_.pools.end(),
                                     [&](const PoolConfig& p) { return p.name == l.pool; });
      if (found) continue;
      std::string known;
      for (const PoolConfig& p : config_.pools) known += (known.empty() ? "" : ", ") + p.name;
      const std::string path = l.path + ".proxy.pool";
      error(key_line(path), path,
            "no pool is named '" + l.pool + "' (" +
                (known.empty() ? std::string("the file has no pools") : "pools: " + known) + ")");
    }
  }
  if (!address_ok_) return;
  const wire::Ipv4Cidr& subnet = config_.address;
  const std::string net = subnet.network().to_string() + "/" + std::to_string(subnet.prefix_len);
  for (const BackendSeen& b : backends_seen_) {
    const std::string path = b.path + ".address";
    if (subnet.contains(b.address)) {
      if (!config_rules::is_other_host(subnet, b.address)) {
        error(b.address_line, path,
              "must be another host, but " + b.address.to_string() + " " +
                  other_host_problem(subnet, b.address) + " (address, line " +
                  std::to_string(key_line("address")) + ")");
      }
    } else if (!config_.gateway && gateway_ok_) {
      error(b.address_line, path,
            b.address.to_string() + " is outside our subnet " + net +
                " and no gateway is set to reach it (set `gateway:` or use a backend on " + net +
                ")");
    }
  }
}

void Parser::check_link() {
  // The XDP attach settings mean nothing to the AF_PACKET backend; refusing them keeps a
  // config from claiming a mode it does not run in.
  if (backend_set_ == LinkBackend::af_packet) {
    for (std::string_view key : {"xdp_mode", "xdp_force_copy"}) {
      if (const int line = key_line(key); line != 0 && ok(key)) {
        error(line, std::string(key),
              "applies to backend xdp only, and backend is af_packet (line " +
                  std::to_string(key_line("backend")) + ")");
      }
    }
  }
  if (config_.mtu && ok("umem.frame_size") && ok("vlan")) {
    const bool vlan = config_.vlan.has_value();
    const uint32_t largest = max_mtu_for_frame_size(config_.frame_size, vlan);
    if (*config_.mtu > largest) {
      error(key_line("mtu"), "mtu",
            std::to_string(*config_.mtu) + " does not fit a UMEM frame of " +
                std::to_string(config_.frame_size) + " bytes, which holds an MTU of at most " +
                std::to_string(largest) + " (256 bytes of kernel headroom and the " +
                (vlan ? "18-byte Ethernet and VLAN headers" : "14-byte Ethernet header") +
                " come first)" +
                (config_.frame_size < 4096 ? "; set umem.frame_size: 4096 or lower mtu"
                                           : "; lower mtu"));
    }
  }
}

void Parser::check_umem() {
  if (!ok("umem.frames") || !ok("workers") || !ok("ring_size") || !ok("queues")) return;
  const uint32_t nic_queues =
      config_.queues.empty() ? 1 : static_cast<uint32_t>(config_.queues.size());
  const uint64_t needed = min_umem_frames(config_.workers, config_.ring_size, nic_queues);
  if (config_.umem_frames >= needed) return;
  // Point at the key most likely to have caused it: umem.frames if the file sets it, else the
  // last of the keys the minimum grows with.
  int line = key_line("umem.frames");
  if (line == 0) {
    line = std::max({key_line("workers"), key_line("ring_size"), key_line("queues"), root_line_});
  }
  uint64_t suggestion = 1024;
  while (suggestion < needed) suggestion *= 2;
  std::string reason =
      std::to_string(config_.umem_frames) + " frames" +
      (key_line("umem.frames") ? "" : " (the default)") + " are too few for " +
      std::to_string(config_.workers) + (config_.workers == 1 ? " worker" : " workers") + " and " +
      std::to_string(nic_queues) + (nic_queues == 1 ? " NIC queue" : " NIC queues") +
      " with ring_size " + std::to_string(config_.ring_size) +
      ": every ring full at once needs ring_size x 2 x (workers + queues) = " +
      std::to_string(needed) +
      (config_.queues.empty() ? " (queues: all counts as 1 queue until start-up)" : "");
  reason += suggestion <= 262144
                ? "; set umem.frames: " + std::to_string(suggestion) + " or lower ring_size"
                : "; lower ring_size or workers";
  error(line, "umem.frames", reason);
}

void Parser::check_tcp() {
  const tcp::TcpConfig& t = config_.tcp;
  // rto_min <= rto_initial <= rto_max: blame the key of the pair that the file sets (the
  // later one if it sets both), since a default cannot be the mistake.
  auto order = [&](std::string_view low_key, Duration low, std::string_view high_key,
                   Duration high) {
    if (low <= high || !ok("tcp." + std::string(low_key)) || !ok("tcp." + std::string(high_key))) {
      return;
    }
    const std::string low_path = "tcp." + std::string(low_key);
    const std::string high_path = "tcp." + std::string(high_key);
    const int low_line = key_line(low_path);
    const int high_line = key_line(high_path);
    const bool blame_high = high_line > low_line;
    error(blame_high ? high_line : low_line, blame_high ? high_path : low_path,
          std::string(low_key) + " (" + format_duration(low) + ") must not exceed " +
              std::string(high_key) + " (" + format_duration(high) +
              "): rto_min <= rto_initial <= rto_max");
  };
  order("rto_min", t.rto_min, "rto_initial", t.rto_initial);
  order("rto_initial", t.rto_initial, "rto_max", t.rto_max);

  // The MSS floor applies whatever the path allows, so a floor above what the MTU carries
  // would make every full segment too large for our own link.
  constexpr uint32_t kHeaders = 40;  // IPv4 and TCP headers without options
  constexpr uint32_t kSmallestMinMss = 88;
  if (config_.mtu && ok("tcp.min_mss") && t.min_mss + kHeaders > *config_.mtu) {
    const int mss_line = key_line("tcp.min_mss");
    const bool blame_mss = mss_line != 0;
    const uint32_t mss_fit = *config_.mtu - kHeaders;
    error(blame_mss ? mss_line : key_line("mtu"), blame_mss ? "tcp.min_mss" : "mtu",
          "tcp.min_mss (" + std::to_string(t.min_mss) +
              ") plus 40 bytes of IPv4 and TCP headers must fit the MTU (" +
              std::to_string(*config_.mtu) + "): " +
              (mss_fit >= kSmallestMinMss
                   ? "lower tcp.min_mss to " + std::to_string(mss_fit) + " or raise mtu"
                   : "raise mtu to at least " + std::to_string(kSmallestMinMss + kHeaders)));
  }
}

}  // namespace

std::string_view app_name(AppKind app) {
  switch (app) {
    case AppKind::echo:
      return "echo";
    case AppKind::discard:
      return "discard";
    case AppKind::chargen:
      return "chargen";
    case AppKind::proxy:
      return "proxy";
    case AppKind::http:
      return "http";
  }
  return "?";
}

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  return out + reason;
}

int GatewayConfig::line_of(std::string_view key) const {
  const auto it = key_lines.find(key);
  return it == key_lines.end() ? 0 : it->second;
}

ConfigResult parse_config(std::string_view text, const std::string& source) {
  return Parser(text, source).run();
}

ConfigResult load_config_file(const std::string& path) {
  auto fail = [&](std::string reason) {
    return std::vector<ConfigError>{ConfigError{path, 0, "", std::move(reason)}};
  };
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return fail(std::string("cannot open: ") + std::strerror(errno));
  std::string text;
  char buffer[8192];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) {
    text.append(buffer, n);
    if (text.size() > kMaxFileBytes) {
      std::fclose(file);
      return fail("is larger than " + format_bytes(kMaxFileBytes) +
                  ", far more than any configuration: is it the right file?");
    }
  }
  const bool failed = std::ferror(file) != 0;
  const int read_errno = errno;
  std::fclose(file);
  if (failed) return fail(std::string("cannot read: ") + std::strerror(read_errno));
  return parse_config(text, path);
}

}  // namespace flowgate
