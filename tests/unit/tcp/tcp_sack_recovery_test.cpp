// RFC 6675 loss recovery driven by SACK: two holes in one window are both repaired without
// waiting for a retransmission timeout, and data blocks the peer SACKed are not resent.
#include <gtest/gtest.h>

#include <set>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::test {
namespace {

using wire::TcpFlag;
using wire::TcpRepr;

constexpr uint16_t kPort = 80;
constexpr uint16_t kPeerPort = 40000;
constexpr uint32_t kPeerIsn = 1000;

StackConfig config() {
  StackConfig c = lab_config();
  c.secret_key = std::array<uint8_t, 16>{7};
  c.arp.static_entries.push_back({kPeerIp, kPeerMac});
  return c;
}

// We listen; the test is the peer. Returns the accepted fd and our ISN.
struct Established {
  StackHarness h{config()};
  int fd = -1;
  uint32_t our_isn = 0;
  uint32_t peer_ts = 100;

  Established() {
    int l = fg_socket(h.stack, AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(kPort);
    EXPECT_EQ(fg_bind(h.stack, l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(fg_listen(h.stack, l, 8), 0);
    TcpRepr syn = base();
    syn.seq = kPeerIsn;
    syn.flags = TcpFlag::syn;
    syn.options.mss = 1460;
    syn.options.sack_permitted = true;
    syn.options.timestamps = wire::TcpTimestamps{peer_ts, 0};
    h.receive(peer_tcp_frame(syn));
    auto synack = h.expect_frame();
    EXPECT_TRUE(synack.tcp && synack.tcp->flags.has(TcpFlag::syn));
    our_isn = synack.tcp->seq;
    ack(our_isn + 1, {});
    fd = fg_accept(h.stack, l, nullptr, nullptr);
    EXPECT_GE(fd, 0);
  }

  TcpRepr base() {
    TcpRepr r;
    r.src_port = kPeerPort;
    r.dst_port = kPort;
    r.window = 65535;
    return r;
  }

  // The peer's ACK with the given SACK blocks (absolute sequence numbers).
  void ack(uint32_t ack_no, std::vector<std::pair<uint32_t, uint32_t>> sack) {
    TcpRepr r = base();
    r.seq = kPeerIsn + 1;
    r.ack = ack_no;
    r.flags = TcpFlag::ack;
    r.options.timestamps = wire::TcpTimestamps{++peer_ts, 0};
    for (auto [l, rr] : sack) r.options.add_sack_block({l, rr});
    h.receive(peer_tcp_frame(r));
  }
};

TEST(TcpSackRecovery, TwoHolesInOneWindowAreRepairedWithoutATimeout) {
  Established e;
  tcp::ConnectionInfo info;
  socklen_t len = sizeof info;
  ASSERT_EQ(fg_getsockopt(e.h.stack, e.fd, IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  ASSERT_TRUE(info.sack);
  const uint32_t mss = info.smss;
  // Ten segments: the initial window (RFC 6928) lets them all go at once.
  auto data = pattern(10 * mss, 5);
  ASSERT_EQ(fg_send(e.h.stack, e.fd, data.data(), data.size(), 0),
            static_cast<ssize_t>(data.size()));
  std::vector<uint32_t> seqs;
  while (e.h.pending_frames() > 0) {
    auto f = e.h.expect_frame();
    ASSERT_TRUE(f.tcp);
    seqs.push_back(f.tcp->seq);
  }
  ASSERT_EQ(seqs.size(), 10u);
  const uint32_t s0 = e.our_isn + 1;
  auto seg = [&](uint32_t i) { return s0 + i * mss; };
  // Segments 1 and 4 (0-based) are lost. The peer ACKs segment 0, then SACKs what follows.
  e.ack(seg(1), {});
  e.ack(seg(1), {{seg(2), seg(3)}});
  e.ack(seg(1), {{seg(2), seg(4)}});
  e.ack(seg(1), {{seg(5), seg(6)}, {seg(2), seg(4)}});
  // Three SACKed segments above segment 1: it is lost (RFC 6675 IsLost) -> retransmitted.
  std::set<uint32_t> retransmitted;
  while (e.h.pending_frames() > 0) {
    auto f = e.h.expect_frame();
    if (f.tcp && !f.tcp->payload.empty()) retransmitted.insert(f.tcp->seq);
  }
  EXPECT_TRUE(retransmitted.contains(seg(1))) << "first hole resent on the SACK evidence";
  e.ack(seg(1), {{seg(5), seg(10)}, {seg(2), seg(4)}});
  while (e.h.pending_frames() > 0) {
    auto f = e.h.expect_frame();
    if (f.tcp && !f.tcp->payload.empty()) retransmitted.insert(f.tcp->seq);
  }
  EXPECT_TRUE(retransmitted.contains(seg(4))) << "second hole resent in the same recovery";
  for (uint32_t i : {2u, 3u, 5u, 6u, 7u, 8u, 9u})
    EXPECT_FALSE(retransmitted.contains(seg(i))) << "SACKed segment " << i << " resent";
  EXPECT_EQ(e.h.events(Event::tcp_timeouts), 0u);
  EXPECT_EQ(e.h.events(Event::tcp_fast_recoveries), 1u);
  // The peer now has everything: a cumulative ACK ends recovery.
  e.ack(seg(10), {});
  ASSERT_EQ(fg_getsockopt(e.h.stack, e.fd, IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  EXPECT_EQ(info.bytes_in_flight, 0u);
  EXPECT_EQ(info.bytes_acked, data.size());
  EXPECT_EQ(info.cwnd, info.ssthresh) << "RFC 6675: leaving recovery with cwnd = ssthresh";
}

TEST(TcpSackRecovery, InvalidSackBlocksAreIgnoredAndCounted) {
  Established e;
  auto data = pattern(4000, 1);
  ASSERT_GT(fg_send(e.h.stack, e.fd, data.data(), data.size(), 0), 0);
  e.h.link.frames.clear();
  const uint32_t s0 = e.our_isn + 1;
  // Beyond what we sent, and reversed.
  e.ack(s0, {{s0 + 100000, s0 + 100100}, {s0 + 500, s0 + 100}});
  EXPECT_EQ(e.h.events(Event::tcp_sack_blocks_ignored), 2u);
  EXPECT_EQ(e.h.events(Event::tcp_fast_recoveries), 0u);
}

}  // namespace
}  // namespace flowgate::test
