// One TCP connection: the transmission control block of RFC 9293 section 3.3.1 and the
// processing of RFC 9293 section 3.10 for it.
//
// The connection is a pure core: segments and `now` come in (on_segment, on_timer and the
// socket calls), segments go out through ConnectionHost::transmit, and next_deadline() says
// when it next needs on_timer. It reads no clock and does no I/O.
//
// Split by concern: connection.cpp (opening, the socket calls, closing), tcp_input.cpp
// (segment arrival in RFC 9293's step order), tcp_output.cpp (what to send and building
// segments), tcp_timers.cpp (retransmission, persist, delayed ACK, keepalive).
//
// Loss detection and recovery, in one picture:
// - With SACK (and TcpConfig::rack_tlp), RFC 8985 RACK-TLP detects losses: every data
//   transmission is logged with its send time (tcp/rack.hpp); an ACK delivering a segment
//   marks lost what was sent before it and is overdue by RACK.rtt + reo_wnd, a reordering
//   timer covers what is not overdue yet, and a tail loss probe (PTO = 2*SRTT) makes the peer
//   reveal losses at the end of a flight before the RTO would. Marked segments are resent
//   by RFC 6675's pipe rule in fast recovery (entered once per window, RFC 5681 / RFC 6675
//   cwnd rules through the congestion controller) or in the RTO recovery that follows a
//   timeout (RFC 8985 6.3 marks the losses then instead of going back N).
// - Without SACK, RACK-TLP is not allowed (RFC 8985 section 4: "The connection MUST use
//   selective acknowledgment (SACK) options"): NewReno (RFC 6582) on three duplicate ACKs,
//   and the RTO going back N.
// - Either way, RFC 3042 limited transmit sends new data on the first two duplicate ACKs.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "stack/clock.hpp"
#include "stack/counters.hpp"
#include "stack/token_bucket.hpp"
#include "tcp/congestion.hpp"
#include "tcp/four_tuple.hpp"
#include "tcp/optional_instant.hpp"
#include "tcp/rack.hpp"
#include "tcp/receive_queue.hpp"
#include "tcp/rto.hpp"
#include "tcp/sack_scoreboard.hpp"
#include "tcp/send_buffer.hpp"
#include "tcp/seq.hpp"
#include "tcp/tcp_types.hpp"
#include "wire/tcp.hpp"

namespace flowgate::tcp {

class Connection;

// What a connection needs from the TCP layer that owns it.
class ConnectionHost {
 public:
  virtual ~ConnectionHost() = default;
  // Sends one segment of `c` (addresses and ports come from its tuple). The payload span is
  // borrowed for the call. `ect`: mark the IP header ECN-capable (RFC 3168).
  virtual void transmit(const Connection& c, const wire::TcpRepr& segment, bool ect) = 0;
  // A passive connection's handshake is about to complete: may it enter the accept queue?
  // (false: the listener's backlog is full; the ACK is dropped and the peer retries.)
  virtual bool admit(Connection& c) = 0;
  // The connection reached ESTABLISHED.
  virtual void on_established(Connection& c) = 0;
  // The connection entered TIME-WAIT (the host keeps a compact record) or CLOSED.
  virtual void on_time_wait(Connection& c) = 0;
  virtual void on_closed(Connection& c) = 0;
};

// Per-socket options that shape a connection (the TCP_* and SO_* options).
struct ConnectionOptions {
  // Widest first: 48 bytes, held by every socket and connection.
  Duration keepalive_idle{};
  Duration keepalive_interval{};
  std::optional<Duration> linger;  // SO_LINGER; zero: close() sends RST
  uint32_t keepalive_count = 0;
  uint32_t send_buffer = 0;
  uint32_t receive_buffer = 0;
  bool nodelay = false;    // TCP_NODELAY: no Nagle
  bool keepalive = false;  // SO_KEEPALIVE
};

// An arriving segment: the parsed header (payload borrowed) and what IP said about it.
struct Segment {
  wire::TcpRepr tcp;
  uint8_t ip_ecn = 0;  // the IP header's ECN field: 3 = CE, congestion experienced

