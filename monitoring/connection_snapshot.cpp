#include "monitoring/connection_snapshot.hpp"

#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace flowgate {
namespace {

using tcp::TcpState;

std::atomic_ref<uint32_t> word(uint32_t& w) {
  return std::atomic_ref<uint32_t>(w);
}

// Microseconds in a record field: saturated, so an absurd duration cannot wrap into a small one.
uint32_t micros(Duration d) {
  const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return static_cast<uint32_t>(std::clamp<int64_t>(us, 0, ConnectionRecord::kNoRtt - 1));
}

// Wrap-safe: has the counter `a` reached `b`? Both are free-running uint32_t.
bool reached(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) >= 0;
}

// An ssthresh above any window a peer can offer (2^30 with window scaling, RFC 7323) is the
// "arbitrarily high" initial value of RFC 5681 3.1: no congestion event yet.
constexpr uint32_t kUnsetSsthresh = uint32_t{1} << 30;

}  // namespace

ConnectionSnapshotArea::ConnectionSnapshotArea(std::span<std::byte> bytes)
    : header_(reinterpret_cast<ConnectionSnapshotHeader*>(bytes.data())),
      records_(reinterpret_cast<ConnectionRecord*>(bytes.data() + kSnapshotRecordsOffset)),
      capacity_(snapshot_capacity(bytes.size())) {
  if (bytes.size() < kSnapshotRecordsOffset ||
      reinterpret_cast<uintptr_t>(bytes.data()) % alignof(ConnectionSnapshotHeader) != 0) {
    throw std::invalid_argument("connection snapshot area: too small or misaligned");
  }
}

ConnectionSnapshotArea ConnectionSnapshotArea::of_worker(const shm::Segment& segment,
                                                         uint32_t worker) {
  return ConnectionSnapshotArea(std::span<std::byte>(segment.worker(worker).connection_snapshot));
}

uint32_t ConnectionSnapshotArea::request() {
  // Relaxed: the request carries no data; the worker's answer is what is ordered.
  return word(header_->request).fetch_add(1, std::memory_order_relaxed) + 1;
}

bool ConnectionSnapshotArea::answered(uint32_t ticket) const {
  // Acquire: pairs with the worker's release store of `done`, after its records.
  return reached(word(header_->done).load(std::memory_order_acquire), ticket);
}

std::optional<ConnectionSnapshot> ConnectionSnapshotArea::read(uint32_t ticket) const {
  if (!answered(ticket)) return std::nullopt;
  // Seqlock read: acquire pairs with the worker's release store of the even sequence that
  // ended its last write, so the records it wrote before are visible.
  const uint32_t before = word(header_->sequence).load(std::memory_order_acquire);
  if ((before & 1) != 0) return std::nullopt;  // a later request is being written
  ConnectionSnapshot snapshot;
  std::memcpy(&snapshot.summary, &header_->summary, sizeof snapshot.summary);
  if (snapshot.summary.format == kSnapshotFormat) {
    const uint32_t n = std::min(snapshot.summary.records, capacity_);
    snapshot.records.assign(records_, records_ + n);
  }
  // The copies above happen before the second read of the sequence; a writer that started
  // meanwhile made it odd (its release fence orders that before its first record store).
  std::atomic_thread_fence(std::memory_order_acquire);
  if (word(header_->sequence).load(std::memory_order_relaxed) != before) return std::nullopt;
  if (snapshot.summary.format != kSnapshotFormat) snapshot.records.clear();
  return snapshot;
}

bool ConnectionSnapshotArea::requested() const {
  // Relaxed: only `done`'s own writer compares; the records are ordered by answer().
  return word(header_->request).load(std::memory_order_relaxed) !=
         word(header_->done).load(std::memory_order_relaxed);
}

uint32_t ConnectionSnapshotArea::answer(const tcp::Tcp& tcp, Instant now, int32_t pid) {
  // Acquire is not needed for data (a request carries none); what matters is answering at
  // least the value seen here.
  const uint32_t asked = word(header_->request).load(std::memory_order_relaxed);
  uint32_t seq = word(header_->sequence).load(std::memory_order_relaxed);
  if ((seq & 1) != 0) ++seq;  // a predecessor died while writing
  word(header_->sequence).store(seq + 1, std::memory_order_relaxed);
  // Orders the odd sequence before every record store below (seqlock write side).
  std::atomic_thread_fence(std::memory_order_release);

  uint32_t n = 0;
  auto put = [&](const ConnectionRecord& r) {
    if (n >= capacity_) return false;
    records_[n++] = r;
    return true;
  };
  tcp.visit_listeners([&](const tcp::Listener& l) { return put(record_of(l)); });
  tcp.visit_connections([&](const tcp::Connection& c) { return put(record_of(c)); });
  tcp.visit_time_wait([&](const tcp::FourTuple& t, const tcp::TimeWaitRecord& tw) {
    return put(record_of(t, tw, now));
  });

  ConnectionSnapshotSummary& s = header_->summary;
  s.format = kSnapshotFormat;
  s.capacity = capacity_;
  s.records = n;
  s.pid = pid;
  s.listeners = tcp.listener_count();
  s.connections = tcp.connections();
  s.time_wait = tcp.time_wait_records();
  s.total = s.listeners + s.connections + s.time_wait;
  s.taken_ns = static_cast<uint64_t>(now.time_since_epoch().count());
  s.answered = asked;

  // Release: the records and the summary before the even sequence and the answer.
  word(header_->sequence).store(seq + 2, std::memory_order_release);
  word(header_->done).store(asked, std::memory_order_release);
  return n;
}

