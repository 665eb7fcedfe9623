// The TCP layer's gauges and connection counters: the per-state connection gauge follows a
// connection through every state of the handshake and of each way to close, TIME-WAIT
// records included, and returns to zero; every opened connection ends exactly once as
// closed, reset, timed out or failed; the SRTT histogram gets one observation per RTT
// sample. Two stacks back to back on the manual clock, frames delivered one at a time so
// that every intermediate state can be looked at.
#include <gtest/gtest.h>

#include <cstring>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::test {
namespace {

using namespace std::chrono_literals;
using tcp::TcpState;

constexpr uint16_t kPort = 80;

// a: the server (198.18.0.1), b: the client (198.18.0.2); static neighbours, so that the
// only frames on the links are TCP's.
StackConfig server_config() {
  StackConfig c = lab_config();
  c.secret_key = std::array<uint8_t, 16>{1, 2, 3};
  c.arp.static_entries.push_back({kPeerIp, kPeerMac});
  return c;
}

StackConfig client_config() {
  StackConfig c = lab_config();
  c.mac = kPeerMac;
  c.address = {kPeerIp, 24};
  c.secret_key = std::array<uint8_t, 16>{4, 5, 6};
  c.arp.static_entries.push_back({kOurIp, kOurMac});
  return c;
}

sockaddr_in endpoint(wire::Ipv4Address ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip.value);
  a.sin_port = htons(port);
  return a;
}

constexpr TcpState kConnectionStates[] = {
    TcpState::syn_sent,   TcpState::syn_received, TcpState::established,
    TcpState::fin_wait_1, TcpState::fin_wait_2,   TcpState::close_wait,
    TcpState::closing,    TcpState::last_ack,     TcpState::time_wait};

// The gauge of one stack as "state=count" for the non-zero states, so a failure shows all.
std::string gauge(const Stack& s) {
  std::string out;
  for (TcpState st : kConnectionStates) {
    if (const uint64_t n = s.counters().connections_in(st); n != 0) {
      out += std::string(out.empty() ? "" : " ") + std::string(tcp::metric_label(st)) + "=" +
             std::to_string(n);
    }
  }
  return out.empty() ? "none" : out;
}

uint64_t endings(const Stack& s) {
  const StackCounters& c = s.counters();
  return c[Event::tcp_connections_closed] + c[Event::tcp_connections_reset] +
         c[Event::tcp_connections_timed_out] + c[Event::tcp_connections_failed];
}

uint64_t live_connections(const Stack& s) {
  uint64_t n = 0;
  for (TcpState st : kConnectionStates) {
    if (st != TcpState::time_wait) n += s.counters().connections_in(st);
  }
  return n;
}

// Opened = ended + still open (a connection in TIME-WAIT already counted as closed).
void expect_accounted(const Stack& s,
                      std::source_location where = std::source_location::current()) {
  SCOPED_TRACE(testing::Message() << "called from line " << where.line());
  const StackCounters& c = s.counters();
  EXPECT_EQ(c[Event::tcp_active_opens] + c[Event::tcp_passive_opens],
            endings(s) + live_connections(s));
}

struct Lab {
  BackToBack net{server_config(), client_config()};
  int listener = -1;
  int server = -1;
  int client = -1;

  Stack& s() { return net.a; }
  Stack& c() { return net.b; }

  Lab() {
    net.run();  // the gratuitous ARPs
    listener = fg_socket(s(), AF_INET, SOCK_STREAM, 0);
    auto local = endpoint(wire::Ipv4Address::any(), kPort);
    EXPECT_EQ(fg_bind(s(), listener, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
    EXPECT_EQ(fg_listen(s(), listener, 16), 0);
  }

  void connect(uint16_t port = kPort) {
    client = fg_socket(c(), AF_INET, SOCK_STREAM, 0);
    auto remote = endpoint(kOurIp, port);
    ASSERT_EQ(fg_connect(c(), client, reinterpret_cast<sockaddr*>(&remote), sizeof remote), -1);
    ASSERT_EQ(errno, EINPROGRESS);
  }
  void accept() {
    server = fg_accept(s(), listener, nullptr, nullptr);
    ASSERT_GE(server, 0) << strerror(errno);
  }
  // One frame from the client to the server, or back; fails if there is none.
  void to_server(std::source_location where = std::source_location::current()) {
    deliver(net.b_link, s(), where);
  }
  void to_client(std::source_location where = std::source_location::current()) {
    deliver(net.a_link, c(), where);
  }
  void established() {
    connect();
    to_server();  // SYN
    to_client();  // SYN-ACK
    to_server();  // ACK
    accept();
  }

 private:
  static void deliver(CapturingLink& from, Stack& to, std::source_location where) {
    if (from.frames.empty()) {
      ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line())) << "no frame to deliver";
      return;
    }
    Frame f = std::move(from.frames.front());
    from.frames.pop_front();
    to.receive(f);
  }
};

