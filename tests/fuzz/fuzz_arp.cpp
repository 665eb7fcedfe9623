// libFuzzer target: the ARP (IPv4 over Ethernet) view and repr.
//
// Input: an ARP packet (an Ethernet payload, trailing padding allowed). Properties:
// - check() accepts exactly the 28+ byte Ethernet/IPv4 packets, and the view is 28 bytes;
// - emit(parse(packet)) reproduces the packet's 28 bytes, and re-parsing gives the same repr.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "fuzz_support.hpp"
#include "wire/arp.hpp"

namespace {

using flowgate::fuzz::require;

using flowgate::wire::ArpReader;
using flowgate::wire::ArpRepr;
using flowgate::wire::Bytes;
using flowgate::wire::load_be16;
using flowgate::wire::load_u8;
using flowgate::wire::WireError;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bytes packet(reinterpret_cast<const std::byte*>(data), size);
  auto checked = ArpReader::check(packet);
  if (!checked) {
    if (size < ArpReader::kLen) {
      require(checked.error() == WireError::truncated, "short packet not reported truncated");
    } else {
      require(checked.error() == WireError::unsupported, "long packet rejected, not unsupported");
      require(load_be16(packet, ArpReader::kHtypeOffset) != ArpReader::kHtypeEthernet ||
                  load_be16(packet, ArpReader::kPtypeOffset) != ArpReader::kPtypeIpv4 ||
                  load_u8(packet, ArpReader::kHlenOffset) != 6 ||
                  load_u8(packet, ArpReader::kPlenOffset) != 4,
              "an Ethernet/IPv4 ARP packet was rejected");
    }
    return 0;
  }
  const ArpReader& v = *checked;
  require(v.bytes().size() == ArpReader::kLen, "view not trimmed to 28 bytes");
  require(v.htype() == ArpReader::kHtypeEthernet && v.ptype() == ArpReader::kPtypeIpv4 &&
              v.hlen() == 6 && v.plen() == 4,
          "check accepted a packet that is not Ethernet/IPv4");

  const ArpRepr repr = ArpRepr::parse(v);
  require(repr.operation == v.operation() && repr.sender_mac == v.sender_mac() &&
              repr.sender_ip == v.sender_ip() && repr.target_mac == v.target_mac() &&
              repr.target_ip == v.target_ip(),
          "repr fields differ from the view's accessors");

  std::vector<std::byte> out(ArpRepr::buffer_len(), std::byte{0xa5});
  require(repr.emit(out) == ArpRepr::buffer_len(), "emit returned a length other than buffer_len");
  require(std::memcmp(out.data(), data, out.size()) == 0, "emitted packet differs from the input");

  auto again = ArpReader::check(Bytes(out));
  require(again.ok(), "emitted packet does not pass check");
  require(ArpRepr::parse(*again) == repr, "round trip changed the repr");
  return 0;
}
