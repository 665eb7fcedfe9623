// IPv4 header (RFC 791).
//
//   0        1        2                4               6                  8     9       10
//   | ver/ihl | dscp/ecn | total length | identification | flags/frag offset | ttl | proto | csum |
//   12 src | 16 dst | 20 options (ihl*4 - 20 bytes) | payload
#pragma once

#include <cassert>

#include "wire/addresses.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/result.hpp"

namespace flowgate::wire {

enum class IpProtocol : uint8_t { icmp = 1, tcp = 6, udp = 17 };

template <ByteType Byte>
class Ipv4View : public ViewBase<Byte> {
 public:
  static constexpr size_t kVerIhlOffset = 0;
  static constexpr size_t kTosOffset = 1;
  static constexpr size_t kTotalLenOffset = 2;
  static constexpr size_t kIdOffset = 4;
  static constexpr size_t kFlagsFragOffset = 6;
  static constexpr size_t kTtlOffset = 8;
  static constexpr size_t kProtocolOffset = 9;
  static constexpr size_t kChecksumOffset = 10;
  static constexpr size_t kSrcOffset = 12;
  static constexpr size_t kDstOffset = 16;
  static constexpr size_t kMinHeaderLen = 20;
  static constexpr size_t kMaxTotalLen = 65535;
  static constexpr uint16_t kFlagDontFragment = 0x4000;
  static constexpr uint16_t kFlagMoreFragments = 0x2000;
  static constexpr uint16_t kFragOffsetMask = 0x1fff;

  // Validates every length against the buffer, in this order: fixed header present, version,
  // IHL >= 5, header within total length, total length within the buffer. The returned view
  // is trimmed to the total length, so link-layer padding after it is gone.
  static Result<Ipv4View> check(std::span<Byte> buffer) {
    if (buffer.size() < kMinHeaderLen) return WireError::truncated;
    Ipv4View v(buffer);
    if (v.version() != 4) return WireError::bad_version;
    if (v.header_len() < kMinHeaderLen) return WireError::bad_header_length;
    if (v.total_len() < v.header_len()) return WireError::bad_total_length;
    if (v.total_len() > buffer.size()) return WireError::truncated;
    return Ipv4View(buffer.first(v.total_len()));
  }
  static Ipv4View unchecked(std::span<Byte> buffer) { return Ipv4View(buffer); }

  uint8_t version() const { return this->u8(kVerIhlOffset) >> 4; }
  size_t header_len() const { return size_t{this->u8(kVerIhlOffset) & 0x0fu} * 4; }
  uint8_t tos() const { return this->u8(kTosOffset); }
  uint8_t dscp() const { return tos() >> 2; }
  uint8_t ecn() const { return tos() & 0x3; }
  uint16_t total_len() const { return this->be16(kTotalLenOffset); }
  uint16_t identification() const { return this->be16(kIdOffset); }
  bool dont_fragment() const { return (this->be16(kFlagsFragOffset) & kFlagDontFragment) != 0; }
  bool more_fragments() const { return (this->be16(kFlagsFragOffset) & kFlagMoreFragments) != 0; }
  // In bytes (the field counts 8-byte units).
  uint32_t fragment_offset() const {
    return uint32_t{static_cast<uint16_t>(this->be16(kFlagsFragOffset) & kFragOffsetMask)} * 8;
  }
  bool is_fragment() const { return more_fragments() || fragment_offset() != 0; }
  uint8_t ttl() const { return this->u8(kTtlOffset); }
  uint8_t protocol() const { return this->u8(kProtocolOffset); }
  uint16_t checksum() const { return this->be16(kChecksumOffset); }
  Ipv4Address src() const { return Ipv4Address::load(this->bytes(), kSrcOffset); }
  Ipv4Address dst() const { return Ipv4Address::load(this->bytes(), kDstOffset); }
  bool header_checksum_valid() const {
    return internet_checksum(this->bytes().first(header_len())) == 0;
  }
  std::span<Byte> header() const { return this->buffer_.first(header_len()); }
  std::span<Byte> payload() const { return this->buffer_.subspan(header_len()); }

 public:
  Ipv4View() = default;  // an empty view, so Result<View> can hold an error

 private:
  // Private: a view over untrusted bytes is made only by check(), which validates lengths.
  explicit Ipv4View(std::span<Byte> buffer) : ViewBase<Byte>(buffer) {}
};

using Ipv4Reader = Ipv4View<const std::byte>;

// What the stack needs of an IPv4 header. Options are skipped on parse (their bytes are
// covered by the header length and checksum, never interpreted) and never emitted.
struct Ipv4Repr {
  Ipv4Address src;
  Ipv4Address dst;
  uint8_t protocol = 0;
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t identification = 0;
  bool dont_fragment = false;
  bool more_fragments = false;
  uint32_t fragment_offset = 0;  // bytes, a multiple of 8
  uint16_t payload_len = 0;

  // Fails with bad_checksum when the header checksum does not verify.
  static Result<Ipv4Repr> parse(const Ipv4Reader& v) {
    if (!v.header_checksum_valid()) return WireError::bad_checksum;
    return Ipv4Repr{v.src(),
                    v.dst(),
                    v.protocol(),
                    v.ttl(),
                    v.tos(),
                    v.identification(),
                    v.dont_fragment(),
                    v.more_fragments(),
                    v.fragment_offset(),
                    static_cast<uint16_t>(v.total_len() - v.header_len())};
  }
  static constexpr size_t buffer_len() { return Ipv4Reader::kMinHeaderLen; }
  // Writes a 20-byte header with a correct checksum at the start of `out`.
  size_t emit(MutableBytes out) const {
    assert(payload_len <= Ipv4Reader::kMaxTotalLen - Ipv4Reader::kMinHeaderLen);
    store_u8(out, Ipv4Reader::kVerIhlOffset, 0x45);
    store_u8(out, Ipv4Reader::kTosOffset, tos);
    store_be16(out, Ipv4Reader::kTotalLenOffset,
               static_cast<uint16_t>(Ipv4Reader::kMinHeaderLen + payload_len));
    store_be16(out, Ipv4Reader::kIdOffset, identification);
    uint16_t flags_frag = static_cast<uint16_t>(fragment_offset / 8) & Ipv4Reader::kFragOffsetMask;
    if (dont_fragment) flags_frag |= Ipv4Reader::kFlagDontFragment;
    if (more_fragments) flags_frag |= Ipv4Reader::kFlagMoreFragments;
    store_be16(out, Ipv4Reader::kFlagsFragOffset, flags_frag);
    store_u8(out, Ipv4Reader::kTtlOffset, ttl);
    store_u8(out, Ipv4Reader::kProtocolOffset, protocol);
    store_be16(out, Ipv4Reader::kChecksumOffset, 0);
    src.store(out, Ipv4Reader::kSrcOffset);
    dst.store(out, Ipv4Reader::kDstOffset);
    store_be16(out, Ipv4Reader::kChecksumOffset,
               internet_checksum(Bytes(out.data(), Ipv4Reader::kMinHeaderLen)));
    return buffer_len();
  }
  bool operator==(const Ipv4Repr&) const = default;
};

}  // namespace flowgate::wire
