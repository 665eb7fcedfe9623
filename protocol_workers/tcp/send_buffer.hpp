// The connection's byte buffers. Both are linear (compacted lazily), so every segment's
// payload is one contiguous span, and both give their memory back when empty so an idle
// connection stays small (C1M).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "wire/bytes.hpp"

namespace flowgate::tcp {

// A FIFO of bytes in one vector: bytes are appended at the back and consumed at the front;
// the consumed prefix is dropped once it is large and at least half of the storage.
class ByteQueue {
 public:
  size_t size() const { return data_.size() - head_; }
  void append(wire::Bytes in) { data_.insert(data_.end(), in.begin(), in.end()); }
  wire::Bytes view(size_t offset, size_t len) const {
    return wire::Bytes(data_.data() + head_ + offset, len);
  }
  void consume(size_t n) {
    head_ += std::min(n, size());
    if (head_ == data_.size()) {
      data_.clear();
      head_ = 0;
    } else if (head_ >= kCompactAfter && head_ * 2 >= data_.size()) {
      data_.erase(data_.begin(), data_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    data_.clear();
    data_.shrink_to_fit();
    head_ = 0;
  }
  void shrink_if_empty() {
    if (size() == 0) clear();
  }

 private:
  static constexpr size_t kCompactAfter = 64 * 1024;
  std::vector<std::byte> data_;
  size_t head_ = 0;
};

// The send buffer: bytes from SND.UNA up to what the application has written (SO_SNDBUF).
class SendBuffer {
 public:
  explicit SendBuffer(size_t capacity) : capacity_(capacity) {}

  size_t size() const { return bytes_.size(); }  // unacknowledged + unsent bytes
  size_t capacity() const { return capacity_; }
  size_t free_space() const { return capacity_ > size() ? capacity_ - size() : 0; }
  void set_capacity(size_t c) { capacity_ = c; }
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
  size_t capacity_;
};

// In-order received bytes the application has not read yet (SO_RCVBUF).
class ReceiveBuffer {
 public:
  explicit ReceiveBuffer(size_t capacity) : capacity_(capacity) {}
  size_t size() const { return bytes_.size(); }
  size_t capacity() const { return capacity_; }
  size_t free_space() const { return capacity_ > size() ? capacity_ - size() : 0; }
  void set_capacity(size_t c) { capacity_ = c; }
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
  size_t capacity_;
};

}  // namespace flowgate::tcp
