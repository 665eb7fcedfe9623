// The flow hash: which worker owns a flow (DESIGN.md, "Dispatch"). This one definition is
// used by the I/O process to steer every received frame and by each worker to choose source
// ports whose return traffic the I/O process steers back to it; both sides must compute the
// same number, so it lives here once and neither side keeps a copy.
//
// Definition (all arithmetic on unsigned integers):
//   base(a, b)              = mix32((a ^ b) ^ seed)
//   term(p)                 = mix32(p ^ port_key),  port_key = rotl(seed, 16) ^ 0x9e3779b9
//   for_addresses(a, b)     = base(a, b) mod n
//   for_ports(a, b, pa, pb) = (base(a, b) + term(pa) + term(pb)) mod n   (sum in 64 bits)
// where a, b are the two IPv4 addresses (host order), pa, pb the two ports, n the number of
// workers and seed a per-gateway random value (chosen at start, kept in shared memory so every
// process of one gateway uses the same).
//
// Both are symmetric: XOR and + commute, so a frame and its reply name the same worker
// without sorting the endpoints. The seed makes the mapping unpredictable to peers, so they
// cannot aim a flood of distinct flows at one worker by choosing addresses or ports.
//
// Why each port is mixed on its own and the terms are added outside the address mixer: a
// worker opening a connection from local address l to (r_ip, r) knows base = base(l, r_ip)
// and term(r) before it picks its port p, and needs for_ports(l, r_ip, p, r) = k, its own
// index. With the terms added, that is a congruence on the port's own term:
// term(p) ≡ k − base − term(r) (mod n). So the port table sorts its ports once into n classes
// by term(p) mod n (port_class) and pops a free port from the class the congruence names, in
// O(1) (tcp/port_table.hpp). Had the ports gone into one mixer together with the addresses,
// the only way would be to try ports until one hashes right (n tries on average, unbounded
// when the range runs low).
//
// Why the ports are mixed at all, instead of added as they are: real clients do not choose
// source ports uniformly. Linux's connect() prefers ports of one parity (even, since 5.x's
// "inet_hash_connect: prefer even ports"), so with raw ports and 2 workers every connection
// from a Linux client to one listening port would land on the same worker (seen in the lab:
// 16 of 16). term() spreads any such pattern over all classes.
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

  // One port's mixed term. Its key differs from the address seed so the two mixes are
  // unrelated even when a port's value equals an address's low bits.
  constexpr uint32_t port_term(uint16_t port) const {
    const uint32_t port_key = ((seed << 16) | (seed >> 16)) ^ 0x9e3779b9u;
    return mix32(uint32_t{port} ^ port_key);
  }

  // The class a local port belongs to in the port table: port_term(port) mod n.
  constexpr uint32_t port_class(uint16_t port) const {
    assert(worker_count >= 1);
    return port_term(port) % worker_count;
  }

  // TCP and UDP (and ICMP errors quoting them): the worker of the flow between a:pa and b:pb.
  // The sum is taken in 64 bits: wrapping at 2^32 would break the congruence the port table
  // relies on whenever n is not a power of two.
  constexpr uint32_t for_ports(Ipv4Address a, Ipv4Address b, uint16_t pa, uint16_t pb) const {
    assert(worker_count >= 1);
    return static_cast<uint32_t>((uint64_t{address_base(a, b)} + port_term(pa) + port_term(pb)) %
                                 worker_count);
  }

  // Traffic without ports (ICMP echo, other IPv4 protocols, fragments we cannot place): the
  // worker of the address pair.
  constexpr uint32_t for_addresses(Ipv4Address a, Ipv4Address b) const {
    assert(worker_count >= 1);
    return address_base(a, b) % worker_count;
  }

  // The class (port_class) a local port must belong to so that
  // for_ports(local, remote, port, remote_port) == worker: k − base − term(r) (mod n).
  constexpr uint32_t port_class_for(uint32_t worker, Ipv4Address local, Ipv4Address remote,
                                    uint16_t remote_port) const {
    assert(worker_count >= 1 && worker < worker_count);
    const uint64_t n = worker_count;
    const uint64_t base = address_base(local, remote) % n;
    const uint64_t r = port_term(remote_port) % n;
    return static_cast<uint32_t>((worker + (n - base) + (n - r)) % n);
  }
};

}  // namespace flowgate::wire
