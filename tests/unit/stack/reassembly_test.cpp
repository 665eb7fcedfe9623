#include "stack/reassembly.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <random>
#include <vector>

#include "wire/checksum.hpp"
#include "wire/ipv4.hpp"

namespace flowgate {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using wire::Bytes;
using wire::Ipv4Address;
using wire::Ipv4Reader;
using wire::Ipv4Repr;
using ByteVector = std::vector<std::byte>;

const Ipv4Address kSrc = Ipv4Address::from_octets(198, 18, 0, 2);
const Ipv4Address kOtherSrc = Ipv4Address::from_octets(198, 18, 0, 3);
const Ipv4Address kDst = Ipv4Address::from_octets(198, 18, 0, 1);
const Instant kT0 = Instant(seconds(1000));
constexpr size_t kMaxPayload = 65535 - 20;

// The fields every fragment of a test datagram shares; tests override what matters.
Ipv4Repr header(uint16_t id = 0x1234, Ipv4Address src = kSrc) {
  Ipv4Repr r;
  r.src = src;
  r.dst = kDst;
  r.protocol = static_cast<uint8_t>(wire::IpProtocol::icmp);
  r.ttl = 64;
  r.identification = id;
  return r;
}

// Payload bytes that differ from position to position and from datagram to datagram.
ByteVector pattern(size_t len, uint8_t seed = 0) {
  ByteVector out(len);
  for (size_t i = 0; i < len; ++i) {
    out[i] = static_cast<std::byte>((i * 7 + i / 251 + seed) & 0xff);
  }
  return out;
}

// One fragment's bytes, built with Ipv4Repr::emit (plus `options` after the fixed header).
struct Fragment {
  ByteVector bytes;

  Ipv4Reader view() const {
    auto v = Ipv4Reader::check(Bytes(bytes));
    EXPECT_TRUE(v.ok()) << to_string(v.error());
    return *v;
  }
};

Fragment build(Ipv4Repr repr, Bytes payload, Bytes options = {}) {
  EXPECT_EQ(options.size() % 4, 0u);
  repr.payload_len = static_cast<uint16_t>(options.size() + payload.size());
  Fragment f;
  f.bytes.resize(Ipv4Repr::buffer_len() + options.size() + payload.size());
  repr.emit(f.bytes);
  if (!options.empty()) {
    const size_t header_len = Ipv4Repr::buffer_len() + options.size();
    wire::store_u8(f.bytes, Ipv4Reader::kVerIhlOffset,
                   static_cast<uint8_t>(0x40 | (header_len / 4)));
    std::copy(options.begin(), options.end(), f.bytes.begin() + Ipv4Repr::buffer_len());
    wire::store_be16(f.bytes, Ipv4Reader::kChecksumOffset, 0);
    wire::store_be16(f.bytes, Ipv4Reader::kChecksumOffset,
                     wire::internet_checksum(Bytes(f.bytes).first(header_len)));
  }
  std::copy(payload.begin(), payload.end(), f.bytes.end() - payload.size());
  EXPECT_TRUE(f.view().header_checksum_valid());
  return f;
}

// Bytes [offset, offset + len) of `payload` as a fragment of the datagram `base`.
Fragment fragment(const Ipv4Repr& base, const ByteVector& payload, size_t offset, size_t len,
                  bool more) {
  Ipv4Repr r = base;
  r.fragment_offset = static_cast<uint32_t>(offset);
  r.more_fragments = more;
  return build(r, Bytes(payload).subspan(offset, len));
}

// Cuts `payload` into fragments of `len` bytes (a multiple of 8), the last one shorter.
std::vector<Fragment> split(const Ipv4Repr& base, const ByteVector& payload, size_t len) {
  std::vector<Fragment> out;
  for (size_t offset = 0; offset < payload.size(); offset += len) {
    const size_t n = std::min(len, payload.size() - offset);
    out.push_back(fragment(base, payload, offset, n, offset + n < payload.size()));
  }
  return out;
}

class Reassembly : public ::testing::Test {
 protected:
  // Offers `f` and copies out the result (the returned span lives only until the next call).
  // The memory cap is checked after every call.
  std::optional<ByteVector> offer(Reassembler& r, const Fragment& f, Instant now = kT0) {
    auto whole = r.add(f.view(), now);
    EXPECT_LE(r.memory_used(), limit_of_test_);
    if (!whole) return std::nullopt;
    return ByteVector(whole->begin(), whole->end());
  }
  std::optional<ByteVector> offer(const Fragment& f, Instant now = kT0) {
    return offer(reasm_, f, now);
  }

