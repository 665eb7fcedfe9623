#include "wire/tcp.hpp"

#include <algorithm>
#include <cassert>

namespace flowgate::wire {

namespace {

constexpr uint8_t kind_byte(TcpOptionKind k) {
  return static_cast<uint8_t>(k);
}

constexpr size_t kMssLen = 4;
constexpr size_t kWindowScaleLen = 3;
constexpr size_t kSackPermittedLen = 2;
constexpr size_t kTimestampsLen = 10;
constexpr size_t kSackBaseLen = 2;
constexpr size_t kSackBlockLen = 8;

// Emitted sizes, each padded with NOPs to a multiple of 4 (see TcpOptions::emit).
constexpr size_t kMssSpace = 4;           // MSS
constexpr size_t kSackPermTsSpace = 12;   // SACKP TS, or NOP NOP TS
constexpr size_t kSackPermOnlySpace = 4;  // NOP NOP SACKP
constexpr size_t kWindowScaleSpace = 4;   // NOP WS
constexpr size_t kSackHeaderSpace = 4;    // NOP NOP kind len, then 8 per block

size_t non_sack_space(const TcpOptions& o) {
  size_t n = 0;
  if (o.mss) n += kMssSpace;
  if (o.timestamps) {
    n += kSackPermTsSpace;
  } else if (o.sack_permitted) {
    n += kSackPermOnlySpace;
  }
  if (o.window_scale) n += kWindowScaleSpace;
  return n;
}

// Writes `kind len` and returns the offset of the option body.
size_t put_header(MutableBytes out, size_t off, TcpOptionKind kind, size_t len) {
  store_u8(out, off, kind_byte(kind));
  store_u8(out, off + 1, static_cast<uint8_t>(len));
  return off + 2;
}

size_t put_nops(MutableBytes out, size_t off, size_t count) {
  for (size_t i = 0; i < count; ++i) store_u8(out, off + i, kind_byte(TcpOptionKind::nop));
  return off + count;
}

}  // namespace

std::string to_string(TcpFlags flags) {
  static constexpr struct {
    TcpFlag flag;
    const char* name;
  } kNames[] = {
      {TcpFlag::ns, "NS"},   {TcpFlag::cwr, "CWR"}, {TcpFlag::ece, "ECE"},
      {TcpFlag::urg, "URG"}, {TcpFlag::ack, "ACK"}, {TcpFlag::psh, "PSH"},
      {TcpFlag::rst, "RST"}, {TcpFlag::syn, "SYN"}, {TcpFlag::fin, "FIN"},
  };
  std::string out;
  for (const auto& n : kNames) {
    if (!flags.has(n.flag)) continue;
    if (!out.empty()) out += '|';
    out += n.name;
  }
  return out.empty() ? "none" : out;
}

bool TcpOptions::add_sack_block(TcpSackBlock block) {
  if (sack_count >= kMaxSackBlocks) return false;
  sack_blocks[sack_count] = block;
  ++sack_count;
  return true;
}

bool TcpOptions::operator==(const TcpOptions& other) const {
  const auto a = sack();
  const auto b = other.sack();
  return mss == other.mss && window_scale == other.window_scale &&
         sack_permitted == other.sack_permitted && timestamps == other.timestamps &&
         std::equal(a.begin(), a.end(), b.begin(), b.end());
}

// RFC 9293 3.2: an option is either a single kind byte (EOL, NOP) or kind, length (counting
// both of these bytes) and length - 2 bytes of data. "A TCP implementation MUST be able to
// receive a TCP Option in any segment" and "MUST ignore without error any TCP Option it
// does not implement, assuming that the option has a length field" (MUST-64, MUST-68).
Result<TcpOptions> TcpOptions::parse(Bytes area) {
  TcpOptions opts;
  size_t off = 0;
  while (off < area.size()) {
    const uint8_t kind = load_u8(area, off);
    if (kind == kind_byte(TcpOptionKind::end_of_list)) break;
    if (kind == kind_byte(TcpOptionKind::nop)) {
      ++off;
      continue;
    }
    if (off + 1 >= area.size()) return WireError::bad_option;  // no length byte
    const size_t len = load_u8(area, off + 1);
    if (len < 2 || len > area.size() - off) return WireError::bad_option;
    const Bytes body = area.subspan(off + 2, len - 2);
    switch (static_cast<TcpOptionKind>(kind)) {
      case TcpOptionKind::mss:
        if (len != kMssLen) return WireError::bad_option;
        opts.mss = load_be16(body, 0);
        break;
      case TcpOptionKind::window_scale:
        if (len != kWindowScaleLen) return WireError::bad_option;
        opts.window_scale = load_u8(body, 0);
        break;
      case TcpOptionKind::sack_permitted:
        if (len != kSackPermittedLen) return WireError::bad_option;
        opts.sack_permitted = true;
        break;
      case TcpOptionKind::timestamps:
        if (len != kTimestampsLen) return WireError::bad_option;
        opts.timestamps = TcpTimestamps{load_be32(body, 0), load_be32(body, 4)};
        break;
      case TcpOptionKind::sack: {
        const size_t blocks = (len - kSackBaseLen) / kSackBlockLen;
        if ((len - kSackBaseLen) % kSackBlockLen != 0 || blocks < 1 || blocks > kMaxSackBlocks) {
          return WireError::bad_option;
        }
        opts.sack_count = 0;
        for (size_t i = 0; i < blocks; ++i) {
          opts.add_sack_block(
              {load_be32(body, i * kSackBlockLen), load_be32(body, i * kSackBlockLen + 4)});
        }
        break;
      }
      default:
        break;  // unknown kind with a sane length: skipped
    }
    off += len;
  }
  return opts;
}

size_t TcpOptions::emitted_sack_count() const {
  const size_t room = kMaxLen - non_sack_space(*this);
  if (sack_count == 0 || room < kSackHeaderSpace + kSackBlockLen) return 0;
  return std::min<size_t>(sack_count, (room - kSackHeaderSpace) / kSackBlockLen);
}

size_t TcpOptions::buffer_len() const {
  const size_t blocks = emitted_sack_count();
  const size_t sack_space = blocks == 0 ? 0 : kSackHeaderSpace + blocks * kSackBlockLen;
  return non_sack_space(*this) + sack_space;
}

size_t TcpOptions::emit(MutableBytes out) const {
  size_t off = 0;
  if (mss) {
    off = put_header(out, off, TcpOptionKind::mss, kMssLen);
    store_be16(out, off, *mss);
    off += 2;
  }
  if (timestamps) {
    if (sack_permitted) {
      off = put_header(out, off, TcpOptionKind::sack_permitted, kSackPermittedLen);
    } else {
      off = put_nops(out, off, 2);
    }
    off = put_header(out, off, TcpOptionKind::timestamps, kTimestampsLen);
    store_be32(out, off, timestamps->tsval);
    store_be32(out, off + 4, timestamps->tsecr);
    off += 8;
  } else if (sack_permitted) {
    off = put_nops(out, off, 2);
    off = put_header(out, off, TcpOptionKind::sack_permitted, kSackPermittedLen);
  }
  if (window_scale) {
    off = put_nops(out, off, 1);
    off = put_header(out, off, TcpOptionKind::window_scale, kWindowScaleLen);
    store_u8(out, off, *window_scale);
    off += 1;
  }
  if (const size_t blocks = emitted_sack_count(); blocks > 0) {
    off = put_nops(out, off, 2);
    off = put_header(out, off, TcpOptionKind::sack, kSackBaseLen + blocks * kSackBlockLen);
    for (size_t i = 0; i < blocks; ++i) {
      store_be32(out, off, sack_blocks[i].left);
      store_be32(out, off + 4, sack_blocks[i].right);
      off += kSackBlockLen;
    }
  }
  assert(off == buffer_len() && off % 4 == 0 && off <= kMaxLen);
  return off;
}

Result<TcpRepr> TcpRepr::parse(const TcpReader& v, Ipv4Address src, Ipv4Address dst) {
  if (!v.checksum_valid(src, dst)) return WireError::bad_checksum;
  auto options = TcpOptions::parse(v.options());
  if (!options) return options.error();
  TcpRepr r;
  r.src_port = v.src_port();
  r.dst_port = v.dst_port();
  r.seq = v.seq_number();
  r.ack = v.ack_number();
  r.flags = v.flags();
  r.window = v.window();
  r.urgent_pointer = v.urgent_pointer();
  r.options = *options;
  r.payload = v.payload();
  return r;
}

size_t TcpRepr::emit(MutableBytes out, Ipv4Address src, Ipv4Address dst) const {
  const size_t hlen = header_len();
  const size_t len = hlen + payload.size();
  assert(out.size() >= len);
  store_be16(out, TcpReader::kSrcPortOffset, src_port);
  store_be16(out, TcpReader::kDstPortOffset, dst_port);
  store_be32(out, TcpReader::kSeqOffset, seq);
  store_be32(out, TcpReader::kAckOffset, ack);
  store_be16(out, TcpReader::kFlagsOffset,
             static_cast<uint16_t>(((hlen / 4) << 12) | flags.bits()));
  store_be16(out, TcpReader::kWindowOffset, window);
  store_be16(out, TcpReader::kChecksumOffset, 0);
  store_be16(out, TcpReader::kUrgentOffset, urgent_pointer);
  options.emit(out.subspan(TcpReader::kOptionsOffset, hlen - TcpReader::kOptionsOffset));
  ChecksumAccumulator acc;
  add_pseudo_header(acc, src, dst, static_cast<uint8_t>(IpProtocol::tcp),
                    static_cast<uint16_t>(len));
  acc.add(Bytes(out.data(), hlen));  // hlen is a multiple of 4: the payload starts on a word
  acc.add_copy(payload, out.subspan(hlen));
  store_be16(out, TcpReader::kChecksumOffset, acc.finish());
  return len;
}

}  // namespace flowgate::wire
