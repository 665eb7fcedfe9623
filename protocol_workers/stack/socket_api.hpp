// The POSIX-like socket API. Same signatures and semantics as the BSD calls, with the Stack
// as an explicit first argument (no global "current stack"): every call is non-blocking,
// returns -1 and sets errno on failure, and uses the usual sockaddr_in structures.
// Descriptors are the stack's own small integers, not kernel file descriptors.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

namespace flowgate {

class Stack;

// AF_INET with SOCK_DGRAM (protocol 0 or IPPROTO_UDP). SOCK_NONBLOCK and SOCK_CLOEXEC are
// accepted and ignored: every socket is non-blocking. EAFNOSUPPORT for other families,
// EPROTONOSUPPORT for other types until TCP is attached.
int fg_socket(Stack& stack, int domain, int type, int protocol);
// EADDRNOTAVAIL unless the address is INADDR_ANY or ours; EADDRINUSE if the port is taken;
// port 0 picks an ephemeral port; EINVAL if already bound.
int fg_bind(Stack& stack, int fd, const sockaddr* addr, socklen_t addrlen);
// Binds an ephemeral port first if needed. EMSGSIZE beyond 65507 bytes; ENETUNREACH with
// no route. A datagram waiting for ARP counts as sent, as on Linux.
ssize_t fg_sendto(Stack& stack, int fd, const void* buf, size_t len, int flags,
                  const sockaddr* dest_addr, socklen_t addrlen);
// EAGAIN when nothing is queued. A datagram longer than `len` is truncated and its rest
// discarded; with MSG_TRUNC the full length is returned. MSG_PEEK leaves it queued.
ssize_t fg_recvfrom(Stack& stack, int fd, void* buf, size_t len, int flags, sockaddr* src_addr,
                    socklen_t* addrlen);
int fg_getsockname(Stack& stack, int fd, sockaddr* addr, socklen_t* addrlen);
// SOL_SOCKET: SO_RCVBUF (set/get), SO_ERROR (get, clears), SO_TYPE (get).
int fg_setsockopt(Stack& stack, int fd, int level, int optname, const void* optval,
                  socklen_t optlen);
int fg_getsockopt(Stack& stack, int fd, int level, int optname, void* optval, socklen_t* optlen);
int fg_close(Stack& stack, int fd);

}  // namespace flowgate
