#include "apps/proxy/maglev.hpp"

#include <algorithm>
#include <stdexcept>

namespace flowgate::proxy {

namespace {

uint64_t fnv1a(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : text) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

// SplitMix64's finalizer: every input bit affects every output bit.
uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t maglev_offset_hash(std::string_view name) {
  return mix64(fnv1a(name));
}

uint64_t maglev_skip_hash(std::string_view name) {
  // A different constant before the same mixer makes an independent second hash.
  return mix64(fnv1a(name) ^ 0x9e3779b97f4a7c15ull);
}

uint64_t maglev_client_key(uint32_t client_ip) {
  return mix64(uint64_t{client_ip} * 0xd6e8feb86659fd93ull + 0x2545f4914f6cdd1dull);
}

bool is_prime(uint32_t n) {
  if (n < 2) return false;
  for (uint32_t d = 2; uint64_t{d} * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

MaglevTable::MaglevTable(std::span<const MaglevEntry> backends, uint32_t table_size) {
  if (!is_prime(table_size) || table_size <= backends.size()) {
    throw std::invalid_argument("maglev table size must be a prime larger than the backends");
  }
  uint32_t max_weight = 0;
  for (const MaglevEntry& b : backends) max_weight = std::max(max_weight, b.weight);
  if (max_weight == 0) return;  // nobody takes new connections: empty table

  const size_t n = backends.size();
  std::vector<uint32_t> offset(n), skip(n), next(n, 0);
  std::vector<uint64_t> credit(n, 0);
  for (size_t i = 0; i < n; ++i) {
    offset[i] = static_cast<uint32_t>(maglev_offset_hash(backends[i].name) % table_size);
    skip[i] = static_cast<uint32_t>(maglev_skip_hash(backends[i].name) % (table_size - 1) + 1);
  }
  slots_.assign(table_size, kNone);
  uint32_t filled = 0;
  // The slot of backend i's next preference: (offset + j·skip) mod M for j = next[i].
  auto preference = [&](size_t i) {
    return static_cast<uint32_t>((uint64_t{offset[i]} + uint64_t{next[i]} * skip[i]) % table_size);
  };
  while (filled < table_size) {
    for (size_t i = 0; i < n && filled < table_size; ++i) {
      credit[i] += backends[i].weight;
      while (credit[i] >= max_weight && filled < table_size) {
        credit[i] -= max_weight;
        uint32_t slot = preference(i);
        // next[i] < M always holds here: a permutation of M slots meets an empty one
        // within M steps while any is left.
        while (slots_[slot] != kNone) {
          ++next[i];
          slot = preference(i);
        }
        slots_[slot] = static_cast<int32_t>(i);
        ++next[i];
        ++filled;
      }
    }
  }
}

}  // namespace flowgate::proxy
