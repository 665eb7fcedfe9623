// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
#pragma once

#include <cstdint>

#include "wire/addresses.hpp"
#include "wire/bytes.hpp"

namespace flowgate::wire {

// Accumulates the one's-complement sum of 16-bit big-endian words. Data may be added in
// pieces; an odd-length piece is padded with a zero byte as RFC 1071 says, so only the last
// piece may have odd length (the stack never splits a checksummed region on an odd byte).
class ChecksumAccumulator {
 public:
  void add(Bytes data);
  // add(data), also copying data to the front of `out` (at least as large) in the same pass.
  void add_copy(Bytes data, MutableBytes out);
  void add_u16(uint16_t word) { sum_ += word; }
  void add_u32(uint32_t word) { sum_ += (word >> 16) + (word & 0xffff); }
  // Folds the carries and returns the one's-complement of the sum: the value to put into the
  // header. A receiver that sums a packet including its checksum field gets 0 from here.
  uint16_t finish() const;

 private:
  void add_host_order(uint16_t folded);
  uint64_t sum_ = 0;
};

uint16_t internet_checksum(Bytes data);

// RFC 768/793 pseudo-header: source, destination, zero, protocol, transport length.
void add_pseudo_header(ChecksumAccumulator& acc, Ipv4Address src, Ipv4Address dst, uint8_t protocol,
                       uint16_t length);

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for a 16-bit field changing from old to new.
// Limit: if every byte the checksum covers becomes zero, this yields 0x0000 where a full
// computation gives 0xffff. IPv4, UDP and TCP checksums always cover a non-zero byte (version,
// protocol number), so it cannot happen there; ICMP messages are recomputed, never updated.
uint16_t checksum_update16(uint16_t checksum, uint16_t old_word, uint16_t new_word);
uint16_t checksum_update32(uint16_t checksum, uint32_t old_value, uint32_t new_value);

}  // namespace flowgate::wire
