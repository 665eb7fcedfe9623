// Packet scripts for the sender's loss detection: RFC 8985 RACK-TLP (tail loss probes, lost
// retransmissions, the reordering window and its D-SACK adaptation) and RFC 3042 limited
// transmit. We listen; the test plays the peer 198.18.0.2 on the manual clock and checks what
// we send, and when, to the millisecond.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <source_location>
#include <utility>
#include <vector>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::test {
namespace {

using namespace std::chrono_literals;
using wire::TcpFlag;
using wire::TcpFlags;
using wire::TcpRepr;

constexpr uint16_t kPort = 80;
constexpr uint16_t kPeerPort = 40000;
constexpr uint32_t kPeerIsn = 5000;
// SMSS with timestamps: 1460 - 12.
constexpr uint32_t kSmss = 1448;

StackConfig config(bool cubic = true) {
  StackConfig c = lab_config();
  c.secret_key = std::array<uint8_t, 16>{8, 5};
  c.arp.static_entries.push_back({kPeerIp, kPeerMac});
  c.tcp.cubic = cubic;
  return c;
}

// One of our segments, copied out of its frame.
struct Sent {
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint32_t len = 0;
  uint16_t window = 0;
  TcpFlags flags;
};

class Peer {
 public:
  // Listens, then opens a connection from the peer. `sack` and `timestamps` are offered in the
  // SYN; the peer's ACK of our SYN-ACK comes `rtt` later (the first RTT sample).
  explicit Peer(bool sack = true, Duration rtt = 8ms, bool cubic = true) : h(config(cubic)) {
    const int l = fg_socket(h.stack, AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(kPort);
    EXPECT_EQ(fg_bind(h.stack, l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(fg_listen(h.stack, l, 8), 0);
    sack_ = sack;
    TcpRepr syn = base(TcpFlag::syn);
    syn.seq = kPeerIsn;
    syn.options.mss = 1460;
    syn.options.sack_permitted = sack;
    syn.options.window_scale = 7;
    h.receive(peer_tcp_frame(syn));
    const Sent synack = out();
    iss = synack.seq;
    h.advance(rtt);
    ack(seg(0));
    fd = fg_accept(h.stack, l, nullptr, nullptr);
    EXPECT_GE(fd, 0);
    h.expect_no_frame();
  }

  TcpRepr base(TcpFlags flags) {
    TcpRepr r;
    r.src_port = kPeerPort;
    r.dst_port = kPort;
    r.seq = kPeerIsn + 1;
    r.flags = flags;
    r.window = 4096;  // scaled by 2^7: 512 KiB, never the limit here
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(h.clock.now().time_since_epoch());
    r.options.timestamps = wire::TcpTimestamps{static_cast<uint32_t>(ms.count()), ts_echo};
    return r;
  }
  // The peer's ACK of our stream up to `ack_no`, with SACK blocks [left, right).
  void ack(uint32_t ack_no, std::vector<std::pair<uint32_t, uint32_t>> sack = {}) {
    TcpRepr r = base(TcpFlag::ack);
    r.ack = ack_no;
    for (auto [left, right] : sack) r.options.add_sack_block({left, right});
    h.receive(peer_tcp_frame(r));
  }
  // Our next segment; fails the test if there is none.
  Sent out(std::source_location where = std::source_location::current()) {
    ParsedFrame f = h.expect_frame(where);
    Sent s;
    if (!f.tcp) {
      ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line())) << "no TCP segment";
      return s;
    }
    s.seq = f.tcp->seq;
    s.ack = f.tcp->ack;
    s.len = static_cast<uint32_t>(f.tcp->payload.size());
    s.window = f.tcp->window;
    s.flags = f.tcp->flags;
    if (f.tcp->options.timestamps) ts_echo = f.tcp->options.timestamps->tsval;
    return s;
  }
  // Our next segment must be data segment `i` (SMSS-sized).
  void expect_segment(uint32_t i, std::source_location where = std::source_location::current()) {
    const Sent s = out(where);
    EXPECT_EQ(s.seq, seg(i)) << "segment " << (s.seq - seg(0)) / kSmss << " instead of " << i
                             << " (line " << where.line() << ")";
    EXPECT_EQ(s.len, kSmss) << "line " << where.line();
  }
  // Time passes and we send nothing.
  void quiet(Duration d, std::source_location where = std::source_location::current()) {
    h.advance(d);
    h.expect_no_frame(where);
  }
  // Writes n full segments of data.
  void write_segments(uint32_t n) {
    const std::vector<std::byte> data = pattern(n * kSmss, static_cast<uint8_t>(n));
    ASSERT_EQ(fg_send(h.stack, fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  }
  tcp::ConnectionInfo info() {
    tcp::ConnectionInfo i;
    socklen_t len = sizeof i;
    EXPECT_EQ(fg_getsockopt(h.stack, fd, IPPROTO_TCP, TCP_INFO, &i, &len), 0);
    return i;
  }
  uint32_t seg(uint32_t i) const { return iss + 1 + i * kSmss; }
  uint64_t events(Event e) const { return h.events(e); }

  StackHarness h;
  int fd = -1;
  uint32_t iss = 0;
  uint32_t ts_echo = 0;
  bool sack_ = true;
};

// Sends one segment and has it acknowledged `rtt` later, so RACK.min_RTT and SRTT are `rtt`.
void warm_up(Peer& p, uint32_t& next, Duration rtt = 8ms) {
  p.write_segments(1);
  p.expect_segment(next);
  p.h.advance(rtt);
  p.ack(p.seg(next + 1));
  ++next;
  p.h.expect_no_frame();
}

// =================================== tail loss probe ===================================

TEST(TcpTlp, TailLossIsRecoveredByAProbeInsteadOfATimeout) {
  Peer p;  // SRTT 8 ms from the handshake
  p.write_segments(10);
  for (uint32_t i = 0; i < 10; ++i) p.expect_segment(i);
  // The last two segments are lost. The ACK of the first eight, 8 ms later, restarts the
  // PTO: 2 * SRTT = 16 ms (two segments in flight: no delayed-ACK allowance).
  p.h.advance(8ms);
  p.ack(p.seg(8));
  p.quiet(16ms - 1ms);
  p.h.advance(1ms);
  // RFC 8985 7.3: nothing new to send, so the highest-sequence segment goes again.
  p.expect_segment(9);
  p.h.expect_no_frame();
  EXPECT_EQ(p.events(Event::tcp_tlp_probes), 1u);
  EXPECT_EQ(p.events(Event::tcp_timeouts), 0u);
  // The probe's SACK reveals segment 8 as lost (sent before the delivered probe and overdue):
  // fast recovery resends it at once, not after an RTO.
  p.h.advance(8ms);
  p.ack(p.seg(8), {{p.seg(9), p.seg(10)}});
  p.expect_segment(8);
  p.h.expect_no_frame();
  EXPECT_EQ(p.events(Event::tcp_rack_losses), 1u);
  EXPECT_EQ(p.events(Event::tcp_fast_recoveries), 1u);
  p.h.advance(8ms);
  p.ack(p.seg(10));
  p.quiet(5s);
  EXPECT_EQ(p.events(Event::tcp_timeouts), 0u);
  EXPECT_EQ(p.info().bytes_in_flight, 0u);
}

TEST(TcpTlp, ProbeSendsNewDataWhenThereIsSomeAndOnlyOneProbePerTail) {
  Peer p;
  p.write_segments(12);
  for (uint32_t i = 0; i < 10; ++i) p.expect_segment(i);  // the initial window
  // No ACK comes back at all. At PTO = 16 ms the probe is new data (segment 10), sent beyond
  // cwnd ("The cwnd remains unchanged").
  p.quiet(16ms - 1ms);
  p.h.advance(1ms);
  p.expect_segment(10);
  p.h.expect_no_frame();
  EXPECT_EQ(p.events(Event::tcp_tlp_probes), 1u);
  // One probe per tail: the next event is the RTO, re-armed when the probe went (7.3), which
  // resends the first outstanding segment (RFC 8985 6.3).
  p.quiet(200ms - 1ms);
  p.h.advance(1ms);
  p.expect_segment(0);
  p.h.expect_no_frame();
  EXPECT_EQ(p.events(Event::tcp_timeouts), 1u);
  EXPECT_EQ(p.events(Event::tcp_tlp_probes), 1u);
}

TEST(TcpTlp, OneSegmentInFlightWaitsForTheDelayedAckAllowance) {
  Peer p;
  uint32_t next = 0;
  warm_up(p, next);
  p.write_segments(1);
  p.expect_segment(next);
  // FlightSize is one segment: PTO = 2 * SRTT + TLP.max_ack_delay (200 ms) = 216 ms, beyond
  // the RTO (SRTT + 4 * RTTVAR floored at 200 ms): the PTO is capped at the RTO's expiry, and
  // the probe, not a timeout, goes out then.
  p.quiet(200ms - 1ms);
  p.h.advance(1ms);
  p.expect_segment(next);
  EXPECT_EQ(p.events(Event::tcp_tlp_probes), 1u);
  EXPECT_EQ(p.events(Event::tcp_timeouts), 0u);
}

TEST(TcpTlp, NoProbeWhenNothingIsOutstanding) {
  Peer p;
  uint32_t next = 0;
  warm_up(p, next);
  p.write_segments(4);
  for (uint32_t i = 0; i < 4; ++i) p.expect_segment(next + i);
  p.h.advance(8ms);
  p.ack(p.seg(next + 4));
  p.quiet(30s);
  EXPECT_EQ(p.events(Event::tcp_tlp_probes), 0u);
  EXPECT_EQ(p.events(Event::tcp_timeouts), 0u);
}

TEST(TcpTlp, NoProbeWithoutSack) {
  // RFC 8985 section 4: RACK-TLP needs SACK. Without it the tail waits for the RTO.
  Peer p(false);
  p.write_segments(3);
  for (uint32_t i = 0; i < 3; ++i) p.expect_segment(i);
  p.quiet(200ms - 1ms);
  p.h.advance(1ms);
  p.expect_segment(0);
  EXPECT_EQ(p.events(Event::tcp_tlp_probes), 0u);
  EXPECT_EQ(p.events(Event::tcp_timeouts), 1u);
}

TEST(TcpTlp, ProbeThatRepairedALossReducesCwndOnce) {
  Peer p;
  uint32_t next = 0;
  warm_up(p, next);
  p.write_segments(4);
  for (uint32_t i = 0; i < 4; ++i) p.expect_segment(next + i);
  // The last segment is lost, and so is the peer's ACK of the others: at PTO = 16 ms the
  // probe repeats the last segment.
  p.quiet(16ms - 1ms);
  p.h.advance(1ms);
  p.expect_segment(next + 3);
  const uint32_t cwnd_before = p.info().cwnd;
  // Only the probe's copy arrives: the ACK reaches TLP.end_seq with no D-SACK, which is still
  // ambiguous (the original's ACK might have been the one lost)...
  p.h.advance(8ms);
  p.ack(p.seg(next + 4));
  EXPECT_EQ(p.events(Event::tcp_tlp_recoveries), 0u);
  // ...until data sent after the probe is acknowledged without a D-SACK for it: the probe
  // repaired a loss (RFC 8985 7.4.2), and congestion control reacts once.
  next += 4;
  p.write_segments(2);
  p.expect_segment(next);
  p.expect_segment(next + 1);
  p.h.advance(8ms);
  p.ack(p.seg(next + 2));
  EXPECT_EQ(p.events(Event::tcp_tlp_recoveries), 1u);
  EXPECT_EQ(p.events(Event::tcp_tlp_spurious), 0u);
  EXPECT_LT(p.info().cwnd, cwnd_before);
  EXPECT_EQ(p.info().cwnd, p.info().ssthresh);
}

TEST(TcpTlp, ProbeAnsweredWithADsackWasUnnecessary) {
  Peer p;
  uint32_t next = 0;
  warm_up(p, next);
  p.write_segments(4);
  for (uint32_t i = 0; i < 4; ++i) p.expect_segment(next + i);
  // All four arrive, but the peer's ACK is lost: the probe repeats segment 3.
  p.quiet(16ms - 1ms);
  p.h.advance(1ms);
  p.expect_segment(next + 3);
  const uint32_t cwnd_before = p.info().cwnd;
  // The peer reports the duplicate with a D-SACK (RFC 2883): nothing was lost.
  p.h.advance(8ms);
  p.ack(p.seg(next + 4), {{p.seg(next + 3), p.seg(next + 4)}});
  EXPECT_EQ(p.events(Event::tcp_dsacks_received), 1u);
  EXPECT_EQ(p.events(Event::tcp_tlp_spurious), 1u);
  EXPECT_EQ(p.events(Event::tcp_tlp_recoveries), 0u);
  EXPECT_GE(p.info().cwnd, cwnd_before);
}

// ============================ RACK: time-based loss detection ============================

TEST(TcpRack, LostRetransmissionIsDetectedWithoutATimeout) {
  Peer p;  // SRTT and min_RTT 8 ms
  uint32_t next = 0;
  warm_up(p, next);
  const uint32_t s = next;
  p.write_segments(40);
  for (uint32_t i = 0; i < 10; ++i) p.expect_segment(s + i);
  // Segment 2 is lost; the peer acknowledges 0-1 and SACKs 3-9 as they arrive. Whatever the
  // ACK clock (and limited transmit) sends meanwhile is new data.
  p.h.advance(8ms);
  p.ack(p.seg(s + 2));
  for (uint32_t i = 3; i < 10; ++i) p.ack(p.seg(s + 2), {{p.seg(s + 3), p.seg(s + i + 1)}});
  // Three SACKed segments and no reordering seen: reo_wnd is 0 (RFC 8985 6.2 step 4), so
  // segment 2 is lost. Fast recovery resends it once, and new data follows in the pipe.
  std::vector<uint32_t> sent;
  while (p.h.pending_frames() > 0) sent.push_back((p.out().seq - p.seg(0)) / kSmss);
  const auto rtx = std::find(sent.begin(), sent.end(), s + 2);
  ASSERT_NE(rtx, sent.end()) << "segment 2 was not resent";
  EXPECT_EQ(std::count(sent.begin(), sent.end(), s + 2), 1);
  ASSERT_NE(rtx + 1, sent.end()) << "no new data after the retransmission";
  const uint32_t newest = sent.back();
  EXPECT_GT(newest, s + 9);
  EXPECT_EQ(p.events(Event::tcp_fast_recoveries), 1u);
  EXPECT_EQ(p.events(Event::tcp_rack_losses), 1u);
  // The retransmission is lost too. The new data sent with it arrives: its SACK, 8 ms later,
  // shows segment 2's retransmission overdue (sent no later than data now delivered), and it
  // goes a third time — no RTO needed.
  p.h.advance(8ms);
  p.ack(p.seg(s + 2), {{p.seg(s + 3), p.seg(newest + 1)}});
  const Sent r = p.out();
  EXPECT_EQ(r.seq, p.seg(s + 2));
  EXPECT_EQ(r.len, kSmss);
  EXPECT_EQ(p.events(Event::tcp_rack_lost_retransmits), 1u);
  EXPECT_EQ(p.events(Event::tcp_timeouts), 0u);
  EXPECT_EQ(p.events(Event::tcp_fast_recoveries), 1u) << "one reduction per window";
}

TEST(TcpRack, ReorderingWithinTheWindowIsNotALoss) {
  Peer p;
  uint32_t next = 0;
  warm_up(p, next);  // min_RTT 8 ms: reo_wnd = min_RTT / 4 = 2 ms
  p.write_segments(4);
  for (uint32_t i = 0; i < 4; ++i) p.expect_segment(next + i);
  // Segment 1 arrives before segment 0, which comes 1 ms later: within the window.
  p.h.advance(8ms);
  p.ack(p.seg(next), {{p.seg(next + 1), p.seg(next + 2)}});
  p.h.expect_no_frame();
  p.h.advance(1ms);
  p.ack(p.seg(next + 4));
  p.quiet(1s);
  EXPECT_EQ(p.events(Event::tcp_rack_losses), 0u);
  EXPECT_EQ(p.events(Event::tcp_fast_recoveries), 0u);
}

TEST(TcpRack, ReorderingBeyondTheWindowIsALossWhenTheTimerFires) {
  Peer p;
  uint32_t next = 0;
  warm_up(p, next);
  p.write_segments(4);
  for (uint32_t i = 0; i < 4; ++i) p.expect_segment(next + i);
  // Segment 1 is SACKed at 8 ms; segment 0 is deemed lost at xmit_ts + RACK.rtt + reo_wnd =
  // 8 + 2 = 10 ms, when the reordering timer fires — not earlier.
  p.h.advance(8ms);
  p.ack(p.seg(next), {{p.seg(next + 1), p.seg(next + 2)}});
  p.quiet(2ms - 1ms);
  p.h.advance(1ms);
  p.expect_segment(next);
  p.h.expect_no_frame();
  EXPECT_EQ(p.events(Event::tcp_rack_reorder_timeouts), 1u);
  EXPECT_EQ(p.events(Event::tcp_rack_losses), 1u);
  EXPECT_EQ(p.events(Event::tcp_fast_recoveries), 1u);
}

TEST(TcpRack, DsackWidensTheReorderingWindow) {
  Peer p;
  uint32_t next = 0;
  warm_up(p, next);
  p.write_segments(4);
  for (uint32_t i = 0; i < 4; ++i) p.expect_segment(next + i);
  p.h.advance(8ms);
  p.ack(p.seg(next), {{p.seg(next + 1), p.seg(next + 2)}});
  p.h.advance(2ms);
  p.expect_segment(next);  // deemed lost at 10 ms...
  // ...but it was only late: the original arrives, then the retransmission, and the peer's
  // ACK reports the duplicate with a D-SACK below the cumulative ACK (RFC 2883).
  p.h.advance(1ms);
  p.ack(p.seg(next + 4), {{p.seg(next), p.seg(next + 1)}});
  EXPECT_EQ(p.events(Event::tcp_dsacks_received), 1u);
  EXPECT_EQ(p.events(Event::tcp_rack_reo_wnd_widened), 1u);
  next += 4;
  // RACK.reo_wnd_mult is 2 now: the same reordering waits 2 * min_RTT / 4 = 4 ms.
  p.write_segments(2);
  for (uint32_t i = 0; i < 2; ++i) p.expect_segment(next + i);
  p.h.advance(8ms);
  p.ack(p.seg(next), {{p.seg(next + 1), p.seg(next + 2)}});
  p.quiet(4ms - 1ms);
  p.h.advance(1ms);
  p.expect_segment(next);
  EXPECT_EQ(p.events(Event::tcp_rack_losses), 2u);
}

TEST(TcpRack, TimeoutResendsOnlyWhatThePeerDoesNotSack) {
  Peer p;
  p.write_segments(6);
  for (uint32_t i = 0; i < 6; ++i) p.expect_segment(i);
  // Nothing comes back: the probe (segment 5 again) and then the RTO.
  p.h.advance(16ms);
  p.expect_segment(5);
  p.h.advance(200ms);
  p.expect_segment(0);  // RFC 8985 6.3: the first outstanding segment, cwnd = 1 SMSS
  p.h.expect_no_frame();
  // The peer had lost only segments 0 and 2: its SACK after the retransmission lets RTO
  // recovery resend segment 2 and nothing the peer holds (no going back N).
  p.h.advance(8ms);
  p.ack(p.seg(2), {{p.seg(3), p.seg(6)}});
  p.expect_segment(2);
  p.h.expect_no_frame();
  p.h.advance(8ms);
  p.ack(p.seg(6));
  p.quiet(2s);
  EXPECT_EQ(p.events(Event::tcp_timeouts), 1u);
  EXPECT_EQ(p.events(Event::tcp_retransmits_timeout), 2u);
}

// =================================== limited transmit ===================================

TEST(TcpLimitedTransmit, NewDataGoesOutOnDuplicateAcksOneAndTwo) {
  Peer p(false, 8ms, false);  // no SACK, NewReno: the classic RFC 3042 case
  p.write_segments(14);
  for (uint32_t i = 0; i < 10; ++i) p.expect_segment(i);
  // Segment 0 is lost. RFC 3042: each of the first two duplicate ACKs sends one new segment.
  p.h.advance(8ms);
  p.ack(p.seg(0));
  p.expect_segment(10);
  p.h.expect_no_frame();
  p.ack(p.seg(0));
  p.expect_segment(11);
  p.h.expect_no_frame();
  EXPECT_EQ(p.events(Event::tcp_limited_transmits), 2u);
  // The third is fast retransmit; RFC 5681 3.2: ssthresh from the FlightSize without the two
  // limited-transmit segments, 10 / 2 segments.
  p.ack(p.seg(0));
  p.expect_segment(0);
  EXPECT_EQ(p.events(Event::tcp_fast_recoveries), 1u);
  EXPECT_EQ(p.info().ssthresh, 5 * kSmss);
  EXPECT_EQ(p.events(Event::tcp_limited_transmits), 2u);
}

TEST(TcpLimitedTransmit, WithSackTheDuplicateAcksAlsoClockOutNewData) {
  Peer p;
  uint32_t next = 0;
  warm_up(p, next);  // reo_wnd 2 ms: two SACKs alone are not yet a loss
  const uint32_t s = next;
  p.write_segments(14);
  for (uint32_t i = 0; i < 10; ++i) p.expect_segment(s + i);
  p.h.advance(8ms);
  p.ack(p.seg(s), {{p.seg(s + 1), p.seg(s + 2)}});
  p.expect_segment(s + 10);
  p.ack(p.seg(s), {{p.seg(s + 1), p.seg(s + 3)}});
  p.expect_segment(s + 11);
  p.h.expect_no_frame();
  EXPECT_EQ(p.events(Event::tcp_limited_transmits), 2u);
  EXPECT_EQ(p.events(Event::tcp_fast_recoveries), 0u);
}

// ========================== ACKs from a peer that filled our window ==========================

TEST(TcpAckAcceptance, PureAckAtTheRightEdgeOfOurWindowIsProcessed) {
  Peer p;
  p.write_segments(1);
  const Sent d = p.out();
  ASSERT_EQ(d.len, kSmss);
  // The peer has sent data up to the right edge of the window we offer (some of it lost, so
  // RCV.NXT stayed behind): its pure ACKs carry SEG.SEQ = RCV.NXT + RCV.WND. They must still
  // acknowledge our data (RFC 9293 3.10.7.4: "special allowance should be made to accept
  // valid ACKs"), or every ACK of ours is lost until the retransmission timeout.
  TcpRepr r = p.base(TcpFlag::ack);
  r.seq = kPeerIsn + 1 + (uint32_t{d.window} << 3);  // our window scale for a 256 KiB buffer
  r.ack = p.seg(1);
  p.h.receive(peer_tcp_frame(r));
  EXPECT_EQ(p.h.drops(DropReason::tcp_out_of_window), 0u);
  EXPECT_EQ(p.info().bytes_acked, kSmss);
  EXPECT_EQ(p.info().bytes_in_flight, 0u);
  // One past the edge is still out of the window: refused, answered with an ACK.
  r.seq += 1;
  r.ack = p.seg(1);
  p.h.receive(peer_tcp_frame(r));
  EXPECT_EQ(p.h.drops(DropReason::tcp_out_of_window), 1u);
}

}  // namespace
}  // namespace flowgate::test
