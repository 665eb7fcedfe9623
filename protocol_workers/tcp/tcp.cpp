#include "tcp/tcp.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "wire/icmp.hpp"
#include "wire/tcp.hpp"

namespace flowgate::tcp {

using wire::Ipv4Address;
using wire::TcpFlag;
using wire::TcpRepr;

namespace {
constexpr uint32_t kSomaxconn = 4096;
}

Tcp::Tcp(const StackConfig& stack_config, const TcpConfig& config, StackCounters& counters,
         Ipv4& ipv4, const SipKey& key, Instant start)
    : stack_config_(stack_config),
      config_(config),
      counters_(counters),
      ipv4_(ipv4),
      isn_(key),
      cookies_(key),
      wheel_(start),
      ports_(stack_config.udp.ephemeral_first, stack_config.udp.ephemeral_last,
             {stack_config.steering.seed, stack_config.steering.worker_count},
             stack_config.steering.worker_index),
      scratch_(PacketBuffer::kDefaultHeadroom + 65536) {}

Tcp::~Tcp() {
  // The connections leave the gauge as they are destroyed; the compact records here.
  for (size_t i = 0; i < time_wait_.size(); ++i) counters_.tcp_connection_left(TcpState::time_wait);
}

uint16_t Tcp::our_mss() const {
  // RFC 9293 3.7.1: MSS = MTU - 20 (IP) - 20 (TCP).
  return static_cast<uint16_t>(stack_config_.mtu - 40);
}

Tcp::Entry* Tcp::entry_of(const Connection& c) {
  auto it = ids_.find(&c);
  if (it == ids_.end()) return nullptr;
  auto e = entries_.find(it->second);
  return e == entries_.end() ? nullptr : &e->second;
}

uint64_t Tcp::id_of(const Connection& c) const {
  return ids_.at(&c);
}

const Connection* Tcp::find(const FourTuple& t) const {
  auto it = demux_.find(t);
  if (it == demux_.end()) return nullptr;
  return entries_.at(it->second).conn.get();
}

const TimeWaitRecord* Tcp::find_time_wait(const FourTuple& t) const {
  auto it = time_wait_.find(t);
  return it == time_wait_.end() ? nullptr : &it->second;
}

uint64_t Tcp::create_connection(const FourTuple& tuple, const ConnectionOptions& options) {
  const uint64_t id = next_id_++;
  Entry e;
  ConnectionHost& host = *this;
  e.conn = std::make_unique<Connection>(host, config_, counters_, tuple, options, our_mss());
  ids_[e.conn.get()] = id;
  e.in_demux = true;
  entries_.emplace(id, std::move(e));
  demux_[tuple] = id;
  return id;
}

// ---- segment arrival ----

void Tcp::on_datagram(const InboundDatagram& d, Instant now) {
  now_ = now;
  auto view = wire::TcpReader::check(d.ip.payload());
  if (!view) {
    counters_.drop(view.error() == wire::WireError::truncated ? DropReason::tcp_truncated
                                                              : DropReason::tcp_bad_header_length);
    return;
  }
  auto repr = TcpRepr::parse(*view, d.repr.src, d.repr.dst);
  if (!repr) {
    counters_.drop(repr.error() == wire::WireError::bad_checksum ? DropReason::tcp_bad_checksum
                                                                 : DropReason::tcp_bad_option);
    return;
  }
  // RFC 1122 4.2.3.10: TCP segments to a broadcast or multicast address are discarded.
  if (d.to_broadcast || d.link_broadcast || repr->src_port == 0 || repr->dst_port == 0) {
    counters_.drop(DropReason::tcp_bad_port);
    return;
  }
  counters_.count(Event::tcp_segments_received);
  const Segment seg{*repr, static_cast<uint8_t>(d.repr.tos & 0x3)};
  const FourTuple tuple{d.repr.dst, repr->dst_port, d.repr.src, repr->src_port};

  if (auto it = demux_.find(tuple); it != demux_.end()) {
    const uint64_t id = it->second;
    entries_.at(id).conn->on_segment(seg, now);
    touched_.push_back(id);
    finish(now);
    return;
  }
  if (auto it = time_wait_.find(tuple); it != time_wait_.end()) {
    on_time_wait_segment(tuple, it->second, seg, now);
    finish(now);
    return;
  }
  if (auto it = listeners_.find(repr->dst_port); it != listeners_.end()) {
    TcpSocket& ls = sockets_.at(it->second);
    on_listen_segment(*ls.listener, it->second, seg, tuple, now);
    finish(now);
    return;
  }
  // RFC 9293 3.10.7.1, CLOSED: "An incoming segment containing a RST is discarded. An
  // incoming segment not containing a RST causes a RST to be sent in response."
  counters_.drop(DropReason::tcp_no_socket);
  if (!seg.tcp.flags.has(TcpFlag::rst)) send_reset_for(tuple, seg);
}

void Tcp::send_reset_for(const FourTuple& tuple, const Segment& seg) {
  TcpRepr r;
  if (seg.tcp.flags.has(TcpFlag::ack)) {
    // "If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>"
    r.seq = seg.tcp.ack;
    r.flags = TcpFlag::rst;
  } else {
    // "If the ACK bit is off, sequence number zero is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
    // <CTL=RST,ACK>"
    r.seq = 0;
    r.ack = (seg.seq() + seg.len()).raw();
    r.flags = TcpFlag::rst | TcpFlag::ack;
  }
  counters_.count(Event::tcp_resets_sent);
  send_raw(tuple, r);
}

void Tcp::send_raw(const FourTuple& tuple, const TcpRepr& segment) {
  TcpRepr r = segment;
  r.src_port = tuple.local_port;
  r.dst_port = tuple.remote_port;
  scratch_.reset();
  r.emit(scratch_.append(r.buffer_len()), tuple.local_ip, tuple.remote_ip);
  Ipv4SendOptions opts;
  opts.dont_fragment = true;  // RFC 1191 path MTU discovery
  ipv4_.send(scratch_, tuple.remote_ip, static_cast<uint8_t>(wire::IpProtocol::tcp), opts, now_);
  counters_.count(Event::tcp_segments_sent);
}

void Tcp::on_listen_segment(Listener& l, int listener_socket, const Segment& seg,
                            const FourTuple& tuple, Instant now) {
  const auto& f = seg.tcp.flags;
  // RFC 9293 3.10.7.2, LISTEN: "first check for a RST: An incoming RST should be ignored."
  if (f.has(TcpFlag::rst)) {
    counters_.drop(DropReason::tcp_listener_bad_segment);
    return;
  }
  const bool accept_full = l.accept_queue.size() > l.backlog;
  // "second check for an ACK: Any acknowledgment is bad if it arrives on a connection still
  // in the LISTEN state. An acceptable reset segment should be formed ... <SEQ=SEG.ACK>
  // <CTL=RST>" — unless it completes a handshake we answered with a SYN cookie (RFC 4987).
  if (f.has(TcpFlag::ack)) {
    if (config_.syn_cookies && !f.has(TcpFlag::syn)) {
      auto mss = cookies_.check_ack(tuple, seg.seq() - 1, seg.ack() - 1, now);
      if (mss) {
        if (accept_full) {
          counters_.drop(DropReason::tcp_accept_queue_full);
          return;
        }
        SynCookieOptions o;
        o.mss = *mss;
        if (seg.tcp.options.timestamps)
          o = SynCookies::decode_tsecr(seg.tcp.options.timestamps->tsecr, *mss);
        const ConnectionOptions& opts = sockets_.at(listener_socket).options;
        const uint64_t id = create_connection(tuple, opts);
        Entry& e = entries_.at(id);
        e.listener = &l;
        counters_.count(Event::tcp_syn_cookies_validated);
        e.conn->open_from_cookie(seg, seg.ack() - 1, o.mss, o.window_scale, o.sack_permitted, o.ecn,
                                 now);
        touched_.push_back(id);
        return;
      }
    }
    counters_.drop(DropReason::tcp_bad_syn_cookie);
    send_reset_for(tuple, seg);
    return;
  }
  if (!f.has(TcpFlag::syn)) {
    counters_.drop(DropReason::tcp_listener_bad_segment);
    return;
  }
  if (accept_full) {
    counters_.drop(DropReason::tcp_accept_queue_full);
    return;
  }
  if (l.syn_queue >= config_.max_syn_backlog) {
    if (!config_.syn_cookies) {
      counters_.drop(DropReason::tcp_syn_queue_full);
      return;
    }
    // SYN cookie: answer without keeping any state. Window scale, SACK and ECN survive only
    // in the timestamp (RFC 4987 3.6), so without timestamps the SYN-ACK offers none.
    const auto& po = seg.tcp.options;
    const uint16_t peer_mss = po.mss.value_or(536);
    TcpRepr r;
    r.seq = cookies_.make_isn(tuple, seg.seq(), peer_mss, now).raw();
    r.ack = (seg.seq() + 1).raw();
    r.flags = TcpFlag::syn | TcpFlag::ack;
    r.window = static_cast<uint16_t>(std::min<uint32_t>(config_.receive_buffer, 65535));
    r.options.mss = our_mss();
    if (po.timestamps && config_.timestamps) {
      SynCookieOptions o;
      o.mss = peer_mss;
      o.sack_permitted = po.sack_permitted && config_.sack;
      if (po.window_scale && config_.window_scaling) o.window_scale = po.window_scale;
      o.ecn = f.has(TcpFlag::ece) && f.has(TcpFlag::cwr);
      // The connection the cookie becomes sends TSval = its clock + its per-tuple offset
      // (connection.cpp); the SYN-ACK must be on that clock too, or the peer's PAWS check
      // (RFC 7323 5.3) drops every later segment whose TSval looks older than this one.
      const uint32_t clock = tcp_timestamp(now, static_cast<uint32_t>(FourTupleHash{}(tuple)));
      r.options.timestamps =
          wire::TcpTimestamps{SynCookies::encode_tsval(clock, o), po.timestamps->tsval};
      r.options.sack_permitted = o.sack_permitted;
      if (o.window_scale) {
        uint8_t ws = 0;
        while (ws < 14 && (uint64_t{65535} << ws) < config_.receive_buffer) ++ws;
        r.options.window_scale = ws;
      }
      if (o.ecn) r.flags |= TcpFlag::ece;
    }
    counters_.count(Event::tcp_syn_cookies_sent);
    send_raw(tuple, r);
    return;
  }
  const ConnectionOptions& opts = sockets_.at(listener_socket).options;
  const uint64_t id = create_connection(tuple, opts);
  Entry& e = entries_.at(id);
  e.listener = &l;
  e.in_syn_queue = true;
  ++l.syn_queue;
  e.conn->open_passive(seg, isn_.next(tuple, now), now);
  touched_.push_back(id);
}

void Tcp::on_time_wait_segment(const FourTuple& tuple, TimeWaitRecord& tw, const Segment& seg,
                               Instant now) {
  const auto& f = seg.tcp.flags;
  // RFC 1337 ("TIME-WAIT Assassination Hazards"): ignore RST segments in TIME-WAIT, so an old
  // duplicate RST cannot end the wait early.
  if (f.has(TcpFlag::rst)) {
    counters_.drop(DropReason::tcp_time_wait_rst);
    return;
  }
  auto ack = [&] {
    TcpRepr r;
    r.seq = tw.snd_nxt.raw();
    r.ack = tw.rcv_nxt.raw();
    r.flags = TcpFlag::ack;
    if (tw.timestamps) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
      r.options.timestamps =
          wire::TcpTimestamps{static_cast<uint32_t>(ms.count()) + tw.ts_offset, tw.ts_recent};
    }
    send_raw(tuple, r);
  };
  if (f.has(TcpFlag::syn) && !f.has(TcpFlag::ack)) {
    // RFC 6191: a new SYN may reuse the pair if it cannot be mistaken for the old
    // connection: its timestamp is newer, or (without timestamps) its sequence number lies
    // beyond the old connection's.
    const auto& ts = seg.tcp.options.timestamps;
    const bool newer = (tw.timestamps && ts) ? static_cast<int32_t>(ts->tsval - tw.ts_recent) > 0
                                             : seg.seq() > tw.rcv_nxt;
    auto l = listeners_.find(tuple.local_port);
    if (newer && l != listeners_.end()) {
      counters_.count(Event::tcp_time_wait_reused);
      wheel_.cancel(tw.timer);
      time_wait_ids_.erase(tw.timer_cookie);
      time_wait_.erase(tuple);  // `tw` is gone from here on
      counters_.tcp_connection_left(TcpState::time_wait);
      TcpSocket& ls = sockets_.at(l->second);
      on_listen_segment(*ls.listener, l->second, seg, tuple, now);
      return;
    }
    ack();
    return;
  }
  if (f.has(TcpFlag::fin)) {
    // RFC 9293 3.10.7.4, TIME-WAIT: "Remain in the TIME-WAIT state. Acknowledge it, and
    // restart the 2 MSL timeout."
    ack();
    wheel_.cancel(tw.timer);
    tw.expires = now + 2 * config_.msl;
    tw.timer = wheel_.schedule(tw.expires, tw.timer_cookie);
    return;
  }
  if (seg.len() > 0) ack();
}

