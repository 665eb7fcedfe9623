// Per-worker counters, gauges and the SRTT histogram: plain memory, one writer (the worker),
// no locks and no metrics library on the packet path. The block is trivially copyable so the
// worker can place it in shared memory and the exporter can read it (STYLE.md point 14);
// every word is written and read as stack/metric_words.hpp says. Every dropped frame
// increments exactly one DropReason.
//
// Gauges are kept incrementally where their subject changes (a neighbour entry added or
// removed, a connection changing state), never by scanning tables: reading one costs a load.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "stack/metric_words.hpp"
#include "tcp/tcp_types.hpp"

namespace flowgate {

// X-macro lists keep the enum, its names and its help text in one place.
// X(name, help)
#define FLOWGATE_DROP_REASONS(X)                                                                 \
  X(eth_truncated, "Frame shorter than an Ethernet header")                                      \
  X(eth_not_for_us, "Destination MAC is neither ours, broadcast nor multicast")                  \
  X(eth_vlan_mismatch, "802.1Q tag present but not the configured VLAN, or missing")             \
  X(eth_unknown_ethertype, "EtherType other than IPv4 or ARP")                                   \
  X(arp_truncated, "ARP packet shorter than 28 bytes")                                           \
  X(arp_unsupported, "ARP for a hardware/protocol pair other than Ethernet/IPv4")                \
  X(arp_unknown_operation, "ARP operation other than request or reply")                          \
  X(arp_bad_sender, "ARP sender MAC is broadcast, multicast or zero, or sender IP invalid")      \
  X(arp_address_conflict, "ARP packet from another host claiming our IPv4 address")              \
  X(arp_not_for_us, "ARP request for an address that is not ours")                               \
  X(arp_answered_by_worker_0, "ARP request for us seen by a worker other than 0, which answers") \
  X(arp_gratuitous, "Gratuitous ARP from a neighbour: not learned (anti-poisoning)")             \
  X(arp_unsolicited, "ARP reply for an address we never asked about (anti-poisoning)")           \
  X(arp_table_full, "Neighbour table full: could not start a resolution")                        \
  X(arp_queue_full, "Packet waiting for ARP resolution dropped: queue full")                     \
  X(arp_resolution_timeout, "Packet waiting for ARP resolution dropped: no reply in time")       \
  X(ipv4_truncated, "IPv4 header or total length runs past the frame")                           \
  X(ipv4_bad_version, "IP version field is not 4")                                               \
  X(ipv4_bad_header_length, "IHL below 5 words")                                                 \
  X(ipv4_bad_total_length, "IPv4 total length smaller than its header")                          \
  X(ipv4_bad_checksum, "IPv4 header checksum mismatch")                                          \
  X(ipv4_bad_source, "Source address is multicast, broadcast, loopback or ours")                 \
  X(ipv4_not_for_us, "Destination is not our address or a broadcast")                            \
  X(ipv4_unknown_protocol, "IP protocol we do not implement (protocol unreachable sent)")        \
  X(ipv4_no_route, "Outgoing datagram: destination off-link and no gateway configured")          \
  X(reasm_bad_fragment,                                                                          \
    "Fragment: MF set and not a multiple of 8 bytes, or ends past 65515 payload bytes")          \
  X(reasm_duplicate, "Fragment whose bytes were all received before, identical")                 \
  X(reasm_overlap, "Fragment overlapping received data differently: datagram discarded")         \
  X(reasm_inconsistent_length, "Fragments disagree on the datagram's end: discarded")            \
  X(reasm_timeout, "Datagram not completed within the reassembly timeout: discarded")            \
  X(reasm_memory_limit, "Fragment dropped or datagram evicted to respect the memory cap")        \
  X(icmp_truncated, "ICMP message shorter than 8 bytes")                                         \
  X(icmp_bad_checksum, "ICMP checksum mismatch")                                                 \
  X(icmp_unhandled_type, "ICMP type we do not act on (redirect, timestamp, ...)")                \
  X(icmp_broadcast_echo, "Echo request sent to a broadcast address, ignored")                    \
  X(icmp_bad_quote, "ICMP error quoting a datagram that is too short or not ours")               \
  X(udp_truncated, "UDP datagram shorter than its 8-byte header")                                \
  X(udp_bad_length, "UDP length field inconsistent with the IP payload")                         \
  X(udp_bad_checksum, "UDP checksum mismatch")                                                   \
  X(udp_no_socket, "No socket bound to the destination port (port unreachable sent)")            \
  X(udp_receive_buffer_full, "Socket receive buffer full")                                       \
  X(tcp_unhandled, "TCP segment while no TCP layer is attached")                                 \
  X(tcp_truncated, "TCP segment shorter than its header")                                        \
  X(tcp_bad_header_length, "TCP data offset below 5 or past the segment")                        \
  X(tcp_bad_checksum, "TCP checksum mismatch")                                                   \
  X(tcp_bad_option, "Malformed TCP option")                                                      \
  X(tcp_bad_port, "TCP segment with port 0, or from a broadcast/multicast address")              \
  X(tcp_no_socket, "No connection or listener for the segment (RST sent unless it was one)")     \
  X(tcp_out_of_window, "Segment outside the receive window (an ACK is sent, RFC 9293)")          \
  X(tcp_paws_rejected, "Old timestamp: rejected by PAWS (RFC 7323 section 5)")                   \
  X(tcp_rst_out_of_window, "RST outside the window: ignored (RFC 5961 section 3)")               \
  X(tcp_rst_not_exact, "RST in the window but not at RCV.NXT: challenge ACK (RFC 5961 3.2)")     \
  X(tcp_syn_in_synchronized, "SYN on a synchronized connection: challenge ACK (RFC 5961 4)")     \
  X(tcp_ack_unacceptable, "ACK outside [SND.UNA - MAX.SND.WND, SND.NXT] (RFC 5961 5)")           \
  X(tcp_no_ack_flag, "Segment without ACK in a synchronized state")                              \
  X(tcp_syn_queue_full, "SYN dropped: SYN queue full and SYN cookies off")                       \
  X(tcp_accept_queue_full, "Handshake not completed: the listener's accept queue is full")       \
  X(tcp_bad_syn_cookie, "ACK to a listener with no valid SYN cookie (RST sent)")                 \
  X(tcp_ooo_memory_limit, "Out-of-order segment dropped: reassembly memory cap reached")         \
  X(tcp_data_after_close, "Data for a socket the application closed (RST sent)")                 \
  X(tcp_time_wait_rst, "RST in TIME-WAIT ignored (RFC 1337 protection)")                         \
  X(tcp_syn_sent_bad_ack, "SYN-SENT: ACK for something we never sent (RST sent)")                \
  X(tcp_listener_bad_segment, "Segment to a listener that is neither SYN nor ACK")               \
  X(link_transmit_full, "Outgoing frame lost: the link had no room")

// X(name, help)
#define FLOWGATE_EVENT_COUNTERS(X)                                                           \
  X(frames_received, "Frames handed to the stack")                                           \
  X(bytes_received, "Bytes of frames handed to the stack")                                   \
  X(frames_sent, "Frames the stack passed to the link")                                      \
  X(bytes_sent, "Bytes of frames the stack passed to the link")                              \
  X(arp_requests_received, "ARP requests for our address")                                   \
  X(arp_replies_sent, "ARP replies sent")                                                    \
  X(arp_requests_sent, "ARP requests sent (resolution, refresh and gratuitous)")             \
  X(arp_replies_received, "ARP replies accepted into the neighbour table")                   \
  X(arp_requests_rate_limited, "ARP requests not sent because of the rate limit")            \
  X(arp_resolutions_failed,                                                                  \
    "Neighbour resolutions, or refreshes of an entry in use, given up unanswered")           \
  X(ipv4_datagrams_received, "IPv4 datagrams delivered to a transport (after reassembly)")   \
  X(ipv4_datagrams_sent, "IPv4 datagrams sent (before fragmentation)")                       \
  X(ipv4_fragments_received, "IPv4 fragments received")                                      \
  X(ipv4_fragments_sent, "IPv4 fragments sent")                                              \
  X(ipv4_send_too_big_df, "Datagrams refused: larger than the MTU with DF set")              \
  X(reasm_completed, "Datagrams reassembled")                                                \
  X(icmp_echo_requests_received, "Echo requests received")                                   \
  X(icmp_echo_replies_sent, "Echo replies sent")                                             \
  X(icmp_errors_sent, "ICMP error messages sent")                                            \
  X(icmp_errors_rate_limited, "ICMP errors not sent because of the rate limit")              \
  X(icmp_errors_received, "ICMP errors received and passed to a transport")                  \
  X(udp_datagrams_received, "UDP datagrams queued to a socket")                              \
  X(udp_datagrams_sent, "UDP datagrams sent")                                                \
  X(tcp_segments_received, "TCP segments received with a valid checksum")                    \
  X(tcp_segments_sent, "TCP segments sent")                                                  \
  X(tcp_active_opens, "Connections opened by fg_connect (SYN sent)")                         \
  X(tcp_passive_opens, "Connections opened by a listener (SYN-ACK sent)")                    \
  X(tcp_established, "Connections that reached ESTABLISHED")                                 \
  X(tcp_accepted, "Connections handed to the application by fg_accept")                      \
  X(tcp_connect_failed, "Active opens that failed (refused, timed out)")                     \
  X(tcp_connections_closed,                                                                  \
    "Connections past the handshake that ended in order (FINs, TIME-WAIT or LAST-ACK)")      \
  X(tcp_connections_reset, "Connections past the handshake ended by a RST sent or received") \
  X(tcp_connections_timed_out,                                                               \
    "Connections past the handshake given up: retransmissions or keepalives unanswered")     \
  X(tcp_connections_failed,                                                                  \
    "Connections that ended before ESTABLISHED (refused, timed out, reset or abandoned)")    \
  X(tcp_resets_sent, "RST segments sent")                                                    \
  X(tcp_resets_received, "Connections reset by a valid RST")                                 \
  X(tcp_retransmits_timeout, "Segments retransmitted after a retransmission timeout")        \
  X(tcp_retransmits_fast, "Segments retransmitted by fast retransmit / recovery")            \
  X(tcp_fast_recoveries, "Fast recovery episodes entered")                                   \
  X(tcp_timeouts, "Retransmission timer expiries")                                           \
  X(tcp_syn_cookies_sent, "SYN-ACKs carrying a SYN cookie (SYN queue full)")                 \
  X(tcp_syn_cookies_validated, "Connections established from a valid SYN cookie")            \
  X(tcp_challenge_acks_sent, "Challenge ACKs sent (RFC 5961)")                               \
  X(tcp_challenge_acks_limited, "Challenge ACKs suppressed by the rate limit")               \
  X(tcp_delayed_acks, "ACKs sent by the delayed-ACK timer")                                  \
  X(tcp_zero_window_probes, "Zero-window probes sent by the persist timer")                  \
  X(tcp_keepalive_probes, "Keepalive probes sent")                                           \
  X(tcp_keepalive_timeouts, "Connections closed because keepalive probes went unanswered")   \
  X(tcp_time_wait_entered, "Connections that entered TIME-WAIT")                             \
  X(tcp_time_wait_reused, "TIME-WAIT entries reused by a new SYN (RFC 6191)")                \
  X(tcp_time_wait_overflow,                                                                  \
    "Connections closed without a TIME-WAIT record: tcp.max_time_wait records were held")    \
  X(tcp_ecn_ce_received, "Segments received with the CE mark (RFC 3168)")                    \
  X(tcp_pmtu_updates, "Send MSS lowered by ICMP fragmentation-needed")                       \
  X(tcp_dup_acks_received, "Duplicate ACKs received (RFC 5681 definition)")                  \
  X(tcp_sack_blocks_ignored, "Received SACK blocks outside the sent data, ignored")          \
  X(tcp_dsacks_received, "ACKs whose first SACK block is a D-SACK (RFC 2883)")               \
  X(tcp_limited_transmits, "New segments sent on duplicate ACKs 1 and 2 (RFC 3042)")         \
  X(tcp_rack_losses, "Segments RACK deemed lost by send time (RFC 8985)")                    \
  X(tcp_rack_lost_retransmits, "Retransmissions RACK found lost again, no timeout")          \
  X(tcp_rack_reorder_timeouts, "RACK reordering timer expiries (RFC 8985)")                  \
  X(tcp_rack_reo_wnd_widened, "D-SACK rounds widening the RACK reordering window")           \
  X(tcp_tlp_probes, "Tail loss probes sent (RFC 8985 7.3)")                                  \
  X(tcp_tlp_recoveries, "Losses a tail loss probe repaired: cwnd cut once")                  \
  X(tcp_tlp_spurious, "Tail loss probes that proved nothing was lost")

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

// X(name, help): values that go up and down, set where they change.
#define FLOWGATE_STACK_GAUGES(X)                                                         \
  X(arp_entries, "Neighbour table entries: resolving, reachable, refreshing and static") \
  X(reassemblies_in_progress, "IPv4 datagrams being reassembled (first fragment seen)")

enum class StackGauge : uint16_t {
#define FLOWGATE_ENUM_ENTRY(name, help) name,
  FLOWGATE_STACK_GAUGES(FLOWGATE_ENUM_ENTRY)
#undef FLOWGATE_ENUM_ENTRY
      count_
};

constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::count_);
constexpr size_t kEventCount = static_cast<size_t>(Event::count_);
constexpr size_t kGaugeCount = static_cast<size_t>(StackGauge::count_);

