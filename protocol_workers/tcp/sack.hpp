// A SACK block as carried in the TCP SACK option (RFC 2018 section 3): shared by the receiver
// (ReceiveQueue reports them) and the sender (SackScoreboard consumes them).
#pragma once

#include <cstddef>
#include <cstdint>

#include "tcp/seq.hpp"

namespace flowgate::tcp {

// RFC 2018 section 3: "Left Edge of Block: This is the first sequence number of this block.
// Right Edge of Block: This is the sequence number immediately following the last sequence
// number of this block." So the block is the half-open range [left, right), exactly as on the
// wire.
struct SackBlock {
  SeqNum left;
  SeqNum right;

  // Bytes covered; meaningful only for a well-formed block (left <= right, within 2^31).
  constexpr uint32_t size() const { return right.raw() - left.raw(); }
  constexpr bool contains(SeqNum s) const { return left <= s && s < right; }
  constexpr bool operator==(const SackBlock&) const = default;
};

// RFC 2018 section 3: "A SACK option that specifies n blocks will have a length of 8*n+2
// bytes, so the 40 bytes available for TCP options can specify a maximum of 4 blocks."
inline constexpr size_t kMaxSackBlocks = 4;

}  // namespace flowgate::tcp
