#include "wire/checksum.hpp"

#include <bit>
#include <cassert>
#include <cstring>

namespace flowgate::wire {

namespace {

// One's-complement sum of `data` as 16-bit words in the HOST's byte order, folded to 16
// bits. RFC 1071 2(B), byte order independence: summing the words byte-swapped and swapping
// the folded result gives the big-endian sum, so the data is loaded eight bytes at a time as
// it lies in memory, without a swap per word. 2(C), parallel summation: a wider sum is the
// same one's-complement sum once its carries are folded back in (2^16 - 1 divides 2^64 - 1),
// so each 64-bit word is added with its carry into a 128-bit accumulator (add, adc), and two
// of them run side by side so the carry chains do not serialise.
// With kCopy, the bytes are also stored to `out` as they are summed: one pass over a payload
// being copied into a frame instead of a copy and then a checksum pass.
template <bool kCopy>
uint16_t host_order_sum(Bytes data, std::byte* out) {
  const std::byte* p = data.data();
  size_t n = data.size();
  unsigned __int128 a = 0;
  unsigned __int128 b = 0;
  for (; n >= 32; p += 32, n -= 32) {
    uint64_t w[4];
    std::memcpy(w, p, sizeof w);
    if constexpr (kCopy) {
      std::memcpy(out, w, sizeof w);
      out += sizeof w;
    }
    a += w[0];
    b += w[1];
    a += w[2];
    b += w[3];
  }
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, sizeof w);
    if constexpr (kCopy) {
      std::memcpy(out, &w, sizeof w);
      out += sizeof w;
    }
    a += w;
  }
  // The tail, 0 to 7 bytes, in fixed-size pieces (a memcpy of variable length would be a
  // library call, the most expensive part of a 20-byte header). Where a 16-bit-aligned piece
  // sits in a wider word does not matter, since 2^16 = 1 modulo 2^16 - 1, so each is added as
  // the number it is. An odd last byte is the first byte of a zero-padded word (RFC 1071:
  // "padded on the right with zeros"): the low byte in little-endian order.
  if (n & 4) {
    uint32_t w;
    std::memcpy(&w, p, sizeof w);
    if constexpr (kCopy) {
      std::memcpy(out, &w, sizeof w);
      out += sizeof w;
    }
    b += w;
    p += 4;
  }
  if (n & 2) {
    uint16_t w;
    std::memcpy(&w, p, sizeof w);
    if constexpr (kCopy) {
      std::memcpy(out, &w, sizeof w);
      out += sizeof w;
    }
    a += w;
    p += 2;
  }
  if (n & 1) {
    if constexpr (kCopy) *out = *p;
    const auto last = static_cast<uint8_t>(*p);
    a += std::endian::native == std::endian::little ? uint64_t{last} : uint64_t{last} << 8;
  }
  a += b;  // cannot overflow 128 bits for any span that fits in memory
  uint64_t s = static_cast<uint64_t>(a) + static_cast<uint64_t>(a >> 64);
  if (s < static_cast<uint64_t>(a)) ++s;  // end-around carry
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

}  // namespace

void ChecksumAccumulator::add_host_order(uint16_t host) {
  if constexpr (std::endian::native == std::endian::little) {
    sum_ += static_cast<uint16_t>((host >> 8) | (host << 8));
  } else {
    sum_ += host;
  }
}

void ChecksumAccumulator::add(Bytes data) {
  add_host_order(host_order_sum<false>(data, nullptr));
}

void ChecksumAccumulator::add_copy(Bytes data, MutableBytes out) {
  assert(out.size() >= data.size());
  add_host_order(host_order_sum<true>(data, out.data()));
}

uint16_t ChecksumAccumulator::finish() const {
  uint64_t s = sum_;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s & 0xffff);
}

uint16_t internet_checksum(Bytes data) {
  ChecksumAccumulator acc;
  acc.add(data);
  return acc.finish();
}

void add_pseudo_header(ChecksumAccumulator& acc, Ipv4Address src, Ipv4Address dst, uint8_t protocol,
                       uint16_t length) {
  acc.add_u32(src.value);
  acc.add_u32(dst.value);
  acc.add_u16(protocol);
  acc.add_u16(length);
}

uint16_t checksum_update16(uint16_t checksum, uint16_t old_word, uint16_t new_word) {
  uint32_t sum = static_cast<uint16_t>(~checksum) +
                 static_cast<uint32_t>(static_cast<uint16_t>(~old_word)) + new_word;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

uint16_t checksum_update32(uint16_t checksum, uint32_t old_value, uint32_t new_value) {
  checksum = checksum_update16(checksum, static_cast<uint16_t>(old_value >> 16),
                               static_cast<uint16_t>(new_value >> 16));
  return checksum_update16(checksum, static_cast<uint16_t>(old_value & 0xffff),
                           static_cast<uint16_t>(new_value & 0xffff));
}

}  // namespace flowgate::wire
