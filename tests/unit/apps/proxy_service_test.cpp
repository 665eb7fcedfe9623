// The proxy over two stacks back to back on a manual clock: the gateway's stack runs the
// ProxyService (198.18.0.1), the peer's stack (198.18.0.2) holds both the clients and the
// backends (listeners on ports 8081-8084). The "wire" between them can lose chosen frames.
#include "apps/proxy/proxy_service.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::proxy {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::Frame;
using test::kOurIp;
using test::kPeerIp;

GatewayConfig config_from(const std::string& yaml) {
  const ConfigResult r = parse_config("interface: eth1\naddress: 198.18.0.1/24\n" + yaml, "t.yaml");
  if (const auto* errors = std::get_if<std::vector<ConfigError>>(&r)) {
    for (const auto& e : *errors) ADD_FAILURE() << e.to_string();
    return {};
  }
  return std::get<GatewayConfig>(r);
}

// A pool named `web` of backends 198.18.0.2:<port> and a proxy listener on port 80.
std::string pool_yaml(const std::string& balance, const std::vector<std::string>& backends,
                      const std::string& pool_extra = "", const std::string& proxy_extra = "") {
  std::string y = "pools:\n  - name: web\n    balance: " + balance + "\n    backends:\n";
  for (const std::string& b : backends) y += "      - {" + b + "}\n";
  y += pool_extra;
  y += "listeners:\n  - {name: web, port: 80, app: proxy, proxy: {pool: web" + proxy_extra + "}}\n";
  return y;
}

std::string backend(uint16_t port, const std::string& extra = "") {
  return "address: 198.18.0.2:" + std::to_string(port) + (extra.empty() ? "" : ", " + extra);
}

StackConfig gateway_stack() {
  StackConfig c = test::lab_config();
  c.secret_key = std::array<uint8_t, 16>{1, 2, 3};
  return c;
}

