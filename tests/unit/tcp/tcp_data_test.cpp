// Packet scripts for TCP data transfer and its timers. We listen (or connect), the test plays
// the peer 198.18.0.2 frame by frame on the manual clock: inject a segment at t, expect our
// segments at t, expect nothing until t. Covers segmentation and the send windows (RFC 9293,
// RFC 5681, RFC 6928, RFC 7323), Nagle and silly-window avoidance, delayed ACKs and SACK
// (RFC 1122, RFC 2018), the retransmission timer (RFC 6298), fast retransmit and NewReno
// (RFC 5681, RFC 6582), zero-window probing, keepalive, urgent data, PMTU (RFC 1191) and
// ECN (RFC 3168).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <source_location>
#include <vector>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::test {
namespace {

using namespace std::chrono_literals;
using tcp::ConnectionInfo;
using tcp::TcpState;
using wire::Bytes;
using wire::TcpFlag;
using wire::TcpFlags;
using wire::TcpRepr;

constexpr uint16_t kListenPort = 80;
constexpr uint16_t kPeerPort = 40000;
// Close to 2^32, so the peer's sequence numbers wrap within the first few kilobytes.
constexpr uint32_t kPeerIss = 0xfffff000;
constexpr uint32_t kMss = 1460;

StackConfig data_config() {
  StackConfig c = lab_config();
  c.secret_key = std::array<uint8_t, 16>{7, 1, 7, 1};
  c.arp.static_entries.push_back({kPeerIp, kPeerMac});
  return c;
}

StackConfig newreno_config() {
  StackConfig c = data_config();
  c.tcp.cubic = false;
  return c;
}

// What the peer offers in its SYN.
struct PeerOptions {
  bool timestamps = false;
  bool sack = false;
  std::optional<uint8_t> window_scale;
  uint16_t mss = 1460;
  uint16_t syn_window = 65535;  // never scaled (RFC 7323 2.2)
  uint16_t window = 65535;      // in every later segment, scaled by window_scale
  bool ecn = false;             // SYN with ECE and CWR (RFC 3168 6.1.1)
  Duration handshake_rtt{};     // between our SYN-ACK and the peer's ACK
};

// One of our segments, copied out of the frame.
struct Out {
  bool present = false;
  Frame frame;
  uint8_t tos = 0;
  uint16_t src_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  TcpFlags flags;
  uint16_t window = 0;
  wire::TcpOptions options;
  std::vector<std::byte> payload;

  bool has(TcpFlag f) const { return flags.has(f); }
  uint8_t ecn() const { return static_cast<uint8_t>(tos & 0x3); }
  size_t len() const { return payload.size(); }
};

std::vector<std::byte> slice(const std::vector<std::byte>& v, size_t offset, size_t len) {
  return {v.begin() + static_cast<std::ptrdiff_t>(offset),
          v.begin() + static_cast<std::ptrdiff_t>(offset + len)};
}

// The peer's side of one connection to our listener (or from our fg_connect).
class Peer {
 public:
  explicit Peer(StackConfig config = data_config()) : h(std::move(config)) {}

