// Sleeping and waking across processes, the AF_XDP need_wakeup way: a consumer that found
// nothing to do announces that it is going to sleep in a shared word, checks its rings once
// more, and blocks in poll(2) on an eventfd; a producer, after submitting a batch, writes
// the eventfd only if that word says the consumer sleeps. A busy consumer therefore costs
// its producers no system call at all, and an idle one costs nothing but a blocked poll.
//
// Why it cannot miss a wakeup (a Dekker pair, both sides sequentially consistent):
//   consumer: sleeping = 1; fence; read ring producer index -> empty -> poll(eventfd)
//   producer: write ring producer index; fence; read sleeping -> 1 -> write(eventfd)
// At least one of them sees the other's store: either the consumer sees the new descriptor
// and does not sleep, or the producer sees the flag and wakes it.
//
// The eventfds are created by the supervisor and inherited by the processes it starts: the
// segment holds only the word, never a descriptor number that means something elsewhere.
#pragma once

#include <atomic>
#include <cstdint>

#include "shm/ring.hpp"

namespace flowgate::shm {

struct alignas(kCacheLine) WakeWord {
  // 1 while the consumer is asleep or about to be. Cleared by whoever wakes it first, so a
  // burst from several producers costs one eventfd write.
  std::atomic<uint32_t> sleeping{0};
};

// Consumer side. Call before the last check of the rings; if that check finds work, call
// cancel_sleep(). After poll(2) returns, call cancel_sleep() and drain_eventfd().
inline void announce_sleep(WakeWord& w) {
  w.sleeping.store(1, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}
inline void cancel_sleep(WakeWord& w) {
  w.sleeping.store(0, std::memory_order_relaxed);
}

// Producer side, after submit(). Returns true when it wrote the eventfd (a wakeup was due).
bool wake_if_sleeping(WakeWord& w, int eventfd);

// Reads the eventfd's counter so the next poll(2) blocks again (non-blocking eventfd).
void drain_eventfd(int eventfd);
// Writes the eventfd unconditionally (control events: "look at the control words").
void signal_eventfd(int eventfd);

}  // namespace flowgate::shm
