// The per-worker ephemeral port table: every port it hands out for a remote steers that
// flow back to the worker, allocation per class, exhaustion, reference counts for explicit
// binds, FIFO reuse, and refusal of ports whose tuple is still taken.
#include "tcp/port_table.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "wire/flow_hash.hpp"

namespace flowgate::tcp {
namespace {

using wire::FlowSteering;
using wire::Ipv4Address;

constexpr Ipv4Address kLocal = Ipv4Address::from_octets(198, 18, 0, 1);
constexpr Ipv4Address kBackend = Ipv4Address::from_octets(198, 18, 0, 2);
constexpr uint16_t kFirst = 49152;
constexpr uint16_t kLast = 65535;

TEST(PortTable, OneWorkerHandsOutTheWholeRangeInOrder) {
  PortTable t(kFirst, kFirst + 9, {1234, 1}, 0);
  EXPECT_EQ(t.free_count(), 10u);
  for (uint16_t want = kFirst; want <= kFirst + 9; ++want) {
    const auto p = t.allocate_for(kLocal, kBackend, static_cast<uint16_t>(80 + want));
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, want);
    EXPECT_EQ(t.users(*p), 1u);
  }
  EXPECT_FALSE(t.allocate_for(kLocal, kBackend, 80));
  EXPECT_FALSE(t.allocate_any());
  EXPECT_EQ(t.free_count(), 0u);
}

TEST(PortTable, AllocatedPortsSteerBackToTheirWorker) {
  std::mt19937 rng(20261201);
  for (uint32_t workers : {2u, 3u, 4u}) {
    const FlowSteering steering{0x600dcafe, workers};
    for (uint32_t worker = 0; worker < workers; ++worker) {
      PortTable t(kFirst, kLast, steering, worker);
      std::set<uint16_t> handed_out;
      for (int i = 0; i < 3000; ++i) {
        const Ipv4Address remote{static_cast<uint32_t>(rng())};
        const auto remote_port = static_cast<uint16_t>(rng());
        const auto p = t.allocate_for(kLocal, remote, remote_port);
        ASSERT_TRUE(p);
        ASSERT_GE(*p, kFirst);
        ASSERT_EQ(steering.for_ports(kLocal, remote, *p, remote_port), worker)
            << "workers " << workers << " worker " << worker;
        // The reply, seen from the I/O process, names the same worker.
        ASSERT_EQ(steering.for_ports(remote, kLocal, remote_port, *p), worker);
        ASSERT_TRUE(handed_out.insert(*p).second) << "port " << *p << " handed out twice";
        if (i % 3 == 0) {
          t.release(*p);
          handed_out.erase(*p);
        }
      }
    }
  }
}

// The ports of [first, last] in one class, in port order.
std::vector<uint16_t> ports_of_class(const FlowSteering& s, uint16_t first, uint16_t last,
                                     uint32_t cls) {
  std::vector<uint16_t> out;
  for (uint32_t p = first; p <= last; ++p) {
    if (s.port_class(static_cast<uint16_t>(p)) == cls) out.push_back(static_cast<uint16_t>(p));
  }
  return out;
}

TEST(PortTable, ExhaustingOneClassLeavesTheOthers) {
  // 24 ports, 3 workers: about 8 per class. One backend needs one class.
  const FlowSteering steering{77, 3};
  PortTable t(kFirst, kFirst + 23, steering, 1);
  const uint32_t cls = steering.port_class_for(1, kLocal, kBackend, 8080);
  const std::vector<uint16_t> in_class = ports_of_class(steering, kFirst, kFirst + 23, cls);
  ASSERT_GE(in_class.size(), 3u);
  EXPECT_EQ(t.free_in_class(cls), in_class.size());
  std::vector<uint16_t> got;
  for (size_t i = 0; i < in_class.size(); ++i) {
    const auto p = t.allocate_for(kLocal, kBackend, 8080);
    ASSERT_TRUE(p);
    EXPECT_EQ(steering.port_class(*p), cls);
    EXPECT_EQ(*p, in_class[i]) << "in port order";
    got.push_back(*p);
  }
  EXPECT_FALSE(t.allocate_for(kLocal, kBackend, 8080)) << "the class is exhausted";
  EXPECT_EQ(t.free_count(), 24u - in_class.size());
  // A server port that needs another class: still there.
  uint16_t other_port = 8081;
  while (steering.port_class_for(1, kLocal, kBackend, other_port) == cls) ++other_port;
  const auto other = t.allocate_for(kLocal, kBackend, other_port);
  ASSERT_TRUE(other);
  EXPECT_EQ(steering.for_ports(kLocal, kBackend, *other, other_port), 1u);
  // A release makes the class usable again, with exactly that port.
  t.release(got[2]);
  EXPECT_EQ(t.allocate_for(kLocal, kBackend, 8080), got[2]);
}

TEST(PortTable, ReleasedPortsQueueBehindTheRestOfTheirClass) {
  PortTable t(kFirst, kFirst + 3, {0, 1}, 0);
  const auto a = t.allocate_any();
  ASSERT_EQ(a, kFirst);
  t.release(*a);
  EXPECT_TRUE(t.is_free(*a));
  // Not reused at once: the other three come first (a TIME-WAIT tuple is rarely offered).
  EXPECT_EQ(t.allocate_any(), kFirst + 1);
  EXPECT_EQ(t.allocate_any(), kFirst + 2);
  EXPECT_EQ(t.allocate_any(), kFirst + 3);
  EXPECT_EQ(t.allocate_any(), kFirst);
  EXPECT_FALSE(t.allocate_any());
}

TEST(PortTable, ExplicitBindsTakePortsOutAndAreReferenceCounted) {
  PortTable t(kFirst, kFirst + 2, {0, 1}, 0);
  t.acquire(kFirst);  // an application binds 49152
  EXPECT_FALSE(t.is_free(kFirst));
  EXPECT_EQ(t.allocate_any(), kFirst + 1) << "the bound port is never offered";
  t.acquire(kFirst);  // a second socket shares it (SO_REUSEADDR, or an accepted connection)
  EXPECT_EQ(t.users(kFirst), 2u);
  t.release(kFirst);
  EXPECT_FALSE(t.is_free(kFirst)) << "one socket still holds it";
  t.release(kFirst);
  EXPECT_TRUE(t.is_free(kFirst));
  // An ephemeral port can gain sharers too.
  const auto p = t.allocate_any();
  ASSERT_EQ(p, kFirst + 2);
  t.acquire(*p);
  t.release(*p);
  EXPECT_FALSE(t.is_free(*p));
  t.release(*p);
  EXPECT_TRUE(t.is_free(*p));
  // Ports outside the range are not the table's business.
  t.acquire(80);
  t.release(80);
  EXPECT_EQ(t.users(80), 0u);
  EXPECT_FALSE(t.in_range(80));
  EXPECT_EQ(t.free_count(), 2u);
}

TEST(PortTable, RefusedPortsAreSkippedAndKept) {
  const FlowSteering steering{5, 2};
  PortTable t(kFirst, kFirst + 7, steering, 0);
  const uint32_t cls = steering.port_class_for(0, kLocal, kBackend, 443);
  const std::vector<uint16_t> in_class = ports_of_class(steering, kFirst, kFirst + 7, cls);
  ASSERT_GE(in_class.size(), 3u);
  const uint16_t first_of_class = in_class[0];
  // The first port of the class is still in TIME-WAIT with this backend: the next one.
  const auto p =
      t.allocate_for(kLocal, kBackend, 443, [&](uint16_t port) { return port != first_of_class; });
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, in_class[1]);
  EXPECT_TRUE(t.is_free(first_of_class)) << "refused, not taken";
  // Everything refused: nothing is taken, nothing lost.
  const size_t before = t.free_count();
  EXPECT_FALSE(t.allocate_for(kLocal, kBackend, 443, [](uint16_t) { return false; }));
  EXPECT_EQ(t.free_count(), before);
  // The refused port went to the back of its class.
  EXPECT_EQ(t.allocate_for(kLocal, kBackend, 443), in_class[2]);
}

