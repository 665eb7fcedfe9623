// The POSIX-like socket API. Same signatures and semantics as the BSD calls, with the Stack
// as an explicit first argument (no global "current stack"): every call is non-blocking,
// returns -1 and sets errno on failure, and uses the usual sockaddr_in structures.
// Descriptors are the stack's own small integers, not kernel file descriptors.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "tcp/connection.hpp"

namespace flowgate {

class Stack;

// AF_INET with SOCK_STREAM (TCP) or SOCK_DGRAM (UDP); protocol 0 or the matching IPPROTO_*.
// SOCK_NONBLOCK and SOCK_CLOEXEC are accepted and ignored: every socket is non-blocking.
int fg_socket(Stack& stack, int domain, int type, int protocol);
// EADDRNOTAVAIL unless the address is INADDR_ANY or ours; EADDRINUSE if the port is taken
// (SO_REUSEADDR on both sockets lets a non-listening one share it); port 0 picks an
// ephemeral port; EINVAL if already bound.
int fg_bind(Stack& stack, int fd, const sockaddr* addr, socklen_t addrlen);
// TCP. `backlog` bounds the accept queue as on Linux (backlog + 1 may wait; see tcp/tcp.hpp
// for what happens when it is full); a second call changes it.
int fg_listen(Stack& stack, int fd, int backlog);
// TCP. Returns a connection whose handshake completed (never a half-open one), or EAGAIN.
int fg_accept(Stack& stack, int fd, sockaddr* addr, socklen_t* addrlen);
// TCP: sends the SYN and returns -1/EINPROGRESS; completion shows as EPOLLOUT, failure as
// SO_ERROR (ECONNREFUSED, ETIMEDOUT). Calling again: EALREADY while connecting, EISCONN
// once connected, or the error that ended the attempt. UDP: not supported (EOPNOTSUPP).
int fg_connect(Stack& stack, int fd, const sockaddr* addr, socklen_t addrlen);
// TCP. EAGAIN when the send buffer is full; EPIPE after shutdown(SHUT_WR) or the peer's
// reset has been reported; ENOTCONN before connecting.
ssize_t fg_send(Stack& stack, int fd, const void* buf, size_t len, int flags);
// TCP. 0 at end of stream (the peer's FIN), EAGAIN when nothing is buffered, ECONNRESET
// once after a reset. MSG_PEEK leaves the data buffered.
ssize_t fg_recv(Stack& stack, int fd, void* buf, size_t len, int flags);
// UDP. Binds an ephemeral port first if needed. EMSGSIZE beyond 65507 bytes; ENETUNREACH
// with no route. A datagram waiting for ARP counts as sent, as on Linux.
ssize_t fg_sendto(Stack& stack, int fd, const void* buf, size_t len, int flags,
                  const sockaddr* dest_addr, socklen_t addrlen);
// UDP. EAGAIN when nothing is queued. A datagram longer than `len` is truncated and its rest
// discarded; with MSG_TRUNC the full length is returned. MSG_PEEK leaves it queued.
ssize_t fg_recvfrom(Stack& stack, int fd, void* buf, size_t len, int flags, sockaddr* src_addr,
                    socklen_t* addrlen);
// TCP: SHUT_WR sends FIN after the buffered data (half-close); SHUT_RD discards later data.
int fg_shutdown(Stack& stack, int fd, int how);
int fg_getsockname(Stack& stack, int fd, sockaddr* addr, socklen_t* addrlen);
int fg_getpeername(Stack& stack, int fd, sockaddr* addr, socklen_t* addrlen);
// SOL_SOCKET: SO_RCVBUF, SO_SNDBUF, SO_REUSEADDR, SO_KEEPALIVE, SO_LINGER; IPPROTO_TCP:
// TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT. Buffer sizes apply to connections
// opened afterwards.
int fg_setsockopt(Stack& stack, int fd, int level, int optname, const void* optval,
                  socklen_t optlen);
// Also SO_ERROR (clears it), SO_TYPE, and IPPROTO_TCP/TCP_INFO, which fills a
// flowgate::tcp::ConnectionInfo (state, RTT, cwnd, and the send and receive window zones).
int fg_getsockopt(Stack& stack, int fd, int level, int optname, void* optval, socklen_t* optlen);
// TCP: FIN after the buffered data (or RST if unread data would be lost, or SO_LINGER 0);
// the connection finishes on its own and the descriptor is free at once.
int fg_close(Stack& stack, int fd);

// The event API. fg_epoll_wait never blocks (the worker's loop sleeps, not the
// application): `timeout` is accepted for source compatibility and ignored.
int fg_epoll_create(Stack& stack);
int fg_epoll_ctl(Stack& stack, int epfd, int op, int fd, epoll_event* event);
int fg_epoll_wait(Stack& stack, int epfd, epoll_event* events, int maxevents, int timeout);

}  // namespace flowgate
