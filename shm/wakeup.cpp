#include "shm/wakeup.hpp"

#include <unistd.h>

#include <cerrno>

namespace flowgate::shm {

bool wake_if_sleeping(WakeWord& w, int eventfd) {
  // Pairs with the fence in announce_sleep(): our ring submit is ordered before this load.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (w.sleeping.load(std::memory_order_relaxed) == 0) return false;
  if (w.sleeping.exchange(0, std::memory_order_acq_rel) == 0) return false;  // someone else
  signal_eventfd(eventfd);
  return true;
}

void signal_eventfd(int eventfd) {
  const uint64_t one = 1;
  // EAGAIN means the counter is saturated: the consumer will wake anyway.
  while (::write(eventfd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void drain_eventfd(int eventfd) {
  uint64_t value = 0;
  while (::read(eventfd, &value, sizeof value) < 0 && errno == EINTR) {
  }
}

}  // namespace flowgate::shm
