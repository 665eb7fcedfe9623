// libFuzzer target: the TCP header view, its options and the repr.
//
// Input: 4 bytes source IPv4 address, 4 bytes destination address (the pseudo-header's, big
// endian), then one TCP segment (the whole IPv4 payload). Properties:
// - check() fails exactly when the fixed header is missing or the data offset is below 5 or
//   beyond the segment; a checked view splits into header, options and payload;
// - parse() fails with bad_checksum exactly on a bad checksum, then with bad_option exactly
//   when TcpOptions::parse rejects the options area;
// - emit(parse(segment)) checks and parses back to the same repr, except for SACK blocks that
//   emit documents it drops for room; the emitted options area is a multiple of 4 bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "fuzz_support.hpp"
#include "wire/tcp.hpp"

namespace {

using flowgate::fuzz::require;
using flowgate::fuzz::same_bytes;

using flowgate::wire::Bytes;
using flowgate::wire::Ipv4Address;
using flowgate::wire::load_be16;
using flowgate::wire::load_u8;
using flowgate::wire::TcpFlags;
using flowgate::wire::TcpOptions;
using flowgate::wire::TcpReader;
using flowgate::wire::TcpRepr;
using flowgate::wire::WireError;

constexpr size_t kAddressesLen = 8;

WireError expected_check(Bytes b) {
  if (b.size() < TcpReader::kMinHeaderLen) return WireError::truncated;
  const size_t header_len = static_cast<size_t>(load_u8(b, TcpReader::kDataOffsetOffset) >> 4) * 4;
  if (header_len < TcpReader::kMinHeaderLen || header_len > b.size()) {
    return WireError::bad_header_length;
  }
  return WireError::ok;
}

void check_accessors(const TcpReader& v, Bytes segment) {
  require(v.bytes().data() == segment.data() && v.bytes().size() == segment.size(),
          "view does not cover the segment");
  require(v.header_len() == size_t{v.data_offset()} * 4 &&
              v.header_len() >= TcpReader::kMinHeaderLen &&
              v.header_len() <= TcpReader::kMaxHeaderLen,
          "header_len");
  require(v.options().size() == v.header_len() - TcpReader::kOptionsOffset &&
              v.options().data() == segment.data() + TcpReader::kOptionsOffset,
          "options extent");
  require(v.payload().size() == segment.size() - v.header_len(), "payload extent");
  require(v.flags().bits() == (load_be16(segment, TcpReader::kFlagsOffset) & TcpFlags::kMask),
          "flags are not the low nine bits of the word at offset 12");
  (void)flowgate::wire::to_string(v.flags());
  (void)v.src_port();
  (void)v.dst_port();
  (void)v.seq_number();
  (void)v.ack_number();
  (void)v.window();
  (void)v.checksum();
  (void)v.urgent_pointer();
}

// What emit promises to keep of `options`: everything but the SACK blocks beyond
// emitted_sack_count().
TcpOptions expected_after_emit(const TcpOptions& options) {
  TcpOptions kept = options;
  kept.sack_count = static_cast<uint8_t>(options.emitted_sack_count());
  return kept;
}

bool same_repr(const TcpRepr& a, const TcpRepr& b) {
  return a.src_port == b.src_port && a.dst_port == b.dst_port && a.seq == b.seq && a.ack == b.ack &&
         a.flags == b.flags && a.window == b.window && a.urgent_pointer == b.urgent_pointer &&
         a.options == b.options && same_bytes(a.payload, b.payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kAddressesLen) return 0;
  const Bytes input(reinterpret_cast<const std::byte*>(data), size);
  const Ipv4Address src = Ipv4Address::load(input, 0);
  const Ipv4Address dst = Ipv4Address::load(input, 4);
  const Bytes segment = input.subspan(kAddressesLen);

  auto checked = TcpReader::check(segment);
  require(checked.error() == expected_check(segment), "check returned an unexpected result");
  if (!checked) return 0;
  const TcpReader& v = *checked;
  check_accessors(v, segment);

  const bool valid = v.checksum_valid(src, dst);
  auto options = TcpOptions::parse(v.options());
  if (options) {
    const TcpOptions& o = *options;
    require(o.sack_count <= TcpOptions::kMaxSackBlocks && o.sack().size() == o.sack_count,
            "sack block count");
    require(o.buffer_len() % 4 == 0 && o.buffer_len() <= TcpOptions::kMaxLen, "options buffer_len");
  } else {
    require(options.error() == WireError::bad_option, "options failed with a non-option error");
  }

  auto parsed = TcpRepr::parse(v, src, dst);
  if (!parsed) {
    const WireError expected = !valid ? WireError::bad_checksum : options.error();
    require(!options.ok() || !valid, "parse failed on a valid segment");
    require(parsed.error() == expected, "parse failed with the wrong error");
    return 0;
  }
  const TcpRepr& repr = *parsed;
  require(valid && options.ok(), "parse accepted a bad checksum or bad options");
  require(repr.src_port == v.src_port() && repr.dst_port == v.dst_port() &&
              repr.seq == v.seq_number() && repr.ack == v.ack_number() && repr.flags == v.flags() &&
              repr.window == v.window() && repr.urgent_pointer == v.urgent_pointer() &&
              repr.options == *options && same_bytes(repr.payload, v.payload()),
          "repr fields differ from the view's accessors");

  std::vector<std::byte> out(repr.buffer_len(), std::byte{0xa5});
  require(repr.emit(out, src, dst) == repr.buffer_len(), "emit returned a wrong length");

  auto again = TcpReader::check(Bytes(out));
  require(again.ok(), "emitted segment does not pass check");
  require(again->header_len() == repr.header_len(), "emitted header length");
  require(again->checksum_valid(src, dst), "emitted checksum does not verify");
  auto reparsed = TcpRepr::parse(*again, src, dst);
  require(reparsed.ok(), "emitted segment does not parse");
  TcpRepr expected = repr;
  expected.options = expected_after_emit(repr.options);
  require(same_repr(*reparsed, expected), "round trip changed the repr");
  return 0;
}
