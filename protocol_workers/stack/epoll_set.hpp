// The interest list behind fg_epoll_*, with a ready list so that fg_epoll_wait costs what is
// ready, not what is registered (a million idle connections cost a wait nothing).
//
// How a descriptor gets onto the ready list: the Stack queues it (once; `queued`) in every
// set watching it when something may have changed its readiness: the TCP layer reports each
// connection and listener it touched (a segment, a timer, a socket call), and EPOLL_CTL_ADD
// and MOD queue the descriptor too. Queued only means "look at it": fg_epoll_wait computes
// the readiness of each queued descriptor then, as before, so a spurious queueing costs one
// look and never a false report.
// What stays on it: level-triggered, a descriptor found ready is reported and put back at the
// tail (as Linux's ep_send_events re-adds it), so it is reported again by the next wait while
// it stays ready, and a small maxevents rotates through everything ready. One found not ready
// leaves the list until the next change. EPOLLET: reported when a readiness bit it did not
// have at the last report appears or the socket's event signature moved (new data, freed
// send space), and then it leaves the list. EPOLLONESHOT: it leaves the list and the set
// reports nothing more for it until EPOLL_CTL_MOD.
// UDP sockets report no changes, so they never leave the list (`always_queued`): each wait
// looks at them, which costs as many looks as there are UDP sockets in the set (a handful).
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <deque>
#include <unordered_map>

namespace flowgate {

struct EpollInterest {
  uint32_t events = 0;  // what the caller asked for (EPOLLIN | EPOLLOUT | EPOLLET | ...)
  epoll_data_t data{};
  uint32_t last_ready = 0;      // for EPOLLET: readiness at the last report...
  uint64_t last_signature = 0;  // ...and the socket's event signature then
  // Names this registration's place on the ready list: an entry left there by an earlier
  // registration of the same descriptor number (deleted, then added again) carries an older
  // ticket and is skipped.
  uint32_t ticket = 0;
  bool disarmed = false;       // EPOLLONESHOT reported; EPOLL_CTL_MOD re-arms
  bool queued = false;         // on the ready list now
  bool always_queued = false;  // the socket reports no changes (UDP): looked at every wait
};

struct EpollReady {
  int fd = -1;
  uint32_t ticket = 0;
};

struct EpollSet {
  std::unordered_map<int, EpollInterest> interest;
  std::deque<EpollReady> ready;  // FIFO, each registration at most once
  uint32_t next_ticket = 0;

  // Puts `fd` on the ready list unless it is there already (or not registered, or disarmed).
  void queue(int fd) {
    const auto it = interest.find(fd);
    if (it == interest.end()) return;
    queue(fd, it->second);
  }
  void queue(int fd, EpollInterest& in) {
    if (in.queued || in.disarmed) return;
    in.queued = true;
    ready.push_back({fd, in.ticket});
  }
  // A new registration (ADD, or MOD which starts afresh): queued for a first look.
  void register_interest(int fd, const epoll_event& event, bool always_queued) {
    EpollInterest& in = interest[fd];
    in = EpollInterest{};
    in.events = event.events;
    in.data = event.data;
    in.ticket = ++next_ticket;
    in.always_queued = always_queued;
    queue(fd, in);
  }
};

}  // namespace flowgate
