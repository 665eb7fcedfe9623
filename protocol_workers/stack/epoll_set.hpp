// The interest list behind fg_epoll_*: level-triggered by default, EPOLLET reports a
// descriptor again only when a readiness bit it did not have before appears.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <map>

namespace flowgate {

struct EpollInterest {
  uint32_t events = 0;  // what the caller asked for (EPOLLIN | EPOLLOUT | EPOLLET | ...)
  epoll_data_t data{};
  uint32_t last_ready = 0;      // for EPOLLET: readiness at the last report...
  uint64_t last_signature = 0;  // ...and the socket's event signature then
  bool disarmed = false;        // EPOLLONESHOT reported; EPOLL_CTL_MOD re-arms
};

struct EpollSet {
  std::map<int, EpollInterest> interest;  // ordered: deterministic reporting order
  int resume_after = -1;  // round-robin start, so a small maxevents starves no descriptor
};

}  // namespace flowgate
