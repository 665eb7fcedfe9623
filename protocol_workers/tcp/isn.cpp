#include "tcp/isn.hpp"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>

namespace flowgate::tcp {

static_assert(crypto_shorthash_BYTES == 8 && crypto_shorthash_KEYBYTES == 16,
              "crypto_shorthash must be SipHash-2-4 with a 128-bit key");

void ensure_sodium_initialized() {
  // libsodium: "sodium_init() returns 0 on success, -1 on failure, and 1 if the library had
  // already been initialized." It is safe to call from several threads.
  if (sodium_init() < 0) {
    std::fputs("flowgate: sodium_init() failed; no secure random keys\n", stderr);
    std::abort();
  }
}

SipKey random_key() {
  ensure_sodium_initialized();
  SipKey key{};
  randombytes_buf(key.data(), key.size());
  return key;
}

uint64_t siphash24(const SipKey& key, std::span<const uint8_t> msg) {
  std::array<uint8_t, crypto_shorthash_BYTES> out{};
  crypto_shorthash(out.data(), msg.data(), msg.size(), key.data());
  uint64_t v = 0;
  for (size_t i = out.size(); i-- > 0;) v = (v << 8) | out[i];
  return v;
}

IsnGenerator::IsnGenerator(const SipKey& key) : key_(key) {
  ensure_sodium_initialized();
}

SeqNum IsnGenerator::next(const FourTuple& t, Instant now) const {
  using FourMicros = std::chrono::duration<int64_t, std::ratio<4, 1'000'000>>;
  static_assert(FourMicros(1) == kTimerTick);
  // Floor, not truncation, so M keeps ticking forward across a negative epoch offset.
  const int64_t ticks = std::chrono::floor<FourMicros>(now.time_since_epoch()).count();
  const auto m = static_cast<uint32_t>(static_cast<uint64_t>(ticks));
  const auto bytes = t.bytes();
  const auto f = static_cast<uint32_t>(siphash24(key_, bytes));
  return SeqNum(m + f);
}

}  // namespace flowgate::tcp
