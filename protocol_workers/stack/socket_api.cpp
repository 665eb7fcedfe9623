#include "stack/socket_api.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "stack/stack.hpp"

namespace flowgate {
namespace {

int fail(int err) {
  errno = err;
  return -1;
}

// Reads a sockaddr_in; returns -errno on a bad one.
int read_sockaddr(const sockaddr* addr, socklen_t len, wire::Ipv4Address& ip, uint16_t& port) {
  if (addr == nullptr || len < static_cast<socklen_t>(sizeof(sockaddr_in))) return -EINVAL;
  sockaddr_in sin;
  std::memcpy(&sin, addr, sizeof sin);
  if (sin.sin_family != AF_INET) return -EAFNOSUPPORT;
  ip = wire::Ipv4Address{ntohl(sin.sin_addr.s_addr)};
  port = ntohs(sin.sin_port);
  return 0;
}

void write_sockaddr(wire::Ipv4Address ip, uint16_t port, sockaddr* addr, socklen_t* len) {
  if (addr == nullptr || len == nullptr) return;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(ip.value);
  sin.sin_port = htons(port);
  // POSIX: the stored address is truncated to the buffer, and *len tells the full size.
  std::memcpy(addr, &sin, std::min<size_t>(*len, sizeof sin));
  *len = sizeof sin;
}

// EBADF for an unknown descriptor, ENOTSOCK for an epoll one (as Linux), else 0.
int socket_check(Stack& stack, int fd) {
  SocketSlot* s = stack.slot(fd);
  if (s == nullptr) return EBADF;
  if (s->kind == SocketKind::epoll) return ENOTSOCK;
  return 0;
}

SocketSlot* slot_of(Stack& stack, int fd, SocketKind kind) {
  SocketSlot* s = stack.slot(fd);
  return s != nullptr && s->kind == kind ? s : nullptr;
}

int read_int(const void* optval, socklen_t optlen, int& value) {
  if (optval == nullptr || optlen < static_cast<socklen_t>(sizeof(int))) return -EINVAL;
  std::memcpy(&value, optval, sizeof value);
  return 0;
}

int write_int(int value, void* optval, socklen_t* optlen) {
  if (optval == nullptr || optlen == nullptr || *optlen < static_cast<socklen_t>(sizeof(int)))
    return -EINVAL;
  std::memcpy(optval, &value, sizeof value);
  *optlen = sizeof value;
  return 0;
}

}  // namespace

int fg_socket(Stack& stack, int domain, int type, int protocol) {
  if (domain != AF_INET) return fail(EAFNOSUPPORT);
  const int base_type = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (base_type == SOCK_DGRAM) {
    if (protocol != 0 && protocol != IPPROTO_UDP) return fail(EPROTONOSUPPORT);
    return stack.allocate_fd(SocketKind::udp, stack.udp().open());
  }
  if (base_type == SOCK_STREAM) {
    if (protocol != 0 && protocol != IPPROTO_TCP) return fail(EPROTONOSUPPORT);
    return stack.allocate_fd(SocketKind::tcp, stack.tcp().open());
  }
  return fail(ESOCKTNOSUPPORT);  // as Linux, for a socket type it does not support
}

int fg_bind(Stack& stack, int fd, const sockaddr* addr, socklen_t addrlen) {
  if (int err = socket_check(stack, fd); err != 0) return fail(err);
  SocketSlot* s = stack.slot(fd);
  if (s == nullptr || s->kind == SocketKind::epoll) return fail(EBADF);
  wire::Ipv4Address ip;
  uint16_t port = 0;
  if (int rc = read_sockaddr(addr, addrlen, ip, port); rc < 0) return fail(-rc);
  const int rc = s->kind == SocketKind::udp ? stack.udp().bind(s->id, {ip, port})
                                            : stack.tcp().bind(s->id, {ip, port});
  return rc < 0 ? fail(-rc) : 0;
}

int fg_listen(Stack& stack, int fd, int backlog) {
  if (int err = socket_check(stack, fd); err != 0) return fail(err);
  SocketSlot* s = stack.slot(fd);
  if (s == nullptr) return fail(EBADF);
  if (s->kind != SocketKind::tcp) return fail(EOPNOTSUPP);
  const int rc = stack.tcp().listen(s->id, backlog);
  return rc < 0 ? fail(-rc) : 0;
}

int fg_accept(Stack& stack, int fd, sockaddr* addr, socklen_t* addrlen) {
  if (int err = socket_check(stack, fd); err != 0) return fail(err);
  SocketSlot* s = stack.slot(fd);
  if (s == nullptr) return fail(EBADF);
  if (s->kind != SocketKind::tcp) return fail(EOPNOTSUPP);
  tcp::TcpEndpoint peer;
  const int id = stack.tcp().accept(s->id, &peer, stack.clock().now());
  if (id < 0) return fail(-id);
  write_sockaddr(peer.address, peer.port, addr, addrlen);
  return stack.allocate_fd(SocketKind::tcp, id);
}

int fg_connect(Stack& stack, int fd, const sockaddr* addr, socklen_t addrlen) {
  if (int err = socket_check(stack, fd); err != 0) return fail(err);
  SocketSlot* s = stack.slot(fd);
  if (s == nullptr) return fail(EBADF);
  if (s->kind != SocketKind::tcp) return fail(EOPNOTSUPP);
  wire::Ipv4Address ip;
  uint16_t port = 0;
  if (int rc = read_sockaddr(addr, addrlen, ip, port); rc < 0) return fail(-rc);
  const int rc = stack.tcp().connect(s->id, {ip, port}, stack.clock().now());
  // A failed attempt given up (ECONNABORTED) leaves an unconnected socket, whose readiness
  // differs; an attempt started reports through its connection.
  stack.readiness_may_have_changed(fd);
  return rc < 0 ? fail(-rc) : 0;
}

ssize_t fg_send(Stack& stack, int fd, const void* buf, size_t len, int flags) {
  SocketSlot* s = slot_of(stack, fd, SocketKind::tcp);
  if (s == nullptr) return fail(stack.slot(fd) ? ENOTSOCK : EBADF);
  if ((flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL)) != 0) return fail(EOPNOTSUPP);
  if (buf == nullptr && len != 0) return fail(EFAULT);
  const long rc = stack.tcp().send(s->id, wire::Bytes(static_cast<const std::byte*>(buf), len),
                                   stack.clock().now());
  return rc < 0 ? fail(static_cast<int>(-rc)) : rc;
}

