// Link and network addresses as value types. Ipv4Address keeps host byte order in memory;
// conversion to network order happens only at the wire views.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wire/bytes.hpp"

namespace flowgate::wire {

struct MacAddress {
  std::array<uint8_t, 6> octets{};

  static constexpr MacAddress broadcast() { return {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
  static constexpr MacAddress zero() { return {}; }
  static MacAddress load(Bytes b, size_t off);
  void store(MutableBytes b, size_t off) const;
  // "02:00:00:00:00:01"; nullopt unless six hex pairs separated by ':'.
  static std::optional<MacAddress> parse(std::string_view text);
  std::string to_string() const;

  bool is_broadcast() const { return *this == broadcast(); }
  // The I/G bit: set on group (multicast and broadcast) addresses.
  bool is_multicast() const { return (octets[0] & 0x01) != 0; }
  bool is_zero() const { return *this == zero(); }
  bool is_unicast() const { return !is_multicast() && !is_zero(); }
  auto operator<=>(const MacAddress&) const = default;
};

struct Ipv4Address {
  uint32_t value = 0;  // host byte order

  static constexpr Ipv4Address from_octets(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return {(uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | uint32_t{d}};
  }
  static constexpr Ipv4Address any() { return {0}; }
  static constexpr Ipv4Address limited_broadcast() { return {0xffffffffu}; }
  static Ipv4Address load(Bytes b, size_t off) { return {load_be32(b, off)}; }
  void store(MutableBytes b, size_t off) const { store_be32(b, off, value); }
  // Dotted quad only ("198.18.0.1"); nullopt on anything else.
  static std::optional<Ipv4Address> parse(std::string_view text);
  std::string to_string() const;

  bool is_unspecified() const { return value == 0; }
  bool is_limited_broadcast() const { return value == 0xffffffffu; }
  bool is_multicast() const { return (value >> 28) == 0xe; }  // 224.0.0.0/4
  bool is_loopback() const { return (value >> 24) == 127; }
  auto operator<=>(const Ipv4Address&) const = default;
};

// An interface address with its prefix: 198.18.0.1/24.
struct Ipv4Cidr {
  Ipv4Address address;
  uint8_t prefix_len = 32;

  static std::optional<Ipv4Cidr> parse(std::string_view text);
  uint32_t netmask() const { return prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - prefix_len); }
  Ipv4Address network() const { return {address.value & netmask()}; }
  Ipv4Address directed_broadcast() const { return {address.value | ~netmask()}; }
  bool contains(Ipv4Address a) const { return (a.value & netmask()) == network().value; }
  std::string to_string() const;
};

}  // namespace flowgate::wire