  SeqNum seq() const { return SeqNum(tcp.seq); }
  SeqNum ack() const { return SeqNum(tcp.ack); }
  // SEG.LEN counts SYN and FIN (RFC 9293 3.4).
  uint32_t len() const {
    return static_cast<uint32_t>(tcp.payload.size()) + (tcp.flags.has(wire::TcpFlag::syn) ? 1 : 0) +
           (tcp.flags.has(wire::TcpFlag::fin) ? 1 : 0);
  }
};

// The per-connection view of TCP_INFO: state, timing and the window zones of the lecture's
// send/receive buffer pictures.
struct ConnectionInfo {
  TcpState state = TcpState::closed;
  uint32_t smss = 0;
  uint32_t rcv_mss = 0;
  uint32_t cwnd = 0;
  uint32_t ssthresh = 0;
  std::optional<Duration> srtt;
  Duration rttvar{};
  Duration rto{};
  uint32_t retransmits = 0;  // segments retransmitted on this connection
  uint8_t snd_wscale = 0;
  uint8_t rcv_wscale = 0;
  bool timestamps = false;
  bool sack = false;
  bool ecn = false;
  // Send side, in bytes: [ISS+1, SND.UNA) sent and acknowledged; [SND.UNA, SND.NXT) sent, not
  // yet acknowledged; then buffered bytes the windows allow us to send now; then buffered
  // bytes beyond the windows ("not yet sendable").
  uint64_t bytes_acked = 0;
  uint32_t bytes_in_flight = 0;
  uint32_t bytes_sendable = 0;
  uint32_t bytes_not_sendable = 0;
  uint32_t snd_wnd = 0;
  // Receive side: bytes received in order and read by the application; received in order
  // but not read; the window still open to the peer; out-of-order bytes held beyond a hole.
  uint64_t bytes_received = 0;
  uint32_t bytes_unread = 0;
  uint32_t rcv_wnd = 0;
  uint32_t bytes_out_of_order = 0;
};

class Connection {
 public:
  Connection(ConnectionHost& host, const TcpConfig& config, StackCounters& counters,
             const FourTuple& tuple, const ConnectionOptions& options, uint16_t our_mss);
  ~Connection();  // leaves the per-state connection gauge
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // --- opening (connection.cpp) ---
  // Active open: sends <SEQ=ISS><CTL=SYN> and enters SYN-SENT.
  void open_active(SeqNum iss, Instant now);
  // Passive open for a SYN that reached a listener: enters SYN-RECEIVED and sends
  // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
  void open_passive(const Segment& syn, SeqNum iss, Instant now);
  // A SYN cookie was validated (RFC 4987): the handshake is complete with no SYN-RECEIVED
  // state ever kept. `ack` is the completing ACK, whose data and FIN are then processed.
  void open_from_cookie(const Segment& ack, SeqNum iss, uint16_t peer_mss,
                        std::optional<uint8_t> peer_wscale, bool sack, bool ecn, Instant now);

  // --- segment arrival (tcp_input.cpp) ---
  void on_segment(const Segment& seg, Instant now);
  // An ICMP error about this connection (RFC 1122 4.2.3.9, RFC 1191 for PMTU).
  // `quoted_seq` is the sequence number of the segment the error quotes.
  void on_icmp_error(uint8_t type, uint8_t code, uint16_t next_hop_mtu, SeqNum quoted_seq,
                     Instant now);

  // --- timers (tcp_timers.cpp) ---
  void on_timer(Instant now);
  std::optional<Instant> next_deadline() const;

  // --- the socket calls (connection.cpp): results are byte counts or -errno ---
  long send(wire::Bytes data, Instant now);
  long receive(wire::MutableBytes out, bool peek, Instant now);
  // SHUT_WR: a FIN follows the buffered data.
  int shutdown_write(Instant now);
  // SHUT_RD: later data is discarded (acknowledged, as Linux does).
  void shutdown_read() { read_shut_ = true; }
  // close(): the application lets go. Sends RST instead of FIN when unread data would be lost
  // (RFC 2525 2.17) or SO_LINGER is zero; afterwards arriving data is answered with RST.
  void close(Instant now);
  // Sends <SEQ=SND.NXT><CTL=RST> and goes to CLOSED.
  void abort(Instant now);

