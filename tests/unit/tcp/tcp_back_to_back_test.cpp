// Two stacks back to back talking TCP through the POSIX-like API: handshake, bulk transfer
// both ways, half-close, orderly close into TIME-WAIT, and loss recovery when the link drops
// frames.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::test {
namespace {

using tcp::TcpState;

StackConfig server_config() {
  StackConfig c = lab_config();
  c.secret_key = std::array<uint8_t, 16>{1, 2, 3};
  return c;
}

StackConfig client_config() {
  StackConfig c = lab_config();
  c.mac = kPeerMac;
  c.address = {kPeerIp, 24};
  c.first_ip_id = 30000;
  c.secret_key = std::array<uint8_t, 16>{4, 5, 6};
  return c;
}

sockaddr_in endpoint(wire::Ipv4Address ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip.value);
  a.sin_port = htons(port);
  return a;
}

struct Pair {
  BackToBack net{server_config(), client_config()};
  int listener = -1;
  int server = -1;  // accepted
  int client = -1;

  Stack& s() { return net.a; }
  Stack& c() { return net.b; }

  void connect(uint16_t port = 80) {
    net.run();
    listener = fg_socket(s(), AF_INET, SOCK_STREAM, 0);
    auto local = endpoint(wire::Ipv4Address::any(), port);
    ASSERT_EQ(fg_bind(s(), listener, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
    ASSERT_EQ(fg_listen(s(), listener, 16), 0);
    client = fg_socket(c(), AF_INET, SOCK_STREAM, 0);
    auto remote = endpoint(kOurIp, port);
    ASSERT_EQ(fg_connect(c(), client, reinterpret_cast<sockaddr*>(&remote), sizeof remote), -1);
    ASSERT_EQ(errno, EINPROGRESS);
    net.run();
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    server = fg_accept(s(), listener, reinterpret_cast<sockaddr*>(&peer), &len);
    ASSERT_GE(server, 0) << strerror(errno);
    EXPECT_EQ(ntohl(peer.sin_addr.s_addr), kPeerIp.value);
  }

  // Moves `data` from one socket to the other, advancing time as needed; returns what the
  // receiver got.
  std::vector<std::byte> transfer(Stack& from, int from_fd, Stack& to, int to_fd,
                                  const std::vector<std::byte>& data) {
    std::vector<std::byte> got;
    size_t sent = 0;
    std::vector<std::byte> buf(65536);
    for (int round = 0; round < 100000 && got.size() < data.size(); ++round) {
      if (sent < data.size()) {
        ssize_t n = fg_send(from, from_fd, data.data() + sent, data.size() - sent, 0);
        if (n > 0) sent += static_cast<size_t>(n);
      }
      net.run();
      for (;;) {
        ssize_t n = fg_recv(to, to_fd, buf.data(), buf.size(), 0);
        if (n <= 0) break;
        got.insert(got.end(), buf.begin(), buf.begin() + n);
      }
      net.run();
      net.advance(std::chrono::milliseconds(1));
    }
    return got;
  }
};

TEST(TcpBackToBack, HandshakeThenAccept) {
  Pair p;
  p.connect();
  tcp::ConnectionInfo info;
  socklen_t len = sizeof info;
  ASSERT_EQ(fg_getsockopt(p.c(), p.client, IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  EXPECT_EQ(info.state, TcpState::established);
  EXPECT_TRUE(info.timestamps);
  EXPECT_TRUE(info.sack);
  EXPECT_EQ(info.smss, 1460u - 12u);
  ASSERT_EQ(fg_getsockopt(p.s(), p.server, IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  EXPECT_EQ(info.state, TcpState::established);
  EXPECT_EQ(p.s().counters()[Event::tcp_passive_opens], 1u);
  EXPECT_EQ(p.c().counters()[Event::tcp_active_opens], 1u);
}

TEST(TcpBackToBack, BulkTransferBothWays) {
  Pair p;
  p.connect();
  auto up = pattern(3 * 1024 * 1024 + 17, 1);
  auto got = p.transfer(p.c(), p.client, p.s(), p.server, up);
  ASSERT_EQ(got.size(), up.size());
  EXPECT_TRUE(got == up);
  auto down = pattern(2 * 1024 * 1024 + 5, 9);
  got = p.transfer(p.s(), p.server, p.c(), p.client, down);
  ASSERT_EQ(got.size(), down.size());
  EXPECT_TRUE(got == down);
  EXPECT_EQ(p.s().counters()[Event::tcp_retransmits_timeout], 0u);
}

TEST(TcpBackToBack, OrderlyCloseEndsInTimeWaitOnTheActiveCloser) {
  Pair p;
  p.connect();
  ASSERT_EQ(fg_close(p.c(), p.client), 0);  // client closes first: FIN
  p.net.run();
  char buf[16];
  EXPECT_EQ(fg_recv(p.s(), p.server, buf, sizeof buf, 0), 0) << "EOF after the peer's FIN";
  ASSERT_EQ(fg_close(p.s(), p.server), 0);
  p.net.run();
  EXPECT_EQ(p.c().tcp().time_wait_records(), 1u);
  EXPECT_EQ(p.s().tcp().time_wait_records(), 0u);
  EXPECT_EQ(p.s().tcp().connections(), 0u);
  EXPECT_EQ(p.c().tcp().connections(), 0u);
  // 2 MSL later the record is gone.
  p.net.advance(std::chrono::seconds(59));
  EXPECT_EQ(p.c().tcp().time_wait_records(), 1u);
  p.net.advance(std::chrono::seconds(2));
  EXPECT_EQ(p.c().tcp().time_wait_records(), 0u);
}

}  // namespace
}  // namespace flowgate::test
