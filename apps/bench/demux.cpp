#include "apps/bench/demux.hpp"

#include <algorithm>

#include "wire/arp.hpp"
#include "wire/ethernet.hpp"
#include "wire/ipv4.hpp"

namespace flowgate::bench {

FrameDemux::FrameDemux(std::vector<wire::Ipv4Address> addresses) {
  for (uint32_t i = 0; i < addresses.size(); ++i) sorted_.push_back({addresses[i].value, i});
  std::sort(sorted_.begin(), sorted_.end(),
            [](const Entry& a, const Entry& b) { return a.address < b.address; });
}

uint32_t FrameDemux::owner(wire::Ipv4Address address) const {
  const auto it = std::lower_bound(sorted_.begin(), sorted_.end(), address.value,
                                   [](const Entry& e, uint32_t a) { return e.address < a; });
  return it != sorted_.end() && it->address == address.value ? it->index : kNone;
}

uint32_t FrameDemux::classify(wire::Bytes frame) const {
  const auto eth = wire::EthernetReader::check(frame);
  if (!eth) return kNone;
  const wire::Bytes payload = eth->payload();
  if (eth->ethertype() == static_cast<uint16_t>(wire::EtherType::ipv4)) {
    if (payload.size() < wire::Ipv4Reader::kDstOffset + 4) return kNone;
    return owner(wire::Ipv4Address::load(payload, wire::Ipv4Reader::kDstOffset));
  }
  if (eth->ethertype() == static_cast<uint16_t>(wire::EtherType::arp)) {
    if (payload.size() < wire::ArpReader::kTpaOffset + 4) return kNone;
    const uint32_t target = owner(wire::Ipv4Address::load(payload, wire::ArpReader::kTpaOffset));
    return target == kNone ? kEveryStack : target;
  }
  return kNone;
}

}  // namespace flowgate::bench
