// TCP echo (RFC 862: "send back any data it receives"), TCP discard (RFC 863: "throw away
// any data it receives") and TCP chargen (RFC 864: "a stream of data is sent out the
// connection (and any data received is thrown away)"), written only against the fg_* socket
// API and its epoll calls.
//
// One listening socket and one epoll set per service, level-triggered. Echo applies
// back-pressure: what fg_send cannot take is kept, and that connection is not read again
// until EPOLLOUT says the rest has gone. At the peer's FIN the pending bytes are sent, then
// our FIN (shutdown SHUT_WR) and the descriptor is closed; any error closes at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "apps/service.hpp"
#include "monitoring/app_metrics.hpp"

namespace flowgate {

class TcpService final : public Service {
 public:
  enum class Kind { echo, discard, chargen };

  // Listens on 0.0.0.0:port; throws std::system_error when it cannot. `chargen_bytes`: what
  // chargen sends on each connection before it closes it; 0 sends until the client closes
  // (RFC 864's original behaviour). Its metrics carry the label listener=`listener`.
  TcpService(Stack& stack, uint16_t port, Kind kind, metrics::AppMetricsWriter& metrics,
             const std::string& listener, uint64_t chargen_bytes = 0);
  ~TcpService() override;
  TcpService(const TcpService&) = delete;
  TcpService& operator=(const TcpService&) = delete;

  void run() override;
  void stop_accepting() override;
  bool idle() const override { return connections_.empty(); }

 private:
  struct Connection {
    std::vector<uint8_t> pending;  // echo: received, not yet taken by fg_send
    size_t pending_sent = 0;       // of `pending`, the bytes fg_send has taken
    bool eof = false;              // the peer's FIN was read
    bool waiting_out = false;      // interest is EPOLLOUT (reading paused), not EPOLLIN
    uint64_t generated = 0;        // chargen: bytes of the pattern sent so far
  };

  void accept_all();
  // Serves one ready connection; false when it was closed.
  bool serve(int fd, Connection& c, uint32_t events);
  bool serve_chargen(int fd, Connection& c);
  // Hands pending bytes to fg_send; false on a send error.
  bool flush(int fd, Connection& c);
  void watch(int fd, Connection& c, bool want_out);
  void close_connection(int fd, bool error);

  Stack& stack_;
  Kind kind_;
  uint64_t chargen_bytes_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  std::map<int, Connection> connections_;
  std::vector<uint8_t> buffer_;

  metrics::Counter accepted_;
  metrics::Gauge active_;
  metrics::Counter errors_;
  metrics::Counter bytes_received_;
  metrics::Counter bytes_sent_;
};

}  // namespace flowgate