ssize_t fg_recv(Stack& stack, int fd, void* buf, size_t len, int flags) {
  SocketSlot* s = slot_of(stack, fd, SocketKind::tcp);
  if (s == nullptr) return fail(stack.slot(fd) ? ENOTSOCK : EBADF);
  if ((flags & ~(MSG_DONTWAIT | MSG_PEEK)) != 0) return fail(EOPNOTSUPP);
  if (buf == nullptr && len != 0) return fail(EFAULT);
  const long rc = stack.tcp().receive(s->id, wire::MutableBytes(static_cast<std::byte*>(buf), len),
                                      (flags & MSG_PEEK) != 0, stack.clock().now());
  return rc < 0 ? fail(static_cast<int>(-rc)) : rc;
}

ssize_t fg_sendto(Stack& stack, int fd, const void* buf, size_t len, int flags,
                  const sockaddr* dest_addr, socklen_t addrlen) {
  SocketSlot* s = slot_of(stack, fd, SocketKind::udp);
  if (s == nullptr) {
    // On a TCP socket sendto without an address is send (POSIX).
    if (slot_of(stack, fd, SocketKind::tcp) != nullptr && dest_addr == nullptr)
      return fg_send(stack, fd, buf, len, flags);
    return fail(stack.slot(fd) ? EISCONN : EBADF);
  }
  if ((flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL)) != 0) return fail(EOPNOTSUPP);
  if (dest_addr == nullptr) return fail(EDESTADDRREQ);
  if (buf == nullptr && len != 0) return fail(EFAULT);
  UdpEndpoint to;
  if (int rc = read_sockaddr(dest_addr, addrlen, to.address, to.port); rc < 0) return fail(-rc);
  const long rc = stack.udp().send_to(s->id, wire::Bytes(static_cast<const std::byte*>(buf), len),
                                      to, stack.clock().now());
  if (rc < 0) return fail(static_cast<int>(-rc));
  return rc;
}