TEST(TcpMetrics, StateGaugeFollowsTheHandshakeAndTheOrderlyCloseBackToZero) {
  Lab lab;
  EXPECT_EQ(gauge(lab.s()), "none");  // a listener is not a connection

  lab.connect();
  EXPECT_EQ(gauge(lab.c()), "syn_sent=1");
  lab.to_server();  // SYN
  EXPECT_EQ(gauge(lab.s()), "syn_received=1");
  lab.to_client();  // SYN-ACK
  EXPECT_EQ(gauge(lab.c()), "established=1");
  lab.to_server();  // ACK: into the accept queue, already ESTABLISHED
  EXPECT_EQ(gauge(lab.s()), "established=1");
  lab.accept();
  EXPECT_EQ(gauge(lab.s()), "established=1");

  // The client closes first (active close), the server second.
  ASSERT_EQ(fg_shutdown(lab.c(), lab.client, SHUT_WR), 0);
  EXPECT_EQ(gauge(lab.c()), "fin_wait_1=1");
  lab.to_server();  // FIN
  EXPECT_EQ(gauge(lab.s()), "close_wait=1");
  lab.to_client();  // its ACK
  EXPECT_EQ(gauge(lab.c()), "fin_wait_2=1");
  ASSERT_EQ(fg_close(lab.s(), lab.server), 0);
  EXPECT_EQ(gauge(lab.s()), "last_ack=1");
  lab.to_client();  // the server's FIN
  EXPECT_EQ(gauge(lab.c()), "time_wait=1");
  lab.to_server();  // its ACK
  EXPECT_EQ(gauge(lab.s()), "none");
  EXPECT_EQ(lab.net.a_link.frames.size() + lab.net.b_link.frames.size(), 0u);

  // The application closing its socket leaves the TIME-WAIT record, still counted once.
  ASSERT_EQ(fg_close(lab.c(), lab.client), 0);
  EXPECT_EQ(gauge(lab.c()), "time_wait=1");
  EXPECT_EQ(lab.c().tcp().time_wait_records(), 1u);
  lab.net.advance(2 * lab.c().tcp().config().msl + 1s);
  EXPECT_EQ(lab.c().tcp().time_wait_records(), 0u);
  EXPECT_EQ(gauge(lab.c()), "none");

  EXPECT_EQ(lab.c().counters()[Event::tcp_connections_closed], 1u);
  EXPECT_EQ(lab.s().counters()[Event::tcp_connections_closed], 1u);
  EXPECT_EQ(endings(lab.c()), 1u);
  EXPECT_EQ(endings(lab.s()), 1u);
  expect_accounted(lab.c());
  expect_accounted(lab.s());
}

TEST(TcpMetrics, SimultaneousCloseGoesThroughClosingOnBothSides) {
  Lab lab;
  lab.established();
  ASSERT_EQ(fg_shutdown(lab.s(), lab.server, SHUT_WR), 0);
  ASSERT_EQ(fg_shutdown(lab.c(), lab.client, SHUT_WR), 0);
  EXPECT_EQ(gauge(lab.s()), "fin_wait_1=1");
  EXPECT_EQ(gauge(lab.c()), "fin_wait_1=1");
  lab.to_server();  // the client's FIN crosses the server's
  EXPECT_EQ(gauge(lab.s()), "closing=1");
  lab.to_client();  // the server's FIN
  EXPECT_EQ(gauge(lab.c()), "closing=1");
  lab.to_client();  // the server's ACK of the client's FIN
  EXPECT_EQ(gauge(lab.c()), "time_wait=1");
  lab.to_server();  // the client's ACK
  EXPECT_EQ(gauge(lab.s()), "time_wait=1");
  lab.net.run();
  ASSERT_EQ(fg_close(lab.s(), lab.server), 0);
  ASSERT_EQ(fg_close(lab.c(), lab.client), 0);
  lab.net.advance(2 * lab.s().tcp().config().msl + 1s);
  EXPECT_EQ(gauge(lab.s()), "none");
  EXPECT_EQ(gauge(lab.c()), "none");
  EXPECT_EQ(lab.s().counters()[Event::tcp_connections_closed], 1u);
  EXPECT_EQ(lab.c().counters()[Event::tcp_connections_closed], 1u);
  expect_accounted(lab.s());
  expect_accounted(lab.c());
}

