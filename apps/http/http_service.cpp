#include "apps/http/http_service.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "apps/http/document_root.hpp"
#include "stack/socket_api.hpp"
#include "stack/stack.hpp"

namespace flowgate::http {

namespace {

using std::chrono::seconds;

constexpr size_t kReadSize = 16 * 1024;
// Responses are produced only while less than this waits to be sent.
constexpr size_t kOutputHighWater = 64 * 1024;
// A streamed body (a file, a large fixed body) is read this much at a time.
constexpr size_t kBodyChunk = 64 * 1024;
// Fixed bodies up to this size are copied behind each head, so that small pipelined
// responses leave together; larger ones are streamed like files.
constexpr size_t kInlineBody = 16 * 1024;
// An idle connection keeps at most this much buffer capacity.
constexpr size_t kKeptCapacity = 16 * 1024;
// RFC 9112 9.6 asks for the staged close but names no time; 2 s is what Apache waits.
constexpr Duration kLingerTimeout = seconds(2);
// A client that takes nothing of a response for this long is given up on (nginx's
// send_timeout has the same default).
constexpr Duration kSendTimeout = seconds(60);
constexpr int kMaxEvents = 64;
// Rounds of fg_epoll_wait per run(), as in TcpService.
constexpr int kMaxRounds = 16;
// Reads and responses one connection may have per turn before the others get theirs; the
// rest of its work waits in ready_ for the next run().
constexpr int kMaxStepsPerTurn = 64;

constexpr std::string_view kAllowGetHead = "Allow: GET, HEAD\r\n";
constexpr std::string_view kErrorContentType = "text/plain; charset=utf-8";

}  // namespace

HttpMetrics::HttpMetrics(metrics::AppMetricsWriter& writer, const std::string& listener,
                         std::optional<int> fixed_status) {
  using metrics::AppFamily;
  const std::string_view l = listener;
  connections_accepted = writer.counter(AppFamily::listener_connections_accepted, {l});
  connections_active = writer.gauge(AppFamily::listener_connections_active, {l});
  bytes_received = writer.counter(AppFamily::listener_received_bytes, {l});
  bytes_sent = writer.counter(AppFamily::listener_sent_bytes, {l});
  connection_errors = writer.counter(AppFamily::listener_errors, {l});
  file_errors = writer.counter(AppFamily::http_file_errors, {l});
  request_timeouts = writer.counter(AppFamily::http_timeouts, {l, "request"});
  idle_timeouts = writer.counter(AppFamily::http_timeouts, {l, "idle"});
  linger_timeouts = writer.counter(AppFamily::http_timeouts, {l, "linger"});
  send_timeouts = writer.counter(AppFamily::http_timeouts, {l, "send"});
  std::vector<int> statuses(kCountedStatuses.begin(), kCountedStatuses.end());
  if (fixed_status && std::find(statuses.begin(), statuses.end(), *fixed_status) == statuses.end())
    statuses.push_back(*fixed_status);
  for (const int status : statuses) {
    responses_by_status.emplace_back(
        status, writer.counter(AppFamily::http_requests, {l, std::to_string(status)}));
  }
  request_duration = writer.histogram(AppFamily::http_request_duration, {l});
}

uint64_t HttpMetrics::responses(int status) const {
  for (const auto& [code, counter] : responses_by_status) {
    if (code == status) return counter.value();
  }
  return 0;
}

void HttpMetrics::count_response(int status) const {
  // A dozen codes: a scan is as fast as anything cleverer.
  for (const auto& [code, counter] : responses_by_status) {
    if (code == status) return counter.add();
  }
}

struct HttpService::Connection {
  Connection(int descriptor, const ParserLimits& limits) : fd(descriptor), parser(limits) {}

  int fd;
  RequestParser parser;
  std::vector<std::byte> input;  // received beyond what the parser took (pipelined requests)
  size_t input_used = 0;
  std::string output;  // response bytes not yet taken by fg_send
  size_t output_sent = 0;
  // The body streamed after `output`: a file, or the fixed response's body.
  int file_fd = -1;
  bool streaming_fixed = false;
  uint64_t body_offset = 0;
  uint64_t body_end = 0;