  // --- opening ---
  void listen() {
    listener = fg_socket(h.stack, AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(kListenPort);
    ASSERT_EQ(fg_bind(h.stack, listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(fg_listen(h.stack, listener, 16), 0);
  }
  void set_option(int fd_, int level, int name, int value) {
    ASSERT_EQ(fg_setsockopt(h.stack, fd_, level, name, &value, sizeof value), 0) << strerror(errno);
  }
  // Sends the SYN and takes our SYN-ACK.
  void syn(PeerOptions o = {}) {
    opt = o;
    window = o.window;
    TcpRepr r = segment(TcpFlag::syn);
    r.seq = kPeerIss;
    r.window = o.syn_window;
    r.options.mss = o.mss;
    r.options.window_scale = o.window_scale;
    r.options.sack_permitted = o.sack;
    if (o.timestamps) r.options.timestamps = wire::TcpTimestamps{peer_tsval(), 0};
    if (o.ecn) r.flags |= TcpFlag::ece | TcpFlag::cwr;
    inject(r);
    syn_ack = out();
    ASSERT_TRUE(syn_ack.present);
    ASSERT_TRUE(syn_ack.has(TcpFlag::syn) && syn_ack.has(TcpFlag::ack));
    ASSERT_EQ(syn_ack.ack, kPeerIss + 1);
    iss = syn_ack.seq;
    peer_nxt = kPeerIss + 1;
    peer_ack = iss + 1;
  }
  // The handshake's ACK, then fg_accept.
  void complete() {
    ack(iss + 1);
    fd = fg_accept(h.stack, listener, nullptr, nullptr);
    ASSERT_GE(fd, 0) << strerror(errno);
    h.expect_no_frame();
  }
  void handshake(PeerOptions o = {}) {
    ASSERT_NO_FATAL_FAILURE(syn(o));
    if (o.handshake_rtt > Duration::zero()) h.advance(o.handshake_rtt);
    ASSERT_NO_FATAL_FAILURE(complete());
  }
  void open(PeerOptions o = {}) {
    ASSERT_NO_FATAL_FAILURE(listen());
    ASSERT_NO_FATAL_FAILURE(handshake(o));
  }

  // --- what the peer sends ---
  uint32_t peer_tsval() const {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(h.clock.now().time_since_epoch());
    return static_cast<uint32_t>(ms.count());
  }
  // A segment <SEQ=peer_nxt><ACK=peer_ack> with the peer's window and timestamps.
  TcpRepr segment(TcpFlags flags) const {
    TcpRepr r;
    r.src_port = kPeerPort;
    r.dst_port = our_port;
    r.seq = peer_nxt;
    r.ack = peer_ack;
    r.flags = flags;
    r.window = window;
    if (opt.timestamps) r.options.timestamps = wire::TcpTimestamps{peer_tsval(), ts_recent};
    return r;
  }
  void inject(const TcpRepr& r, uint8_t tos = 0) { h.receive(peer_tcp_frame(r, tos)); }
  // The peer acknowledges our stream up to sequence number `ack_no`; a window given becomes
  // the peer's window from now on.
  void ack(uint32_t ack_no, std::optional<uint16_t> new_window = {}, TcpFlags extra = {}) {
    if (new_window) window = *new_window;
    peer_ack = ack_no;
    inject(segment(TcpFlags(TcpFlag::ack) | extra));
  }
  // Acknowledges the first `n` bytes of our data.
  void ack_bytes(size_t n, std::optional<uint16_t> new_window = {}, TcpFlags extra = {}) {
    ack(seq_of(n), new_window, extra);
  }
  // Data at peer_nxt, which then advances.
  void data(const std::vector<std::byte>& payload, TcpFlags extra = {}, uint8_t tos = 0) {
    data_at(peer_nxt, payload, extra, tos);
    peer_nxt += static_cast<uint32_t>(payload.size());
  }
  // Data at `seq` (out of order, or a retransmission); peer_nxt does not move.
  void data_at(uint32_t seq, const std::vector<std::byte>& payload, TcpFlags extra = {},
               uint8_t tos = 0) {
    TcpRepr r = segment(TcpFlags(TcpFlag::ack) | extra);
    r.seq = seq;
    r.payload = payload;
    inject(r, tos);
  }

  // --- what we send ---
  // The next frame must be a TCP segment of ours.
  Out out(std::source_location where = std::source_location::current()) {
    Out o;
    ParsedFrame f = h.expect_frame(where);
    if (!f.tcp) {
      if (!f.bytes.empty()) {
        ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
            << "expected a TCP segment";
      }
      return o;
    }
    o.present = true;
    o.frame = f.bytes;
    o.tos = f.ip->tos;
    o.src_port = f.tcp->src_port;
    o.seq = f.tcp->seq;
    o.ack = f.tcp->ack;
    o.flags = f.tcp->flags;
    o.window = f.tcp->window;
    o.options = f.tcp->options;
    o.payload.assign(f.tcp->payload.begin(), f.tcp->payload.end());
    if (o.options.timestamps) ts_recent = o.options.timestamps->tsval;
    return o;
  }
  // The next frame must carry bytes [offset, offset + len) of `stream`, our data.
  Out expect_data(const std::vector<std::byte>& stream, size_t offset, size_t len,
                  std::source_location where = std::source_location::current()) {
    ::testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "expect_data");
    Out o = out(where);
    if (!o.present) return o;  // out() reported it
    EXPECT_EQ(o.seq, seq_of(offset)) << "data offset " << offset;
    EXPECT_EQ(o.len(), len);
    EXPECT_TRUE(o.has(TcpFlag::ack));
    EXPECT_EQ(o.ack, peer_nxt);
    if (o.len() == len && offset + len <= stream.size()) {
      EXPECT_TRUE(o.payload == slice(stream, offset, len)) << "payload bytes differ";
    }
    return o;
  }
  // The next frame must be a pure ACK <SEQ=SND.NXT><ACK=peer_nxt>.
  Out expect_ack(size_t acked_offset,
                 std::source_location where = std::source_location::current()) {
    ::testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "expect_ack");
    Out o = out(where);
    if (!o.present) return o;
    EXPECT_TRUE(o.has(TcpFlag::ack));
    EXPECT_FALSE(o.has(TcpFlag::syn) || o.has(TcpFlag::fin) || o.has(TcpFlag::rst));
    EXPECT_EQ(o.seq, seq_of(acked_offset));
    EXPECT_EQ(o.ack, peer_nxt);
    EXPECT_EQ(o.len(), 0u);
    return o;
  }
  // Time passes and we send nothing.
  void quiet(Duration d, std::source_location where = std::source_location::current()) {
    h.advance(d);
    h.expect_no_frame(where);
  }
  void drain() { h.link.frames.clear(); }

  // --- the socket ---
  long send(const std::vector<std::byte>& d) {
    return static_cast<long>(fg_send(h.stack, fd, d.data(), d.size(), 0));
  }
  std::vector<std::byte> recv_all() {
    std::vector<std::byte> got;
    std::vector<std::byte> buf(65536);
    for (;;) {
      const ssize_t n = fg_recv(h.stack, fd, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      got.insert(got.end(), buf.begin(), buf.begin() + n);
    }
    return got;
  }
  ConnectionInfo info() {
    ConnectionInfo i;
    socklen_t len = sizeof i;
    EXPECT_EQ(fg_getsockopt(h.stack, fd, IPPROTO_TCP, TCP_INFO, &i, &len), 0);
    return i;
  }
  // Sequence number of byte `offset` of our data stream.
  uint32_t seq_of(size_t offset) const { return iss + 1 + static_cast<uint32_t>(offset); }
  uint64_t events(Event e) const { return h.events(e); }

  StackHarness h;
  PeerOptions opt;
  int listener = -1;
  int fd = -1;
  uint16_t our_port = kListenPort;
  Out syn_ack;
  uint32_t iss = 0;         // our ISS
  uint32_t peer_nxt = 0;    // the peer's SND.NXT
  uint32_t peer_ack = 0;    // what the peer acknowledges of ours
  uint16_t window = 65535;  // the peer's window field
  uint32_t ts_recent = 0;   // our last TSval, which the peer echoes
};

// ICMP fragmentation needed (RFC 1191) quoting the IP header and the first 8 bytes of `s`.
Frame frag_needed(const Out& s, uint16_t next_hop_mtu) {
  const size_t eth = wire::EthernetReader::kHeaderLen;
  const Bytes quote(s.frame.data() + eth, wire::Ipv4Repr::buffer_len() + 8);
  const wire::IcmpRepr icmp{static_cast<uint8_t>(wire::IcmpType::destination_unreachable),
                            static_cast<uint8_t>(wire::IcmpUnreachableCode::fragmentation_needed),
                            next_hop_mtu, quote};
  return ipv4_frame(kOurMac, kPeerMac, peer_ip(static_cast<uint8_t>(wire::IpProtocol::icmp)),
                    icmp_message(icmp));
}

// ===================================== sending =====================================

TEST(TcpDataSend, FullSegmentsWithPshOnTheLast) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  EXPECT_EQ(p.info().smss, kMss);
  const auto d = pattern(5 * kMss, 1);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  for (size_t i = 0; i < 5; ++i) {
    Out s = p.expect_data(d, i * kMss, kMss);
    EXPECT_EQ(s.has(TcpFlag::psh), i == 4) << "segment " << i;
    EXPECT_FALSE(s.has(TcpFlag::fin));
  }
  p.h.expect_no_frame();
  p.ack_bytes(d.size());
  p.h.expect_no_frame();
  const ConnectionInfo i = p.info();
  EXPECT_EQ(i.bytes_acked, d.size());
  EXPECT_EQ(i.bytes_in_flight, 0u);
  EXPECT_EQ(i.bytes_sendable, 0u);
  EXPECT_EQ(i.bytes_not_sendable, 0u);
  // Everything acknowledged: no timer left to fire.
  p.quiet(10s);
}

TEST(TcpDataSend, TimestampsTakeTwelveBytesOfEachSegment) {
  Peer p;
  PeerOptions o;
  o.timestamps = true;
  ASSERT_NO_FATAL_FAILURE(p.open(o));
  EXPECT_EQ(p.info().smss, kMss - 12);
  const auto d = pattern(2 * (kMss - 12), 2);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  const uint32_t echoed = p.peer_tsval();
  for (size_t i = 0; i < 2; ++i) {
    Out s = p.expect_data(d, i * (kMss - 12), kMss - 12);
    ASSERT_TRUE(s.options.timestamps);
    EXPECT_EQ(s.options.timestamps->tsecr, echoed);  // the peer's last TSval (RFC 7323 4.3)
  }
  p.h.expect_no_frame();
}

TEST(TcpDataSend, InitialWindowIsTenSegments) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  const auto d = pattern(15 * kMss, 3);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  // RFC 6928: IW = min(10*MSS, max(2*MSS, 14600)) = 10 segments of 1460.
  for (size_t i = 0; i < 10; ++i) {
    Out s = p.expect_data(d, i * kMss, kMss);
    EXPECT_FALSE(s.has(TcpFlag::psh)) << "more data follows segment " << i;
  }
  p.h.expect_no_frame();
  ConnectionInfo i = p.info();
  EXPECT_EQ(i.cwnd, 10 * kMss);
  EXPECT_EQ(i.bytes_acked, 0u);
  EXPECT_EQ(i.bytes_in_flight, 10 * kMss);
  EXPECT_EQ(i.bytes_sendable, 0u);
  EXPECT_EQ(i.bytes_not_sendable, 5 * kMss);

