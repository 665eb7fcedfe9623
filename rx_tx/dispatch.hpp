// The I/O process's dispatcher: for each received frame, which worker gets it (DESIGN.md,
// "Dispatch"). It reads just enough of the headers to find the flow, through the checked wire
// views, and applies the shared flow hash (wire/flow_hash.hpp) that the workers also use to
// pick their source ports. It never verifies checksums or addresses: the XDP program has
// already kept only the gateway's traffic, and the worker's stack judges each frame.
//
// The rules, in the order classify() applies them:
//   - Shorter than an Ethernet header (or than its 802.1Q tag): dropped, the only drop.
//   - ARP: every worker. Each keeps its own neighbour cache, so each must see replies and
//     requests; only worker 0 answers requests for our address (the stack's business).
//   - IPv4 TCP or UDP, not a fragment: for_ports(src, dst, src port, dst port).
//   - ICMP errors (destination unreachable, source quench, redirect, time exceeded, parameter
//     problem): the flow of the datagram they quote, so that fragmentation-needed or port
//     unreachable reaches the worker owning the connection or socket. TCP/UDP quoted with its
//     ports and not a non-first fragment: for_ports of the quoted endpoints; otherwise
//     for_addresses of the quoted pair.
//   - Other ICMP (echo, ...) and other IP protocols: for_addresses(src, dst).
//   - Fragments: see "Fragments" below.
//   - Anything it cannot classify (an unknown EtherType, an IPv4 header that is truncated or
//     inconsistent, a transport header too short to show its ports, an ICMP error whose quote
//     cannot be read): worker 0. The dispatcher does not drop these itself, because the
//     worker's stack drops each with its own precise named reason (eth_unknown_ethertype,
//     ipv4_bad_header_length, udp_truncated, icmp_bad_quote, ...), counted where every other
//     drop is counted; the dispatcher only counts that it could not classify.
//
// Fragments. Only the first fragment (offset 0, MF set) carries the transport header. It is
// steered exactly as the whole datagram would be, and its (source, destination,
// identification, protocol) is remembered with that worker in a fixed-size table; every
// later fragment of the datagram looks the table up and follows it, so one worker receives
// them all, reassembles, and owns the flow. Entries live 30 s, the reassembly timeout; a
// table slot is chosen by a keyed hash and a collision overwrites the older entry.
// Limitation: a non-first fragment that overtakes its first fragment (or arrives after its
// entry was overwritten or expired) cannot be placed. It goes to for_addresses(src, dst) and
// is counted as fragments_unsteered. For traffic without ports that is the right worker
// anyway; for TCP/UDP it is the right one only by chance (1 in n), and otherwise the datagram
// does not reassemble anywhere: the worker with the first fragment times out (and sends
// time-exceeded), the sender retransmits or the datagram is lost, as on a lossy path. TCP
// sets DF, so in practice this concerns large UDP datagrams that arrive reordered.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <vector>

#include "stack/clock.hpp"
#include "wire/addresses.hpp"
#include "wire/bytes.hpp"
#include "wire/flow_hash.hpp"
#include "wire/ipv4.hpp"