ssize_t fg_recvfrom(Stack& stack, int fd, void* buf, size_t len, int flags, sockaddr* src_addr,
                    socklen_t* addrlen) {
  SocketSlot* s = slot_of(stack, fd, SocketKind::udp);
  if (s == nullptr) {
    if (slot_of(stack, fd, SocketKind::tcp) != nullptr) {
      const ssize_t n = fg_recv(stack, fd, buf, len, flags & ~MSG_TRUNC);
      if (n >= 0 && src_addr != nullptr) fg_getpeername(stack, fd, src_addr, addrlen);
      return n;
    }
    return fail(EBADF);
  }
  if ((flags & ~(MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC)) != 0) return fail(EOPNOTSUPP);
  if (buf == nullptr && len != 0) return fail(EFAULT);
  UdpEndpoint from;
  const long full = stack.udp().receive_from(
      s->id, wire::MutableBytes(static_cast<std::byte*>(buf), len), &from, (flags & MSG_PEEK) != 0);
  if (full < 0) return fail(static_cast<int>(-full));
  write_sockaddr(from.address, from.port, src_addr, addrlen);
  if ((flags & MSG_TRUNC) != 0) return full;
  return std::min<long>(full, static_cast<long>(len));
}

int fg_shutdown(Stack& stack, int fd, int how) {
  SocketSlot* s = stack.slot(fd);
  if (s == nullptr) return fail(EBADF);
  if (s->kind != SocketKind::tcp) return fail(s->kind == SocketKind::udp ? ENOTCONN : ENOTSOCK);
  const int rc = stack.tcp().shutdown(s->id, how, stack.clock().now());
  return rc < 0 ? fail(-rc) : 0;
}

int fg_getsockname(Stack& stack, int fd, sockaddr* addr, socklen_t* addrlen) {
  if (int err = socket_check(stack, fd); err != 0) return fail(err);
  SocketSlot* s = stack.slot(fd);
  if (s == nullptr || s->kind == SocketKind::epoll) return fail(EBADF);
  if (addr == nullptr || addrlen == nullptr) return fail(EFAULT);
  if (s->kind == SocketKind::udp) {
    UdpSocket* u = stack.udp().socket(s->id);
    write_sockaddr(u->local_address, u->local_port, addr, addrlen);
    return 0;
  }
  tcp::TcpEndpoint ep;
  if (int rc = stack.tcp().local_endpoint(s->id, &ep); rc < 0) return fail(-rc);
  write_sockaddr(ep.address, ep.port, addr, addrlen);
  return 0;
}

int fg_getpeername(Stack& stack, int fd, sockaddr* addr, socklen_t* addrlen) {
  if (int err = socket_check(stack, fd); err != 0) return fail(err);
  SocketSlot* s = stack.slot(fd);
  if (s == nullptr || s->kind == SocketKind::epoll) return fail(EBADF);
  if (addr == nullptr || addrlen == nullptr) return fail(EFAULT);
  if (s->kind != SocketKind::tcp) return fail(ENOTCONN);
  tcp::TcpEndpoint ep;
  if (int rc = stack.tcp().peer_endpoint(s->id, &ep); rc < 0) return fail(-rc);
  write_sockaddr(ep.address, ep.port, addr, addrlen);
  return 0;
}