  // Slow start: an ACK of two segments opens cwnd by 2*SMSS (RFC 5681 3.1, RFC 3465 L=2),
  // so four segments go out: two to replace those acknowledged, two more.
  p.ack_bytes(2 * kMss);
  for (size_t k = 10; k < 14; ++k) p.expect_data(d, k * kMss, kMss);
  p.h.expect_no_frame();
  i = p.info();
  EXPECT_EQ(i.cwnd, 12 * kMss);
  EXPECT_EQ(i.bytes_acked, 2 * kMss);
  EXPECT_EQ(i.bytes_in_flight, 12 * kMss);
  EXPECT_EQ(i.bytes_sendable, 0u);
  EXPECT_EQ(i.bytes_not_sendable, kMss);
}

TEST(TcpDataSend, InitialWindowIsOneSegmentAfterTheSynAckWasRetransmitted) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.listen());
  ASSERT_NO_FATAL_FAILURE(p.syn());
  p.h.advance(1s);  // our SYN-ACK was lost: retransmitted
  Out again = p.out();
  EXPECT_TRUE(again.has(TcpFlag::syn));
  EXPECT_EQ(again.seq, p.iss);
  ASSERT_NO_FATAL_FAILURE(p.complete());
  // RFC 5681 3.1 / RFC 6928 2: "If the SYN or SYN/ACK is lost, the initial window used by a
  // sender after a correctly transmitted SYN MUST be one segment consisting of at most SMSS
  // bytes."
  const auto d = pattern(4 * kMss, 4);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  p.expect_data(d, 0, kMss);
  p.h.expect_no_frame();
  EXPECT_EQ(p.info().cwnd, kMss);
}

TEST(TcpDataSend, PeerWindowIsScaledOnlyAfterTheSyn) {
  Peer p;
  PeerOptions o;
  o.window_scale = 3;
  o.syn_window = 1000;
  o.window = 1000;
  ASSERT_NO_FATAL_FAILURE(p.listen());
  ASSERT_NO_FATAL_FAILURE(p.syn(o));
  // Our SYN-ACK: its own window is not scaled either; we scale ours by 3 (256 KiB buffer).
  EXPECT_EQ(p.syn_ack.window, 65535);
  EXPECT_EQ(p.syn_ack.options.window_scale, std::optional<uint8_t>(3));
  const tcp::Connection* c = p.h.stack.tcp().find({kOurIp, kListenPort, kPeerIp, kPeerPort});
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->info().snd_wnd, 1000u) << "RFC 7323 2.2: the window in a SYN is never scaled";
  ASSERT_NO_FATAL_FAILURE(p.complete());
  EXPECT_EQ(p.info().snd_wnd, 8000u) << "the handshake's ACK is scaled";
  EXPECT_EQ(p.info().snd_wscale, 3);

  const auto d = pattern(20000, 5);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  for (size_t i = 0; i < 5; ++i) p.expect_data(d, i * kMss, kMss);
  // 700 bytes of window left: less than half the largest window offered, held (SWS).
  p.h.expect_no_frame();
  ConnectionInfo i = p.info();
  EXPECT_EQ(i.bytes_acked, 0u);
  EXPECT_EQ(i.bytes_in_flight, 5 * kMss);
  EXPECT_EQ(i.bytes_sendable, 700u);
  EXPECT_EQ(i.bytes_not_sendable, 20000u - 5 * kMss - 700u);

  // Two segments acknowledged, same window: the right edge moves by 2920.
  p.ack_bytes(2 * kMss);
  p.expect_data(d, 5 * kMss, kMss);
  p.expect_data(d, 6 * kMss, kMss);
  p.h.expect_no_frame();
  i = p.info();
  EXPECT_EQ(i.bytes_acked, 2 * kMss);
  EXPECT_EQ(i.bytes_in_flight, 5 * kMss);
  EXPECT_EQ(i.bytes_sendable, 700u);
  EXPECT_EQ(i.bytes_not_sendable, 20000u - 7 * kMss - 700u);
}

TEST(TcpDataSend, NagleHoldsASmallWriteUntilTheAck) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  const auto a = pattern(100, 6);
  const auto b = pattern(50, 7);
  std::vector<std::byte> stream = a;
  stream.insert(stream.end(), b.begin(), b.end());
  ASSERT_EQ(p.send(a), 100);
  Out s = p.expect_data(stream, 0, 100);  // nothing in flight: sent at once
  EXPECT_TRUE(s.has(TcpFlag::psh));
  ASSERT_EQ(p.send(b), 50);
  p.quiet(150ms);  // unacknowledged data: the small write waits (RFC 9293 3.7.4)
  EXPECT_EQ(p.info().bytes_sendable, 50u);
  p.ack_bytes(100);
  s = p.expect_data(stream, 100, 50);
  EXPECT_TRUE(s.has(TcpFlag::psh));
  p.h.expect_no_frame();
}

TEST(TcpDataSend, NodelaySendsSmallWritesAtOnce) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  ASSERT_NO_FATAL_FAILURE(p.set_option(p.fd, IPPROTO_TCP, TCP_NODELAY, 1));
  const auto a = pattern(100, 8);
  const auto b = pattern(50, 9);
  std::vector<std::byte> stream = a;
  stream.insert(stream.end(), b.begin(), b.end());
  ASSERT_EQ(p.send(a), 100);
  p.expect_data(stream, 0, 100);
  ASSERT_EQ(p.send(b), 50);
  p.expect_data(stream, 100, 50);
  p.h.expect_no_frame();
}

TEST(TcpDataSend, SenderSillyWindowAvoidance) {
  Peer p;
  PeerOptions o;
  o.syn_window = 2000;
  o.window = 2000;
  ASSERT_NO_FATAL_FAILURE(p.open(o));
  const auto d = pattern(10000, 10);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  p.expect_data(d, 0, kMss);
  // 540 usable bytes, more data waiting, under half the largest window (1000): held.
  p.h.expect_no_frame();
  EXPECT_EQ(p.info().bytes_sendable, 540u);
  // The peer takes the segment but offers only 800: still too small.
  p.ack_bytes(kMss, 800);
  p.h.expect_no_frame();
  // A window update to 1200: at least half the largest window, sent (RFC 9293 3.8.6.2.1).
  p.ack_bytes(kMss, 1200);
  p.expect_data(d, kMss, 1200);
  p.h.expect_no_frame();
}

TEST(TcpDataSend, DataHeldBySillyWindowAvoidanceGoesOutAfterTheOverrideTimeout) {
  Peer p;
  PeerOptions o;
  o.syn_window = 2000;
  o.window = 2000;
  ASSERT_NO_FATAL_FAILURE(p.open(o));
  const auto d = pattern(10000, 11);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  p.expect_data(d, 0, kMss);
  p.ack_bytes(kMss, 800);
  p.h.expect_no_frame();
  // Nothing in flight, a usable window of 800 and pushed data: RFC 9293 3.8.6.2.1 (4) and
  // RFC 1122 4.2.3.4 send it when the override timeout (0.1 to 1 s) expires, or the connection
  // could wait forever on a lost window update (no ACK is due, and the persist timer is only for a
  // zero window).
  p.h.advance(1s);
  p.expect_data(d, kMss, 800);
}

// ===================================== receiving =====================================

TEST(TcpDataReceive, InOrderDataIsDeliveredAndItsAckDelayed40ms) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  const auto d = pattern(1000, 12);
  p.data(d);
  p.quiet(39ms);
  p.h.advance(1ms);
  Out a = p.expect_ack(0);
  p.h.expect_no_frame();
  EXPECT_EQ(p.events(Event::tcp_delayed_acks), 1u);
  const uint16_t advertised = a.window;
  EXPECT_TRUE(p.recv_all() == d);
  char c;
  EXPECT_EQ(fg_recv(p.h.stack, p.fd, &c, 1, 0), -1);
  EXPECT_EQ(errno, EAGAIN);
  // Reading 1000 bytes cannot move an unscaled window (capped at 65535) by an MSS: no window
  // update is due (RFC 9293 3.8.6.2.2). One restating the same ACK and window would be a
  // duplicate ACK to the peer (RFC 5681 2), three of them a spurious fast retransmit.
  if (p.h.pending_frames() > 0) {
    Out u = p.out();
    ADD_FAILURE() << "unexpected segment after fg_recv: ack " << u.ack - p.peer_nxt
                  << " past RCV.NXT, window " << u.window << " (was " << advertised << ")";
  }
  p.quiet(1s);
}

