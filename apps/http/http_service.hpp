// The `http` application: an HTTP/1.1 origin server written only against the fg_* socket
// API, serving either static files from a directory (DocumentRoot) or one fixed in-memory
// response (for benchmarks), for GET and HEAD.
//
// Per connection, requests are parsed by RequestParser as they arrive; pipelined requests
// are answered in order, several responses going out in one fg_send when they are small.
// Memory per connection is bounded whatever the client does:
//   - input: at most one read (16 KiB) beyond the request being parsed is kept, and no read
//     happens while a response is waiting to be sent;
//   - output: responses are produced only while less than 64 KiB waits to be sent; a file
//     (or a large fixed body) is read in 64 KiB chunks, each only when the previous one has
//     gone into the TCP send buffer (EPOLLOUT), never loaded whole;
//   - the parser: bounded by max_header_bytes and the request line limit (8 KiB).
//
// Timers (the stack's clock, so tests drive them by hand):
//   - request_timeout: a request must arrive whole within it, counted from its first byte
//     (and a new connection must send that first byte within it too). Expired with part of
//     a request received: 408 and close (RFC 9110 15.5.9, "the server SHOULD send the close
//     connection option"); expired on a new connection that sent nothing: closed without a
//     response.
//   - keepalive_timeout: an idle persistent connection is closed without a response.
//   - a client that takes nothing of a response for 60 s is disconnected.
//   - after the last response, the connection is closed in stages (RFC 9112 9.6): our FIN
//     goes after the response (shutdown SHUT_WR), then we read and discard until the
//     client's FIN or for 2 s, then close. Closing at once could turn the client's next
//     pipelined bytes into a reset that destroys the response before it is read.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "apps/http/http_date.hpp"
#include "apps/http/request_parser.hpp"
#include "apps/http/response.hpp"
#include "apps/service.hpp"
#include "monitoring/app_metrics.hpp"

namespace flowgate::http {

class DocumentRoot;

struct FixedResponse {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
};

struct HttpOptions {
  std::string listener = "http";  // the listener's name: the `listener` label of its metrics
  uint16_t port = 80;
  int backlog = 128;
  // Exactly one of the two: static files beneath `root` (with `index` for directories), or
  // `fixed` for every GET and HEAD whatever the path.
  std::string root;
  std::string index = "index.html";
  std::optional<FixedResponse> fixed;
  Duration request_timeout = std::chrono::seconds(10);
  Duration keepalive_timeout = std::chrono::seconds(60);  // 0: no persistent connections
  size_t max_header_bytes = 8192;
  size_t max_headers = 100;
  uint64_t max_requests_per_connection = 0;  // 0: no limit
  WallClock wall_clock;                      // for Date; the system clock when empty
};

// The status codes this server answers with (a fixed response's own status joins them):
// each has its series from the start, so a rate over any of them is defined.
inline constexpr std::array<int, 14> kCountedStatuses = {200, 204, 400, 403, 404, 405, 408,
                                                         413, 414, 431, 500, 501, 503, 505};

// One listener's metrics (monitoring/app_metrics.hpp families, label `listener`), kept in
// the worker's shared-memory table: the server's only counters.
struct HttpMetrics {
  HttpMetrics(metrics::AppMetricsWriter& writer, const std::string& listener,
              std::optional<int> fixed_status);

  metrics::Counter connections_accepted;
  metrics::Gauge connections_active;
  metrics::Counter bytes_received;
  metrics::Counter bytes_sent;         // handed to fg_send: heads and bodies
  metrics::Counter connection_errors;  // resets and other socket errors
  metrics::Counter file_errors;        // a file that could not be read to its announced length
  // http_timeouts{kind}
  metrics::Counter request_timeouts;  // 408 sent
  metrics::Counter idle_timeouts;     // closed silently: nothing sent within the timeout
  metrics::Counter linger_timeouts;   // the client did not close within 2 s of our FIN
  metrics::Counter send_timeouts;     // the client took nothing of a response for 60 s
  // http_requests{code}: every response, refusals (400, 413, ...) and 408 included.
  std::vector<std::pair<int, metrics::Counter>> responses_by_status;
  // From a request's first byte to its whole response taken by fg_send.
  metrics::Histogram request_duration;

  uint64_t responses(int status) const;
  void count_response(int status) const;
};

class HttpService final : public Service {
 public:
  // Listens on 0.0.0.0:port and opens the root directory; throws std::system_error when
  // either fails. Registers its metrics with `metrics`.
  HttpService(Stack& stack, HttpOptions options, metrics::AppMetricsWriter& metrics);
  ~HttpService() override;
  HttpService(const HttpService&) = delete;
  HttpService& operator=(const HttpService&) = delete;

  void run() override;
  // Closes the listener; idle persistent connections are closed at once, and the others get
  // "Connection: close" on their current response.
  void stop_accepting() override;
  bool idle() const override { return connections_.empty(); }
  std::optional<Instant> next_deadline() const override;

  const HttpMetrics& counters() const { return counters_; }
  size_t connection_count() const { return connections_.size(); }
  // The most memory any one connection holds in its input and output buffers (capacity),
  // for tests of the bounds above.
  size_t largest_connection_buffers() const;

 private:
  struct Connection;

  void accept_all();
  // Moves a connection on as far as it can without blocking: answers what is buffered,
  // sends, reads more; returns when it waits for the network (or was closed).
  void progress(Connection& c);
  // Feeds `bytes` (received at `arrived`) to the parser and answers each complete request
  // while output is small; returns how many bytes were taken.
  size_t answer_requests(Connection& c, std::span<const std::byte> bytes, Instant arrived);
  // The response just queued ends at this position of the connection's output stream: its
  // duration is observed when fg_send has taken that far (flush).
  void time_response(Connection& c);
  bool can_take_request(const Connection& c) const;
  void respond(Connection& c, const Request& request);
  void respond_error(Connection& c, int status, Persistence persistence, bool head_only);
  void append_head(Connection& c, const ResponseHead& head);
  void start_output(Connection& c);
  Persistence persistence_for(const Connection& c, const Request& request) const;
  enum class FlushResult : uint8_t { done, blocked, failed };
  FlushResult flush(Connection& c);
  // Appends the next piece of the body being streamed to the output; false on a read error.
  bool refill(Connection& c);
  void begin_linger(Connection& c);
  void expire(Connection& c, Instant now);
  void watch(Connection& c, uint32_t events);
  void update_deadline(Connection& c);
  void close_connection(Connection& c);

  Stack& stack_;
  HttpOptions options_;
  ParserLimits limits_;
  std::unique_ptr<DocumentRoot> root_;
  DateCache date_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  bool draining_ = false;
  std::map<int, std::unique_ptr<Connection>> connections_;
  std::set<std::pair<Instant, int>> deadlines_;  // (when, fd)
  std::vector<int> ready_;                       // connections with work left over from a turn
  std::vector<std::byte> read_buffer_;
  HttpMetrics counters_;
};

}  // namespace flowgate::http
