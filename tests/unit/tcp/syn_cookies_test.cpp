#include "tcp/syn_cookies.hpp"

#include <gtest/gtest.h>

#include <random>

namespace flowgate::tcp {
namespace {

using std::chrono::nanoseconds;
using std::chrono::seconds;

constexpr SipKey kKey = {0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
constexpr SeqNum kPeerIsn(0x12345678u);

FourTuple tuple() {
  return {wire::Ipv4Address::from_octets(198, 18, 0, 1), 443,
          wire::Ipv4Address::from_octets(203, 0, 113, 9), 51000};
}

// The start of a 64-second counter period, well away from the epoch.
Instant period_start(int64_t n = 1000) {
  return Instant(SynCookies::kPeriod * n);
}

TEST(SynCookie, RoundTripsEveryMssTableEntry) {
  const SynCookies cookies(kKey);
  const Instant now = period_start();
  struct Case {
    uint16_t peer_mss;
    uint16_t expected;
  };
  const Case cases[] = {
      {536, 536},
      {537, 536},
      {1199, 536},
      {1200, 1200},
      {1300, 1200},
      {1440, 1440},
      {1459, 1440},
      {1460, 1460},
      {1500, 1460},
      {8959, 1460},
      {8960, 8960},
      {9000, 8960},
      {65535, 8960},
      // Below the smallest entry: 536, RFC 9293's default, as Linux does.
      {100, 536},
      {0, 536},
  };
  for (const Case& c : cases) {
    const SeqNum isn = cookies.make_isn(tuple(), kPeerIsn, c.peer_mss, now);
    EXPECT_EQ(cookies.check_ack(tuple(), kPeerIsn, isn, now), c.expected)
        << "peer MSS " << c.peer_mss;
  }
  for (size_t i = 0; i < SynCookies::kMssTable.size(); ++i) {
    EXPECT_EQ(SynCookies::mss_index(SynCookies::kMssTable[i]), i);
  }
}

TEST(SynCookie, BitLayoutIsAsDocumented) {
  const SynCookies cookies(kKey);
  const Instant now = period_start(1000) + seconds(10);  // counter 1000 = 0b1111101000
  const uint32_t isn = cookies.make_isn(tuple(), kPeerIsn, 1460, now).raw();
  EXPECT_EQ(isn >> 27, 1000u & 31);
  EXPECT_EQ((isn >> 24) & 7, 3u) << "1460 is kMssTable[3]";
}

TEST(SynCookie, RefusesAnotherTupleOrPeerIsnOrKey) {
  const SynCookies cookies(kKey);
  const Instant now = period_start();
  const SeqNum isn = cookies.make_isn(tuple(), kPeerIsn, 1460, now);
  ASSERT_TRUE(cookies.check_ack(tuple(), kPeerIsn, isn, now));

  FourTuple t = tuple();
  t.remote_port = 51001;
  EXPECT_FALSE(cookies.check_ack(t, kPeerIsn, isn, now));
  t = tuple();
  t.local_port = 444;
  EXPECT_FALSE(cookies.check_ack(t, kPeerIsn, isn, now));
  t = tuple();
  t.remote_ip = wire::Ipv4Address::from_octets(203, 0, 113, 10);
  EXPECT_FALSE(cookies.check_ack(t, kPeerIsn, isn, now));
  t = tuple();
  t.local_ip = wire::Ipv4Address::from_octets(198, 18, 0, 2);
  EXPECT_FALSE(cookies.check_ack(t, kPeerIsn, isn, now));

  EXPECT_FALSE(cookies.check_ack(tuple(), kPeerIsn + 1, isn, now));
  SipKey other = kKey;
  other[0] ^= 0x80;
  EXPECT_FALSE(SynCookies(other).check_ack(tuple(), kPeerIsn, isn, now));
}

TEST(SynCookie, RefusesEverySingleBitTamperingOfTheIsn) {
  const SynCookies cookies(kKey);
  const Instant now = period_start() + seconds(30);
  const SeqNum isn = cookies.make_isn(tuple(), kPeerIsn, 1200, now);
  for (uint32_t bit = 0; bit < 32; ++bit) {
    EXPECT_FALSE(cookies.check_ack(tuple(), kPeerIsn, SeqNum(isn.raw() ^ (1u << bit)), now))
        << "bit " << bit;
  }
  EXPECT_FALSE(cookies.check_ack(tuple(), kPeerIsn, isn + 1, now));
  EXPECT_FALSE(cookies.check_ack(tuple(), kPeerIsn, isn - 1, now));
}

TEST(SynCookie, ValidForTwoCounterPeriods) {
  const SynCookies cookies(kKey);
  // Made at the very start of a period: accepted until two periods (128 s) later.
  ManualClock clock(period_start());
  const SeqNum early = cookies.make_isn(tuple(), kPeerIsn, 1460, clock.now());
  clock.advance(2 * SynCookies::kPeriod - nanoseconds(1));
  EXPECT_EQ(cookies.check_ack(tuple(), kPeerIsn, early, clock.now()), 1460) << "just inside";
  clock.advance(nanoseconds(1));
  EXPECT_FALSE(cookies.check_ack(tuple(), kPeerIsn, early, clock.now())) << "just outside";

  // Made at the very end of a period: accepted for one more period (just over 64 s).
  clock.set(period_start(2000) - nanoseconds(1));
  const SeqNum late = cookies.make_isn(tuple(), kPeerIsn, 1460, clock.now());
  clock.advance(SynCookies::kPeriod);
  EXPECT_EQ(cookies.check_ack(tuple(), kPeerIsn, late, clock.now()), 1460) << "just inside";
  clock.advance(nanoseconds(1));
  EXPECT_FALSE(cookies.check_ack(tuple(), kPeerIsn, late, clock.now())) << "just outside";
}

TEST(SynCookie, RefusesACookieFromTheFutureOr32PeriodsAgo) {
  const SynCookies cookies(kKey);
  const Instant made = period_start(3000);
  const SeqNum isn = cookies.make_isn(tuple(), kPeerIsn, 536, made);
  EXPECT_FALSE(cookies.check_ack(tuple(), kPeerIsn, isn, made - SynCookies::kPeriod));
  // 32 and 33 periods later the 5 time bits match a valid age again; the MAC over the full
  // counter refuses it.
  EXPECT_FALSE(cookies.check_ack(tuple(), kPeerIsn, isn, made + 32 * SynCookies::kPeriod));
  EXPECT_FALSE(cookies.check_ack(tuple(), kPeerIsn, isn, made + 33 * SynCookies::kPeriod));
}

TEST(SynCookie, RandomGuessesAreRefused) {
  const SynCookies cookies(kKey);
  const Instant now = period_start() + seconds(5);
  const SeqNum genuine = cookies.make_isn(tuple(), kPeerIsn, 1460, now);
  std::mt19937 rng(20240607);
  int accepted = 0;
  int accepted_right_header = 0;
  for (int i = 0; i < 100'000; ++i) {
    // Any 32 bits: passes with probability about 2^-28.
    const uint32_t guess = static_cast<uint32_t>(rng());
    if (guess != genuine.raw() && cookies.check_ack(tuple(), kPeerIsn, SeqNum(guess), now)) {
      ++accepted;
    }
    // Time and MSS bits right, only the 24 MAC bits guessed: passes with probability 2^-24.
    const uint32_t mac_guess = (genuine.raw() & 0xff000000u) | (guess & 0x00ffffffu);
    if (mac_guess != genuine.raw() &&
        cookies.check_ack(tuple(), kPeerIsn, SeqNum(mac_guess), now)) {
      ++accepted_right_header;
    }
  }
  // Expected 100k * 2^-28 = 0.0004 and 100k * 2^-24 = 0.006 acceptances.
  EXPECT_EQ(accepted, 0);
  EXPECT_EQ(accepted_right_header, 0);
}

TEST(SynCookie, TsvalCarriesTheOptionsForEveryWindowScale) {
  const uint32_t clock = 0x12345678u;
  std::vector<std::optional<uint8_t>> scales = {std::nullopt};
  for (uint8_t s = 0; s <= 14; ++s) scales.push_back(s);
  for (const auto& scale : scales) {
    for (const bool sack : {false, true}) {
      for (const bool ecn : {false, true}) {
        const SynCookieOptions o{1440, sack, scale, ecn};
        const uint32_t tsval = SynCookies::encode_tsval(clock, o);
        EXPECT_EQ(SynCookies::decode_tsecr(tsval, 1440), o);
        const int32_t behind = static_cast<int32_t>(clock - tsval);
        EXPECT_GE(behind, 0) << "never ahead of the timestamp clock";
        EXPECT_LT(behind, 64);
      }
    }
  }
}

TEST(SynCookie, TsvalLayoutAndEdgeCases) {
  const SynCookieOptions none{536, false, std::nullopt, false};
  EXPECT_EQ(SynCookies::encode_tsval(0x1000ffc0u, none), 0x1000ff8fu)
      << "0xf (no window scale) would be ahead of the clock: moved back one 64 step";
  const SynCookieOptions all{536, true, uint8_t{7}, true};
  EXPECT_EQ(SynCookies::encode_tsval(0x1000ffffu, all) & 0x3f, 0x37u);
  // Across the 2^32 wrap, still at most 63 behind.
  const uint32_t wrapped = SynCookies::encode_tsval(0x00000005u, all);
  EXPECT_EQ(wrapped, 0xfffffff7u);
  // RFC 7323 section 2.3: a shift above 14 is used as 14.
  const SynCookieOptions big{536, false, uint8_t{20}, false};
  EXPECT_EQ(SynCookies::decode_tsecr(SynCookies::encode_tsval(0x5000, big), 536).window_scale,
            uint8_t{14});
  EXPECT_EQ(SynCookies::decode_tsecr(0xffffffffu, 9000),
            (SynCookieOptions{9000, true, std::nullopt, true}));
}

}  // namespace
}  // namespace flowgate::tcp
