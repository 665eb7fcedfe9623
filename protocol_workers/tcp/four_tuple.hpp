// The connection identifier: RFC 9293 section 3.4 "a connection is fully specified by the pair
// of sockets at the ends", seen from this host (local first).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "wire/addresses.hpp"

namespace flowgate::tcp {

struct FourTuple {
  wire::Ipv4Address local_ip;
  uint16_t local_port = 0;
  wire::Ipv4Address remote_ip;
  uint16_t remote_port = 0;

  bool operator==(const FourTuple&) const = default;

  // The 12 bytes the keyed hashes (ISN, SYN cookies) take: local ip, local port, remote ip,
  // remote port (RFC 6528's argument order of F()), each in network byte order.
  constexpr std::array<uint8_t, 12> bytes() const {
    std::array<uint8_t, 12> out{};
    put32(out, 0, local_ip.value);
    put16(out, 4, local_port);
    put32(out, 6, remote_ip.value);
    put16(out, 10, remote_port);
    return out;
  }

 private:
  static constexpr void put32(std::array<uint8_t, 12>& out, size_t off, uint32_t v) {
    out[off] = static_cast<uint8_t>(v >> 24);
    out[off + 1] = static_cast<uint8_t>(v >> 16);
    out[off + 2] = static_cast<uint8_t>(v >> 8);
    out[off + 3] = static_cast<uint8_t>(v);
  }
  static constexpr void put16(std::array<uint8_t, 12>& out, size_t off, uint16_t v) {
    out[off] = static_cast<uint8_t>(v >> 8);
    out[off + 1] = static_cast<uint8_t>(v);
  }
};

// For std::unordered_map<FourTuple, ...>. Not keyed: remote peers choose remote_ip and
// remote_port, so a table exposed to many untrusted peers should bound its bucket lengths or
// use a keyed hash (siphash24 in isn.hpp) instead. The mix is a 64-bit multiply-xorshift
// finalizer over the 96 bits, so every input bit reaches every output bit.
struct FourTupleHash {
  size_t operator()(const FourTuple& t) const noexcept {
    const uint64_t ips = (uint64_t{t.local_ip.value} << 32) | t.remote_ip.value;
    const uint64_t ports = (uint64_t{t.local_port} << 16) | t.remote_port;
    return static_cast<size_t>(mix(mix(ips) ^ ports));
  }

 private:
  static constexpr uint64_t mix(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dull;
    x ^= x >> 33;
    return x;
  }
};

}  // namespace flowgate::tcp
