// TCP states (RFC 9293 section 3.3.2) and the transport's tunables.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stack/clock.hpp"

namespace flowgate::tcp {

enum class TcpState : uint8_t {
  closed,
  listen,
  syn_sent,
  syn_received,
  established,
  fin_wait_1,
  fin_wait_2,
  close_wait,
  closing,
  last_ack,
  time_wait,
};

constexpr std::string_view to_string(TcpState s) {
  switch (s) {
    case TcpState::closed:
      return "CLOSED";
    case TcpState::listen:
      return "LISTEN";
    case TcpState::syn_sent:
      return "SYN-SENT";
    case TcpState::syn_received:
      return "SYN-RECEIVED";
    case TcpState::established:
      return "ESTABLISHED";
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

inline constexpr size_t kTcpStateCount = static_cast<size_t>(TcpState::time_wait) + 1;

// The state as a metric label: lower case with underscores ("syn_sent", "time_wait"), the
// spelling Prometheus label values and node_exporter's TCP states use.
constexpr std::string_view metric_label(TcpState s) {
  switch (s) {
    case TcpState::closed:
      return "closed";
    case TcpState::listen:
      return "listen";
    case TcpState::syn_sent:
      return "syn_sent";
    case TcpState::syn_received:
      return "syn_received";
    case TcpState::established:
      return "established";
    case TcpState::fin_wait_1:
      return "fin_wait_1";
    case TcpState::fin_wait_2:
      return "fin_wait_2";
    case TcpState::close_wait:
      return "close_wait";
    case TcpState::closing:
      return "closing";
    case TcpState::last_ack:
      return "last_ack";
    case TcpState::time_wait:
      return "time_wait";
  }
  return "?";
}

// RFC 9293 3.3.2: after the handshake both sides are "synchronized".
constexpr bool is_synchronized(TcpState s) {
  return s != TcpState::closed && s != TcpState::listen && s != TcpState::syn_sent &&
         s != TcpState::syn_received;
}

struct TcpConfig {
  // SO_SNDBUF / SO_RCVBUF defaults, bytes of payload.
  uint32_t send_buffer = 256 * 1024;
  uint32_t receive_buffer = 256 * 1024;
  // Floor for the send MSS, whatever the peer's MSS option or an ICMP fragmentation-needed
  // says: tiny segments multiply per-segment cost (the "SACK panic" class of attacks).
  uint16_t min_mss = 512;
  // Retransmission timeout (RFC 6298). RFC 6298 2.4 asks for a 1 s minimum; like Linux we use
  // 200 ms, since 1 s is an eternity inside a datacenter.
  Duration rto_initial = std::chrono::seconds(1);
  Duration rto_min = std::chrono::milliseconds(200);
  Duration rto_max = std::chrono::seconds(120);
  // TIME-WAIT lasts 2*MSL. RFC 9293 suggests MSL = 2 minutes; Linux waits 60 s in all. We use
  // MSL = 30 s (60 s of TIME-WAIT), as Linux: long enough for any straggler of the old
  // connection to die in today's networks, short enough not to pin memory and ports.
  Duration msl = std::chrono::seconds(30);
  // TIME-WAIT records kept at most (per Tcp, i.e. per worker). A connection that would enter
  // TIME-WAIT with the table full closes at once instead and is counted, as Linux does beyond
  // tcp_max_tw_buckets (131072 on this kind of machine): a close-heavy load otherwise holds
  // 2*MSL of its connection rate, 2 million records (700 MB) at 35,000 closes/s.
  uint32_t max_time_wait = 131072;
  // Delayed ACK (RFC 1122 4.2.3.2: "less than 0.5 seconds"; RFC 5681 4.2: an ACK for at least
  // every second full-sized segment). 40 ms is Linux's floor.
  Duration delayed_ack = std::chrono::milliseconds(40);
  // Keepalive (RFC 1122 4.2.3.6) defaults as on Linux; per socket via TCP_KEEP*.
  Duration keepalive_idle = std::chrono::seconds(7200);
  Duration keepalive_interval = std::chrono::seconds(75);
  uint32_t keepalive_count = 9;
  // SYN and SYN-ACK retransmissions before giving up (Linux: 6 and 5).
  uint32_t syn_retries = 6;
  uint32_t synack_retries = 5;
  // Half-open connections per listener (the SYN queue); beyond it, SYN cookies.
  uint32_t max_syn_backlog = 256;
  bool syn_cookies = true;
  bool timestamps = true;
  bool sack = true;
  bool window_scaling = true;
  // RFC 3168: ask for ECN on active opens (a listener always accepts a peer's request).
  bool ecn = false;
  bool cubic = true;  // CUBIC (RFC 9438); false selects NewReno (RFC 5681/6582)
  // RFC 8985 RACK-TLP loss detection on connections that negotiated SACK (it requires SACK);
  // false keeps RFC 6675's DupThresh loss detection and RTO-only tail recovery.
  bool rack_tlp = true;
  // TLP.max_ack_delay of RFC 8985 7.2, added to the probe timeout when one segment is in
  // flight (its ACK may be delayed): the worst-case delayed ACK, 200 ms as on Linux peers.
  Duration tlp_max_ack_delay = std::chrono::milliseconds(200);
  // The shortest probe timeout. 2*SRTT of a veth or datacenter path is tens of microseconds,
  // shorter than the peer's scheduling jitter and below our 1 ms timer tick: without a floor
  // every pause of the peer would cost a spurious probe (Linux pads its PTO by 2 ms for the
  // same reason).
  Duration tlp_min_pto = std::chrono::milliseconds(2);
  // RFC 5961 section 7: challenge ACKs are rate-limited, per connection here.
  uint32_t challenge_acks_per_second = 10;
  // Out-of-order data held per connection, bytes (also bounded by the window).
  uint32_t ooo_memory_limit = 256 * 1024;
  // Maximum persist (zero-window probe) interval.
  Duration persist_max = std::chrono::seconds(60);
};

}  // namespace flowgate::tcp
