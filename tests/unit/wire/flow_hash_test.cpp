#include "wire/flow_hash.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

namespace flowgate::wire {
namespace {

constexpr Ipv4Address kGateway = Ipv4Address::from_octets(198, 18, 0, 1);
constexpr Ipv4Address kPeer = Ipv4Address::from_octets(198, 18, 0, 2);
constexpr Ipv4Address kRemote = Ipv4Address::from_octets(203, 0, 113, 7);

// A fixed generator: std::mt19937's output sequence is specified by the standard, so these
// tests see the same tuples on every platform (distributions are not specified; raw output is).
struct Tuples {
  std::mt19937 rng{20261124};
  Ipv4Address address() { return {static_cast<uint32_t>(rng())}; }
  uint16_t port() { return static_cast<uint16_t>(rng()); }
};

// Pearson's statistic of `counts` against a uniform spread.
double chi_square(const std::vector<uint64_t>& counts, uint64_t total) {
  const double expected = static_cast<double>(total) / static_cast<double>(counts.size());
  double sum = 0;
  for (uint64_t c : counts) {
    const double d = static_cast<double>(c) - expected;
    sum += d * d / expected;
  }
  return sum;
}

// The chi-square value that a uniform spread exceeds with probability 0.001, for the
// degrees of freedom (worker count − 1) we test. The inputs are fixed, so a pass is stable;
// a hash that clustered would land far above these.
double chi_square_limit(uint32_t workers) {
  switch (workers) {
    case 2:
      return 10.83;
    case 3:
      return 13.82;
    case 4:
      return 16.27;
    case 8:
      return 24.32;
  }
  ADD_FAILURE() << "no limit for " << workers << " workers";
  return 0;
}

TEST(FlowHash, Mix32GoldenValues) {
  // mix32 is murmur3's fmix32; these pin it so an accidental change shows.
  EXPECT_EQ(mix32(0), 0u);
  EXPECT_EQ(mix32(1), 0x514e28b7u);
  EXPECT_EQ(mix32(0xdeadbeef), 0x0de5c6a9u);
  EXPECT_EQ(mix32(0xc6120001), 0xbeb24db1u);
}

TEST(FlowHash, GoldenValues) {
  // The I/O process and the workers are separate binaries only in principle (they share this
  // header), but a gateway upgraded one process at a time, or a capture replayed later, needs
  // the mapping not to drift: pin it.
  const FlowSteering unseeded{0, 3};
  EXPECT_EQ(unseeded.address_base(kGateway, kPeer), mix32(3));  // .1 ^ .2 == 3
  EXPECT_EQ(unseeded.address_base(kGateway, kPeer), 0x85f0b427u);
  EXPECT_EQ(unseeded.address_base(kGateway, kRemote), 0x354354e6u);

  struct Golden {
    uint32_t seed;
    uint32_t workers;
    uint32_t ports_peer;    // for_ports(gateway, peer, 49152, 80)
    uint32_t ports_remote;  // for_ports(gateway, remote, 40000, 443)
    uint32_t addr_peer;     // for_addresses(gateway, peer)
    uint32_t addr_remote;   // for_addresses(gateway, remote)
  };
  // Computed by an independent reimplementation of the definition (Python), not by this code.
  constexpr std::array<Golden, 10> kGolden = {{
      {0, 1, 0, 0, 0, 0},
      {0, 2, 0, 0, 1, 0},
      {0, 3, 1, 2, 1, 2},
      {0, 4, 2, 2, 3, 2},
      {0, 8, 2, 2, 7, 6},
      {0x5eed1234, 1, 0, 0, 0, 0},
      {0x5eed1234, 2, 0, 1, 0, 0},
      {0x5eed1234, 3, 2, 1, 1, 1},
      {0x5eed1234, 4, 2, 1, 2, 0},
      {0x5eed1234, 8, 2, 1, 2, 0},
  }};
  for (const Golden& g : kGolden) {
    const FlowSteering s{g.seed, g.workers};
    SCOPED_TRACE(testing::Message() << "seed " << g.seed << " workers " << g.workers);
    EXPECT_EQ(s.for_ports(kGateway, kPeer, 49152, 80), g.ports_peer);
    EXPECT_EQ(s.for_ports(kGateway, kRemote, 40000, 443), g.ports_remote);
    EXPECT_EQ(s.for_addresses(kGateway, kPeer), g.addr_peer);
    EXPECT_EQ(s.for_addresses(kGateway, kRemote), g.addr_remote);
  }
  EXPECT_EQ(FlowSteering({0x5eed1234, 1}).address_base(kGateway, kPeer), 0xe7817ac2u);
  EXPECT_EQ(FlowSteering({0, 1}).port_term(80), 0x1601120bu);
  EXPECT_EQ(FlowSteering({0x5eed1234, 1}).port_term(49152), 0x975aa9ffu);
}

TEST(FlowHash, MatchesItsDefinitionWithoutWrapping) {
  // (base + term(pa) + term(pb)) mod n with the sum in 64 bits: with n = 3 a 32-bit wrap
  // would change the answer for every sum near 2^32, and the port table's congruence with it.
  Tuples t;
  for (uint32_t workers : {1u, 2u, 3u, 5u, 7u, 8u}) {
    const FlowSteering s{0x01234567, workers};
    for (int i = 0; i < 10000; ++i) {
      const Ipv4Address a = t.address(), b = t.address();
      const uint16_t pa = t.port(), pb = t.port();
      const uint64_t base = mix32(a.value ^ b.value ^ s.seed);
      const uint32_t port_key = ((s.seed << 16) | (s.seed >> 16)) ^ 0x9e3779b9u;
      const uint64_t ta = mix32(pa ^ port_key), tb = mix32(pb ^ port_key);
      ASSERT_EQ(s.for_ports(a, b, pa, pb), (base + ta + tb) % workers);
      ASSERT_EQ(s.for_addresses(a, b), base % workers);
    }
  }
}

TEST(FlowHash, SymmetricInTheTwoEndpoints) {
  Tuples t;
  for (uint32_t workers : {2u, 3u, 4u, 8u}) {
    const FlowSteering s{0xa5a5f00d, workers};
    for (int i = 0; i < 10000; ++i) {
      const Ipv4Address a = t.address(), b = t.address();
      const uint16_t pa = t.port(), pb = t.port();
      ASSERT_EQ(s.for_ports(a, b, pa, pb), s.for_ports(b, a, pb, pa));
      ASSERT_EQ(s.for_addresses(a, b), s.for_addresses(b, a));
    }
  }
}

TEST(FlowHash, SpreadsRandomFlowsEvenly) {
  constexpr uint64_t kFlows = 100000;
  for (uint32_t workers : {2u, 3u, 4u, 8u}) {
    Tuples t;
    const FlowSteering s{0x9e3779b9, workers};
    std::vector<uint64_t> by_ports(workers), by_addresses(workers);
    for (uint64_t i = 0; i < kFlows; ++i) {
      const Ipv4Address a = t.address(), b = t.address();
      const uint16_t pa = t.port(), pb = t.port();
      ++by_ports[s.for_ports(a, b, pa, pb)];
      ++by_addresses[s.for_addresses(a, b)];
    }
    EXPECT_LT(chi_square(by_ports, kFlows), chi_square_limit(workers)) << workers << " workers";
    EXPECT_LT(chi_square(by_addresses, kFlows), chi_square_limit(workers)) << workers << " workers";
  }
}

TEST(FlowHash, SpreadsClientsOfOneGatewayAddress) {
  // The usual case: one gateway address and port, clients from consecutive addresses of a
  // few subnets with random source ports. Only the client address varies much, so the mixer
  // must spread consecutive addresses (XOR with a fixed address keeps them consecutive).
  constexpr uint64_t kFlows = 100000;
  for (uint32_t workers : {2u, 3u, 4u, 8u}) {
    Tuples t;
    const FlowSteering s{0x7f4a7c15, workers};
    std::vector<uint64_t> by_ports(workers), by_addresses(workers);
    for (uint64_t i = 0; i < kFlows; ++i) {
      const Ipv4Address client{Ipv4Address::from_octets(10, 0, 0, 0).value +
                               static_cast<uint32_t>(i)};
      ++by_ports[s.for_ports(client, kGateway, t.port(), 80)];
      ++by_addresses[s.for_addresses(client, kGateway)];
    }
    EXPECT_LT(chi_square(by_ports, kFlows), chi_square_limit(workers)) << workers << " workers";
    EXPECT_LT(chi_square(by_addresses, kFlows), chi_square_limit(workers)) << workers << " workers";
  }
}

TEST(FlowHash, SeedChangesTheMapping) {
  Tuples t;
  const FlowSteering a{1, 8};
  const FlowSteering b{2, 8};
  int same = 0;
  constexpr int kPairs = 10000;
  for (int i = 0; i < kPairs; ++i) {
    const Ipv4Address x = t.address(), y = t.address();
    if (a.for_addresses(x, y) == b.for_addresses(x, y)) ++same;
  }
  // Independent mappings agree on about 1/8 of the pairs.
  EXPECT_GT(same, kPairs / 8 - 400);
  EXPECT_LT(same, kPairs / 8 + 400);
}

TEST(FlowHash, ParityBiasedClientPortsStillSpread) {
  // Linux's connect() picks even source ports: with the ports added raw, 2 workers would get
  // every connection from one client to one service on the same worker. Mixed, they spread.
  for (uint32_t workers : {2u, 4u}) {
    const FlowSteering s{0x12345678, workers};
    std::vector<uint32_t> per_worker(workers);
    for (uint32_t port = 32768; port < 60000; port += 2) {
      ++per_worker[s.for_ports(kPeer, kGateway, static_cast<uint16_t>(port), 7)];
    }
    const double expected = (60000.0 - 32768.0) / 2 / workers;
    for (uint32_t k = 0; k < workers; ++k) {
      EXPECT_NEAR(per_worker[k], expected, expected * 0.05) << "worker " << k << " of " << workers;
    }
  }
}

TEST(FlowHash, PortClassSolvesTheCongruence) {
  // Every port of the class port_class_for() names steers the flow to the asked worker, and
  // no port outside it does: what the port table's O(1) allocation rests on.
  Tuples t;
  for (uint32_t workers : {1u, 2u, 3u, 4u, 8u}) {
    const FlowSteering s{0x0badcafe, workers};
    for (int i = 0; i < 2000; ++i) {
      const Ipv4Address local = t.address(), remote = t.address();
      const uint16_t remote_port = t.port();
      const uint32_t worker = static_cast<uint32_t>(t.rng() % workers);
      const uint32_t cls = s.port_class_for(worker, local, remote, remote_port);
      ASSERT_LT(cls, workers);
      for (uint32_t port = 49152; port < 49152 + 16 * workers; ++port) {
        const bool in_class = s.port_class(static_cast<uint16_t>(port)) == cls;
        ASSERT_EQ(s.for_ports(local, remote, static_cast<uint16_t>(port), remote_port) == worker,
                  in_class)
            << "port " << port << " workers " << workers;
      }
    }
  }
}

}  // namespace
}  // namespace flowgate::wire
