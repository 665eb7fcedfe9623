// The management endpoint over a real loopback socket: /metrics is the segment's exposition
// at the moment of the scrape, /healthz and /readyz give 200 or 503 with their one-line
// reason (HEAD without a body, other methods 405), other paths 404, and a port another
// process holds is one clear error.
#include "monitoring/management_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "exposition.hpp"
#include "worker/worker.hpp"

namespace flowgate::exporter {
namespace {

using testing::TestSegment;

struct Response {
  int status = 0;
  std::string head;
  std::string body;
};

// One request on a new connection (the server closes it after the response).
Response request(uint16_t port, const std::string& method, const std::string& path) {
  Response r;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ADD_FAILURE() << "connect: " << std::strerror(errno);
    ::close(fd);
    return r;
  }
  const std::string text = method + " " + path + " HTTP/1.1\r\nHost: test\r\n\r\n";
  EXPECT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
  std::string reply;
  char buffer[4096];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) reply.append(buffer, n);
  ::close(fd);
  const size_t end = reply.find("\r\n\r\n");
  if (end == std::string::npos || reply.rfind("HTTP/1.1 ", 0) != 0) {
    ADD_FAILURE() << "not an HTTP response: " << reply;
    return r;
  }
  r.status = std::stoi(reply.substr(9, 3));
  r.head = reply.substr(0, end);
  r.body = reply.substr(end + 4);
  return r;
}

void make_ready(shm::Segment& s) {
  s.io().state.store(static_cast<uint32_t>(shm::IoState::running));
  s.io().pid.store(::getpid());
  for (uint32_t k = 0; k < s.worker_count(); ++k) {
    s.worker(k).control.state.store(static_cast<uint32_t>(shm::WorkerState::running));
  }
}

TEST(ManagementServer, ServesMetricsHealthAndReadiness) {
  TestSegment t("server");
  make_ready(*t.segment);
  ManagementServer server(*t.segment, "127.0.0.1", 0);
  ASSERT_NE(server.port(), 0);

  worker_metrics(*t.segment, 1).stack.count(Event::tcp_passive_opens, 41);
  Response metrics = request(server.port(), "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.head.find("text/plain"), std::string::npos) << metrics.head;
  const auto e = testing::parse_exposition(metrics.body);
  EXPECT_EQ(e.value("flowgate_tcp_connections_opened_total", R"(worker="1",side="passive")"), 41);
  // Read at the scrape, not at start: a later value shows in the next one.
  worker_metrics(*t.segment, 1).stack.count(Event::tcp_passive_opens, 1);
  metrics = request(server.port(), "GET", "/metrics");
  EXPECT_EQ(testing::parse_exposition(metrics.body)
                .value("flowgate_tcp_connections_opened_total", R"(worker="1",side="passive")"),
            42);

  Response health = request(server.port(), "GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "alive: the supervisor and the I/O process (pid " +
                             std::to_string(::getpid()) + ") are running\n");
  Response ready = request(server.port(), "GET", "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ready: 2 of 2 workers running\n");

  t.segment->worker(1).control.state.store(static_cast<uint32_t>(shm::WorkerState::dead));
  t.segment->worker(1).control.restarts.store(1);
  ready = request(server.port(), "GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "not ready: 1 of 2 workers running; worker 1 dead (restarts 1)\n");
  EXPECT_EQ(request(server.port(), "GET", "/healthz").status, 200);  // still alive

  t.segment->worker(1).control.state.store(static_cast<uint32_t>(shm::WorkerState::running));
  EXPECT_EQ(request(server.port(), "GET", "/readyz").status, 200);
  server.begin_draining();
  ready = request(server.port(), "GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "not ready: draining, the gateway is stopping\n");

  t.segment->io().state.store(static_cast<uint32_t>(shm::IoState::stopping));
  health = request(server.port(), "GET", "/healthz");
  EXPECT_EQ(health.status, 503);
  EXPECT_EQ(health.body, "not alive: the I/O process is stopping\n");
}

TEST(ManagementServer, HeadHasNoBodyOtherMethodsAndPathsAreRefused) {
  TestSegment t("methods");
  make_ready(*t.segment);
  ManagementServer server(*t.segment, "127.0.0.1", 0);
  const Response head = request(server.port(), "HEAD", "/readyz");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty()) << head.body;
  EXPECT_NE(head.head.find("Content-Length: 30"), std::string::npos) << head.head;
  const Response post = request(server.port(), "POST", "/healthz");
  EXPECT_EQ(post.status, 405);
  EXPECT_NE(post.head.find("Allow: GET, HEAD"), std::string::npos) << post.head;
  EXPECT_EQ(request(server.port(), "GET", "/nothing-here").status, 404);
  EXPECT_EQ(request(server.port(), "GET", "/healthz?verbose=1").status, 200);
}

TEST(ManagementServer, APortInUseIsOneClearError) {
  TestSegment t("busy");
  const int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(holder, 1), 0);
  socklen_t length = sizeof address;
  ::getsockname(holder, reinterpret_cast<sockaddr*>(&address), &length);
  const uint16_t port = ntohs(address.sin_port);
  try {
    ManagementServer server(*t.segment, "127.0.0.1", port);
    ADD_FAILURE() << "listened on a port another socket holds";
  } catch (const ManagementError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot listen on 127.0.0.1:" + std::to_string(port) +
                  ": Address already in use (another process listens there: stop it, or give "
                  "management.address another port, or set `management: off`)");
  }
  ::close(holder);
  // The failed attempt left nothing behind: the next server starts.
  ManagementServer server(*t.segment, "127.0.0.1", port);
  EXPECT_EQ(server.port(), port);
}

TEST(ManagementServer, AnAddressThisHostDoesNotHaveIsOneClearError) {
  TestSegment t("noaddr");
  try {
    ManagementServer server(*t.segment, "198.18.255.254", 9180);
    ADD_FAILURE() << "listened on an address no interface has";
  } catch (const ManagementError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on 198.18.255.254:9180: Cannot assign "
                                         "requested address (no interface of this host has "
                                         "that address)"),
              std::string::npos)
        << e.what();
  }
}

TEST(ManagementServer, OnePerProcess) {
  TestSegment t("one");
  ManagementServer first(*t.segment, "127.0.0.1", 0);
  EXPECT_THROW(ManagementServer(*t.segment, "127.0.0.1", 0), std::logic_error);
}

}  // namespace
}  // namespace flowgate::exporter