int fg_setsockopt(Stack& stack, int fd, int level, int optname, const void* optval,
                  socklen_t optlen) {
  if (int err = socket_check(stack, fd); err != 0) return fail(err);
  SocketSlot* s = stack.slot(fd);
  if (s == nullptr || s->kind == SocketKind::epoll) return fail(EBADF);
  if (level == SOL_SOCKET && optname == SO_LINGER) {
    if (s->kind != SocketKind::tcp) return fail(ENOPROTOOPT);
    if (optval == nullptr || optlen < static_cast<socklen_t>(sizeof(linger))) return fail(EINVAL);
    linger l;
    std::memcpy(&l, optval, sizeof l);
    auto& o = stack.tcp().socket(s->id)->options;
    if (l.l_onoff != 0) {
      o.linger = std::chrono::seconds(std::max(l.l_linger, 0));
    } else {
      o.linger.reset();
    }
    stack.tcp().apply_options(s->id, stack.clock().now());
    return 0;
  }
  int value = 0;
  if (int rc = read_int(optval, optlen, value); rc < 0) return fail(-rc);
  if (s->kind == SocketKind::udp) {
    UdpSocket* u = stack.udp().socket(s->id);
    if (level == SOL_SOCKET && optname == SO_RCVBUF) {
      if (value < 0) return fail(EINVAL);
      // Linux doubles the value for bookkeeping; we count payload bytes only, so the value is
      // taken as given, with a floor of one small datagram's worth.
      u->receive_buffer = std::max<size_t>(static_cast<size_t>(value), 2048);
      return 0;
    }
    if (level == SOL_SOCKET && optname == SO_REUSEADDR) return 0;
    return fail(ENOPROTOOPT);
  }
  tcp::TcpSocket* t = stack.tcp().socket(s->id);
  auto& o = t->options;
  tcp::Connection* c = stack.tcp().connection_of(s->id);
  (void)c;
  auto apply = [&] {
    stack.tcp().apply_options(s->id, stack.clock().now());
    return 0;
  };
  auto seconds = [&](Duration& field) {
    if (value < 1 || value > 32767) return fail(EINVAL);
    field = std::chrono::seconds(value);
    return apply();
  };
  if (level == SOL_SOCKET) {
    switch (optname) {
      case SO_REUSEADDR:
        t->reuse_address = value != 0;
        return 0;
      case SO_KEEPALIVE:
        o.keepalive = value != 0;
        return apply();
      case SO_RCVBUF:
      case SO_SNDBUF:
        if (value < 0) return fail(EINVAL);
        // Applies to connections opened afterwards (accepted or connected), as the window
        // scale is fixed in the SYN.
        (optname == SO_RCVBUF ? o.receive_buffer : o.send_buffer) =
            std::clamp<uint32_t>(static_cast<uint32_t>(value), 4096, 64u << 20);
        return 0;
      default:
        return fail(ENOPROTOOPT);
    }
  }
  if (level == IPPROTO_TCP) {
    switch (optname) {
      case TCP_NODELAY:
        o.nodelay = value != 0;
        return apply();
      case TCP_KEEPIDLE:
        return seconds(o.keepalive_idle);
      case TCP_KEEPINTVL:
        return seconds(o.keepalive_interval);
      case TCP_KEEPCNT:
        if (value < 1 || value > 127) return fail(EINVAL);
        o.keepalive_count = static_cast<uint32_t>(value);
        return apply();
      default:
        return fail(ENOPROTOOPT);
    }
  }
  return fail(ENOPROTOOPT);
}

