// Two Stacks back to back on one ManualClock, for the in-memory benchmarks: a server
// listening on 198.18.0.1:80 and a client on 198.18.0.2, their links crossed. The same
// arrangement as the unit tests' BackToBack (tests/support/harness.hpp), without GoogleTest
// and with a link that does not allocate per frame, so what a benchmark times is the stack.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "stack/clock.hpp"
#include "stack/config.hpp"
#include "stack/link.hpp"
#include "stack/socket_api.hpp"
#include "stack/stack.hpp"

namespace flowgate::bench {

inline constexpr uint16_t kServerPort = 80;

[[noreturn]] inline void die(const char* what) {
  std::fprintf(stderr, "bench: %s (errno %d: %s)\n", what, errno, std::strerror(errno));
  std::abort();
}

// Holds the frames one stack sent until the pair delivers them: their bytes end to end in
// one buffer, and where each frame starts. clear() keeps the capacity, so once warm the link
// allocates nothing; release() gives the storage back (the memory benchmark does not count
// the link).
class QueueLink final : public Link {
 public:
  bool transmit(wire::Bytes frame) override {
    const size_t at = bytes_.size();
    bytes_.insert(bytes_.end(), frame.begin(), frame.end());
    frames_.emplace_back(at, frame.size());
    return true;
  }
  bool empty() const { return frames_.empty(); }
  size_t size() const { return frames_.size(); }
  wire::Bytes frame(size_t i) const {
    return wire::Bytes(bytes_.data() + frames_[i].first, frames_[i].second);
  }
  void clear() {
    bytes_.clear();
    frames_.clear();
  }
  void release() {
    std::vector<std::byte>().swap(bytes_);
    std::vector<std::pair<size_t, size_t>>().swap(frames_);
  }

 private:
  std::vector<std::byte> bytes_;
  std::vector<std::pair<size_t, size_t>> frames_;
};

// Host `own` of 198.18.0.0/24 (MAC 02:00:00:00:00:<own>) with a static neighbour entry for
// host `peer`, so no ARP exchange is part of any measurement.
inline StackConfig host_config(uint8_t own, uint8_t peer) {
  const auto mac = [](uint8_t host) {
    return wire::MacAddress{std::array<uint8_t, 6>{0x02, 0, 0, 0, 0, host}};
  };
  StackConfig c;
  c.mac = mac(own);
  c.address = {wire::Ipv4Address::from_octets(198, 18, 0, own), 24};
  c.arp.static_entries.push_back({wire::Ipv4Address::from_octets(198, 18, 0, peer), mac(peer)});
  c.secret_key = std::array<uint8_t, 16>{own, peer, 3};
  return c;
}

inline StackConfig server_config() {
  return host_config(1, 2);
}

inline StackConfig client_config() {
  StackConfig c = host_config(2, 1);
  c.first_ip_id = 30000;
  return c;
}

inline sockaddr_in endpoint(wire::Ipv4Address ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip.value);
  a.sin_port = htons(port);
  return a;
}

struct StackPair {
  explicit StackPair(int backlog = 4096)
      : server(server_config(), clock, server_link), client(client_config(), clock, client_link) {
    server.start();
    client.start();
    listener = fg_socket(server, AF_INET, SOCK_STREAM, 0);
    auto local = endpoint(wire::Ipv4Address::any(), kServerPort);
    if (fg_bind(server, listener, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
      die("bind");
    if (fg_listen(server, listener, backlog) != 0) die("listen");
    run();
  }

  // Delivers frames both ways at the current time until none is left; returns how many.
  // A stack receiving from one link only transmits into its own, so each link is read
  // whole and then cleared.
  size_t run() {
    size_t delivered = 0;
    while (!server_link.empty() || !client_link.empty()) {
      for (size_t i = 0; i < server_link.size(); ++i) client.receive(server_link.frame(i));
      delivered += server_link.size();
      server_link.clear();
      for (size_t i = 0; i < client_link.size(); ++i) server.receive(client_link.frame(i));
      delivered += client_link.size();
      client_link.clear();
    }
    return delivered;
  }

  // Moves time forward by `d`, running both stacks' timers and the deliveries they cause.
  size_t advance(Duration d) {
    const Instant end = clock.now() + d;
    size_t delivered = 0;
    for (;;) {
      std::optional<Instant> next = server.next_deadline();
      if (auto c = client.next_deadline(); c && (!next || *c < *next)) next = c;
      if (!next || *next > end) break;
      clock.set(std::max(*next, clock.now()));
      server.poll();
      client.poll();
      delivered += run();
    }
    clock.set(end);
    server.poll();
    client.poll();
    return delivered + run();
  }

  // Opens a connection from the client; the caller runs the pair and accepts.
  int connect() {
    const int fd = fg_socket(client, AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    auto remote = endpoint(server.config().address.address, kServerPort);
    if (fg_connect(client, fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != -1 ||
        errno != EINPROGRESS)
      die("connect");
    return fd;
  }

  int accept() {
    const int fd = fg_accept(server, listener, nullptr, nullptr);
    if (fd < 0) die("accept");
    return fd;
  }

  // Nothing in flight and the links' storage given back.
  void settle() {
    run();
    server_link.release();
    client_link.release();
  }

  ManualClock clock;
  QueueLink server_link;
  QueueLink client_link;
  Stack server;
  Stack client;
  int listener = -1;
};

}  // namespace flowgate::bench