StackConfig peer_stack() {
  StackConfig c = test::lab_config();
  c.mac = test::kPeerMac;
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

struct ProxyNet {
  explicit ProxyNet(const std::string& yaml)
      : config(config_from(yaml)),
        gw(gateway_stack(), clock, gw_link),
        peer(peer_stack(), clock, peer_link) {
    gw.start();
    peer.start();
    proxy = std::make_unique<ProxyService>(gw, config, 1, metrics);
    run();
  }

  // Delivers frames both ways at the current time, running the proxy after each round,
  // until nothing moves. `lose` drops frames on the wire.
  void run() {
    for (int guard = 0; guard < 1'000'000; ++guard) {
      bool moved = false;
      while (!gw_link.frames.empty()) {
        Frame f = std::move(gw_link.frames.front());
        gw_link.frames.pop_front();
        if (!lose || !lose(f)) peer.receive(f);
        moved = true;
      }
      while (!peer_link.frames.empty()) {
        Frame f = std::move(peer_link.frames.front());
        peer_link.frames.pop_front();
        if (!lose || !lose(f)) gw.receive(f);
        moved = true;
      }
      proxy->run();
      if (!moved && gw_link.frames.empty() && peer_link.frames.empty()) return;
    }
    ADD_FAILURE() << "frames keep moving";
  }

  // Moves time forward by `d`, stopping at every deadline of either stack or the proxy.
  void advance(Duration d) {
    const Instant target = clock.now() + d;
    for (int guard = 0; guard < 1'000'000; ++guard) {
      std::optional<Instant> next = gw.next_deadline();
      for (auto other : {peer.next_deadline(), proxy->next_deadline()}) {
        if (other && (!next || *other < *next)) next = other;
      }
      if (!next || *next > target) break;
      clock.set(std::max(*next, clock.now()));
      gw.poll();
      peer.poll();
      proxy->run();
      run();
    }
    clock.set(target);
    gw.poll();
    peer.poll();
    proxy->run();
    run();
  }

  int listen_backend(uint16_t port) {
    const int fd = fg_socket(peer, AF_INET, SOCK_STREAM, 0);
    auto local = endpoint(kPeerIp, port);
    EXPECT_EQ(fg_bind(peer, fd, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
    EXPECT_EQ(fg_listen(peer, fd, 64), 0);
    return fd;
  }

  int connect_client(uint16_t port = 80) {
    const int fd = fg_socket(peer, AF_INET, SOCK_STREAM, 0);
    auto remote = endpoint(kOurIp, port);
    EXPECT_EQ(fg_connect(peer, fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote), -1);
    run();
    return fd;
  }

  // Everything `fd` has buffered now.
  std::string read_all(int fd, bool* eof = nullptr, int* error = nullptr) {
    std::string out;
    char buf[65536];
    for (;;) {
      const ssize_t n = fg_recv(peer, fd, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 && eof) *eof = true;
      if (n < 0 && errno != EAGAIN && error) *error = errno;
      break;
    }
    return out;
  }

  void send_all(int fd, const std::string& data) {
    ASSERT_EQ(fg_send(peer, fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
    run();
  }

  GatewayConfig config;
  ManualClock clock;
  test::CapturingLink gw_link;
  test::CapturingLink peer_link;
  Stack gw;
  Stack peer;
  // The worker's app metrics table, on the heap here.
  std::unique_ptr<metrics::AppMetricsArea> metrics_area =
      std::make_unique<metrics::AppMetricsArea>();
  metrics::AppMetricsWriter metrics{*metrics_area};
  std::unique_ptr<ProxyService> proxy;
  std::function<bool(const Frame&)> lose;
};

// The port a frame goes to, if it is TCP.
std::optional<uint16_t> tcp_destination(const Frame& f) {
  const test::ParsedFrame p = test::parse_frame(f);
  if (!p.tcp) return std::nullopt;
  return p.tcp->dst_port;
}

// Accepts one connection on each listener that has one waiting; returns {listener index, fd}.
std::vector<std::pair<size_t, int>> accept_all(ProxyNet& net, const std::vector<int>& listeners) {
  std::vector<std::pair<size_t, int>> out;
  for (size_t i = 0; i < listeners.size(); ++i) {
    for (;;) {
      const int fd = fg_accept(net.peer, listeners[i], nullptr, nullptr);
      if (fd < 0) break;
      out.emplace_back(i, fd);
    }
  }
  return out;
}

std::string text(size_t n, char seed) {
  std::string s(n, ' ');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (seed + i * 7) % 26);
  return s;
}

TEST(ProxyService, RelaysBytesBothWays) {
  ProxyNet net(pool_yaml("round_robin", {backend(8081)}));
  const int listener = net.listen_backend(8081);
  const int client = net.connect_client();
  const int server = fg_accept(net.peer, listener, nullptr, nullptr);
  ASSERT_GE(server, 0) << "the proxy connected to the backend";
  EXPECT_EQ(net.proxy->listener_metrics("web").relayed.value(), 1u);

  // 1 MiB up and 768 KiB down, larger than every buffer on the way.
  const std::string up = text(1 << 20, 1), down = text(768 << 10, 2);
  std::string got_up, got_down;
  size_t sent_up = 0, sent_down = 0;
  for (int round = 0; round < 20000 && (got_up.size() < up.size() || got_down.size() < down.size());
       ++round) {
    if (sent_up < up.size()) {
      const ssize_t n = fg_send(net.peer, client, up.data() + sent_up, up.size() - sent_up, 0);
      if (n > 0) sent_up += static_cast<size_t>(n);
    }
    if (sent_down < down.size()) {
      const ssize_t n =
          fg_send(net.peer, server, down.data() + sent_down, down.size() - sent_down, 0);
      if (n > 0) sent_down += static_cast<size_t>(n);
    }
    net.run();
    got_up += net.read_all(server);
    got_down += net.read_all(client);
    net.advance(milliseconds(1));
  }
  EXPECT_TRUE(got_up == up) << got_up.size();
  EXPECT_TRUE(got_down == down) << got_down.size();
  EXPECT_EQ(net.proxy->listener_metrics("web").bytes_to_backends.value(), up.size());
  EXPECT_EQ(net.proxy->listener_metrics("web").bytes_to_clients.value(), down.size());
}

TEST(ProxyService, HalfCloseIsCarriedBothWays) {
  ProxyNet net(pool_yaml("round_robin", {backend(8081)}));
  const int listener = net.listen_backend(8081);
  const int client = net.connect_client();
  const int server = fg_accept(net.peer, listener, nullptr, nullptr);
  ASSERT_GE(server, 0);

  // The client sends its request and half-closes: the backend reads it, then EOF...
  net.send_all(client, "request");
  ASSERT_EQ(fg_shutdown(net.peer, client, SHUT_WR), 0);
  net.run();
  bool eof = false;
  EXPECT_EQ(net.read_all(server, &eof), "request");
  EXPECT_TRUE(eof) << "the client's FIN reached the backend";
  // ...and can still answer: the other direction stays open.
  net.send_all(server, "response, part 1; ");
  net.send_all(server, "part 2");
  net.advance(milliseconds(50));  // the backend's Nagle waits for the ACK of part 1
  eof = false;
  EXPECT_EQ(net.read_all(client, &eof), "response, part 1; part 2");
  EXPECT_FALSE(eof);
  EXPECT_EQ(net.proxy->sessions(), 1u);
  // The backend's FIN ends the connection.
  ASSERT_EQ(fg_shutdown(net.peer, server, SHUT_WR), 0);
  net.run();
  net.read_all(client, &eof);
  EXPECT_TRUE(eof);
  EXPECT_EQ(net.proxy->sessions(), 0u);
  EXPECT_EQ(net.proxy->listener_metrics("web").completed.value(), 1u);
  EXPECT_EQ(net.proxy->listener_metrics("web").resets.value(), 0u);

  // The other way round: the backend half-closes first, the client keeps sending.
  const int client2 = net.connect_client();
  const int server2 = fg_accept(net.peer, listener, nullptr, nullptr);
  ASSERT_GE(server2, 0);
  net.send_all(server2, "banner");
  ASSERT_EQ(fg_shutdown(net.peer, server2, SHUT_WR), 0);
  net.run();
  eof = false;
  EXPECT_EQ(net.read_all(client2, &eof), "banner");
  EXPECT_TRUE(eof);
  net.send_all(client2, "still talking");
  EXPECT_EQ(net.read_all(server2), "still talking");
  ASSERT_EQ(fg_shutdown(net.peer, client2, SHUT_WR), 0);
  net.run();
  eof = false;
  net.read_all(server2, &eof);
  EXPECT_TRUE(eof);
  EXPECT_EQ(net.proxy->sessions(), 0u);
  EXPECT_EQ(net.proxy->listener_metrics("web").completed.value(), 2u);
  for (int fd : {client, server, client2, server2}) fg_close(net.peer, fd);
  net.run();
}

TEST(ProxyService, ABackendThatDoesNotReadStopsTheClientAndMemoryStaysBounded) {
  ProxyNet net(pool_yaml("round_robin", {backend(8081)}));
  const int listener = net.listen_backend(8081);
  const int client = net.connect_client();
  const int server = fg_accept(net.peer, listener, nullptr, nullptr);
  ASSERT_GE(server, 0);
  // The client sends as long as its socket takes data; the backend reads nothing.
  const std::string stream = text(8 << 20, 3);
  size_t accepted = 0;
  size_t most_buffered = 0;
  int blocked_rounds = 0;
  for (int round = 0; round < 5000 && blocked_rounds < 200; ++round) {
    const ssize_t n = fg_send(net.peer, client, stream.data() + accepted, 64 << 10, 0);
    if (n > 0) {
      accepted += static_cast<size_t>(n);
      blocked_rounds = 0;
    } else {
      ++blocked_rounds;
    }
    net.run();
    net.advance(milliseconds(5));
    most_buffered = std::max(most_buffered, net.proxy->buffered_bytes());
  }
  EXPECT_GE(blocked_rounds, 200) << "the client's sends stopped being taken";
  // What is in flight fits the sockets' buffers (client send, gateway receive, gateway
  // send, backend receive: 4 x 256 KiB) and the proxy's one chunk, not the 300+ MiB the
  // client would have sent.
  EXPECT_LE(accepted, size_t{4 * 256 * 1024 + 16 * 1024});
  EXPECT_LE(most_buffered, size_t{16 * 1024});
  EXPECT_GE(net.proxy->listener_metrics("web").backpressure_pauses.value(), 1u);
  tcp::ConnectionInfo info{};
  socklen_t len = sizeof info;
  ASSERT_EQ(fg_getsockopt(net.peer, client, IPPROTO_TCP, TCP_INFO, &info, &len), 0);

  // The backend starts reading: every byte arrives, in order.
  std::string got;
  for (int round = 0; round < 5000 && got.size() < accepted; ++round) {
    got += net.read_all(server);
    net.run();
    net.advance(milliseconds(1));
  }
  ASSERT_EQ(got.size(), accepted);
  EXPECT_TRUE(got == stream.substr(0, accepted));
}

TEST(ProxyService, RoundRobinFollowsTheWeights) {
  ProxyNet net(
      pool_yaml("round_robin", {backend(8081), backend(8082), backend(8083, "weight: 2")}));
  const std::vector<int> listeners = {net.listen_backend(8081), net.listen_backend(8082),
                                      net.listen_backend(8083)};
  std::vector<int> per_backend(3, 0);
  for (int i = 0; i < 40; ++i) {
    net.connect_client();
    for (auto [index, fd] : accept_all(net, listeners)) ++per_backend[index];
  }
  EXPECT_EQ(per_backend, (std::vector<int>{10, 10, 20}));
}

TEST(ProxyService, LeastConnectionsPrefersTheLessBusy) {
  ProxyNet net(pool_yaml("least_connections", {backend(8081), backend(8082)}));
  const std::vector<int> listeners = {net.listen_backend(8081), net.listen_backend(8082)};
  // Four connections stay open on both backends (two each), then those on 8081 end.
  std::vector<std::pair<size_t, int>> open;
  std::vector<int> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(net.connect_client());
    for (auto a : accept_all(net, listeners)) open.push_back(a);
  }
  ASSERT_EQ(open.size(), 4u);
  for (auto [index, fd] : open) {
    if (index != 0) continue;
    fg_close(net.peer, fd);
  }
  net.run();
  // A backend's FIN alone only half-closes a proxied connection: its client closes too.
  for (int c : clients) {
    bool eof = false;
    net.read_all(c, &eof);
    if (eof) fg_close(net.peer, c);  // its backend closed: this client follows
  }
  net.run();
  net.advance(milliseconds(10));
  EXPECT_EQ(net.proxy->pool("web")->backends()[0]->active, 0u);
  // The next three all go to 8081: it has 0, 1 and 2 open against 8082's 2.
  std::vector<int> per_backend(2, 0);
  for (int i = 0; i < 3; ++i) {
    net.connect_client();
    for (auto [index, fd] : accept_all(net, listeners)) ++per_backend[index];
  }
  EXPECT_EQ(per_backend, (std::vector<int>{2, 1}));
}

TEST(ProxyService, MaglevKeepsAClientOnOneBackend) {
  ProxyNet net(pool_yaml("maglev", {backend(8081), backend(8082), backend(8083)}));
  const std::vector<int> listeners = {net.listen_backend(8081), net.listen_backend(8082),
                                      net.listen_backend(8083)};
  std::vector<int> per_backend(3, 0);
  for (int i = 0; i < 20; ++i) {
    net.connect_client();  // always from 198.18.0.2, each time from another port
    for (auto [index, fd] : accept_all(net, listeners)) ++per_backend[index];
  }
  std::sort(per_backend.begin(), per_backend.end());
  EXPECT_EQ(per_backend, (std::vector<int>{0, 0, 20}));
}

TEST(ProxyService, ARefusingBackendIsRetriedOnAnotherAndEjected) {
  ProxyNet net(pool_yaml("round_robin", {backend(8081), backend(8082)},
                         "    passive_ejection: {failures: 2, duration: 10s}\n"));
  const int listener = net.listen_backend(8082);  // nothing listens on 8081: RST
  int reached = 0;
  for (int i = 0; i < 6; ++i) {
    const int client = net.connect_client();
    const int server = fg_accept(net.peer, listener, nullptr, nullptr);
    if (server >= 0) ++reached;
    net.send_all(client, "x");
    EXPECT_EQ(net.read_all(server), "x");
  }
  EXPECT_EQ(reached, 6) << "every client reached 8082";
  // Round robin sent the 1st and 3rd to 8081 (refused, retried); two failures ejected it.
  EXPECT_EQ(net.proxy->listener_metrics("web").connect_failures.value(), 2u);
  EXPECT_EQ(net.proxy->listener_metrics("web").retries.value(), 2u);
  EXPECT_EQ(net.proxy->pool("web")->backends()[0]->metrics.ejections.value(), 1u);
  EXPECT_EQ(net.proxy->pool("web")->backends()[0]->metrics.connect_failures.value(), 2u);
  EXPECT_EQ(net.proxy->pool("web")->backends()[1]->metrics.connect_failures.value(), 0u);
  EXPECT_EQ(net.proxy->pool("web")->backends()[1]->metrics.connections.value(), 6u);
  EXPECT_TRUE(net.proxy->pool("web")->backends()[0]->ejected(net.clock.now()));
  // After the cool-down it is tried again.
  net.advance(seconds(11));
  EXPECT_FALSE(net.proxy->pool("web")->backends()[0]->ejected(net.clock.now()));
  net.connect_client();
  net.connect_client();
  EXPECT_EQ(net.proxy->listener_metrics("web").connect_failures.value(), 3u);
}

TEST(ProxyService, AConnectTimeoutIsRetriedOnAnotherBackend) {
  ProxyNet net(
      pool_yaml("round_robin", {backend(8081), backend(8082)}, "", ", connect_timeout: 1s"));
  // 8081's SYNs vanish on the wire.
  net.lose = [](const Frame& f) { return tcp_destination(f) == 8081; };
  net.listen_backend(8081);
  const int listener = net.listen_backend(8082);
  const int client = net.connect_client();
  EXPECT_LT(fg_accept(net.peer, listener, nullptr, nullptr), 0);
  net.advance(milliseconds(999));
  EXPECT_EQ(net.proxy->listener_metrics("web").connect_timeouts.value(), 0u);
  net.advance(milliseconds(1));
  EXPECT_EQ(net.proxy->listener_metrics("web").connect_timeouts.value(), 1u);
  const int server = fg_accept(net.peer, listener, nullptr, nullptr);
  ASSERT_GE(server, 0) << "the second attempt went to 8082";
  net.send_all(client, "hello");
  EXPECT_EQ(net.read_all(server), "hello");
}

TEST(ProxyService, WithNoBackendLeftTheClientIsReset) {
  ProxyNet net(pool_yaml("round_robin", {backend(8081), backend(8082)}));
  // Nothing listens: both attempts are refused, then the client is reset.
  const int client = net.connect_client();
  net.run();
  int error = 0;
  net.read_all(client, nullptr, &error);
  EXPECT_EQ(error, ECONNRESET);
  EXPECT_EQ(net.proxy->listener_metrics("web").connect_failures.value(), 2u);
  EXPECT_EQ(net.proxy->listener_metrics("web").no_backend.value(), 1u);
  EXPECT_EQ(net.proxy->sessions(), 0u);
  EXPECT_EQ(net.proxy->pool("web")->backends()[0]->active, 0u);
  EXPECT_EQ(net.proxy->pool("web")->backends()[1]->active, 0u);
}

TEST(ProxyService, IdleConnectionsAreResetAfterTheIdleTimeout) {
  ProxyNet net(pool_yaml("round_robin", {backend(8081)}, "", ", idle_timeout: 5s"));
  const int listener = net.listen_backend(8081);
  const int client = net.connect_client();
  const int server = fg_accept(net.peer, listener, nullptr, nullptr);
  ASSERT_GE(server, 0);
  net.advance(seconds(4));
  net.send_all(client, "keep");  // activity moves the deadline
  EXPECT_EQ(net.read_all(server), "keep");
  net.advance(seconds(4));
  EXPECT_EQ(net.proxy->sessions(), 1u) << "8 s old but active 4 s ago";
  net.advance(milliseconds(1001));
  EXPECT_EQ(net.proxy->sessions(), 0u);
  EXPECT_EQ(net.proxy->listener_metrics("web").idle_timeouts.value(), 1u);
  int client_error = 0, server_error = 0;
  net.read_all(client, nullptr, &client_error);
  net.read_all(server, nullptr, &server_error);
  EXPECT_EQ(client_error, ECONNRESET);
  EXPECT_EQ(server_error, ECONNRESET);
}

// The PROXY header the backend receives before the client's bytes, for the given version.
std::string header_seen_by_backend(const std::string& version, uint16_t* client_port) {
  ProxyNet net(pool_yaml("round_robin", {backend(8081)}, "", ", proxy_protocol: " + version));
  const int listener = net.listen_backend(8081);
  const int client = net.connect_client();
  sockaddr_in local{};
  socklen_t len = sizeof local;
  fg_getsockname(net.peer, client, reinterpret_cast<sockaddr*>(&local), &len);
  *client_port = ntohs(local.sin_port);
  const int server = fg_accept(net.peer, listener, nullptr, nullptr);
  EXPECT_GE(server, 0);
  net.send_all(client, "GET /");
  return net.read_all(server);
}

TEST(ProxyService, SendsTheProxyProtocolHeaderFirst) {
  uint16_t port = 0;
  const std::string v1 = header_seen_by_backend("v1", &port);
  EXPECT_EQ(v1, "PROXY TCP4 198.18.0.2 198.18.0.1 " + std::to_string(port) + " 80\r\nGET /");
  const std::string v2 = header_seen_by_backend("v2", &port);
  const std::string want = std::string("\r\n\r\n\0\r\nQUIT\n", 12) + "\x21\x11" +
                           std::string("\x00\x0c", 2) + std::string("\xc6\x12\x00\x02", 4) +
                           std::string("\xc6\x12\x00\x01", 4) + static_cast<char>(port >> 8) +
                           static_cast<char>(port & 0xff) + std::string("\x00\x50", 2) + "GET /";
  EXPECT_EQ(v2, want);
  EXPECT_EQ(header_seen_by_backend("none", &port), "GET /");
}

TEST(ProxyService, MaxConnectionsIsEnforced) {
  ProxyNet net(pool_yaml(
      "round_robin", {backend(8081, "max_connections: 2"), backend(8082, "max_connections: 3")}));
  const std::vector<int> listeners = {net.listen_backend(8081), net.listen_backend(8082)};
  std::vector<int> per_backend(2, 0);
  std::vector<int> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(net.connect_client());
    for (auto [index, fd] : accept_all(net, listeners)) ++per_backend[index];
  }
  EXPECT_EQ(per_backend, (std::vector<int>{2, 3}));
  // The sixth found both full and was reset.
  int error = 0;
  net.read_all(clients[5], nullptr, &error);
  EXPECT_EQ(error, ECONNRESET);
  EXPECT_EQ(net.proxy->listener_metrics("web").no_backend.value(), 1u);
  // One ends (both sides): its place is free again.
  fg_close(net.peer, clients[0]);
  net.run();
  bool eof = false;
  for (int fd = 0; fd < 64 && !eof; ++fd) {
    // The backend side of clients[0]: the one socket on the peer that now reads EOF.
    if (std::find(clients.begin(), clients.end(), fd) != clients.end()) continue;
    char c;
    if (fg_recv(net.peer, fd, &c, 1, 0) == 0) {
      eof = true;
      fg_close(net.peer, fd);
    }
  }
  ASSERT_TRUE(eof);
  net.run();
  net.connect_client();
  for (auto [index, fd] : accept_all(net, listeners)) ++per_backend[index];
  EXPECT_EQ(per_backend[0] + per_backend[1], 6);
}

TEST(ProxyService, WeightZeroDrainsAndAReloadKeepsEstablishedConnections) {
  ProxyNet net(pool_yaml("round_robin", {backend(8081)}));
  const std::vector<int> listeners = {net.listen_backend(8081), net.listen_backend(8082),
                                      net.listen_backend(8083)};
  const int old_client = net.connect_client();
  auto accepted = accept_all(net, listeners);
  ASSERT_EQ(accepted.size(), 1u);
  const int old_server = accepted[0].second;

  // Drain 8081 (weight 0) and add 8082.
  net.proxy->reload(
      config_from(pool_yaml("round_robin", {backend(8081, "weight: 0"), backend(8082)})).pools);
  net.send_all(old_client, "still here");
  EXPECT_EQ(net.read_all(old_server), "still here");
  net.send_all(old_server, "and back");
  EXPECT_EQ(net.read_all(old_client), "and back");
  for (int i = 0; i < 3; ++i) net.connect_client();
  accepted = accept_all(net, listeners);
  ASSERT_EQ(accepted.size(), 3u);
  for (auto [index, fd] : accepted) EXPECT_EQ(index, 1u) << "new connections avoid the drained";
  EXPECT_EQ(net.proxy->pool("web")->backends()[0]->active, 1u);

  // Remove 8081 altogether, replace 8082 by 8083: the old connection still relays.
  net.proxy->reload(config_from(pool_yaml("round_robin", {backend(8083)})).pools);
  net.send_all(old_client, "after removal");
  EXPECT_EQ(net.read_all(old_server), "after removal");
  net.connect_client();
  accepted = accept_all(net, listeners);
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].first, 2u);
  // It ends normally.
  ASSERT_EQ(fg_shutdown(net.peer, old_client, SHUT_WR), 0);
  ASSERT_EQ(fg_shutdown(net.peer, old_server, SHUT_WR), 0);
  net.run();
  EXPECT_EQ(net.proxy->listener_metrics("web").completed.value(), 1u);
  EXPECT_EQ(net.proxy->listener_metrics("web").resets.value(), 0u);
  EXPECT_EQ(net.proxy->reloads(), 2u);
}

