// libFuzzer target: the ICMPv4 view and repr.
//
// Input: one ICMP message (an IPv4 payload). Properties:
// - check() accepts every message of 8 bytes or more, and the echo/MTU accessors are slices
//   of rest_of_header;
// - parse() fails exactly on a bad checksum;
// - emit(parse(message)) equals the input but for the checksum field (when the rest sums to
//   0xffff both 0x0000 and 0xffff verify), and parses back to the same fields.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "fuzz_support.hpp"
#include "wire/icmp.hpp"

namespace {

using flowgate::fuzz::require;
using flowgate::fuzz::same_bytes;

using flowgate::wire::Bytes;
using flowgate::wire::IcmpReader;
using flowgate::wire::IcmpRepr;
using flowgate::wire::WireError;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bytes message(reinterpret_cast<const std::byte*>(data), size);
  auto checked = IcmpReader::check(message);
  if (!checked) {
    require(size < IcmpReader::kHeaderLen && checked.error() == WireError::truncated,
            "check rejected a message of 8 bytes or more");
    return 0;
  }
  const IcmpReader& v = *checked;
  require(v.bytes().size() == size, "view does not cover the message");
  require(v.data().size() == size - IcmpReader::kHeaderLen, "data extent");
  require((uint32_t{v.echo_identifier()} << 16 | v.echo_sequence()) == v.rest_of_header(),
          "echo identifier/sequence are not rest_of_header");
  require(v.next_hop_mtu() == (v.rest_of_header() & 0xffff), "next_hop_mtu");
  (void)v.type();
  (void)v.code();
  (void)v.checksum();

  auto parsed = IcmpRepr::parse(v);
  if (!parsed) {
    require(parsed.error() == WireError::bad_checksum && !v.checksum_valid(),
            "parse failed on a message with a valid checksum");
    return 0;
  }
  const IcmpRepr& repr = *parsed;
  require(v.checksum_valid(), "parse accepted a bad checksum");
  require(repr.type == v.type() && repr.code == v.code() &&
              repr.rest_of_header == v.rest_of_header() && same_bytes(repr.data, v.data()),
          "repr fields differ from the view's accessors");
  require(
      repr.echo_identifier() == v.echo_identifier() && repr.echo_sequence() == v.echo_sequence(),
      "repr echo fields");
  require(repr.buffer_len() == size, "buffer_len differs from the message length");

  std::vector<std::byte> out(repr.buffer_len(), std::byte{0xa5});
  require(repr.emit(out) == repr.buffer_len(), "emit returned a length other than buffer_len");
  std::vector<std::byte> expected(message.begin(), message.end());
  expected[IcmpReader::kChecksumOffset] = out[IcmpReader::kChecksumOffset];
  expected[IcmpReader::kChecksumOffset + 1] = out[IcmpReader::kChecksumOffset + 1];
  require(expected == out, "emitted message differs from the input");

  auto again = IcmpReader::check(Bytes(out));
  require(again.ok(), "emitted message does not pass check");
  auto reparsed = IcmpRepr::parse(*again);
  require(reparsed.ok(), "emitted message has a bad checksum");
  require(reparsed->type == repr.type && reparsed->code == repr.code &&
              reparsed->rest_of_header == repr.rest_of_header &&
              same_bytes(reparsed->data, repr.data),
          "round trip changed the repr");
  return 0;
}