void Tcp::on_icmp_error(const IcmpErrorReport& report, Instant now) {
  now_ = now;
  if (report.quoted_transport.size() < 8) return;
  const uint16_t src_port = wire::load_be16(report.quoted_transport, 0);
  const uint16_t dst_port = wire::load_be16(report.quoted_transport, 2);
  const FourTuple tuple{report.quoted_src, src_port, report.quoted_dst, dst_port};
  auto it = demux_.find(tuple);
  if (it == demux_.end()) return;
  const SeqNum quoted_seq(wire::load_be32(report.quoted_transport, 4));
  entries_.at(it->second)
      .conn->on_icmp_error(report.type, report.code,
                           static_cast<uint16_t>(report.rest_of_header & 0xffff), quoted_seq, now);
  touched_.push_back(it->second);
  finish(now);
}

// ---- timers and bookkeeping ----

void Tcp::poll(Instant now) {
  now_ = now;
  wheel_.advance(now, [&](uint64_t cookie) {
    if (cookie & kTimeWaitCookie) {
      auto it = time_wait_ids_.find(cookie);
      if (it == time_wait_ids_.end()) return;
      if (time_wait_.erase(it->second) > 0) counters_.tcp_connection_left(TcpState::time_wait);
      time_wait_ids_.erase(it);
      return;
    }
    auto e = entries_.find(cookie);
    if (e == entries_.end()) return;
    e->second.armed.reset();
    e->second.timer = {};
    e->second.conn->on_timer(now);
    touched_.push_back(cookie);
  });
  finish(now);
}

