// The TCP layer of one worker: demultiplexing, listeners with their SYN and accept queues,
// SYN cookies, TIME-WAIT records, resets for closed ports, and the sockets the POSIX-like API
// works on. Each connection's protocol logic is in Connection.
//
// listen(backlog) — what the lecture asks: a listener has two queues. Half-open connections
// (SYN received, SYN-ACK sent) sit in the SYN queue, bounded by TcpConfig::max_syn_backlog;
// when it is full, new SYNs are answered statelessly with SYN cookies (RFC 4987), so a SYN
// flood fills nothing. Connections whose handshake completed wait in the accept queue until
// fg_accept() takes them; `backlog` bounds it exactly as Linux does: up to backlog + 1
// connections may wait (Linux compares with '>'). When the accept queue is full, a new SYN is
// dropped, and the ACK completing a handshake is dropped too, leaving the connection in
// SYN-RECEIVED so our SYN-ACK retransmission makes the client ACK again later (Linux's
// behaviour with tcp_abort_on_overflow = 0); both are counted as tcp_accept_queue_full.
// fg_accept() returns a connection only after the handshake's final ACK: never one in
// SYN-RECEIVED.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "stack/clock.hpp"
#include "stack/config.hpp"
#include "stack/counters.hpp"
#include "stack/ipv4.hpp"
#include "stack/packet_buffer.hpp"
#include "stack/transport.hpp"
#include "tcp/connection.hpp"
#include "tcp/four_tuple.hpp"
#include "tcp/isn.hpp"
#include "tcp/port_table.hpp"
#include "tcp/syn_cookies.hpp"
#include "tcp/tcp_types.hpp"
#include "tcp/timer_wheel.hpp"

namespace flowgate::tcp {

struct TcpEndpoint {
  wire::Ipv4Address address;
  uint16_t port = 0;
};

struct Listener {
  wire::Ipv4Address address;
  uint16_t port = 0;
  uint32_t backlog = 0;
  uint32_t syn_queue = 0;             // passive connections in SYN-RECEIVED
  uint64_t enqueued = 0;              // connections ever queued (edge-triggered epoll)
  std::deque<uint64_t> accept_queue;  // established, not yet accepted (connection ids)
  int tag = -1;  // the listening socket's readiness tag (Tcp::set_tag), -1: none
};

// A bound socket holds one reference to its local port in the Tcp layer's PortTable, from
// the bind (explicit, ephemeral, or by connect/accept) until fg_close: the port is free for
// new ephemeral choices once no socket holds it. A connection that outlives its socket
// (FIN-WAIT, TIME-WAIT) does not hold the port; what it still pins is its 4-tuple, which
// connect() checks (see allocate_port_for).
struct TcpSocket {
  // Widest members first (no padding): every connection has one.
  ConnectionOptions options;
  std::optional<uint64_t> connection;  // connection id
  std::unique_ptr<Listener> listener;
  wire::Ipv4Address local_address;
  int tag = -1;  // set_tag: reported to the ReadinessObserver when readiness may change
  uint16_t local_port = 0;
  bool bound = false;
  // The port was chosen by connect(), not by the application: a new connect() after a
  // failed attempt may choose again (for its remote), as Linux releases such a port.
  bool port_from_connect = false;
  bool reuse_address = false;
};

// What TIME-WAIT keeps of a connection: enough to answer a retransmitted FIN, ignore a RST
// (RFC 1337) and judge a new SYN (RFC 6191). About 40 bytes instead of a whole connection.
struct TimeWaitRecord {
  SeqNum snd_nxt;
  SeqNum rcv_nxt;
  bool timestamps = false;
  uint32_t ts_recent = 0;
  uint32_t ts_offset = 0;
  Instant expires{};
  TimerHandle timer;
  uint64_t timer_cookie = 0;
};

// Told when a socket's epoll readiness may have changed, with the socket's tag (the Stack
// uses its descriptor): the connection was touched (a segment, a timer, a socket call) or a
// connection joined a listener's accept queue. It may be told more than necessary, never
// less: a readiness bit never appears without a call.
class ReadinessObserver {
 public:
  virtual ~ReadinessObserver() = default;
  virtual void readiness_changed(int tag) = 0;
};

class Tcp final : public TransportProtocol, private ConnectionHost {
 public:
  Tcp(const StackConfig& stack_config, const TcpConfig& config, StackCounters& counters, Ipv4& ipv4,
      const SipKey& key, Instant start);
  ~Tcp() override;

  void on_datagram(const InboundDatagram& datagram, Instant now) override;
  void on_icmp_error(const IcmpErrorReport& report, Instant now) override;
  void poll(Instant now);
  std::optional<Instant> next_deadline() const { return wheel_.next_deadline(); }

  // The socket calls; results >= 0 or -errno.
  int open();
  int bind(int id, TcpEndpoint local);
  int listen(int id, int backlog);
  int accept(int id, TcpEndpoint* peer, Instant now);
  int connect(int id, TcpEndpoint remote, Instant now);
  long send(int id, wire::Bytes data, Instant now);
  long receive(int id, wire::MutableBytes out, bool peek, Instant now);
  int shutdown(int id, int how, Instant now);
  int close(int id, Instant now);
  int local_endpoint(int id, TcpEndpoint* out) const;
  int peer_endpoint(int id, TcpEndpoint* out) const;
  // epoll-style readiness bits (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR).
  uint32_t poll_events(int id) const;
  uint64_t event_signature(int id) const;
  // Readiness changes of sockets with a tag go to `observer` (nullptr: nobody listens).
  void set_readiness_observer(ReadinessObserver* observer) { observer_ = observer; }
  // Tags socket `id` for readiness_changed(); -1 removes the tag.
  void set_tag(int id, int tag);
  // Applies changed socket options to the socket's connection, if it has one.
  void apply_options(int id, Instant now);
  TcpSocket* socket(int id);
  Connection* connection_of(int id);
  int take_error(int id);

