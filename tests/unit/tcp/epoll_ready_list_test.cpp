// fg_epoll_wait's ready list (stack/epoll_set.hpp): a wait looks only at descriptors that may
// have changed, yet reports exactly what a scan of every registered descriptor would (POSIX
// level-triggered semantics, EPOLLET and EPOLLONESHOT as Linux). Two stacks back to back on a
// ManualClock; the list's length is read through Stack::epoll_sets().
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/epoll.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::test {
namespace {

using namespace std::chrono_literals;

constexpr uint16_t kPort = 8081;

StackConfig server_config() {
  StackConfig c = lab_config();
  c.secret_key = std::array<uint8_t, 16>{0x71, 0x72};
  return c;
}

StackConfig client_config() {
  StackConfig c = lab_config();
  c.mac = kPeerMac;
  c.address = {kPeerIp, 24};
  c.first_ip_id = 21000;
  c.secret_key = std::array<uint8_t, 16>{0x81, 0x82};
  return c;
}

sockaddr_in inet(wire::Ipv4Address ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip.value);
  a.sin_port = htons(port);
  return a;
}

class EpollReadyList : public ::testing::Test {
 protected:
  void SetUp() override {
    net_.run();
    lfd_ = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
    auto local = inet(wire::Ipv4Address::any(), kPort);
    ASSERT_EQ(fg_bind(srv(), lfd_, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
    ASSERT_EQ(fg_listen(srv(), lfd_, 128), 0);
  }

  Stack& srv() { return net_.a; }
  Stack& cli() { return net_.b; }

  // `n` connections; the server's descriptors in `server_fds_`, the client's in `client_fds_`.
  void connect_pairs(int n) {
    for (int i = 0; i < n; ++i) {
      const int fd = fg_socket(cli(), AF_INET, SOCK_STREAM, 0);
      const int one = 1;
      ASSERT_EQ(fg_setsockopt(cli(), fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
      auto remote = inet(kOurIp, kPort);
      ASSERT_EQ(fg_connect(cli(), fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote), -1);
      ASSERT_EQ(errno, EINPROGRESS);
      client_fds_.push_back(fd);
    }
    net_.run();
    for (int i = 0; i < n; ++i) {
      const int fd = fg_accept(srv(), lfd_, nullptr, nullptr);
      ASSERT_GE(fd, 0) << std::strerror(errno);
      server_fds_.push_back(fd);
    }
    net_.advance(1s);  // delayed ACKs done: every connection idle
  }

  void client_sends(size_t i, const std::string& text) {
    ASSERT_EQ(fg_send(cli(), client_fds_[i], text.data(), text.size(), 0),
              static_cast<ssize_t>(text.size()));
    net_.run();
  }

  int add(int ep, int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    return fg_epoll_ctl(srv(), ep, EPOLL_CTL_ADD, fd, &ev);
  }

  std::vector<epoll_event> wait(int ep, int maxevents = 64) {
    std::vector<epoll_event> out(static_cast<size_t>(maxevents));
    const int n = fg_epoll_wait(srv(), ep, out.data(), maxevents, 0);
    EXPECT_GE(n, 0) << std::strerror(errno);
    out.resize(static_cast<size_t>(std::max(n, 0)));
    return out;
  }

  std::set<int> fds_of(const std::vector<epoll_event>& events) {
    std::set<int> s;
    for (const auto& e : events) s.insert(e.data.fd);
    return s;
  }

  // Descriptors on the set's ready list, stale entries included.
  size_t queued(int ep) { return srv().epoll_sets().at(srv().slot(ep)->id).ready.size(); }

  std::string drain(size_t i) {
    std::string out;
    char buf[256];
    for (;;) {
      const ssize_t n = fg_recv(srv(), server_fds_[i], buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  BackToBack net_{server_config(), client_config()};
  int lfd_ = -1;
  std::vector<int> client_fds_;
  std::vector<int> server_fds_;
};

TEST_F(EpollReadyList, IdleConnectionsLeaveTheListAfterTheirFirstLook) {
  connect_pairs(50);
  const int ep = fg_epoll_create(srv());
  for (int fd : server_fds_) ASSERT_EQ(add(ep, fd, EPOLLIN), 0);
  EXPECT_EQ(queued(ep), 50u) << "ADD queues each for a first look";
  EXPECT_TRUE(wait(ep).empty());
  EXPECT_EQ(queued(ep), 0u) << "none is readable: a wait now looks at nothing";
  client_sends(17, "hello");
  EXPECT_EQ(queued(ep), 1u) << "only the connection that received data";
  const auto events = wait(ep);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data.fd, server_fds_[17]);
  EXPECT_EQ(events[0].events, uint32_t{EPOLLIN});
}

TEST_F(EpollReadyList, LevelTriggeredStaysOnTheListWhileReadyAndLeavesWhenDrained) {
  connect_pairs(3);
  const int ep = fg_epoll_create(srv());
  for (int fd : server_fds_) ASSERT_EQ(add(ep, fd, EPOLLIN), 0);
  EXPECT_TRUE(wait(ep).empty());
  client_sends(1, "abc");
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(fds_of(wait(ep)), std::set<int>{server_fds_[1]}) << "round " << round;
    EXPECT_EQ(queued(ep), 1u) << "put back at the tail while readable";
  }
  EXPECT_EQ(drain(1), "abc");
  EXPECT_TRUE(wait(ep).empty()) << "drained: not readable any more";
  EXPECT_EQ(queued(ep), 0u);
  client_sends(1, "more");
  EXPECT_EQ(fds_of(wait(ep)), std::set<int>{server_fds_[1]}) << "new data queues it again";
}

TEST_F(EpollReadyList, SmallMaxeventsRotatesThroughReadyConnectionsInArrivalOrder) {
  connect_pairs(4);
  const int ep = fg_epoll_create(srv());
  for (int fd : server_fds_) ASSERT_EQ(add(ep, fd, EPOLLIN), 0);
  EXPECT_TRUE(wait(ep).empty());
  client_sends(2, "x");
  client_sends(0, "y");
  client_sends(3, "z");
  // FIFO: in the order the data arrived, each reported one goes to the back.
  const std::vector<int> expected = {server_fds_[2], server_fds_[0], server_fds_[3],
                                     server_fds_[2], server_fds_[0], server_fds_[3]};
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto events = wait(ep, 1);
    ASSERT_EQ(events.size(), 1u) << "wait " << i;
    EXPECT_EQ(events[0].data.fd, expected[i]) << "wait " << i;
  }
}

TEST_F(EpollReadyList, EdgeTriggeredLeavesTheListAfterItsReportEvenIfStillReadable) {
  connect_pairs(2);
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add(ep, server_fds_[0], EPOLLIN | EPOLLET), 0);
  EXPECT_TRUE(wait(ep).empty());
  client_sends(0, "one");
  EXPECT_EQ(fds_of(wait(ep)), std::set<int>{server_fds_[0]});
  EXPECT_EQ(queued(ep), 0u) << "reported once: off the list though not drained";
  EXPECT_TRUE(wait(ep).empty());
  client_sends(0, "two");
  EXPECT_EQ(fds_of(wait(ep)), std::set<int>{server_fds_[0]}) << "each arrival is a new edge";
  EXPECT_EQ(drain(0), "onetwo");
}

TEST_F(EpollReadyList, OneShotIsNotQueuedWhileDisarmedAndModRearmsIt) {
  connect_pairs(1);
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add(ep, server_fds_[0], EPOLLIN | EPOLLONESHOT), 0);
  client_sends(0, "a");
  EXPECT_EQ(wait(ep).size(), 1u);
  client_sends(0, "b");
  EXPECT_EQ(queued(ep), 0u) << "disarmed: a change does not queue it";
  EXPECT_TRUE(wait(ep).empty());
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.fd = server_fds_[0];
  ASSERT_EQ(fg_epoll_ctl(srv(), ep, EPOLL_CTL_MOD, server_fds_[0], &ev), 0);
  EXPECT_EQ(fds_of(wait(ep)), std::set<int>{server_fds_[0]}) << "MOD looks again";
  EXPECT_TRUE(wait(ep).empty());
}

TEST_F(EpollReadyList, DeleteAndAddAgainReportsOncePerWait) {
  connect_pairs(1);
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add(ep, server_fds_[0], EPOLLIN), 0);
  client_sends(0, "a");
  // Still queued from ADD and the arrival when deleted: that entry must not count again.
  ASSERT_EQ(fg_epoll_ctl(srv(), ep, EPOLL_CTL_DEL, server_fds_[0], nullptr), 0);
  ASSERT_EQ(add(ep, server_fds_[0], EPOLLIN), 0);
  EXPECT_EQ(wait(ep).size(), 1u);
  EXPECT_EQ(wait(ep).size(), 1u) << "level-triggered: again, once";
}

TEST_F(EpollReadyList, ClosedDescriptorsNumberReusedIsNotReportedForTheOldRegistration) {
  connect_pairs(2);
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add(ep, server_fds_[0], EPOLLIN), 0);
  client_sends(0, "a");
  const int old = server_fds_[0];
  ASSERT_EQ(fg_close(srv(), old), 0);
  const int again = fg_socket(srv(), AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(again, old) << "the lowest free number";
  EXPECT_TRUE(wait(ep).empty()) << "the new socket is not in the set";
}

TEST_F(EpollReadyList, ATimerThatEndsAConnectionQueuesIt) {
  // Keepalive on an idle connection whose peer went silent: only timers run, no segment
  // arrives, and the error they end it with must still reach the wait.
  connect_pairs(1);
  const int one = 1;
  const int secs = 1;
  ASSERT_EQ(fg_setsockopt(srv(), server_fds_[0], SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one), 0);
  ASSERT_EQ(fg_setsockopt(srv(), server_fds_[0], IPPROTO_TCP, TCP_KEEPIDLE, &secs, sizeof secs), 0);
  ASSERT_EQ(fg_setsockopt(srv(), server_fds_[0], IPPROTO_TCP, TCP_KEEPINTVL, &secs, sizeof secs),
            0);
  ASSERT_EQ(fg_setsockopt(srv(), server_fds_[0], IPPROTO_TCP, TCP_KEEPCNT, &one, sizeof one), 0);
  const int ep = fg_epoll_create(srv());
  ASSERT_EQ(add(ep, server_fds_[0], EPOLLIN), 0);
  EXPECT_TRUE(wait(ep).empty());
  net_.b_link.refuse = true;  // the client stack sends nothing any more: probes go unanswered
  net_.a_link.refuse = true;
  net_.advance(10s);
  const auto events = wait(ep);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].events & (EPOLLERR | EPOLLHUP), uint32_t{EPOLLERR | EPOLLHUP});
}

}  // namespace
}  // namespace flowgate::test
