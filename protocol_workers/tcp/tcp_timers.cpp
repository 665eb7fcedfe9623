// Timers: retransmission (RFC 6298), persist (RFC 9293 3.8.6.1), delayed ACK (RFC 1122
// 4.2.3.2), keepalive (RFC 1122 4.2.3.6), and the orphaned FIN-WAIT-2 limit.
#include <algorithm>
#include <cerrno>

#include "tcp/connection.hpp"

namespace flowgate::tcp {

namespace {

// Linux's tcp_retries2: consecutive timeouts on an established connection before giving up
// (about 15 minutes with exponential backoff).
constexpr uint32_t kMaxDataRetransmissions = 15;

void consider(std::optional<Instant>& next, const std::optional<Instant>& t) {
  if (t && (!next || *t < *next)) next = t;
}

}  // namespace

std::optional<Instant> Connection::next_deadline() const {
  std::optional<Instant> next;
  consider(next, rtx_deadline_);
  consider(next, persist_deadline_);
  consider(next, delack_deadline_);
  consider(next, keepalive_deadline_);
  consider(next, orphan_deadline_);
  return next;
}

void Connection::on_timer(Instant now) {
  if (delack_deadline_ && now >= *delack_deadline_) {
    delack_deadline_.reset();
    counters_.count(Event::tcp_delayed_acks);
    send_ack(now);
  }
  if (rtx_deadline_ && now >= *rtx_deadline_) on_retransmit_timeout(now);
  if (state_ == TcpState::closed || state_ == TcpState::time_wait) return;
  if (persist_deadline_ && now >= *persist_deadline_) on_persist_timeout(now);
  if (keepalive_deadline_ && now >= *keepalive_deadline_) on_keepalive_timeout(now);
  if (state_ == TcpState::closed) return;
  if (orphan_deadline_ && now >= *orphan_deadline_) {
    // close() was called and the peer never sent its FIN: like Linux's tcp_fin_timeout, stop
    // waiting rather than keep the connection forever.
    orphan_deadline_.reset();
    to_closed(0);
  }
}

void Connection::on_retransmit_timeout(Instant now) {
  rtx_deadline_.reset();
  counters_.count(Event::tcp_timeouts);
  ++rtx_timeouts_;
  switch (state_) {
    case TcpState::syn_sent:
      if (rtx_timeouts_ > config_.syn_retries) {
        to_closed(ETIMEDOUT);
        return;
      }
      rto_.on_timeout();
      send_syn(now);
      return;
    case TcpState::syn_received:
      if (rtx_timeouts_ > config_.synack_retries) {
        to_closed(passive_ ? 0 : ETIMEDOUT);
        return;
      }
      rto_.on_timeout();
      send_syn(now);
      return;
    default:
      break;
  }
  if (snd_.max == snd_.una) return;  // nothing outstanding any more
  if (snd_.wnd == 0) {
    // The peer shrank its window to zero with our data outstanding. Our retransmissions
    // become window probes; RFC 1122 4.2.2.17: the connection stays open as long as the peer
    // keeps answering them, so answered timeouts do not count towards giving up.
    if (heard_since_timeout_ && rtx_timeouts_ > 0) --rtx_timeouts_;
    heard_since_timeout_ = false;
    if (rtx_timeouts_ > kMaxDataRetransmissions) {
      to_closed(ETIMEDOUT);
      return;
    }
    rto_.on_timeout();
    counters_.count(Event::tcp_zero_window_probes);
    zero_window_rtx_ = true;
    retransmit_first(now);
    return;
  }
  heard_since_timeout_ = false;
  if (rtx_timeouts_ > kMaxDataRetransmissions) {
    to_closed(ETIMEDOUT);
    return;
  }
  // RFC 6298 5.5: back off the timer; RFC 5681 3.1 eq. 4 and cwnd = 1 SMSS (the congestion
  // controller); RFC 6582 4: recover = highest sequence sent, leave fast recovery.
  rto_.on_timeout();
  if (cc_) cc_->on_retransmit_timeout(now, flight_size());
  in_recovery_ = false;
  dupacks_ = 0;
  recover_ = snd_.max;
  if (sack_ok_) scoreboard_.on_rto(snd_.max);  // RFC 2018 5 / RFC 6675 5.1
  rtt_probe_.reset();
  // Go back N: resend from SND.UNA as the (now one-segment) window allows; SND.MAX keeps
  // what had been sent, so ACKs for it stay acceptable.
  snd_.nxt = snd_.una;
  output(now);
  restart_retransmit_timer(now);
}

void Connection::on_persist_timeout(Instant now) {
  persist_deadline_.reset();
  if (snd_.wnd > 0) {
    force_send_ = true;
    output(now);
    force_send_ = false;
    return;
  }
  counters_.count(Event::tcp_zero_window_probes);
  send_probe(now);
  // Back off like the retransmission timer, up to persist_max; RFC 1122 4.2.2.17: probing
  // goes on as long as the peer answers (the connection is never dropped for a closed window).
  ++persist_backoff_;
  const auto base = rto_.rto();
  Duration interval = base * (1LL << std::min<uint32_t>(persist_backoff_, 16));
  interval = std::min(interval, config_.persist_max);
  persist_deadline_ = now + interval;
}

void Connection::restart_keepalive(Instant now) {
  keepalive_probes_ = 0;
  if (options_.keepalive && (state_ == TcpState::established || state_ == TcpState::close_wait)) {
    keepalive_deadline_ = now + options_.keepalive_idle;
  } else {
    keepalive_deadline_.reset();
  }
}

void Connection::on_keepalive_timeout(Instant now) {
  keepalive_deadline_.reset();
  if (!options_.keepalive || (state_ != TcpState::established && state_ != TcpState::close_wait))
    return;
  if (keepalive_probes_ >= options_.keepalive_count) {
    counters_.count(Event::tcp_keepalive_timeouts);
    to_closed(ETIMEDOUT);
    return;
  }
  ++keepalive_probes_;
  counters_.count(Event::tcp_keepalive_probes);
  send_probe(now);
  keepalive_deadline_ = now + options_.keepalive_interval;
}

}  // namespace flowgate::tcp