TEST(TcpDataReceive, SecondFullSegmentIsAckedAtOnce) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  const auto d = pattern(2 * kMss, 13);
  p.data(slice(d, 0, kMss));
  p.h.expect_no_frame();
  p.data(slice(d, kMss, kMss));
  p.expect_ack(0);  // RFC 5681 4.2: at least every second full-sized segment
  p.quiet(100ms);   // and the delayed ACK is no longer owed
  EXPECT_EQ(p.events(Event::tcp_delayed_acks), 0u);
  EXPECT_TRUE(p.recv_all() == d);
}

TEST(TcpDataReceive, OurWindowIsScaledAfterTheSyn) {
  Peer p;
  PeerOptions o;
  o.window_scale = 0;
  ASSERT_NO_FATAL_FAILURE(p.open(o));
  const auto d = pattern(1000, 14);
  p.data(d);
  p.h.advance(40ms);
  Out a = p.expect_ack(0);
  // 256 KiB buffer, 1000 bytes unread, shift 3.
  EXPECT_EQ(a.window, (256u * 1024u - 1000u) >> 3);
}

TEST(TcpDataReceive, OutOfOrderSegmentsGetImmediateDuplicateAcksWithSack) {
  Peer p;
  PeerOptions o;
  o.sack = true;
  ASSERT_NO_FATAL_FAILURE(p.open(o));
  const uint32_t base = p.peer_nxt;  // the stream wraps 2^32 at base + 4095
  const auto d = pattern(4 * kMss, 15);
  // Segment 1 arrives, segment 0 is missing: an immediate duplicate ACK (RFC 5681 4.2) with
  // the block received (RFC 2018 4).
  p.data_at(base + kMss, slice(d, kMss, kMss));
  Out a = p.expect_ack(0);
  ASSERT_EQ(a.options.sack().size(), 1u);
  EXPECT_EQ(a.options.sack()[0], (wire::TcpSackBlock{base + kMss, base + 2 * kMss}));
  // Segment 3: its block comes first, then the earlier one.
  p.data_at(base + 3 * kMss, slice(d, 3 * kMss, kMss));
  a = p.expect_ack(0);
  ASSERT_EQ(a.options.sack().size(), 2u);
  EXPECT_EQ(a.options.sack()[0], (wire::TcpSackBlock{base + 3 * kMss, base + 4 * kMss}));
  EXPECT_EQ(a.options.sack()[1], (wire::TcpSackBlock{base + kMss, base + 2 * kMss}));
  EXPECT_EQ(p.info().bytes_out_of_order, 2 * kMss);
  EXPECT_TRUE(p.recv_all().empty()) << "nothing in order yet";
  // The first hole filled: an immediate ACK up to the second hole, with the block beyond.
  p.data_at(base, slice(d, 0, kMss));
  p.peer_nxt = base + 2 * kMss;
  a = p.expect_ack(0);
  ASSERT_EQ(a.options.sack().size(), 1u);
  EXPECT_EQ(a.options.sack()[0], (wire::TcpSackBlock{base + 3 * kMss, base + 4 * kMss}));
  // The last hole filled: an immediate ACK covering everything, no SACK.
  p.data_at(base + 2 * kMss, slice(d, 2 * kMss, kMss));
  p.peer_nxt = base + 4 * kMss;
  a = p.expect_ack(0);
  EXPECT_EQ(a.options.sack().size(), 0u);
  p.h.expect_no_frame();
  EXPECT_EQ(p.info().bytes_out_of_order, 0u);
  EXPECT_TRUE(p.recv_all() == d);
}

// Opens with an 8 KiB receive buffer and fills it: 5 full segments and 892 bytes.
void fill_small_buffer(Peer& p, const std::vector<std::byte>& d) {
  ASSERT_NO_FATAL_FAILURE(p.listen());
  ASSERT_NO_FATAL_FAILURE(p.set_option(p.listener, SOL_SOCKET, SO_RCVBUF, 8192));
  ASSERT_NO_FATAL_FAILURE(p.handshake());
  EXPECT_EQ(p.syn_ack.window, 8192);
  // The window shrinks as data waits unread.
  p.data(slice(d, 0, kMss));
  p.h.expect_no_frame();
  p.data(slice(d, kMss, kMss));
  EXPECT_EQ(p.expect_ack(0).window, 8192 - 2 * kMss);
  p.data(slice(d, 2 * kMss, kMss));
  p.data(slice(d, 3 * kMss, kMss));
  EXPECT_EQ(p.expect_ack(0).window, 8192 - 4 * kMss);
  p.data(slice(d, 4 * kMss, kMss));
  p.data(slice(d, 5 * kMss, 8192 - 5 * kMss));
  p.quiet(39ms);
  p.h.advance(1ms);
  EXPECT_EQ(p.expect_ack(0).window, 0);
  EXPECT_EQ(p.info().rcv_wnd, 0u);
  EXPECT_EQ(p.info().bytes_unread, 8192u);
}

TEST(TcpDataReceive, WindowShrinksWhileDataWaitsAndReopensAfterRead) {
  Peer p;
  const auto d = pattern(8192, 16);
  ASSERT_NO_FATAL_FAILURE(fill_small_buffer(p, d));
  std::vector<std::byte> got(1000);
  ASSERT_EQ(fg_recv(p.h.stack, p.fd, got.data(), got.size(), 0), 1000);
  // Less than an MSS freed: no window update yet (receiver SWS avoidance, RFC 9293 3.8.6.2.2).
  p.h.expect_no_frame();
  ASSERT_EQ(fg_recv(p.h.stack, p.fd, got.data(), got.size(), 0), 1000);
  EXPECT_EQ(p.expect_ack(0).window, 2000);
  auto rest = p.recv_all();
  EXPECT_EQ(rest.size(), 8192u - 2000u);
  EXPECT_EQ(p.expect_ack(0).window, 8192);
  p.h.expect_no_frame();
  // Data flows again.
  const auto more = pattern(500, 17);
  p.data(more);
  p.h.advance(40ms);
  p.expect_ack(0);
  EXPECT_TRUE(p.recv_all() == more);
}

TEST(TcpDataReceive, ZeroWindowAcceptsNoData) {
  Peer p;
  const auto d = pattern(8192, 18);
  ASSERT_NO_FATAL_FAILURE(fill_small_buffer(p, d));
  const uint32_t edge = p.peer_nxt;
  // Data at RCV.NXT into a zero window: not accepted; an ACK restates the window.
  const auto extra = pattern(100, 19);
  p.data_at(edge, extra);
  Out a = p.expect_ack(0);
  EXPECT_EQ(a.ack, edge);
  EXPECT_EQ(a.window, 0);
  EXPECT_EQ(p.info().bytes_unread, 8192u);
  EXPECT_TRUE(p.recv_all() == d) << "only the data within the window";
  EXPECT_EQ(p.expect_ack(0).window, 8192);
  // Retransmitted into the reopened window, it is accepted.
  p.data(extra);
  p.h.advance(40ms);
  p.expect_ack(0);
  EXPECT_TRUE(p.recv_all() == extra);
}

// ===================================== RTO =====================================

TEST(TcpDataRto, SynAckRetransmittedAfterOneSecondThenTwoThenFour) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.listen());
  ASSERT_NO_FATAL_FAILURE(p.syn());
  for (Duration rto : {Duration(1s), Duration(2s), Duration(4s)}) {
    p.quiet(rto - 1ms);
    p.h.advance(1ms);
    Out s = p.out();
    EXPECT_TRUE(s.has(TcpFlag::syn) && s.has(TcpFlag::ack));
    EXPECT_EQ(s.seq, p.iss);
  }
  ASSERT_NO_FATAL_FAILURE(p.complete());
  // Karn: no sample from the retransmitted SYN-ACK; RFC 6298 5.7: RTO 3 s for the data.
  const ConnectionInfo i = p.info();
  EXPECT_FALSE(i.srtt.has_value());
  EXPECT_EQ(i.rto, Duration(3s));
}

