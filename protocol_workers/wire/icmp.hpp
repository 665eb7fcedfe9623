// ICMPv4 (RFC 792). Every message has the same first four bytes (type, code, checksum); the
// next four depend on the type (identifier/sequence for echo, next-hop MTU for
// fragmentation-needed, pointer for parameter problem, unused otherwise) and are kept raw as
// `rest_of_header`. The checksum covers the whole message.
#pragma once

#include <algorithm>

#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/result.hpp"

namespace flowgate::wire {

enum class IcmpType : uint8_t {
  echo_reply = 0,
  destination_unreachable = 3,
  source_quench = 4,
  redirect = 5,
  echo_request = 8,
  time_exceeded = 11,
  parameter_problem = 12,
};

enum class IcmpUnreachableCode : uint8_t {
  net = 0,
  host = 1,
  protocol = 2,
  port = 3,
  fragmentation_needed = 4,
};

enum class IcmpTimeExceededCode : uint8_t { ttl = 0, reassembly = 1 };

template <ByteType Byte>
class IcmpView : public ViewBase<Byte> {
 public:
  static constexpr size_t kTypeOffset = 0;
  static constexpr size_t kCodeOffset = 1;
  static constexpr size_t kChecksumOffset = 2;
  static constexpr size_t kRestOffset = 4;
  static constexpr size_t kHeaderLen = 8;

  static Result<IcmpView> check(std::span<Byte> buffer) {
    if (buffer.size() < kHeaderLen) return WireError::truncated;
    return IcmpView(buffer);
  }

  uint8_t type() const { return this->u8(kTypeOffset); }
  uint8_t code() const { return this->u8(kCodeOffset); }
  uint16_t checksum() const { return this->be16(kChecksumOffset); }
  uint32_t rest_of_header() const { return this->be32(kRestOffset); }
  uint16_t echo_identifier() const { return this->be16(kRestOffset); }
  uint16_t echo_sequence() const { return this->be16(kRestOffset + 2); }
  // RFC 1191: the low 16 bits of the rest of a fragmentation-needed message.
  uint16_t next_hop_mtu() const { return this->be16(kRestOffset + 2); }
  bool checksum_valid() const { return internet_checksum(this->bytes()) == 0; }
  std::span<Byte> data() const { return this->buffer_.subspan(kHeaderLen); }

 public:
  IcmpView() = default;  // an empty view, so Result<View> can hold an error

 private:
  // Private: a view over untrusted bytes is made only by check(), which validates lengths.
  explicit IcmpView(std::span<Byte> buffer) : ViewBase<Byte>(buffer) {}
};

using IcmpReader = IcmpView<const std::byte>;

struct IcmpRepr {
  uint8_t type = 0;
  uint8_t code = 0;
  uint32_t rest_of_header = 0;
  Bytes data;  // borrowed: echo payload, or the quoted datagram of an error

  static Result<IcmpRepr> parse(const IcmpReader& v) {
    if (!v.checksum_valid()) return WireError::bad_checksum;
    return IcmpRepr{v.type(), v.code(), v.rest_of_header(), v.data()};
  }
  static IcmpRepr echo(IcmpType type, uint16_t identifier, uint16_t sequence, Bytes data) {
    return {static_cast<uint8_t>(type), 0, (uint32_t{identifier} << 16) | sequence, data};
  }
  uint16_t echo_identifier() const { return static_cast<uint16_t>(rest_of_header >> 16); }
  uint16_t echo_sequence() const { return static_cast<uint16_t>(rest_of_header & 0xffff); }
  size_t buffer_len() const { return IcmpReader::kHeaderLen + data.size(); }
  // Writes header and data with the checksum; `out` must hold buffer_len() bytes.
  size_t emit(MutableBytes out) const {
    store_u8(out, IcmpReader::kTypeOffset, type);
    store_u8(out, IcmpReader::kCodeOffset, code);
    store_be16(out, IcmpReader::kChecksumOffset, 0);
    store_be32(out, IcmpReader::kRestOffset, rest_of_header);
    std::copy(data.begin(), data.end(), out.begin() + IcmpReader::kHeaderLen);
    store_be16(out, IcmpReader::kChecksumOffset,
               internet_checksum(Bytes(out.data(), buffer_len())));
    return buffer_len();
  }
};

}  // namespace flowgate::wire
