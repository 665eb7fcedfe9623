// The send buffer: bytes from SND.UNA up to what the application has written. Kept linear
// (compacted lazily) so every segment's payload is one contiguous span.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "wire/bytes.hpp"

namespace flowgate::tcp {

class SendBuffer {
 public:
  explicit SendBuffer(size_t capacity) : capacity_(capacity) {}

  size_t size() const { return data_.size() - head_; }  // unacknowledged + unsent bytes
  size_t capacity() const { return capacity_; }
  size_t free_space() const { return capacity_ > size() ? capacity_ - size() : 0; }
  void set_capacity(size_t c) { capacity_ = c; }

  // Appends as much of `in` as fits; returns how much.
  size_t write(wire::Bytes in) {
    const size_t n = std::min(in.size(), free_space());
    data_.insert(data_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
  }
  // Bytes [offset, offset + len) counted from SND.UNA.
  wire::Bytes view(size_t offset, size_t len) const {
    return wire::Bytes(data_.data() + head_ + offset, len);
  }
  // Drops `n` acknowledged bytes from the front.
  void consume(size_t n) {
    head_ += std::min(n, size());
    if (head_ == data_.size()) {
      data_.clear();
      head_ = 0;
    } else if (head_ >= 64 * 1024 && head_ * 2 >= data_.size()) {
      data_.erase(data_.begin(), data_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    data_.clear();
    data_.shrink_to_fit();
    head_ = 0;
  }
  // Releases memory when idle, so idle connections stay small (C1M).
  void shrink_if_empty() {
    if (size() == 0) clear();
  }

 private:
  std::vector<std::byte> data_;
  size_t head_ = 0;
  size_t capacity_;
};

// In-order received bytes the application has not read yet.
class ReceiveBuffer {
 public:
  explicit ReceiveBuffer(size_t capacity) : capacity_(capacity) {}
  size_t size() const { return data_.size() - head_; }
  size_t capacity() const { return capacity_; }
  size_t free_space() const { return capacity_ > size() ? capacity_ - size() : 0; }
  void set_capacity(size_t c) { capacity_ = c; }
  void append(wire::Bytes in) { data_.insert(data_.end(), in.begin(), in.end()); }
  size_t read(wire::MutableBytes out, bool peek) {
    const size_t n = std::min(out.size(), size());
    std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(head_), n, out.begin());
    if (!peek) {
      head_ += n;
      if (head_ == data_.size()) {
        data_.clear();
        head_ = 0;
      } else if (head_ >= 64 * 1024 && head_ * 2 >= data_.size()) {
        data_.erase(data_.begin(), data_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
      }
    }
    return n;
  }
  void clear() {
    data_.clear();
    data_.shrink_to_fit();
    head_ = 0;
  }
  // Releases memory when everything was read, so idle connections stay small (C1M).
  void shrink_if_empty() {
    if (size() == 0) clear();
  }

 private:
  std::vector<std::byte> data_;
  size_t head_ = 0;
  size_t capacity_;
};

}  // namespace flowgate::tcp
