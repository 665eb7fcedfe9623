#include "tcp/isn.hpp"

#include <gtest/gtest.h>

#include <set>
#include <unordered_set>

#include "tcp/four_tuple.hpp"

namespace flowgate::tcp {
namespace {

using std::chrono::microseconds;
using std::chrono::nanoseconds;

constexpr SipKey kKey = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

FourTuple tuple(uint16_t remote_port = 40000) {
  return {wire::Ipv4Address::from_octets(198, 18, 0, 1), 80,
          wire::Ipv4Address::from_octets(198, 18, 0, 2), remote_port};
}

TEST(IsnSipHash, MatchesTheReferenceVector) {
  // The SipHash paper's test vector: key 00..0f, message 00..0e, SipHash-2-4 output
  // a129ca6149be45e5.
  std::array<uint8_t, 15> msg{};
  for (uint8_t i = 0; i < msg.size(); ++i) msg[i] = i;
  EXPECT_EQ(siphash24(kKey, msg), 0xa129ca6149be45e5ull);
}

TEST(IsnFourTuple, BytesAreRfc6528OrderInNetworkByteOrder) {
  const FourTuple t{wire::Ipv4Address::from_octets(10, 0, 0, 1), 0x1234,
                    wire::Ipv4Address::from_octets(10, 0, 0, 2), 0xabcd};
  const std::array<uint8_t, 12> expected = {10, 0, 0, 1, 0x12, 0x34, 10, 0, 0, 2, 0xab, 0xcd};
  EXPECT_EQ(t.bytes(), expected);
}

TEST(IsnFourTuple, HashesAndComparesForUnorderedMaps) {
  std::unordered_set<FourTuple, FourTupleHash> set;
  std::set<size_t> hashes;
  for (uint16_t port = 1; port <= 1000; ++port) {
    set.insert(tuple(port));
    hashes.insert(FourTupleHash{}(tuple(port)));
  }
  EXPECT_EQ(set.size(), 1000u);
  EXPECT_EQ(hashes.size(), 1000u) << "tuples differing in one port should not collide";
  EXPECT_TRUE(set.contains(tuple(7)));
  EXPECT_FALSE(set.contains(tuple(1001)));
  FourTuple swapped = tuple();
  std::swap(swapped.local_port, swapped.remote_port);
  EXPECT_FALSE(swapped == tuple());
}

TEST(IsnGenerator, IsMPlusTruncatedSipHashOfTheTuple) {
  const IsnGenerator gen(kKey);
  const auto bytes = tuple().bytes();
  const auto f = static_cast<uint32_t>(siphash24(kKey, bytes));
  EXPECT_EQ(gen.next(tuple(), Instant(nanoseconds(0))), SeqNum(f));
  EXPECT_EQ(gen.next(tuple(), Instant(microseconds(4 * 1000))), SeqNum(f + 1000));
  // M is taken mod 2^32: after 2^32 ticks of 4 us (about 4.77 hours) it is back to F.
  EXPECT_EQ(gen.next(tuple(), Instant(microseconds(4 * (int64_t{1} << 32)))), SeqNum(f));
}

TEST(IsnGenerator, DeterministicForAFixedKeyTupleAndTime) {
  const ManualClock clock;
  const IsnGenerator a(kKey);
  const IsnGenerator b(kKey);
  EXPECT_EQ(a.next(tuple(), clock.now()), a.next(tuple(), clock.now()));
  EXPECT_EQ(a.next(tuple(), clock.now()), b.next(tuple(), clock.now()));
}

TEST(IsnGenerator, TicksOncePerFourMicroseconds) {
  ManualClock clock;  // starts at 1000 s, a multiple of 4 us
  const IsnGenerator gen(kKey);
  const SeqNum first = gen.next(tuple(), clock.now());
  clock.advance(microseconds(4) - nanoseconds(1));
  EXPECT_EQ(gen.next(tuple(), clock.now()), first) << "M has not ticked yet";
  clock.advance(nanoseconds(1));
  EXPECT_EQ(gen.next(tuple(), clock.now()), first + 1);
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(gen.next(tuple(), clock.now()), first + 1 + 250'000);
}

TEST(IsnGenerator, DifferentTuplesGetUnrelatedIsns) {
  const ManualClock clock;
  const IsnGenerator gen(kKey);
  std::set<uint32_t> seen;
  for (uint16_t port = 1; port <= 1000; ++port) {
    seen.insert(gen.next(tuple(port), clock.now()).raw());
  }
  // 1000 values in 2^32: a collision would be a 1-in-10^4 accident for a good PRF.
  EXPECT_EQ(seen.size(), 1000u);
  FourTuple other_ip = tuple();
  other_ip.remote_ip = wire::Ipv4Address::from_octets(198, 18, 0, 3);
  EXPECT_NE(gen.next(other_ip, clock.now()), gen.next(tuple(), clock.now()));
  FourTuple other_local = tuple();
  other_local.local_port = 81;
  EXPECT_NE(gen.next(other_local, clock.now()), gen.next(tuple(), clock.now()));
}

TEST(IsnGenerator, DifferentKeysGetDifferentIsns) {
  const ManualClock clock;
  SipKey other = kKey;
  other[15] ^= 1;
  EXPECT_NE(IsnGenerator(kKey).next(tuple(), clock.now()),
            IsnGenerator(other).next(tuple(), clock.now()));
}

TEST(IsnGenerator, RandomKeysDiffer) {
  const SipKey a = random_key();
  const SipKey b = random_key();
  EXPECT_NE(a, b) << "two draws of 128 random bits";
}

}  // namespace
}  // namespace flowgate::tcp
