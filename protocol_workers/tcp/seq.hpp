// TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 section 3.4, "the
// comparison ... must use modular arithmetic"). Raw uint32_t comparisons of sequence numbers
// are bugs; this type makes them impossible.
#pragma once

#include <cstdint>

namespace flowgate::tcp {

class SeqNum {
 public:
  constexpr SeqNum() = default;
  constexpr explicit SeqNum(uint32_t raw) : raw_(raw) {}
  constexpr uint32_t raw() const { return raw_; }

  constexpr SeqNum operator+(uint32_t n) const { return SeqNum(raw_ + n); }
  constexpr SeqNum operator-(uint32_t n) const { return SeqNum(raw_ - n); }
  constexpr SeqNum& operator+=(uint32_t n) {
    raw_ += n;
    return *this;
  }
  // Signed distance from `other` to this: positive when this is after `other`. Meaningful
  // only when the two are within 2^31 of each other, which TCP's windows guarantee.
  constexpr int32_t operator-(SeqNum other) const {
    return static_cast<int32_t>(raw_ - other.raw_);
  }
  constexpr bool operator==(const SeqNum&) const = default;
  constexpr bool operator<(SeqNum o) const { return (*this - o) < 0; }
  constexpr bool operator<=(SeqNum o) const { return (*this - o) <= 0; }
  constexpr bool operator>(SeqNum o) const { return (*this - o) > 0; }
  constexpr bool operator>=(SeqNum o) const { return (*this - o) >= 0; }

 private:
  uint32_t raw_ = 0;
};

// first <= s < first + len, modulo 2^32 (a window of `len` bytes starting at `first`).
constexpr bool in_window(SeqNum s, SeqNum first, uint32_t len) {
  return static_cast<uint32_t>(s.raw() - first.raw()) < len;
}

constexpr SeqNum seq_max(SeqNum a, SeqNum b) {
  return a < b ? b : a;
}
constexpr SeqNum seq_min(SeqNum a, SeqNum b) {
  return a < b ? a : b;
}

}  // namespace flowgate::tcp
