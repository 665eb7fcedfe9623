// The connection table `flowgate ss` reads: each worker's TCP connections (listeners and
// TIME-WAIT records too), copied on request into the worker's connection_snapshot area of
// the segment (shm/layout.hpp, 1 MiB per worker).
//
// Connections live in the worker's private heap, so a tool cannot walk them; the worker
// copies them out when asked, and only then — the snapshot is the worker's only
// O(connections) work. The protocol, per worker area:
//
//   tool                                      worker (its loop, once per round)
//   ticket = ++request          (relaxed)
//   SIGUSR1 to the worker's pid               wakes from poll (signalfd), or is busy anyway
//                                             r = request (relaxed); r != done: asked
//                                             sequence -> odd, records and summary written,
//                                             sequence -> even (release)
//                                             done = r (release)
//   waits until done - ticket >= 0 (acquire), bounded
//   copies summary and records between two reads of `sequence`; equal and even: consistent
//
// The request word is checked every round as well as signalled, so merged signals or a
// signal that arrives while the worker is busy lose nothing; and a worker restarted after
// a crash answers a request its predecessor left pending. Several tools may ask at once:
// one answer with done >= every ticket serves them all. The seqlock (`sequence`) keeps a
// tool from reading records while a later request rewrites them.
//
// The area holds at most kConnectionSnapshotCapacity records (9360 in the 1 MiB area): more
// connections than that are counted (ConnectionSnapshotSummary::total), not copied. Listeners come
// first, then live connections, then TIME-WAIT records, so truncation drops the least telling.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "shm/layout.hpp"
#include "shm/segment.hpp"
#include "stack/clock.hpp"
#include "tcp/tcp.hpp"

namespace flowgate {

// One connection as `flowgate ss` shows it: TCP_INFO (tcp::ConnectionInfo) and the four-tuple,
// in fixed-size fields. Durations in microseconds; sizes in bytes.
struct ConnectionRecord {
  static constexpr uint32_t kNoRtt = 0xffffffffu;  // srtt_us before the first sample
  // flags
  static constexpr uint8_t kTimeWaitRecord = 1 << 0;  // the compact TIME-WAIT record: no TCB
  static constexpr uint8_t kListener = 1 << 1;        // a listening socket: queues, no peer
  static constexpr uint8_t kPassive = 1 << 2;         // opened by a listener
  static constexpr uint8_t kOrphaned = 1 << 3;        // the application closed its socket
  static constexpr uint8_t kTimestamps = 1 << 4;
  static constexpr uint8_t kSack = 1 << 5;
  static constexpr uint8_t kEcn = 1 << 6;

  uint32_t local_ip = 0;  // host byte order
  uint32_t remote_ip = 0;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint8_t state = 0;  // tcp::TcpState
  uint8_t flags = 0;
  uint8_t snd_wscale = 0;
  uint8_t rcv_wscale = 0;
  uint32_t srtt_us = kNoRtt;
  uint32_t rttvar_us = 0;
  uint32_t rto_us = 0;
  uint32_t smss = 0;
  uint32_t rcv_mss = 0;
  uint32_t cwnd = 0;  // bytes
  uint32_t ssthresh = 0;
  uint32_t retransmits = 0;
  // Send zones: [ISS+1, SND.UNA) acknowledged (bytes_acked, cumulative), [SND.UNA, SND.NXT)
  // in flight, then what the windows allow now (sendable) and what is beyond them.
  uint64_t bytes_acked = 0;
  uint32_t bytes_in_flight = 0;
  uint32_t bytes_sendable = 0;
  uint32_t bytes_not_sendable = 0;
  uint32_t snd_wnd = 0;
  // Receive zones: read by the application (bytes_received - bytes_unread, cumulative),
  // queued unread, the window still open, out-of-order bytes held beyond a hole.
  uint64_t bytes_received = 0;
  uint32_t bytes_unread = 0;
  uint32_t rcv_wnd = 0;
  uint32_t bytes_out_of_order = 0;
  // TIME-WAIT: milliseconds until the record expires. Listener: the accept queue (waiting
  // for fg_accept), the SYN queue (half-open) and the backlog bounding the accept queue.
  uint32_t time_wait_left_ms = 0;
  uint32_t accept_queue = 0;
  uint32_t syn_queue = 0;
  uint32_t backlog = 0;

