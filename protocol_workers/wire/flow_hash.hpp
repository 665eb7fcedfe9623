// The flow hash: which worker owns a flow (DESIGN.md, "Dispatch"). This one definition is
// used by the I/O process to steer every received frame and by each worker to choose source
// ports whose return traffic the I/O process steers back to it; both sides must compute the
// same number, so it lives here once and neither side keeps a copy.
//
// Definition (all arithmetic on unsigned integers):
//   base(a, b)              = mix32((a ^ b) ^ seed)
//   for_addresses(a, b)     = base(a, b) mod n
//   for_ports(a, b, pa, pb) = (base(a, b) + pa + pb) mod n     (sum taken without wrapping)
// where a, b are the two IPv4 addresses (host order), pa, pb the two ports, n the number of
// workers and seed a per-gateway random value (chosen at start, kept in shared memory so every
// process of one gateway uses the same).
//
// Both are symmetric: XOR and + commute, so a frame and its reply name the same worker
// without sorting the endpoints. The seed makes the mapping unpredictable to peers, so they
// cannot aim a flood of distinct flows at one worker by choosing addresses.
//
// Why the ports are added after the mixer instead of being mixed in: a worker opening a
// connection from local address l to (r_ip, r) knows base = base(l, r_ip) and r before it
// picks its port p, and needs for_ports(l, r_ip, p, r) = k, its own index. With the ports
// outside the mixer that is a congruence, p ≡ k − base − r (mod n), so every port in one
// residue class modulo n works and the port table can keep one free list per class and pop
// from the right one in O(1) (tcp/port_table.hpp). Had the ports been mixed in, the only way
// would be to try ports until one hashes right (n tries on average, unbounded when the range
// runs low). The price: within one address pair the worker is a linear function of the ports.
// That is fine for spreading (peers choose their source ports roughly uniformly, and n is
// small) and the address pair, which carries the entropy between flows of many peers, still
// goes through the full mixer.
#pragma once

#include <cassert>
#include <cstdint>

#include "wire/addresses.hpp"

namespace flowgate::wire {

// A 32-bit finalizer in the murmur3 style: two xorshift-multiply rounds, so every input bit
// affects every output bit with probability close to 1/2 (the low bits, which `mod n` uses,
// included). mix32(0) == 0, which is harmless here because the seed is random.
constexpr uint32_t mix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// The steering function of one gateway: its seed and its number of workers (at least 1).
struct FlowSteering {
  uint32_t seed = 0;
  uint32_t worker_count = 1;

  // The mixed, symmetric value of an address pair; the part of the hash before `mod n`.
  constexpr uint32_t address_base(Ipv4Address a, Ipv4Address b) const {
    return mix32(a.value ^ b.value ^ seed);
  }

  // TCP and UDP (and ICMP errors quoting them): the worker of the flow between a:pa and b:pb.
  // The sum is taken in 64 bits: wrapping at 2^32 would break the congruence the port table
  // relies on whenever n is not a power of two.
  constexpr uint32_t for_ports(Ipv4Address a, Ipv4Address b, uint16_t pa, uint16_t pb) const {
    assert(worker_count >= 1);
    return static_cast<uint32_t>((uint64_t{address_base(a, b)} + pa + pb) % worker_count);
  }

  // Traffic without ports (ICMP echo, other IPv4 protocols, fragments we cannot place): the
  // worker of the address pair.
  constexpr uint32_t for_addresses(Ipv4Address a, Ipv4Address b) const {
    assert(worker_count >= 1);
    return address_base(a, b) % worker_count;
  }

  // The residue class (port mod n) a local port must belong to so that
  // for_ports(local, remote, port, remote_port) == worker: k − base − r (mod n).
  constexpr uint32_t port_class_for(uint32_t worker, Ipv4Address local, Ipv4Address remote,
                                    uint16_t remote_port) const {
    assert(worker_count >= 1 && worker < worker_count);
    const uint64_t n = worker_count;
    const uint64_t base = address_base(local, remote) % n;
    const uint64_t r = remote_port % n;
    return static_cast<uint32_t>((worker + (n - base) + (n - r)) % n);
  }
};

}  // namespace flowgate::wire
