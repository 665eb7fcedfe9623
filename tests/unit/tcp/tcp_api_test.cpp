// The POSIX-like socket API over TCP (and UDP where it shares the descriptor table), call by
// call: what each one does when it succeeds and the exact errno of each way it fails, as
// Linux and POSIX define them. Most tests run two stacks back to back on one ManualClock;
// where the peer must misbehave or stay silent, the test plays it by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"
#include "wire/flow_hash.hpp"

namespace flowgate::test {
namespace {

using namespace std::chrono_literals;
using tcp::ConnectionInfo;
using tcp::TcpState;
using wire::TcpFlag;

constexpr uint16_t kPort = 8080;

StackConfig server_config() {
  StackConfig c = lab_config();
  c.secret_key = std::array<uint8_t, 16>{0x51, 0x52, 0x53};
  return c;
}

StackConfig client_config() {
  StackConfig c = lab_config();
  c.mac = kPeerMac;
  c.address = {kPeerIp, 24};
  c.first_ip_id = 20000;
  c.secret_key = std::array<uint8_t, 16>{0x61, 0x62, 0x63};
  return c;
}

// The lab stack with the peer's MAC known statically, so segments to the peer leave at once
// (no ARP exchange to play) and nobody answers them unless the test does.
StackConfig hand_peer_config() {
  StackConfig c = server_config();
  c.arp.static_entries.push_back({kPeerIp, kPeerMac});
  return c;
}

sockaddr_in inet(wire::Ipv4Address ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip.value);
  a.sin_port = htons(port);
  return a;
}

const sockaddr* sa(const sockaddr_in& a) {
  return reinterpret_cast<const sockaddr*>(&a);
}
sockaddr* sa(sockaddr_in& a) {
  return reinterpret_cast<sockaddr*>(&a);
}

constexpr socklen_t kSinLen = sizeof(sockaddr_in);

// A failing call: -1 and exactly `want` in errno. `rc` is the call's result, evaluated just
// before; errno is read first thing, before anything can change it.
template <typename T>
::testing::AssertionResult failed_with(T rc, int want, const char* call) {
  const int got = errno;
  if (rc == -1 && got == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << call << " returned " << rc << " with errno " << std::strerror(got) << "; want -1 with "
         << std::strerror(want);
}

#define EXPECT_FAILS_WITH(call, err) EXPECT_TRUE(failed_with((errno = 0, (call)), (err), #call))

ssize_t send_text(Stack& s, int fd, std::string_view text) {
  return fg_send(s, fd, text.data(), text.size(), 0);
}

// Reads whatever is buffered (until EAGAIN or end of stream).
std::string recv_text(Stack& s, int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = fg_recv(s, fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

int int_option(Stack& s, int fd, int level, int name) {
  int value = -12345;
  socklen_t len = sizeof value;
  EXPECT_EQ(fg_getsockopt(s, fd, level, name, &value, &len), 0) << std::strerror(errno);
  EXPECT_EQ(len, static_cast<socklen_t>(sizeof value));
  return value;
}

int set_int(Stack& s, int fd, int level, int name, int value) {
  return fg_setsockopt(s, fd, level, name, &value, sizeof value);
}

int so_error(Stack& s, int fd) {
  return int_option(s, fd, SOL_SOCKET, SO_ERROR);
}

ConnectionInfo info_of(Stack& s, int fd) {
  ConnectionInfo info;
  socklen_t len = sizeof info;
  EXPECT_EQ(fg_getsockopt(s, fd, IPPROTO_TCP, TCP_INFO, &info, &len), 0) << std::strerror(errno);
  return info;
}

sockaddr_in name_of(Stack& s, int fd) {
  sockaddr_in a{};
  socklen_t len = kSinLen;
  EXPECT_EQ(fg_getsockname(s, fd, sa(a), &len), 0) << std::strerror(errno);
  EXPECT_EQ(len, kSinLen);
  return a;
}

sockaddr_in peer_of(Stack& s, int fd) {
  sockaddr_in a{};
  socklen_t len = kSinLen;
  EXPECT_EQ(fg_getpeername(s, fd, sa(a), &len), 0) << std::strerror(errno);
  EXPECT_EQ(len, kSinLen);
  return a;
}

int add_to(Stack& s, int ep, int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  return fg_epoll_ctl(s, ep, EPOLL_CTL_ADD, fd, &ev);
}

std::vector<epoll_event> wait_events(Stack& s, int ep, int maxevents = 16) {
  std::vector<epoll_event> out(static_cast<size_t>(maxevents));
  const int n = fg_epoll_wait(s, ep, out.data(), maxevents, 0);
  EXPECT_GE(n, 0) << std::strerror(errno);
  out.resize(static_cast<size_t>(std::max(n, 0)));
  return out;
}

// The events reported for `fd` (0 if it was not reported); fails if reported twice.
uint32_t events_of(const std::vector<epoll_event>& events, int fd) {
  uint32_t found = 0;
  int times = 0;
  for (const auto& e : events) {
    if (e.data.fd == fd) {
      found = e.events;
      ++times;
    }
  }
  EXPECT_LE(times, 1) << "fd " << fd << " reported twice in one wait";
  return found;
}

// Two stacks back to back: the server is 198.18.0.1 (net_.a), the client 198.18.0.2 (net_.b).
class TwoStacks : public ::testing::Test {
 protected:
  void SetUp() override { net_.run(); }

  Stack& srv() { return net_.a; }
  Stack& cli() { return net_.b; }

  int listener(uint16_t port = kPort, int backlog = 16) {
    const int fd = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(fd, 0);
    const auto local = inet(wire::Ipv4Address::any(), port);
    EXPECT_EQ(fg_bind(srv(), fd, sa(local), kSinLen), 0) << std::strerror(errno);
    EXPECT_EQ(fg_listen(srv(), fd, backlog), 0) << std::strerror(errno);
    return fd;
  }

  // A client socket whose SYN is queued but not yet delivered. `before` may set options on
  // the socket before connecting.
  template <typename Before>
  int start_connect(uint16_t port, Before before) {
    const int fd = fg_socket(cli(), AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(fd, 0);
    before(fd);
    const auto remote = inet(kOurIp, port);
    EXPECT_FAILS_WITH(fg_connect(cli(), fd, sa(remote), kSinLen), EINPROGRESS);
    return fd;
  }
  int start_connect(uint16_t port = kPort) {
    return start_connect(port, [](int) {});
  }

  // Listener, handshake, accept: lfd_, sfd_ (accepted) and cfd_ (client).
  void connect_pair() {
    lfd_ = listener();
    cfd_ = start_connect();
    net_.run();
    sfd_ = fg_accept(srv(), lfd_, nullptr, nullptr);
    ASSERT_GE(sfd_, 0) << std::strerror(errno);
  }

  // The client sends `text` and the network carries it (no timers run).
  void client_sends(std::string_view text) {
    ASSERT_EQ(send_text(cli(), cfd_, text), static_cast<ssize_t>(text.size()))
        << std::strerror(errno);
    net_.run();
  }

  // The client aborts: SO_LINGER with a zero timeout, then close sends RST.
  void client_aborts() {
    const linger l{1, 0};
    ASSERT_EQ(fg_setsockopt(cli(), cfd_, SOL_SOCKET, SO_LINGER, &l, sizeof l), 0)
        << std::strerror(errno);
    const uint64_t resets = cli().counters()[Event::tcp_resets_sent];
    ASSERT_EQ(fg_close(cli(), cfd_), 0);
    EXPECT_EQ(cli().counters()[Event::tcp_resets_sent], resets + 1);
    cfd_ = -1;
    net_.run();
  }

  BackToBack net_{server_config(), client_config()};
  int lfd_ = -1;
  int sfd_ = -1;
  int cfd_ = -1;
};

using TcpApi = TwoStacks;
using TcpEpoll = TwoStacks;

// ---------------------------------------------------------------- fg_socket

TEST_F(TcpApi, SocketCreatesStreamAndDatagramSockets) {
  const int a = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  const int b = fg_socket(srv(), AF_INET, SOCK_STREAM, IPPROTO_TCP);
  const int c = fg_socket(srv(), AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int d = fg_socket(srv(), AF_INET, SOCK_DGRAM, 0);
  const int e = fg_socket(srv(), AF_INET, SOCK_DGRAM, IPPROTO_UDP);
  for (int fd : {a, b, c, d, e}) EXPECT_GE(fd, 0);
  EXPECT_EQ((std::set<int>{a, b, c, d, e}.size()), 5u) << "descriptors are distinct";
  for (int fd : {a, b, c}) EXPECT_EQ(int_option(srv(), fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  for (int fd : {d, e}) EXPECT_EQ(int_option(srv(), fd, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
}

TEST_F(TcpApi, SocketRejectsOtherFamiliesAndProtocols) {
  EXPECT_FAILS_WITH(fg_socket(srv(), AF_INET6, SOCK_STREAM, 0), EAFNOSUPPORT);
  EXPECT_FAILS_WITH(fg_socket(srv(), AF_UNIX, SOCK_STREAM, 0), EAFNOSUPPORT);
  EXPECT_FAILS_WITH(fg_socket(srv(), AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
  EXPECT_FAILS_WITH(fg_socket(srv(), AF_INET, SOCK_DGRAM, IPPROTO_TCP), EPROTONOSUPPORT);
}

TEST_F(TcpApi, SocketOfAnUnsupportedTypeIsEsocktnosupport) {
  // Linux (inet_create): no AF_INET protocol serves SOCK_SEQPACKET without SCTP, so the type
  // itself is refused, not a protocol.
  EXPECT_FAILS_WITH(fg_socket(srv(), AF_INET, SOCK_SEQPACKET, 0), ESOCKTNOSUPPORT);
}

// ---------------------------------------------------------------- fg_bind

TEST_F(TcpApi, BindToAnyOurAddressOrAnEphemeralPort) {
  const int a = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  const auto any = inet(wire::Ipv4Address::any(), 5000);
  ASSERT_EQ(fg_bind(srv(), a, sa(any), kSinLen), 0);
  EXPECT_EQ(ntohs(name_of(srv(), a).sin_port), 5000);
  EXPECT_EQ(name_of(srv(), a).sin_addr.s_addr, htonl(INADDR_ANY));

  const int b = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  const auto ours = inet(kOurIp, 5001);
  ASSERT_EQ(fg_bind(srv(), b, sa(ours), kSinLen), 0);
  EXPECT_EQ(ntohl(name_of(srv(), b).sin_addr.s_addr), kOurIp.value);
  EXPECT_EQ(ntohs(name_of(srv(), b).sin_port), 5001);

  const int c = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  const auto zero = inet(wire::Ipv4Address::any(), 0);
  ASSERT_EQ(fg_bind(srv(), c, sa(zero), kSinLen), 0);
  const uint16_t port = ntohs(name_of(srv(), c).sin_port);
  EXPECT_GE(port, srv().config().udp.ephemeral_first);
  EXPECT_LE(port, srv().config().udp.ephemeral_last);
}

TEST_F(TcpApi, BindErrors) {
  const auto local = inet(wire::Ipv4Address::any(), 5000);
  EXPECT_FAILS_WITH(fg_bind(srv(), 77, sa(local), kSinLen), EBADF);
  EXPECT_FAILS_WITH(fg_bind(srv(), -1, sa(local), kSinLen), EBADF);

  const int fd = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  EXPECT_FAILS_WITH(fg_bind(srv(), fd, sa(local), kSinLen - 1), EINVAL);
  EXPECT_FAILS_WITH(fg_bind(srv(), fd, nullptr, kSinLen), EINVAL);
  sockaddr_in6 six{};
  six.sin6_family = AF_INET6;
  six.sin6_port = htons(5000);
  EXPECT_FAILS_WITH(fg_bind(srv(), fd, reinterpret_cast<const sockaddr*>(&six), sizeof six),
                    EAFNOSUPPORT);
  const auto peer_address = inet(kPeerIp, 5000);
  EXPECT_FAILS_WITH(fg_bind(srv(), fd, sa(peer_address), kSinLen), EADDRNOTAVAIL);
  const auto foreign = inet(wire::Ipv4Address::from_octets(10, 1, 2, 3), 5000);
  EXPECT_FAILS_WITH(fg_bind(srv(), fd, sa(foreign), kSinLen), EADDRNOTAVAIL);

  ASSERT_EQ(fg_bind(srv(), fd, sa(local), kSinLen), 0) << "the failures left it unbound";
  const auto other = inet(wire::Ipv4Address::any(), 5001);
  EXPECT_FAILS_WITH(fg_bind(srv(), fd, sa(other), kSinLen), EINVAL) << "bound twice";

  ASSERT_EQ(fg_close(srv(), fd), 0);
  EXPECT_FAILS_WITH(fg_bind(srv(), fd, sa(other), kSinLen), EBADF) << "closed";
}

TEST_F(TcpApi, BindAfterConnectIsEinval) {
  connect_pair();
  const auto local = inet(wire::Ipv4Address::any(), 5000);
  EXPECT_FAILS_WITH(fg_bind(cli(), cfd_, sa(local), kSinLen), EINVAL);
}

TEST_F(TcpApi, TwoListenersOnOnePortIsEaddrinuse) {
  lfd_ = listener();
  const auto local = inet(wire::Ipv4Address::any(), kPort);
  const int second = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  EXPECT_FAILS_WITH(fg_bind(srv(), second, sa(local), kSinLen), EADDRINUSE);
  // Not even SO_REUSEADDR on both lets a second socket share a listener's port.
  ASSERT_EQ(set_int(srv(), lfd_, SOL_SOCKET, SO_REUSEADDR, 1), 0);
  ASSERT_EQ(set_int(srv(), second, SOL_SOCKET, SO_REUSEADDR, 1), 0);
  EXPECT_FAILS_WITH(fg_bind(srv(), second, sa(local), kSinLen), EADDRINUSE);
  const auto ours = inet(kOurIp, kPort);
  EXPECT_FAILS_WITH(fg_bind(srv(), second, sa(ours), kSinLen), EADDRINUSE);
  // Once the listener is closed the port is free again.
  ASSERT_EQ(fg_close(srv(), lfd_), 0);
  EXPECT_EQ(fg_bind(srv(), second, sa(local), kSinLen), 0) << std::strerror(errno);
  EXPECT_EQ(fg_listen(srv(), second, 4), 0) << std::strerror(errno);
}

TEST_F(TcpApi, ReuseAddrLetsNonListeningSocketsShareAPort) {
  const auto local = inet(wire::Ipv4Address::any(), 6000);
  const int a = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  const int b = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(fg_bind(srv(), a, sa(local), kSinLen), 0);
  EXPECT_FAILS_WITH(fg_bind(srv(), b, sa(local), kSinLen), EADDRINUSE) << "no SO_REUSEADDR";
  ASSERT_EQ(set_int(srv(), b, SOL_SOCKET, SO_REUSEADDR, 1), 0);
  EXPECT_FAILS_WITH(fg_bind(srv(), b, sa(local), kSinLen), EADDRINUSE)
      << "SO_REUSEADDR on one socket only";
  ASSERT_EQ(set_int(srv(), a, SOL_SOCKET, SO_REUSEADDR, 1), 0);
  ASSERT_EQ(fg_bind(srv(), b, sa(local), kSinLen), 0) << std::strerror(errno);
  // Both bound; only one of them may listen.
  EXPECT_EQ(fg_listen(srv(), a, 4), 0);
  EXPECT_FAILS_WITH(fg_listen(srv(), b, 4), EADDRINUSE);
}

TEST_F(TcpApi, ReuseAddrRebindsAPortWhileAcceptedConnectionsLive) {
  // A server restarting while its old connections are still open: Linux lets a new
  // SO_REUSEADDR socket bind the port, because accepted sockets inherit SO_REUSEADDR from the
  // listener and none of them listens (inet_csk_bind_conflict).
  lfd_ = listener();
  ASSERT_EQ(set_int(srv(), lfd_, SOL_SOCKET, SO_REUSEADDR, 1), 0);
  cfd_ = start_connect();
  net_.run();
  sfd_ = fg_accept(srv(), lfd_, nullptr, nullptr);
  ASSERT_GE(sfd_, 0);
  EXPECT_EQ(int_option(srv(), sfd_, SOL_SOCKET, SO_REUSEADDR), 1)
      << "an accepted socket inherits SO_REUSEADDR";
  ASSERT_EQ(fg_close(srv(), lfd_), 0);

  const auto local = inet(wire::Ipv4Address::any(), kPort);
  const int plain = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  EXPECT_FAILS_WITH(fg_bind(srv(), plain, sa(local), kSinLen), EADDRINUSE)
      << "without SO_REUSEADDR the live connection's port is taken";
  const int restarted = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(set_int(srv(), restarted, SOL_SOCKET, SO_REUSEADDR, 1), 0);
  EXPECT_EQ(fg_bind(srv(), restarted, sa(local), kSinLen), 0) << std::strerror(errno);
}

// ---------------------------------------------------------------- fg_listen

TEST_F(TcpApi, ListenOnAnUnboundSocketPicksAnEphemeralPort) {
  const int fd = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(fg_listen(srv(), fd, 8), 0);
  const uint16_t port = ntohs(name_of(srv(), fd).sin_port);
  EXPECT_GE(port, srv().config().udp.ephemeral_first);
  EXPECT_EQ(info_of(srv(), fd).state, TcpState::listen);
  // Reachable there.
  cfd_ = start_connect(port);
  net_.run();
  EXPECT_GE(fg_accept(srv(), fd, nullptr, nullptr), 0) << std::strerror(errno);
}

TEST_F(TcpApi, ListenErrors) {
  EXPECT_FAILS_WITH(fg_listen(srv(), 99, 4), EBADF);
  const int udp = fg_socket(srv(), AF_INET, SOCK_DGRAM, 0);
  EXPECT_FAILS_WITH(fg_listen(srv(), udp, 4), EOPNOTSUPP);
  connect_pair();
  EXPECT_FAILS_WITH(fg_listen(cli(), cfd_, 4), EINVAL) << "a connected socket";
  EXPECT_FAILS_WITH(fg_listen(srv(), sfd_, 4), EINVAL) << "an accepted socket";
  EXPECT_EQ(fg_listen(srv(), lfd_, 1), 0) << "listen again changes the backlog";
  ASSERT_EQ(fg_close(srv(), lfd_), 0);
  EXPECT_FAILS_WITH(fg_listen(srv(), lfd_, 4), EBADF) << "closed";
}

TEST_F(TcpApi, ListenBacklogBoundsTheAcceptQueueAndDropsFurtherSyns) {
  lfd_ = listener(kPort, 1);  // backlog 1: two connections may wait
  const int c1 = start_connect();
  net_.run();
  const int c2 = start_connect();
  net_.run();
  EXPECT_EQ(info_of(cli(), c1).state, TcpState::established);
  EXPECT_EQ(info_of(cli(), c2).state, TcpState::established);
  EXPECT_EQ(srv().counters()[DropReason::tcp_accept_queue_full], 0u);

  const int c3 = start_connect();
  net_.run();
  EXPECT_EQ(srv().counters()[DropReason::tcp_accept_queue_full], 1u) << "the third SYN";
  EXPECT_EQ(info_of(cli(), c3).state, TcpState::syn_sent) << "no SYN-ACK came back";

  const int a1 = fg_accept(srv(), lfd_, nullptr, nullptr);
  const int a2 = fg_accept(srv(), lfd_, nullptr, nullptr);
  EXPECT_GE(a1, 0);
  EXPECT_GE(a2, 0);
  EXPECT_FAILS_WITH(fg_accept(srv(), lfd_, nullptr, nullptr), EAGAIN);
  EXPECT_EQ(ntohs(peer_of(srv(), a1).sin_port), ntohs(name_of(cli(), c1).sin_port));
  EXPECT_EQ(ntohs(peer_of(srv(), a2).sin_port), ntohs(name_of(cli(), c2).sin_port));

  // The client's SYN retransmission (initial RTO 1 s) now finds room.
  net_.advance(1s);
  EXPECT_EQ(info_of(cli(), c3).state, TcpState::established);
  const int a3 = fg_accept(srv(), lfd_, nullptr, nullptr);
  ASSERT_GE(a3, 0) << std::strerror(errno);
  EXPECT_EQ(ntohs(peer_of(srv(), a3).sin_port), ntohs(name_of(cli(), c3).sin_port));
}

TEST_F(TcpApi, FullAcceptQueueDropsTheCompletingAckUntilThereIsRoom) {
  lfd_ = listener(kPort, 0);  // backlog 0: one connection may wait
  const int c1 = start_connect();
  const int c2 = start_connect();
  net_.run();  // both SYNs reach the empty queue; the second ACK finds it full
  EXPECT_EQ(info_of(cli(), c1).state, TcpState::established);
  EXPECT_EQ(info_of(cli(), c2).state, TcpState::established);
  EXPECT_EQ(srv().counters()[DropReason::tcp_accept_queue_full], 1u);
  const int a1 = fg_accept(srv(), lfd_, nullptr, nullptr);
  ASSERT_GE(a1, 0);
  EXPECT_FAILS_WITH(fg_accept(srv(), lfd_, nullptr, nullptr), EAGAIN)
      << "the second connection is still SYN-RECEIVED on our side";
  // Our SYN-ACK retransmission makes the client ACK again, and now there is room.
  net_.advance(1s);
  const int a2 = fg_accept(srv(), lfd_, nullptr, nullptr);
  ASSERT_GE(a2, 0) << std::strerror(errno);
  EXPECT_EQ(ntohs(peer_of(srv(), a2).sin_port), ntohs(name_of(cli(), c2).sin_port));
  EXPECT_EQ(info_of(srv(), a2).state, TcpState::established);
}

// ---------------------------------------------------------------- fg_accept

TEST_F(TcpApi, AcceptReturnsTheConnectionAndItsPeer) {
  lfd_ = listener();
  cfd_ = start_connect();
  net_.run();
  sockaddr_in peer{};
  socklen_t len = kSinLen;
  sfd_ = fg_accept(srv(), lfd_, sa(peer), &len);
  ASSERT_GE(sfd_, 0) << std::strerror(errno);
  EXPECT_NE(sfd_, lfd_);
  EXPECT_EQ(len, kSinLen);
  EXPECT_EQ(peer.sin_family, AF_INET);
  EXPECT_EQ(ntohl(peer.sin_addr.s_addr), kPeerIp.value);
  EXPECT_EQ(peer.sin_port, name_of(cli(), cfd_).sin_port);
  EXPECT_EQ(info_of(srv(), sfd_).state, TcpState::established);
  EXPECT_EQ(int_option(srv(), sfd_, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  EXPECT_EQ(srv().counters()[Event::tcp_accepted], 1u);
  // The listener keeps listening.
  EXPECT_EQ(info_of(srv(), lfd_).state, TcpState::listen);
  EXPECT_FAILS_WITH(fg_accept(srv(), lfd_, sa(peer), &len), EAGAIN);
}

TEST_F(TcpApi, AcceptTruncatesTheAddressToTheBufferAndAllowsNone) {
  lfd_ = listener();
  start_connect();
  start_connect();
  net_.run();
  // POSIX: the address is truncated to the buffer and the length tells the full size.
  std::array<std::byte, 4> small;
  small.fill(std::byte{0xa5});
  socklen_t len = small.size();
  ASSERT_GE(fg_accept(srv(), lfd_, reinterpret_cast<sockaddr*>(small.data()), &len), 0);
  EXPECT_EQ(len, kSinLen);
  sa_family_t family;
  std::memcpy(&family, small.data(), sizeof family);
  EXPECT_EQ(family, AF_INET);
  EXPECT_GE(fg_accept(srv(), lfd_, nullptr, nullptr), 0) << "no address wanted";
}

TEST_F(TcpApi, AcceptErrors) {
  EXPECT_FAILS_WITH(fg_accept(srv(), 42, nullptr, nullptr), EBADF);
  const int unlistening = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  EXPECT_FAILS_WITH(fg_accept(srv(), unlistening, nullptr, nullptr), EINVAL);
  const auto local = inet(wire::Ipv4Address::any(), 7000);
  ASSERT_EQ(fg_bind(srv(), unlistening, sa(local), kSinLen), 0);
  EXPECT_FAILS_WITH(fg_accept(srv(), unlistening, nullptr, nullptr), EINVAL) << "bound only";
  const int udp = fg_socket(srv(), AF_INET, SOCK_DGRAM, 0);
  EXPECT_FAILS_WITH(fg_accept(srv(), udp, nullptr, nullptr), EOPNOTSUPP);
  lfd_ = listener();
  EXPECT_FAILS_WITH(fg_accept(srv(), lfd_, nullptr, nullptr), EAGAIN) << "empty queue";
  cfd_ = start_connect();
  net_.run();
  sfd_ = fg_accept(srv(), lfd_, nullptr, nullptr);
  ASSERT_GE(sfd_, 0);
  EXPECT_FAILS_WITH(fg_accept(srv(), sfd_, nullptr, nullptr), EINVAL) << "a connection";
  ASSERT_EQ(fg_close(srv(), lfd_), 0);
  EXPECT_FAILS_WITH(fg_accept(srv(), lfd_, nullptr, nullptr), EBADF) << "closed";
}

// ---------------------------------------------------------------- fg_connect

TEST_F(TcpApi, ConnectCompletesInTheBackground) {
  lfd_ = listener();
  cfd_ = start_connect();
  EXPECT_EQ(info_of(cli(), cfd_).state, TcpState::syn_sent);
  const auto remote = inet(kOurIp, kPort);
  EXPECT_FAILS_WITH(fg_connect(cli(), cfd_, sa(remote), kSinLen), EALREADY);
  EXPECT_FAILS_WITH(fg_connect(cli(), cfd_, sa(remote), kSinLen), EALREADY) << "still";
  net_.run();
  EXPECT_EQ(info_of(cli(), cfd_).state, TcpState::established);
  EXPECT_EQ(so_error(cli(), cfd_), 0);
  EXPECT_FAILS_WITH(fg_connect(cli(), cfd_, sa(remote), kSinLen), EISCONN);
  const auto elsewhere = inet(kOurIp, kPort + 1);
  EXPECT_FAILS_WITH(fg_connect(cli(), cfd_, sa(elsewhere), kSinLen), EISCONN);
  EXPECT_EQ(cli().counters()[Event::tcp_active_opens], 1u) << "no second SYN";
}

TEST_F(TcpApi, ConnectErrors) {
  const auto remote = inet(kOurIp, kPort);
  EXPECT_FAILS_WITH(fg_connect(cli(), 31, sa(remote), kSinLen), EBADF);
  const int fd = fg_socket(cli(), AF_INET, SOCK_STREAM, 0);
  EXPECT_FAILS_WITH(fg_connect(cli(), fd, sa(remote), kSinLen - 2), EINVAL);
  EXPECT_FAILS_WITH(fg_connect(cli(), fd, nullptr, kSinLen), EINVAL);
  sockaddr_in6 six{};
  six.sin6_family = AF_INET6;
  six.sin6_port = htons(kPort);
  EXPECT_FAILS_WITH(fg_connect(cli(), fd, reinterpret_cast<const sockaddr*>(&six), sizeof six),
                    EAFNOSUPPORT);
  const int udp = fg_socket(cli(), AF_INET, SOCK_DGRAM, 0);
  EXPECT_FAILS_WITH(fg_connect(cli(), udp, sa(remote), kSinLen), EOPNOTSUPP);
  EXPECT_EQ(cli().counters()[Event::tcp_active_opens], 0u) << "nothing was sent";
  // A listening socket cannot connect (Linux: EISCONN).
  const int l = fg_socket(cli(), AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(fg_listen(cli(), l, 4), 0);
  EXPECT_FAILS_WITH(fg_connect(cli(), l, sa(remote), kSinLen), EISCONN);
  ASSERT_EQ(fg_close(cli(), fd), 0);
  EXPECT_FAILS_WITH(fg_connect(cli(), fd, sa(remote), kSinLen), EBADF) << "closed";
}

TEST_F(TcpApi, ConnectToAClosedPortIsRefused) {
  cfd_ = start_connect(kPort);  // nobody listens
  net_.run();
  EXPECT_EQ(srv().counters()[DropReason::tcp_no_socket], 1u);
  EXPECT_EQ(srv().counters()[Event::tcp_resets_sent], 1u);
  EXPECT_EQ(info_of(cli(), cfd_).state, TcpState::closed);
  EXPECT_EQ(so_error(cli(), cfd_), ECONNREFUSED);
  EXPECT_EQ(so_error(cli(), cfd_), 0) << "reading SO_ERROR clears it";
  EXPECT_EQ(cli().counters()[Event::tcp_connect_failed], 1u);
}

TEST_F(TcpApi, ConnectAgainAfterARefusalReportsTheRefusal) {
  cfd_ = start_connect(kPort);
  net_.run();
  const auto remote = inet(kOurIp, kPort);
  EXPECT_FAILS_WITH(fg_connect(cli(), cfd_, sa(remote), kSinLen), ECONNREFUSED);
  EXPECT_EQ(so_error(cli(), cfd_), 0) << "the error was reported once";
}

TEST(TcpApiHandPeer, ConnectToASilentAddressTimesOutAfterTheSynRetries) {
  StackHarness h(hand_peer_config());
  const int fd = fg_socket(h.stack, AF_INET, SOCK_STREAM, 0);
  const auto remote = inet(kPeerIp, 80);
  EXPECT_FAILS_WITH(fg_connect(h.stack, fd, sa(remote), kSinLen), EINPROGRESS);
  // The SYN and its six retransmissions (RTO 1, 2, 4, ... 32 s: sent at 0, 1, 3, 7, 15, 31,
  // 63 s); nobody answers.
  h.advance(126s);
  std::vector<uint32_t> syn_seqs;
  while (h.pending_frames() > 0) {
    auto f = h.expect_frame();
    ASSERT_TRUE(f.tcp.has_value());
    EXPECT_TRUE(f.tcp->flags.has(TcpFlag::syn));
    EXPECT_FALSE(f.tcp->flags.has(TcpFlag::ack));
    syn_seqs.push_back(f.tcp->seq);
  }
  ASSERT_EQ(syn_seqs.size(), 7u);
  EXPECT_TRUE(std::all_of(syn_seqs.begin(), syn_seqs.end(),
                          [&](uint32_t s) { return s == syn_seqs.front(); }));
  EXPECT_FAILS_WITH(fg_connect(h.stack, fd, sa(remote), kSinLen), EALREADY) << "at 126 s";
  EXPECT_EQ(so_error(h.stack, fd), 0);
  // The last RTO (64 s) expires at 127 s: the attempt ends.
  h.advance(2s);
  h.expect_no_frame();
  EXPECT_EQ(info_of(h.stack, fd).state, TcpState::closed);
  EXPECT_EQ(so_error(h.stack, fd), ETIMEDOUT);
  EXPECT_EQ(so_error(h.stack, fd), 0);
  EXPECT_EQ(h.events(Event::tcp_connect_failed), 1u);
}

// ---------------------------------------------------------------- fg_send / fg_recv

TEST_F(TcpApi, SendAndRecvCarryBytesBothWays) {
  connect_pair();
  client_sends("hello, server");
  char buf[64];
  ASSERT_EQ(fg_recv(srv(), sfd_, buf, 5, 0), 5);
  EXPECT_EQ(std::string_view(buf, 5), "hello");
  ASSERT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, 0), 8);
  EXPECT_EQ(std::string_view(buf, 8), ", server");
  EXPECT_FAILS_WITH(fg_recv(srv(), sfd_, buf, sizeof buf, 0), EAGAIN);
  ASSERT_EQ(send_text(srv(), sfd_, "hello, client"), 13);
  net_.run();
  EXPECT_EQ(recv_text(cli(), cfd_), "hello, client");
  EXPECT_EQ(fg_send(cli(), cfd_, buf, 0, MSG_NOSIGNAL | MSG_DONTWAIT), 0) << "empty send";
}

TEST_F(TcpApi, RecvWithMsgPeekLeavesTheDataBuffered) {
  connect_pair();
  client_sends("peekaboo");
  char buf[16];
  ASSERT_EQ(fg_recv(srv(), sfd_, buf, 4, MSG_PEEK), 4);
  EXPECT_EQ(std::string_view(buf, 4), "peek");
  ASSERT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, MSG_PEEK), 8);
  EXPECT_EQ(std::string_view(buf, 8), "peekaboo");
  EXPECT_EQ(info_of(srv(), sfd_).bytes_unread, 8u);
  ASSERT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, 0), 8);
  EXPECT_EQ(std::string_view(buf, 8), "peekaboo");
  EXPECT_FAILS_WITH(fg_recv(srv(), sfd_, buf, sizeof buf, MSG_PEEK), EAGAIN);
}

TEST_F(TcpApi, RecvReturnsZeroAtEndOfStream) {
  connect_pair();
  client_sends("last words");
  ASSERT_EQ(fg_shutdown(cli(), cfd_, SHUT_WR), 0);
  net_.run();
  char buf[64];
  ASSERT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, 0), 10) << "data before the FIN first";
  EXPECT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, 0), 0);
  EXPECT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, MSG_PEEK), 0);
  EXPECT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, 0), 0) << "and again";
  EXPECT_EQ(info_of(srv(), sfd_).state, TcpState::close_wait);
  // Half-close: the server may still send, and the client still receives.
  ASSERT_EQ(send_text(srv(), sfd_, "reply"), 5);
  net_.run();
  EXPECT_EQ(recv_text(cli(), cfd_), "reply");
}

TEST_F(TcpApi, SendWithAFullSendBufferIsEagain) {
  lfd_ = listener();
  ASSERT_EQ(set_int(srv(), lfd_, SOL_SOCKET, SO_RCVBUF, 4096), 0);
  cfd_ = start_connect(
      kPort, [&](int fd) { ASSERT_EQ(set_int(cli(), fd, SOL_SOCKET, SO_SNDBUF, 4096), 0); });
  net_.run();
  sfd_ = fg_accept(srv(), lfd_, nullptr, nullptr);
  ASSERT_GE(sfd_, 0);
  const std::vector<std::byte> chunk = pattern(10000);
  EXPECT_EQ(fg_send(cli(), cfd_, chunk.data(), chunk.size(), 0), 4096) << "what fits";
  // The server never reads: its window closes and our buffer stays full.
  size_t total = 4096;
  for (int round = 0; round < 50; ++round) {
    net_.run();
    net_.advance(50ms);
    const ssize_t n = fg_send(cli(), cfd_, chunk.data(), chunk.size(), 0);
    if (n > 0) total += static_cast<size_t>(n);
  }
  EXPECT_LE(total, 8192u) << "at most both buffers' worth";
  EXPECT_FAILS_WITH(fg_send(cli(), cfd_, chunk.data(), chunk.size(), 0), EAGAIN);
  net_.advance(5s);
  EXPECT_FAILS_WITH(fg_send(cli(), cfd_, chunk.data(), 1, 0), EAGAIN) << "still full";
  EXPECT_EQ(info_of(srv(), sfd_).bytes_unread + info_of(cli(), cfd_).bytes_in_flight +
                info_of(cli(), cfd_).bytes_sendable + info_of(cli(), cfd_).bytes_not_sendable,
            total);
  // Reading on the other side makes room again.
  EXPECT_GT(recv_text(srv(), sfd_).size(), 0u);
  for (int round = 0; round < 10; ++round) {
    net_.run();
    net_.advance(50ms);
  }
  EXPECT_GT(fg_send(cli(), cfd_, chunk.data(), chunk.size(), 0), 0) << std::strerror(errno);
}

TEST_F(TcpApi, SendRecvAndShutdownBeforeConnectingAreEnotconn) {
  const int fd = fg_socket(cli(), AF_INET, SOCK_STREAM, 0);
  char buf[8] = {};
  EXPECT_FAILS_WITH(fg_send(cli(), fd, buf, sizeof buf, 0), ENOTCONN);
  EXPECT_FAILS_WITH(fg_recv(cli(), fd, buf, sizeof buf, 0), ENOTCONN);
  EXPECT_FAILS_WITH(fg_shutdown(cli(), fd, SHUT_WR), ENOTCONN);
  sockaddr_in peer{};
  socklen_t len = kSinLen;
  EXPECT_FAILS_WITH(fg_getpeername(cli(), fd, sa(peer), &len), ENOTCONN);
  const auto local = inet(wire::Ipv4Address::any(), 7001);
  ASSERT_EQ(fg_bind(cli(), fd, sa(local), kSinLen), 0);
  EXPECT_FAILS_WITH(fg_send(cli(), fd, buf, sizeof buf, 0), ENOTCONN) << "bound only";
  EXPECT_FAILS_WITH(fg_recv(cli(), fd, buf, sizeof buf, 0), ENOTCONN) << "bound only";
}

TEST_F(TcpApi, SendAndRecvWhileConnectingAreEagain) {
  // Linux, non-blocking: the call would wait for the handshake.
  cfd_ = start_connect();
  char buf[8] = {};
  EXPECT_FAILS_WITH(fg_send(cli(), cfd_, buf, sizeof buf, 0), EAGAIN);
  EXPECT_FAILS_WITH(fg_recv(cli(), cfd_, buf, sizeof buf, 0), EAGAIN);
  sockaddr_in peer{};
  socklen_t len = kSinLen;
  EXPECT_FAILS_WITH(fg_getpeername(cli(), cfd_, sa(peer), &len), ENOTCONN);
}

TEST_F(TcpApi, RecvOnAListenerIsEnotconn) {
  lfd_ = listener();
  char buf[8];
  EXPECT_FAILS_WITH(fg_recv(srv(), lfd_, buf, sizeof buf, 0), ENOTCONN);
}

TEST_F(TcpApi, SendAndRecvDescriptorAndArgumentErrors) {
  connect_pair();
  char buf[8] = {};
  EXPECT_FAILS_WITH(fg_send(cli(), 55, buf, sizeof buf, 0), EBADF);
  EXPECT_FAILS_WITH(fg_recv(cli(), 55, buf, sizeof buf, 0), EBADF);
  EXPECT_FAILS_WITH(fg_send(cli(), -3, buf, sizeof buf, 0), EBADF);
  const int ep = fg_epoll_create(cli());
  EXPECT_FAILS_WITH(fg_send(cli(), ep, buf, sizeof buf, 0), ENOTSOCK);
  EXPECT_FAILS_WITH(fg_recv(cli(), ep, buf, sizeof buf, 0), ENOTSOCK);
  EXPECT_FAILS_WITH(fg_send(cli(), cfd_, nullptr, 4, 0), EFAULT);
  EXPECT_FAILS_WITH(fg_recv(cli(), cfd_, nullptr, 4, 0), EFAULT);
  EXPECT_FAILS_WITH(fg_send(cli(), cfd_, buf, sizeof buf, MSG_OOB), EOPNOTSUPP);
  EXPECT_FAILS_WITH(fg_recv(cli(), cfd_, buf, sizeof buf, MSG_WAITALL), EOPNOTSUPP);
  ASSERT_EQ(fg_close(cli(), cfd_), 0);
  EXPECT_FAILS_WITH(fg_send(cli(), cfd_, buf, sizeof buf, 0), EBADF) << "closed";
  EXPECT_FAILS_WITH(fg_recv(cli(), cfd_, buf, sizeof buf, 0), EBADF) << "closed";
}

TEST_F(TcpApi, SendAfterShutdownWriteIsEpipe) {
  connect_pair();
  ASSERT_EQ(fg_shutdown(cli(), cfd_, SHUT_WR), 0);
  EXPECT_FAILS_WITH(send_text(cli(), cfd_, "too late"), EPIPE);
  net_.run();
  EXPECT_EQ(info_of(cli(), cfd_).state, TcpState::fin_wait_2);
  EXPECT_FAILS_WITH(send_text(cli(), cfd_, "still too late"), EPIPE);
  EXPECT_EQ(fg_shutdown(cli(), cfd_, SHUT_WR), 0) << "shutting down twice is harmless";
  ASSERT_EQ(send_text(srv(), sfd_, "but I can still hear"), 20);
  net_.run();
  EXPECT_EQ(recv_text(cli(), cfd_), "but I can still hear");
}

TEST_F(TcpApi, PeerAbortWhileWaitingForDataIsEconnresetThenEndOfStream) {
  connect_pair();
  char buf[16];
  EXPECT_FAILS_WITH(fg_recv(srv(), sfd_, buf, sizeof buf, 0), EAGAIN) << "waiting for data";
  client_aborts();
  EXPECT_EQ(srv().counters()[Event::tcp_resets_received], 1u);
  EXPECT_EQ(info_of(srv(), sfd_).state, TcpState::closed);
  EXPECT_FAILS_WITH(fg_recv(srv(), sfd_, buf, sizeof buf, 0), ECONNRESET);
  EXPECT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, 0), 0) << "reported once, then EOF";
  EXPECT_EQ(so_error(srv(), sfd_), 0);
  EXPECT_FAILS_WITH(send_text(srv(), sfd_, "anyone?"), EPIPE) << "after the reset was reported";
  sockaddr_in peer{};
  socklen_t len = kSinLen;
  EXPECT_FAILS_WITH(fg_getpeername(srv(), sfd_, sa(peer), &len), ENOTCONN);
  EXPECT_EQ(fg_close(srv(), sfd_), 0);
}

