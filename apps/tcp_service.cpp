#include "apps/tcp_service.hpp"

#include <netinet/in.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <system_error>

#include "stack/socket_api.hpp"

namespace flowgate {

namespace {
constexpr size_t kReadChunk = 64 * 1024;
constexpr int kMaxEvents = 64;
// Rounds of fg_epoll_wait per run(): enough to drain what a batch of frames made ready,
// bounded so a descriptor that stays ready without progress cannot hold the loop.
constexpr int kMaxRounds = 16;

const char* kind_name(TcpService::Kind kind) {
  switch (kind) {
    case TcpService::Kind::echo:
      return "echo";
    case TcpService::Kind::discard:
      return "discard";
    case TcpService::Kind::chargen:
      return "chargen";
  }
  return "?";
}

// RFC 864's suggested pattern: lines of 72 printable ASCII characters (the 95 from ' ' to
// '~', each line starting one character further on), ended by CR LF.
constexpr uint64_t kChargenLine = 74;
std::byte chargen_byte(uint64_t position) {
  const uint64_t line = position / kChargenLine;
  const uint64_t column = position % kChargenLine;
  if (column == 72) return std::byte{'\r'};
  if (column == 73) return std::byte{'\n'};
  return static_cast<std::byte>(' ' + (line + column) % 95);
}

}  // namespace

TcpService::TcpService(Stack& stack, uint16_t port, Kind kind, metrics::AppMetricsWriter& metrics,
                       const std::string& listener, uint64_t chargen_bytes)
    : stack_(stack),
      kind_(kind),
      chargen_bytes_(chargen_bytes),
      listen_fd_(open_tcp_listener(stack, port, std::string("tcp ") + kind_name(kind))),
      buffer_(kReadChunk),
      accepted_(metrics.counter(metrics::AppFamily::listener_connections_accepted, {listener})),
      active_(metrics.gauge(metrics::AppFamily::listener_connections_active, {listener})),
      errors_(metrics.counter(metrics::AppFamily::listener_errors, {listener})),
      bytes_received_(metrics.counter(metrics::AppFamily::listener_received_bytes, {listener})),
      bytes_sent_(metrics.counter(metrics::AppFamily::listener_sent_bytes, {listener})) {
  epoll_fd_ = fg_epoll_create(stack_);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  if (epoll_fd_ < 0 || fg_epoll_ctl(stack_, epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) < 0) {
    const int err = errno;
    if (epoll_fd_ >= 0) fg_close(stack_, epoll_fd_);
    fg_close(stack_, listen_fd_);
    throw std::system_error(err, std::generic_category(),
                            "tcp service on port " + std::to_string(port) + ": epoll");
  }
}

TcpService::~TcpService() {
  for (const auto& [fd, c] : connections_) fg_close(stack_, fd);
  if (listen_fd_ >= 0) fg_close(stack_, listen_fd_);
  fg_close(stack_, epoll_fd_);
}

void TcpService::stop_accepting() {
  if (listen_fd_ < 0) return;
  // Closing the listener also resets the handshakes still in its queues: they were never
  // accepted, so no application data is lost.
  fg_close(stack_, listen_fd_);
  listen_fd_ = -1;
}

void TcpService::run() {
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
      if (it != connections_.end()) serve(fd, it->second, events[i].events);
    }
  }
}

