// The connection's byte buffers. Both are linear (compacted lazily), so every segment's
// payload is one contiguous span, and both give their memory back when empty so an idle
// connection stays small (C1M).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "wire/bytes.hpp"

namespace flowgate::tcp {

// A FIFO of bytes in one vector: bytes are appended at the back and consumed at the front;
// the consumed prefix is dropped once it is large and at least half of the storage. The
// vector and its read position live out of line, allocated by the first append and freed
// by clear() and shrink_if_empty(): an idle connection's two queues cost a pointer each.
class ByteQueue {
 public:
  size_t size() const { return s_ ? s_->data.size() - s_->head : 0; }
  void append(wire::Bytes in) {
    if (in.empty()) return;
    if (!s_) s_ = std::make_unique<Storage>();
    s_->data.insert(s_->data.end(), in.begin(), in.end());
  }
  wire::Bytes view(size_t offset, size_t len) const {
    if (!s_) return wire::Bytes();
    return wire::Bytes(s_->data.data() + s_->head + offset, len);
  }
  void consume(size_t n) {
    if (!s_) return;
    Storage& s = *s_;
    s.head += std::min(n, size());
    if (s.head == s.data.size()) {
      s.data.clear();
      s.head = 0;
    } else if (s.head >= kCompactAfter && s.head * 2 >= s.data.size()) {
      s.data.erase(s.data.begin(), s.data.begin() + static_cast<std::ptrdiff_t>(s.head));
      s.head = 0;
    }
  }
  void clear() { s_.reset(); }
  void shrink_if_empty() {
    if (size() == 0) clear();
  }

 private:
  static constexpr size_t kCompactAfter = 64 * 1024;
  struct Storage {
    std::vector<std::byte> data;
    size_t head = 0;
  };
  std::unique_ptr<Storage> s_;
};

// The send buffer: bytes from SND.UNA up to what the application has written (SO_SNDBUF).
class SendBuffer {
 public:
  explicit SendBuffer(size_t capacity) : capacity_(static_cast<uint32_t>(capacity)) {}

  size_t size() const { return bytes_.size(); }  // unacknowledged + unsent bytes
  size_t capacity() const { return capacity_; }
  size_t free_space() const { return capacity_ > size() ? capacity_ - size() : 0; }
  void set_capacity(size_t c) { capacity_ = static_cast<uint32_t>(c); }
  // Appends as much of `in` as fits; returns how much.
  size_t write(wire::Bytes in) {
    const size_t n = std::min(in.size(), free_space());
    bytes_.append(in.first(n));
    return n;
  }
  // Bytes [offset, offset + len) counted from SND.UNA.
  wire::Bytes view(size_t offset, size_t len) const { return bytes_.view(offset, len); }
  // Drops `n` acknowledged bytes from the front.
  void consume(size_t n) { bytes_.consume(n); }
  void clear() { bytes_.clear(); }
  void shrink_if_empty() { bytes_.shrink_if_empty(); }

 private:
  ByteQueue bytes_;
  uint32_t capacity_;  // SO_SNDBUF / SO_RCVBUF are at most 64 MiB (setsockopt clamps)
};

// In-order received bytes the application has not read yet (SO_RCVBUF).
class ReceiveBuffer {
 public:
  explicit ReceiveBuffer(size_t capacity) : capacity_(static_cast<uint32_t>(capacity)) {}
  size_t size() const { return bytes_.size(); }
  size_t capacity() const { return capacity_; }
  size_t free_space() const { return capacity_ > size() ? capacity_ - size() : 0; }
  void set_capacity(size_t c) { capacity_ = static_cast<uint32_t>(c); }
  void append(wire::Bytes in) { bytes_.append(in); }
  size_t read(wire::MutableBytes out, bool peek) {
    const size_t n = std::min(out.size(), size());
    const wire::Bytes src = bytes_.view(0, n);
    std::copy(src.begin(), src.end(), out.begin());
    if (!peek) bytes_.consume(n);
    return n;
  }
  void clear() { bytes_.clear(); }
  void shrink_if_empty() { bytes_.shrink_if_empty(); }

 private:
  ByteQueue bytes_;
  uint32_t capacity_;  // SO_SNDBUF / SO_RCVBUF are at most 64 MiB (setsockopt clamps)
};

}  // namespace flowgate::tcp
