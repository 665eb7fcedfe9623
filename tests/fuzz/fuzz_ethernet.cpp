// libFuzzer target: the Ethernet II / 802.1Q header view and repr.
//
// Input: one Ethernet frame (no FCS). Properties checked, beyond "no sanitizer report":
// - the accessors agree with each other (VLAN presence, header length, payload extent);
// - emit(parse(frame)) reproduces the frame's header bytes exactly (the repr keeps every bit of
//   an Ethernet header), and re-parsing the emitted header gives the same repr.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "fuzz_support.hpp"
#include "wire/ethernet.hpp"

namespace {

using flowgate::fuzz::require;

using flowgate::wire::Bytes;
using flowgate::wire::EthernetReader;
using flowgate::wire::EthernetRepr;
using flowgate::wire::EtherType;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bytes frame(reinterpret_cast<const std::byte*>(data), size);
  auto checked = EthernetReader::check(frame);
  if (!checked) {
    require(size < EthernetReader::kVlanHeaderLen, "check rejected a frame of full VLAN length");
    return 0;
  }
  const EthernetReader& v = *checked;

  const bool tagged = v.outer_type() == static_cast<uint16_t>(EtherType::vlan);
  require(v.has_vlan() == tagged, "has_vlan disagrees with the outer type");
  require(v.vlan_tci().has_value() == tagged, "vlan_tci present without a tag (or missing)");
  require(v.header_len() == (tagged ? EthernetReader::kVlanHeaderLen : EthernetReader::kHeaderLen),
          "header_len");
  require(tagged || v.ethertype() == v.outer_type(), "untagged ethertype is not the outer type");
  require(v.payload().size() == size - v.header_len(), "payload does not run to the frame end");
  require(v.payload().data() == frame.data() + v.header_len(),
          "payload does not start after header");
  require(v.dst().is_broadcast() == (v.dst() == flowgate::wire::MacAddress::broadcast()),
          "is_broadcast");
  (void)v.src().is_unicast();
  (void)v.dst().is_multicast();

  const EthernetRepr repr = EthernetRepr::parse(v);
  require(repr.buffer_len() == v.header_len(), "repr buffer_len differs from the header length");

  // Emit into a buffer pre-filled with a marker, so a field emit forgets shows up.
  std::vector<std::byte> out(repr.buffer_len(), std::byte{0xa5});
  require(repr.emit(out) == repr.buffer_len(), "emit returned a length other than buffer_len");
  require(std::memcmp(out.data(), data, out.size()) == 0, "emitted header differs from the input");

  auto again = EthernetReader::check(Bytes(out));
  require(again.ok(), "emitted header does not pass check");
  require(EthernetRepr::parse(*again) == repr, "round trip changed the repr");
  require(again->payload().empty(), "emitted header has a payload");
  return 0;
}
