// The management endpoint the supervisor serves on a kernel socket (loopback by default):
//
//   GET /metrics  Prometheus text format, built from the segment at each scrape
//                 (prometheus-cpp's pull Exposer with exporter::SegmentCollector)
//   GET /healthz  200 "alive: ..." or 503 "not alive: ..." (health.hpp)
//   GET /readyz   200 "ready: ..." or 503 "not ready: ..." with the reason on one line
//
// The Exposer runs civetweb, which answers on threads of its own inside the supervisor. So:
//   - construct this after the supervisor has blocked the signals it reads from its signalfd
//     (threads inherit the mask; otherwise a SIGCHLD could be delivered to a civetweb thread
//     and never reach the signalfd);
//   - the supervisor's fork + exec must stay async-signal-safe between the two calls (a child
//     of a threaded process inherits locks other threads held);
//   - civetweb sets SIGPIPE to SIG_IGN for the whole process, and an ignored signal stays
//     ignored across exec: the supervisor's children put it back to SIG_DFL.
//
// /healthz and /readyz are answered from civetweb's begin_request callback, before civetweb
// looks for a handler: the Exposer owns its CivetServer and offers no way to add a handler
// of our own, and a second server (a second port) would be one more thing to configure and
// to firewall. The callback is a plain function with no user pointer (the Exposer creates
// its CivetServer without one), so it finds the server through a process-wide pointer; a
// process has at most one ManagementServer at a time (a second one throws).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "shm/segment.hpp"

namespace prometheus {
class Exposer;
}

namespace flowgate::exporter {

class SegmentCollector;

// Listening failed; what() says where and why in one line, like
// "cannot listen on 127.0.0.1:9180: Address already in use (...)".
class ManagementError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ManagementServer {
 public:
  // Listens on host:port (an IPv4 address; port 0 picks a free one, for tests) and serves
  // until destroyed. The segment must outlive this object.
  ManagementServer(const shm::Segment& segment, const std::string& host, uint16_t port);
  ~ManagementServer();
  ManagementServer(const ManagementServer&) = delete;
  ManagementServer& operator=(const ManagementServer&) = delete;

  // SIGTERM: from now on /readyz answers 503 "draining" (/metrics and /healthz go on until
  // the server is destroyed).
  void begin_draining() { draining_.store(true, std::memory_order_relaxed); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  const shm::Segment& segment() const { return segment_; }
  // The port it listens on.
  uint16_t port() const { return port_; }

 private:
  const shm::Segment& segment_;
  std::atomic<bool> draining_{false};
  std::shared_ptr<SegmentCollector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  uint16_t port_ = 0;
};

}  // namespace flowgate::exporter
