// TCP header (RFC 9293 section 3.1) and its options (RFC 9293 3.2, RFC 7323, RFC 2018).
//
//   0          2          4            8            12             13      14       16     18
//   | src port | dst port | seq number | ack number | doff/rsv/NS | flags | window | csum | urg |
//   20 options (doff*4 - 20 bytes, at most 40) | payload
//
// Byte 12 holds the data offset in its high nibble, three reserved bits, and in bit 0 the
// NS bit (RFC 3540, now historic; reused as the AccECN "AE" bit). Byte 13 holds CWR ECE URG
// ACK PSH RST SYN FIN, high bit first. TcpFlags keeps all nine bits, NS as 0x100, so the
// 16-bit word at offset 12 masked with 0x01ff is exactly the flag set.
//
// The wire layer knows nothing of connections: sequence numbers are raw uint32_t here (the
// TCP layer wraps them in its SeqNum type), the window is the raw 16-bit field (unscaled),
// and options are taken as they come, whatever segment they arrive on.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "wire/addresses.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/ipv4.hpp"
#include "wire/result.hpp"

namespace flowgate::wire {

// One control bit; the value is its position in the 16-bit word at header offset 12.
enum class TcpFlag : uint16_t {
  fin = 0x001,
  syn = 0x002,
  rst = 0x004,
  psh = 0x008,
  ack = 0x010,
  urg = 0x020,
  ece = 0x040,
  cwr = 0x080,
  ns = 0x100,  // byte 12 bit 0 (RFC 3540, historic); emitted only if set in the repr
};

// A set of TcpFlag. `TcpFlag::syn | TcpFlag::ack` builds one; `has()` tests one bit.
class TcpFlags {
 public:
  static constexpr uint16_t kMask = 0x01ff;

  constexpr TcpFlags() = default;
  constexpr TcpFlags(TcpFlag f) : bits_(static_cast<uint16_t>(f)) {}  // NOLINT implicit
  // Bits outside the nine flags (data offset, reserved) are dropped.
  static constexpr TcpFlags from_bits(uint16_t bits) {
    TcpFlags f;
    f.bits_ = static_cast<uint16_t>(bits & kMask);
    return f;
  }

  constexpr uint16_t bits() const { return bits_; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr bool has(TcpFlag f) const { return (bits_ & static_cast<uint16_t>(f)) != 0; }
  constexpr TcpFlags without(TcpFlags other) const { return from_bits(bits_ & ~other.bits_); }
  constexpr TcpFlags operator|(TcpFlags other) const { return from_bits(bits_ | other.bits_); }
  constexpr TcpFlags operator&(TcpFlags other) const { return from_bits(bits_ & other.bits_); }
  constexpr TcpFlags& operator|=(TcpFlags other) { return *this = *this | other; }
  constexpr bool operator==(const TcpFlags&) const = default;

 private:
  uint16_t bits_ = 0;
};

constexpr TcpFlags operator|(TcpFlag a, TcpFlag b) {
  return TcpFlags(a) | TcpFlags(b);
}

// "SYN|ACK", "none" for the empty set; for logs and test failure messages.
std::string to_string(TcpFlags flags);

enum class TcpOptionKind : uint8_t {
  end_of_list = 0,     // RFC 9293: ends the options; the rest of the area is padding
  nop = 1,             // RFC 9293: one byte, used to align the next option
  mss = 2,             // RFC 9293: len 4, 16-bit maximum segment size
  window_scale = 3,    // RFC 7323: len 3, shift count
  sack_permitted = 4,  // RFC 2018: len 2
  sack = 5,            // RFC 2018: len 2 + 8n, n blocks of {left edge, right edge}
  timestamps = 8,      // RFC 7323: len 10, TSval and TSecr
};

struct TcpTimestamps {
  uint32_t tsval = 0;
  uint32_t tsecr = 0;
  bool operator==(const TcpTimestamps&) const = default;
};

// RFC 2018: the block covers sequence numbers [left, right).
struct TcpSackBlock {
  uint32_t left = 0;
  uint32_t right = 0;
  bool operator==(const TcpSackBlock&) const = default;
};

// The options the stack understands. Parsing skips NOPs and options of unknown kind, stops
// at EOL, and keeps the last one when an option appears twice. It does not judge whether an
// option belongs on this segment (MSS or window scale off a SYN): that is the TCP layer's
// call.
struct TcpOptions {
  static constexpr size_t kMaxLen = 40;  // data offset 15 words minus the 20-byte header
  static constexpr size_t kMaxSackBlocks = 4;

  std::optional<uint16_t> mss;
  // The shift count as received. RFC 7323 2.3 says a value above 14 is used as 14 (and
  // logged); that cap is applied by the TCP layer, so the wire keeps what was sent.
  std::optional<uint8_t> window_scale;
  bool sack_permitted = false;
  std::optional<TcpTimestamps> timestamps;
  // Only the first sack_count entries are meaningful; use sack() to read them.
  std::array<TcpSackBlock, kMaxSackBlocks> sack_blocks{};
  uint8_t sack_count = 0;

  std::span<const TcpSackBlock> sack() const { return {sack_blocks.data(), sack_count}; }
  // Appends a block; false (and nothing changes) when four are already held.
  bool add_sack_block(TcpSackBlock block);

  // Parses an options area (the header bytes after offset 20). bad_option when a length
  // byte is missing, a length is below 2 or runs past the area, a known kind has the wrong
  // length, or a SACK option is not 2 + 8n bytes with n in 1..4.
  static Result<TcpOptions> parse(Bytes area);