  uint64_t requests = 0;
  // Request durations: where each queued response ends in the output stream (bytes fg_send
  // has taken, plus what waits), and when its request's first byte arrived.
  struct Timed {
    uint64_t end = 0;
    Instant first_byte{};
  };
  // Oldest first. A vector and a read position, not a std::deque: a deque holds its first
  // 512-byte block from construction, on every connection, idle ones included (C1M).
  struct TimedQueue {
    std::vector<Timed> items;
    size_t head = 0;
    bool empty() const { return head == items.size(); }
    const Timed& front() const { return items[head]; }
    void push_back(const Timed& t) { items.push_back(t); }
    void pop_front() {
      if (++head == items.size()) {
        items.clear();
        head = 0;
      }
    }
  } timed;
  uint64_t output_taken = 0;  // bytes fg_send has taken on this connection
  Instant first_byte{};       // of the request being parsed
  Instant input_arrived{};    // when the bytes in `input` were read
  bool closing = false;       // the response being sent is the last one
  bool lingering = false;     // our FIN is queued: discarding input until the client's FIN
  bool peer_eof = false;      // the client's FIN was read
  uint32_t interest = EPOLLIN;
  int steps = 0;  // reads and responses in the current turn

  Instant idle_since{};       // waiting for the next request since
  Instant request_started{};  // the current request's first byte
  Instant last_send{};        // the last time fg_send took something
  Instant linger_until{};
  std::optional<Instant> deadline;  // its entry in deadlines_

  bool streaming() const { return file_fd >= 0 || streaming_fixed; }
  size_t output_pending() const { return output.size() - output_sent; }
  bool has_buffered_input() const { return input_used < input.size(); }
};

HttpService::HttpService(Stack& stack, HttpOptions options, metrics::AppMetricsWriter& metrics)
    : stack_(stack),
      options_(std::move(options)),
      date_(options_.wall_clock),
      read_buffer_(kReadSize),
      counters_(metrics, options_.listener,
                options_.fixed ? std::optional<int>(options_.fixed->status) : std::nullopt) {
  limits_.max_header_bytes = options_.max_header_bytes;
  limits_.max_headers = options_.max_headers;
  if (!options_.fixed) root_ = std::make_unique<DocumentRoot>(options_.root, options_.index);
  listen_fd_ = open_tcp_listener(stack_, options_.port, "http");
  if (options_.backlog != 128) fg_listen(stack_, listen_fd_, options_.backlog);
  epoll_fd_ = fg_epoll_create(stack_);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  if (epoll_fd_ < 0 || fg_epoll_ctl(stack_, epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) < 0) {
    const int err = errno;
    if (epoll_fd_ >= 0) fg_close(stack_, epoll_fd_);
    fg_close(stack_, listen_fd_);
    throw std::system_error(err, std::generic_category(),
                            "http on TCP port " + std::to_string(options_.port) + ": epoll");
  }
}

HttpService::~HttpService() {
  for (const auto& [fd, c] : connections_) {
    if (c->file_fd >= 0) ::close(c->file_fd);
    fg_close(stack_, fd);
  }
  if (listen_fd_ >= 0) fg_close(stack_, listen_fd_);
  fg_close(stack_, epoll_fd_);
}

void HttpService::stop_accepting() {
  if (listen_fd_ >= 0) {
    fg_close(stack_, listen_fd_);
    listen_fd_ = -1;
  }
  draining_ = true;
  // A connection waiting for its next request has nothing in flight: it goes now. The
  // others finish their current response, which says "Connection: close".
  std::vector<int> waiting;
  for (const auto& [fd, c] : connections_) {
    if (!c->lingering && !c->parser.started() && c->output_pending() == 0 && !c->streaming() &&
        !c->has_buffered_input()) {
      waiting.push_back(fd);
    }
  }
  for (const int fd : waiting) close_connection(*connections_.at(fd));
}

std::optional<Instant> HttpService::next_deadline() const {
  if (!ready_.empty()) return stack_.clock().now();
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

void HttpService::run() {
  if (!ready_.empty()) {
    std::vector<int> ready;
    ready.swap(ready_);
    for (const int fd : ready) {
      if (const auto it = connections_.find(fd); it != connections_.end()) progress(*it->second);
    }
  }
  const Instant now = stack_.clock().now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const auto it = connections_.find(deadlines_.begin()->second);
    if (it == connections_.end()) {
      deadlines_.erase(deadlines_.begin());  // cannot happen: closing removes the entry
      continue;
    }
    expire(*it->second, now);
  }
  epoll_event events[kMaxEvents];
  for (int round = 0; round < kMaxRounds; ++round) {
    const int n = fg_epoll_wait(stack_, epoll_fd_, events, kMaxEvents, 0);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd_) {
        accept_all();
        continue;
      }
      const auto it = connections_.find(fd);
      if (it == connections_.end()) continue;
      if ((events[i].events & EPOLLERR) != 0) {
        counters_.connection_errors.add();
        close_connection(*it->second);
        continue;
      }
      progress(*it->second);
    }
  }
}