void TcpService::accept_all() {
  for (;;) {
    const int fd = fg_accept(stack_, listen_fd_, nullptr, nullptr);
    if (fd < 0) return;  // EAGAIN: no more completed handshakes
    accepted_.add();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (fg_epoll_ctl(stack_, epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      errors_.add();
      fg_close(stack_, fd);
      continue;
    }
    auto [it, inserted] = connections_.emplace(fd, Connection{});
    active_.set(static_cast<int64_t>(connections_.size()));
    // Chargen talks first: it waits for room to send, not for input.
    if (kind_ == Kind::chargen) {
      watch(fd, it->second, true);
      if (!serve_chargen(fd, it->second)) continue;
    }
  }
}

bool TcpService::serve_chargen(int fd, Connection& c) {
  // Whatever the client sends is thrown away; its FIN ends an unlimited stream.
  while (!c.eof) {
    const ssize_t n = fg_recv(stack_, fd, buffer_.data(), buffer_.size(), 0);
    if (n == 0) {
      c.eof = true;
    } else if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_connection(fd, true);
      return false;
    } else {
      bytes_received_.add(static_cast<uint64_t>(n));
    }
  }
  if (c.eof && chargen_bytes_ == 0) {
    close_connection(fd, false);
    return false;
  }
  for (;;) {
    uint64_t want = buffer_.size();
    if (chargen_bytes_ != 0) want = std::min<uint64_t>(want, chargen_bytes_ - c.generated);
    if (want == 0) {
      // All sent: our FIN follows the data, then the descriptor goes.
      fg_shutdown(stack_, fd, SHUT_WR);
      close_connection(fd, false);
      return false;
    }
    for (uint64_t i = 0; i < want; ++i)
      buffer_[i] = static_cast<uint8_t>(chargen_byte(c.generated + i));
    const ssize_t n = fg_send(stack_, fd, buffer_.data(), want, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;  // EPOLLOUT brings us back
      close_connection(fd, true);
      return false;
    }
    c.generated += static_cast<uint64_t>(n);
    bytes_sent_.add(static_cast<uint64_t>(n));
  }
}

bool TcpService::serve(int fd, Connection& c, uint32_t events) {
  if ((events & EPOLLERR) != 0) {
    close_connection(fd, true);
    return false;
  }
  if (kind_ == Kind::chargen) return serve_chargen(fd, c);
  if (!flush(fd, c)) {
    close_connection(fd, true);
    return false;
  }
  const bool blocked = c.pending_sent < c.pending.size();
  while (!blocked && !c.eof) {
    const ssize_t n = fg_recv(stack_, fd, buffer_.data(), buffer_.size(), 0);
    if (n == 0) {
      c.eof = true;
      break;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_connection(fd, true);
      return false;
    }
    bytes_received_.add(static_cast<uint64_t>(n));
    if (kind_ == Kind::discard) continue;
    c.pending.assign(buffer_.begin(), buffer_.begin() + n);
    c.pending_sent = 0;
    if (!flush(fd, c)) {
      close_connection(fd, true);
      return false;
    }
    if (c.pending_sent < c.pending.size()) break;  // back-pressure: stop reading
  }
  const bool has_pending = c.pending_sent < c.pending.size();
  if (c.eof && !has_pending) {
    fg_shutdown(stack_, fd, SHUT_WR);
    close_connection(fd, false);
    return false;
  }
  watch(fd, c, has_pending);
  return true;
}

bool TcpService::flush(int fd, Connection& c) {
  while (c.pending_sent < c.pending.size()) {
    const ssize_t n = fg_send(stack_, fd, c.pending.data() + c.pending_sent,
                              c.pending.size() - c.pending_sent, 0);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    c.pending_sent += static_cast<size_t>(n);
    bytes_sent_.add(static_cast<uint64_t>(n));
  }
  c.pending.clear();
  c.pending_sent = 0;
  return true;
}

void TcpService::watch(int fd, Connection& c, bool want_out) {
  if (c.waiting_out == want_out) return;
  epoll_event ev{};
  ev.events = want_out ? EPOLLOUT : EPOLLIN;
  ev.data.fd = fd;
  if (fg_epoll_ctl(stack_, epoll_fd_, EPOLL_CTL_MOD, fd, &ev) == 0) c.waiting_out = want_out;
}

void TcpService::close_connection(int fd, bool error) {
  if (error) errors_.add();
  fg_close(stack_, fd);  // also leaves the epoll set
  connections_.erase(fd);
  active_.set(static_cast<int64_t>(connections_.size()));
}

}  // namespace flowgate