ConnectionRecord record_of(const tcp::Connection& c) {
  const tcp::ConnectionInfo i = c.info();
  const tcp::FourTuple& t = c.tuple();
  ConnectionRecord r;
  r.local_ip = t.local_ip.value;
  r.remote_ip = t.remote_ip.value;
  r.local_port = t.local_port;
  r.remote_port = t.remote_port;
  r.state = static_cast<uint8_t>(i.state);
  r.flags = static_cast<uint8_t>((c.passive() ? ConnectionRecord::kPassive : 0) |
                                 (c.orphaned() ? ConnectionRecord::kOrphaned : 0) |
                                 (i.timestamps ? ConnectionRecord::kTimestamps : 0) |
                                 (i.sack ? ConnectionRecord::kSack : 0) |
                                 (i.ecn ? ConnectionRecord::kEcn : 0));
  r.snd_wscale = i.snd_wscale;
  r.rcv_wscale = i.rcv_wscale;
  r.srtt_us = i.srtt ? micros(*i.srtt) : ConnectionRecord::kNoRtt;
  r.rttvar_us = micros(i.rttvar);
  r.rto_us = micros(i.rto);
  r.smss = i.smss;
  r.rcv_mss = i.rcv_mss;
  r.cwnd = i.cwnd;
  r.ssthresh = i.ssthresh;
  r.retransmits = i.retransmits;
  r.bytes_acked = i.bytes_acked;
  r.bytes_in_flight = i.bytes_in_flight;
  r.bytes_sendable = i.bytes_sendable;
  r.bytes_not_sendable = i.bytes_not_sendable;
  r.snd_wnd = i.snd_wnd;
  r.bytes_received = i.bytes_received;
  r.bytes_unread = i.bytes_unread;
  r.rcv_wnd = i.rcv_wnd;
  r.bytes_out_of_order = i.bytes_out_of_order;
  return r;
}

ConnectionRecord record_of(const tcp::FourTuple& t, const tcp::TimeWaitRecord& tw, Instant now) {
  ConnectionRecord r;
  r.local_ip = t.local_ip.value;
  r.remote_ip = t.remote_ip.value;
  r.local_port = t.local_port;
  r.remote_port = t.remote_port;
  r.state = static_cast<uint8_t>(TcpState::time_wait);
  r.flags = static_cast<uint8_t>(ConnectionRecord::kTimeWaitRecord |
                                 (tw.timestamps ? ConnectionRecord::kTimestamps : 0));
  const int64_t left_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(tw.expires - now).count();
  r.time_wait_left_ms = static_cast<uint32_t>(std::clamp<int64_t>(left_ms, 0, UINT32_MAX));
  return r;
}

ConnectionRecord record_of(const tcp::Listener& l) {
  ConnectionRecord r;
  r.local_ip = l.address.value;
  r.local_port = l.port;
  r.state = static_cast<uint8_t>(TcpState::listen);
  r.flags = ConnectionRecord::kListener;
  r.accept_queue = static_cast<uint32_t>(l.accept_queue.size());
  r.syn_queue = l.syn_queue;
  r.backlog = l.backlog;
  return r;
}

// ---- output ----

const char* short_state_name(TcpState s) {
  switch (s) {
    case TcpState::closed:
      return "UNCONN";
    case TcpState::listen:
      return "LISTEN";
    case TcpState::syn_sent:
      return "SYN-SENT";
    case TcpState::syn_received:
      return "SYN-RECV";
    case TcpState::established:
      return "ESTAB";
    case TcpState::fin_wait_1:
      return "FIN-WAIT-1";
    case TcpState::fin_wait_2:
      return "FIN-WAIT-2";
    case TcpState::close_wait:
      return "CLOSE-WAIT";
    case TcpState::closing:
      return "CLOSING";
    case TcpState::last_ack:
      return "LAST-ACK";
    case TcpState::time_wait:
      return "TIME-WAIT";
  }
  return "?";
}

