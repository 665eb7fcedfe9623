#include "stack/socket_api.hpp"

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
int read_sockaddr(const sockaddr* addr, socklen_t len, UdpEndpoint& out) {
  if (addr == nullptr || len < static_cast<socklen_t>(sizeof(sockaddr_in))) return -EINVAL;
  sockaddr_in sin;
  std::memcpy(&sin, addr, sizeof sin);
  if (sin.sin_family != AF_INET) return -EAFNOSUPPORT;
  out.address = wire::Ipv4Address{ntohl(sin.sin_addr.s_addr)};
  out.port = ntohs(sin.sin_port);
  return 0;
}

void write_sockaddr(UdpEndpoint ep, sockaddr* addr, socklen_t* len) {
  if (addr == nullptr || len == nullptr) return;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(ep.address.value);
  sin.sin_port = htons(ep.port);
  // POSIX: the stored address is truncated to the buffer, and *len tells the full size.
  std::memcpy(addr, &sin, std::min<size_t>(*len, sizeof sin));
  *len = sizeof sin;
}

UdpSocket* udp_socket(Stack& stack, int fd, int& id) {
  SocketSlot* slot = stack.slot(fd);
  if (slot == nullptr || slot->kind != SocketKind::udp) return nullptr;
  id = slot->id;
  return stack.udp().socket(id);
}

}  // namespace

int fg_socket(Stack& stack, int domain, int type, int protocol) {
  if (domain != AF_INET) return fail(EAFNOSUPPORT);
  const int base_type = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (base_type != SOCK_DGRAM) return fail(EPROTONOSUPPORT);
  if (protocol != 0 && protocol != IPPROTO_UDP) return fail(EPROTONOSUPPORT);
  return stack.allocate_fd(SocketKind::udp, stack.udp().open());
}

int fg_bind(Stack& stack, int fd, const sockaddr* addr, socklen_t addrlen) {
  int id = 0;
  if (udp_socket(stack, fd, id) == nullptr) return fail(EBADF);
  UdpEndpoint local;
  if (int rc = read_sockaddr(addr, addrlen, local); rc < 0) return fail(-rc);
  if (int rc = stack.udp().bind(id, local); rc < 0) return fail(-rc);
  return 0;
}

ssize_t fg_sendto(Stack& stack, int fd, const void* buf, size_t len, int flags,
                  const sockaddr* dest_addr, socklen_t addrlen) {
  int id = 0;
  if (udp_socket(stack, fd, id) == nullptr) return fail(EBADF);
  if ((flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL)) != 0) return fail(EOPNOTSUPP);
  if (dest_addr == nullptr) return fail(EDESTADDRREQ);
  if (buf == nullptr && len != 0) return fail(EFAULT);
  UdpEndpoint to;
  if (int rc = read_sockaddr(dest_addr, addrlen, to); rc < 0) return fail(-rc);
  const long rc = stack.udp().send_to(id, wire::Bytes(static_cast<const std::byte*>(buf), len), to,
                                      stack.clock().now());
  if (rc < 0) return fail(static_cast<int>(-rc));
  return rc;
}

ssize_t fg_recvfrom(Stack& stack, int fd, void* buf, size_t len, int flags, sockaddr* src_addr,
                    socklen_t* addrlen) {
  int id = 0;
  if (udp_socket(stack, fd, id) == nullptr) return fail(EBADF);
  if ((flags & ~(MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC)) != 0) return fail(EOPNOTSUPP);
  if (buf == nullptr && len != 0) return fail(EFAULT);
  UdpEndpoint from;
  const long full = stack.udp().receive_from(
      id, wire::MutableBytes(static_cast<std::byte*>(buf), len), &from, (flags & MSG_PEEK) != 0);
  if (full < 0) return fail(static_cast<int>(-full));
  write_sockaddr(from, src_addr, addrlen);
  if ((flags & MSG_TRUNC) != 0) return full;
  return std::min<long>(full, static_cast<long>(len));
}

int fg_getsockname(Stack& stack, int fd, sockaddr* addr, socklen_t* addrlen) {
  int id = 0;
  UdpSocket* s = udp_socket(stack, fd, id);
  if (s == nullptr) return fail(EBADF);
  if (addr == nullptr || addrlen == nullptr) return fail(EFAULT);
  write_sockaddr({s->local_address, s->local_port}, addr, addrlen);
  return 0;
}

int fg_setsockopt(Stack& stack, int fd, int level, int optname, const void* optval,
                  socklen_t optlen) {
  int id = 0;
  UdpSocket* s = udp_socket(stack, fd, id);
  if (s == nullptr) return fail(EBADF);
  if (optval == nullptr || optlen < static_cast<socklen_t>(sizeof(int))) return fail(EINVAL);
  int value = 0;
  std::memcpy(&value, optval, sizeof value);
  if (level == SOL_SOCKET && optname == SO_RCVBUF) {
    if (value < 0) return fail(EINVAL);
    // Linux doubles the value to leave room for bookkeeping; we count payload bytes only,
    // so the value is taken as given, with a floor of one maximum datagram's worth.
    s->receive_buffer = std::max<size_t>(static_cast<size_t>(value), 2048);
    return 0;
  }
  return fail(ENOPROTOOPT);
}

int fg_getsockopt(Stack& stack, int fd, int level, int optname, void* optval, socklen_t* optlen) {
  int id = 0;
  UdpSocket* s = udp_socket(stack, fd, id);
  if (s == nullptr) return fail(EBADF);
  if (optval == nullptr || optlen == nullptr || *optlen < static_cast<socklen_t>(sizeof(int)))
    return fail(EINVAL);
  int value = 0;
  if (level != SOL_SOCKET) return fail(ENOPROTOOPT);
  switch (optname) {
    case SO_RCVBUF:
      value = static_cast<int>(s->receive_buffer);
      break;
    case SO_ERROR:
      value = s->pending_error;
      s->pending_error = 0;
      break;
    case SO_TYPE:
      value = SOCK_DGRAM;
      break;
    default:
      return fail(ENOPROTOOPT);
  }
  std::memcpy(optval, &value, sizeof value);
  *optlen = sizeof value;
  return 0;
}

int fg_close(Stack& stack, int fd) {
  SocketSlot* slot = stack.slot(fd);
  if (slot == nullptr) return fail(EBADF);
  if (slot->kind == SocketKind::udp) stack.udp().close(slot->id);
  stack.release_fd(fd);
  return 0;
}

}  // namespace flowgate
