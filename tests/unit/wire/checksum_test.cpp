#include "wire/checksum.hpp"

#include <gtest/gtest.h>

#include "wire_test_util.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace flowgate::wire {
namespace {

// The slow reference: RFC 1071 section 1, one 16-bit word at a time with the end-around carry
// folded after every addition; an odd final byte is the high half of a zero-padded word.
// Returns the sum, not its complement.
uint16_t reference_sum(Bytes b) {
  uint32_t sum = 0;
  for (size_t i = 0; i < b.size(); i += 2) {
    uint32_t word = uint32_t{static_cast<uint8_t>(b[i])} << 8;
    if (i + 1 < b.size()) word |= static_cast<uint8_t>(b[i + 1]);
    sum += word;
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(sum);
}

uint16_t reference_checksum(Bytes b) {
  return static_cast<uint16_t>(~reference_sum(b));
}

std::vector<std::byte> random_bytes(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<int> dist(0, 255);
  std::vector<std::byte> v(n);
  for (auto& x : v) x = static_cast<std::byte>(dist(rng));
  return v;
}

// RFC 1071 section 3, "Numerical Examples": bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
constexpr std::array<uint8_t, 8> kRfc1071Example = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};

// The classic IPv4 header used to teach the checksum (192.168.0.1 -> 192.168.0.199, UDP).
constexpr std::array<uint8_t, 20> kClassicIpv4Header = {
    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
    0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
};

TEST(Checksum, Rfc1071Example) {
  const Bytes data = bytes_of(kRfc1071Example);
  EXPECT_EQ(reference_sum(data), 0xddf2);
  EXPECT_EQ(internet_checksum(data), 0x220d);

  // A receiver summing the data and the checksum gets all ones, so finish() returns 0.
  std::array<uint8_t, 10> with_checksum{};
  std::copy(kRfc1071Example.begin(), kRfc1071Example.end(), with_checksum.begin());
  with_checksum[8] = 0x22;
  with_checksum[9] = 0x0d;
  EXPECT_EQ(internet_checksum(bytes_of(with_checksum)), 0x0000);
}

TEST(Checksum, EmptyInputIsAllOnes) {
  EXPECT_EQ(internet_checksum(Bytes{}), 0xffff);
}

TEST(Checksum, OddLengthIsPaddedWithZero) {
  // ddf2 + ab00 = 188f2 -> 88f3 -> checksum 770c.
  constexpr std::array<uint8_t, 9> odd = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7, 0xab};
  constexpr std::array<uint8_t, 10> padded = {0x00, 0x01, 0xf2, 0x03, 0xf4,
                                              0xf5, 0xf6, 0xf7, 0xab, 0x00};
  EXPECT_EQ(internet_checksum(bytes_of(odd)), 0x770c);
  EXPECT_EQ(internet_checksum(bytes_of(padded)), 0x770c);

  constexpr std::array<uint8_t, 1> one = {0xff};
  EXPECT_EQ(internet_checksum(bytes_of(one)), 0x00ff);
}

TEST(Checksum, KnownIpv4Header) {
  EXPECT_EQ(internet_checksum(bytes_of(kClassicIpv4Header)), 0x0000);
  auto zeroed = kClassicIpv4Header;
  zeroed[10] = 0;
  zeroed[11] = 0;
  EXPECT_EQ(internet_checksum(bytes_of(zeroed)), 0xb861);
}

TEST(Checksum, MatchesReferenceForManyLengths) {
  std::mt19937 rng(1071);
  for (size_t n = 0; n <= 200; ++n) {
    const auto data = random_bytes(rng, n);
    EXPECT_EQ(internet_checksum(data), reference_checksum(data)) << "length " << n;
  }
}

TEST(Checksum, AllOnesDataDoesNotLoseCarries) {
  // 65535 bytes of ff: the largest IPv4 datagram. 32767 words of ffff sum to ffff (-0), the
  // final odd byte adds ff00: ffff + ff00 = 1feff -> ff00, so the checksum is 00ff.
  std::vector<std::byte> data(65535, std::byte{0xff});
  EXPECT_EQ(internet_checksum(data), reference_checksum(data));
  EXPECT_EQ(internet_checksum(data), 0x00ff);
  // Without the odd byte the sum is ffff and the checksum 0000.
  data.pop_back();
  EXPECT_EQ(internet_checksum(data), 0x0000);
}