  // Readiness, as epoll reports it.
  bool readable() const;
  bool writable() const;
  bool hung_up() const;  // both directions finished or the connection is dead
  bool peer_shut_down() const { return fin_received_; }
  int pending_error() const { return error_; }
  int take_error() {
    int e = error_;
    error_reported_ = error_reported_ || e != 0;
    error_ = 0;
    return e;
  }

  TcpState state() const { return state_; }
  const FourTuple& tuple() const { return tuple_; }
  bool passive() const { return passive_; }
  bool orphaned() const { return orphaned_; }
  ConnectionInfo info() const;
  const ConnectionOptions& options() const { return options_; }
  // Socket options changed (setsockopt): keepalive timers follow at once.
  void set_options(const ConnectionOptions& o, Instant now) {
    options_ = o;
    restart_keepalive(now);
  }
  // Changes whenever something happens that an edge-triggered epoll must report again: data
  // or FIN arriving, acknowledged data freeing send space, an error, a state change.
  uint64_t event_signature() const {
    return (bytes_read_ + receive_buffer_.size()) * 0x9e3779b97f4a7c15ull ^
           bytes_acked_ * 0xc2b2ae3d27d4eb4full ^ (uint64_t{fin_received_} << 1) ^
           (uint64_t(error_ != 0) << 2) ^ (uint64_t(static_cast<uint8_t>(state_)) << 3);
  }
  // For TIME-WAIT records and RFC 6191 reuse.
  SeqNum snd_nxt() const { return snd_.nxt; }
  SeqNum rcv_nxt() const { return rcv_.nxt; }
  bool timestamps_enabled() const { return ts_ok_; }
  uint32_t ts_recent() const { return ts_recent_; }
  uint32_t ts_now(Instant now) const;

 private:
  // tcp_input.cpp
  void on_segment_syn_sent(const Segment& seg, Instant now);
  void on_segment_synchronized(const Segment& seg, Instant now);
  bool acceptable(const Segment& seg) const;
  bool process_ack(const Segment& seg, Instant now);
  void process_data(const Segment& seg, Instant now);
  void process_fin(const Segment& seg, Instant now);
  void apply_peer_syn_options(const wire::TcpOptions& o, bool syn_ack);
  void update_send_window(const Segment& seg);
  void on_new_ack(const Segment& seg, uint32_t acked, std::optional<Duration> log_rtt, Instant now);
  void on_duplicate_ack(Instant now);
  void maybe_enter_sack_recovery(Instant now);
  // RFC 8985 for one ACK: steps 1-4 and TLP_process_ack() (its outcome in `tlp`); returns a
  // Karn-clean RTT sample. `duplicate`: an RFC 5681 duplicate ACK.
  std::optional<Duration> rack_on_ack(const Segment& seg, std::optional<SackBlock> dsack,
                                      bool duplicate, TlpOutcome& tlp, Instant now);
  // Step 5 and the loss response: marks losses, arms the reordering timer, enters fast
  // recovery on the first loss of a window.
  void rack_detect_and_recover(Instant now);
  void challenge_ack(Instant now);
  // `log_rtt`: a sample from the transmission log (RACK-TLP connections), preferred.
  void take_rtt_sample(const Segment& seg, Instant now, std::optional<Duration> log_rtt = {});
  // One Karn-clean RTT measurement: RFC 6298's estimator, RACK, the SRTT histogram.
  void record_rtt(Duration r);
  void ecn_on_ack(const Segment& seg, Instant now);