void HttpService::accept_all() {
  for (;;) {
    const int fd = fg_accept(stack_, listen_fd_, nullptr, nullptr);
    if (fd < 0) return;  // EAGAIN: no more completed handshakes
    counters_.connections_accepted.add();
    // Responses are written whole (heads with bodies, pipelined responses together), so
    // Nagle could only hold back the last small segment of each until the client's delayed
    // ACK: 40 ms per response.
    const int one = 1;
    fg_setsockopt(stack_, fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (fg_epoll_ctl(stack_, epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      counters_.connection_errors.add();
      fg_close(stack_, fd);
      continue;
    }
    auto connection = std::make_unique<Connection>(fd, limits_);
    connection->idle_since = stack_.clock().now();
    Connection& c = *connection;
    connections_.emplace(fd, std::move(connection));
    counters_.connections_active.set(static_cast<int64_t>(connections_.size()));
    progress(c);  // the request may have come with the handshake's last ACK
  }
}

bool HttpService::can_take_request(const Connection& c) const {
  return !c.closing && !c.lingering && !c.streaming() && c.output_pending() < kOutputHighWater &&
         c.steps < kMaxStepsPerTurn;
}

void HttpService::progress(Connection& c) {
  c.steps = 0;
  for (;;) {
    if (c.lingering) {
      // RFC 9112 9.6: after the half-close the server "continues to read from the connection
      // until it receives a corresponding close by the client" (or, here, a timeout).
      for (;;) {
        const ssize_t n = fg_recv(stack_, c.fd, read_buffer_.data(), read_buffer_.size(), 0);
        if (n > 0) {
          counters_.bytes_received.add(static_cast<uint64_t>(n));
          if (++c.steps >= kMaxStepsPerTurn) {
            ready_.push_back(c.fd);
            update_deadline(c);  // a client that never stops sending still gets 2 s
            return;
          }
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          watch(c, EPOLLIN);
          update_deadline(c);
          return;
        }
        return close_connection(c);  // the client's FIN, or a reset: either way, done
      }
    }

    // Answer what is buffered.
    if (c.has_buffered_input() && can_take_request(c)) {
      const std::span<const std::byte> buffered(c.input.data() + c.input_used,
                                                c.input.size() - c.input_used);
      c.input_used += answer_requests(c, buffered, c.input_arrived);
      if (!c.has_buffered_input()) {
        c.input.clear();
        c.input_used = 0;
        if (c.input.capacity() > kKeptCapacity) std::vector<std::byte>().swap(c.input);
      }
    }

    // Send.
    if (c.output_pending() > 0 || c.streaming()) {
      const FlushResult r = flush(c);
      if (r == FlushResult::failed) return close_connection(c);
      if (r == FlushResult::blocked) {
        watch(c, EPOLLOUT);
        update_deadline(c);
        return;
      }
      // Everything is with the stack: the client's turn. A request already begun (its
      // first bytes were buffered while we were sending) is timed from now too.
      const Instant now = stack_.clock().now();
      c.idle_since = now;
      if (c.parser.started()) c.request_started = now;
    }
    if (c.closing) {
      if (c.peer_eof) return close_connection(c);  // the client is gone: nothing to wait for
      begin_linger(c);
      continue;
    }
    if (c.has_buffered_input()) {
      if (can_take_request(c)) continue;
      ready_.push_back(c.fd);  // its turn is over; more pipelined requests wait
      update_deadline(c);
      return;
    }

    // Read.
    if (c.peer_eof) return close_connection(c);  // all answered; a partial request is dropped
    if (c.steps >= kMaxStepsPerTurn) {
      ready_.push_back(c.fd);
      update_deadline(c);
      return;
    }
    ++c.steps;
    const ssize_t n = fg_recv(stack_, c.fd, read_buffer_.data(), read_buffer_.size(), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        watch(c, EPOLLIN);
        update_deadline(c);
        return;
      }
      counters_.connection_errors.add();
      return close_connection(c);
    }
    if (n == 0) {
      c.peer_eof = true;
      continue;
    }
    counters_.bytes_received.add(static_cast<uint64_t>(n));
    const Instant now = stack_.clock().now();
    const std::span<const std::byte> received(read_buffer_.data(), static_cast<size_t>(n));
    const size_t used = answer_requests(c, received, now);
    // Only read when nothing was buffered, so this is the whole of the input.
    c.input.assign(received.begin() + static_cast<std::ptrdiff_t>(used), received.end());
    c.input_used = 0;
    c.input_arrived = now;
  }
}

size_t HttpService::answer_requests(Connection& c, std::span<const std::byte> bytes,
                                    Instant arrived) {
  size_t used = 0;
  while (used < bytes.size() && can_take_request(c)) {
    const bool was_started = c.parser.started();
    // A request that begins in these bytes began when they arrived.
    if (!was_started) c.first_byte = arrived;
    used += c.parser.consume(bytes.subspan(used));
    switch (c.parser.status()) {
      case ParseStatus::incomplete:
        if (!was_started && c.parser.started()) c.request_started = stack_.clock().now();
        break;
      case ParseStatus::error:
        ++c.steps;
        respond_error(c, c.parser.error_status(), Persistence::close, false);
        time_response(c);
        return bytes.size();  // nothing after a request we could not parse can be trusted
      case ParseStatus::complete:
        ++c.steps;
        respond(c, c.parser.request());
        time_response(c);
        c.parser.reset();
        break;
    }
  }
  return used;
}

void HttpService::time_response(Connection& c) {
  // Everything queued so far, this response last: taken bytes, pending output, and what is
  // left of a streamed body.
  const uint64_t streamed_rest = c.streaming() ? c.body_end - c.body_offset : 0;
  c.timed.push_back({c.output_taken + c.output_pending() + streamed_rest, c.first_byte});
}

Persistence HttpService::persistence_for(const Connection& c, const Request& request) const {
  const uint64_t limit = options_.max_requests_per_connection;
  const bool persist = request.keep_alive() && !draining_ &&
                       options_.keepalive_timeout > Duration::zero() &&
                       (limit == 0 || c.requests < limit);
  if (!persist) return Persistence::close;
  return request.version_minor() == 0 ? Persistence::keep_alive_1_0 : Persistence::keep_alive;
}

void HttpService::respond(Connection& c, const Request& request) {
  ++c.requests;
  const Persistence persistence = persistence_for(c, request);
  const Method method = request.method();
  const bool head_only = method == Method::head;
  if (method != Method::get && !head_only) {
    // RFC 9110 9.1: "An origin server that receives a request method that is unrecognized
    // or not implemented SHOULD respond with the 501 (Not Implemented) status code. An
    // origin server that receives a request method that is recognized and implemented, but
    // not allowed for the target resource, SHOULD respond with the 405 (Method Not Allowed)
    // status code." We know the methods RFC 9110 defines; only GET and HEAD are served.
    return respond_error(c, method == Method::other ? 501 : 405, persistence, false);
  }

  ResponseHead head;
  head.date = date_.now();
  head.persistence = persistence;
  if (options_.fixed) {
    const FixedResponse& fixed = *options_.fixed;
    head.status = fixed.status;
    if (fixed.status != 204) {
      head.content_type = fixed.content_type;
      head.content_length = fixed.body.size();
    }
    append_head(c, head);
    // RFC 9110 9.3.2: HEAD is GET without the content, same fields.
    if (head_only || fixed.body.empty() || fixed.status == 204) return;
    if (fixed.body.size() <= kInlineBody) {
      c.output.append(fixed.body);
      return;
    }
    c.streaming_fixed = true;
    c.body_offset = 0;
    c.body_end = fixed.body.size();
    refill(c);  // the fixed body cannot fail to read
    return;
  }

  DocumentRoot::File file = root_->open(request.path());
  if (file.status != 200) return respond_error(c, file.status, persistence, head_only);
  head.status = 200;
  head.content_type = file.content_type;
  head.content_length = file.size;
  if (head_only || file.size == 0) {
    ::close(file.fd);
    return append_head(c, head);
  }
  // The head goes out with the first chunk of the file; if that chunk cannot be read, the
  // head is taken back and a 500 goes instead (nothing was promised yet).
  start_output(c);
  const size_t head_at = c.output.size();
  append_response_head(c.output, head);
  c.file_fd = file.fd;
  c.body_offset = 0;
  c.body_end = file.size;
  if (!refill(c)) {
    ::close(c.file_fd);
    c.file_fd = -1;
    c.output.resize(head_at);
    counters_.file_errors.add();
    return respond_error(c, 500, persistence, false);
  }
  counters_.count_response(200);
  if (persistence == Persistence::close) c.closing = true;
}

void HttpService::respond_error(Connection& c, int status, Persistence persistence,
                                bool head_only) {
  std::string body = std::to_string(status) + " " + std::string(reason_phrase(status));
  if (c.parser.status() == ParseStatus::error) {
    body += ": ";
    body += c.parser.error_reason();
  }
  body += "\n";
  ResponseHead head;
  head.status = status;
  head.date = date_.now();
  head.content_type = kErrorContentType;
  head.content_length = body.size();
  head.persistence = persistence;
  if (status == 405) head.extra_fields = kAllowGetHead;  // RFC 9110 15.5.6: MUST send Allow
  append_head(c, head);
  if (!head_only) c.output.append(body);
}

void HttpService::append_head(Connection& c, const ResponseHead& head) {
  start_output(c);
  append_response_head(c.output, head);
  counters_.count_response(head.status);
  if (head.persistence == Persistence::close) c.closing = true;
}

void HttpService::start_output(Connection& c) {
  // The send timeout counts from the moment there is something to send.
  if (c.output_pending() == 0 && !c.streaming()) c.last_send = stack_.clock().now();
  // What was sent already goes, so that positions in the output stay those of new bytes.
  if (c.output_sent > 0) {
    c.output.erase(0, c.output_sent);
    c.output_sent = 0;
  }
}

HttpService::FlushResult HttpService::flush(Connection& c) {
  for (;;) {
    if (c.output_pending() == 0) {
      c.output.clear();
      c.output_sent = 0;
      if (!c.streaming()) {
        if (c.output.capacity() > kKeptCapacity) std::string().swap(c.output);
        return FlushResult::done;
      }
      if (!refill(c)) {
        // The head announced a length the file no longer has: the response cannot be
        // completed, and only closing the connection tells the client so.
        counters_.file_errors.add();
        return FlushResult::failed;
      }
    }
    const ssize_t n = fg_send(stack_, c.fd, c.output.data() + c.output_sent, c.output_pending(), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return FlushResult::blocked;
      counters_.connection_errors.add();
      return FlushResult::failed;
    }
    c.output_sent += static_cast<size_t>(n);
    c.output_taken += static_cast<uint64_t>(n);
    counters_.bytes_sent.add(static_cast<uint64_t>(n));
    if (n > 0) {
      const Instant now = stack_.clock().now();
      c.last_send = now;
      while (!c.timed.empty() && c.timed.front().end <= c.output_taken) {
        counters_.request_duration.observe(now - c.timed.front().first_byte);
        c.timed.pop_front();
      }
    }
    // The send buffer took less than everything: it is full, EPOLLOUT brings us back.
    if (c.output_pending() > 0) return FlushResult::blocked;
  }
}

bool HttpService::refill(Connection& c) {
  if (!c.streaming()) return true;
  if (c.output_sent > 0) {
    c.output.erase(0, c.output_sent);
    c.output_sent = 0;
  }
  if (c.output.size() >= kBodyChunk) return true;  // enough waits already
  const size_t take = static_cast<size_t>(
      std::min<uint64_t>(kBodyChunk - c.output.size(), c.body_end - c.body_offset));
  if (c.streaming_fixed) {
    c.output.append(options_.fixed->body, static_cast<size_t>(c.body_offset), take);
  } else {
    const size_t at = c.output.size();
    c.output.resize(at + take);
    size_t got = 0;
    while (got < take) {
      const ssize_t n = ::pread(c.file_fd, c.output.data() + at + got, take - got,
                                static_cast<off_t>(c.body_offset + got));
      if (n > 0) {
        got += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        c.output.resize(at);  // a read error, or the file is shorter than its announced size
        return false;
      }
    }
  }
  c.body_offset += take;
  if (c.body_offset == c.body_end) {
    if (c.file_fd >= 0) ::close(c.file_fd);
    c.file_fd = -1;
    c.streaming_fixed = false;
  }
  return true;
}

void HttpService::begin_linger(Connection& c) {
  fg_shutdown(stack_, c.fd, SHUT_WR);
  c.lingering = true;
  c.linger_until = stack_.clock().now() + kLingerTimeout;
  c.input.clear();
  c.input_used = 0;
}

void HttpService::expire(Connection& c, Instant now) {
  (void)now;
  if (c.lingering) {
    counters_.linger_timeouts.add();
    return close_connection(c);
  }
  if (c.output_pending() > 0 || c.streaming()) {
    counters_.send_timeouts.add();  // the client stopped reading
    return close_connection(c);
  }
  if (c.parser.started()) {
    // RFC 9110 15.5.9: 408 "the server did not receive a complete request message within
    // the time that it was prepared to wait"; "the server SHOULD send the close connection
    // option".
    counters_.request_timeouts.add();
    c.input.clear();
    c.input_used = 0;
    respond_error(c, 408, Persistence::close, false);
    time_response(c);
    return progress(c);
  }
  counters_.idle_timeouts.add();
  close_connection(c);
}

void HttpService::watch(Connection& c, uint32_t events) {
  if (c.interest == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = c.fd;
  if (fg_epoll_ctl(stack_, epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev) == 0) c.interest = events;
}

void HttpService::update_deadline(Connection& c) {
  std::optional<Instant> wanted;
  if (c.lingering) {
    wanted = c.linger_until;
  } else if (c.output_pending() > 0 || c.streaming()) {
    wanted = c.last_send + kSendTimeout;
  } else if (c.parser.started()) {
    wanted = c.request_started + options_.request_timeout;
  } else {
    wanted =
        c.idle_since + (c.requests == 0 ? options_.request_timeout : options_.keepalive_timeout);
  }
  if (wanted == c.deadline) return;
  if (c.deadline) deadlines_.erase({*c.deadline, c.fd});
  if (wanted) deadlines_.insert({*wanted, c.fd});
  c.deadline = wanted;
}

void HttpService::close_connection(Connection& c) {
  const int fd = c.fd;
  if (c.file_fd >= 0) ::close(c.file_fd);
  if (c.deadline) deadlines_.erase({*c.deadline, fd});
  fg_close(stack_, fd);    // also leaves the epoll set
  connections_.erase(fd);  // responses still being sent were never complete: not timed
  counters_.connections_active.set(static_cast<int64_t>(connections_.size()));
}

size_t HttpService::largest_connection_buffers() const {
  size_t largest = 0;
  for (const auto& [fd, c] : connections_) {
    largest = std::max(largest, c->input.capacity() + c->output.capacity());
  }
  return largest;
}

}  // namespace flowgate::http