void Tcp::rearm(uint64_t id, Instant now) {
  (void)now;
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  // Everything that touches a connection passes here: the one place its socket's readiness
  // change is reported.
  if (e.tag >= 0 && observer_ != nullptr) observer_->readiness_changed(e.tag);
  const auto deadline = e.conn->next_deadline();
  if (deadline == e.armed && (!deadline || wheel_.pending(e.timer))) return;
  if (e.armed) wheel_.cancel(e.timer);
  e.armed = deadline;
  if (deadline) e.timer = wheel_.schedule(*deadline, id);
}

void Tcp::finish(Instant now) {
  for (size_t i = 0; i < touched_.size(); ++i) rearm(touched_[i], now);
  touched_.clear();
  for (uint64_t id : dead_) destroy(id);
  dead_.clear();
}

void Tcp::destroy(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (e.armed) wheel_.cancel(e.timer);
  if (e.in_demux) {
    auto d = demux_.find(e.conn->tuple());
    if (d != demux_.end() && d->second == id) demux_.erase(d);
  }
  ids_.erase(e.conn.get());
  entries_.erase(it);
}

// ---- ConnectionHost ----

void Tcp::transmit(const Connection& c, const TcpRepr& segment, bool ect) {
  TcpRepr r = segment;
  const FourTuple& t = c.tuple();
  r.src_port = t.local_port;
  r.dst_port = t.remote_port;
  scratch_.reset();
  r.emit(scratch_.append(r.buffer_len()), t.local_ip, t.remote_ip);
  Ipv4SendOptions opts;
  opts.dont_fragment = true;
  opts.tos = ect ? 0x02 : 0;  // ECT(0)
  ipv4_.send(scratch_, t.remote_ip, static_cast<uint8_t>(wire::IpProtocol::tcp), opts, now_);
  counters_.count(Event::tcp_segments_sent);
}

