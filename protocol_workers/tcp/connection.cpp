// Opening, the socket calls, and closing.
#include "tcp/connection.hpp"

#include <algorithm>
#include <cerrno>

namespace flowgate::tcp {

using wire::TcpFlag;

namespace {

RtoConfig rto_config(const TcpConfig& c) {
  RtoConfig r;
  r.initial = c.rto_initial;
  r.min = c.rto_min;
  r.max = c.rto_max;
  return r;
}

}  // namespace

Connection::Connection(ConnectionHost& host, const TcpConfig& config, StackCounters& counters,
                       const FourTuple& tuple, const ConnectionOptions& options, uint16_t our_mss)
    : host_(host),
      config_(config),
      counters_(counters),
      tuple_(tuple),
      options_(options),
      our_mss_(our_mss),
      send_buffer_(options.send_buffer),
      receive_buffer_(options.receive_buffer),
      out_of_order_(config.ooo_memory_limit),
      rto_(rto_config(config)),
      challenge_limiter_(config.challenge_acks_per_second, config.challenge_acks_per_second) {
  // RFC 7323 5.4 / 7.1: the timestamp clock starts at a per-connection offset so TSval does
  // not reveal uptime; derive it from the tuple.
  ts_offset_ = static_cast<uint32_t>(FourTupleHash{}(tuple)&0xffffffffu);
  // Window scale we would use: the smallest shift that lets our buffer be advertised.
  while (rcv_wscale_ < 14 && (uint64_t{65535} << rcv_wscale_) < options.receive_buffer)
    ++rcv_wscale_;
}

namespace {

// Connections in the per-state gauge: CLOSED and LISTEN are not connections, and TIME-WAIT
// is counted by the Tcp layer's compact record, which replaces the connection there.
bool counted_by_connection(TcpState s) {
  return s != TcpState::closed && s != TcpState::listen && s != TcpState::time_wait;
}

}  // namespace

Connection::~Connection() {
  if (counted_by_connection(state_)) counters_.tcp_connection_left(state_);
}

void Connection::set_state(TcpState next) {
  if (counted_by_connection(state_)) counters_.tcp_connection_left(state_);
  state_ = next;
  if (counted_by_connection(next)) counters_.tcp_connection_entered(next);
}

void Connection::count_ending(Ending how) {
  // Exactly one ending per opened connection, so active + passive opens equal the endings
  // plus the connections still in the gauge (TIME-WAIT aside: it already counted as closed).
  if (!is_synchronized(state_)) {
    counters_.count(Event::tcp_connections_failed);
    return;
  }
  switch (how) {
    case Ending::orderly:
      counters_.count(Event::tcp_connections_closed);
      break;
    case Ending::reset:
      counters_.count(Event::tcp_connections_reset);
      break;
    case Ending::timed_out:
      counters_.count(Event::tcp_connections_timed_out);
      break;
  }
}

void Connection::record_rtt(Duration r) {
  if (r < Duration::zero()) return;  // the estimator ignores it too
  rto_.on_rtt_sample(r);
  rack_.note_rtt_sample();
  // Observed per sample, the moment SRTT changes: a connection weighs by the ACKs it gets,
  // as the traffic does, and one that lives for hours is seen all along (observing at the
  // close would hide it until then). A search and two stores, per ACK that gives a sample.
  if (const auto srtt = rto_.srtt()) counters_.srtt.observe(*srtt);
}

uint32_t Connection::ts_now(Instant now) const {
  return tcp_timestamp(now, ts_offset_);
}

void Connection::open_active(SeqNum iss, Instant now) {
  passive_ = false;
  snd_.iss = iss;
  snd_.una = iss;
  snd_.nxt = iss;
  snd_.max = iss;
  recover_ = iss;
  ecn_recover_ = iss;
  set_state(TcpState::syn_sent);
  counters_.count(Event::tcp_active_opens);
  send_syn(now);
}

void Connection::open_passive(const Segment& syn, SeqNum iss, Instant now) {
  passive_ = true;
  // RFC 9293 3.10.7.2 (LISTEN, third: SYN): "Set RCV.NXT to SEG.SEQ+1, IRS is set to
  // SEG.SEQ ... ISS should be selected and a SYN segment sent of the form
  // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>. SND.NXT is set to ISS+1 and SND.UNA to ISS. The
  // connection state should be changed to SYN-RECEIVED."
  rcv_.irs = syn.seq();
  rcv_.nxt = syn.seq() + 1;
  rcv_.adv = rcv_.nxt;
  snd_.iss = iss;
  snd_.una = iss;
  snd_.nxt = iss;
  snd_.max = iss;
  recover_ = iss;
  ecn_recover_ = iss;
  // The window in a SYN is never scaled (RFC 7323 2.2).
  snd_.wnd = syn.tcp.window;
  snd_.max_wnd = snd_.wnd;
  snd_.wl1 = syn.seq();
  snd_.wl2 = iss;
  apply_peer_syn_options(syn.tcp.options, false);
  // RFC 3168 6.1.1: a SYN with ECE and CWR asks for ECN; we agree in our SYN-ACK with ECE.
  ecn_ok_ = syn.tcp.flags.has(TcpFlag::ece) && syn.tcp.flags.has(TcpFlag::cwr);
  if (ts_ok_) ts_recent_ = syn.tcp.options.timestamps->tsval;
  set_state(TcpState::syn_received);
  counters_.count(Event::tcp_passive_opens);
  send_syn(now);
}

void Connection::open_from_cookie(const Segment& ack, SeqNum iss, uint16_t peer_mss,
                                  std::optional<uint8_t> peer_wscale, bool sack, bool ecn,
                                  Instant now) {
  passive_ = true;
  rcv_.irs = ack.seq() - 1;
  rcv_.nxt = ack.seq();
  // The cookie SYN-ACK advertised the (unscaled) window a SYN-ACK of ours always does.
  rcv_.adv = rcv_.nxt + static_cast<uint32_t>(std::min<size_t>(receive_buffer_.capacity(), 65535));
  snd_.iss = iss;
  snd_.una = iss + 1;
  snd_.nxt = iss + 1;
  snd_.max = iss + 1;
  recover_ = iss;
  ecn_recover_ = iss;
  wire::TcpOptions o;
  o.mss = peer_mss;
  o.window_scale = peer_wscale;
  o.sack_permitted = sack;
  o.timestamps = ack.tcp.options.timestamps;
  apply_peer_syn_options(o, false);
  ecn_ok_ = ecn;
  if (ts_ok_) ts_recent_ = ack.tcp.options.timestamps->tsval;
  snd_.wnd = uint32_t{ack.tcp.window} << snd_wscale_;
  snd_.max_wnd = snd_.wnd;
  snd_.wl1 = ack.seq();
  snd_.wl2 = ack.ack();
  set_state(TcpState::syn_received);
  counters_.count(Event::tcp_passive_opens);
  enter_established(now);
  // The cookie ACK may carry data (and even FIN): process it as any segment.
  if (!ack.tcp.payload.empty() || ack.tcp.flags.has(TcpFlag::fin)) {
    process_data(ack, now);
    process_fin(ack, now);
    output(now);
  }
}

void Connection::apply_peer_syn_options(const wire::TcpOptions& o, bool syn_ack) {
  (void)syn_ack;
  // RFC 9293 3.7.1: without an MSS option the peer takes 536.
  const uint32_t peer_mss = o.mss.value_or(536);
  // RFC 6691: the MSS excludes options; we subtract the timestamp option when it is used
  // on every segment so a full segment still fits the peer's MSS.
  smss_ = std::max<uint32_t>(std::min<uint32_t>(peer_mss, our_mss_), config_.min_mss);
  // RFC 7323 2.2: scaling is used only if both SYNs carried the option; shifts above 14 are
  // treated as 14 ("MUST use 14").
  if (config_.window_scaling && o.window_scale) {
    wscale_ok_ = true;
    snd_wscale_ = std::min<uint8_t>(*o.window_scale, 14);
  } else {
    wscale_ok_ = false;
    snd_wscale_ = 0;
    rcv_wscale_ = 0;
  }
  ts_ok_ = config_.timestamps && o.timestamps.has_value();
  if (ts_ok_) smss_ = std::max<uint32_t>(smss_ - 12, config_.min_mss);
  sack_ok_ = config_.sack && o.sack_permitted;
}

void Connection::enter_established(Instant now) {
  set_state(TcpState::established);
  counters_.count(Event::tcp_established);
  const bool handshake_lost = rtx_timeouts_ > 0;
  if (handshake_lost) rto_.on_established_after_syn_timeout();
  rtx_timeouts_ = 0;
  // RFC 5681 3.1 / RFC 6928: "if the SYN or SYN/ACK is lost, the initial window used by a
  // sender after a correctly transmitted SYN MUST be one segment".
  if (!cc_) {
    cc_ = make_congestion_control(
        config_.cubic ? CongestionAlgorithm::cubic : CongestionAlgorithm::newreno, smss_,
        handshake_lost ? smss_ : initial_window(smss_));
  }
  restart_keepalive(now);
  host_.on_established(*this);
}

long Connection::send(wire::Bytes data, Instant now) {
  switch (state_) {
    case TcpState::syn_sent:
    case TcpState::syn_received:
      return -EAGAIN;  // non-blocking: not connected yet (Linux answers the same)
    case TcpState::established:
    case TcpState::close_wait:
      break;
    case TcpState::closed:
      if (error_ != 0 && !error_reported_) return -take_error();
      return error_reported_ ? -EPIPE : -ENOTCONN;
    default:
      return -EPIPE;  // we already sent FIN
  }
  if (fin_queued_) return -EPIPE;
  if (data.empty()) return 0;
  const size_t n = send_buffer_.write(data);
  if (n == 0) return -EAGAIN;
  output(now);
  return static_cast<long>(n);
}

long Connection::receive(wire::MutableBytes out, bool peek, Instant now) {
  if (receive_buffer_.size() > 0) {
    const size_t n = receive_buffer_.read(out, peek);
    if (!peek) {
      bytes_read_ += n;
      maybe_window_update(now);
      release_buffers_if_idle();
    }
    return static_cast<long>(n);
  }
  if (error_ != 0) return -take_error();
  if (fin_received_ || read_shut_) return 0;  // end of stream
  switch (state_) {
    case TcpState::closed:
      return error_reported_ ? 0 : -ENOTCONN;
    default:
      return -EAGAIN;
  }
}

int Connection::shutdown_write(Instant now) {
  switch (state_) {
    case TcpState::syn_sent:
      to_closed(0, Ending::orderly);  // abandoned during the handshake: a failed attempt
      return 0;
    case TcpState::syn_received:
      // RFC 9293 3.10.4 CLOSE, SYN-RECEIVED: "If no SENDs have been issued and there is no
      // pending data to send, then form a FIN segment and send it, and enter FIN-WAIT-1
      // state; otherwise, queue for processing after entering ESTABLISHED state."
      fin_queued_ = true;
      set_state(TcpState::fin_wait_1);
      if (!cc_) {
        cc_ = make_congestion_control(
            config_.cubic ? CongestionAlgorithm::cubic : CongestionAlgorithm::newreno, smss_,
            initial_window(smss_));
      }
      if (send_buffer_.size() == 0) {
        send_segment(snd_.nxt, wire::TcpFlags(TcpFlag::fin), 0, 0, now);
        fin_sent_ = true;
        fin_seq_ = snd_.nxt;
        snd_.nxt += 1;
        snd_.max = seq_max(snd_.max, snd_.nxt);
        if (!rtx_deadline_) restart_retransmit_timer(now);
      }
      return 0;
    case TcpState::established:
      // RFC 9293 3.10.4 CLOSE: "Queue this until all preceding SENDs have been segmentized,
      // then form a FIN segment and send it. In any case, enter FIN-WAIT-1 state."
      fin_queued_ = true;
      set_state(TcpState::fin_wait_1);
      break;
    case TcpState::close_wait:
      fin_queued_ = true;
      set_state(TcpState::last_ack);
      break;
    case TcpState::closed:
      return -ENOTCONN;
    default:
      return 0;  // already closing
  }
  output(now);
  return 0;
}

void Connection::close(Instant now) {
  orphaned_ = true;
  if (state_ == TcpState::closed) return;
  const bool linger_zero = options_.linger && options_.linger->count() == 0;
  // RFC 2525 2.17 / RFC 9293 3.10.4: closing with unread data, or SO_LINGER with a zero
  // timeout, aborts with RST so the peer knows data was lost.
  if (receive_buffer_.size() > 0 || linger_zero) {
    abort(now);
    return;
  }
  if (state_ == TcpState::syn_sent) {
    to_closed(0, Ending::orderly);  // abandoned during the handshake: a failed attempt
    return;
  }
  shutdown_write(now);
  if (state_ == TcpState::fin_wait_2) orphan_deadline_ = now + 2 * config_.msl;
}

void Connection::abort(Instant now) {
  (void)now;
  // RFC 9293 3.10.5 ABORT: in SYN-RECEIVED, ESTABLISHED, FIN-WAIT-*, CLOSE-WAIT send
  // <SEQ=SND.NXT><CTL=RST>.
  switch (state_) {
    case TcpState::syn_received:
    case TcpState::established:
    case TcpState::fin_wait_1:
    case TcpState::fin_wait_2:
    case TcpState::close_wait:
      send_rst(snd_.max);
      break;
    default:
      break;
  }
  to_closed(0, Ending::reset);
}

void Connection::enter_time_wait(Instant now) {
  (void)now;
  count_ending(Ending::orderly);
  set_state(TcpState::time_wait);
  rtx_deadline_.reset();
  reo_deadline_.reset();
  pto_deadline_.reset();
  persist_deadline_.reset();
  delack_deadline_.reset();
  keepalive_deadline_.reset();
  orphan_deadline_.reset();
  counters_.count(Event::tcp_time_wait_entered);
  host_.on_time_wait(*this);
}

void Connection::to_closed(int error, Ending how) {
  if (state_ == TcpState::closed) return;
  const bool was_connecting =
      state_ == TcpState::syn_sent || (state_ == TcpState::syn_received && !passive_);
  if (was_connecting && error != 0) counters_.count(Event::tcp_connect_failed);
  // A connection in TIME-WAIT was counted when it entered it; this is only its TCB going.
  if (state_ != TcpState::time_wait) count_ending(how);
  set_state(TcpState::closed);
  if (error != 0) error_ = error;
  rtx_deadline_.reset();
  reo_deadline_.reset();
  pto_deadline_.reset();
  persist_deadline_.reset();
  delack_deadline_.reset();
  keepalive_deadline_.reset();
  orphan_deadline_.reset();
  send_buffer_.clear();
  out_of_order_.clear();
  scoreboard_.clear();
  rack_.clear();
  host_.on_closed(*this);
}

void Connection::release_buffers_if_idle() {
  send_buffer_.shrink_if_empty();
  receive_buffer_.shrink_if_empty();
  rack_.shrink_if_empty();
}

bool Connection::readable() const {
  return receive_buffer_.size() > 0 || fin_received_ || error_ != 0 || state_ == TcpState::closed;
}

bool Connection::writable() const {
  if (state_ == TcpState::established || state_ == TcpState::close_wait)
    return !fin_queued_ && send_buffer_.free_space() > 0;
  // Writing fails at once (EPIPE) in the other states past the handshake: report it.
  return state_ != TcpState::syn_sent && state_ != TcpState::syn_received;
}

bool Connection::hung_up() const {
  return state_ == TcpState::closed || (fin_received_ && fin_queued_);
}

ConnectionInfo Connection::info() const {
  ConnectionInfo i;
  i.state = state_;
  i.smss = smss_;
  i.rcv_mss = our_mss_;
  i.cwnd = cc_ ? effective_cwnd() : 0;
  i.ssthresh = cc_ ? cc_->ssthresh() : 0;
  i.srtt = rto_.srtt();
  i.rttvar = rto_.rttvar();
  i.rto = rto_.rto();
  i.retransmits = retransmits_;
  i.snd_wscale = snd_wscale_;
  i.rcv_wscale = rcv_wscale_;
  i.timestamps = ts_ok_;
  i.sack = sack_ok_;
  i.ecn = ecn_ok_;
  i.bytes_acked = bytes_acked_;
  const uint32_t in_flight =
      snd_.max - snd_.una > 0 ? static_cast<uint32_t>(snd_.max - snd_.una) : 0;
  i.bytes_in_flight = std::min<uint32_t>(in_flight, static_cast<uint32_t>(send_buffer_.size()));
  const uint32_t unsent = static_cast<uint32_t>(send_buffer_.size()) - i.bytes_in_flight;
  const uint32_t window = std::min(snd_.wnd, cc_ ? effective_cwnd() : snd_.wnd);
  const uint32_t room = window > in_flight ? window - in_flight : 0;
  i.bytes_sendable = std::min(unsent, room);
  i.bytes_not_sendable = unsent - i.bytes_sendable;
  i.snd_wnd = snd_.wnd;
  i.bytes_received = bytes_read_ + receive_buffer_.size();
  i.bytes_unread = static_cast<uint32_t>(receive_buffer_.size());
  i.rcv_wnd = rcv_.adv - rcv_.nxt > 0 ? static_cast<uint32_t>(rcv_.adv - rcv_.nxt) : 0;
  i.bytes_out_of_order = static_cast<uint32_t>(out_of_order_.held_bytes());
  return i;
}

}  // namespace flowgate::tcp
