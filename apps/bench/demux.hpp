// Which of the bench's stacks a received frame belongs to. Every stack owns one source
// address; they share one AF_XDP socket, so frames are sorted here by what names the
// receiver: the IPv4 destination, or for ARP the target protocol address (RFC 826: a request
// is for whoever holds the target address; a reply's target is the asker). An ARP frame for
// none of them (a gratuitous announcement, RFC 5227) goes to every stack, so each can learn
// from it; an IPv4 frame for none of them is not ours.
#pragma once

#include <cstdint>
#include <vector>

#include "wire/addresses.hpp"
#include "wire/bytes.hpp"

namespace flowgate::bench {

class FrameDemux {
 public:
  static constexpr uint32_t kEveryStack = 0xffffffffu;
  static constexpr uint32_t kNone = 0xfffffffeu;

  // `addresses[i]` is stack i's.
  explicit FrameDemux(std::vector<wire::Ipv4Address> addresses);

  // The stack index, kEveryStack or kNone (not IPv4 or ARP, truncated, or nobody's).
  uint32_t classify(wire::Bytes frame) const;
  // The stack that owns `address`, or kNone. O(log n).
  uint32_t owner(wire::Ipv4Address address) const;

 private:
  struct Entry {
    uint32_t address;
    uint32_t index;
  };
  std::vector<Entry> sorted_;
};

}  // namespace flowgate::bench
