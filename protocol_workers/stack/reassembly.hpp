// IPv4 reassembly (RFC 791 section 3.2, with the hole-descriptor list of RFC 815).
//
// Policy, where the RFCs leave a choice:
// - Timeout: a datagram not completed within `timeout` (default 30 s, as Linux; RFC 1122
//   3.3.2 asks for a fixed value of 60-120 s but allows it to be configured) is discarded and
//   counted as reasm_timeout. If its first fragment had arrived, the caller is told so it can
//   send ICMP time exceeded, code 1 (RFC 792).
// - Memory: buffer bytes held by all incomplete datagrams never exceed `memory_limit`. A
//   fragment that would pass it evicts the oldest incomplete datagrams first (an attacker's
//   never-completed fragments cannot block new datagrams for the whole timeout); a fragment
//   that alone cannot fit is dropped. Both are counted as reasm_memory_limit.
// - Overlap: a fragment whose bytes all lie in data already received and equal it is a
//   harmless duplicate, dropped alone (reasm_duplicate). Any other overlap with received
//   data discards the whole datagram (reasm_overlap), the rule RFC 5722 makes for IPv6 and
//   Linux applies to IPv4: overlapping fragments are how the teardrop-style attacks and
//   filter evasions work.
// - Consistency: a last fragment (MF=0) fixes the datagram's end; a second one that
//   disagrees, or data beyond it, discards the datagram (reasm_inconsistent_length). A
//   last fragment whose bytes were all received but which first fixes the end is not a
//   duplicate: the end is news (RFC 815 would leave its "infinity" hole open for ever). A
//   fragment with MF=1 whose length is not a multiple of 8 or is zero, or any fragment that
//   ends beyond 65515 bytes of payload (65535 less the 20-byte header the whole datagram
//   gets), is dropped alone (reasm_bad_fragment).
// - Counting: every fragment offered counts ipv4_fragments_received. A fragment dropped alone
//   counts one drop. A discarded datagram counts one drop, whatever number of fragments it
//   held, and the fragment that caused the discard (overlap, inconsistency) is that one; a
//   datagram evicted to make room for another's fragment counts one reasm_memory_limit (the
//   fragment that made room is not dropped). A completed datagram counts reasm_completed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>

#include "stack/clock.hpp"
#include "stack/counters.hpp"
#include "wire/ipv4.hpp"

namespace flowgate {

struct ReassemblyConfig {
  Duration timeout = std::chrono::seconds(30);
  size_t memory_limit = 4 * 1024 * 1024;  // bytes of datagram buffers, per worker
  size_t max_datagrams = 256;             // incomplete datagrams at once
};

class Reassembler {
 public:
  Reassembler(const ReassemblyConfig& config, StackCounters& counters);
  ~Reassembler();
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // Offers one fragment: `fragment` is a checked IPv4 view (header checksum already verified)
  // with MF set or a non-zero offset. Returns the whole datagram once this fragment completes
  // it: a 20-byte header (the first fragment's, options dropped, MF and offset cleared, total
  // length and checksum rewritten) followed by the payload. The span stays valid until the
  // next call on this Reassembler.
  std::optional<wire::Bytes> add(const wire::Ipv4Reader& fragment, Instant now);

  // Discards datagrams whose timeout has passed. For each one whose first fragment (offset 0)
  // had arrived, calls `on_expired` with the first fragment's header plus the first up to 8
  // bytes of its payload (what an ICMP time-exceeded message quotes).
  void poll(Instant now, const std::function<void(wire::Bytes quoted)>& on_expired);

  std::optional<Instant> next_deadline() const;
  size_t datagrams_in_progress() const;
  size_t memory_used() const;

 private:
  struct Datagram;  // one datagram being reassembled (see reassembly.cpp)
  using DatagramIter = std::list<Datagram>::iterator;

  std::optional<wire::Bytes> start(const wire::Ipv4Reader& fragment, Instant now);
  std::optional<wire::Bytes> insert(DatagramIter it, const wire::Ipv4Reader& fragment);
  bool reserve(Datagram& d, uint32_t payload_end, std::optional<uint32_t> total_len);
  void make_room(size_t extra, const Datagram* keep);
  DatagramIter discard(DatagramIter it, DropReason reason);
  wire::Bytes complete(DatagramIter it);
  // The reassemblies_in_progress gauge follows the list's size at every change.
  void publish_in_progress();

  ReassemblyConfig config_;
  StackCounters& counters_;
  std::list<Datagram> datagrams_;  // oldest first
  size_t memory_used_ = 0;         // sum of Datagram::capacity
  // The last completed datagram, which add() returned a span of; not counted in memory_used_.
  std::unique_ptr<std::byte[]> completed_;
};

}  // namespace flowgate