bool Tcp::admit(Connection& c) {
  Entry* e = entry_of(c);
  if (e == nullptr || e->listener == nullptr) return false;
  return e->listener->accept_queue.size() <= e->listener->backlog;
}

void Tcp::on_established(Connection& c) {
  Entry* e = entry_of(c);
  if (e == nullptr || e->listener == nullptr) return;
  if (e->in_syn_queue) {
    --e->listener->syn_queue;
    e->in_syn_queue = false;
  }
  e->listener->accept_queue.push_back(id_of(c));
  ++e->listener->enqueued;
  if (e->listener->tag >= 0 && observer_ != nullptr) observer_->readiness_changed(e->listener->tag);
}

void Tcp::on_time_wait(Connection& c) {
  Entry* e = entry_of(c);
  if (e == nullptr) return;
  const uint64_t id = id_of(c);
  // The compact record answers for the pair from now on, or, with the table full, nothing:
  // the pair is forgotten at once, as Linux does beyond tcp_max_tw_buckets. A late
  // retransmitted FIN is then answered with a RST, and a delayed segment of this connection
  // could reach a new one on the same pair; bounded memory under a close flood is worth it.
  demux_.erase(c.tuple());
  e->in_demux = false;
  if (!e->socket_id) dead_.push_back(id);
  if (time_wait_.size() >= config_.max_time_wait && !time_wait_.contains(c.tuple())) {
    counters_.count(Event::tcp_time_wait_overflow);
    return;
  }
  TimeWaitRecord tw;
  tw.snd_nxt = c.snd_nxt();
  tw.rcv_nxt = c.rcv_nxt();
  tw.timestamps = c.timestamps_enabled();
  tw.ts_recent = c.ts_recent();
  tw.ts_offset = c.ts_now(Instant{});
  tw.expires = now_ + 2 * config_.msl;
  const uint64_t tw_id = next_id_++ | kTimeWaitCookie;
  tw.timer = wheel_.schedule(tw.expires, tw_id);
  tw.timer_cookie = tw_id;
  time_wait_ids_[tw_id] = c.tuple();
  if (time_wait_.insert_or_assign(c.tuple(), tw).second) {
    counters_.tcp_connection_entered(TcpState::time_wait);
  }
}