TEST(TcpDataRto, DataRetransmittedWithExponentialBackoff) {
  Peer p;
  PeerOptions o;
  o.handshake_rtt = 100ms;  // SRTT 100 ms, RTTVAR 50 ms: RTO 300 ms (RFC 6298 2.2)
  ASSERT_NO_FATAL_FAILURE(p.open(o));
  ASSERT_TRUE(p.info().srtt);
  EXPECT_EQ(*p.info().srtt, Duration(100ms));
  EXPECT_EQ(p.info().rto, Duration(300ms));
  const auto d = pattern(100, 20);
  ASSERT_EQ(p.send(d), 100);
  p.expect_data(d, 0, 100);
  uint64_t n = 0;
  for (Duration rto : {Duration(300ms), Duration(600ms), Duration(1200ms), Duration(2400ms)}) {
    p.quiet(rto - 1ms);
    p.h.advance(1ms);
    p.expect_data(d, 0, 100);
    ++n;
    EXPECT_EQ(p.events(Event::tcp_timeouts), n);
    EXPECT_EQ(p.events(Event::tcp_retransmits_timeout), n);
    EXPECT_EQ(p.info().rto, 2 * rto);  // RFC 6298 5.5
  }
  EXPECT_EQ(p.info().retransmits, n);
  p.ack_bytes(100);
  p.quiet(60s);
  EXPECT_EQ(p.events(Event::tcp_timeouts), n);
}

TEST(TcpDataRto, TimeoutResendsOneSegmentThenSlowStarts) {
  Peer p(newreno_config());
  ASSERT_NO_FATAL_FAILURE(p.open());
  const auto d = pattern(3 * kMss, 43);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  for (size_t i = 0; i < 3; ++i) p.expect_data(d, i * kMss, kMss);
  // All three lost. RFC 5681 3.1: after the timeout cwnd is one segment (the loss window)
  // and ssthresh max(FlightSize / 2, 2 * SMSS).
  p.quiet(199ms);
  p.h.advance(1ms);
  p.expect_data(d, 0, kMss);
  p.h.expect_no_frame();
  ConnectionInfo i = p.info();
  EXPECT_EQ(i.cwnd, kMss);
  EXPECT_EQ(i.ssthresh, 2 * kMss);
  // Its ACK doubles cwnd: the other two go out again (go-back-N from SND.UNA).
  p.ack_bytes(kMss);
  p.expect_data(d, kMss, kMss);
  p.expect_data(d, 2 * kMss, kMss);
  p.h.expect_no_frame();
  EXPECT_EQ(p.events(Event::tcp_timeouts), 1u);
  EXPECT_EQ(p.events(Event::tcp_retransmits_timeout), 3u);
  p.ack_bytes(3 * kMss);
  p.quiet(10s);
}

TEST(TcpDataRto, RttSampleAfterTheHandshakeLowersTheRto) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.listen());
  ASSERT_NO_FATAL_FAILURE(p.syn());
  p.h.advance(1s);
  p.out();  // the SYN-ACK again
  ASSERT_NO_FATAL_FAILURE(p.complete());
  EXPECT_EQ(p.info().rto, Duration(3s));
  const auto d = pattern(200, 21);
  ASSERT_EQ(p.send(slice(d, 0, 100)), 100);
  p.expect_data(d, 0, 100);
  p.h.advance(100ms);
  p.ack_bytes(100);
  ConnectionInfo i = p.info();
  ASSERT_TRUE(i.srtt);
  EXPECT_EQ(*i.srtt, Duration(100ms));
  EXPECT_EQ(i.rto, Duration(300ms));  // 100 + 4 * 50
  ASSERT_EQ(p.send(slice(d, 100, 100)), 100);
  p.expect_data(d, 100, 100);
  p.quiet(299ms);
  p.h.advance(1ms);
  p.expect_data(d, 100, 100);
}

TEST(TcpDataRto, RtoNeverFallsBelow200ms) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());  // handshake RTT 0
  EXPECT_EQ(p.info().rto, Duration(200ms));
  const auto d = pattern(200, 22);
  ASSERT_EQ(p.send(slice(d, 0, 100)), 100);
  p.expect_data(d, 0, 100);
  p.h.advance(10ms);
  p.ack_bytes(100);
  EXPECT_EQ(p.info().rto, Duration(200ms));
  ASSERT_EQ(p.send(slice(d, 100, 100)), 100);
  p.expect_data(d, 100, 100);
  p.quiet(199ms);
  p.h.advance(1ms);
  p.expect_data(d, 100, 100);
}

TEST(TcpDataRto, KarnTakesNoSampleFromARetransmittedSegment) {
  Peer p;
  PeerOptions o;
  o.handshake_rtt = 100ms;
  ASSERT_NO_FATAL_FAILURE(p.open(o));
  const auto d = pattern(200, 23);
  ASSERT_EQ(p.send(slice(d, 0, 100)), 100);
  p.expect_data(d, 0, 100);
  p.h.advance(300ms);
  p.expect_data(d, 0, 100);
  p.h.advance(50ms);
  p.ack_bytes(100);  // ambiguous: for the original (350 ms) or the retransmission (50 ms)?
  ConnectionInfo i = p.info();
  ASSERT_TRUE(i.srtt);
  EXPECT_EQ(*i.srtt, Duration(100ms));
  EXPECT_EQ(i.rto, Duration(600ms)) << "the backed-off RTO stays until a valid sample";
  // A segment sent once gives a sample: SRTT = 7/8 * 100 + 1/8 * 20.
  ASSERT_EQ(p.send(slice(d, 100, 100)), 100);
  p.expect_data(d, 100, 100);
  p.h.advance(20ms);
  p.ack_bytes(200);
  i = p.info();
  ASSERT_TRUE(i.srtt);
  EXPECT_EQ(*i.srtt, Duration(90ms));
  EXPECT_EQ(i.rto, Duration(320ms));  // RTTVAR = 3/4 * 50 + 1/4 * 80 = 57.5 ms
}

TEST(TcpDataRto, GivesUpAfterFifteenRetransmissions) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  const auto d = pattern(100, 24);
  ASSERT_EQ(p.send(d), 100);
  p.expect_data(d, 0, 100);
  Duration rto = 200ms;
  for (int k = 1; k <= 15; ++k) {
    p.quiet(rto - 1ms);
    p.h.advance(1ms);
    p.expect_data(d, 0, 100);
    rto = std::min<Duration>(2 * rto, 120s);
  }
  EXPECT_EQ(tcp::to_string(p.info().state), tcp::to_string(TcpState::established));
  p.h.advance(rto);
  EXPECT_EQ(tcp::to_string(p.info().state), tcp::to_string(TcpState::closed));
  EXPECT_EQ(p.events(Event::tcp_timeouts), 16u);
  EXPECT_EQ(p.events(Event::tcp_retransmits_timeout), 15u);
  char c;
  EXPECT_EQ(fg_recv(p.h.stack, p.fd, &c, 1, 0), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
}

// ================================ fast retransmit ================================

