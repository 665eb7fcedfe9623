// Byte-level access for the wire views. Frames are never overlaid with structs: every
// multi-byte field is read and written big-endian, one byte at a time, so alignment and host
// byte order never matter (STYLE.md point 2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

namespace flowgate::wire {

using Bytes = std::span<const std::byte>;
using MutableBytes = std::span<std::byte>;

template <typename Byte>
concept ByteType = std::is_same_v<std::remove_const_t<Byte>, std::byte>;

template <typename Byte>
concept MutableByte = ByteType<Byte> && !std::is_const_v<Byte>;

inline uint8_t load_u8(Bytes b, size_t off) {
  return static_cast<uint8_t>(b[off]);
}

inline uint16_t load_be16(Bytes b, size_t off) {
  return static_cast<uint16_t>((static_cast<uint16_t>(b[off]) << 8) |
                               static_cast<uint16_t>(b[off + 1]));
}

inline uint32_t load_be32(Bytes b, size_t off) {
  return (static_cast<uint32_t>(b[off]) << 24) | (static_cast<uint32_t>(b[off + 1]) << 16) |
         (static_cast<uint32_t>(b[off + 2]) << 8) | static_cast<uint32_t>(b[off + 3]);
}

inline void store_u8(MutableBytes b, size_t off, uint8_t v) {
  b[off] = std::byte{v};
}

inline void store_be16(MutableBytes b, size_t off, uint16_t v) {
  b[off] = static_cast<std::byte>(v >> 8);
  b[off + 1] = static_cast<std::byte>(v & 0xff);
}

inline void store_be32(MutableBytes b, size_t off, uint32_t v) {
  b[off] = static_cast<std::byte>(v >> 24);
  b[off + 1] = static_cast<std::byte>((v >> 16) & 0xff);
  b[off + 2] = static_cast<std::byte>((v >> 8) & 0xff);
  b[off + 3] = static_cast<std::byte>(v & 0xff);
}

// Views hold a span of either `const std::byte` (parsing received frames) or `std::byte`
// (building frames). Getters work on both; setters exist only on the mutable form.
template <ByteType Byte>
class ViewBase {
 public:
  ViewBase() = default;  // an empty view; only so Result<View> can hold an error
  explicit ViewBase(std::span<Byte> buffer) : buffer_(buffer) {}
  std::span<Byte> buffer() const { return buffer_; }
  Bytes bytes() const { return Bytes(buffer_.data(), buffer_.size()); }

 protected:
  uint8_t u8(size_t off) const { return load_u8(bytes(), off); }
  uint16_t be16(size_t off) const { return load_be16(bytes(), off); }
  uint32_t be32(size_t off) const { return load_be32(bytes(), off); }
  void set_u8(size_t off, uint8_t v) const requires MutableByte<Byte> { store_u8(buffer_, off, v); }
  void set_be16(size_t off, uint16_t v) const requires MutableByte<Byte> {
    store_be16(buffer_, off, v);
  }
  void set_be32(size_t off, uint32_t v) const requires MutableByte<Byte> {
    store_be32(buffer_, off, v);
  }

  std::span<Byte> buffer_;
};

}  // namespace flowgate::wire