void Tcp::on_closed(Connection& c) {
  Entry* e = entry_of(c);
  if (e == nullptr) return;
  const uint64_t id = id_of(c);
  if (e->in_demux) {
    demux_.erase(c.tuple());
    e->in_demux = false;
  }
  if (e->listener != nullptr) {
    if (e->in_syn_queue) {
      --e->listener->syn_queue;
      e->in_syn_queue = false;
    }
    auto& q = e->listener->accept_queue;
    q.erase(std::remove(q.begin(), q.end(), id), q.end());
    e->listener = nullptr;
  }
  if (!e->socket_id) dead_.push_back(id);
}

// ---- sockets ----

TcpSocket* Tcp::socket(int id) {
  auto it = sockets_.find(id);
  return it == sockets_.end() ? nullptr : &it->second;
}

Connection* Tcp::connection_of(int id) {
  TcpSocket* s = socket(id);
  if (s == nullptr || !s->connection) return nullptr;
  auto it = entries_.find(*s->connection);
  return it == entries_.end() ? nullptr : it->second.conn.get();
}

int Tcp::open() {
  const int id = next_socket_id_++;
  TcpSocket s;
  s.options.send_buffer = config_.send_buffer;
  s.options.receive_buffer = config_.receive_buffer;
  s.options.keepalive_idle = config_.keepalive_idle;
  s.options.keepalive_interval = config_.keepalive_interval;
  s.options.keepalive_count = config_.keepalive_count;
  sockets_.emplace(id, std::move(s));
  return id;
}