  const TcpConfig& config() const { return config_; }
  size_t connections() const { return entries_.size(); }
  size_t time_wait_records() const { return time_wait_.size(); }
  const Connection* find(const FourTuple& t) const;
  const TimeWaitRecord* find_time_wait(const FourTuple& t) const;

  // Read-only walks for the monitoring tools (`flowgate ss` through
  // monitoring/connection_snapshot): O(connections), so only when a tool asks, never on the
  // packet path. Each visitor returns false to stop the walk. The order is the tables' own.
  template <typename Visit>  // bool(const Connection&)
  void visit_connections(Visit&& visit) const {
    for (const auto& [id, entry] : entries_) {
      if (!visit(*entry.conn)) return;
    }
  }
  template <typename Visit>  // bool(const FourTuple&, const TimeWaitRecord&)
  void visit_time_wait(Visit&& visit) const {
    for (const auto& [tuple, record] : time_wait_) {
      if (!visit(tuple, record)) return;
    }
  }
  template <typename Visit>  // bool(const Listener&)
  void visit_listeners(Visit&& visit) const {
    for (const auto& [port, socket_id] : listeners_) {
      const auto it = sockets_.find(socket_id);
      if (it == sockets_.end() || !it->second.listener) continue;
      if (!visit(*it->second.listener)) return;
    }
  }
  size_t listener_count() const { return listeners_.size(); }

 private:
  struct Entry {
    std::unique_ptr<Connection> conn;
    TimerHandle timer;
    std::optional<Instant> armed;
    Listener* listener = nullptr;  // passive, not yet accepted
    std::optional<int> socket_id;
    int tag = -1;  // the socket's tag while it has one
    bool in_syn_queue = false;
    bool in_demux = false;
  };

  // ConnectionHost
  void transmit(const Connection& c, const wire::TcpRepr& segment, bool ect) override;
  bool admit(Connection& c) override;
  void on_established(Connection& c) override;
  void on_time_wait(Connection& c) override;
  void on_closed(Connection& c) override;

  void on_listen_segment(Listener& l, int listener_socket, const Segment& seg,
                         const FourTuple& tuple, Instant now);
  void on_time_wait_segment(const FourTuple& tuple, TimeWaitRecord& tw, const Segment& seg,
                            Instant now);
  void send_reset_for(const FourTuple& tuple, const Segment& seg);
  void send_raw(const FourTuple& tuple, const wire::TcpRepr& segment);
  uint64_t create_connection(const FourTuple& tuple, const ConnectionOptions& options);
  void rearm(uint64_t id, Instant now);
  void finish(Instant now);  // re-arm touched timers, destroy dead connections
  void destroy(uint64_t id);
  Entry* entry_of(const Connection& c);
  uint64_t id_of(const Connection& c) const;
  uint16_t our_mss() const;
  // bind() to port 0, listen() without bind: any free ephemeral port (the remote is not
  // known, so the flow hash cannot be honoured; replies to a later connect() from such a
  // socket reach this worker only by chance, 1 in worker_count).
  int allocate_ephemeral_port(uint16_t* port);
  // connect() from an unbound socket: a free ephemeral port whose tuple with `remote` the
  // I/O process steers to this worker, and which no live connection or TIME-WAIT record to
  // `remote` uses.
  int allocate_port_for(TcpEndpoint remote, uint16_t* port);
  bool port_in_use(uint16_t port, const TcpSocket* except) const;
  void drop_listener_connections(Listener& l, Instant now);

  const StackConfig& stack_config_;
  TcpConfig config_;
  StackCounters& counters_;
  Ipv4& ipv4_;
  IsnGenerator isn_;
  SynCookies cookies_;
  TimerWheel wheel_;
  std::unordered_map<int, TcpSocket> sockets_;
  int next_socket_id_ = 1;
  std::unordered_map<uint64_t, Entry> entries_;
  std::unordered_map<const Connection*, uint64_t> ids_;
  std::unordered_map<FourTuple, uint64_t, FourTupleHash> demux_;
  std::unordered_map<FourTuple, TimeWaitRecord, FourTupleHash> time_wait_;
  std::unordered_map<uint64_t, FourTuple> time_wait_ids_;  // timer cookie -> record
  static constexpr uint64_t kTimeWaitCookie = uint64_t{1} << 63;
  std::unordered_map<uint16_t, int> listeners_;  // port -> listening socket id
  uint64_t next_id_ = 1;
  PortTable ports_;  // ephemeral ports, by flow-hash class (tcp/port_table.hpp)
  std::vector<uint64_t> touched_;
  std::vector<uint64_t> dead_;
  Instant now_{};
  PacketBuffer scratch_;
  ReadinessObserver* observer_ = nullptr;
};

}  // namespace flowgate::tcp