  // Checks a reassembled datagram's header (the first fragment's fields, via `base`) and its
  // payload, parsing it back like the IPv4 layer does.
  static void expect_datagram(const std::optional<ByteVector>& whole, const Ipv4Repr& base,
                              const ByteVector& payload) {
    ASSERT_TRUE(whole.has_value());
    auto view = Ipv4Reader::check(Bytes(*whole));
    ASSERT_TRUE(view.ok());
    auto repr = Ipv4Repr::parse(*view);
    ASSERT_TRUE(repr.ok()) << "header checksum";
    Ipv4Repr expected = base;
    expected.more_fragments = false;
    expected.fragment_offset = 0;
    expected.payload_len = static_cast<uint16_t>(payload.size());
    EXPECT_EQ(*repr, expected);
    EXPECT_EQ(view->header_len(), 20u);
    EXPECT_EQ(view->total_len(), 20 + payload.size());
    EXPECT_EQ(whole->size(), 20 + payload.size());
    EXPECT_TRUE(
        std::equal(payload.begin(), payload.end(), view->payload().begin(), view->payload().end()));
  }

  void expect_idle(const Reassembler& r) const {
    EXPECT_EQ(r.datagrams_in_progress(), 0u);
    EXPECT_EQ(r.memory_used(), 0u);
    EXPECT_EQ(r.next_deadline(), std::nullopt);
  }

  uint64_t received() const { return counters_[Event::ipv4_fragments_received]; }
  uint64_t completed() const { return counters_[Event::reasm_completed]; }