bool Tcp::port_in_use(uint16_t port, const TcpSocket* except) const {
  for (const auto& [id, s] : sockets_) {
    if (&s == except || !s.bound || s.local_port != port) continue;
    if (s.listener || !(except && except->reuse_address && s.reuse_address)) return true;
  }
  return false;
}

// Every bound socket holds its port in ports_, so a port the table offers is one that
// port_in_use(p, nullptr) would call free: no scan over the sockets.
int Tcp::allocate_ephemeral_port(uint16_t* port) {
  const auto p = ports_.allocate_any();
  if (!p) return -EADDRNOTAVAIL;
  *port = *p;
  return 0;
}

int Tcp::allocate_port_for(TcpEndpoint remote, uint16_t* port) {
  const Ipv4Address local = stack_config_.address.address;
  // A port offered again while its last connection to this very remote is still open or in
  // TIME-WAIT would give connect() a taken tuple: skip it for the next one of its class.
  const auto tuple_free = [&](uint16_t p) {
    const FourTuple t{local, p, remote.address, remote.port};
    return !demux_.contains(t) && !time_wait_.contains(t);
  };
  const auto p = ports_.allocate_for(local, remote.address, remote.port, tuple_free);
  if (!p) return -EADDRNOTAVAIL;
  *port = *p;
  return 0;
}

int Tcp::bind(int id, TcpEndpoint local) {
  TcpSocket* s = socket(id);
  if (s == nullptr) return -EBADF;
  if (s->bound || s->connection) return -EINVAL;
  if (!local.address.is_unspecified() && local.address != stack_config_.address.address)
    return -EADDRNOTAVAIL;
  uint16_t port = local.port;
  if (port == 0) {
    if (int rc = allocate_ephemeral_port(&port); rc < 0) return rc;
  } else if (port_in_use(port, s)) {
    return -EADDRINUSE;
  } else {
    ports_.acquire(port);
  }
  s->bound = true;
  s->local_address = local.address;
  s->local_port = port;
  return 0;
}

int Tcp::listen(int id, int backlog) {
  TcpSocket* s = socket(id);
  if (s == nullptr) return -EBADF;
  if (s->connection) return -EINVAL;
  if (!s->bound) {
    if (int rc = bind(id, {}); rc < 0) return rc;
  }
  // Like Linux, a negative or huge backlog is clamped rather than refused.
  const uint32_t b =
      backlog < 0 ? kSomaxconn : std::min<uint32_t>(static_cast<uint32_t>(backlog), kSomaxconn);
  if (!s->listener) {
    auto it = listeners_.find(s->local_port);
    if (it != listeners_.end()) return -EADDRINUSE;
    s->listener = std::make_unique<Listener>();
    s->listener->address = s->local_address;
    s->listener->port = s->local_port;
    s->listener->tag = s->tag;
    listeners_[s->local_port] = id;
  }
  s->listener->backlog = b;
  return 0;
}

int Tcp::accept(int id, TcpEndpoint* peer, Instant now) {
  now_ = now;
  TcpSocket* s = socket(id);
  if (s == nullptr) return -EBADF;
  if (!s->listener) return -EINVAL;
  auto& q = s->listener->accept_queue;
  if (q.empty()) return -EAGAIN;
  const uint64_t conn_id = q.front();
  q.pop_front();
  Entry& e = entries_.at(conn_id);
  e.listener = nullptr;
  const int new_id = next_socket_id_++;
  TcpSocket ns;
  ns.options = sockets_.at(id).options;
  ns.reuse_address = sockets_.at(id).reuse_address;
  ns.bound = true;
  ns.local_address = e.conn->tuple().local_ip;
  ns.local_port = e.conn->tuple().local_port;
  ns.connection = conn_id;
  ports_.acquire(ns.local_port);
  e.socket_id = new_id;
  if (peer != nullptr) *peer = {e.conn->tuple().remote_ip, e.conn->tuple().remote_port};
  sockets_.emplace(new_id, std::move(ns));
  counters_.count(Event::tcp_accepted);
  return new_id;
}

