// libFuzzer target: the UDP view and repr.
//
// Input: 4 bytes source IPv4 address, 4 bytes destination address (the pseudo-header's, big
// endian), then one UDP datagram (an IPv4 payload). Properties:
// - check() fails exactly when the length field is below 8 or beyond the buffer, and the view
//   is trimmed to the length field;
// - parse() fails exactly on a bad checksum (zero means "none" and always passes);
// - emit(parse(datagram)) equals the input's datagram but for the checksum, carries a checksum
//   that is never zero and verifies, and parses back to the same fields.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "fuzz_support.hpp"
#include "wire/udp.hpp"

namespace {

using flowgate::fuzz::require;
using flowgate::fuzz::same_bytes;

using flowgate::wire::Bytes;
using flowgate::wire::Ipv4Address;
using flowgate::wire::load_be16;
using flowgate::wire::UdpReader;
using flowgate::wire::UdpRepr;
using flowgate::wire::WireError;

constexpr size_t kAddressesLen = 8;

WireError expected_check(Bytes b) {
  if (b.size() < UdpReader::kHeaderLen) return WireError::truncated;
  const size_t length = load_be16(b, UdpReader::kLengthOffset);
  if (length < UdpReader::kHeaderLen || length > b.size()) return WireError::bad_total_length;
  return WireError::ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kAddressesLen) return 0;
  const Bytes input(reinterpret_cast<const std::byte*>(data), size);
  const Ipv4Address src = Ipv4Address::load(input, 0);
  const Ipv4Address dst = Ipv4Address::load(input, 4);
  const Bytes segment = input.subspan(kAddressesLen);

  auto checked = UdpReader::check(segment);
  require(checked.error() == expected_check(segment), "check returned an unexpected result");
  if (!checked) return 0;
  const UdpReader& v = *checked;
  require(v.bytes().size() == v.length(), "view not trimmed to the length field");
  require(v.bytes().data() == segment.data(), "view does not start at the datagram");
  require(v.payload().size() == v.length() - UdpReader::kHeaderLen, "payload extent");
  (void)v.src_port();
  (void)v.dst_port();
  const bool valid = v.checksum_valid(src, dst);
  require(valid || v.checksum() != 0, "a zero checksum was not accepted");

  auto parsed = UdpRepr::parse(v, src, dst);
  if (!parsed) {
    require(parsed.error() == WireError::bad_checksum && !valid,
            "parse failed on a datagram with a valid checksum");
    return 0;
  }
  const UdpRepr& repr = *parsed;
  require(valid, "parse accepted a bad checksum");
  require(repr.src_port == v.src_port() && repr.dst_port == v.dst_port() &&
              same_bytes(repr.payload, v.payload()),
          "repr fields differ from the view's accessors");
  require(repr.buffer_len() == v.length(), "buffer_len differs from the length field");

  std::vector<std::byte> out(repr.buffer_len(), std::byte{0xa5});
  require(repr.emit(out, src, dst) == repr.buffer_len(), "emit returned a wrong length");
  std::vector<std::byte> expected(v.bytes().begin(), v.bytes().end());
  expected[UdpReader::kChecksumOffset] = out[UdpReader::kChecksumOffset];
  expected[UdpReader::kChecksumOffset + 1] = out[UdpReader::kChecksumOffset + 1];
  require(expected == out, "emitted datagram differs from the input");

  auto again = UdpReader::check(Bytes(out));
  require(again.ok(), "emitted datagram does not pass check");
  require(again->checksum() != 0, "emitted a zero checksum");
  require(again->checksum_valid(src, dst), "emitted checksum does not verify");
  auto reparsed = UdpRepr::parse(*again, src, dst);
  require(reparsed.ok(), "emitted datagram does not parse");
  require(reparsed->src_port == repr.src_port && reparsed->dst_port == repr.dst_port &&
              same_bytes(reparsed->payload, repr.payload),
          "round trip changed the repr");
  return 0;
}