TEST_F(TcpApi, SendAfterAResetReportsEconnresetOnceThenEpipe) {
  connect_pair();
  client_aborts();
  EXPECT_FAILS_WITH(send_text(srv(), sfd_, "x"), ECONNRESET);
  EXPECT_FAILS_WITH(send_text(srv(), sfd_, "x"), EPIPE);
  EXPECT_FAILS_WITH(send_text(srv(), sfd_, "x"), EPIPE);
}

TEST_F(TcpApi, ResetIsReportedThroughSoErrorOnce) {
  connect_pair();
  client_aborts();
  EXPECT_EQ(so_error(srv(), sfd_), ECONNRESET);
  EXPECT_EQ(so_error(srv(), sfd_), 0);
  char buf[4];
  EXPECT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, 0), 0);
  EXPECT_FAILS_WITH(send_text(srv(), sfd_, "x"), EPIPE);
}

TEST_F(TcpApi, CloseWithUnreadDataResetsThePeer) {
  // RFC 2525 2.17: data would be lost, so the peer is told with RST rather than FIN.
  connect_pair();
  client_sends("never read");
  const uint64_t resets = srv().counters()[Event::tcp_resets_sent];
  ASSERT_EQ(fg_close(srv(), sfd_), 0);
  EXPECT_EQ(srv().counters()[Event::tcp_resets_sent], resets + 1);
  net_.run();
  char buf[4];
  EXPECT_FAILS_WITH(fg_recv(cli(), cfd_, buf, sizeof buf, 0), ECONNRESET);
  EXPECT_EQ(srv().tcp().connections(), 0u);
}

