// ARP (RFC 826) for IPv4 over Ethernet, the only combination we speak:
//
//   0     2     4    5    6      8        14       18       24       28
//   | htype | ptype | hlen | plen | oper | sha | spa | tha | tpa |
#pragma once

#include "wire/addresses.hpp"
#include "wire/bytes.hpp"
#include "wire/result.hpp"

namespace flowgate::wire {

enum class ArpOperation : uint16_t { request = 1, reply = 2 };

template <ByteType Byte>
class ArpView : public ViewBase<Byte> {
 public:
  static constexpr size_t kHtypeOffset = 0;
  static constexpr size_t kPtypeOffset = 2;
  static constexpr size_t kHlenOffset = 4;
  static constexpr size_t kPlenOffset = 5;
  static constexpr size_t kOperOffset = 6;
  static constexpr size_t kShaOffset = 8;
  static constexpr size_t kSpaOffset = 14;
  static constexpr size_t kThaOffset = 18;
  static constexpr size_t kTpaOffset = 24;
  static constexpr size_t kLen = 28;
  static constexpr uint16_t kHtypeEthernet = 1;
  static constexpr uint16_t kPtypeIpv4 = 0x0800;

  static Result<ArpView> check(std::span<Byte> buffer) {
    if (buffer.size() < kLen) return WireError::truncated;
    ArpView v(buffer.first(kLen));
    if (v.htype() != kHtypeEthernet || v.ptype() != kPtypeIpv4 || v.hlen() != 6 || v.plen() != 4)
      return WireError::unsupported;
    return v;
  }

  uint16_t htype() const { return this->be16(kHtypeOffset); }
  uint16_t ptype() const { return this->be16(kPtypeOffset); }
  uint8_t hlen() const { return this->u8(kHlenOffset); }
  uint8_t plen() const { return this->u8(kPlenOffset); }
  uint16_t operation() const { return this->be16(kOperOffset); }
  MacAddress sender_mac() const { return MacAddress::load(this->bytes(), kShaOffset); }
  Ipv4Address sender_ip() const { return Ipv4Address::load(this->bytes(), kSpaOffset); }
  MacAddress target_mac() const { return MacAddress::load(this->bytes(), kThaOffset); }
  Ipv4Address target_ip() const { return Ipv4Address::load(this->bytes(), kTpaOffset); }

 public:
  ArpView() = default;  // an empty view, so Result<View> can hold an error

 private:
  // Private: a view over untrusted bytes is made only by check(), which validates lengths.
  explicit ArpView(std::span<Byte> buffer) : ViewBase<Byte>(buffer) {}
};

using ArpReader = ArpView<const std::byte>;

struct ArpRepr {
  uint16_t operation = 0;  // ArpOperation values; others are parsed and ignored by the stack
  MacAddress sender_mac;
  Ipv4Address sender_ip;
  MacAddress target_mac;
  Ipv4Address target_ip;

  static ArpRepr parse(const ArpReader& v) {
    return {v.operation(), v.sender_mac(), v.sender_ip(), v.target_mac(), v.target_ip()};
  }
  static constexpr size_t buffer_len() { return ArpReader::kLen; }
  size_t emit(MutableBytes out) const {
    store_be16(out, ArpReader::kHtypeOffset, ArpReader::kHtypeEthernet);
    store_be16(out, ArpReader::kPtypeOffset, ArpReader::kPtypeIpv4);
    store_u8(out, ArpReader::kHlenOffset, 6);
    store_u8(out, ArpReader::kPlenOffset, 4);
    store_be16(out, ArpReader::kOperOffset, operation);
    sender_mac.store(out, ArpReader::kShaOffset);
    sender_ip.store(out, ArpReader::kSpaOffset);
    target_mac.store(out, ArpReader::kThaOffset);
    target_ip.store(out, ArpReader::kTpaOffset);
    return buffer_len();
  }
  bool operator==(const ArpRepr&) const = default;
};

}  // namespace flowgate::wire