int fg_getsockopt(Stack& stack, int fd, int level, int optname, void* optval, socklen_t* optlen) {
  if (int err = socket_check(stack, fd); err != 0) return fail(err);
  SocketSlot* s = stack.slot(fd);
  if (s == nullptr || s->kind == SocketKind::epoll) return fail(EBADF);
  if (s->kind == SocketKind::udp) {
    UdpSocket* u = stack.udp().socket(s->id);
    if (level != SOL_SOCKET) return fail(ENOPROTOOPT);
    int value = 0;
    switch (optname) {
      case SO_RCVBUF:
        value = static_cast<int>(u->receive_buffer);
        break;
      case SO_ERROR:
        value = u->pending_error;
        u->pending_error = 0;
        break;
      case SO_TYPE:
        value = SOCK_DGRAM;
        break;
      default:
        return fail(ENOPROTOOPT);
    }
    const int rc = write_int(value, optval, optlen);
    return rc < 0 ? fail(-rc) : 0;
  }
  tcp::TcpSocket* t = stack.tcp().socket(s->id);
  const auto& o = t->options;
  if (level == IPPROTO_TCP && optname == TCP_INFO) {
    tcp::Connection* c = stack.tcp().connection_of(s->id);
    if (optval == nullptr || optlen == nullptr ||
        *optlen < static_cast<socklen_t>(sizeof(tcp::ConnectionInfo)))
      return fail(EINVAL);
    tcp::ConnectionInfo info;
    if (c != nullptr) info = c->info();
    if (t->listener) info.state = tcp::TcpState::listen;
    std::memcpy(optval, &info, sizeof info);
    *optlen = sizeof info;
    return 0;
  }
  if (level == SOL_SOCKET && optname == SO_LINGER) {
    if (optval == nullptr || optlen == nullptr || *optlen < static_cast<socklen_t>(sizeof(linger)))
      return fail(EINVAL);
    linger l{};
    l.l_onoff = o.linger ? 1 : 0;
    l.l_linger =
        o.linger
            ? static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(*o.linger).count())
            : 0;
    std::memcpy(optval, &l, sizeof l);
    *optlen = sizeof l;
    return 0;
  }
  int value = 0;
  if (level == SOL_SOCKET) {
    switch (optname) {
      case SO_ERROR:
        value = stack.tcp().take_error(s->id);
        break;
      case SO_TYPE:
        value = SOCK_STREAM;
        break;
      case SO_REUSEADDR:
        value = t->reuse_address ? 1 : 0;
        break;
      case SO_KEEPALIVE:
        value = o.keepalive ? 1 : 0;
        break;
      case SO_RCVBUF:
        value = static_cast<int>(o.receive_buffer);
        break;
      case SO_SNDBUF:
        value = static_cast<int>(o.send_buffer);
        break;
      default:
        return fail(ENOPROTOOPT);
    }
  } else if (level == IPPROTO_TCP) {
    switch (optname) {
      case TCP_NODELAY:
        value = o.nodelay ? 1 : 0;
        break;
      case TCP_KEEPIDLE:
        value = static_cast<int>(
            std::chrono::duration_cast<std::chrono::seconds>(o.keepalive_idle).count());
        break;
      case TCP_KEEPINTVL:
        value = static_cast<int>(
            std::chrono::duration_cast<std::chrono::seconds>(o.keepalive_interval).count());
        break;
      case TCP_KEEPCNT:
        value = static_cast<int>(o.keepalive_count);
        break;
      default:
        return fail(ENOPROTOOPT);
    }
  } else {
    return fail(ENOPROTOOPT);
  }
  const int rc = write_int(value, optval, optlen);
  return rc < 0 ? fail(-rc) : 0;
}

int fg_close(Stack& stack, int fd) {
  SocketSlot* slot = stack.slot(fd);
  if (slot == nullptr) return fail(EBADF);
  switch (slot->kind) {
    case SocketKind::udp:
      stack.udp().close(slot->id);
      break;
    case SocketKind::tcp:
      stack.tcp().close(slot->id, stack.clock().now());
      break;
    case SocketKind::epoll: {
      // The descriptors it watched are watched by one set fewer.
      auto& sets = stack.epoll_sets();
      if (auto it = sets.find(slot->id); it != sets.end()) {
        for (const auto& [watched, interest] : it->second.interest) {
          if (SocketSlot* w = stack.slot(watched); w != nullptr && w->watchers > 0) --w->watchers;
        }
        sets.erase(it);
      }
      break;
    }
    case SocketKind::none:
      break;
  }
  // Like the kernel, a closed descriptor leaves every epoll set it was in (its place on a
  // ready list goes with the registration).
  if (slot->watchers > 0) {
    for (auto& [id, set] : stack.epoll_sets()) set.interest.erase(fd);
  }
  stack.release_fd(fd);
  return 0;
}

namespace {

uint32_t readiness(Stack& stack, int fd) {
  SocketSlot* s = stack.slot(fd);
  if (s == nullptr) return 0;
  if (s->kind == SocketKind::tcp) return stack.tcp().poll_events(s->id);
  if (s->kind == SocketKind::udp) {
    UdpSocket* u = stack.udp().socket(s->id);
    uint32_t ev = EPOLLOUT;
    if (!u->receive_queue.empty()) ev |= EPOLLIN;
    if (u->pending_error != 0) ev |= EPOLLERR;
    return ev;
  }
  return 0;
}

uint64_t event_signature(Stack& stack, int fd) {
  SocketSlot* s = stack.slot(fd);
  if (s == nullptr) return 0;
  if (s->kind == SocketKind::tcp) return stack.tcp().event_signature(s->id);
  if (s->kind == SocketKind::udp) return stack.udp().socket(s->id)->datagrams_queued;
  return 0;
}

}  // namespace

