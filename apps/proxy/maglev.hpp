// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
// Load Balancer", NSDI 2016, section 3.4), weighted.
//
// Each backend has a preference list over the M slots of a lookup table, a permutation
// given by two hashes of its name: offset = h1 mod M, skip = h2 mod (M − 1) + 1, and its
// j-th preference is (offset + j·skip) mod M (a full permutation because M is prime). The
// table is filled in turns: at each turn a backend claims its next preferred slot that is
// still empty. So each backend owns about M/N slots, and when one leaves, the others keep
// nearly all of theirs: mostly only the leaver's slots change owner.
//
// Weights: in the paper every backend claims one slot per round. Here a backend earns its
// weight in credit each round and claims one slot for every `max weight` of credit, so a
// backend of weight w claims w/max of a slot per round on average and ends up with a share
// of the table proportional to w. Weight 0 claims nothing.
//
// The table depends only on the names, weights and M, never on the order of the list or on
// the process, so every worker builds the same one from the same configuration.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace flowgate::proxy {

// 65537 is prime and about 100 times the number of backends a pool is expected to have, which
// the paper recommends so that shares are even to within about 1%.
inline constexpr uint32_t kMaglevTableSize = 65537;

struct MaglevEntry {
  std::string name;  // what the permutation is hashed from: "198.18.0.2:8081"
  uint32_t weight = 1;
};

class MaglevTable {
 public:
  // An empty table (every lookup: kNone).
  MaglevTable() = default;
  // `table_size` must be prime (it is checked: a non-prime size throws std::invalid_argument)
  // and larger than the number of backends.
  explicit MaglevTable(std::span<const MaglevEntry> backends,
                       uint32_t table_size = kMaglevTableSize);

  static constexpr int32_t kNone = -1;
  // The index (into the list given to the constructor) of the backend owning `key`'s slot,
  // or kNone when no backend has a positive weight.
  int32_t lookup(uint64_t key) const {
    return slots_.empty() ? kNone : slots_[key % slots_.size()];
  }
  // The owner of slot `slot`; slots are 0..size()-1.
  int32_t owner(uint32_t slot) const { return slots_.empty() ? kNone : slots_[slot]; }
  uint32_t size() const { return static_cast<uint32_t>(slots_.size()); }

 private:
  std::vector<int32_t> slots_;
};

// The two permutation hashes of a backend name (FNV-1a, then two different 64-bit
// finalizers), and the key of a client address. Stable across processes and builds.
uint64_t maglev_offset_hash(std::string_view name);
uint64_t maglev_skip_hash(std::string_view name);
uint64_t maglev_client_key(uint32_t client_ip);

bool is_prime(uint32_t n);

}  // namespace flowgate::proxy