TEST(Checksum, PiecesEqualWhole) {
  std::mt19937 rng(2024);
  const auto data = random_bytes(rng, 1501);  // odd total, so the last piece is odd
  const uint16_t whole = internet_checksum(data);

  // Pieces of even length at every size that exercises both the 8-byte and 2-byte loops.
  const std::array<size_t, 9> sizes = {2, 6, 8, 10, 14, 16, 30, 64, 2};
  ChecksumAccumulator acc;
  size_t off = 0;
  for (size_t s : sizes) {
    acc.add(Bytes(data).subspan(off, s));
    off += s;
  }
  acc.add(Bytes(data).subspan(off));
  EXPECT_EQ(acc.finish(), whole);

  // Random even split points.
  for (int round = 0; round < 100; ++round) {
    ChecksumAccumulator pieces;
    size_t at = 0;
    while (at < data.size()) {
      std::uniform_int_distribution<size_t> len_dist(0, 40);
      size_t len = std::min(len_dist(rng) * 2, data.size() - at);
      pieces.add(Bytes(data).subspan(at, len));
      at += len;
    }
    EXPECT_EQ(pieces.finish(), whole);
  }
}

// add_copy sums as add does and leaves an exact copy, at every length and source alignment
// (the sum loads whole words from wherever the payload lies), touching nothing past it.
TEST(Checksum, AddCopySumsAndCopies) {
  std::mt19937 rng(1624);
  const auto data = random_bytes(rng, 300);
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t n = 0; n + offset <= 300 && n <= 160; ++n) {
      const Bytes src = Bytes(data).subspan(offset, n);
      std::vector<std::byte> out(n + 8, std::byte{0xa5});
      ChecksumAccumulator header;
      header.add(Bytes(data).subspan(0, 12));
      ChecksumAccumulator copied = header;
      header.add(src);
      copied.add_copy(src, out);
      EXPECT_EQ(copied.finish(), header.finish()) << "length " << n << " offset " << offset;
      EXPECT_TRUE(std::equal(src.begin(), src.end(), out.begin())) << "length " << n;
      EXPECT_TRUE(std::all_of(out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                              [](std::byte b) { return b == std::byte{0xa5}; }))
          << "length " << n;
    }
  }
}

TEST(Checksum, AddWordsEqualsAddBytes) {
  constexpr std::array<uint8_t, 6> bytes = {0x12, 0x34, 0xde, 0xad, 0xbe, 0xef};
  ChecksumAccumulator words;
  words.add_u16(0x1234);
  words.add_u32(0xdeadbeef);
  EXPECT_EQ(words.finish(), internet_checksum(bytes_of(bytes)));
}

// The RFC 768/793 pseudo-header is src, dst, a zero byte, the protocol and the length.
TEST(Checksum, PseudoHeaderEqualsExplicitBytes) {
  const auto src = Ipv4Address::from_octets(198, 18, 0, 2);
  const auto dst = Ipv4Address::from_octets(198, 18, 0, 1);
  constexpr std::array<uint8_t, 12> explicit_header = {0xc6, 0x12, 0x00, 0x02, 0xc6, 0x12,
                                                       0x00, 0x01, 0x00, 0x11, 0x00, 0x18};
  ChecksumAccumulator acc;
  add_pseudo_header(acc, src, dst, 17, 24);
  EXPECT_EQ(acc.finish(), internet_checksum(bytes_of(explicit_header)));

  // A real UDP datagram (198.18.0.2:40000 -> 198.18.0.1:7, "flowgate says hi") verifies to 0.
  constexpr std::array<uint8_t, 24> udp = {
      0x9c, 0x40, 0x00, 0x07, 0x00, 0x18, 0xc8, 0x2d, 0x66, 0x6c, 0x6f, 0x77,
      0x67, 0x61, 0x74, 0x65, 0x20, 0x73, 0x61, 0x79, 0x73, 0x20, 0x68, 0x69,
  };
  ChecksumAccumulator verify;
  add_pseudo_header(verify, src, dst, 17, 24);
  verify.add(bytes_of(udp));
  EXPECT_EQ(verify.finish(), 0x0000);
}