int Tcp::connect(int id, TcpEndpoint remote, Instant now) {
  now_ = now;
  TcpSocket* s = socket(id);
  if (s == nullptr) return -EBADF;
  if (s->listener) return -EISCONN;
  if (s->connection) {
    Connection* c = connection_of(id);
    if (c == nullptr) return -EISCONN;
    switch (c->state()) {
      case TcpState::syn_sent:
      case TcpState::syn_received:
        return -EALREADY;
      case TcpState::closed: {
        if (int err = c->take_error(); err != 0) return -err;
        // The attempt failed and its error was reported. Like Linux, this call answers
        // ECONNABORTED and frees the socket, so the next connect() starts over.
        const uint64_t old = *s->connection;
        s->connection.reset();
        entries_.at(old).socket_id.reset();
        entries_.at(old).tag = -1;
        dead_.push_back(old);
        finish(now);
        return -ECONNABORTED;
      }
      default:
        return -EISCONN;
    }
  }
  if (remote.address.is_unspecified() || remote.port == 0) return -EINVAL;
  if (remote.address.is_multicast() || ipv4_.is_our_broadcast(remote.address)) return -ENETUNREACH;
  if (!stack_config_.address.contains(remote.address) && !stack_config_.gateway)
    return -ENETUNREACH;
  if (s->bound && s->port_from_connect) {
    // An earlier attempt chose this port for its remote; this one chooses for its own.
    ports_.release(s->local_port);
    s->bound = false;
    s->port_from_connect = false;
    s->local_port = 0;
  }
  if (!s->bound) {
    uint16_t port = 0;
    if (int rc = allocate_port_for(remote, &port); rc < 0) return rc;
    s->bound = true;
    s->port_from_connect = true;
    s->local_port = port;
  }
  const FourTuple tuple{stack_config_.address.address, s->local_port, remote.address, remote.port};
  if (demux_.contains(tuple) || time_wait_.contains(tuple)) return -EADDRNOTAVAIL;
  const uint64_t conn_id = create_connection(tuple, s->options);
  s->connection = conn_id;
  Entry& e = entries_.at(conn_id);
  e.socket_id = id;
  e.tag = s->tag;
  e.conn->open_active(isn_.next(tuple, now), now);
  touched_.push_back(conn_id);
  finish(now);
  return -EINPROGRESS;
}

long Tcp::send(int id, wire::Bytes data, Instant now) {
  now_ = now;
  TcpSocket* s = socket(id);
  if (s == nullptr) return -EBADF;
  Connection* c = connection_of(id);
  if (c == nullptr) return -ENOTCONN;
  const long rc = c->send(data, now);
  touched_.push_back(*s->connection);
  finish(now);
  return rc;
}

long Tcp::receive(int id, wire::MutableBytes out, bool peek, Instant now) {
  now_ = now;
  TcpSocket* s = socket(id);
  if (s == nullptr) return -EBADF;
  if (s->listener) return -ENOTCONN;
  Connection* c = connection_of(id);
  if (c == nullptr) return -ENOTCONN;
  const long rc = c->receive(out, peek, now);
  touched_.push_back(*s->connection);
  finish(now);
  return rc;
}

int Tcp::shutdown(int id, int how, Instant now) {
  now_ = now;
  TcpSocket* s = socket(id);
  if (s == nullptr) return -EBADF;
  if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) return -EINVAL;
  Connection* c = connection_of(id);
  if (c == nullptr) return -ENOTCONN;
  if (how == SHUT_RD || how == SHUT_RDWR) c->shutdown_read();
  int rc = 0;
  if (how == SHUT_WR || how == SHUT_RDWR) rc = c->shutdown_write(now);
  touched_.push_back(*s->connection);
  finish(now);
  return rc;
}

void Tcp::drop_listener_connections(Listener& l, Instant now) {
  // Connections that completed their handshake but were never accepted are reset, as Linux
  // does when a listening socket is closed; half-open ones too.
  std::vector<uint64_t> victims;
  for (auto& [id, e] : entries_) {
    if (e.listener == &l) victims.push_back(id);
  }
  for (uint64_t id : victims) {
    Entry& e = entries_.at(id);
    e.listener = nullptr;
    e.in_syn_queue = false;
    e.conn->abort(now);
  }
  l.accept_queue.clear();
  l.syn_queue = 0;
}

