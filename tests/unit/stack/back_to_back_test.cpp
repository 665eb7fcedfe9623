// Two stacks wired back to back in one process: each resolves the other over ARP and they
// exchange UDP datagrams, small and fragmented, through the POSIX-like API.
#include <gtest/gtest.h>

#include <algorithm>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::test {
namespace {

StackConfig peer_config() {
  StackConfig c = lab_config();
  c.mac = kPeerMac;
  c.address = {kPeerIp, 24};
  c.first_ip_id = 30000;
  return c;
}

sockaddr_in endpoint(wire::Ipv4Address ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip.value);
  a.sin_port = htons(port);
  return a;
}

int bound_socket(Stack& s, wire::Ipv4Address ip, uint16_t port) {
  int fd = fg_socket(s, AF_INET, SOCK_DGRAM, 0);
  EXPECT_GE(fd, 0);
  auto a = endpoint(ip, port);
  EXPECT_EQ(fg_bind(s, fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

TEST(BackToBack, StacksExchangeUdpDatagramsBothWays) {
  BackToBack net(lab_config(), peer_config());
  net.run();  // gratuitous ARPs
  int a = bound_socket(net.a, kOurIp, 7000);
  int b = bound_socket(net.b, kPeerIp, 8000);

  for (size_t size :
       {size_t{0}, size_t{1}, size_t{512}, size_t{1472}, size_t{5000}, size_t{65507}}) {
    SCOPED_TRACE(size);
    auto msg = pattern(size, static_cast<uint8_t>(size));
    auto to_b = endpoint(kPeerIp, 8000);
    ASSERT_EQ(fg_sendto(net.a, a, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to_b),
                        sizeof to_b),
              static_cast<ssize_t>(size));
    net.run();
    std::vector<std::byte> buf(70000);
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    ssize_t n = fg_recvfrom(net.b, b, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from),
                            &from_len);
    ASSERT_EQ(n, static_cast<ssize_t>(size));
    EXPECT_TRUE(std::equal(msg.begin(), msg.end(), buf.begin()));
    EXPECT_EQ(ntohl(from.sin_addr.s_addr), kOurIp.value);
    EXPECT_EQ(ntohs(from.sin_port), 7000);

    // And back, reversed.
    std::reverse(msg.begin(), msg.end());
    ASSERT_EQ(fg_sendto(net.b, b, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&from),
                        from_len),
              static_cast<ssize_t>(size));
    net.run();
    n = fg_recvfrom(net.a, a, buf.data(), buf.size(), 0, nullptr, nullptr);
    ASSERT_EQ(n, static_cast<ssize_t>(size));
    EXPECT_TRUE(std::equal(msg.begin(), msg.end(), buf.begin()));
  }
  // The only frame either side dropped is the other's gratuitous ARP at start.
  EXPECT_EQ(net.a.counters()[DropReason::arp_gratuitous], 1u);
  EXPECT_EQ(net.b.counters()[DropReason::arp_gratuitous], 1u);
  EXPECT_EQ(net.a.counters().total_drops(), 1u);
  EXPECT_EQ(net.b.counters().total_drops(), 1u);
  EXPECT_EQ(net.a.counters()[Event::arp_requests_sent], 2u) << "one gratuitous, one resolution";
  EXPECT_NE(net.b.arp().find(kOurIp), nullptr);
}

TEST(BackToBack, NeighbourEntriesExpireAndAreResolvedAgain) {
  BackToBack net(lab_config(), peer_config());
  net.run();
  int a = bound_socket(net.a, kOurIp, 7000);
  int b = bound_socket(net.b, kPeerIp, 8000);
  auto to_b = endpoint(kPeerIp, 8000);
  ASSERT_EQ(fg_sendto(net.a, a, "x", 1, 0, reinterpret_cast<sockaddr*>(&to_b), sizeof to_b), 1);
  net.run();
  net.advance(std::chrono::seconds(61));
  EXPECT_EQ(net.a.arp().find(kPeerIp), nullptr) << "idle entry expired";
  ASSERT_EQ(fg_sendto(net.a, a, "y", 1, 0, reinterpret_cast<sockaddr*>(&to_b), sizeof to_b), 1);
  net.run();
  char buf[4];
  EXPECT_EQ(fg_recvfrom(net.b, b, buf, sizeof buf, 0, nullptr, nullptr), 1);
  EXPECT_EQ(fg_recvfrom(net.b, b, buf, sizeof buf, 0, nullptr, nullptr), 1);
  EXPECT_EQ(net.a.counters()[Event::arp_requests_sent], 3u);
}

}  // namespace
}  // namespace flowgate::test