namespace flowgate {

// X(name, help). Every frame counts once in `frames` and once in exactly one of
// to_one_worker, to_all_workers, dropped; the other counters say why.
#define FLOWGATE_DISPATCH_COUNTERS(X)                                                            \
  X(frames, "Frames the dispatcher classified")                                                  \
  X(to_one_worker, "Frames steered to one worker")                                               \
  X(to_all_workers, "Frames given to every worker (ARP)")                                        \
  X(dropped, "Frames dropped by the dispatcher (see the dropped_* reasons)")                     \
  X(dropped_ethernet_truncated, "Dropped: shorter than an Ethernet header or its 802.1Q tag")    \
  X(by_ports, "IPv4 TCP/UDP steered by addresses and ports")                                     \
  X(by_addresses, "IPv4 without ports (ICMP echo, other protocols) steered by address pair")     \
  X(icmp_error_by_quoted_ports, "ICMP errors steered by the TCP/UDP flow they quote")            \
  X(icmp_error_by_quoted_addresses,                                                              \
    "ICMP errors steered by the address pair they quote (no ports, or a quoted fragment)")       \
  X(first_fragments, "First fragments steered and remembered in the fragment table")             \
  X(fragment_table_overwrites, "First fragments that replaced another live table entry")         \
  X(fragments_steered, "Non-first fragments sent to the worker of their first fragment")         \
  X(fragments_unsteered,                                                                         \
    "Non-first fragments with no table entry (overtook their first fragment, or its entry "      \
    "expired or was overwritten): steered by address pair, may not reassemble")                  \
  X(unclassified_ethertype, "EtherType other than IPv4 and ARP: sent to worker 0 to be dropped") \
  X(unclassified_ipv4, "IPv4 header truncated or inconsistent: sent to worker 0 to be dropped")  \
  X(unclassified_transport,                                                                      \
    "TCP/UDP/ICMP header too short to classify: sent to worker 0 to be dropped")                 \
  X(unclassified_icmp_quote,                                                                     \
    "ICMP error whose quoted IPv4 header cannot be read: sent to worker 0 to be dropped")

enum class DispatchCounter : uint16_t {
#define FLOWGATE_ENUM_ENTRY(name, help) name,
  FLOWGATE_DISPATCH_COUNTERS(FLOWGATE_ENUM_ENTRY)
#undef FLOWGATE_ENUM_ENTRY
      count_
};
constexpr size_t kDispatchCounterCount = static_cast<size_t>(DispatchCounter::count_);

std::string_view name(DispatchCounter c);
std::string_view help(DispatchCounter c);

// Plain memory with one writer (the I/O process), so it can live in shared memory.
struct DispatchCounters {
  std::array<uint64_t, kDispatchCounterCount> values{};

  void count(DispatchCounter c) { ++values[static_cast<size_t>(c)]; }
  uint64_t operator[](DispatchCounter c) const { return values[static_cast<size_t>(c)]; }
};
static_assert(std::is_trivially_copyable_v<DispatchCounters>);

enum class DispatchKind : uint8_t { one_worker, all_workers, drop };

enum class DispatchDropReason : uint8_t {
  none,
  ethernet_truncated,  // shorter than 14 bytes, or than 18 with an 802.1Q tag
};

struct DispatchDecision {
  DispatchKind kind = DispatchKind::drop;
  uint32_t worker = 0;  // for one_worker
  DispatchDropReason drop_reason = DispatchDropReason::none;

  static DispatchDecision one(uint32_t worker) { return {DispatchKind::one_worker, worker, {}}; }
  static DispatchDecision all() { return {DispatchKind::all_workers, 0, {}}; }
  static DispatchDecision drop(DispatchDropReason r) { return {DispatchKind::drop, 0, r}; }
  bool operator==(const DispatchDecision&) const = default;
};

class Dispatcher {
 public:
  // How long a first fragment's entry steers later fragments: the reassembly timeout
  // (ReassemblyConfig's 30 s), after which the worker has discarded the datagram anyway.
  static constexpr Duration kFragmentEntryLifetime = std::chrono::seconds(30);

  // `worker_count` >= 1; `seed` is the gateway's flow-hash seed (the same value every worker
  // is configured with). The fragment table is allocated here, once.
  Dispatcher(uint32_t worker_count, uint32_t seed, size_t fragment_table_entries = 1024);

  // Decides where one received frame goes. `now` ages the fragment table. Allocates nothing.
  DispatchDecision classify(wire::Bytes frame, Instant now);

  const wire::FlowSteering& steering() const { return steering_; }
  const DispatchCounters& counters() const { return counters_; }

 private:
  struct FragmentKey {
    wire::Ipv4Address src;
    wire::Ipv4Address dst;
    uint16_t identification = 0;
    uint8_t protocol = 0;
    bool operator==(const FragmentKey&) const = default;
  };
  struct FragmentEntry {
    FragmentKey key;
    uint32_t worker = 0;
    bool used = false;
    Instant expires{};
  };

  DispatchDecision classify_ipv4(wire::Bytes packet, Instant now);
  // The worker for a whole datagram, or for a first fragment as if it were whole.
  uint32_t steer_datagram(const wire::Ipv4Reader& ip);
  uint32_t steer_icmp_error(wire::Bytes quote);
  uint32_t unclassified(DispatchCounter reason);
  FragmentEntry& slot_for(const FragmentKey& key);

  wire::FlowSteering steering_;
  std::vector<FragmentEntry> fragments_;
  DispatchCounters counters_;
};

}  // namespace flowgate