  // tcp_output.cpp
  void output(Instant now);
  void send_segment(SeqNum seq, wire::TcpFlags flags, size_t buffer_offset, size_t len,
                    Instant now);
  void send_probe(Instant now);  // <SEQ=SND.UNA-1><ACK=RCV.NXT>: elicits an ACK
  void send_syn(Instant now);
  void send_ack(Instant now);
  void send_rst(SeqNum seq);
  void retransmit_first(Instant now);      // the segment at SND.UNA (fast retransmit)
  void sack_recovery_output(Instant now);  // RFC 6675 (C): pipe-limited sending
  void send_next_segment(const NextSegment& next, Instant now);
  // RFC 6675 (C) with RACK's marks: lost segments first, then new data, while pipe < cwnd.
  void rack_recovery_output(Instant now);
  // Outside loss recovery: new data as the windows (and RFC 3042) allow, Nagle and SWS
  // avoidance; go-back-N resends after a timeout without RACK.
  void send_within_windows(Instant now);
  // Sends `len` bytes at SND.NXT (a FIN after them if `fin_here`) and advances SND.NXT.
  void send_from_nxt(uint32_t len, bool fin_here, Instant now);
  // Resends [seq, end) (data and/or FIN); false if there was nothing to send. The caller
  // counts it.
  bool retransmit_range(SeqNum seq, SeqNum end, Instant now);
  bool rack_active() const { return sack_ok_ && config_.rack_tlp; }
  bool can_send_data() const;
  // RFC 8985 7.2: may a loss probe be scheduled now?
  bool tlp_may_arm() const;
  void arm_pto(Instant now);
  // The window field for a non-SYN segment; moves RCV.ADV (never to the left).
  uint16_t advertise_window();
  uint32_t effective_cwnd() const;
  // The most data one segment may carry now: SMSS less the SACK option (RFC 6691).
  uint32_t send_mss() const;
  uint32_t flight_size() const { return static_cast<uint32_t>(snd_.nxt - snd_.una); }
  // FlightSize for a new ssthresh: RFC 5681 3.2 leaves limited transmit's segments out.
  uint32_t flight_size_for_ssthresh() const {
    const uint32_t f = flight_size();
    return f > limited_transmit_bytes_ ? f - limited_transmit_bytes_ : f;
  }
  bool fin_acked() const { return fin_sent_ && snd_.una > fin_seq_; }
  SeqNum data_end() const { return snd_.una + static_cast<uint32_t>(send_buffer_.size()); }
  void schedule_ack(bool immediately, Instant now);
  void maybe_window_update(Instant now);

  // tcp_timers.cpp
  void on_retransmit_timeout(Instant now);
  void on_reorder_timeout(Instant now);  // RACK's reordering timer (RFC 8985 6.2 step 5)
  void on_probe_timeout(Instant now);    // TLP's PTO (RFC 8985 7.3)
  void on_persist_timeout(Instant now);
  void on_keepalive_timeout(Instant now);
  void restart_retransmit_timer(Instant now) { rtx_deadline_ = now + rto_.rto(); }
  void restart_keepalive(Instant now);

  // connection.cpp
  // How a connection past the handshake ended (one counter each); before ESTABLISHED every
  // ending is a failed attempt, whatever the cause.
  enum class Ending : uint8_t { orderly, reset, timed_out };
  // Every change of state_ goes through here, so the per-state connection gauge follows.
  void set_state(TcpState next);
  void count_ending(Ending how);
  void enter_established(Instant now);
  void enter_time_wait(Instant now);
  void to_closed(int error, Ending how);
  void release_buffers_if_idle();

  ConnectionHost& host_;
  const TcpConfig& config_;
  StackCounters& counters_;
  FourTuple tuple_;
  ConnectionOptions options_;
  TcpState state_ = TcpState::closed;
  bool passive_ = false;
  bool orphaned_ = false;  // the application closed the socket
  bool read_shut_ = false;
  int error_ = 0;
  bool error_reported_ = false;

  // RFC 9293 3.3.1 send sequence variables. MAX is the highest sequence number ever sent:
  // after a timeout NXT goes back to UNA (go-back-N) while MAX remembers what went out.
  struct {
    SeqNum una, nxt, max;
    uint32_t wnd = 0;  // scaled
    SeqNum wl1, wl2;
    SeqNum iss;
    uint32_t max_wnd = 0;  // largest window the peer offered (RFC 5961 5.2, SWS)
  } snd_;
  // Receive sequence variables; RCV.WND is derived from the buffer (receive_window()).
  struct {
    SeqNum nxt;
    SeqNum irs;
    SeqNum adv;  // right edge of the window we last advertised (never moved left)
    SeqNum up;   // urgent pointer (RFC 9293 3.8.5; urgent data is delivered inline)
  } rcv_;