TEST(TcpMetrics, AnAbortCountsAResetOnBothSides) {
  Lab lab;
  lab.established();
  const linger abort{1, 0};
  ASSERT_EQ(fg_setsockopt(lab.c(), lab.client, SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
  ASSERT_EQ(fg_close(lab.c(), lab.client), 0);  // RST
  EXPECT_EQ(gauge(lab.c()), "none");
  lab.to_server();
  EXPECT_EQ(gauge(lab.s()), "none");  // the accepted socket is still open, its TCB closed
  EXPECT_EQ(lab.c().counters()[Event::tcp_connections_reset], 1u);
  EXPECT_EQ(lab.s().counters()[Event::tcp_connections_reset], 1u);
  EXPECT_EQ(lab.s().counters()[Event::tcp_connections_closed], 0u);
  expect_accounted(lab.s());
  expect_accounted(lab.c());
}

TEST(TcpMetrics, HandshakesThatNeverCompleteCountAsFailed) {
  Lab lab;
  // Refused: nothing listens on 81.
  lab.connect(81);
  EXPECT_EQ(gauge(lab.c()), "syn_sent=1");
  lab.to_server();  // SYN
  lab.to_client();  // RST
  EXPECT_EQ(gauge(lab.c()), "none");
  EXPECT_EQ(lab.c().counters()[Event::tcp_connections_failed], 1u);
  EXPECT_EQ(lab.c().counters()[Event::tcp_connect_failed], 1u);
  ASSERT_EQ(fg_close(lab.c(), lab.client), 0);

  // A half-open connection whose SYN-ACKs all go unanswered.
  lab.connect();
  lab.to_server();  // SYN
  EXPECT_EQ(gauge(lab.s()), "syn_received=1");
  for (int i = 0; i < 200 && lab.s().counters().connections_in(TcpState::syn_received) > 0; ++i) {
    lab.net.a_link.frames.clear();  // SYN-ACKs lost
    lab.net.b_link.frames.clear();  // and the client's retransmitted SYNs
    lab.net.clock.advance(1s);
    lab.s().poll();
    lab.c().poll();
  }
  EXPECT_EQ(gauge(lab.s()), "none");
  EXPECT_EQ(lab.s().counters()[Event::tcp_connections_failed], 1u);
  expect_accounted(lab.s());
  expect_accounted(lab.c());
}

TEST(TcpMetrics, GivingUpOnAnEstablishedConnectionCountsATimeout) {
  Lab lab;
  lab.established();
  const char data[] = "lost forever";
  ASSERT_EQ(fg_send(lab.c(), lab.client, data, sizeof data, 0), static_cast<ssize_t>(sizeof data));
  for (int i = 0; i < 2000 && lab.c().counters().connections_in(TcpState::established) > 0; ++i) {
    lab.net.b_link.frames.clear();  // every transmission of the client is lost
    lab.net.a_link.frames.clear();
    lab.net.clock.advance(1s);
    lab.c().poll();
    lab.s().poll();
  }
  EXPECT_EQ(gauge(lab.c()), "none");
  EXPECT_EQ(lab.c().counters()[Event::tcp_connections_timed_out], 1u);
  expect_accounted(lab.c());
}

TEST(TcpMetrics, SrttHistogramObservesTheSrttOfEachRttSample) {
  Lab lab;
  lab.established();
  const auto histogram = [&] { return LatencyHistogramSnapshot::of(lab.c().counters().srtt); };
  const LatencyHistogramSnapshot before = histogram();
  const char data[] = "timed";
  ASSERT_EQ(fg_send(lab.c(), lab.client, data, sizeof data, 0), static_cast<ssize_t>(sizeof data));
  lab.net.clock.advance(3ms);  // one way
  lab.to_server();
  lab.net.advance(100ms);  // the server's delayed ACK, delivered at once: one RTT sample
  tcp::ConnectionInfo info;
  socklen_t len = sizeof info;
  ASSERT_EQ(fg_getsockopt(lab.c(), lab.client, IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  ASSERT_TRUE(info.srtt.has_value());
  const LatencyHistogramSnapshot after = histogram();
  EXPECT_EQ(after.count, before.count + 1);
  EXPECT_EQ(after.sum_ns - before.sum_ns, static_cast<uint64_t>(info.srtt->count()));
  const size_t bucket = LatencyHistogram::bucket_of(*info.srtt);
  const auto in_bucket = [&](const LatencyHistogramSnapshot& h) {
    return h.cumulative[bucket] - (bucket == 0 ? 0 : h.cumulative[bucket - 1]);
  };
  EXPECT_EQ(in_bucket(after), in_bucket(before) + 1);
  EXPECT_GT(*info.srtt, 0ns);
}

TEST(TcpMetrics, GaugesStartAtZeroInANewStackAndLeaveWithTheOldOne) {
  ManualClock clock;
  CapturingLink link;
  StackCounters counters;  // as a worker's block in shared memory outlives the worker
  counters.tcp_connection_entered(TcpState::established);  // what a dead worker left
  counters.set(StackGauge::arp_entries, 7);
  counters.count(Event::tcp_active_opens, 5);
  {
    Stack stack(client_config(), clock, link, &counters);
    EXPECT_EQ(counters.connections_in(TcpState::established), 0u);
    EXPECT_EQ(counters[StackGauge::arp_entries], 0u);
    EXPECT_EQ(counters[Event::tcp_active_opens], 5u);  // counters continue
    stack.start();
    const int fd = fg_socket(stack, AF_INET, SOCK_STREAM, 0);
    auto remote = endpoint(kOurIp, kPort);
    ASSERT_EQ(fg_connect(stack, fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote), -1);
    EXPECT_EQ(counters.connections_in(TcpState::syn_sent), 1u);
  }
  EXPECT_EQ(counters.connections_in(TcpState::syn_sent), 0u);
}

}  // namespace
}  // namespace flowgate::test