TEST(ProxyService, HealthChecksTakeADeadBackendOutAndBringItBack) {
  ProxyNet net(pool_yaml("round_robin", {backend(8081), backend(8082)},
                         "    health_check: {interval: 1s, timeout: 500ms, rise: 2, fall: 3}\n"));
  const int listener2 = net.listen_backend(8082);
  const Backend& dead = *net.proxy->pool("web")->backends()[0];
  // 8081 refuses from the start: checks at 0, 1 and 2 s fail, down at the third.
  EXPECT_TRUE(dead.up());
  net.advance(milliseconds(1900));
  EXPECT_TRUE(dead.up());
  net.advance(milliseconds(200));
  EXPECT_FALSE(dead.up()) << "down within fall x interval";
  EXPECT_EQ(dead.metrics.marked_down.value(), 1u);
  EXPECT_EQ(dead.metrics.up.value(), 0);
  // Now every connection goes to 8082 at the first attempt.
  const uint64_t failures = net.proxy->listener_metrics("web").connect_failures.value();
  for (int i = 0; i < 4; ++i) net.connect_client();
  EXPECT_EQ(net.proxy->listener_metrics("web").connect_failures.value(), failures);
  int reached = 0;
  while (fg_accept(net.peer, listener2, nullptr, nullptr) >= 0) ++reached;
  EXPECT_EQ(reached, 4);
  // 8081 comes back; rise = 2 checks later it is up.
  const int listener1 = net.listen_backend(8081);
  net.advance(seconds(1));
  EXPECT_FALSE(dead.up());
  net.advance(seconds(1));
  EXPECT_TRUE(dead.up());
  EXPECT_EQ(dead.metrics.up.value(), 1);
  EXPECT_EQ(dead.metrics.marked_down.value(), 1u);
  // The checks left no connection behind on the backend (each was accepted and reset).
  while (fg_accept(net.peer, listener1, nullptr, nullptr) >= 0) {
  }
  EXPECT_EQ(net.gw.tcp().time_wait_records(), 0u);
}