  // Negotiated options.
  uint16_t our_mss_;        // what we advertise
  uint32_t smss_ = 536;     // sender MSS: payload per segment (RFC 9293 3.7.1 default 536)
  uint8_t snd_wscale_ = 0;  // applied to windows the peer sends
  uint8_t rcv_wscale_ = 0;  // applied to windows we send
  bool wscale_ok_ = false;
  bool ts_ok_ = false;
  uint32_t ts_recent_ = 0;
  uint32_t ts_offset_ = 0;
  bool sack_ok_ = false;
  bool ecn_ok_ = false;
  bool ece_pending_ = false;  // CE seen: set ECE on our ACKs until the peer's CWR
  bool cwr_pending_ = false;  // we reacted to ECE: set CWR on our next data segment
  SeqNum ecn_recover_;

  SendBuffer send_buffer_;
  ReceiveBuffer receive_buffer_;
  ColdReceiveQueue out_of_order_;  // out of line while empty
  bool fin_queued_ = false;        // the application shut down writing
  bool fin_sent_ = false;
  bool fin_received_ = false;
  SeqNum fin_seq_;  // the FIN's sequence number, once sent
  uint64_t bytes_acked_ = 0;
  uint64_t bytes_read_ = 0;

  RtoEstimator rto_;
  std::unique_ptr<CongestionControl> cc_;
  OptionalSeqInstant rtt_probe_;  // timing one segment (Karn)
  uint32_t dupacks_ = 0;
  // Bytes sent by limited transmit since the last new ACK: RFC 5681 3.2 step 2, "When
  // [RFC3042] is in use, additional data sent in limited transmit MUST NOT be included in
  // this calculation" (of ssthresh).
  uint32_t limited_transmit_bytes_ = 0;
  bool in_recovery_ = false;  // fast recovery
  // RACK-TLP connections: the recovery after a timeout, until SND.UNA passes `recover_`
  // (RFC 6675 5.1); losses are resent from RACK's marks, cwnd slow-starts meanwhile.
  bool rto_recovery_ = false;
  SeqNum recover_;              // RFC 6582: highest sequence sent when recovery began
  uint32_t recovery_cwnd_ = 0;  // NewReno's inflated window during fast recovery
  uint32_t retransmits_ = 0;
  // Both out of line until used (tcp/cold_state.hpp).
  ColdSackScoreboard scoreboard_;   // RFC 6675 sender state, used when SACK was negotiated
  ColdRack rack_;                   // RFC 8985 state and transmission log (rack_active())
  OptionalInstant last_data_sent_;  // for the RFC 5681 4.1 restart after idle

  // Timers (nullopt: stopped). Deadlines, then counters, then flags: no padding between.
  // The RTO stays armed under the RACK and TLP timers as the last resort: the PTO is never
  // later than it (RFC 8985 7.2) and the reordering timer is about one RTT, so arming those
  // never needs to cancel it (RFC 8985 section 8 describes one timer holding one of them).
  OptionalInstant rtx_deadline_;
  OptionalInstant reo_deadline_;  // RACK reordering timer
  OptionalInstant pto_deadline_;  // TLP probe timeout
  OptionalInstant persist_deadline_;
  OptionalInstant delack_deadline_;
  OptionalInstant keepalive_deadline_;
  OptionalInstant orphan_deadline_;  // FIN-WAIT-2 after close(): don't wait forever
  uint32_t rtx_timeouts_ = 0;        // consecutive, for SYN retries and giving up
  uint32_t persist_backoff_ = 0;
  uint32_t segments_unacked_ = 0;  // full-sized segments received since our last ACK
  uint32_t keepalive_probes_ = 0;
  bool pto_restart_ = false;          // new data went out or was acknowledged: re-arm PTO
  bool ack_now_ = false;              // an ACK is owed at the end of this event
  bool force_send_ = false;           // the SWS override timer fired: send what the window allows
  bool one_segment_ = false;          // RFC 1191 6.5: resend a single segment after a PMTU drop
  bool zero_window_rtx_ = false;      // RTOs turned into probes of a window shrunk to zero
  bool heard_since_timeout_ = false;  // the peer sent something since our last RTO
  TokenBucket challenge_limiter_;
};

}  // namespace flowgate::tcp