// RFC 1624 section 3: with eqn. 2 (HC' = HC - ~m - m') this change yields ffff (-0) while
// recomputation gives 0000; eqn. 3 (what checksum_update16 implements) gives 0000.
TEST(Checksum, Rfc1624Section3CornerCase) {
  // The other words sum to cd7a; the field m is 5555, so HC = ~(cd7a + 5555) = dd2f.
  std::array<uint8_t, 6> msg = {0xcd, 0x7a, 0x55, 0x55, 0x00, 0x00};
  EXPECT_EQ(internet_checksum(bytes_of(msg)), 0xdd2f);

  msg[2] = 0x32;
  msg[3] = 0x85;
  const uint16_t recomputed = internet_checksum(bytes_of(msg));
  EXPECT_EQ(recomputed, 0x0000);
  EXPECT_EQ(checksum_update16(0xdd2f, 0x5555, 0x3285), recomputed);

  // The updated message still verifies.
  msg[4] = 0x00;
  msg[5] = 0x00;
  EXPECT_EQ(internet_checksum(bytes_of(msg)), 0x0000);
}

TEST(Checksum, Update16OfUnchangedFieldIsIdentity) {
  EXPECT_EQ(checksum_update16(0xb861, 0x4011, 0x4011), 0xb861);
  EXPECT_EQ(checksum_update16(0x0000, 0x1234, 0x1234), 0x0000);
}

// Sets the checksum of a 20-byte header (at offset 10) by full recomputation.
uint16_t recompute(std::vector<std::byte>& h) {
  store_be16(h, 10, 0);
  const uint16_t c = internet_checksum(h);
  store_be16(h, 10, c);
  return c;
}

TEST(Checksum, Update16MatchesRecomputation) {
  std::mt19937 rng(1624);
  std::uniform_int_distribution<int> word_dist(0, 9);
  std::uniform_int_distribution<uint32_t> value_dist(0, 0xffff);
  int forced_zero = 0;
  for (int i = 0; i < 20000; ++i) {
    auto h = random_bytes(rng, 20);
    const uint16_t before = recompute(h);

    size_t off = 2 * static_cast<size_t>(word_dist(rng));
    if (off == 10) off = 8;  // never the checksum field itself
    const uint16_t old_word = load_be16(h, off);
    uint16_t new_word = static_cast<uint16_t>(value_dist(rng));
    switch (i % 4) {
      case 0: {
        // Solve for the value that makes the recomputed checksum 0000 (the sum becomes
        // ffff): the complement of the sum of every other word.
        store_be16(h, 10, 0);
        store_be16(h, off, 0);
        new_word = internet_checksum(h);
        store_be16(h, 10, before);
        break;
      }
      case 1:
        new_word = old_word;
        break;
      default:
        break;
    }
    store_be16(h, off, new_word);
    const uint16_t updated = checksum_update16(before, old_word, new_word);
    const uint16_t expected = recompute(h);
    if (i % 4 == 0) {
      EXPECT_EQ(expected, 0x0000);
      ++forced_zero;
    }
    ASSERT_EQ(updated, expected) << "iteration " << i << " offset " << off;
    EXPECT_EQ(internet_checksum(h), 0x0000);
  }
  EXPECT_EQ(forced_zero, 5000);
}

TEST(Checksum, Update32MatchesRecomputation) {
  std::mt19937 rng(791);
  std::uniform_int_distribution<uint32_t> value_dist;
  std::uniform_int_distribution<int> field_dist(0, 1);
  for (int i = 0; i < 20000; ++i) {
    auto h = random_bytes(rng, 20);
    const uint16_t before = recompute(h);

    // Rewrite a source or destination address, as NAT does.
    const size_t off = field_dist(rng) == 0 ? 12 : 16;
    const uint32_t old_value = load_be32(h, off);
    uint32_t new_value = value_dist(rng);
    if (i % 4 == 0) {
      // Keep a random high half and solve the low half so the recomputed checksum is 0000.
      store_be16(h, 10, 0);
      store_be32(h, off, new_value & 0xffff0000u);
      new_value = (new_value & 0xffff0000u) | internet_checksum(h);
      store_be16(h, 10, before);
    }
    store_be32(h, off, new_value);
    const uint16_t updated = checksum_update32(before, old_value, new_value);
    const uint16_t expected = recompute(h);
    if (i % 4 == 0) {
      EXPECT_EQ(expected, 0x0000);
    }
    ASSERT_EQ(updated, expected) << "iteration " << i << " offset " << off;
  }
}

}  // namespace
}  // namespace flowgate::wire
