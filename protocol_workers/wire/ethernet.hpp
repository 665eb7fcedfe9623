// Ethernet II with an optional 802.1Q tag.
//
//   0      6      12         14 (or 18 with a tag)
//   | dst  | src  | type/TPID | [TCI | type] | payload ... | padding to 60 bytes |
//
// The payload span runs to the end of the frame and so includes any padding a short frame
// carries; the network layer trims it to its own length field (Ethernet padding is never data).
#pragma once

#include <optional>

#include "wire/addresses.hpp"
#include "wire/bytes.hpp"
#include "wire/result.hpp"

namespace flowgate::wire {

enum class EtherType : uint16_t {
  ipv4 = 0x0800,
  arp = 0x0806,
  vlan = 0x8100,
};

template <ByteType Byte>
class EthernetView : public ViewBase<Byte> {
 public:
  static constexpr size_t kDstOffset = 0;
  static constexpr size_t kSrcOffset = 6;
  static constexpr size_t kTypeOffset = 12;
  static constexpr size_t kHeaderLen = 14;
  static constexpr size_t kVlanTciOffset = 14;
  static constexpr size_t kVlanInnerTypeOffset = 16;
  static constexpr size_t kVlanHeaderLen = 18;
  static constexpr size_t kMinFrameLen = 60;  // without FCS; shorter frames get padded

  // Once this succeeds, no accessor can read outside the buffer.
  static Result<EthernetView> check(std::span<Byte> buffer) {
    if (buffer.size() < kHeaderLen) return WireError::truncated;
    EthernetView v(buffer);
    if (v.outer_type() == static_cast<uint16_t>(EtherType::vlan) && buffer.size() < kVlanHeaderLen)
      return WireError::truncated;
    return v;
  }
  // For a buffer the caller sized itself (building a frame).
  static EthernetView unchecked(std::span<Byte> buffer) { return EthernetView(buffer); }

  MacAddress dst() const { return MacAddress::load(this->bytes(), kDstOffset); }
  MacAddress src() const { return MacAddress::load(this->bytes(), kSrcOffset); }
  uint16_t outer_type() const { return this->be16(kTypeOffset); }
  bool has_vlan() const { return outer_type() == static_cast<uint16_t>(EtherType::vlan); }
  std::optional<uint16_t> vlan_tci() const {
    if (!has_vlan()) return std::nullopt;
    return this->be16(kVlanTciOffset);
  }
  uint16_t ethertype() const {
    return has_vlan() ? this->be16(kVlanInnerTypeOffset) : outer_type();
  }
  size_t header_len() const { return has_vlan() ? kVlanHeaderLen : kHeaderLen; }
  std::span<Byte> payload() const { return this->buffer_.subspan(header_len()); }

 public:
  EthernetView() = default;  // an empty view, so Result<View> can hold an error

 private:
  // Private: a view over untrusted bytes is made only by check(), which validates lengths.
  explicit EthernetView(std::span<Byte> buffer) : ViewBase<Byte>(buffer) {}
};

using EthernetReader = EthernetView<const std::byte>;

struct EthernetRepr {
  MacAddress dst;
  MacAddress src;
  std::optional<uint16_t> vlan_tci;
  uint16_t ethertype = 0;

  static EthernetRepr parse(const EthernetReader& v) {
    return {v.dst(), v.src(), v.vlan_tci(), v.ethertype()};
  }
  size_t buffer_len() const {
    return vlan_tci ? EthernetReader::kVlanHeaderLen : EthernetReader::kHeaderLen;
  }
  // Writes the header at the start of `out` (which must hold buffer_len() bytes); returns the
  // header length, where the payload starts.
  size_t emit(MutableBytes out) const {
    dst.store(out, EthernetReader::kDstOffset);
    src.store(out, EthernetReader::kSrcOffset);
    if (vlan_tci) {
      store_be16(out, EthernetReader::kTypeOffset, static_cast<uint16_t>(EtherType::vlan));
      store_be16(out, EthernetReader::kVlanTciOffset, *vlan_tci);
      store_be16(out, EthernetReader::kVlanInnerTypeOffset, ethertype);
    } else {
      store_be16(out, EthernetReader::kTypeOffset, ethertype);
    }
    return buffer_len();
  }
  bool operator==(const EthernetRepr&) const = default;
};

}  // namespace flowgate::wire
