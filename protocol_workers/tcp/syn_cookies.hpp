// SYN cookies (RFC 4987 section 3.6): when the SYN queue is full, a listener answers a SYN
// with a SYN-ACK whose ISN encodes what the connection needs, keeps no state, and rebuilds
// the connection from the ACK that completes the handshake.
//
// The cookie (our ISN), the layout RFC 4987 section 3.6 cites from Bernstein ("top 5 bits:
// t mod 32, where t is a 32-bit time counter that increases every 64 seconds; next 3 bits:
// an encoding of an MSS ...; bottom 24 bits: a server-selected secret function ..."):
//
//   bit  31    27 26  24 23                                  0
//       +--------+------+-------------------------------------+
//       | t & 31 | mss  |  low 24 bits of SipHash-2-4(key, m)  |
//       +--------+------+-------------------------------------+
//   t   = floor(now / 64 s) since the Instant epoch, mod 2^32
//   mss = index into kMssTable: the largest entry <= the peer's MSS (entry 0 if it is smaller)
//   m   = FourTuple::bytes() | peer ISN (4) | t (4) | mss index (1), integers big-endian
//
// Beyond the RFC's text, the MAC also covers the peer's ISN (so the cookie answers one SYN,
// as Linux does) and the MSS index (so a forged index is refused), and the full 32-bit t (so
// a cookie 32 periods old, whose t & 31 matches again, is refused). A cookie is accepted
// while t_now - t_cookie < kMaxAgePeriods, i.e. for at least 64 s and less than 128 s after
// it was made. A random 32-bit guess passes with probability 2/32 * 5/8 * 2^-24 ~ 2^-28.
//
// Options the ISN has no room for ride in our TSval (RFC 7323 timestamps), as Linux does; the
// peer echoes it in TSecr of the completing ACK. The low 6 bits of TSval:
//   bits 0-3  the peer's window-scale shift (0-14), 0xf if it sent no Window Scale option
//   bit  4    the peer sent SACK-permitted
//   bit  5    the peer's SYN asked for ECN
// A peer that sent no Timestamps option gets none of these (plain MSS only). TSecr is not
// covered by the MAC: forging it only changes options of the forger's own connection.
// Pure: key and time are parameters.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "stack/clock.hpp"
#include "tcp/four_tuple.hpp"
#include "tcp/isn.hpp"
#include "tcp/seq.hpp"

namespace flowgate::tcp {

struct SynCookieOptions {
  uint16_t mss = 536;
  bool sack_permitted = false;
  std::optional<uint8_t> window_scale;  // the peer's shift; nullopt: no Window Scale option
  bool ecn = false;

  bool operator==(const SynCookieOptions&) const = default;
};

class SynCookies {
 public:
  // 536: RFC 9293's default send MSS for IPv4 (3.7.1), also used for peers that advertise
  // less (as Linux does). 1200: common tunnel/VPN paths. 1440: PPPoE-ish and IPv6-in-IPv4
  // paths. 1460: Ethernet. 8960: 9000-byte jumbo frames less 40.
  static constexpr std::array<uint16_t, 5> kMssTable = {536, 1200, 1440, 1460, 8960};
  static constexpr Duration kPeriod = std::chrono::seconds(64);
  static constexpr uint32_t kMaxAgePeriods = 2;
  static constexpr uint32_t kTsvalOptionBits = 6;
  static constexpr uint8_t kNoWindowScale = 0xf;

  explicit SynCookies(const SipKey& key);

  // The ISN for our SYN-ACK answering the SYN <SEQ=peer_isn> from t's remote end, which
  // advertised `peer_mss` (pass 536 if it sent no MSS option, RFC 9293 3.7.1).
  SeqNum make_isn(const FourTuple& t, SeqNum peer_isn, uint16_t peer_mss, Instant now) const;

  // Checks the ACK completing the handshake: pass peer_isn = SEG.SEQ - 1 and
  // our_isn = SEG.ACK - 1. Returns the encoded MSS (a kMssTable entry) if our_isn is a cookie
  // for (t, peer_isn) made less than kMaxAgePeriods periods ago, else nullopt.
  std::optional<uint16_t> check_ack(const FourTuple& t, SeqNum peer_isn, SeqNum our_isn,
                                    Instant now) const;

  // Our TSval for the cookie SYN-ACK: `tsval_clock` with its low 6 bits replaced by the
  // options above, moved back by 64 if that would put it after `tsval_clock` (modulo 2^32),
  // so the timestamps we send later never go backwards (PAWS, RFC 7323 section 5). A shift above
  // 14 is stored as 14 (RFC 7323 section 2.3: "MUST use 14 instead").
  static uint32_t encode_tsval(uint32_t tsval_clock, const SynCookieOptions& o);
  // The options from the TSecr of the completing ACK, with `mss` from check_ack().
  static SynCookieOptions decode_tsecr(uint32_t tsecr, uint16_t mss);

  // The kMssTable index make_isn() encodes for `peer_mss`.
  static uint8_t mss_index(uint16_t peer_mss);

 private:
  uint32_t mac(const FourTuple& t, SeqNum peer_isn, uint32_t count, uint8_t index) const;

  SipKey key_;
};

}  // namespace flowgate::tcp