TEST(TcpDataFastRetransmit, ThirdDuplicateAckRetransmitsAtOnce) {
  Peer p(newreno_config());
  ASSERT_NO_FATAL_FAILURE(p.open());
  const auto d = pattern(10 * kMss, 25);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  for (size_t i = 0; i < 10; ++i) p.expect_data(d, i * kMss, kMss);
  // Segment 0 was lost; the peer answers each later one with a duplicate ACK.
  p.ack_bytes(0);
  p.ack_bytes(0);
  p.h.expect_no_frame();  // two are not enough (RFC 5681 3.2)
  EXPECT_EQ(p.events(Event::tcp_dup_acks_received), 2u);
  p.ack_bytes(0);
  p.expect_data(d, 0, kMss);
  p.h.expect_no_frame();
  EXPECT_EQ(p.events(Event::tcp_retransmits_fast), 1u);
  EXPECT_EQ(p.events(Event::tcp_fast_recoveries), 1u);
  EXPECT_EQ(p.events(Event::tcp_timeouts), 0u);
  const ConnectionInfo i = p.info();
  EXPECT_EQ(i.ssthresh, 5 * kMss);  // FlightSize / 2
  EXPECT_EQ(i.cwnd, 8 * kMss);      // ssthresh + 3 * SMSS
}

TEST(TcpDataFastRetransmit, NewRenoPartialAckRetransmitsTheNextHoleAndAFullAckEndsRecovery) {
  Peer p(newreno_config());
  ASSERT_NO_FATAL_FAILURE(p.open());
  const auto d = pattern(20 * kMss, 26);
  ASSERT_EQ(p.send(slice(d, 0, 10 * kMss)), static_cast<long>(10 * kMss));
  for (size_t i = 0; i < 10; ++i) p.expect_data(d, i * kMss, kMss);
  // Segments 0 and 3 lost: 8 duplicate ACKs.
  for (int k = 0; k < 3; ++k) p.ack_bytes(0);
  p.expect_data(d, 0, kMss);
  for (int k = 0; k < 5; ++k) p.ack_bytes(0);
  p.h.expect_no_frame();
  // Partial ACK up to the second hole: retransmit it at once (RFC 6582 3.2 step 4).
  p.ack_bytes(3 * kMss);
  p.expect_data(d, 3 * kMss, kMss);
  p.h.expect_no_frame();
  EXPECT_EQ(p.events(Event::tcp_retransmits_fast), 2u);
  EXPECT_EQ(p.events(Event::tcp_fast_recoveries), 1u);
  // Full ACK: recovery ends with cwnd = ssthresh (step 3).
  p.ack_bytes(10 * kMss);
  p.h.expect_no_frame();
  ConnectionInfo i = p.info();
  EXPECT_EQ(i.ssthresh, 5 * kMss);
  EXPECT_EQ(i.cwnd, 5 * kMss);
  EXPECT_EQ(p.events(Event::tcp_timeouts), 0u);
  // New data goes out within that window.
  ASSERT_EQ(p.send(slice(d, 10 * kMss, 10 * kMss)), static_cast<long>(10 * kMss));
  for (size_t k = 10; k < 15; ++k) p.expect_data(d, k * kMss, kMss);
  p.h.expect_no_frame();
}

// ================================ zero-window probing ================================

TEST(TcpDataPersist, ZeroWindowProbesBackOffAndNeverDropTheConnection) {
  Peer p;
  PeerOptions o;
  o.syn_window = kMss;
  o.window = kMss;
  ASSERT_NO_FATAL_FAILURE(p.open(o));
  const auto d = pattern(3 * kMss, 27);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  p.expect_data(d, 0, kMss);
  p.h.expect_no_frame();
  p.ack_bytes(kMss, 0);  // the peer's buffer is full
  p.h.expect_no_frame();
  EXPECT_EQ(p.info().rto, Duration(200ms));
  // Probes <SEQ=SND.UNA-1><ACK=RCV.NXT>, backing off from the RTO to persist_max (60 s);
  // the peer answers each with window 0, for longer than the retransmission give-up.
  Duration interval = 200ms;
  Duration total{};
  int probes = 0;
  while (total < 1200s) {
    p.quiet(interval - 1ms);
    p.h.advance(1ms);
    Out s = p.out();
    EXPECT_EQ(s.seq, p.seq_of(kMss) - 1) << "probe " << probes;
    EXPECT_EQ(s.len(), 0u);
    EXPECT_TRUE(s.has(TcpFlag::ack));
    ++probes;
    total += interval;
    interval = std::min<Duration>(2 * interval, 60s);
    p.ack_bytes(kMss, 0);
    p.h.expect_no_frame();
  }
  EXPECT_EQ(p.events(Event::tcp_zero_window_probes), static_cast<uint64_t>(probes));
  EXPECT_EQ(tcp::to_string(p.info().state), tcp::to_string(TcpState::established));
  EXPECT_EQ(p.info().bytes_not_sendable, 2 * kMss);
  // The peer's answer to the next probe opens the window: the data flows.
  p.h.advance(interval);
  p.out();
  p.ack_bytes(kMss, 65535);
  p.expect_data(d, kMss, kMss);
  Out last = p.expect_data(d, 2 * kMss, kMss);
  EXPECT_TRUE(last.has(TcpFlag::psh));
  p.h.expect_no_frame();
  p.ack_bytes(3 * kMss);
  p.quiet(120s);
}

TEST(TcpDataPersist, ZeroWindowWithDataStillOutstandingIsProbedNotTimedOut) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  const auto d = pattern(4 * kMss, 44);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  for (size_t i = 0; i < 4; ++i) p.expect_data(d, i * kMss, kMss);
  // Segments 2 and 3 are lost, and the peer's buffer is full after segment 1.
  p.ack_bytes(2 * kMss, 0);
  // RFC 1122 4.2.2.17: "As long as the receiving TCP continues to send acknowledgments in
  // response to the probe segments, the sending TCP MUST allow the connection to stay
  // open." Whatever we send (a probe, or a retransmission serving as one), the peer
  // answers with window 0; 20 minutes later the connection is still there.
  uint64_t sent = 0;
  for (int second = 0; second < 1200; ++second) {
    p.h.advance(1s);
    while (p.h.pending_frames() > 0) {
      p.out();
      ++sent;
      p.ack_bytes(2 * kMss, 0);
    }
  }
  EXPECT_GT(sent, 0u) << "nothing ever probed the closed window";
  ASSERT_EQ(tcp::to_string(p.info().state), tcp::to_string(TcpState::established));
  // The window opens: the lost segments go again.
  p.ack_bytes(2 * kMss, 65535);
  p.expect_data(d, 2 * kMss, kMss);
}

// ===================================== keepalive =====================================

void enable_keepalive(Peer& p, int fd) {
  ASSERT_NO_FATAL_FAILURE(p.set_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1));
  ASSERT_NO_FATAL_FAILURE(p.set_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, 10));
  ASSERT_NO_FATAL_FAILURE(p.set_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, 2));
  ASSERT_NO_FATAL_FAILURE(p.set_option(fd, IPPROTO_TCP, TCP_KEEPCNT, 3));
}

void expect_keepalive_probe(Peer& p, std::source_location where = std::source_location::current()) {
  ::testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "probe");
  Out s = p.out(where);
  EXPECT_EQ(s.seq, p.seq_of(0) - 1);  // SND.UNA - 1 (RFC 1122 4.2.3.6)
  EXPECT_EQ(s.ack, p.peer_nxt);
  EXPECT_EQ(s.len(), 0u);
  EXPECT_TRUE(s.has(TcpFlag::ack));
}