std::string_view name(DropReason r);
std::string_view help(DropReason r);
std::string_view name(Event e);
std::string_view help(Event e);
std::string_view name(StackGauge g);
std::string_view help(StackGauge g);
inline constexpr std::string_view kTcpConnectionsHelp =
    "TCP connections by state (TIME-WAIT records included; listeners are not connections)";
inline constexpr std::string_view kSrttHelp =
    "Smoothed round-trip time of TCP connections, observed at each new RTT sample";

struct StackCounters {
  std::array<uint64_t, kDropReasonCount> drops{};
  std::array<uint64_t, kEventCount> events{};
  std::array<uint64_t, kGaugeCount> gauges{};
  // Connections per TcpState (index: the enum's value). CLOSED and LISTEN stay 0: a closed
  // record is about to go, and a listener is a socket, not a connection.
  std::array<uint64_t, tcp::kTcpStateCount> tcp_connections{};
  // The SRTT each RTT sample produces (tcp/connection.hpp, take_rtt_sample).
  LatencyHistogram srtt;

  void drop(DropReason r, uint64_t n = 1) { metric_add(drops[static_cast<size_t>(r)], n); }
  void count(Event e, uint64_t n = 1) { metric_add(events[static_cast<size_t>(e)], n); }
  void set(StackGauge g, uint64_t value) { metric_store(gauges[static_cast<size_t>(g)], value); }
  void tcp_connection_entered(tcp::TcpState s) {
    metric_add(tcp_connections[static_cast<size_t>(s)], 1);
  }
  void tcp_connection_left(tcp::TcpState s) {
    metric_sub(tcp_connections[static_cast<size_t>(s)], 1);
  }
  // A new process takes the block over: what the gauges described died with the old one,
  // while counters and the histogram continue.
  void reset_gauges() {
    for (auto& g : gauges) metric_store(g, 0);
    for (auto& c : tcp_connections) metric_store(c, 0);
  }

  uint64_t operator[](DropReason r) const { return metric_load(drops[static_cast<size_t>(r)]); }
  uint64_t operator[](Event e) const { return metric_load(events[static_cast<size_t>(e)]); }
  uint64_t operator[](StackGauge g) const { return metric_load(gauges[static_cast<size_t>(g)]); }
  uint64_t connections_in(tcp::TcpState s) const {
    return metric_load(tcp_connections[static_cast<size_t>(s)]);
  }
  uint64_t total_drops() const {
    uint64_t t = 0;
    for (const auto& d : drops) t += metric_load(d);
    return t;
  }
};
static_assert(std::is_trivially_copyable_v<StackCounters>);
static_assert(alignof(StackCounters) == alignof(uint64_t));

}  // namespace flowgate
