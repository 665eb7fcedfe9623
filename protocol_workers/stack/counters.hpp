// Per-worker counters: plain memory, one writer (the worker), no locks and no metrics library
// on the packet path. The block is trivially copyable so the worker can place it in shared
// memory and the exporter can read it (STYLE.md point 14). Every dropped frame increments
// exactly one DropReason.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace flowgate {

// X-macro lists keep the enum, its names and its help text in one place.
// X(name, help)
#define FLOWGATE_DROP_REASONS(X)                                                            \
  X(eth_truncated, "Frame shorter than an Ethernet header")                                 \
  X(eth_not_for_us, "Destination MAC is neither ours, broadcast nor multicast")             \
  X(eth_vlan_mismatch, "802.1Q tag present but not the configured VLAN, or missing")        \
  X(eth_unknown_ethertype, "EtherType other than IPv4 or ARP")                              \
  X(arp_truncated, "ARP packet shorter than 28 bytes")                                      \
  X(arp_unsupported, "ARP for a hardware/protocol pair other than Ethernet/IPv4")           \
  X(arp_unknown_operation, "ARP operation other than request or reply")                     \
  X(arp_bad_sender, "ARP sender MAC is broadcast, multicast or zero, or sender IP invalid") \
  X(arp_address_conflict, "ARP packet from another host claiming our IPv4 address")         \
  X(arp_not_for_us, "ARP request for an address that is not ours")                          \
  X(arp_gratuitous, "Gratuitous ARP from a neighbour: not learned (anti-poisoning)")        \
  X(arp_unsolicited, "ARP reply for an address we never asked about (anti-poisoning)")      \
  X(arp_table_full, "Neighbour table full: could not start a resolution")                   \
  X(arp_queue_full, "Packet waiting for ARP resolution dropped: queue full")                \
  X(arp_resolution_timeout, "Packet waiting for ARP resolution dropped: no reply in time")  \
  X(ipv4_truncated, "IPv4 header or total length runs past the frame")                      \
  X(ipv4_bad_version, "IP version field is not 4")                                          \
  X(ipv4_bad_header_length, "IHL below 5 words")                                            \
  X(ipv4_bad_total_length, "IPv4 total length smaller than its header")                     \
  X(ipv4_bad_checksum, "IPv4 header checksum mismatch")                                     \
  X(ipv4_bad_source, "Source address is multicast, broadcast, loopback or ours")            \
  X(ipv4_not_for_us, "Destination is not our address or a broadcast")                       \
  X(ipv4_unknown_protocol, "IP protocol we do not implement (protocol unreachable sent)")   \
  X(ipv4_no_route, "Outgoing datagram: destination off-link and no gateway configured")     \
  X(reasm_bad_fragment,                                                                     \
    "Fragment: MF set and not a multiple of 8 bytes, or ends past 65515 payload bytes")     \
  X(reasm_duplicate, "Fragment whose bytes were all received before, identical")            \
  X(reasm_overlap, "Fragment overlapping received data differently: datagram discarded")    \
  X(reasm_inconsistent_length, "Fragments disagree on the datagram's end: discarded")       \
  X(reasm_timeout, "Datagram not completed within the reassembly timeout: discarded")       \
  X(reasm_memory_limit, "Fragment dropped or datagram evicted to respect the memory cap")   \
  X(icmp_truncated, "ICMP message shorter than 8 bytes")                                    \
  X(icmp_bad_checksum, "ICMP checksum mismatch")                                            \
  X(icmp_unhandled_type, "ICMP type we do not act on (redirect, timestamp, ...)")           \
  X(icmp_broadcast_echo, "Echo request sent to a broadcast address, ignored")               \
  X(icmp_bad_quote, "ICMP error quoting a datagram that is too short or not ours")          \
  X(udp_truncated, "UDP datagram shorter than its 8-byte header")                           \
  X(udp_bad_length, "UDP length field inconsistent with the IP payload")                    \
  X(udp_bad_checksum, "UDP checksum mismatch")                                              \
  X(udp_no_socket, "No socket bound to the destination port (port unreachable sent)")       \
  X(udp_receive_buffer_full, "Socket receive buffer full")                                  \
  X(tcp_unhandled, "TCP segment while no TCP layer is attached")                            \
  X(link_transmit_full, "Outgoing frame lost: the link had no room")

// X(name, help)
#define FLOWGATE_EVENT_COUNTERS(X)                                                         \
  X(frames_received, "Frames handed to the stack")                                         \
  X(bytes_received, "Bytes of frames handed to the stack")                                 \
  X(frames_sent, "Frames the stack passed to the link")                                    \
  X(bytes_sent, "Bytes of frames the stack passed to the link")                            \
  X(arp_requests_received, "ARP requests for our address")                                 \
  X(arp_replies_sent, "ARP replies sent")                                                  \
  X(arp_requests_sent, "ARP requests sent (resolution, refresh and gratuitous)")           \
  X(arp_replies_received, "ARP replies accepted into the neighbour table")                 \
  X(arp_requests_rate_limited, "ARP requests not sent because of the rate limit")          \
  X(ipv4_datagrams_received, "IPv4 datagrams delivered to a transport (after reassembly)") \
  X(ipv4_datagrams_sent, "IPv4 datagrams sent (before fragmentation)")                     \
  X(ipv4_fragments_received, "IPv4 fragments received")                                    \
  X(ipv4_fragments_sent, "IPv4 fragments sent")                                            \
  X(ipv4_send_too_big_df, "Datagrams refused: larger than the MTU with DF set")            \
  X(reasm_completed, "Datagrams reassembled")                                              \
  X(icmp_echo_requests_received, "Echo requests received")                                 \
  X(icmp_echo_replies_sent, "Echo replies sent")                                           \
  X(icmp_errors_sent, "ICMP error messages sent")                                          \
  X(icmp_errors_rate_limited, "ICMP errors not sent because of the rate limit")            \
  X(icmp_errors_received, "ICMP errors received and passed to a transport")                \
  X(udp_datagrams_received, "UDP datagrams queued to a socket")                            \
  X(udp_datagrams_sent, "UDP datagrams sent")

enum class DropReason : uint16_t {
#define FLOWGATE_ENUM_ENTRY(name, help) name,
  FLOWGATE_DROP_REASONS(FLOWGATE_ENUM_ENTRY)
#undef FLOWGATE_ENUM_ENTRY
      count_
};

enum class Event : uint16_t {
#define FLOWGATE_ENUM_ENTRY(name, help) name,
  FLOWGATE_EVENT_COUNTERS(FLOWGATE_ENUM_ENTRY)
#undef FLOWGATE_ENUM_ENTRY
      count_
};

constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::count_);
constexpr size_t kEventCount = static_cast<size_t>(Event::count_);

std::string_view name(DropReason r);
std::string_view help(DropReason r);
std::string_view name(Event e);
std::string_view help(Event e);

struct StackCounters {
  std::array<uint64_t, kDropReasonCount> drops{};
  std::array<uint64_t, kEventCount> events{};

  void drop(DropReason r, uint64_t n = 1) { drops[static_cast<size_t>(r)] += n; }
  void count(Event e, uint64_t n = 1) { events[static_cast<size_t>(e)] += n; }
  uint64_t operator[](DropReason r) const { return drops[static_cast<size_t>(r)]; }
  uint64_t operator[](Event e) const { return events[static_cast<size_t>(e)]; }
  uint64_t total_drops() const {
    uint64_t t = 0;
    for (auto d : drops) t += d;
    return t;
  }
};
static_assert(std::is_trivially_copyable_v<StackCounters>);

}  // namespace flowgate