TEST(TcpDataKeepalive, UnansweredProbesCloseTheConnectionWithEtimedout) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.listen());
  ASSERT_NO_FATAL_FAILURE(enable_keepalive(p, p.listener));  // inherited by the accepted socket
  ASSERT_NO_FATAL_FAILURE(p.handshake());
  p.quiet(10s - 1ms);
  p.h.advance(1ms);
  expect_keepalive_probe(p);  // at 10 s
  p.quiet(2s - 1ms);
  p.h.advance(1ms);
  expect_keepalive_probe(p);  // 12 s
  p.quiet(2s - 1ms);
  p.h.advance(1ms);
  expect_keepalive_probe(p);  // 14 s
  p.h.advance(2s - 1ms);
  EXPECT_EQ(tcp::to_string(p.info().state), tcp::to_string(TcpState::established));
  p.h.advance(1ms);
  EXPECT_EQ(tcp::to_string(p.info().state), tcp::to_string(TcpState::closed));
  EXPECT_EQ(p.events(Event::tcp_keepalive_probes), 3u);
  EXPECT_EQ(p.events(Event::tcp_keepalive_timeouts), 1u);
  char c;
  EXPECT_EQ(fg_recv(p.h.stack, p.fd, &c, 1, 0), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
}

TEST(TcpDataKeepalive, AnsweredProbeRestartsTheIdleTimer) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.listen());
  ASSERT_NO_FATAL_FAILURE(enable_keepalive(p, p.listener));
  ASSERT_NO_FATAL_FAILURE(p.handshake());
  p.h.advance(10s);
  expect_keepalive_probe(p);
  p.ack(p.seq_of(0));  // the peer's answer
  p.quiet(10s - 1ms);
  p.h.advance(1ms);
  expect_keepalive_probe(p);
  p.ack(p.seq_of(0));
  p.quiet(10s - 1ms);
  p.h.advance(1ms);
  expect_keepalive_probe(p);
  EXPECT_EQ(tcp::to_string(p.info().state), tcp::to_string(TcpState::established));
  EXPECT_EQ(p.events(Event::tcp_keepalive_timeouts), 0u);
}

TEST(TcpDataKeepalive, EnabledOnAnEstablishedSocket) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  ASSERT_NO_FATAL_FAILURE(enable_keepalive(p, p.fd));
  // As on Linux (tcp_set_keepalive), enabling keepalive on an idle connection arms it.
  p.quiet(10s - 1ms);
  p.h.advance(1ms);
  expect_keepalive_probe(p);
}

// ===================================== urgent data =====================================

TEST(TcpDataUrgent, UrgentDataIsDeliveredInline) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  const auto d = pattern(11, 28);
  TcpRepr r = p.segment(TcpFlag::ack | TcpFlag::urg | TcpFlag::psh);
  r.payload = d;
  r.urgent_pointer = 5;
  p.inject(r);
  p.peer_nxt += 11;
  EXPECT_TRUE(p.recv_all() == d) << "urgent bytes stay in the stream (RFC 6093)";
  p.h.advance(40ms);
  p.expect_ack(0);
}

TEST(TcpDataUrgent, UrgentFlagWithPointerZeroIsIgnored) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  const auto d = pattern(300, 29);
  TcpRepr r = p.segment(TcpFlag::ack | TcpFlag::urg);
  r.payload = Bytes(d).first(100);
  r.urgent_pointer = 0;
  p.inject(r);
  p.peer_nxt += 100;
  p.data(slice(d, 100, 200));
  p.h.advance(40ms);
  p.expect_ack(0);
  EXPECT_TRUE(p.recv_all() == d);
}

// ===================================== PMTU =====================================

TEST(TcpDataPmtu, FragmentationNeededLowersTheSendMss) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  std::vector<std::byte> stream = pattern(100 + 3 * 960, 30);
  ASSERT_EQ(p.send(slice(stream, 0, 100)), 100);
  Out s = p.expect_data(stream, 0, 100);
  p.h.receive(frag_needed(s, 1000));
  EXPECT_EQ(p.info().smss, 1000u - 40u);
  EXPECT_EQ(p.events(Event::tcp_pmtu_updates), 1u);
  p.expect_data(stream, 0, 100);  // the dropped segment, again at once
  p.ack_bytes(100);
  ASSERT_EQ(p.send(slice(stream, 100, 3 * 960)), 3 * 960);
  for (size_t i = 0; i < 3; ++i) p.expect_data(stream, 100 + i * 960, 960);
  p.h.expect_no_frame();
}

TEST(TcpDataPmtu, TooBigSegmentsInFlightAreResentWithoutATimeout) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  const auto d = pattern(3 * kMss, 45);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  Out first = p.expect_data(d, 0, kMss);
  p.expect_data(d, kMss, kMss);
  p.expect_data(d, 2 * kMss, kMss);
  // The router dropped all three. RFC 1191 6.5: the retransmission caused by a Datagram Too
  // Big message "should not change the congestion window. It should, however, trigger the
  // slow-start mechanism (i.e., only one segment should be retransmitted until
  // acknowledgements begin to arrive again)".
  p.h.receive(frag_needed(first, 1000));
  p.expect_data(d, 0, 960);
  p.h.expect_no_frame();
  EXPECT_EQ(p.info().cwnd, 10 * kMss);
  // The ACK arrives: the rest of the dropped data follows in 960-byte segments at once,
  // not after a retransmission timeout.
  p.ack_bytes(960);
  p.expect_data(d, 960, 960);
  p.drain();
  EXPECT_EQ(p.events(Event::tcp_timeouts), 0u);
}

TEST(TcpDataPmtu, TinyMtuIsClampedToTheMinimumMss) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  std::vector<std::byte> stream = pattern(100 + 2 * 512, 31);
  ASSERT_EQ(p.send(slice(stream, 0, 100)), 100);
  Out s = p.expect_data(stream, 0, 100);
  p.h.receive(frag_needed(s, 100));
  EXPECT_EQ(p.info().smss, 512u);  // TcpConfig::min_mss
  p.expect_data(stream, 0, 100);
  p.ack_bytes(100);
  ASSERT_EQ(p.send(slice(stream, 100, 1024)), 1024);
  p.expect_data(stream, 100, 512);
  p.expect_data(stream, 612, 512);
  p.h.expect_no_frame();
}

TEST(TcpDataPmtu, FragmentationNeededForDataNotInFlightIsIgnored) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  const auto d = pattern(100, 32);
  ASSERT_EQ(p.send(d), 100);
  Out s = p.expect_data(d, 0, 100);
  p.ack_bytes(100);
  // RFC 5927 4.1: an ICMP error is acted on only if the quoted sequence number lies in
  // [SND.UNA, SND.NXT); this one quotes acknowledged data (a stale or forged message).
  p.h.receive(frag_needed(s, 1000));
  EXPECT_EQ(p.info().smss, kMss);
  p.h.expect_no_frame();
}

// ===================================== ECN =====================================

TEST(TcpDataEcn, PassiveSetupMarksNewDataEct0Only) {
  Peer p;
  PeerOptions o;
  o.ecn = true;
  ASSERT_NO_FATAL_FAILURE(p.open(o));
  // RFC 3168 6.1.1: the ECN-setup SYN-ACK has ECE and not CWR.
  EXPECT_TRUE(p.syn_ack.has(TcpFlag::ece));
  EXPECT_FALSE(p.syn_ack.has(TcpFlag::cwr));
  EXPECT_EQ(p.syn_ack.ecn(), 0);
  EXPECT_TRUE(p.info().ecn);
  // A pure ACK is not ECN-capable (RFC 3168 6.1.4).
  p.data(pattern(100, 33));
  p.h.advance(40ms);
  EXPECT_EQ(p.expect_ack(0).ecn(), 0);
  // New data is ECT(0); its retransmission is not (RFC 3168 6.1.5).
  const auto d = pattern(100, 34);
  ASSERT_EQ(p.send(d), 100);
  Out s = p.expect_data(d, 0, 100);
  EXPECT_EQ(s.ecn(), 2);
  EXPECT_FALSE(s.has(TcpFlag::ece) || s.has(TcpFlag::cwr));
  p.h.advance(200ms);
  s = p.expect_data(d, 0, 100);
  EXPECT_EQ(s.ecn(), 0);
}