  tcp::TcpState tcp_state() const { return static_cast<tcp::TcpState>(state); }
  bool has(uint8_t flag) const { return (flags & flag) != 0; }
  // Send-Q and Recv-Q as ss prints them: bytes not yet acknowledged or sent; bytes not read.
  // For a listener, as on Linux: the backlog and the accept queue.
  uint64_t send_queue() const {
    return has(kListener) ? backlog
                          : uint64_t{bytes_in_flight} + bytes_sendable + bytes_not_sendable;
  }
  uint64_t receive_queue() const { return has(kListener) ? accept_queue : bytes_unread; }
};
static_assert(std::is_trivially_copyable_v<ConnectionRecord>);
static_assert(sizeof(ConnectionRecord) == 112, "the record layout is part of kSnapshotFormat");

// What a published snapshot says about itself.
struct ConnectionSnapshotSummary {
  uint32_t format = 0;    // kSnapshotFormat of the writer
  uint32_t capacity = 0;  // records the area holds
  uint32_t records = 0;   // records written (<= capacity)
  int32_t pid = 0;        // the worker process that wrote it
  uint64_t total = 0;     // listeners + connections + TIME-WAIT records the worker had
  uint64_t listeners = 0;
  uint64_t connections = 0;  // live connections (every state but TIME-WAIT's compact record)
  uint64_t time_wait = 0;
  uint64_t taken_ns = 0;  // the worker's clock (CLOCK_MONOTONIC) when it was taken
  uint32_t answered = 0;  // the request word it answers
  uint32_t reserved = 0;
};
static_assert(std::is_trivially_copyable_v<ConnectionSnapshotSummary>);

// "FGSS" and a version; bumped with any change to the records or the summary.
inline constexpr uint32_t kSnapshotFormat = 0x46475301;

// The area's first bytes; records follow at kSnapshotRecordsOffset.
struct alignas(shm::kCacheLine) ConnectionSnapshotHeader {
  // Written by tools (fetch_add), read by the worker: separate line from what the worker writes.
  alignas(shm::kCacheLine) uint32_t request = 0;
  alignas(shm::kCacheLine) uint32_t done = 0;  // the worker: the last request answered
  uint32_t sequence = 0;                       // seqlock: odd while the worker writes
  ConnectionSnapshotSummary summary;
};
inline constexpr size_t kSnapshotRecordsOffset = sizeof(ConnectionSnapshotHeader);

constexpr uint32_t snapshot_capacity(size_t area_bytes) {
  return area_bytes <= kSnapshotRecordsOffset
             ? 0
             : static_cast<uint32_t>((area_bytes - kSnapshotRecordsOffset) /
                                     sizeof(ConnectionRecord));
}
// N: records one worker's 1 MiB area holds.
inline constexpr uint32_t kConnectionSnapshotCapacity =
    snapshot_capacity(shm::kConnectionSnapshotBytes);
static_assert(kConnectionSnapshotCapacity == 9360);

// A tool's copy of one worker's snapshot.
struct ConnectionSnapshot {
  ConnectionSnapshotSummary summary;
  std::vector<ConnectionRecord> records;
};

// A view of one connection_snapshot area: the worker's block in the segment, or any
// zero-initialised, cache-line-aligned memory (tests).
class ConnectionSnapshotArea {
 public:
  explicit ConnectionSnapshotArea(std::span<std::byte> bytes);
  static ConnectionSnapshotArea of_worker(const shm::Segment& segment, uint32_t worker);

  uint32_t capacity() const { return capacity_; }

  // --- the tool's side ---
  // Asks for a fresh snapshot; returns the ticket that an answer must reach.
  uint32_t request();
  // The worker answered `ticket` (or a later request).
  bool answered(uint32_t ticket) const;
  // A consistent copy once `ticket` is answered; nullopt while it is not, or while the
  // worker is rewriting the records for a later request (try again), or when the writer's
  // format differs from ours.
  std::optional<ConnectionSnapshot> read(uint32_t ticket) const;

  // --- the worker's side ---
  // A request is waiting: one load, cheap enough for every round of the loop.
  bool requested() const;
  // Writes the listeners, connections and TIME-WAIT records of `tcp` (as many as fit) and
  // publishes the answer to the request it found. `now` is the stack's clock (TIME-WAIT
  // expiry is relative to it, and the summary records it). Returns the records written.
  uint32_t answer(const tcp::Tcp& tcp, Instant now, int32_t pid);

 private:
  ConnectionSnapshotHeader* header_;
  ConnectionRecord* records_;
  uint32_t capacity_;
};

// Record builders (what answer() writes), for tests and tools.
ConnectionRecord record_of(const tcp::Connection& c);
ConnectionRecord record_of(const tcp::FourTuple& tuple, const tcp::TimeWaitRecord& tw, Instant now);
ConnectionRecord record_of(const tcp::Listener& l);

// --- `flowgate ss` output (apps/ss_command.cpp prints it) ---
// The column heads, then per record its line and, indented, its detail lines, as `ss -tni`:
//   State      Recv-Q Send-Q Local Address:Port    Peer Address:Port     Worker
//   ESTAB      0      0      198.18.0.1:80         198.18.0.2:41234      1
//            rtt:0.081/0.040 ms rto:201 ms mss:1448 rcvmss:1460 cwnd:10 (14480 B) ...
std::string format_connection_header();
// `numeric`: ports as numbers (else well-known service names, as ss without -n).
std::string format_connection(const ConnectionRecord& r, uint32_t worker, bool numeric);
// ss's short state names: ESTAB, SYN-SENT, SYN-RECV, FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT,
// CLOSE-WAIT, LAST-ACK, CLOSING, LISTEN, UNCONN (closed).
const char* short_state_name(tcp::TcpState s);
// A state from the command line: ss's names or RFC 9293's, any case ("established",
// "ESTAB", "time-wait", "syn-recv", "syn-received", ...).
std::optional<tcp::TcpState> parse_state_name(const std::string& text);

}  // namespace flowgate
