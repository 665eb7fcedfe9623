// Initial sequence numbers, RFC 6528 section 3:
//   "TCP SHOULD generate its Initial Sequence Numbers with the expression:
//      ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//    where M is the 4 microsecond timer, and F() is a pseudorandom function (PRF) of the
//    connection-id. F() MUST NOT be computable from the outside".
// M counts 4 us units of the Instant timeline (RFC 793's ISN clock), so successive
// incarnations of one connection get increasing ISNs; F is SipHash-2-4 (libsodium
// crypto_shorthash, 128-bit key) over FourTuple::bytes(), truncated to its low 32 bits.
// Pure: the time is a parameter and the key is given, so a fixed key gives fixed ISNs.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "stack/clock.hpp"
#include "tcp/four_tuple.hpp"
#include "tcp/seq.hpp"

namespace flowgate::tcp {

using SipKey = std::array<uint8_t, 16>;

// Calls sodium_init() (thread-safe and idempotent). Aborts with a message if libsodium cannot
// initialise: a stack without unpredictable keys must not run.
void ensure_sodium_initialized();

// 16 bytes from libsodium's CSPRNG (randombytes_buf); initialises libsodium first. Use one key
// per purpose (one for IsnGenerator, another for SynCookies).
SipKey random_key();

// SipHash-2-4 of `msg` under `key`; the 8 output bytes read as a little-endian integer, as the
// SipHash paper defines its output.
uint64_t siphash24(const SipKey& key, std::span<const uint8_t> msg);

class IsnGenerator {
 public:
  static constexpr Duration kTimerTick = std::chrono::microseconds(4);  // M's period

  explicit IsnGenerator(const SipKey& key);

  // M + F(t): M is floor(now / 4 us) mod 2^32, counted from the Instant epoch.
  SeqNum next(const FourTuple& t, Instant now) const;

 private:
  SipKey key_;
};

}  // namespace flowgate::tcp