  // How many SACK blocks emit() writes: as many as fit in 40 bytes after the other options,
  // dropping blocks from the end (RFC 2018 puts the most recent block first). With
  // timestamps that is 3, or 2 next to MSS, SACK-permitted, timestamps and window scale.
  size_t emitted_sack_count() const;
  // Length of the emitted options area: a multiple of 4, at most kMaxLen.
  size_t buffer_len() const;
  // Writes buffer_len() bytes, laid out as Linux does: MSS; SACK-permitted and timestamps
  // together as SACKP TS, or each after two NOPs; NOP WS; NOP NOP SACK. Every piece is a
  // multiple of 4 bytes, so the area needs no trailing padding.
  size_t emit(MutableBytes out) const;

  // Compares only the meaningful SACK blocks.
  bool operator==(const TcpOptions& other) const;
};

template <ByteType Byte>
class TcpView : public ViewBase<Byte> {
 public:
  static constexpr size_t kSrcPortOffset = 0;
  static constexpr size_t kDstPortOffset = 2;
  static constexpr size_t kSeqOffset = 4;
  static constexpr size_t kAckOffset = 8;
  static constexpr size_t kDataOffsetOffset = 12;  // high nibble; NS is this byte's bit 0
  static constexpr size_t kFlagsOffset = 12;       // 16-bit word: doff, reserved, 9 flag bits
  static constexpr size_t kWindowOffset = 14;
  static constexpr size_t kChecksumOffset = 16;
  static constexpr size_t kUrgentOffset = 18;
  static constexpr size_t kOptionsOffset = 20;
  static constexpr size_t kMinHeaderLen = 20;
  static constexpr size_t kMaxHeaderLen = 60;

  // The fixed header must be present and the data offset must cover it and fit in the
  // buffer. TCP has no length field of its own: the segment is the whole buffer (the IP
  // payload), so the view is not trimmed.
  static Result<TcpView> check(std::span<Byte> buffer) {
    if (buffer.size() < kMinHeaderLen) return WireError::truncated;
    TcpView v(buffer);
    if (v.header_len() < kMinHeaderLen || v.header_len() > buffer.size()) {
      return WireError::bad_header_length;
    }
    return v;
  }

  uint16_t src_port() const { return this->be16(kSrcPortOffset); }
  uint16_t dst_port() const { return this->be16(kDstPortOffset); }
  uint32_t seq_number() const { return this->be32(kSeqOffset); }
  uint32_t ack_number() const { return this->be32(kAckOffset); }
  // In 32-bit words, as on the wire.
  uint8_t data_offset() const { return static_cast<uint8_t>(this->u8(kDataOffsetOffset) >> 4); }
  size_t header_len() const { return size_t{data_offset()} * 4; }
  TcpFlags flags() const { return TcpFlags::from_bits(this->be16(kFlagsOffset)); }
  uint16_t window() const { return this->be16(kWindowOffset); }
  uint16_t checksum() const { return this->be16(kChecksumOffset); }
  uint16_t urgent_pointer() const { return this->be16(kUrgentOffset); }
  std::span<Byte> options() const {
    return this->buffer_.subspan(kOptionsOffset, header_len() - kOptionsOffset);
  }
  std::span<Byte> payload() const { return this->buffer_.subspan(header_len()); }

  // RFC 9293 3.1: the sum covers the pseudo-header (protocol 6, TCP length = header plus
  // data) and the whole segment. Unlike UDP, a zero checksum is not special.
  bool checksum_valid(Ipv4Address src, Ipv4Address dst) const {
    ChecksumAccumulator acc;
    add_pseudo_header(acc, src, dst, static_cast<uint8_t>(IpProtocol::tcp),
                      static_cast<uint16_t>(this->buffer_.size()));
    acc.add(this->bytes());
    return acc.finish() == 0;
  }

  TcpView() = default;  // an empty view; only so Result<TcpView> can hold an error

 private:
  // A real private constructor, not `using ViewBase<Byte>::ViewBase`: inherited
  // constructors keep the base's public access, which would let callers skip check().
  explicit TcpView(std::span<Byte> buffer) : ViewBase<Byte>(buffer) {}
};

using TcpReader = TcpView<const std::byte>;

struct TcpRepr {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;  // raw; the TCP layer compares these only through SeqNum
  uint32_t ack = 0;  // raw, meaningful only with TcpFlag::ack
  TcpFlags flags;
  uint16_t window = 0;  // raw field, before window scaling
  uint16_t urgent_pointer = 0;
  TcpOptions options;
  Bytes payload;  // borrowed

  // bad_checksum when the checksum does not verify, then bad_option when the options are
  // malformed. Reserved header bits are ignored.
  static Result<TcpRepr> parse(const TcpReader& v, Ipv4Address src, Ipv4Address dst);
  size_t header_len() const { return TcpReader::kMinHeaderLen + options.buffer_len(); }
  size_t buffer_len() const { return header_len() + payload.size(); }
  // Writes header, options, payload and checksum into the first buffer_len() bytes of
  // `out`, which must be at least that long. Reserved bits are written as zero; SACK
  // blocks that do not fit are dropped (see TcpOptions::emitted_sack_count).
  size_t emit(MutableBytes out, Ipv4Address src, Ipv4Address dst) const;
};

}  // namespace flowgate::wire