std::optional<TcpState> parse_state_name(const std::string& text) {
  std::string t;
  for (char ch : text) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    t += c == '_' ? '-' : c;
  }
  constexpr TcpState kAll[] = {TcpState::closed,       TcpState::listen,      TcpState::syn_sent,
                               TcpState::syn_received, TcpState::established, TcpState::fin_wait_1,
                               TcpState::fin_wait_2,   TcpState::close_wait,  TcpState::closing,
                               TcpState::last_ack,     TcpState::time_wait};
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  for (TcpState s : kAll) {
    if (t == lower(short_state_name(s)) || t == lower(tcp::to_string(s))) return s;
  }
  return std::nullopt;
}

namespace {

std::string endpoint(uint32_t ip, uint16_t port, bool numeric, bool any_port) {
  std::string out = wire::Ipv4Address{ip}.to_string() + ":";
  if (any_port) return out + "*";
  if (!numeric) {
    // /etc/services, as ss does without -n (getservbyport wants the port in network order).
    if (const servent* s = ::getservbyport(htons(port), "tcp"); s != nullptr) {
      return out + s->s_name;
    }
  }
  return out + std::to_string(port);
}

std::string millis(uint32_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", us / 1000.0);
  return buf;
}

std::string segments(uint32_t bytes, uint32_t smss) {
  return smss == 0 ? std::string("-") : std::to_string(bytes / smss);
}

}  // namespace

std::string format_connection_header() {
  char line[160];
  std::snprintf(line, sizeof line, "%-10s %-7s %-7s %-22s %-22s %s\n", "State", "Recv-Q", "Send-Q",
                "Local Address:Port", "Peer Address:Port", "Worker");
  return line;
}

std::string format_connection(const ConnectionRecord& r, uint32_t worker, bool numeric) {
  const bool listener = r.has(ConnectionRecord::kListener);
  const std::string local = endpoint(r.local_ip, r.local_port, numeric, false);
  const std::string peer = endpoint(r.remote_ip, r.remote_port, numeric, listener);
  char line[512];
  std::snprintf(line, sizeof line, "%-10s %-7" PRIu64 " %-7" PRIu64 " %-22s %-22s %u\n",
                short_state_name(r.tcp_state()), r.receive_queue(), r.send_queue(), local.c_str(),
                peer.c_str(), worker);
  std::string out = line;
  if (listener) {
    std::snprintf(line, sizeof line, "\t accept_queue:%u syn_queue:%u backlog:%u\n", r.accept_queue,
                  r.syn_queue, r.backlog);
    return out + line;
  }
  if (r.has(ConnectionRecord::kTimeWaitRecord)) {
    std::snprintf(line, sizeof line, "\t timer:(timewait,%.1fs) compact record%s\n",
                  r.time_wait_left_ms / 1000.0, r.has(ConnectionRecord::kTimestamps) ? " ts" : "");
    return out + line;
  }
  // As ss -i: rtt:SRTT/RTTVAR in ms, rto in ms, cwnd and ssthresh in segments (and bytes).
  const std::string rtt = r.srtt_us == ConnectionRecord::kNoRtt
                              ? std::string("-")
                              : millis(r.srtt_us) + "/" + millis(r.rttvar_us);
  const bool ssthresh_set = r.ssthresh < kUnsetSsthresh;
  std::snprintf(
      line, sizeof line,
      "\t rtt:%s rto:%u mss:%u rcvmss:%u cwnd:%s cwnd_bytes:%u ssthresh:%s ssthresh_bytes:%s "
      "retrans:%u wscale:%u,%u%s%s%s%s%s\n",
      rtt.c_str(), r.rto_us / 1000, r.smss, r.rcv_mss, segments(r.cwnd, r.smss).c_str(), r.cwnd,
      ssthresh_set ? segments(r.ssthresh, r.smss).c_str() : "-",
      ssthresh_set ? std::to_string(r.ssthresh).c_str() : "-", r.retransmits, r.snd_wscale,
      r.rcv_wscale, r.has(ConnectionRecord::kTimestamps) ? " ts" : "",
      r.has(ConnectionRecord::kSack) ? " sack" : "", r.has(ConnectionRecord::kEcn) ? " ecn" : "",
      r.has(ConnectionRecord::kPassive) ? " passive" : " active",
      r.has(ConnectionRecord::kOrphaned) ? " orphaned" : "");
  out += line;
  // The lecture's window pictures: sent and acknowledged | in flight | sendable | not yet.
  std::snprintf(line, sizeof line,
                "\t send: acked:%" PRIu64 " in_flight:%u sendable:%u not_sendable:%u snd_wnd:%u\n",
                r.bytes_acked, r.bytes_in_flight, r.bytes_sendable, r.bytes_not_sendable,
                r.snd_wnd);
  out += line;
  std::snprintf(line, sizeof line,
                "\t recv: read:%" PRIu64 " unread:%u rcv_wnd:%u out_of_order:%u\n",
                r.bytes_received - r.bytes_unread, r.bytes_unread, r.rcv_wnd, r.bytes_out_of_order);
  return out + line;
}

}  // namespace flowgate
