#include "rx_tx/dispatch.hpp"

#include <cassert>

#include "wire/ethernet.hpp"
#include "wire/icmp.hpp"

namespace flowgate {
namespace {

using wire::Bytes;
using wire::Ipv4Reader;

constexpr std::string_view kNames[] = {
#define FLOWGATE_NAME_ENTRY(name, help) #name,
    FLOWGATE_DISPATCH_COUNTERS(FLOWGATE_NAME_ENTRY)
#undef FLOWGATE_NAME_ENTRY
};
constexpr std::string_view kHelp[] = {
#define FLOWGATE_HELP_ENTRY(name, help) help,
    FLOWGATE_DISPATCH_COUNTERS(FLOWGATE_HELP_ENTRY)
#undef FLOWGATE_HELP_ENTRY
};
static_assert(std::size(kNames) == kDispatchCounterCount);
static_assert(std::size(kHelp) == kDispatchCounterCount);

constexpr uint8_t kTcp = static_cast<uint8_t>(wire::IpProtocol::tcp);
constexpr uint8_t kUdp = static_cast<uint8_t>(wire::IpProtocol::udp);
constexpr uint8_t kIcmp = static_cast<uint8_t>(wire::IpProtocol::icmp);
// Both TCP and UDP start with the source and destination ports.
constexpr size_t kPortsLen = 4;

bool has_ports(uint8_t protocol) {
  return protocol == kTcp || protocol == kUdp;
}

// RFC 792 and RFC 1122 3.2.2: the ICMP messages that quote "the internet header + 64 bits of
// the original datagram's data".
bool is_icmp_error(uint8_t type) {
  using wire::IcmpType;
  switch (static_cast<IcmpType>(type)) {
    case IcmpType::destination_unreachable:
    case IcmpType::source_quench:
    case IcmpType::redirect:
    case IcmpType::time_exceeded:
    case IcmpType::parameter_problem:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string_view name(DispatchCounter c) {
  return kNames[static_cast<size_t>(c)];
}
std::string_view help(DispatchCounter c) {
  return kHelp[static_cast<size_t>(c)];
}

Dispatcher::Dispatcher(uint32_t worker_count, uint32_t seed, size_t fragment_table_entries)
    // Zero workers (or table entries) is a caller's bug; it is kept from dividing by zero.
    : steering_{seed, worker_count == 0 ? 1 : worker_count},
      fragments_(fragment_table_entries == 0 ? 1 : fragment_table_entries) {
  assert(worker_count >= 1);
}

DispatchDecision Dispatcher::classify(Bytes frame, Instant now) {
  counters_.count(DispatchCounter::frames);
  const auto eth = wire::EthernetReader::check(frame);
  if (!eth) {
    counters_.count(DispatchCounter::dropped);
    counters_.count(DispatchCounter::dropped_ethernet_truncated);
    return DispatchDecision::drop(DispatchDropReason::ethernet_truncated);
  }
  if (eth->ethertype() == static_cast<uint16_t>(wire::EtherType::arp)) {
    counters_.count(DispatchCounter::to_all_workers);
    return DispatchDecision::all();
  }
  counters_.count(DispatchCounter::to_one_worker);
  if (eth->ethertype() != static_cast<uint16_t>(wire::EtherType::ipv4))
    return DispatchDecision::one(unclassified(DispatchCounter::unclassified_ethertype));
  return classify_ipv4(eth->payload(), now);
}

DispatchDecision Dispatcher::classify_ipv4(Bytes packet, Instant now) {
  // check() validates version, IHL and total length against the frame and trims Ethernet
  // padding, so the payload below is exactly the IP payload.
  const auto ip = Ipv4Reader::check(packet);
  if (!ip) return DispatchDecision::one(unclassified(DispatchCounter::unclassified_ipv4));
  if (!ip->is_fragment()) return DispatchDecision::one(steer_datagram(*ip));

  const FragmentKey key{ip->src(), ip->dst(), ip->identification(), ip->protocol()};
  FragmentEntry& slot = slot_for(key);
  if (ip->fragment_offset() == 0) {
    // The first fragment: it shows what the whole datagram would, so it decides for all.
    const uint32_t worker = steer_datagram(*ip);
    if (slot.used && slot.key != key && now < slot.expires)
      counters_.count(DispatchCounter::fragment_table_overwrites);
    slot = {key, worker, true, now + kFragmentEntryLifetime};
    counters_.count(DispatchCounter::first_fragments);
    return DispatchDecision::one(worker);
  }
  if (slot.used && slot.key == key && now < slot.expires) {
    counters_.count(DispatchCounter::fragments_steered);
    return DispatchDecision::one(slot.worker);
  }
  // Overtook its first fragment, or the entry is gone: see "Fragments" in the header.
  counters_.count(DispatchCounter::fragments_unsteered);
  return DispatchDecision::one(steering_.for_addresses(ip->src(), ip->dst()));
}

uint32_t Dispatcher::steer_datagram(const Ipv4Reader& ip) {
  const Bytes payload = ip.payload();
  const uint8_t protocol = ip.protocol();
  if (has_ports(protocol)) {
    if (payload.size() < kPortsLen) return unclassified(DispatchCounter::unclassified_transport);
    counters_.count(DispatchCounter::by_ports);
    return steering_.for_ports(ip.src(), ip.dst(), wire::load_be16(payload, 0),
                               wire::load_be16(payload, 2));
  }
  if (protocol == kIcmp) {
    const auto icmp = wire::IcmpReader::check(payload);
    if (!icmp) return unclassified(DispatchCounter::unclassified_transport);
    if (is_icmp_error(icmp->type())) return steer_icmp_error(icmp->data());
  }
  counters_.count(DispatchCounter::by_addresses);
  return steering_.for_addresses(ip.src(), ip.dst());
}

uint32_t Dispatcher::steer_icmp_error(Bytes quote) {
  // The quote is the start of a datagram, usually one we sent: its header's total length
  // describes the original, not these bytes, so Ipv4Reader::check() (which would demand the
  // whole datagram) does not apply. Only the fixed header, IHL and the first four bytes after
  // the options are read, each after its own length check.
  if (quote.size() < Ipv4Reader::kMinHeaderLen)
    return unclassified(DispatchCounter::unclassified_icmp_quote);
  const auto inner = Ipv4Reader::unchecked(quote);
  if (inner.version() != 4 || inner.header_len() < Ipv4Reader::kMinHeaderLen ||
      inner.header_len() > quote.size())
    return unclassified(DispatchCounter::unclassified_icmp_quote);
  // A quoted non-first fragment carries no transport header: the bytes after its IP header
  // are data, not ports.
  const bool ports_readable = has_ports(inner.protocol()) && inner.fragment_offset() == 0 &&
                              quote.size() >= inner.header_len() + kPortsLen;
  if (ports_readable) {
    counters_.count(DispatchCounter::icmp_error_by_quoted_ports);
    const size_t transport = inner.header_len();
    return steering_.for_ports(inner.src(), inner.dst(), wire::load_be16(quote, transport),
                               wire::load_be16(quote, transport + 2));
  }
  counters_.count(DispatchCounter::icmp_error_by_quoted_addresses);
  return steering_.for_addresses(inner.src(), inner.dst());
}

uint32_t Dispatcher::unclassified(DispatchCounter reason) {
  counters_.count(reason);
  return 0;
}

Dispatcher::FragmentEntry& Dispatcher::slot_for(const FragmentKey& key) {
  // Keyed with the gateway's seed: peers choose addresses and identifications, and without
  // the key could aim many datagrams at one slot to evict another peer's entries.
  uint32_t h = wire::mix32(key.src.value ^ steering_.seed);
  h = wire::mix32(h ^ key.dst.value);
  h = wire::mix32(h ^ ((uint32_t{key.identification} << 8) | key.protocol));
  return fragments_[h % fragments_.size()];
}

}  // namespace flowgate