TEST(ProxyService, AHealthCheckWithoutAnswerFailsAtItsTimeout) {
  ProxyNet net(pool_yaml("round_robin", {backend(8081), backend(8082)},
                         "    health_check: {interval: 1s, timeout: 300ms, rise: 1, fall: 2}\n"));
  net.lose = [](const Frame& f) { return tcp_destination(f) == 8081; };  // a black hole
  net.listen_backend(8081);
  net.listen_backend(8082);
  const Backend& silent = *net.proxy->pool("web")->backends()[0];
  // Checks at 0 and 1 s get no answer; the second times out at 1.3 s.
  net.advance(milliseconds(1299));
  EXPECT_TRUE(silent.up());
  EXPECT_EQ(silent.metrics.checks_failed.value(), 1u);
  net.advance(milliseconds(1));
  EXPECT_FALSE(silent.up());
  EXPECT_EQ(silent.metrics.checks_failed.value(), 2u);
  EXPECT_TRUE(net.proxy->pool("web")->backends()[1]->up());
  // The black hole ends: the next check (at 2 s) succeeds, and rise 1 brings it up.
  net.lose = nullptr;
  net.advance(milliseconds(700));
  EXPECT_TRUE(silent.up());
}

TEST(ProxyService, ClosingTheListenerOnDrainKeepsConnections) {
  ProxyNet net(pool_yaml("round_robin", {backend(8081)}));
  const int listener = net.listen_backend(8081);
  const int client = net.connect_client();
  const int server = fg_accept(net.peer, listener, nullptr, nullptr);
  ASSERT_GE(server, 0);
  net.proxy->stop_accepting();
  EXPECT_FALSE(net.proxy->idle());
  net.send_all(client, "during drain");
  EXPECT_EQ(net.read_all(server), "during drain");
  fg_close(net.peer, client);
  fg_close(net.peer, server);
  net.run();
  EXPECT_TRUE(net.proxy->idle());
}

