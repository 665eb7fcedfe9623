// libFuzzer target: the IPv4 header view and repr.
//
// Input: an IPv4 datagram (an Ethernet payload, so trailing padding is allowed). Properties:
// - check() fails exactly when a length is inconsistent, with the error its comment promises,
//   and a checked view covers total_len bytes split into header and payload;
// - parse() fails exactly on a bad header checksum;
// - emit(parse(datagram)) followed by the payload checks and parses back to the same repr,
//   and without options its header equals the input's (less the checksum and reserved bit).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "fuzz_support.hpp"
#include "wire/ipv4.hpp"

namespace {

using flowgate::fuzz::fail;
using flowgate::fuzz::require;

using flowgate::wire::Bytes;
using flowgate::wire::internet_checksum;
using flowgate::wire::Ipv4Reader;
using flowgate::wire::Ipv4Repr;
using flowgate::wire::load_be16;
using flowgate::wire::load_u8;
using flowgate::wire::WireError;

// What check() must answer, computed from the raw bytes independently of the view.
WireError expected_check(Bytes b) {
  if (b.size() < Ipv4Reader::kMinHeaderLen) return WireError::truncated;
  const uint8_t ver_ihl = load_u8(b, Ipv4Reader::kVerIhlOffset);
  const size_t header_len = size_t{ver_ihl & 0x0fu} * 4;
  const size_t total_len = load_be16(b, Ipv4Reader::kTotalLenOffset);
  if ((ver_ihl >> 4) != 4) return WireError::bad_version;
  if (header_len < Ipv4Reader::kMinHeaderLen) return WireError::bad_header_length;
  if (total_len < header_len) return WireError::bad_total_length;
  if (total_len > b.size()) return WireError::truncated;
  return WireError::ok;
}

void check_accessors(const Ipv4Reader& v) {
  require(v.version() == 4, "version");
  require(v.bytes().size() == v.total_len(), "view not trimmed to the total length");
  require(v.header().size() == v.header_len() && v.header_len() >= Ipv4Reader::kMinHeaderLen,
          "header extent");
  require(v.payload().size() == v.total_len() - v.header_len(), "payload extent");
  require(v.payload().data() == v.bytes().data() + v.header_len(), "payload start");
  require(((v.dscp() << 2) | v.ecn()) == v.tos(), "dscp/ecn do not make up tos");
  require(v.fragment_offset() % 8 == 0, "fragment offset not in 8-byte units");
  require(v.is_fragment() == (v.more_fragments() || v.fragment_offset() != 0), "is_fragment");
  require(v.header_checksum_valid() == (internet_checksum(v.header()) == 0),
          "header_checksum_valid");
  (void)v.dont_fragment();
  (void)v.identification();
  (void)v.ttl();
  (void)v.protocol();
  (void)v.checksum();
  (void)v.src().is_multicast();
  (void)v.dst().is_loopback();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bytes datagram(reinterpret_cast<const std::byte*>(data), size);
  auto checked = Ipv4Reader::check(datagram);
  require(checked.error() == expected_check(datagram), "check returned an unexpected result");
  if (!checked) return 0;
  const Ipv4Reader& v = *checked;
  check_accessors(v);

  auto parsed = Ipv4Repr::parse(v);
  if (!parsed) {
    require(parsed.error() == WireError::bad_checksum && !v.header_checksum_valid(),
            "parse failed on a header with a valid checksum");
    return 0;
  }
  const Ipv4Repr& repr = *parsed;
  require(v.header_checksum_valid(), "parse accepted a bad checksum");
  require(
      repr.src == v.src() && repr.dst == v.dst() && repr.protocol == v.protocol() &&
          repr.ttl == v.ttl() && repr.tos == v.tos() && repr.identification == v.identification() &&
          repr.dont_fragment == v.dont_fragment() && repr.more_fragments == v.more_fragments() &&
          repr.fragment_offset == v.fragment_offset() && repr.payload_len == v.payload().size(),
      "repr fields differ from the view's accessors");

  // Emit header + payload into a buffer pre-filled with a marker.
  std::vector<std::byte> out(Ipv4Repr::buffer_len() + repr.payload_len, std::byte{0xa5});
  require(repr.emit(out) == Ipv4Repr::buffer_len(), "emit returned a length other than 20");
  std::copy(v.payload().begin(), v.payload().end(), out.begin() + Ipv4Repr::buffer_len());

  auto again = Ipv4Reader::check(Bytes(out));
  require(again.ok(), "emitted datagram does not pass check");
  require(again->header_len() == Ipv4Reader::kMinHeaderLen, "emitted header has options");
  auto reparsed = Ipv4Repr::parse(*again);
  require(reparsed.ok(), "emitted header has a bad checksum");
  require(*reparsed == repr, "round trip changed the repr");
  require(std::equal(again->payload().begin(), again->payload().end(), v.payload().begin(),
                     v.payload().end()),
          "round trip changed the payload");

  if (v.header_len() == Ipv4Reader::kMinHeaderLen) {
    // Without options the repr holds the whole header but two things: the checksum (0x0000
    // and 0xffff both verify when the rest sums to 0xffff) and the reserved flag bit.
    std::vector<std::byte> expected(v.header().begin(), v.header().end());
    expected[Ipv4Reader::kFlagsFragOffset] &= std::byte{0x7f};
    expected[Ipv4Reader::kChecksumOffset] = out[Ipv4Reader::kChecksumOffset];
    expected[Ipv4Reader::kChecksumOffset + 1] = out[Ipv4Reader::kChecksumOffset + 1];
    require(std::memcmp(expected.data(), out.data(), expected.size()) == 0,
            "emitted header differs from the input header");
  }
  return 0;
}
