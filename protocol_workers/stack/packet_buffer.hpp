// A buffer with headroom, so each layer prepends its header in place on the way down instead
// of copying the payload again (transport header, then IPv4, then Ethernet).
#pragma once

#include <cassert>
#include <cstddef>
#include <vector>

#include "wire/bytes.hpp"

namespace flowgate {

class PacketBuffer {
 public:
  // Room for Ethernet + 802.1Q (18) + IPv4 (20, no options) + the largest TCP header (60).
  static constexpr size_t kDefaultHeadroom = 128;

  explicit PacketBuffer(size_t capacity = kDefaultHeadroom + 65536)
      : storage_(capacity), head_(kDefaultHeadroom), tail_(kDefaultHeadroom) {}

  // Empties the buffer, keeping `headroom` bytes in front for headers.
  void reset(size_t headroom = kDefaultHeadroom) {
    assert(headroom <= storage_.size());
    head_ = tail_ = headroom;
  }
  // Grows the data at the end; returns the new bytes (uninitialised).
  wire::MutableBytes append(size_t n) {
    assert(tail_ + n <= storage_.size());
    auto out = wire::MutableBytes(storage_.data() + tail_, n);
    tail_ += n;
    return out;
  }
  // Grows the data at the front; returns the new bytes (uninitialised).
  wire::MutableBytes prepend(size_t n) {
    assert(n <= head_);
    head_ -= n;
    return wire::MutableBytes(storage_.data() + head_, n);
  }
  size_t tailroom() const { return storage_.size() - tail_; }
  size_t headroom() const { return head_; }
  size_t size() const { return tail_ - head_; }
  wire::MutableBytes data() { return wire::MutableBytes(storage_.data() + head_, size()); }
  wire::Bytes data() const { return wire::Bytes(storage_.data() + head_, size()); }

 private:
  std::vector<std::byte> storage_;
  size_t head_;
  size_t tail_;
};

}  // namespace flowgate