TEST(TcpDataEcn, NoEcnWithoutThePeersRequest) {
  Peer p;
  ASSERT_NO_FATAL_FAILURE(p.open());
  EXPECT_FALSE(p.syn_ack.has(TcpFlag::ece));
  EXPECT_FALSE(p.info().ecn);
  const auto d = pattern(100, 35);
  ASSERT_EQ(p.send(d), 100);
  EXPECT_EQ(p.expect_data(d, 0, 100).ecn(), 0);
}

TEST(TcpDataEcn, ActiveOpenRequestsEcn) {
  StackConfig config = data_config();
  config.tcp.ecn = true;
  Peer p(config);
  p.fd = fg_socket(p.h.stack, AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(kPeerIp.value);
  a.sin_port = htons(kPeerPort);
  ASSERT_EQ(fg_connect(p.h.stack, p.fd, reinterpret_cast<sockaddr*>(&a), sizeof a), -1);
  ASSERT_EQ(errno, EINPROGRESS);
  Out syn = p.out();
  ASSERT_TRUE(syn.present);
  // RFC 3168 6.1.1: an ECN-setup SYN has ECE and CWR, and is not itself ECN-capable.
  EXPECT_TRUE(syn.has(TcpFlag::syn) && syn.has(TcpFlag::ece) && syn.has(TcpFlag::cwr));
  EXPECT_EQ(syn.ecn(), 0);
  p.our_port = syn.src_port;
  p.iss = syn.seq;
  p.peer_nxt = kPeerIss;
  p.peer_ack = p.iss + 1;
  TcpRepr synack = p.segment(TcpFlag::syn | TcpFlag::ack | TcpFlag::ece);
  synack.options.mss = kMss;
  p.inject(synack);
  p.peer_nxt = kPeerIss + 1;
  p.expect_ack(0);
  EXPECT_TRUE(p.info().ecn);
  const auto d = pattern(100, 36);
  ASSERT_EQ(p.send(d), 100);
  EXPECT_EQ(p.expect_data(d, 0, 100).ecn(), 2);
}

TEST(TcpDataEcn, CeMarkMakesOurAcksCarryEceUntilCwr) {
  Peer p;
  PeerOptions o;
  o.ecn = true;
  ASSERT_NO_FATAL_FAILURE(p.open(o));
  p.data(pattern(500, 37), {}, 3);  // CE
  p.h.advance(40ms);
  EXPECT_TRUE(p.expect_ack(0).has(TcpFlag::ece));
  p.h.expect_no_frame();
  EXPECT_EQ(p.events(Event::tcp_ecn_ce_received), 1u);
  // Not marked, but no CWR yet: still ECE (RFC 3168 6.1.3).
  p.data(pattern(500, 38), {}, 2);
  p.h.advance(40ms);
  EXPECT_TRUE(p.expect_ack(0).has(TcpFlag::ece));
  p.h.expect_no_frame();
  // The peer's CWR: our ACKs stop echoing.
  p.data(pattern(500, 39), TcpFlag::cwr, 2);
  p.h.advance(40ms);
  EXPECT_FALSE(p.expect_ack(0).has(TcpFlag::ece));
  p.h.expect_no_frame();
  EXPECT_EQ(p.recv_all().size(), 1500u);
}

TEST(TcpDataEcn, EceReducesCwndOncePerWindowAndSetsCwrOnNewData) {
  Peer p(newreno_config());
  PeerOptions o;
  o.ecn = true;
  ASSERT_NO_FATAL_FAILURE(p.open(o));
  const auto d = pattern(14 * kMss, 40);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(p.expect_data(d, i * kMss, kMss).ecn(), 2);
  // ECE: react as to a loss (RFC 3168 6.1.2), ssthresh = cwnd = FlightSize / 2.
  p.ack_bytes(kMss, {}, TcpFlag::ece);
  p.h.expect_no_frame();
  ConnectionInfo i = p.info();
  EXPECT_EQ(i.ssthresh, 5 * kMss);
  EXPECT_EQ(i.cwnd, 5 * kMss);
  // More ECE in the same window: no second reduction. Room for new data: the first new
  // segment carries CWR, the next ones do not.
  p.ack_bytes(7 * kMss, {}, TcpFlag::ece);
  EXPECT_EQ(p.info().ssthresh, 5 * kMss);
  Out first = p.expect_data(d, 10 * kMss, kMss);
  EXPECT_TRUE(first.has(TcpFlag::cwr));
  EXPECT_EQ(first.ecn(), 2);
  size_t sent = 11;
  while (p.h.pending_frames() > 0 && sent < 14) {
    Out s = p.expect_data(d, sent * kMss, kMss);
    EXPECT_FALSE(s.has(TcpFlag::cwr));
    ++sent;
  }
  // ECE for data sent after the reduction: a new window, a new reduction.
  p.ack_bytes(sent * kMss, {}, TcpFlag::ece);
  const uint32_t flight = static_cast<uint32_t>(sent - 7) * kMss;
  EXPECT_EQ(p.info().ssthresh, std::max(flight / 2, 2 * kMss));  // RFC 5681 eq. 4
}

TEST(TcpDataEcn, EceAckDoesNotGrowCwnd) {
  Peer p(newreno_config());
  PeerOptions o;
  o.ecn = true;
  ASSERT_NO_FATAL_FAILURE(p.open(o));
  const auto d = pattern(10 * kMss, 41);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  for (size_t i = 0; i < 10; ++i) p.expect_data(d, i * kMss, kMss);
  // RFC 3168 6.1.2: "the sending TCP SHOULD NOT increase the congestion window in response to
  // the receipt of an ECN-Echo ACK packet": the ACK that halves cwnd must not grow it back.
  p.ack_bytes(5 * kMss, {}, TcpFlag::ece);
  const ConnectionInfo i = p.info();
  EXPECT_EQ(i.ssthresh, 5 * kMss);
  EXPECT_EQ(i.cwnd, 5 * kMss);
}

TEST(TcpDataEcn, CwrIsNotSetOnARetransmission) {
  Peer p(newreno_config());
  PeerOptions o;
  o.ecn = true;
  ASSERT_NO_FATAL_FAILURE(p.open(o));
  const auto d = pattern(12 * kMss, 42);
  ASSERT_EQ(p.send(d), static_cast<long>(d.size()));
  for (size_t i = 0; i < 10; ++i) p.expect_data(d, i * kMss, kMss);
  // Segment 0 lost, a later one CE-marked: duplicate ACKs with ECE.
  for (int k = 0; k < 3; ++k) p.ack_bytes(0, {}, TcpFlag::ece);
  // RFC 3168 6.1.2: "the CWR bit in the TCP header SHOULD NOT be set on retransmitted
  // packets"; it goes on the first new data segment.
  Out rtx = p.expect_data(d, 0, kMss);
  EXPECT_FALSE(rtx.has(TcpFlag::cwr));
  EXPECT_EQ(rtx.ecn(), 0);
  // Three more duplicate ACKs inflate the window enough for one new segment.
  for (int k = 0; k < 3; ++k) p.ack_bytes(0, {}, TcpFlag::ece);
  Out fresh = p.expect_data(d, 10 * kMss, kMss);
  EXPECT_TRUE(fresh.has(TcpFlag::cwr));
  EXPECT_EQ(fresh.ecn(), 2);
  p.h.expect_no_frame();
}

}  // namespace
}  // namespace flowgate::test
