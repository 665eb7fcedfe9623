// Helpers shared by the wire tests: golden bytes as arrays, and hex dumps for failures.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "wire/bytes.hpp"

namespace flowgate::wire {

template <size_t N>
Bytes bytes_of(const std::array<uint8_t, N>& a) {
  return std::as_bytes(std::span(a));
}

template <size_t N>
std::vector<std::byte> copy_of(const std::array<uint8_t, N>& a) {
  const Bytes b = bytes_of(a);
  return {b.begin(), b.end()};
}

inline std::string hex(Bytes b) {
  std::string s;
  char buf[4];
  for (std::byte x : b) {
    std::snprintf(buf, sizeof buf, "%02x ", static_cast<unsigned>(x));
    s += buf;
  }
  return s;
}

}  // namespace flowgate::wire
