#include "apps/tcp_service.hpp"

#include <netinet/in.h>
#include <sys/epoll.h>

#include <cerrno>
#include <system_error>

#include "stack/socket_api.hpp"

namespace flowgate {

namespace {
constexpr size_t kReadChunk = 64 * 1024;
constexpr int kMaxEvents = 64;
// Rounds of fg_epoll_wait per run(): enough to drain what a batch of frames made ready,
// bounded so a descriptor that stays ready without progress cannot hold the loop.
constexpr int kMaxRounds = 16;
}  // namespace

TcpService::TcpService(Stack& stack, uint16_t port, Kind kind)
    : stack_(stack),
      port_(port),
      kind_(kind),
      listen_fd_(open_tcp_listener(stack, port, kind == Kind::echo ? "tcp echo" : "tcp discard")),
      buffer_(kReadChunk) {
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
  fg_close(stack_, listen_fd_);
  fg_close(stack_, epoll_fd_);
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
    ++accepted_;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (fg_epoll_ctl(stack_, epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      ++errors_;
      fg_close(stack_, fd);
      continue;
    }
    connections_.emplace(fd, Connection{});
  }
}

bool TcpService::serve(int fd, Connection& c, uint32_t events) {
  if ((events & EPOLLERR) != 0) {
    close_connection(fd, true);
    return false;
  }
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
    bytes_received_ += static_cast<uint64_t>(n);
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
    bytes_sent_ += static_cast<uint64_t>(n);
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
  if (error) ++errors_;
  ++closed_;
  fg_close(stack_, fd);  // also leaves the epoll set
  connections_.erase(fd);
}

void TcpService::for_each_counter(
    const std::function<void(const std::string& name, uint64_t value)>& f) const {
  const std::string prefix =
      std::string(kind_ == Kind::echo ? "tcp_echo_" : "tcp_discard_") + std::to_string(port_) + "_";
  f(prefix + "accepted", accepted_);
  f(prefix + "closed", closed_);
  f(prefix + "errors", errors_);
  f(prefix + "bytes_received", bytes_received_);
  if (kind_ == Kind::echo) f(prefix + "bytes_sent", bytes_sent_);
}

}  // namespace flowgate