TEST_F(TcpApi, CloseWithLingerOnButNonZeroSendsFin) {
  connect_pair();
  const linger l{1, 5};
  ASSERT_EQ(fg_setsockopt(cli(), cfd_, SOL_SOCKET, SO_LINGER, &l, sizeof l), 0);
  const uint64_t resets = cli().counters()[Event::tcp_resets_sent];
  ASSERT_EQ(fg_close(cli(), cfd_), 0);
  net_.run();
  EXPECT_EQ(cli().counters()[Event::tcp_resets_sent], resets);
  char buf[4];
  EXPECT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, 0), 0) << "an orderly end of stream";
}

// ---------------------------------------------------------------- fg_shutdown

TEST_F(TcpApi, ShutdownErrors) {
  EXPECT_FAILS_WITH(fg_shutdown(srv(), 64, SHUT_WR), EBADF);
  const int udp = fg_socket(srv(), AF_INET, SOCK_DGRAM, 0);
  EXPECT_FAILS_WITH(fg_shutdown(srv(), udp, SHUT_WR), ENOTCONN);
  const int ep = fg_epoll_create(srv());
  EXPECT_FAILS_WITH(fg_shutdown(srv(), ep, SHUT_WR), ENOTSOCK);
  const int fresh = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  EXPECT_FAILS_WITH(fg_shutdown(srv(), fresh, 3), EINVAL) << "bad how is checked first";
  EXPECT_FAILS_WITH(fg_shutdown(srv(), fresh, SHUT_RDWR), ENOTCONN);
  connect_pair();
  EXPECT_FAILS_WITH(fg_shutdown(cli(), cfd_, 3), EINVAL);
  EXPECT_FAILS_WITH(fg_shutdown(cli(), cfd_, -1), EINVAL);
  EXPECT_EQ(info_of(cli(), cfd_).state, TcpState::established) << "a bad call changes nothing";
  ASSERT_EQ(fg_close(cli(), cfd_), 0);
  EXPECT_FAILS_WITH(fg_shutdown(cli(), cfd_, SHUT_WR), EBADF) << "closed";
}

