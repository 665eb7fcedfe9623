// UDP header (RFC 768): source port, destination port, length, checksum.
#pragma once

#include <algorithm>

#include "wire/addresses.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/ipv4.hpp"
#include "wire/result.hpp"

namespace flowgate::wire {

template <ByteType Byte>
class UdpView : public ViewBase<Byte> {
 public:
  static constexpr size_t kSrcPortOffset = 0;
  static constexpr size_t kDstPortOffset = 2;
  static constexpr size_t kLengthOffset = 4;
  static constexpr size_t kChecksumOffset = 6;
  static constexpr size_t kHeaderLen = 8;

  // The length field must cover the header and fit in the IP payload; the view is trimmed
  // to it (RFC 768 leaves bytes after `length` outside the datagram).
  static Result<UdpView> check(std::span<Byte> buffer) {
    if (buffer.size() < kHeaderLen) return WireError::truncated;
    UdpView v(buffer);
    if (v.length() < kHeaderLen || v.length() > buffer.size()) return WireError::bad_total_length;
    return UdpView(buffer.first(v.length()));
  }

  uint16_t src_port() const { return this->be16(kSrcPortOffset); }
  uint16_t dst_port() const { return this->be16(kDstPortOffset); }
  uint16_t length() const { return this->be16(kLengthOffset); }
  uint16_t checksum() const { return this->be16(kChecksumOffset); }
  // RFC 768: "An all zero transmitted checksum value means that the transmitter generated no
  // checksum" — accepted as valid.
  bool checksum_valid(Ipv4Address src, Ipv4Address dst) const {
    if (checksum() == 0) return true;
    ChecksumAccumulator acc;
    add_pseudo_header(acc, src, dst, static_cast<uint8_t>(IpProtocol::udp), length());
    acc.add(this->bytes());
    return acc.finish() == 0;
  }
  std::span<Byte> payload() const { return this->buffer_.subspan(kHeaderLen); }

 public:
  UdpView() = default;  // an empty view, so Result<View> can hold an error

 private:
  // Private: a view over untrusted bytes is made only by check(), which validates lengths.
  explicit UdpView(std::span<Byte> buffer) : ViewBase<Byte>(buffer) {}
};

using UdpReader = UdpView<const std::byte>;

struct UdpRepr {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  Bytes payload;  // borrowed

  static Result<UdpRepr> parse(const UdpReader& v, Ipv4Address src, Ipv4Address dst) {
    if (!v.checksum_valid(src, dst)) return WireError::bad_checksum;
    return UdpRepr{v.src_port(), v.dst_port(), v.payload()};
  }
  size_t buffer_len() const { return UdpReader::kHeaderLen + payload.size(); }
  // Writes header, payload and checksum. RFC 768: a computed checksum of zero is sent as
  // all ones, since zero means "no checksum".
  size_t emit(MutableBytes out, Ipv4Address src, Ipv4Address dst) const {
    const auto len = static_cast<uint16_t>(buffer_len());
    store_be16(out, UdpReader::kSrcPortOffset, src_port);
    store_be16(out, UdpReader::kDstPortOffset, dst_port);
    store_be16(out, UdpReader::kLengthOffset, len);
    store_be16(out, UdpReader::kChecksumOffset, 0);
    std::copy(payload.begin(), payload.end(), out.begin() + UdpReader::kHeaderLen);
    ChecksumAccumulator acc;
    add_pseudo_header(acc, src, dst, static_cast<uint8_t>(IpProtocol::udp), len);
    acc.add(Bytes(out.data(), len));
    uint16_t sum = acc.finish();
    store_be16(out, UdpReader::kChecksumOffset, sum == 0 ? 0xffff : sum);
    return len;
  }
};

}  // namespace flowgate::wire