int fg_epoll_create(Stack& stack) {
  const int id = stack.new_epoll_id();
  stack.epoll_sets()[id] = EpollSet{};
  return stack.allocate_fd(SocketKind::epoll, id);
}

int fg_epoll_ctl(Stack& stack, int epfd, int op, int fd, epoll_event* event) {
  if (stack.slot(epfd) == nullptr) return fail(EBADF);
  SocketSlot* e = slot_of(stack, epfd, SocketKind::epoll);
  if (e == nullptr) return fail(EINVAL);  // "epfd is not an epoll file descriptor"

  SocketSlot* target = stack.slot(fd);
  if (target == nullptr) return fail(EBADF);
  if (target->kind == SocketKind::epoll || fd == epfd) return fail(EINVAL);
  EpollSet& set = stack.epoll_sets().at(e->id);
  // Only TCP sockets report their changes (tcp::ReadinessObserver); the others are looked
  // at by every wait.
  const bool always_queued = target->kind != SocketKind::tcp;
  switch (op) {
    case EPOLL_CTL_ADD:
      if (event == nullptr) return fail(EFAULT);
      if (set.interest.contains(fd)) return fail(EEXIST);
      set.register_interest(fd, *event, always_queued);
      ++target->watchers;
      return 0;
    case EPOLL_CTL_MOD:
      if (event == nullptr) return fail(EFAULT);
      if (!set.interest.contains(fd)) return fail(ENOENT);
      // A fresh registration: re-arms EPOLLONESHOT, and an edge-triggered entry reports the
      // readiness present now again (as Linux's ep_modify re-polls the file).
      set.register_interest(fd, *event, always_queued);
      return 0;
    case EPOLL_CTL_DEL:
      if (set.interest.erase(fd) == 0) return fail(ENOENT);
      --target->watchers;
      return 0;
    default:
      return fail(EINVAL);
  }
}

int fg_epoll_wait(Stack& stack, int epfd, epoll_event* events, int maxevents, int timeout) {
  (void)timeout;
  if (stack.slot(epfd) == nullptr) return fail(EBADF);
  SocketSlot* e = slot_of(stack, epfd, SocketKind::epoll);
  if (e == nullptr) return fail(EINVAL);
  if (events == nullptr || maxevents <= 0) return fail(EINVAL);
  EpollSet& set = stack.epoll_sets().at(e->id);
  // Looks at what is on the ready list, each entry at most once per call (those put back at
  // the tail wait for the next call): O(queued), whatever the size of the set.
  // Returns whether the entry stays on the list.
  int n = 0;
  auto visit = [&](int fd, EpollInterest& interest) {
    if (interest.disarmed) return false;
    // EPOLLERR and EPOLLHUP are always reported, as by the kernel.
    const uint32_t wanted = interest.events | EPOLLERR | EPOLLHUP;
    const uint32_t ready = readiness(stack, fd) & wanted;
    if (ready == 0) {
      interest.last_ready = 0;
      return interest.always_queued;
    }
    if ((interest.events & EPOLLET) != 0) {
      // Edge-triggered: report again only when something happened since the last report:
      // a new readiness bit, or a new event on the socket (more data, a freed send buffer).
      const uint64_t signature = event_signature(stack, fd);
      const bool fresh =
          (ready & ~interest.last_ready) != 0 || signature != interest.last_signature;
      interest.last_ready = ready;
      interest.last_signature = signature;
      if (!fresh) return interest.always_queued;
    }
    events[n].events = ready;
    events[n].data = interest.data;
    ++n;
    if ((interest.events & EPOLLONESHOT) != 0) {
      interest.disarmed = true;
      return false;
    }
    // Level-triggered: at the tail, to be looked at (and reported while ready) next time.
    return (interest.events & EPOLLET) == 0 || interest.always_queued;
  };
  for (size_t budget = set.ready.size(); budget > 0 && n < maxevents; --budget) {
    const EpollReady entry = set.ready.front();
    set.ready.pop_front();
    const auto it = set.interest.find(entry.fd);
    if (it == set.interest.end() || it->second.ticket != entry.ticket) continue;  // stale
    if (visit(entry.fd, it->second)) {
      set.ready.push_back(entry);
    } else {
      it->second.queued = false;
    }
  }
  return n;
}

}  // namespace flowgate