TEST_F(TcpApi, ShutdownReadMakesRecvReturnZero) {
  connect_pair();
  ASSERT_EQ(fg_shutdown(srv(), sfd_, SHUT_RD), 0);
  char buf[8];
  EXPECT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, 0), 0);
  EXPECT_EQ(info_of(srv(), sfd_).state, TcpState::established) << "nothing sent for SHUT_RD";
  ASSERT_EQ(send_text(srv(), sfd_, "one way"), 7) << "writing still works";
  net_.run();
  EXPECT_EQ(recv_text(cli(), cfd_), "one way");
}

TEST_F(TcpApi, ShutdownBothWaysSendsFinAndEndsReading) {
  connect_pair();
  ASSERT_EQ(fg_shutdown(cli(), cfd_, SHUT_RDWR), 0);
  EXPECT_EQ(info_of(cli(), cfd_).state, TcpState::fin_wait_1);
  char buf[8];
  EXPECT_EQ(fg_recv(cli(), cfd_, buf, sizeof buf, 0), 0);
  EXPECT_FAILS_WITH(send_text(cli(), cfd_, "x"), EPIPE);
  net_.run();
  EXPECT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, 0), 0);
}

// ---------------------------------------------------------------- names

TEST_F(TcpApi, SocketNamesOfBothEnds) {
  connect_pair();
  const auto listener_name = name_of(srv(), lfd_);
  EXPECT_EQ(listener_name.sin_family, AF_INET);
  EXPECT_EQ(listener_name.sin_addr.s_addr, htonl(INADDR_ANY));
  EXPECT_EQ(ntohs(listener_name.sin_port), kPort);

  const auto server_local = name_of(srv(), sfd_);
  const auto server_peer = peer_of(srv(), sfd_);
  const auto client_local = name_of(cli(), cfd_);
  const auto client_peer = peer_of(cli(), cfd_);
  EXPECT_EQ(ntohl(server_local.sin_addr.s_addr), kOurIp.value);
  EXPECT_EQ(ntohs(server_local.sin_port), kPort);
  EXPECT_EQ(ntohl(client_peer.sin_addr.s_addr), kOurIp.value);
  EXPECT_EQ(ntohs(client_peer.sin_port), kPort);
  EXPECT_EQ(ntohl(client_local.sin_addr.s_addr), kPeerIp.value)
      << "a connected socket names the address it uses";
  EXPECT_GE(ntohs(client_local.sin_port), cli().config().udp.ephemeral_first);
  EXPECT_EQ(ntohl(server_peer.sin_addr.s_addr), kPeerIp.value);
  EXPECT_EQ(server_peer.sin_port, client_local.sin_port);
  for (const auto& a : {server_local, server_peer, client_local, client_peer})
    EXPECT_EQ(a.sin_family, AF_INET);
}

TEST_F(TcpApi, SocketNameOfAFreshSocketIsAnyPortZero) {
  const int fd = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  const auto a = name_of(srv(), fd);
  EXPECT_EQ(a.sin_family, AF_INET);
  EXPECT_EQ(a.sin_addr.s_addr, htonl(INADDR_ANY));
  EXPECT_EQ(a.sin_port, 0);
}

TEST_F(TcpApi, SocketNameWhileConnectingShowsTheChosenPort) {
  cfd_ = start_connect();
  const auto a = name_of(cli(), cfd_);
  EXPECT_EQ(ntohl(a.sin_addr.s_addr), kPeerIp.value);
  EXPECT_GE(ntohs(a.sin_port), cli().config().udp.ephemeral_first);
}

TEST_F(TcpApi, NameCallsTruncateToTheBufferAndReportTheFullLength) {
  connect_pair();
  std::array<std::byte, 6> small;
  small.fill(std::byte{0xa5});
  socklen_t len = small.size();
  ASSERT_EQ(fg_getpeername(cli(), cfd_, reinterpret_cast<sockaddr*>(small.data()), &len), 0);
  EXPECT_EQ(len, kSinLen);
  uint16_t port;
  std::memcpy(&port, small.data() + offsetof(sockaddr_in, sin_port), sizeof port);
  EXPECT_EQ(ntohs(port), kPort);
  len = 0;
  ASSERT_EQ(fg_getsockname(cli(), cfd_, reinterpret_cast<sockaddr*>(small.data()), &len), 0);
  EXPECT_EQ(len, kSinLen);
}

TEST_F(TcpApi, NameCallsErrors) {
  sockaddr_in a{};
  socklen_t len = kSinLen;
  EXPECT_FAILS_WITH(fg_getsockname(srv(), 90, sa(a), &len), EBADF);
  EXPECT_FAILS_WITH(fg_getpeername(srv(), 90, sa(a), &len), EBADF);
  lfd_ = listener();
  EXPECT_FAILS_WITH(fg_getsockname(srv(), lfd_, nullptr, &len), EFAULT);
  EXPECT_FAILS_WITH(fg_getsockname(srv(), lfd_, sa(a), nullptr), EFAULT);
  EXPECT_FAILS_WITH(fg_getpeername(srv(), lfd_, sa(a), &len), ENOTCONN) << "a listener";
  const int udp = fg_socket(srv(), AF_INET, SOCK_DGRAM, 0);
  EXPECT_FAILS_WITH(fg_getpeername(srv(), udp, sa(a), &len), ENOTCONN);
  EXPECT_EQ(fg_getsockname(srv(), udp, sa(a), &len), 0);
  ASSERT_EQ(fg_close(srv(), lfd_), 0);
  EXPECT_FAILS_WITH(fg_getsockname(srv(), lfd_, sa(a), &len), EBADF) << "closed";
}

// ---------------------------------------------------------------- options