// The series the proxy keeps in the table, as "family{labels} value" (what the exporter sees).
std::map<std::string, int64_t> app_series(const ProxyNet& net) {
  std::map<std::string, int64_t> out;
  metrics::read_app_metrics(*net.metrics_area, [&](const metrics::AppMetricView& v) {
    std::string key(v.info->name);
    for (size_t i = 0; i < v.label_count; ++i) {
      key += (i == 0 ? "{" : ",") + std::string(v.info->label_names[i]) + "=" +
             std::string(v.labels[i]);
    }
    key += v.label_count > 0 ? "}" : "";
    out[key] =
        v.info->type == metrics::MetricType::gauge ? v.gauge : static_cast<int64_t>(v.counter);
  });
  return out;
}

TEST(ProxyService, BackendAndListenerGaugesFollowTheConnections) {
  ProxyNet net(pool_yaml("round_robin", {backend(8081)}));
  const int listener = net.listen_backend(8081);
  const std::string b = "{pool=web,backend=198.18.0.2:8081}";
  auto series = app_series(net);
  EXPECT_EQ(series.at("flowgate_backend_up" + b), 1) << "no health checks: up";
  EXPECT_EQ(series.at("flowgate_backend_active_connections" + b), 0);
  EXPECT_EQ(series.at("flowgate_listener_connections_active{listener=web}"), 0);

  const int client1 = net.connect_client();
  const int client2 = net.connect_client();
  const int server1 = fg_accept(net.peer, listener, nullptr, nullptr);
  const int server2 = fg_accept(net.peer, listener, nullptr, nullptr);
  ASSERT_GE(server2, 0);
  series = app_series(net);
  EXPECT_EQ(series.at("flowgate_backend_active_connections" + b), 2);
  EXPECT_EQ(series.at("flowgate_backend_connections_total" + b), 2);
  EXPECT_EQ(series.at("flowgate_listener_connections_active{listener=web}"), 2);
  EXPECT_EQ(series.at("flowgate_listener_connections_accepted_total{listener=web}"), 2);
  EXPECT_EQ(series.at("flowgate_proxy_connections_relayed_total{listener=web}"), 2);

  // One ends in order, the other is reset by the backend.
  fg_shutdown(net.peer, client1, SHUT_WR);
  fg_shutdown(net.peer, server1, SHUT_WR);
  net.run();
  const linger abort{1, 0};
  fg_setsockopt(net.peer, server2, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  fg_close(net.peer, server2);
  net.run();
  series = app_series(net);
  EXPECT_EQ(series.at("flowgate_backend_active_connections" + b), 0);
  EXPECT_EQ(series.at("flowgate_listener_connections_active{listener=web}"), 0);
  EXPECT_EQ(series.at("flowgate_proxy_connections_closed_total{listener=web,reason=completed}"), 1);
  EXPECT_EQ(series.at("flowgate_proxy_connections_closed_total{listener=web,reason=reset}"), 1);
  EXPECT_EQ(series.at("flowgate_proxy_reloads_total"), 0);
  EXPECT_EQ(net.metrics.refused(), 0u);
  for (int fd : {client1, client2, server1}) fg_close(net.peer, fd);
}

TEST(ProxyService, ARemovedBackendsSeriesLeaveWithItsLastConnection) {
  ProxyNet net(pool_yaml("round_robin", {backend(8081)}));
  const int listener1 = net.listen_backend(8081);
  net.listen_backend(8082);
  const std::string old_backend = "{pool=web,backend=198.18.0.2:8081}";
  const int client = net.connect_client();
  const int server = fg_accept(net.peer, listener1, nullptr, nullptr);
  ASSERT_GE(server, 0);

  net.proxy->reload(config_from(pool_yaml("round_robin", {backend(8082)})).pools);
  auto series = app_series(net);
  EXPECT_EQ(series.at("flowgate_backend_active_connections" + old_backend), 1)
      << "its connection still runs";
  EXPECT_EQ(series.at("flowgate_backend_up{pool=web,backend=198.18.0.2:8082}"), 1);
  EXPECT_EQ(series.at("flowgate_proxy_reloads_total"), 1);

  fg_shutdown(net.peer, client, SHUT_WR);
  fg_shutdown(net.peer, server, SHUT_WR);
  net.run();
  series = app_series(net);
  EXPECT_EQ(series.count("flowgate_backend_active_connections" + old_backend), 0u);
  EXPECT_EQ(series.count("flowgate_backend_connections_total" + old_backend), 0u);
  EXPECT_EQ(series.count("flowgate_backend_up{pool=web,backend=198.18.0.2:8082}"), 1u);

  // Back in the pool: the same series again, its counter where it was.
  net.proxy->reload(config_from(pool_yaml("round_robin", {backend(8081), backend(8082)})).pools);
  series = app_series(net);
  EXPECT_EQ(series.at("flowgate_backend_connections_total" + old_backend), 1);
  EXPECT_EQ(series.at("flowgate_backend_active_connections" + old_backend), 0);
  EXPECT_EQ(series.at("flowgate_backend_up" + old_backend), 1);
  fg_close(net.peer, client);
  fg_close(net.peer, server);
}

}  // namespace
}  // namespace flowgate::proxy