TEST(PortTable, AllocateAnyTakesTheClassesInTurn) {
  const FlowSteering steering{9, 4};
  PortTable t(kFirst, kFirst + 63, steering, 2);
  for (uint32_t c = 0; c < 4; ++c)
    ASSERT_GE(ports_of_class(steering, kFirst, kFirst + 63, c).size(), 2u);
  std::vector<uint32_t> classes;
  for (int i = 0; i < 8; ++i) {
    const auto p = t.allocate_any();
    ASSERT_TRUE(p);
    classes.push_back(steering.port_class(*p));
  }
  EXPECT_EQ(classes, (std::vector<uint32_t>{0, 1, 2, 3, 0, 1, 2, 3}));
  for (int i = 8; i < 64; ++i) ASSERT_TRUE(t.allocate_any()) << i;
  EXPECT_FALSE(t.allocate_any());
}

TEST(PortTable, EmptyAndExtremeRanges) {
  PortTable empty(5000, 4999, {0, 3}, 0);
  EXPECT_EQ(empty.free_count(), 0u);
  EXPECT_FALSE(empty.allocate_any());
  EXPECT_FALSE(empty.allocate_for(kLocal, kBackend, 80));

  // Port 0 is never handed out; the whole port space fits the table's indices.
  PortTable all(0, 65535, {1, 1}, 0);
  EXPECT_EQ(all.free_count(), 65535u);
  EXPECT_EQ(all.allocate_any(), 1);
  EXPECT_TRUE(all.in_range(65535));
  all.acquire(65535);
  EXPECT_FALSE(all.is_free(65535));
  EXPECT_EQ(all.free_count(), 65533u);

  // More workers than ports: most classes are empty, the others still work.
  const FlowSteering steering{3, 8};
  PortTable few(kFirst, kFirst + 2, steering, 5);
  int found = 0;
  for (uint16_t rp = 1; rp < 200; ++rp) {
    if (const auto p = few.allocate_for(kLocal, kBackend, rp)) {
      EXPECT_EQ(steering.for_ports(kLocal, kBackend, *p, rp), 5u);
      few.release(*p);
      ++found;
    }
  }
  EXPECT_GT(found, 0);
}

}  // namespace
}  // namespace flowgate::tcp