  StackCounters counters_;
  ReassemblyConfig config_;
  size_t limit_of_test_ = config_.memory_limit;
  Reassembler reasm_{config_, counters_};
};

TEST_F(Reassembly, InOrder) {
  const auto payload = pattern(100);
  const auto frags = split(header(), payload, 24);
  ASSERT_EQ(frags.size(), 5u);
  for (size_t i = 0; i + 1 < frags.size(); ++i) {
    EXPECT_FALSE(offer(frags[i]).has_value()) << i;
    EXPECT_EQ(reasm_.datagrams_in_progress(), 1u);
  }
  expect_datagram(offer(frags.back()), header(), payload);
  EXPECT_EQ(received(), 5u);
  EXPECT_EQ(completed(), 1u);
  EXPECT_EQ(counters_.total_drops(), 0u);
  expect_idle(reasm_);
}

TEST_F(Reassembly, ReverseOrder) {
  const auto payload = pattern(100);
  const auto frags = split(header(), payload, 16);
  for (size_t i = frags.size() - 1; i > 0; --i) EXPECT_FALSE(offer(frags[i]).has_value()) << i;
  expect_datagram(offer(frags[0]), header(), payload);
  EXPECT_EQ(received(), frags.size());
  EXPECT_EQ(completed(), 1u);
  EXPECT_EQ(counters_.total_drops(), 0u);
  expect_idle(reasm_);
}

// Many fragments of random sizes in random order, with exact duplicates of fragments already
// sent mixed in; only the fragment that fills the last hole completes the datagram.
TEST_F(Reassembly, RandomOrderWithDuplicates) {
  std::mt19937 rng(20240611);
  for (int round = 0; round < 20; ++round) {
    const size_t len = 1 + rng() % 6000;
    const auto payload = pattern(len, static_cast<uint8_t>(round));
    const Ipv4Repr base = header(static_cast<uint16_t>(round));
    std::vector<Fragment> frags;
    for (size_t offset = 0; offset < len;) {
      const size_t n = std::min<size_t>(8 * (1 + rng() % 40), len - offset);
      frags.push_back(fragment(base, payload, offset, n, offset + n < len));
      offset += n;
    }
    std::shuffle(frags.begin(), frags.end(), rng);

    const uint64_t duplicates_before = counters_[DropReason::reasm_duplicate];
    uint64_t duplicates = 0;
    for (size_t i = 0; i + 1 < frags.size(); ++i) {
      ASSERT_FALSE(offer(frags[i]).has_value()) << "round " << round << " fragment " << i;
      if (rng() % 4 == 0) {
        ASSERT_FALSE(offer(frags[rng() % (i + 1)]).has_value());
        ++duplicates;
      }
    }
    expect_datagram(offer(frags.back()), base, payload);
    EXPECT_EQ(counters_[DropReason::reasm_duplicate] - duplicates_before, duplicates);
    expect_idle(reasm_);
  }
  EXPECT_EQ(completed(), 20u);
  EXPECT_EQ(counters_.total_drops(), counters_[DropReason::reasm_duplicate]);
}

// A 3000-byte echo request over a 1500-byte MTU: 1480 + 1480 + 40 bytes of payload.
TEST_F(Reassembly, IcmpEchoIn1500MtuFragments) {
  auto payload = pattern(3000);
  payload[0] = std::byte{8};  // echo request, code 0
  payload[1] = std::byte{0};
  const auto frags = split(header(), payload, 1480);
  ASSERT_EQ(frags.size(), 3u);
  EXPECT_EQ(frags[1].view().fragment_offset(), 1480u);
  EXPECT_EQ(frags[2].view().fragment_offset(), 2960u);
  EXPECT_EQ(frags[2].view().total_len(), 60u);
  EXPECT_FALSE(offer(frags[0]).has_value());
  EXPECT_FALSE(offer(frags[1]).has_value());
  EXPECT_LE(reasm_.memory_used(), 20u + 3000u + 1480u);
  expect_datagram(offer(frags[2]), header(), payload);
  expect_idle(reasm_);
}

TEST_F(Reassembly, ExactDuplicatesAreDroppedAloneAndTheDatagramCompletes) {
  const auto payload = pattern(40);
  const auto frags = split(header(), payload, 16);  // 16 + 16 + 8
  EXPECT_FALSE(offer(frags[0]).has_value());
  EXPECT_FALSE(offer(frags[0]).has_value());
  EXPECT_FALSE(offer(frags[2]).has_value());
  EXPECT_FALSE(offer(frags[2]).has_value());  // the last fragment again: end already known
  EXPECT_EQ(counters_[DropReason::reasm_duplicate], 2u);
  EXPECT_EQ(reasm_.datagrams_in_progress(), 1u);
  expect_datagram(offer(frags[1]), header(), payload);
  EXPECT_EQ(counters_.total_drops(), 2u);
  EXPECT_EQ(received(), 5u);
}

// A duplicate of bytes that span several earlier fragments is still a duplicate.
TEST_F(Reassembly, DuplicateSpanningSeveralFragments) {
  const auto payload = pattern(64);
  EXPECT_FALSE(offer(fragment(header(), payload, 0, 16, true)).has_value());
  EXPECT_FALSE(offer(fragment(header(), payload, 16, 16, true)).has_value());
  EXPECT_FALSE(offer(fragment(header(), payload, 8, 16, true)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_duplicate], 1u);
  expect_datagram(offer(fragment(header(), payload, 32, 32, false)), header(), payload);
}

TEST_F(Reassembly, OverlapWithDifferentBytesDiscardsTheDatagramOnce) {
  const auto payload = pattern(48);
  EXPECT_FALSE(offer(fragment(header(), payload, 0, 24, true)).has_value());
  EXPECT_FALSE(offer(fragment(header(), payload, 40, 8, false)).has_value());
  auto changed = payload;
  changed[12] ^= std::byte{0xff};
  EXPECT_FALSE(offer(fragment(header(), changed, 8, 8, true)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_overlap], 1u);
  EXPECT_EQ(counters_.total_drops(), 1u);
  expect_idle(reasm_);

  // Later fragments with the same id start a fresh datagram, which needs every byte again.
  EXPECT_FALSE(offer(fragment(header(), payload, 24, 16, true)).has_value());
  EXPECT_FALSE(offer(fragment(header(), payload, 40, 8, false)).has_value());
  expect_datagram(offer(fragment(header(), payload, 0, 24, true)), header(), payload);
  EXPECT_EQ(counters_.total_drops(), 1u);
}

// Partly in a hole and partly over received data: an overlap even where the bytes agree.
TEST_F(Reassembly, PartialOverlapDiscardsTheDatagram) {
  const auto payload = pattern(64);
  struct Case {
    size_t offset;
    size_t len;
  };
  // Received: [0,16) and [32,40). Holes: [16,32) and the tail from 40.
  const Case cases[] = {
      {8, 16},   // from received data into a hole
      {24, 16},  // from a hole into received data
      {8, 32},   // over a whole hole, received data on both sides
      {32, 16},  // from received data into the tail hole
      {16, 32},  // from a hole over received data into the tail hole
  };
  uint64_t overlaps = 0;
  for (const Case& c : cases) {
    EXPECT_FALSE(offer(fragment(header(), payload, 0, 16, true)).has_value());
    EXPECT_FALSE(offer(fragment(header(), payload, 32, 8, true)).has_value());
    EXPECT_FALSE(offer(fragment(header(), payload, c.offset, c.len, true)).has_value());
    EXPECT_EQ(counters_[DropReason::reasm_overlap], ++overlaps) << c.offset << "+" << c.len;
    expect_idle(reasm_);
  }
  EXPECT_EQ(counters_.total_drops(), overlaps);
}

TEST_F(Reassembly, InconsistentEndDiscardsTheDatagram) {
  const auto payload = pattern(64);
  // A second last fragment with another end.
  EXPECT_FALSE(offer(fragment(header(), payload, 16, 4, false)).has_value());
  EXPECT_FALSE(offer(fragment(header(), payload, 16, 12, false)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_inconsistent_length], 1u);
  expect_idle(reasm_);
  // Data beyond the known end.
  EXPECT_FALSE(offer(fragment(header(), payload, 16, 4, false)).has_value());
  EXPECT_FALSE(offer(fragment(header(), payload, 16, 16, true)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_inconsistent_length], 2u);
  expect_idle(reasm_);
  // A last fragment ending before data already received.
  EXPECT_FALSE(offer(fragment(header(), payload, 32, 8, true)).has_value());
  EXPECT_FALSE(offer(fragment(header(), payload, 0, 20, false)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_inconsistent_length], 3u);
  expect_idle(reasm_);
  EXPECT_EQ(counters_.total_drops(), 3u);
}

// RFC 815 would never close the "infinity" hole here; the policy takes the end as news.
TEST_F(Reassembly, LastFragmentOverReceivedDataFixesTheEnd) {
  const auto payload = pattern(16);
  EXPECT_FALSE(offer(fragment(header(), payload, 0, 8, true)).has_value());
  EXPECT_FALSE(offer(fragment(header(), payload, 8, 8, true)).has_value());
  expect_datagram(offer(fragment(header(), payload, 8, 8, false)), header(), payload);
  EXPECT_EQ(counters_.total_drops(), 0u);
}

TEST_F(Reassembly, EmptyLastFragmentFixesTheEnd) {
  const auto payload = pattern(16);
  EXPECT_FALSE(offer(fragment(header(), payload, 16, 0, false)).has_value());
  EXPECT_FALSE(offer(fragment(header(), payload, 16, 0, false)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_duplicate], 1u);
  expect_datagram(offer(fragment(header(), payload, 0, 16, true)), header(), payload);
}

TEST_F(Reassembly, BadFragmentLengthIsDroppedAlone) {
  const auto payload = pattern(64);
  EXPECT_FALSE(offer(fragment(header(), payload, 0, 12, true)).has_value());  // not 8k
  EXPECT_FALSE(offer(fragment(header(), payload, 8, 0, true)).has_value());   // empty
  EXPECT_EQ(counters_[DropReason::reasm_bad_fragment], 2u);
  expect_idle(reasm_);

  // An existing datagram is not harmed by a bad fragment with its id.
  EXPECT_FALSE(offer(fragment(header(), payload, 0, 16, true)).has_value());
  EXPECT_FALSE(offer(fragment(header(), payload, 16, 20, true)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_bad_fragment], 3u);
  expect_datagram(offer(fragment(header(), payload, 16, 48, false)), header(), payload);
  EXPECT_EQ(counters_.total_drops(), 3u);
}

TEST_F(Reassembly, FragmentEndingBeyondTheMaximumIsDroppedAlone) {
  const auto payload = pattern(65535 + 16);
  // The largest offset the 13-bit field holds, plus 16 bytes: ends at 65544.
  EXPECT_FALSE(offer(fragment(header(), payload, 8191 * 8, 16, false)).has_value());
  // Ends at 65520: within 65535, but no room for the 20-byte header.
  EXPECT_FALSE(offer(fragment(header(), payload, 65512, 8, true)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_bad_fragment], 2u);
  EXPECT_EQ(counters_.total_drops(), 2u);
  expect_idle(reasm_);
}

TEST_F(Reassembly, MaximumSizeDatagram) {
  const auto payload = pattern(kMaxPayload);
  const auto frags = split(header(), payload, 1480);
  for (size_t i = 0; i + 1 < frags.size(); ++i) ASSERT_FALSE(offer(frags[i]).has_value());
  EXPECT_LE(reasm_.memory_used(), 65535u);
  expect_datagram(offer(frags.back()), header(), payload);

  // Last fragment first: the buffer is allocated once, at its exact size.
  EXPECT_FALSE(offer(frags.back()).has_value());
  EXPECT_EQ(reasm_.memory_used(), 65535u);
  for (size_t i = frags.size() - 1; i > 1; --i) ASSERT_FALSE(offer(frags[i - 1]).has_value());
  expect_datagram(offer(frags[0]), header(), payload);
  EXPECT_EQ(counters_.total_drops(), 0u);
  expect_idle(reasm_);
}

TEST_F(Reassembly, CompletedHeaderComesFromTheFirstFragment) {
  const auto payload = pattern(40);
  Ipv4Repr first = header(0xbeef);
  first.ttl = 17;
  first.tos = 0xb8;
  first.dont_fragment = true;
  Ipv4Repr later = header(0xbeef);
  later.ttl = 200;
  later.tos = 0;
  const std::byte options[] = {std::byte{1}, std::byte{1}, std::byte{1}, std::byte{0}};

  EXPECT_FALSE(offer(fragment(later, payload, 24, 16, false)).has_value());
  Ipv4Repr r = first;
  r.more_fragments = true;
  EXPECT_FALSE(offer(build(r, Bytes(payload).first(16), options)).has_value());
  auto whole = offer(fragment(later, payload, 16, 8, true));
  expect_datagram(whole, first, payload);  // options dropped, DF kept, MF and offset clear
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(static_cast<uint8_t>((*whole)[0]), 0x45);
  EXPECT_EQ(wire::internet_checksum(Bytes(*whole).first(20)), 0);
}

TEST_F(Reassembly, TimeoutWithoutFirstFragmentSendsNothing) {
  const auto payload = pattern(32);
  EXPECT_FALSE(offer(fragment(header(), payload, 8, 8, true), kT0).has_value());
  int calls = 0;
  auto on_expired = [&](Bytes) { ++calls; };
  reasm_.poll(kT0 + seconds(30) - nanoseconds(1), on_expired);
  EXPECT_EQ(reasm_.datagrams_in_progress(), 1u);
  EXPECT_EQ(counters_[DropReason::reasm_timeout], 0u);
  reasm_.poll(kT0 + seconds(30), on_expired);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(counters_[DropReason::reasm_timeout], 1u);
  EXPECT_EQ(counters_.total_drops(), 1u);
  expect_idle(reasm_);
}

TEST_F(Reassembly, TimeoutWithFirstFragmentQuotesItsHeaderAndEightBytes) {
  const auto payload = pattern(64);
  Ipv4Repr r = header();
  r.more_fragments = true;
  const std::byte options[] = {std::byte{1}, std::byte{1}, std::byte{1}, std::byte{0}};
  const Fragment first = build(r, Bytes(payload).first(24), options);
  EXPECT_FALSE(offer(fragment(header(), payload, 40, 8, true), kT0).has_value());
  EXPECT_FALSE(offer(first, kT0 + seconds(1)).has_value());

  std::vector<ByteVector> quoted;
  auto on_expired = [&](Bytes q) { quoted.emplace_back(q.begin(), q.end()); };
  reasm_.poll(kT0 + seconds(29), on_expired);
  EXPECT_TRUE(quoted.empty());
  reasm_.poll(kT0 + seconds(31), on_expired);
  ASSERT_EQ(quoted.size(), 1u);
  // The header as received (24 bytes with its options), then 8 bytes of payload.
  const ByteVector expected(first.bytes.begin(), first.bytes.begin() + 24 + 8);
  EXPECT_EQ(quoted[0], expected);
  EXPECT_EQ(counters_[DropReason::reasm_timeout], 1u);
  expect_idle(reasm_);
}

TEST_F(Reassembly, PollWithNoDatagramsAndEmptyCallback) {
  reasm_.poll(kT0, nullptr);
  EXPECT_FALSE(offer(fragment(header(), pattern(16), 0, 8, true)).has_value());
  reasm_.poll(kT0 + seconds(60), nullptr);
  EXPECT_EQ(counters_[DropReason::reasm_timeout], 1u);
  expect_idle(reasm_);
}

TEST_F(Reassembly, NextDeadlineIsTheEarliestExpiry) {
  const auto payload = pattern(32);
  EXPECT_EQ(reasm_.next_deadline(), std::nullopt);
  EXPECT_FALSE(offer(fragment(header(1), payload, 0, 8, true), kT0).has_value());
  EXPECT_EQ(reasm_.next_deadline(), kT0 + seconds(30));
  EXPECT_FALSE(offer(fragment(header(2), payload, 0, 8, true), kT0 + seconds(5)).has_value());
  // A later fragment does not restart the timer.
  EXPECT_FALSE(offer(fragment(header(1), payload, 8, 8, true), kT0 + seconds(10)).has_value());
  EXPECT_EQ(reasm_.next_deadline(), kT0 + seconds(30));

  int calls = 0;
  reasm_.poll(kT0 + seconds(30), [&](Bytes) { ++calls; });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(reasm_.next_deadline(), kT0 + seconds(35));
  expect_datagram(offer(fragment(header(2), payload, 8, 24, false), kT0 + seconds(31)), header(2),
                  payload);
  EXPECT_EQ(reasm_.next_deadline(), std::nullopt);
}

TEST_F(Reassembly, ConfiguredTimeout) {
  ReassemblyConfig config;
  config.timeout = milliseconds(500);
  Reassembler r(config, counters_);
  EXPECT_FALSE(offer(r, fragment(header(), pattern(16), 8, 8, true), kT0).has_value());
  EXPECT_EQ(r.next_deadline(), kT0 + milliseconds(500));
  r.poll(kT0 + milliseconds(500), nullptr);
  expect_idle(r);
}

TEST_F(Reassembly, MemoryLimitEvictsTheOldestDatagrams) {
  ReassemblyConfig config;
  config.memory_limit = 5000;
  limit_of_test_ = config.memory_limit;
  Reassembler r(config, counters_);
  const auto payload = pattern(4000);

  // Three datagrams of 1500 bytes each (20 + 1480) fit; a fourth evicts the oldest.
  for (uint16_t id = 1; id <= 3; ++id) {
    EXPECT_FALSE(offer(r, fragment(header(id), payload, 0, 1480, true)).has_value());
  }
  EXPECT_EQ(r.memory_used(), 3u * 1500u);
  EXPECT_EQ(counters_[DropReason::reasm_memory_limit], 0u);
  EXPECT_FALSE(offer(r, fragment(header(4), payload, 0, 1480, true)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_memory_limit], 1u);
  EXPECT_EQ(r.datagrams_in_progress(), 3u);

  // Datagram 1 is gone: its last fragment starts a new one instead of completing it.
  EXPECT_FALSE(offer(r, fragment(header(1), payload, 1480, 8, false)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_memory_limit], 2u);  // datagram 2 made room
  EXPECT_EQ(completed(), 0u);

  // Growing datagram 3 to 20 + 2960 bytes evicts the oldest other one, 4.
  EXPECT_FALSE(offer(r, fragment(header(3), payload, 1480, 1480, true)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_memory_limit], 3u);
  EXPECT_EQ(r.datagrams_in_progress(), 2u);
  expect_datagram(offer(r, fragment(header(3), payload, 2960, 40, false)), header(3),
                  ByteVector(payload.begin(), payload.begin() + 3000));
  EXPECT_EQ(counters_.total_drops(), 3u);
}

TEST_F(Reassembly, FragmentThatCannotFitAloneIsDroppedWithoutEvicting) {
  ReassemblyConfig config;
  config.memory_limit = 2000;
  limit_of_test_ = config.memory_limit;
  Reassembler r(config, counters_);
  const auto payload = pattern(4000);

  EXPECT_FALSE(offer(r, fragment(header(1), payload, 0, 8, true)).has_value());
  // A new datagram reaching offset 2000 needs 2020 bytes.
  EXPECT_FALSE(offer(r, fragment(header(2), payload, 1480, 520, true)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_memory_limit], 1u);
  EXPECT_EQ(r.datagrams_in_progress(), 1u);
  // So does an existing one; the fragment alone is dropped and the datagram lives on.
  EXPECT_FALSE(offer(r, fragment(header(1), payload, 1480, 520, true)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_memory_limit], 2u);
  EXPECT_EQ(r.datagrams_in_progress(), 1u);
  expect_datagram(offer(r, fragment(header(1), payload, 8, 1972, false)), header(1),
                  ByteVector(payload.begin(), payload.begin() + 1980));
  EXPECT_EQ(counters_.total_drops(), 2u);
  expect_idle(r);
}

// Random datagrams under a small cap: the cap holds after every call (checked by offer()),
// and every fragment is accounted for.
TEST_F(Reassembly, MemoryLimitHoldsUnderRandomLoad) {
  ReassemblyConfig config;
  config.memory_limit = 20000;
  config.max_datagrams = 8;
  limit_of_test_ = config.memory_limit;
  Reassembler r(config, counters_);
  std::mt19937 rng(7);
  const auto payload = pattern(kMaxPayload);
  for (int i = 0; i < 5000; ++i) {
    const auto id = static_cast<uint16_t>(rng() % 16);
    const size_t offset = 8 * (rng() % 2600);
    const size_t len = 8 * (1 + rng() % 100);
    offer(r, fragment(header(id), payload, offset, len, true), kT0 + milliseconds(i));
    ASSERT_LE(r.datagrams_in_progress(), 8u);
  }
  EXPECT_GT(counters_[DropReason::reasm_memory_limit], 0u);
  r.poll(kT0 + seconds(3600), nullptr);
  expect_idle(r);
}

TEST_F(Reassembly, MaxDatagramsEvictsTheOldest) {
  ReassemblyConfig config;
  config.max_datagrams = 3;
  Reassembler r(config, counters_);
  const auto payload = pattern(16);
  for (uint16_t id = 1; id <= 4; ++id) {
    EXPECT_FALSE(offer(r, fragment(header(id), payload, 0, 8, true)).has_value());
    EXPECT_LE(r.datagrams_in_progress(), 3u);
  }
  EXPECT_EQ(counters_[DropReason::reasm_memory_limit], 1u);
  // 2, 3 and 4 are still there; 1 was evicted.
  for (uint16_t id = 2; id <= 4; ++id) {
    expect_datagram(offer(r, fragment(header(id), payload, 8, 8, false)), header(id), payload);
  }
  EXPECT_FALSE(offer(r, fragment(header(1), payload, 8, 8, false)).has_value());
  EXPECT_EQ(counters_.total_drops(), 1u);
}

TEST_F(Reassembly, InterleavedDatagramsAreKeptApart) {
  // Same id from two sources, two ids from one source, and another protocol.
  Ipv4Repr udp = header(7);
  udp.protocol = static_cast<uint8_t>(wire::IpProtocol::udp);
  const Ipv4Repr bases[] = {header(7), header(7, kOtherSrc), header(8), udp};
  std::vector<ByteVector> payloads;
  std::vector<std::vector<Fragment>> frags;
  for (size_t i = 0; i < std::size(bases); ++i) {
    payloads.push_back(pattern(200 + 8 * i, static_cast<uint8_t>(i + 1)));
    frags.push_back(split(bases[i], payloads[i], 48));
  }
  for (size_t f = 0; f + 1 < frags[0].size(); ++f) {
    for (size_t i = 0; i < std::size(bases); ++i) {
      EXPECT_FALSE(offer(frags[i][f]).has_value()) << i << "/" << f;
    }
  }
  EXPECT_EQ(reasm_.datagrams_in_progress(), 4u);
  for (size_t i = 0; i < std::size(bases); ++i) {
    const size_t last = frags[i].size() - 1;
    for (size_t f = frags[0].size() - 1; f < last; ++f) {
      EXPECT_FALSE(offer(frags[i][f]).has_value());
    }
    expect_datagram(offer(frags[i][last]), bases[i], payloads[i]);
  }
  EXPECT_EQ(completed(), 4u);
  EXPECT_EQ(counters_.total_drops(), 0u);
  expect_idle(reasm_);
}

// reassemblies_in_progress follows every way a datagram starts and ends: completion,
// discard, eviction, timeout.
TEST_F(Reassembly, InProgressGaugeFollowsEveryStartAndEnd) {
  ReassemblyConfig config;
  config.max_datagrams = 2;
  Reassembler r(config, counters_);
  const auto in_progress = [&] { return counters_[StackGauge::reassemblies_in_progress]; };
  const auto payload = pattern(16);
  EXPECT_FALSE(offer(r, fragment(header(1), payload, 0, 8, true)).has_value());
  EXPECT_EQ(in_progress(), 1u);
  EXPECT_FALSE(offer(r, fragment(header(2), payload, 0, 8, true)).has_value());
  EXPECT_EQ(in_progress(), 2u);
  EXPECT_FALSE(offer(r, fragment(header(3), payload, 0, 8, true)).has_value());  // evicts 1
  EXPECT_EQ(in_progress(), 2u);
  expect_datagram(offer(r, fragment(header(2), payload, 8, 8, false)), header(2), payload);
  EXPECT_EQ(in_progress(), 1u);
  // 3 is discarded by an overlapping fragment with other bytes.
  const auto other = pattern(16, 9);
  EXPECT_FALSE(offer(r, fragment(header(3), other, 0, 16, false)).has_value());
  EXPECT_EQ(counters_[DropReason::reasm_overlap], 1u);
  EXPECT_EQ(in_progress(), 0u);
  // A new one times out.
  EXPECT_FALSE(offer(r, fragment(header(4), payload, 8, 8, false)).has_value());
  EXPECT_EQ(in_progress(), 1u);
  r.poll(kT0 + config.timeout, {});
  EXPECT_EQ(counters_[DropReason::reasm_timeout], 1u);
  EXPECT_EQ(in_progress(), 0u);
  EXPECT_EQ(in_progress(), r.datagrams_in_progress());
}

}  // namespace
}  // namespace flowgate