TEST_F(TcpApi, SetsockoptValuesReadBackThroughGetsockopt) {
  const int fd = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  // Defaults: as Linux, with the configured buffer sizes and keepalive timing.
  const auto& tc = srv().config().tcp;
  EXPECT_EQ(int_option(srv(), fd, SOL_SOCKET, SO_REUSEADDR), 0);
  EXPECT_EQ(int_option(srv(), fd, SOL_SOCKET, SO_KEEPALIVE), 0);
  EXPECT_EQ(int_option(srv(), fd, SOL_SOCKET, SO_RCVBUF), static_cast<int>(tc.receive_buffer));
  EXPECT_EQ(int_option(srv(), fd, SOL_SOCKET, SO_SNDBUF), static_cast<int>(tc.send_buffer));
  EXPECT_EQ(int_option(srv(), fd, IPPROTO_TCP, TCP_NODELAY), 0);
  EXPECT_EQ(int_option(srv(), fd, IPPROTO_TCP, TCP_KEEPIDLE), 7200);
  EXPECT_EQ(int_option(srv(), fd, IPPROTO_TCP, TCP_KEEPINTVL), 75);
  EXPECT_EQ(int_option(srv(), fd, IPPROTO_TCP, TCP_KEEPCNT), 9);

  ASSERT_EQ(set_int(srv(), fd, SOL_SOCKET, SO_REUSEADDR, 1), 0);
  ASSERT_EQ(set_int(srv(), fd, SOL_SOCKET, SO_KEEPALIVE, 7), 0);  // any non-zero is on
  ASSERT_EQ(set_int(srv(), fd, SOL_SOCKET, SO_RCVBUF, 100000), 0);
  ASSERT_EQ(set_int(srv(), fd, SOL_SOCKET, SO_SNDBUF, 50000), 0);
  ASSERT_EQ(set_int(srv(), fd, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(set_int(srv(), fd, IPPROTO_TCP, TCP_KEEPIDLE, 30), 0);
  ASSERT_EQ(set_int(srv(), fd, IPPROTO_TCP, TCP_KEEPINTVL, 10), 0);
  ASSERT_EQ(set_int(srv(), fd, IPPROTO_TCP, TCP_KEEPCNT, 4), 0);
  EXPECT_EQ(int_option(srv(), fd, SOL_SOCKET, SO_REUSEADDR), 1);
  EXPECT_EQ(int_option(srv(), fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(int_option(srv(), fd, SOL_SOCKET, SO_RCVBUF), 100000);
  EXPECT_EQ(int_option(srv(), fd, SOL_SOCKET, SO_SNDBUF), 50000);
  EXPECT_EQ(int_option(srv(), fd, IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(int_option(srv(), fd, IPPROTO_TCP, TCP_KEEPIDLE), 30);
  EXPECT_EQ(int_option(srv(), fd, IPPROTO_TCP, TCP_KEEPINTVL), 10);
  EXPECT_EQ(int_option(srv(), fd, IPPROTO_TCP, TCP_KEEPCNT), 4);

  // Buffer sizes have a floor (as implemented: 4096 bytes) and switch-like options turn off.
  ASSERT_EQ(set_int(srv(), fd, SOL_SOCKET, SO_RCVBUF, 100), 0);
  ASSERT_EQ(set_int(srv(), fd, SOL_SOCKET, SO_SNDBUF, 0), 0);
  EXPECT_EQ(int_option(srv(), fd, SOL_SOCKET, SO_RCVBUF), 4096);
  EXPECT_EQ(int_option(srv(), fd, SOL_SOCKET, SO_SNDBUF), 4096);
  ASSERT_EQ(set_int(srv(), fd, SOL_SOCKET, SO_KEEPALIVE, 0), 0);
  ASSERT_EQ(set_int(srv(), fd, IPPROTO_TCP, TCP_NODELAY, 0), 0);
  EXPECT_EQ(int_option(srv(), fd, SOL_SOCKET, SO_KEEPALIVE), 0);
  EXPECT_EQ(int_option(srv(), fd, IPPROTO_TCP, TCP_NODELAY), 0);
}

TEST_F(TcpApi, AcceptedSocketsInheritTheListenersOptions) {
  lfd_ = listener();
  ASSERT_EQ(set_int(srv(), lfd_, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(set_int(srv(), lfd_, SOL_SOCKET, SO_KEEPALIVE, 1), 0);
  ASSERT_EQ(set_int(srv(), lfd_, IPPROTO_TCP, TCP_KEEPIDLE, 60), 0);
  ASSERT_EQ(set_int(srv(), lfd_, SOL_SOCKET, SO_SNDBUF, 20000), 0);
  cfd_ = start_connect();
  net_.run();
  sfd_ = fg_accept(srv(), lfd_, nullptr, nullptr);
  ASSERT_GE(sfd_, 0);
  EXPECT_EQ(int_option(srv(), sfd_, IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(int_option(srv(), sfd_, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(int_option(srv(), sfd_, IPPROTO_TCP, TCP_KEEPIDLE), 60);
  EXPECT_EQ(int_option(srv(), sfd_, SOL_SOCKET, SO_SNDBUF), 20000);
}

TEST_F(TcpApi, LingerReadsBackThroughGetsockopt) {
  const int fd = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  linger l{-1, -1};
  socklen_t len = sizeof l;
  ASSERT_EQ(fg_getsockopt(srv(), fd, SOL_SOCKET, SO_LINGER, &l, &len), 0) << std::strerror(errno);
  EXPECT_EQ(len, static_cast<socklen_t>(sizeof l));
  EXPECT_EQ(l.l_onoff, 0);
  const linger set{1, 7};
  ASSERT_EQ(fg_setsockopt(srv(), fd, SOL_SOCKET, SO_LINGER, &set, sizeof set), 0);
  l = {};
  ASSERT_EQ(fg_getsockopt(srv(), fd, SOL_SOCKET, SO_LINGER, &l, &len), 0) << std::strerror(errno);
  EXPECT_EQ(l.l_onoff, 1);
  EXPECT_EQ(l.l_linger, 7);
}

TEST_F(TcpApi, SockoptErrors) {
  int one = 1;
  socklen_t len = sizeof one;
  EXPECT_FAILS_WITH(fg_setsockopt(srv(), 70, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one), EBADF);
  EXPECT_FAILS_WITH(fg_getsockopt(srv(), 70, SOL_SOCKET, SO_KEEPALIVE, &one, &len), EBADF);
  const int fd = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  EXPECT_FAILS_WITH(fg_setsockopt(srv(), fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one),
                    ENOPROTOOPT);
  EXPECT_FAILS_WITH(fg_getsockopt(srv(), fd, SOL_SOCKET, SO_BROADCAST, &one, &len), ENOPROTOOPT);
  EXPECT_FAILS_WITH(fg_setsockopt(srv(), fd, IPPROTO_TCP, TCP_CORK, &one, sizeof one), ENOPROTOOPT);
  EXPECT_FAILS_WITH(fg_setsockopt(srv(), fd, IPPROTO_IP, IP_TOS, &one, sizeof one), ENOPROTOOPT);
  EXPECT_FAILS_WITH(fg_getsockopt(srv(), fd, IPPROTO_IP, IP_TOS, &one, &len), ENOPROTOOPT);
  EXPECT_FAILS_WITH(fg_setsockopt(srv(), fd, SOL_SOCKET, SO_KEEPALIVE, &one, 2), EINVAL);
  EXPECT_FAILS_WITH(fg_setsockopt(srv(), fd, SOL_SOCKET, SO_KEEPALIVE, nullptr, sizeof one),
                    EINVAL);
  const linger l{1, 0};
  EXPECT_FAILS_WITH(fg_setsockopt(srv(), fd, SOL_SOCKET, SO_LINGER, &l, sizeof(int)), EINVAL);
  EXPECT_FAILS_WITH(set_int(srv(), fd, IPPROTO_TCP, TCP_KEEPIDLE, 0), EINVAL);
  EXPECT_FAILS_WITH(set_int(srv(), fd, IPPROTO_TCP, TCP_KEEPINTVL, 32768), EINVAL);
  EXPECT_FAILS_WITH(set_int(srv(), fd, IPPROTO_TCP, TCP_KEEPCNT, 0), EINVAL);
  EXPECT_FAILS_WITH(set_int(srv(), fd, IPPROTO_TCP, TCP_KEEPCNT, 128), EINVAL);
  EXPECT_EQ(int_option(srv(), fd, IPPROTO_TCP, TCP_KEEPIDLE), 7200) << "failures change nothing";
  EXPECT_EQ(int_option(srv(), fd, IPPROTO_TCP, TCP_KEEPCNT), 9);
  ConnectionInfo info;
  socklen_t short_len = sizeof info - 1;
  EXPECT_FAILS_WITH(fg_getsockopt(srv(), fd, IPPROTO_TCP, TCP_INFO, &info, &short_len), EINVAL);
  ASSERT_EQ(fg_close(srv(), fd), 0);
  EXPECT_FAILS_WITH(set_int(srv(), fd, SOL_SOCKET, SO_KEEPALIVE, 1), EBADF) << "closed";
}

TEST_F(TcpApi, SoTypeAndSoErrorOfEachKind) {
  const int t = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  const int u = fg_socket(srv(), AF_INET, SOCK_DGRAM, 0);
  EXPECT_EQ(int_option(srv(), t, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  EXPECT_EQ(int_option(srv(), u, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
  EXPECT_EQ(so_error(srv(), t), 0);
  EXPECT_EQ(so_error(srv(), u), 0);
  lfd_ = listener();
  EXPECT_EQ(int_option(srv(), lfd_, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  EXPECT_EQ(so_error(srv(), lfd_), 0);
}

TEST_F(TcpApi, TcpInfoFollowsTheStates) {
  const int fresh = fg_socket(cli(), AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(info_of(cli(), fresh).state, TcpState::closed);
  lfd_ = listener();
  EXPECT_EQ(info_of(srv(), lfd_).state, TcpState::listen);
  cfd_ = start_connect();
  EXPECT_EQ(info_of(cli(), cfd_).state, TcpState::syn_sent);
  net_.run();
  sfd_ = fg_accept(srv(), lfd_, nullptr, nullptr);
  ASSERT_GE(sfd_, 0);
  ConnectionInfo c = info_of(cli(), cfd_);
  EXPECT_EQ(c.state, TcpState::established);
  EXPECT_TRUE(c.timestamps);
  EXPECT_TRUE(c.sack);
  EXPECT_EQ(c.smss, 1448u) << "1460 less the timestamp option";
  EXPECT_EQ(c.rcv_mss, 1460u);
  EXPECT_GT(c.cwnd, 0u);
  EXPECT_TRUE(c.srtt.has_value());
  EXPECT_EQ(c.retransmits, 0u);
  EXPECT_EQ(info_of(srv(), sfd_).state, TcpState::established);

  ASSERT_EQ(fg_shutdown(cli(), cfd_, SHUT_WR), 0);
  EXPECT_EQ(info_of(cli(), cfd_).state, TcpState::fin_wait_1);
  net_.run();
  EXPECT_EQ(info_of(cli(), cfd_).state, TcpState::fin_wait_2);
  EXPECT_EQ(info_of(srv(), sfd_).state, TcpState::close_wait);
  ASSERT_EQ(fg_shutdown(srv(), sfd_, SHUT_WR), 0);
  EXPECT_EQ(info_of(srv(), sfd_).state, TcpState::last_ack);
  net_.run();
  EXPECT_EQ(info_of(cli(), cfd_).state, TcpState::time_wait);
  EXPECT_EQ(info_of(srv(), sfd_).state, TcpState::closed);
}

TEST_F(TcpApi, TcpInfoShowsTheSendAndReceiveZones) {
  lfd_ = listener();
  // A 4096-byte receive buffer: the server offers a 4096-byte window, unscaled.
  ASSERT_EQ(set_int(srv(), lfd_, SOL_SOCKET, SO_RCVBUF, 4096), 0);
  cfd_ = start_connect();
  net_.run();
  sfd_ = fg_accept(srv(), lfd_, nullptr, nullptr);
  ASSERT_GE(sfd_, 0);
  ConnectionInfo c = info_of(cli(), cfd_);
  EXPECT_EQ(c.snd_wnd, 4096u);
  EXPECT_EQ(c.bytes_acked, 0u);
  EXPECT_EQ(c.bytes_in_flight + c.bytes_sendable + c.bytes_not_sendable, 0u);
  ConnectionInfo s = info_of(srv(), sfd_);
  EXPECT_EQ(s.rcv_wnd, 4096u);
  EXPECT_EQ(s.bytes_received, 0u);

  const auto data = pattern(10000, 3);
  ASSERT_EQ(fg_send(cli(), cfd_, data.data(), data.size(), 0), 10000);
  // Two full segments (SMSS 1448) fit the window; the 1200 bytes left in it wait for a larger
  // window (sender silly-window avoidance); the rest is beyond it.
  c = info_of(cli(), cfd_);
  EXPECT_EQ(c.bytes_acked, 0u);
  EXPECT_EQ(c.bytes_in_flight, 2896u);
  EXPECT_EQ(c.bytes_sendable, 1200u);
  EXPECT_EQ(c.bytes_not_sendable, 5904u);

  net_.run();  // two full-sized segments: the server ACKs at once
  c = info_of(cli(), cfd_);
  EXPECT_EQ(c.bytes_acked, 2896u);
  EXPECT_EQ(c.bytes_in_flight, 0u);
  EXPECT_EQ(c.snd_wnd, 1200u);
  EXPECT_EQ(c.bytes_sendable, 1200u);
  EXPECT_EQ(c.bytes_not_sendable, 5904u);
  s = info_of(srv(), sfd_);
  EXPECT_EQ(s.bytes_received, 2896u);
  EXPECT_EQ(s.bytes_unread, 2896u);
  EXPECT_EQ(s.rcv_wnd, 1200u);
  EXPECT_EQ(s.bytes_out_of_order, 0u);

  // The server reads everything as it comes; in the end every byte is acknowledged and read.
  std::string got;
  for (int round = 0; round < 200 && got.size() < data.size(); ++round) {
    got += recv_text(srv(), sfd_);
    net_.run();
    net_.advance(10ms);
  }
  ASSERT_EQ(got.size(), data.size());
  EXPECT_EQ(std::memcmp(got.data(), data.data(), data.size()), 0);
  net_.advance(1s);
  c = info_of(cli(), cfd_);
  EXPECT_EQ(c.bytes_acked, 10000u);
  EXPECT_EQ(c.bytes_in_flight + c.bytes_sendable + c.bytes_not_sendable, 0u);
  s = info_of(srv(), sfd_);
  EXPECT_EQ(s.bytes_received, 10000u);
  EXPECT_EQ(s.bytes_unread, 0u);
  // Receiver silly-window avoidance (RFC 9293 3.8.6.2.2) reopens the window only in steps of
  // an MSS or more, so at the end it is within one MSS of the whole buffer.
  EXPECT_GT(s.rcv_wnd, 4096u - 1460u);
  EXPECT_LE(s.rcv_wnd, 4096u);
}

TEST_F(TcpApi, BufferSizesApplyToConnectionsOpenedAfterwards) {
  lfd_ = listener();
  ASSERT_EQ(set_int(srv(), lfd_, SOL_SOCKET, SO_RCVBUF, 8192), 0);
  cfd_ = start_connect(
      kPort, [&](int fd) { ASSERT_EQ(set_int(cli(), fd, SOL_SOCKET, SO_RCVBUF, 20000), 0); });
  net_.run();
  sfd_ = fg_accept(srv(), lfd_, nullptr, nullptr);
  ASSERT_GE(sfd_, 0);
  EXPECT_EQ(int_option(srv(), sfd_, SOL_SOCKET, SO_RCVBUF), 8192);
  EXPECT_EQ(info_of(srv(), sfd_).rcv_wnd, 8192u);
  EXPECT_EQ(info_of(srv(), sfd_).rcv_wscale, 0) << "8192 needs no scaling";
  EXPECT_EQ(info_of(cli(), cfd_).snd_wnd, 8192u) << "the window of the SYN-ACK";
  EXPECT_EQ(info_of(cli(), cfd_).rcv_wnd, 20000u);
  EXPECT_EQ(info_of(srv(), sfd_).snd_wnd, 20000u) << "the window of the SYN";

  // Changing the size of an open connection's buffer does not resize it.
  ASSERT_EQ(set_int(srv(), sfd_, SOL_SOCKET, SO_RCVBUF, 65536), 0);
  EXPECT_EQ(int_option(srv(), sfd_, SOL_SOCKET, SO_RCVBUF), 65536);
  EXPECT_EQ(info_of(srv(), sfd_).rcv_wnd, 8192u);
  // A later connection gets the listener's buffer, not the accepted socket's.
  const int c2 = start_connect();
  net_.run();
  EXPECT_EQ(info_of(cli(), c2).snd_wnd, 8192u);
}

TEST(TcpApiHandPeer, ReceiveBufferSetsTheWindowOfTheSynAck) {
  StackHarness h(hand_peer_config());
  const auto local = inet(wire::Ipv4Address::any(), kPort);
  auto syn_ack_for = [&](int listen_fd, uint16_t peer_port) {
    wire::TcpRepr syn;
    syn.src_port = peer_port;
    syn.dst_port = kPort;
    syn.seq = 1000;
    syn.flags = TcpFlag::syn;
    syn.window = 65535;
    syn.options.mss = 1460;
    syn.options.window_scale = 7;
    syn.options.sack_permitted = true;
    h.receive(peer_tcp_frame(syn));
    auto f = h.expect_frame();
    EXPECT_TRUE(f.tcp.has_value());
    EXPECT_EQ(fg_accept(h.stack, listen_fd, nullptr, nullptr), -1) << "never a half-open one";
    return f;
  };

  const int defaults = fg_socket(h.stack, AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(fg_bind(h.stack, defaults, sa(local), kSinLen), 0);
  ASSERT_EQ(fg_listen(h.stack, defaults, 8), 0);
  {
    auto f = syn_ack_for(defaults, 40001);
    ASSERT_TRUE(f.tcp.has_value());
    EXPECT_TRUE(f.tcp->flags.has(TcpFlag::syn) && f.tcp->flags.has(TcpFlag::ack));
    // 256 KiB: the SYN-ACK offers 65535 (never scaled) and a shift of 3 (65535 << 3 covers it).
    EXPECT_EQ(f.tcp->window, 65535);
    EXPECT_EQ(f.tcp->options.window_scale, std::optional<uint8_t>(3));
  }
  ASSERT_EQ(fg_close(h.stack, defaults), 0);
  h.expect_frame();  // the half-open connection's RST

  const int small = fg_socket(h.stack, AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(set_int(h.stack, small, SOL_SOCKET, SO_RCVBUF, 8192), 0);
  ASSERT_EQ(fg_bind(h.stack, small, sa(local), kSinLen), 0);
  ASSERT_EQ(fg_listen(h.stack, small, 8), 0);
  auto f = syn_ack_for(small, 40002);
  ASSERT_TRUE(f.tcp.has_value());
  EXPECT_EQ(f.tcp->window, 8192);
  EXPECT_EQ(f.tcp->options.window_scale, std::optional<uint8_t>(0));
  // The handshake's last ACK makes it acceptable.
  wire::TcpRepr ack;
  ack.src_port = 40002;
  ack.dst_port = kPort;
  ack.seq = 1001;
  ack.ack = f.tcp->seq + 1;
  ack.flags = TcpFlag::ack;
  ack.window = 512;
  h.receive(peer_tcp_frame(ack));
  const int accepted = fg_accept(h.stack, small, nullptr, nullptr);
  ASSERT_GE(accepted, 0) << std::strerror(errno);
  EXPECT_EQ(info_of(h.stack, accepted).rcv_wnd, 8192u);
  EXPECT_EQ(info_of(h.stack, accepted).snd_wnd, 512u << 7);
}

TEST_F(TcpApi, KeepaliveTurnedOnForAnIdleConnectionProbes) {
  connect_pair();
  ASSERT_EQ(set_int(cli(), cfd_, IPPROTO_TCP, TCP_KEEPIDLE, 10), 0);
  ASSERT_EQ(set_int(cli(), cfd_, IPPROTO_TCP, TCP_KEEPINTVL, 5), 0);
  ASSERT_EQ(set_int(cli(), cfd_, SOL_SOCKET, SO_KEEPALIVE, 1), 0);
  // Linux arms the keepalive timer when SO_KEEPALIVE is set on an established connection;
  // nothing else happens on this connection.
  net_.advance(11s);
  EXPECT_EQ(cli().counters()[Event::tcp_keepalive_probes], 1u);
  EXPECT_EQ(info_of(cli(), cfd_).state, TcpState::established) << "the server answers";
}

TEST_F(TcpApi, KeepaliveOnBeforeConnectingProbesAnIdleConnection) {
  lfd_ = listener();
  cfd_ = start_connect(kPort, [&](int fd) {
    ASSERT_EQ(set_int(cli(), fd, SOL_SOCKET, SO_KEEPALIVE, 1), 0);
    ASSERT_EQ(set_int(cli(), fd, IPPROTO_TCP, TCP_KEEPIDLE, 10), 0);
  });
  net_.run();
  net_.advance(9s);
  EXPECT_EQ(cli().counters()[Event::tcp_keepalive_probes], 0u);
  net_.advance(2s);
  EXPECT_EQ(cli().counters()[Event::tcp_keepalive_probes], 1u);
  EXPECT_EQ(info_of(cli(), cfd_).state, TcpState::established);
}

// ---------------------------------------------------------------- fg_close

TEST_F(TcpApi, CloseErrors) {
  EXPECT_FAILS_WITH(fg_close(srv(), 123), EBADF);
  EXPECT_FAILS_WITH(fg_close(srv(), -1), EBADF);
  const int fd = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(fg_close(srv(), fd), 0);
  EXPECT_FAILS_WITH(fg_close(srv(), fd), EBADF) << "closed twice";
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(fg_close(srv(), ep), 0);
  EXPECT_FAILS_WITH(fg_close(srv(), ep), EBADF);
}

TEST_F(TcpApi, ClosedDescriptorsAreReusedForNewSockets) {
  const int a = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  const int b = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(fg_close(srv(), a), 0);
  const int c = fg_socket(srv(), AF_INET, SOCK_DGRAM, 0);
  EXPECT_EQ(c, a) << "the lowest free descriptor";
  EXPECT_EQ(int_option(srv(), c, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
  EXPECT_EQ(int_option(srv(), b, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
}

TEST_F(TcpApi, ClosingAListenerResetsConnectionsNeverAccepted) {
  lfd_ = listener();
  const int c1 = start_connect();
  const int c2 = start_connect();
  net_.run();
  ASSERT_EQ(info_of(cli(), c1).state, TcpState::established);
  ASSERT_EQ(info_of(cli(), c2).state, TcpState::established);
  sfd_ = fg_accept(srv(), lfd_, nullptr, nullptr);  // c1's: survives
  ASSERT_GE(sfd_, 0);
  const uint64_t resets = srv().counters()[Event::tcp_resets_sent];
  ASSERT_EQ(fg_close(srv(), lfd_), 0);
  EXPECT_EQ(srv().counters()[Event::tcp_resets_sent], resets + 1);
  net_.run();
  char buf[4];
  EXPECT_EQ(info_of(cli(), c2).state, TcpState::closed);
  EXPECT_FAILS_WITH(fg_recv(cli(), c2, buf, sizeof buf, 0), ECONNRESET);
  EXPECT_EQ(info_of(cli(), c1).state, TcpState::established);
  EXPECT_EQ(srv().tcp().connections(), 1u) << "only the accepted one is left";
  ASSERT_EQ(send_text(cli(), c1, "still here"), 10);
  net_.run();
  EXPECT_EQ(recv_text(srv(), sfd_), "still here");
  // And nobody listens any more.
  const int c3 = start_connect();
  net_.run();
  EXPECT_EQ(so_error(cli(), c3), ECONNREFUSED);
}

TEST(TcpApiHandPeer, ClosingAListenerResetsHalfOpenConnections) {
  StackHarness h(hand_peer_config());
  const int l = fg_socket(h.stack, AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(fg_listen(h.stack, l, 4), 0);
  wire::TcpRepr syn;
  syn.src_port = 40100;
  syn.dst_port = ntohs(name_of(h.stack, l).sin_port);
  syn.seq = 77;
  syn.flags = TcpFlag::syn;
  syn.window = 8192;
  h.receive(peer_tcp_frame(syn));
  auto syn_ack = h.expect_frame();
  ASSERT_TRUE(syn_ack.tcp.has_value());
  ASSERT_EQ(fg_close(h.stack, l), 0);
  auto rst = h.expect_frame();
  ASSERT_TRUE(rst.tcp.has_value());
  EXPECT_TRUE(rst.tcp->flags.has(TcpFlag::rst));
  EXPECT_EQ(rst.tcp->seq, syn_ack.tcp->seq + 1);
  EXPECT_EQ(h.stack.tcp().connections(), 0u);
}

TEST_F(TcpApi, ClosedDescriptorIsEbadfForEveryCall) {
  connect_pair();
  const int ep = fg_epoll_create(cli());  // before the close, so it cannot take that number
  ASSERT_EQ(fg_close(cli(), cfd_), 0);
  const int fd = cfd_;
  char buf[4] = {};
  int one = 1;
  socklen_t len = sizeof one;
  sockaddr_in a{};
  socklen_t alen = kSinLen;
  const auto remote = inet(kOurIp, kPort);
  epoll_event ev{};
  ev.events = EPOLLIN;
  EXPECT_FAILS_WITH(fg_bind(cli(), fd, sa(remote), kSinLen), EBADF);
  EXPECT_FAILS_WITH(fg_listen(cli(), fd, 1), EBADF);
  EXPECT_FAILS_WITH(fg_accept(cli(), fd, nullptr, nullptr), EBADF);
  EXPECT_FAILS_WITH(fg_connect(cli(), fd, sa(remote), kSinLen), EBADF);
  EXPECT_FAILS_WITH(fg_send(cli(), fd, buf, sizeof buf, 0), EBADF);
  EXPECT_FAILS_WITH(fg_recv(cli(), fd, buf, sizeof buf, 0), EBADF);
  EXPECT_FAILS_WITH(fg_shutdown(cli(), fd, SHUT_RDWR), EBADF);
  EXPECT_FAILS_WITH(fg_getsockname(cli(), fd, sa(a), &alen), EBADF);
  EXPECT_FAILS_WITH(fg_getpeername(cli(), fd, sa(a), &alen), EBADF);
  EXPECT_FAILS_WITH(fg_setsockopt(cli(), fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one), EBADF);
  EXPECT_FAILS_WITH(fg_getsockopt(cli(), fd, SOL_SOCKET, SO_KEEPALIVE, &one, &len), EBADF);
  EXPECT_FAILS_WITH(fg_epoll_ctl(cli(), ep, EPOLL_CTL_ADD, fd, &ev), EBADF);
  EXPECT_FAILS_WITH(fg_close(cli(), fd), EBADF);
}

TEST_F(TcpApi, EpollDescriptorGivenToSocketCallsIsEnotsock) {
  // Linux: every socket call on a descriptor that is not a socket fails with ENOTSOCK.
  const int ep = fg_epoll_create(srv());
  ASSERT_GE(ep, 0);
  char buf[4] = {};
  int one = 1;
  socklen_t len = sizeof one;
  sockaddr_in a{};
  socklen_t alen = kSinLen;
  const auto local = inet(wire::Ipv4Address::any(), 5005);
  EXPECT_FAILS_WITH(fg_bind(srv(), ep, sa(local), kSinLen), ENOTSOCK);
  EXPECT_FAILS_WITH(fg_listen(srv(), ep, 1), ENOTSOCK);
  EXPECT_FAILS_WITH(fg_accept(srv(), ep, nullptr, nullptr), ENOTSOCK);
  EXPECT_FAILS_WITH(fg_connect(srv(), ep, sa(local), kSinLen), ENOTSOCK);
  EXPECT_FAILS_WITH(fg_send(srv(), ep, buf, sizeof buf, 0), ENOTSOCK);
  EXPECT_FAILS_WITH(fg_recv(srv(), ep, buf, sizeof buf, 0), ENOTSOCK);
  EXPECT_FAILS_WITH(fg_shutdown(srv(), ep, SHUT_RDWR), ENOTSOCK);
  EXPECT_FAILS_WITH(fg_getsockname(srv(), ep, sa(a), &alen), ENOTSOCK);
  EXPECT_FAILS_WITH(fg_getpeername(srv(), ep, sa(a), &alen), ENOTSOCK);
  EXPECT_FAILS_WITH(fg_setsockopt(srv(), ep, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one), ENOTSOCK);
  EXPECT_FAILS_WITH(fg_getsockopt(srv(), ep, SOL_SOCKET, SO_TYPE, &one, &len), ENOTSOCK);
  EXPECT_EQ(fg_close(srv(), ep), 0) << "close works on any descriptor";
}

// ---------------------------------------------------------------- epoll

TEST_F(TcpEpoll, ListenerIsReadableWhenAConnectionIsReadyToAccept) {
  lfd_ = listener();
  const int ep = fg_epoll_create(srv());
  ASSERT_GE(ep, 0);
  ASSERT_EQ(add_to(srv(), ep, lfd_, EPOLLIN), 0);
  EXPECT_TRUE(wait_events(srv(), ep).empty());
  cfd_ = start_connect();
  net_.run();
  auto events = wait_events(srv(), ep);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events_of(events, lfd_), uint32_t{EPOLLIN});
  sfd_ = fg_accept(srv(), lfd_, nullptr, nullptr);
  ASSERT_GE(sfd_, 0);
  EXPECT_TRUE(wait_events(srv(), ep).empty()) << "queue empty again";
}

TEST(TcpEpollHandPeer, HalfOpenConnectionDoesNotMakeTheListenerReadable) {
  StackHarness h(hand_peer_config());
  const int l = fg_socket(h.stack, AF_INET, SOCK_STREAM, 0);
  const auto local = inet(wire::Ipv4Address::any(), kPort);
  ASSERT_EQ(fg_bind(h.stack, l, sa(local), kSinLen), 0);
  ASSERT_EQ(fg_listen(h.stack, l, 4), 0);
  const int ep = fg_epoll_create(h.stack);
  ASSERT_EQ(add_to(h.stack, ep, l, EPOLLIN), 0);
  wire::TcpRepr syn;
  syn.src_port = 40200;
  syn.dst_port = kPort;
  syn.seq = 5000;
  syn.flags = TcpFlag::syn;
  syn.window = 8192;
  h.receive(peer_tcp_frame(syn));
  auto syn_ack = h.expect_frame();
  ASSERT_TRUE(syn_ack.tcp.has_value());
  EXPECT_TRUE(wait_events(h.stack, ep).empty()) << "SYN-RECEIVED is not acceptable yet";
  wire::TcpRepr ack;
  ack.src_port = 40200;
  ack.dst_port = kPort;
  ack.seq = 5001;
  ack.ack = syn_ack.tcp->seq + 1;
  ack.flags = TcpFlag::ack;
  ack.window = 8192;
  h.receive(peer_tcp_frame(ack));
  auto events = wait_events(h.stack, ep);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].events, uint32_t{EPOLLIN});
}

TEST_F(TcpEpoll, EpolloutWhenConnectCompletes) {
  lfd_ = listener();
  const int ep = fg_epoll_create(cli());
  cfd_ = start_connect();
  ASSERT_EQ(add_to(cli(), ep, cfd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP), 0);
  EXPECT_TRUE(wait_events(cli(), ep).empty()) << "SYN-SENT: neither readable nor writable";
  net_.run();
  auto events = wait_events(cli(), ep);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events_of(events, cfd_), uint32_t{EPOLLOUT});
  EXPECT_EQ(so_error(cli(), cfd_), 0) << "the connect succeeded";
}

TEST_F(TcpEpoll, RefusedConnectIsReportedAsAnError) {
  const int ep = fg_epoll_create(cli());
  cfd_ = start_connect();  // nobody listens
  ASSERT_EQ(add_to(cli(), ep, cfd_, EPOLLOUT), 0);
  EXPECT_TRUE(wait_events(cli(), ep).empty());
  net_.run();
  const uint32_t ev = events_of(wait_events(cli(), ep), cfd_);
  EXPECT_EQ(ev & (EPOLLERR | EPOLLHUP), uint32_t{EPOLLERR | EPOLLHUP});
  EXPECT_EQ(so_error(cli(), cfd_), ECONNREFUSED);
  EXPECT_EQ(events_of(wait_events(cli(), ep), cfd_) & EPOLLERR, 0u) << "the error was read";
}

TEST_F(TcpEpoll, EpollinOnDataIsLevelTriggeredUntilDrained) {
  connect_pair();
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add_to(srv(), ep, sfd_, EPOLLIN), 0);
  EXPECT_TRUE(wait_events(srv(), ep).empty());
  client_sends("0123456789");
  for (int i = 0; i < 3; ++i) {
    auto events = wait_events(srv(), ep);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events_of(events, sfd_), uint32_t{EPOLLIN}) << "wait " << i;
  }
  char buf[4];
  ASSERT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, 0), 4);
  EXPECT_EQ(events_of(wait_events(srv(), ep), sfd_), uint32_t{EPOLLIN}) << "6 bytes left";
  ASSERT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, MSG_PEEK), 4);
  EXPECT_EQ(events_of(wait_events(srv(), ep), sfd_), uint32_t{EPOLLIN}) << "peeking drains nothing";
  EXPECT_EQ(recv_text(srv(), sfd_), "456789");
  EXPECT_TRUE(wait_events(srv(), ep).empty()) << "drained";
}

TEST_F(TcpEpoll, EpolloutIsLevelTriggeredForAConnectedSocket) {
  connect_pair();
  const int ep = fg_epoll_create(cli());
  ASSERT_EQ(add_to(cli(), ep, cfd_, EPOLLOUT), 0);
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(events_of(wait_events(cli(), ep), cfd_), uint32_t{EPOLLOUT});
}

TEST_F(TcpEpoll, PeerFinReportsRdhupAndIn) {
  connect_pair();
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add_to(srv(), ep, sfd_, EPOLLIN | EPOLLRDHUP), 0);
  ASSERT_EQ(fg_shutdown(cli(), cfd_, SHUT_WR), 0);
  net_.run();
  EXPECT_EQ(events_of(wait_events(srv(), ep), sfd_), uint32_t{EPOLLIN | EPOLLRDHUP});
  char buf[4];
  EXPECT_EQ(fg_recv(srv(), sfd_, buf, sizeof buf, 0), 0);
  EXPECT_EQ(events_of(wait_events(srv(), ep), sfd_), uint32_t{EPOLLIN | EPOLLRDHUP})
      << "end of stream stays readable";
  // Once we shut down too, both directions are finished: EPOLLHUP.
  ASSERT_EQ(fg_shutdown(srv(), sfd_, SHUT_WR), 0);
  EXPECT_EQ(events_of(wait_events(srv(), ep), sfd_) & EPOLLHUP, uint32_t{EPOLLHUP});
}

TEST_F(TcpEpoll, ResetReportsErrAndHup) {
  connect_pair();
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add_to(srv(), ep, sfd_, EPOLLIN), 0);  // EPOLLERR and EPOLLHUP need no asking
  EXPECT_TRUE(wait_events(srv(), ep).empty());
  client_aborts();
  uint32_t ev = events_of(wait_events(srv(), ep), sfd_);
  EXPECT_EQ(ev & (EPOLLERR | EPOLLHUP | EPOLLIN), uint32_t{EPOLLERR | EPOLLHUP | EPOLLIN});
  EXPECT_EQ(ev & EPOLLOUT, 0u) << "not asked for";
  char buf[4];
  EXPECT_FAILS_WITH(fg_recv(srv(), sfd_, buf, sizeof buf, 0), ECONNRESET);
  ev = events_of(wait_events(srv(), ep), sfd_);
  EXPECT_EQ(ev & EPOLLERR, 0u) << "the error was reported";
  EXPECT_EQ(ev & EPOLLHUP, uint32_t{EPOLLHUP}) << "still dead";
}

TEST_F(TcpEpoll, EdgeTriggeredReportsOncePerNewReadiness) {
  connect_pair();
  ASSERT_EQ(set_int(cli(), cfd_, IPPROTO_TCP, TCP_NODELAY, 1), 0);  // every send leaves at once
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add_to(srv(), ep, sfd_, EPOLLIN | EPOLLET), 0);
  EXPECT_TRUE(wait_events(srv(), ep).empty());
  client_sends("first");
  EXPECT_EQ(events_of(wait_events(srv(), ep), sfd_), uint32_t{EPOLLIN});
  EXPECT_TRUE(wait_events(srv(), ep).empty()) << "reported once, though not drained";
  EXPECT_EQ(recv_text(srv(), sfd_), "first");
  EXPECT_TRUE(wait_events(srv(), ep).empty());
  client_sends("second");
  ASSERT_EQ(info_of(srv(), sfd_).bytes_unread, 6u);
  EXPECT_EQ(events_of(wait_events(srv(), ep), sfd_), uint32_t{EPOLLIN})
      << "new data after a drain is a new edge";
  EXPECT_TRUE(wait_events(srv(), ep).empty());
}

TEST_F(TcpEpoll, EdgeTriggeredReportsDataArrivingAfterADrainBetweenWaits) {
  // The usual edge-triggered loop: wait, read until EAGAIN, wait again. Data arriving after
  // the drain must wake the next wait, or the application never reads it.
  connect_pair();
  ASSERT_EQ(set_int(cli(), cfd_, IPPROTO_TCP, TCP_NODELAY, 1), 0);  // every send leaves at once
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add_to(srv(), ep, sfd_, EPOLLIN | EPOLLET), 0);
  client_sends("first");
  EXPECT_EQ(events_of(wait_events(srv(), ep), sfd_), uint32_t{EPOLLIN});
  EXPECT_EQ(recv_text(srv(), sfd_), "first");
  char buf[4];
  EXPECT_FAILS_WITH(fg_recv(srv(), sfd_, buf, sizeof buf, 0), EAGAIN);
  client_sends("second");
  ASSERT_EQ(info_of(srv(), sfd_).bytes_unread, 6u) << "the data is there";
  EXPECT_EQ(events_of(wait_events(srv(), ep), sfd_), uint32_t{EPOLLIN});
}

TEST_F(TcpEpoll, EdgeTriggeredReportsEachArrivalOfNewData) {
  // Linux: every arrival of data wakes an edge-triggered waiter (ep_poll_callback runs on
  // each sk_data_ready), even if earlier data is still unread.
  connect_pair();
  ASSERT_EQ(set_int(cli(), cfd_, IPPROTO_TCP, TCP_NODELAY, 1), 0);  // every send leaves at once
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add_to(srv(), ep, sfd_, EPOLLIN | EPOLLET), 0);
  client_sends("one");
  EXPECT_EQ(events_of(wait_events(srv(), ep), sfd_), uint32_t{EPOLLIN});
  client_sends("two");
  ASSERT_EQ(info_of(srv(), sfd_).bytes_unread, 6u) << "the data is there";
  EXPECT_EQ(events_of(wait_events(srv(), ep), sfd_), uint32_t{EPOLLIN});
  EXPECT_EQ(recv_text(srv(), sfd_), "onetwo");
}

TEST_F(TcpEpoll, EdgeTriggeredListenerAndConnect) {
  lfd_ = listener();
  const int sep = fg_epoll_create(srv());
  const int cep = fg_epoll_create(cli());
  ASSERT_EQ(add_to(srv(), sep, lfd_, EPOLLIN | EPOLLET), 0);
  cfd_ = start_connect();
  ASSERT_EQ(add_to(cli(), cep, cfd_, EPOLLOUT | EPOLLET), 0);
  net_.run();
  EXPECT_EQ(events_of(wait_events(srv(), sep), lfd_), uint32_t{EPOLLIN});
  EXPECT_TRUE(wait_events(srv(), sep).empty());
  EXPECT_EQ(events_of(wait_events(cli(), cep), cfd_), uint32_t{EPOLLOUT});
  EXPECT_TRUE(wait_events(cli(), cep).empty()) << "connected once";
}

TEST_F(TcpEpoll, EpolloutReturnsWhenTheSendBufferDrains) {
  lfd_ = listener();
  ASSERT_EQ(set_int(srv(), lfd_, SOL_SOCKET, SO_RCVBUF, 4096), 0);
  cfd_ = start_connect(
      kPort, [&](int fd) { ASSERT_EQ(set_int(cli(), fd, SOL_SOCKET, SO_SNDBUF, 4096), 0); });
  net_.run();
  sfd_ = fg_accept(srv(), lfd_, nullptr, nullptr);
  ASSERT_GE(sfd_, 0);
  const int ep = fg_epoll_create(cli());
  ASSERT_EQ(add_to(cli(), ep, cfd_, EPOLLOUT), 0);
  const auto chunk = pattern(4096);
  for (int round = 0; round < 20; ++round) {
    fg_send(cli(), cfd_, chunk.data(), chunk.size(), 0);
    net_.run();
    net_.advance(50ms);
  }
  EXPECT_FAILS_WITH(fg_send(cli(), cfd_, chunk.data(), chunk.size(), 0), EAGAIN);
  EXPECT_TRUE(wait_events(cli(), ep).empty()) << "full: not writable";
  for (int round = 0; round < 20; ++round) {
    recv_text(srv(), sfd_);
    net_.run();
    net_.advance(50ms);
  }
  EXPECT_EQ(events_of(wait_events(cli(), ep), cfd_), uint32_t{EPOLLOUT});
}

TEST_F(TcpEpoll, CtlModChangesTheInterestAndDelRemovesIt) {
  connect_pair();
  const int ep = fg_epoll_create(srv());
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0x1234'5678'9abcULL;
  ASSERT_EQ(fg_epoll_ctl(srv(), ep, EPOLL_CTL_ADD, sfd_, &ev), 0);
  EXPECT_TRUE(wait_events(srv(), ep).empty());
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u64 = 42;
  ASSERT_EQ(fg_epoll_ctl(srv(), ep, EPOLL_CTL_MOD, sfd_, &ev), 0);
  std::array<epoll_event, 4> out{};
  ASSERT_EQ(fg_epoll_wait(srv(), ep, out.data(), 4, 0), 1);
  EXPECT_EQ(out[0].events, uint32_t{EPOLLOUT});
  EXPECT_EQ(out[0].data.u64, 42u) << "the data given with MOD";
  // MOD re-arms an edge-triggered entry: readiness present now is reported again.
  ev.events = EPOLLOUT | EPOLLET;
  ASSERT_EQ(fg_epoll_ctl(srv(), ep, EPOLL_CTL_MOD, sfd_, &ev), 0);
  ASSERT_EQ(fg_epoll_wait(srv(), ep, out.data(), 4, 0), 1);
  EXPECT_EQ(fg_epoll_wait(srv(), ep, out.data(), 4, 0), 0);
  ASSERT_EQ(fg_epoll_ctl(srv(), ep, EPOLL_CTL_MOD, sfd_, &ev), 0);
  EXPECT_EQ(fg_epoll_wait(srv(), ep, out.data(), 4, 0), 1);
  ASSERT_EQ(fg_epoll_ctl(srv(), ep, EPOLL_CTL_DEL, sfd_, nullptr), 0);
  client_sends("ignored");
  EXPECT_EQ(fg_epoll_wait(srv(), ep, out.data(), 4, 0), 0);
}

TEST_F(TcpEpoll, CtlErrors) {
  connect_pair();
  const int ep = fg_epoll_create(srv());
  epoll_event ev{};
  ev.events = EPOLLIN;
  EXPECT_FAILS_WITH(fg_epoll_ctl(srv(), 99, EPOLL_CTL_ADD, sfd_, &ev), EBADF) << "no such epfd";
  EXPECT_FAILS_WITH(fg_epoll_ctl(srv(), ep, EPOLL_CTL_ADD, 99, &ev), EBADF) << "no such fd";
  EXPECT_FAILS_WITH(fg_epoll_ctl(srv(), ep, EPOLL_CTL_ADD, ep, &ev), EINVAL) << "itself";
  EXPECT_FAILS_WITH(fg_epoll_ctl(srv(), ep, EPOLL_CTL_MOD, sfd_, &ev), ENOENT);
  EXPECT_FAILS_WITH(fg_epoll_ctl(srv(), ep, EPOLL_CTL_DEL, sfd_, nullptr), ENOENT);
  ASSERT_EQ(fg_epoll_ctl(srv(), ep, EPOLL_CTL_ADD, sfd_, &ev), 0);
  EXPECT_FAILS_WITH(fg_epoll_ctl(srv(), ep, EPOLL_CTL_ADD, sfd_, &ev), EEXIST);
  EXPECT_FAILS_WITH(fg_epoll_ctl(srv(), ep, 17, sfd_, &ev), EINVAL) << "bad op";
  EXPECT_FAILS_WITH(fg_epoll_ctl(srv(), ep, EPOLL_CTL_MOD, sfd_, nullptr), EFAULT);
  ASSERT_EQ(fg_epoll_ctl(srv(), ep, EPOLL_CTL_DEL, sfd_, nullptr), 0);
  EXPECT_FAILS_WITH(fg_epoll_ctl(srv(), ep, EPOLL_CTL_DEL, sfd_, nullptr), ENOENT);
  ASSERT_EQ(fg_close(srv(), ep), 0);
  EXPECT_FAILS_WITH(fg_epoll_ctl(srv(), ep, EPOLL_CTL_ADD, sfd_, &ev), EBADF) << "closed epfd";
}

TEST_F(TcpEpoll, CtlOnADescriptorThatIsNotAnEpollSetIsEinval) {
  // Linux epoll_ctl(2): "EINVAL epfd is not an epoll file descriptor".
  connect_pair();
  epoll_event ev{};
  ev.events = EPOLLIN;
  EXPECT_FAILS_WITH(fg_epoll_ctl(srv(), lfd_, EPOLL_CTL_ADD, sfd_, &ev), EINVAL);
}

TEST_F(TcpEpoll, WaitErrors) {
  const int ep = fg_epoll_create(srv());
  std::array<epoll_event, 2> out{};
  EXPECT_FAILS_WITH(fg_epoll_wait(srv(), 99, out.data(), 2, 0), EBADF);
  EXPECT_FAILS_WITH(fg_epoll_wait(srv(), ep, out.data(), 0, 0), EINVAL);
  EXPECT_FAILS_WITH(fg_epoll_wait(srv(), ep, out.data(), -1, 0), EINVAL);
  EXPECT_EQ(fg_epoll_wait(srv(), ep, out.data(), 2, -1), 0) << "the timeout is ignored";
  ASSERT_EQ(fg_close(srv(), ep), 0);
  EXPECT_FAILS_WITH(fg_epoll_wait(srv(), ep, out.data(), 2, 0), EBADF) << "closed";
}

TEST_F(TcpEpoll, WaitOnADescriptorThatIsNotAnEpollSetIsEinval) {
  // Linux epoll_wait(2): "EINVAL epfd is not an epoll file descriptor".
  const int udp = fg_socket(srv(), AF_INET, SOCK_DGRAM, 0);
  std::array<epoll_event, 2> out{};
  EXPECT_FAILS_WITH(fg_epoll_wait(srv(), udp, out.data(), 2, 0), EINVAL);
}

TEST_F(TcpEpoll, ClosedDescriptorLeavesTheSet) {
  const int ep = fg_epoll_create(srv());
  const int u = fg_socket(srv(), AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(add_to(srv(), ep, u, EPOLLOUT), 0);
  EXPECT_EQ(wait_events(srv(), ep).size(), 1u);
  ASSERT_EQ(fg_close(srv(), u), 0);
  EXPECT_TRUE(wait_events(srv(), ep).empty());
  // A new socket that gets the same number is not in the set either.
  const int again = fg_socket(srv(), AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(again, u);
  EXPECT_TRUE(wait_events(srv(), ep).empty());
  epoll_event ev{};
  ev.events = EPOLLOUT;
  EXPECT_EQ(fg_epoll_ctl(srv(), ep, EPOLL_CTL_ADD, again, &ev), 0) << "no stale entry (EEXIST)";
}

TEST_F(TcpEpoll, ClosedConnectionLeavesTheSet) {
  connect_pair();
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add_to(srv(), ep, sfd_, EPOLLIN | EPOLLOUT), 0);
  ASSERT_EQ(add_to(srv(), ep, lfd_, EPOLLIN), 0);
  EXPECT_EQ(wait_events(srv(), ep).size(), 1u);
  ASSERT_EQ(fg_close(srv(), sfd_), 0);
  EXPECT_TRUE(wait_events(srv(), ep).empty());
  EXPECT_FAILS_WITH(fg_epoll_ctl(srv(), ep, EPOLL_CTL_DEL, sfd_, nullptr), EBADF);
}

TEST_F(TcpEpoll, MaxeventsBoundsTheResult) {
  const int ep = fg_epoll_create(srv());
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    fds.push_back(fg_socket(srv(), AF_INET, SOCK_DGRAM, 0));
    ASSERT_EQ(add_to(srv(), ep, fds.back(), EPOLLOUT), 0);
  }
  EXPECT_EQ(wait_events(srv(), ep, 16).size(), 3u);
  EXPECT_EQ(wait_events(srv(), ep, 2).size(), 2u);
  EXPECT_EQ(wait_events(srv(), ep, 1).size(), 1u);
}

TEST_F(TcpEpoll, MaxeventsDoesNotStarveTheRest) {
  // Linux puts a reported level-triggered entry at the back of the ready list, so successive
  // waits with a small maxevents get around to every ready descriptor.
  const int ep = fg_epoll_create(srv());
  std::set<int> fds;
  for (int i = 0; i < 3; ++i) {
    const int fd = fg_socket(srv(), AF_INET, SOCK_DGRAM, 0);
    fds.insert(fd);
    ASSERT_EQ(add_to(srv(), ep, fd, EPOLLOUT), 0);
  }
  std::set<int> seen;
  for (int i = 0; i < 2; ++i) {
    for (const auto& e : wait_events(srv(), ep, 2)) seen.insert(e.data.fd);
  }
  EXPECT_EQ(seen, fds);
}

TEST_F(TcpEpoll, UdpAndTcpSocketsInOneSet) {
  lfd_ = listener();
  const int u = fg_socket(srv(), AF_INET, SOCK_DGRAM, 0);
  const auto local = inet(wire::Ipv4Address::any(), 5353);
  ASSERT_EQ(fg_bind(srv(), u, sa(local), kSinLen), 0);
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add_to(srv(), ep, lfd_, EPOLLIN), 0);
  ASSERT_EQ(add_to(srv(), ep, u, EPOLLIN), 0);
  EXPECT_TRUE(wait_events(srv(), ep).empty());

  const int cu = fg_socket(cli(), AF_INET, SOCK_DGRAM, 0);
  const auto to = inet(kOurIp, 5353);
  ASSERT_EQ(fg_sendto(cli(), cu, "ping", 4, 0, sa(to), kSinLen), 4);
  net_.run();
  auto events = wait_events(srv(), ep);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events_of(events, u), uint32_t{EPOLLIN});

  cfd_ = start_connect();
  net_.run();
  events = wait_events(srv(), ep);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events_of(events, u), uint32_t{EPOLLIN});
  EXPECT_EQ(events_of(events, lfd_), uint32_t{EPOLLIN});

  char buf[8];
  ASSERT_EQ(fg_recvfrom(srv(), u, buf, sizeof buf, 0, nullptr, nullptr), 4);
  sfd_ = fg_accept(srv(), lfd_, nullptr, nullptr);
  ASSERT_GE(sfd_, 0);
  ASSERT_EQ(add_to(srv(), ep, sfd_, EPOLLIN), 0);
  EXPECT_TRUE(wait_events(srv(), ep).empty());
  client_sends("tcp");
  events = wait_events(srv(), ep);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events_of(events, sfd_), uint32_t{EPOLLIN});
}

TEST_F(TcpEpoll, OneShotReportsOnceUntilRearmedWithMod) {
  connect_pair();
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add_to(srv(), ep, sfd_, EPOLLIN | EPOLLONESHOT), 0);
  client_sends("x");
  EXPECT_EQ(events_of(wait_events(srv(), ep), sfd_), uint32_t{EPOLLIN});
  EXPECT_TRUE(wait_events(srv(), ep).empty()) << "disabled after one report";
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.fd = sfd_;
  ASSERT_EQ(fg_epoll_ctl(srv(), ep, EPOLL_CTL_MOD, sfd_, &ev), 0);
  EXPECT_EQ(events_of(wait_events(srv(), ep), sfd_), uint32_t{EPOLLIN}) << "re-armed";
}

TEST_F(TcpEpoll, UnconnectedTcpSocketReportsOutAndHup) {
  // As Linux's tcp_poll for a socket in CLOSE: EPOLLOUT | EPOLLHUP.
  const int fd = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add_to(srv(), ep, fd, EPOLLIN | EPOLLOUT), 0);
  EXPECT_EQ(events_of(wait_events(srv(), ep), fd), uint32_t{EPOLLOUT | EPOLLHUP});
}

// ---------------------------------------------------------------- ephemeral ports, steering

// The client stack as one worker of a sharded gateway (StackConfig::steering), against a
// plain server; `range` ephemeral ports from 49152.
class SteeredClient : public ::testing::Test {
 protected:
  static constexpr uint32_t kSeed = 0x5eed0001;

  static StackConfig steered(StackConfig c, uint32_t worker, uint32_t workers, uint16_t range) {
    c.steering = {worker, workers, kSeed};
    c.udp.ephemeral_first = 49152;
    c.udp.ephemeral_last = static_cast<uint16_t>(49152 + range - 1);
    return c;
  }

  void make(uint32_t worker, uint32_t workers, uint16_t range = 16384) {
    net_ = std::make_unique<BackToBack>(server_config(),
                                        steered(client_config(), worker, workers, range));
    net_->run();
  }
  Stack& srv() { return net_->a; }
  Stack& cli() { return net_->b; }

  int listen_on(uint16_t port) {
    const int fd = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
    const auto local = inet(wire::Ipv4Address::any(), port);
    EXPECT_EQ(fg_bind(srv(), fd, sa(local), kSinLen), 0) << std::strerror(errno);
    EXPECT_EQ(fg_listen(srv(), fd, 128), 0) << std::strerror(errno);
    return fd;
  }
  // fg_connect to the server's `port`: the descriptor, or -errno if connect() did not answer
  // EINPROGRESS.
  int connect_to(uint16_t port) {
    const int fd = fg_socket(cli(), AF_INET, SOCK_STREAM, 0);
    const auto remote = inet(kOurIp, port);
    errno = 0;
    if (fg_connect(cli(), fd, sa(remote), kSinLen) == -1 && errno == EINPROGRESS) return fd;
    const int err = errno;
    fg_close(cli(), fd);
    return -err;
  }
  uint16_t local_port(int fd) { return ntohs(name_of(cli(), fd).sin_port); }
  // The worker the I/O process would steer this connection's replies to.
  uint32_t steered_worker(uint32_t workers, uint16_t client_port, uint16_t server_port) const {
    return wire::FlowSteering{kSeed, workers}.for_ports(kOurIp, kPeerIp, server_port, client_port);
  }

  std::unique_ptr<BackToBack> net_;
};

TEST_F(SteeredClient, ConnectOnWorkerOneOfThreePicksAPortSteeredToIt) {
  make(1, 3);
  const int l = listen_on(kPort);
  std::set<uint16_t> ports;
  for (int i = 0; i < 60; ++i) {
    const int fd = connect_to(kPort);
    ASSERT_GE(fd, 0) << std::strerror(-fd);
    const uint16_t p = local_port(fd);
    EXPECT_EQ(steered_worker(3, p, kPort), 1u) << "port " << p;
    EXPECT_TRUE(ports.insert(p).second);
    net_->run();
    EXPECT_EQ(info_of(cli(), fd).state, TcpState::established);
    const int s = fg_accept(srv(), l, nullptr, nullptr);
    ASSERT_GE(s, 0);
    // The server saw the same port: this is the tuple on the wire.
    EXPECT_EQ(ntohs(peer_of(srv(), s).sin_port), p);
  }
}

TEST_F(SteeredClient, EveryWorkerOfFourGetsItsOwnPorts) {
  for (uint32_t worker = 0; worker < 4; ++worker) {
    make(worker, 4);
    for (uint16_t server_port : {uint16_t{80}, uint16_t{443}, uint16_t{8080}, uint16_t{9001}}) {
      const int fd = connect_to(server_port);
      ASSERT_GE(fd, 0);
      EXPECT_EQ(steered_worker(4, local_port(fd), server_port), worker);
    }
  }
}

TEST_F(SteeredClient, OneWorkerStartsAtTheBottomOfTheRangeAsBefore) {
  make(0, 1);
  const int a = connect_to(kPort);
  const int b = connect_to(kPort);
  EXPECT_EQ(local_port(a), 49152);
  EXPECT_EQ(local_port(b), 49153);
}

TEST_F(SteeredClient, ExhaustedClassIsEaddrnotavail) {
  // 12 ports, 3 workers: the ports that steer connections to one server port back to
  // worker 2 (about a third of them) are used up, then the next connect fails.
  make(2, 3, 12);
  int steering_back = 0;
  for (uint32_t port = 49152; port < 49152 + 12; ++port) {
    if (steered_worker(3, static_cast<uint16_t>(port), kPort) == 2u) ++steering_back;
  }
  ASSERT_GT(steering_back, 0);
  for (int i = 0; i < steering_back; ++i) ASSERT_GE(connect_to(kPort), 0) << i;
  EXPECT_EQ(connect_to(kPort), -EADDRNOTAVAIL);
  // Another server port needs another class of local ports.
  const int other = connect_to(kPort + 1);
  ASSERT_GE(other, 0);
  EXPECT_EQ(steered_worker(3, local_port(other), kPort + 1), 2u);
}

TEST_F(SteeredClient, ClosedSocketsGiveTheirPortsBack) {
  make(0, 1, 3);
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) fds.push_back(connect_to(kPort));
  EXPECT_EQ(connect_to(kPort), -EADDRNOTAVAIL);
  const uint16_t freed = local_port(fds[1]);
  ASSERT_EQ(fg_close(cli(), fds[1]), 0);  // SYN-SENT: closed at once, nothing lingers
  const int again = connect_to(kPort);
  ASSERT_GE(again, 0);
  EXPECT_EQ(local_port(again), freed);
}

TEST_F(SteeredClient, ExplicitBindInTheRangeIsNeverHandedOut) {
  make(0, 1, 4);
  const int bound = fg_socket(cli(), AF_INET, SOCK_STREAM, 0);
  const auto local = inet(wire::Ipv4Address::any(), 49152);
  ASSERT_EQ(fg_bind(cli(), bound, sa(local), kSinLen), 0);
  std::set<uint16_t> ports;
  for (int i = 0; i < 3; ++i) {
    const int fd = connect_to(kPort);
    ASSERT_GE(fd, 0);
    ports.insert(local_port(fd));
  }
  EXPECT_EQ(ports, (std::set<uint16_t>{49153, 49154, 49155}));
  EXPECT_EQ(connect_to(kPort), -EADDRNOTAVAIL);
  ASSERT_EQ(fg_close(cli(), bound), 0);
  const int fd = connect_to(kPort);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(local_port(fd), 49152);
}

TEST_F(SteeredClient, ConnectSkipsAPortWhoseTupleIsInTimeWait) {
  // Six ports. The first connection closes first and keeps the TIME-WAIT record for
  // (49152, server:8080); its port is free again for other remotes, but a new connection to
  // the same server port must not be given it while the record lives.
  make(0, 1, 6);
  const int l = listen_on(kPort);
  const int first = connect_to(kPort);
  ASSERT_GE(first, 0);
  const uint16_t time_wait_port = local_port(first);
  net_->run();
  const int accepted = fg_accept(srv(), l, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  ASSERT_EQ(fg_close(cli(), first), 0);
  net_->run();
  ASSERT_EQ(fg_close(srv(), accepted), 0);
  net_->run();
  ASSERT_EQ(cli().tcp().time_wait_records(), 1u);

  // Five more connections take the rest of the range; the port in TIME-WAIT is next.
  std::vector<int> open;
  for (int i = 0; i < 5; ++i) {
    open.push_back(connect_to(kPort));
    ASSERT_GE(open.back(), 0);
    EXPECT_NE(local_port(open.back()), time_wait_port);
  }
  net_->run();
  // One of them is aborted (RST: no TIME-WAIT), so its port is free with a free tuple.
  const uint16_t aborted_port = local_port(open[2]);
  const linger l0{1, 0};
  ASSERT_EQ(fg_setsockopt(cli(), open[2], SOL_SOCKET, SO_LINGER, &l0, sizeof l0), 0);
  ASSERT_EQ(fg_close(cli(), open[2]), 0);
  net_->run();
  ASSERT_EQ(cli().tcp().time_wait_records(), 1u);

  const int next = connect_to(kPort);
  ASSERT_GE(next, 0) << std::strerror(-next);
  EXPECT_EQ(local_port(next), aborted_port) << "the TIME-WAIT tuple was skipped";
  net_->run();
  EXPECT_EQ(info_of(cli(), next).state, TcpState::established);
  // The TIME-WAIT port still serves another remote port at once.
  const int elsewhere = connect_to(kPort + 1);
  ASSERT_GE(elsewhere, 0);
  EXPECT_EQ(local_port(elsewhere), time_wait_port);
  // And once the record expires (2 MSL), the same server port too.
  ASSERT_EQ(fg_close(cli(), elsewhere), 0);
  net_->advance(61s);
  EXPECT_EQ(cli().tcp().time_wait_records(), 0u);
  const int reused = connect_to(kPort);
  ASSERT_GE(reused, 0);
  EXPECT_EQ(local_port(reused), time_wait_port);
}

TEST_F(SteeredClient, ReconnectAfterAFailureChoosesForTheNewRemote) {
  // The port connect() chose for a refused attempt is given back: the next attempt, to
  // another server port, gets one steered for that server port.
  make(1, 2);
  const int fd = fg_socket(cli(), AF_INET, SOCK_STREAM, 0);
  const auto refused = inet(kOurIp, 81);  // nobody listens
  EXPECT_FAILS_WITH(fg_connect(cli(), fd, sa(refused), kSinLen), EINPROGRESS);
  const uint16_t first_port = local_port(fd);
  EXPECT_EQ(steered_worker(2, first_port, 81), 1u);
  net_->run();
  EXPECT_EQ(so_error(cli(), fd), ECONNREFUSED);
  EXPECT_FAILS_WITH(fg_connect(cli(), fd, sa(refused), kSinLen), ECONNABORTED);
  listen_on(kPort);
  const auto good = inet(kOurIp, kPort);
  EXPECT_FAILS_WITH(fg_connect(cli(), fd, sa(good), kSinLen), EINPROGRESS);
  EXPECT_EQ(steered_worker(2, local_port(fd), kPort), 1u);
  net_->run();
  EXPECT_EQ(info_of(cli(), fd).state, TcpState::established);
}

TEST_F(SteeredClient, BindToPortZeroTakesAnyFreePort) {
  // The remote is unknown at bind(): any port, documented as steered only by chance.
  make(1, 4, 8);
  std::set<uint16_t> ports;
  for (int i = 0; i < 8; ++i) {
    const int fd = fg_socket(cli(), AF_INET, SOCK_STREAM, 0);
    const auto any = inet(wire::Ipv4Address::any(), 0);
    ASSERT_EQ(fg_bind(cli(), fd, sa(any), kSinLen), 0) << i;
    ports.insert(local_port(fd));
  }
  EXPECT_EQ(ports.size(), 8u);
  const int fd = fg_socket(cli(), AF_INET, SOCK_STREAM, 0);
  const auto any = inet(wire::Ipv4Address::any(), 0);
  EXPECT_FAILS_WITH(fg_bind(cli(), fd, sa(any), kSinLen), EADDRNOTAVAIL);
  EXPECT_FAILS_WITH(fg_listen(cli(), fd, 1), EADDRNOTAVAIL);
}

TEST_F(SteeredClient, AcceptedConnectionsHoldTheListenersEphemeralPort) {
  // listen() without bind() takes an ephemeral port; the connections accepted on it keep
  // it taken after the listener closes, as port_in_use() sees it for explicit binds.
  net_ = std::make_unique<BackToBack>(steered(server_config(), 0, 1, 2), client_config());
  net_->run();
  Stack& server = net_->a;
  Stack& client = net_->b;
  const int l = fg_socket(server, AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(fg_listen(server, l, 4), 0);
  sockaddr_in name{};
  socklen_t len = kSinLen;
  ASSERT_EQ(fg_getsockname(server, l, sa(name), &len), 0);
  const uint16_t port = ntohs(name.sin_port);
  EXPECT_EQ(port, 49152);
  const int c = fg_socket(client, AF_INET, SOCK_STREAM, 0);
  const auto remote = inet(kOurIp, port);
  EXPECT_FAILS_WITH(fg_connect(client, c, sa(remote), kSinLen), EINPROGRESS);
  net_->run();
  const int s = fg_accept(server, l, nullptr, nullptr);
  ASSERT_GE(s, 0);
  ASSERT_EQ(fg_close(server, l), 0);
  // One port of two is left, and it is not the one the accepted connection uses.
  const int b1 = fg_socket(server, AF_INET, SOCK_STREAM, 0);
  const auto any = inet(wire::Ipv4Address::any(), 0);
  ASSERT_EQ(fg_bind(server, b1, sa(any), kSinLen), 0);
  len = kSinLen;
  ASSERT_EQ(fg_getsockname(server, b1, sa(name), &len), 0);
  EXPECT_EQ(ntohs(name.sin_port), 49153);
  const int b2 = fg_socket(server, AF_INET, SOCK_STREAM, 0);
  EXPECT_FAILS_WITH(fg_bind(server, b2, sa(any), kSinLen), EADDRNOTAVAIL);
  ASSERT_EQ(fg_close(server, s), 0);
  EXPECT_EQ(fg_bind(server, b2, sa(any), kSinLen), 0) << "the accepted socket gave it back";
}

}  // namespace
}  // namespace flowgate::test
