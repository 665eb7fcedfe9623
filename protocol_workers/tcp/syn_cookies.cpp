#include "tcp/syn_cookies.hpp"

#include <algorithm>

namespace flowgate::tcp {
namespace {

constexpr uint32_t kCountBits = 5;
constexpr uint32_t kIndexBits = 3;
constexpr uint32_t kMacBits = 32 - kCountBits - kIndexBits;  // 24
constexpr uint32_t kCountMask = (1u << kCountBits) - 1;
constexpr uint32_t kIndexMask = (1u << kIndexBits) - 1;
constexpr uint32_t kMacMask = (1u << kMacBits) - 1;
static_assert(SynCookies::kMssTable.size() <= (1u << kIndexBits));
// Only one counter value in the accepted range may share its low bits with another.
static_assert(SynCookies::kMaxAgePeriods >= 1 && SynCookies::kMaxAgePeriods <= (1u << kCountBits));

constexpr uint32_t kWscaleMask = 0xf;
constexpr uint32_t kSackBit = 1u << 4;
constexpr uint32_t kEcnBit = 1u << 5;
constexpr uint32_t kTsvalOptionMask = (1u << SynCookies::kTsvalOptionBits) - 1;
constexpr uint8_t kMaxWindowScale = 14;  // RFC 7323 section 2.3

// The 32-bit time counter t: 64-second periods since the Instant epoch, mod 2^32.
uint32_t counter(Instant now) {
  using Periods = std::chrono::duration<int64_t, std::ratio<64>>;
  static_assert(Periods(1) == SynCookies::kPeriod);
  const int64_t periods = std::chrono::floor<Periods>(now.time_since_epoch()).count();
  return static_cast<uint32_t>(static_cast<uint64_t>(periods));
}

void put_be32(uint8_t* out, uint32_t v) {
  out[0] = static_cast<uint8_t>(v >> 24);
  out[1] = static_cast<uint8_t>(v >> 16);
  out[2] = static_cast<uint8_t>(v >> 8);
  out[3] = static_cast<uint8_t>(v);
}

}  // namespace

SynCookies::SynCookies(const SipKey& key) : key_(key) {
  ensure_sodium_initialized();
}

uint8_t SynCookies::mss_index(uint16_t peer_mss) {
  uint8_t index = 0;
  for (uint8_t i = 0; i < kMssTable.size(); ++i) {
    if (kMssTable[i] <= peer_mss) index = i;
  }
  return index;
}

uint32_t SynCookies::mac(const FourTuple& t, SeqNum peer_isn, uint32_t count, uint8_t index) const {
  std::array<uint8_t, 12 + 4 + 4 + 1> msg{};
  const auto tuple = t.bytes();
  std::copy(tuple.begin(), tuple.end(), msg.begin());
  put_be32(&msg[12], peer_isn.raw());
  put_be32(&msg[16], count);
  msg[20] = index;
  return static_cast<uint32_t>(siphash24(key_, msg)) & kMacMask;
}

SeqNum SynCookies::make_isn(const FourTuple& t, SeqNum peer_isn, uint16_t peer_mss,
                            Instant now) const {
  const uint32_t count = counter(now);
  const uint8_t index = mss_index(peer_mss);
  return SeqNum(((count & kCountMask) << (kIndexBits + kMacBits)) | (uint32_t{index} << kMacBits) |
                mac(t, peer_isn, count, index));
}

std::optional<uint16_t> SynCookies::check_ack(const FourTuple& t, SeqNum peer_isn, SeqNum our_isn,
                                              Instant now) const {
  const uint32_t cookie = our_isn.raw();
  const uint32_t low_count = cookie >> (kIndexBits + kMacBits);
  const auto index = static_cast<uint8_t>((cookie >> kMacBits) & kIndexMask);
  if (index >= kMssTable.size()) return std::nullopt;
  // The age in periods is the distance from the cookie's t & 31 back to now's; the MAC over
  // the full counter then rejects a cookie that is older by a multiple of 32 periods.
  const uint32_t now_count = counter(now);
  const uint32_t age = (now_count - low_count) & kCountMask;
  if (age >= kMaxAgePeriods) return std::nullopt;
  if (mac(t, peer_isn, now_count - age, index) != (cookie & kMacMask)) return std::nullopt;
  return kMssTable[index];
}

uint32_t SynCookies::encode_tsval(uint32_t tsval_clock, const SynCookieOptions& o) {
  uint32_t options = o.window_scale ? std::min(*o.window_scale, kMaxWindowScale) : kNoWindowScale;
  if (o.sack_permitted) options |= kSackBit;
  if (o.ecn) options |= kEcnBit;
  uint32_t tsval = (tsval_clock & ~kTsvalOptionMask) | options;
  // Never ahead of the clock: a later TSval smaller than this one would look old to the peer's
  // PAWS check (RFC 7323 section 5), which relies on TSvals that never go backwards.
  if (static_cast<int32_t>(tsval - tsval_clock) > 0) tsval -= kTsvalOptionMask + 1;
  return tsval;
}

SynCookieOptions SynCookies::decode_tsecr(uint32_t tsecr, uint16_t mss) {
  SynCookieOptions o;
  o.mss = mss;
  const auto wscale = static_cast<uint8_t>(tsecr & kWscaleMask);
  if (wscale != kNoWindowScale) o.window_scale = wscale;  // 0-14: every other nibble value
  o.sack_permitted = (tsecr & kSackBit) != 0;
  o.ecn = (tsecr & kEcnBit) != 0;
  return o;
}

}  // namespace flowgate::tcp
