#include "wire/checksum.hpp"

namespace flowgate::wire {

void ChecksumAccumulator::add(Bytes data) {
  size_t i = 0;
  const size_t n = data.size();
  // Eight bytes per step into a 64-bit sum: no carry can be lost before finish() folds it
  // for any packet size we will ever see (2^32 steps would be needed to overflow).
  for (; i + 8 <= n; i += 8) {
    sum_ += load_be32(data, i);
    sum_ += load_be32(data, i + 4);
  }
  for (; i + 2 <= n; i += 2) sum_ += load_be16(data, i);
  if (i < n) sum_ += static_cast<uint64_t>(load_u8(data, i)) << 8;
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