int Tcp::close(int id, Instant now) {
  now_ = now;
  auto it = sockets_.find(id);
  if (it == sockets_.end()) return -EBADF;
  TcpSocket& s = it->second;
  if (s.listener) {
    drop_listener_connections(*s.listener, now);
    listeners_.erase(s.local_port);
  }
  if (s.bound) ports_.release(s.local_port);
  if (s.connection) {
    auto e = entries_.find(*s.connection);
    if (e != entries_.end()) {
      e->second.socket_id.reset();
      e->second.tag = -1;
      Connection& c = *e->second.conn;
      c.close(now);
      if (c.state() == TcpState::closed || c.state() == TcpState::time_wait) {
        dead_.push_back(e->first);
      } else {
        touched_.push_back(e->first);
      }
    }
  }
  sockets_.erase(it);
  finish(now);
  return 0;
}

int Tcp::local_endpoint(int id, TcpEndpoint* out) const {
  auto it = sockets_.find(id);
  if (it == sockets_.end()) return -EBADF;
  *out = {it->second.local_address, it->second.local_port};
  if (it->second.connection) out->address = stack_config_.address.address;
  return 0;
}

int Tcp::peer_endpoint(int id, TcpEndpoint* out) const {
  auto it = sockets_.find(id);
  if (it == sockets_.end()) return -EBADF;
  if (!it->second.connection) return -ENOTCONN;
  auto e = entries_.find(*it->second.connection);
  if (e == entries_.end()) return -ENOTCONN;
  const TcpState st = e->second.conn->state();
  if (st == TcpState::syn_sent || st == TcpState::closed) return -ENOTCONN;
  *out = {e->second.conn->tuple().remote_ip, e->second.conn->tuple().remote_port};
  return 0;
}

int Tcp::take_error(int id) {
  Connection* c = connection_of(id);
  return c == nullptr ? 0 : c->take_error();
}

uint32_t Tcp::poll_events(int id) const {
  auto it = sockets_.find(id);
  if (it == sockets_.end()) return 0;
  const TcpSocket& s = it->second;
  if (s.listener) return s.listener->accept_queue.empty() ? 0u : uint32_t{EPOLLIN};
  if (!s.connection) return EPOLLOUT | EPOLLHUP;  // as Linux reports an unconnected socket
  auto e = entries_.find(*s.connection);
  if (e == entries_.end()) return EPOLLHUP;
  const Connection& c = *e->second.conn;
  uint32_t ev = 0;
  if (c.readable()) ev |= EPOLLIN;
  if (c.writable()) ev |= EPOLLOUT;
  if (c.peer_shut_down()) ev |= EPOLLRDHUP;
  if (c.hung_up()) ev |= EPOLLHUP;
  if (c.pending_error() != 0) ev |= EPOLLERR;
  return ev;
}

uint64_t Tcp::event_signature(int id) const {
  auto it = sockets_.find(id);
  if (it == sockets_.end()) return 0;
  const TcpSocket& s = it->second;
  if (s.listener) return s.listener->enqueued;
  if (!s.connection) return 0;
  auto e = entries_.find(*s.connection);
  return e == entries_.end() ? 1 : e->second.conn->event_signature();
}

void Tcp::set_tag(int id, int tag) {
  TcpSocket* s = socket(id);
  if (s == nullptr) return;
  s->tag = tag;
  if (s->listener) s->listener->tag = tag;
  if (s->connection) {
    if (auto e = entries_.find(*s->connection); e != entries_.end()) e->second.tag = tag;
  }
}

void Tcp::apply_options(int id, Instant now) {
  now_ = now;
  TcpSocket* s = socket(id);
  if (s == nullptr || !s->connection) return;
  auto e = entries_.find(*s->connection);
  if (e == entries_.end()) return;
  e->second.conn->set_options(s->options, now);
  touched_.push_back(e->first);
  finish(now);
}

}  // namespace flowgate::tcp
