// The SPSC ring: batching, fullness, wrap-around of the free-running indices, and a
// two-process run that moves 100 million descriptors through a ring in a real segment with
// frames going back on a second ring, checking order, content and the frame accounting.
#include "shm/ring.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "shm/frame_ownership.hpp"
#include "shm/layout.hpp"
#include "shm/segment.hpp"
#include "shm/wakeup.hpp"

namespace flowgate::shm {
namespace {

// Ring memory in the test's own heap, cache-line aligned, for single-process tests.
struct LocalRing {
  explicit LocalRing(uint32_t size)
      : storage(
            static_cast<std::byte*>(std::aligned_alloc(kCacheLine, ring_bytes<RingDesc>(size)))),
        memory(RingMemory<RingDesc>::create(storage.get(), size)) {}
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> storage;
  RingMemory<RingDesc> memory;
};

TEST(Ring, ReserveSubmitPeekReleaseInBatches) {
  LocalRing r(8);
  RingProducer<RingDesc> prod(r.memory);
  RingConsumer<RingDesc> cons(r.memory);
  uint32_t first = 0;
  ASSERT_EQ(prod.reserve(5, &first), 5u);
  for (uint32_t i = 0; i < 5; ++i) prod.slot(first + i) = RingDesc{i * 4096u, 60 + i, i};
  // Nothing is visible before submit.
  uint32_t at = 0;
  EXPECT_EQ(cons.peek(8, &at), 0u);
  prod.submit(5);
  EXPECT_EQ(r.memory.occupancy(), 5u);
  ASSERT_EQ(cons.peek(3, &at), 3u);
  for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(cons.slot(at + i).length, 60 + i);
  cons.release(3);
  ASSERT_EQ(cons.peek(8, &at), 2u);
  EXPECT_EQ(cons.slot(at).offset, 3u * 4096u);
  EXPECT_EQ(cons.slot(at + 1).flags, 4u);
  cons.release(2);
  EXPECT_TRUE(cons.empty());
  EXPECT_EQ(r.memory.occupancy(), 0u);
}

TEST(Ring, AFullRingReservesOnlyWhatIsFree) {
  LocalRing r(4);
  RingProducer<RingDesc> prod(r.memory);
  RingConsumer<RingDesc> cons(r.memory);
  uint32_t first = 0;
  ASSERT_EQ(prod.reserve(6, &first), 4u);
  prod.submit(4);
  EXPECT_EQ(prod.reserve(1, &first), 0u);
  uint32_t at = 0;
  ASSERT_EQ(cons.peek(1, &at), 1u);
  cons.release(1);
  // The producer's cached consumer index is stale until it looks again: it does, because
  // the cache says the ring is full.
  EXPECT_EQ(prod.reserve(3, &first), 1u);
}

TEST(Ring, IndicesWrapAroundUint32) {
  LocalRing r(16);
  // Start both sides just below the wrap, as a ring does after 2^32 descriptors.
  r.memory.indices->producer.store(0xfffffff8u);
  r.memory.indices->consumer.store(0xfffffff8u);
  RingProducer<RingDesc> prod(r.memory);
  RingConsumer<RingDesc> cons(r.memory);
  uint64_t next_in = 0, next_out = 0;
  for (int round = 0; round < 10; ++round) {
    uint32_t first = 0;
    const uint32_t n = prod.reserve(11, &first);
    ASSERT_EQ(n, 11u);
    for (uint32_t i = 0; i < n; ++i) prod.slot(first + i).offset = next_in++;
    prod.submit(n);
    EXPECT_EQ(r.memory.occupancy(), 11u);
    uint32_t at = 0;
    ASSERT_EQ(cons.peek(16, &at), 11u);
    for (uint32_t i = 0; i < 11; ++i) EXPECT_EQ(cons.slot(at + i).offset, next_out++);
    cons.release(11);
  }
  EXPECT_LT(r.memory.indices->producer.load(), 0xfffffff8u);  // it did wrap
}

TEST(Ring, ViewsBuiltLaterStartFromTheSharedIndices) {
  LocalRing r(8);
  {
    RingProducer<RingDesc> prod(r.memory);
    uint32_t first = 0;
    ASSERT_EQ(prod.reserve(3, &first), 3u);
    prod.slot(first + 2).length = 77;
    prod.submit(3);
  }
  RingConsumer<RingDesc> cons(r.memory);
  uint32_t at = 0;
  ASSERT_EQ(cons.peek(1, &at), 1u);
  cons.release(1);
  // A restarted producer (or consumer) continues where the shared indices are.
  RingProducer<RingDesc> again(r.memory);
  uint32_t first = 0;
  EXPECT_EQ(again.reserve(8, &first), 6u);
  EXPECT_EQ(first, 3u);
  ASSERT_EQ(cons.peek(8, &at), 2u);
  EXPECT_EQ(cons.slot(at + 1).length, 77u);
  cons.release(2);
  r.memory.reset();
  EXPECT_EQ(r.memory.occupancy(), 0u);
}

// --- Two processes ---------------------------------------------------------------------

uint64_t descriptors_to_move() {
  // The full 100 million in the normal run; the sanitizer run of CI moves fewer (ASan makes
  // every access several times slower), and says so in .ci/run.
  if (const char* env = std::getenv("FLOWGATE_RING_DESCRIPTORS"))
    return std::strtoull(env, nullptr, 10);
  return 100'000'000;
}

std::string unique_instance(const char* what) {
  return std::string("test-") + what + "-" + std::to_string(::getpid());
}

// Waits for the ring to have something, sleeping the need_wakeup way after a short spin.
// Returns false if poll timed out while the ring had data: a lost wakeup.
template <typename Consumer>
bool wait_for_work(Consumer& ring, WakeWord& wake, int eventfd, uint64_t* sleeps) {
  for (int spin = 0; spin < 2000; ++spin) {
    if (!ring.empty()) return true;
  }
  announce_sleep(wake);
  if (!ring.empty()) {
    cancel_sleep(wake);
    return true;
  }
  ++*sleeps;
  pollfd p{eventfd, POLLIN, 0};
  const int rc = ::poll(&p, 1, 5000);
  cancel_sleep(wake);
  drain_eventfd(eventfd);
  return rc > 0 || ring.empty();
}

TEST(RingTwoProcesses, MovesDescriptorsWithoutLossDuplicationOrReorderingAndFramesBalance) {
  const uint64_t total = descriptors_to_move();
  const std::string instance = unique_instance("ring");
  Segment::remove(instance);
  SegmentParams params;
  params.worker_count = 1;
  params.frame_count = 4096;
  params.frame_size = 2048;
  params.ring_size = 1024;
  auto segment = Segment::create(instance, params, "", 1, 0);
  struct Cleanup {
    std::string name;
    ~Cleanup() { Segment::remove(name); }
  } cleanup{instance};

  // Frame 0..N-1 start in the "I/O" side's free list.
  uint8_t* tags = segment->frame_tags();
  std::vector<uint32_t> free_frames;
  for (uint32_t i = 0; i < params.frame_count; ++i) {
    tags[i] = owner::kIoFree;
    free_frames.push_back(params.frame_count - 1 - i);
  }
  IoBlock& io = segment->io();
  io.frames.free.store(params.frame_count);
  WorkerControl& worker = segment->worker(0).control;

  const int worker_wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  const int io_wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(worker_wake, 0);
  ASSERT_GE(io_wake, 0);

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The "worker": consumes rx, checks order and content, returns each frame on free.
    auto mine = Segment::open(instance);
    RingConsumer<RingDesc> rx(mine->ring(0, RingKind::rx));
    RingProducer<RingDesc> free_ring(mine->ring(0, RingKind::free));
    WorkerControl& me = mine->worker(0).control;
    uint8_t* my_tags = mine->frame_tags();
    std::byte* umem = mine->umem();
    uint64_t expect = 0, sleeps = 0;
    int status = 0;
    std::vector<RingDesc> held;
    while (expect < total && status == 0) {
      if (held.empty() && !wait_for_work(rx, me.wake, worker_wake, &sleeps)) status = 10;
      uint32_t at = 0;
      const uint32_t n = rx.peek(64, &at);
      for (uint32_t i = 0; i < n; ++i) {
        const RingDesc d = rx.slot(at + i);
        const uint64_t frame = d.offset / params.frame_size;
        uint64_t in_frame = 0;
        std::memcpy(&in_frame, umem + d.offset, sizeof in_frame);
        if (d.flags != static_cast<uint32_t>(expect) || in_frame != expect ||
            d.length != 64 + expect % 1000 || my_tags[frame] != owner::worker(0)) {
          status = 11;  // lost, duplicated, reordered or torn
          break;
        }
        ++expect;
        held.push_back(d);
      }
      rx.release(n);
      me.rx_held.store(static_cast<uint32_t>(held.size()), std::memory_order_relaxed);
      uint32_t first = 0;
      const uint32_t room = free_ring.reserve(static_cast<uint32_t>(held.size()), &first);
      for (uint32_t i = 0; i < room; ++i) {
        my_tags[held[i].offset / params.frame_size] = owner::in_transit_from(0);
        free_ring.slot(first + i) = held[i];
      }
      held.erase(held.begin(), held.begin() + room);
      me.rx_held.store(static_cast<uint32_t>(held.size()), std::memory_order_relaxed);
      if (room > 0) {
        free_ring.submit(room);
        wake_if_sleeping(mine->io().wake, io_wake);
      }
    }
    _exit(status);
  }

  // The "I/O process": sends `total` descriptors, each in a frame from its free list, and
  // takes the frames back from the free ring.
  RingProducer<RingDesc> rx(segment->ring(0, RingKind::rx));
  RingConsumer<RingDesc> free_ring(segment->ring(0, RingKind::free));
  std::byte* umem = segment->umem();
  uint64_t sent = 0, returned = 0, sleeps = 0, lost_wakeups = 0, bad_returns = 0;
  while (returned < total) {
    uint32_t at = 0;
    const uint32_t back = free_ring.peek(256, &at);
    for (uint32_t i = 0; i < back; ++i) {
      const uint32_t frame =
          static_cast<uint32_t>(free_ring.slot(at + i).offset / params.frame_size);
      if (tags[frame] != owner::in_transit_from(0)) ++bad_returns;
      tags[frame] = owner::kIoFree;
      free_frames.push_back(frame);
    }
    free_ring.release(back);
    returned += back;
    io.frames.free.store(static_cast<uint32_t>(free_frames.size()), std::memory_order_relaxed);

    uint32_t first = 0;
    const uint64_t want = std::min<uint64_t>({64, total - sent, free_frames.size()});
    const uint32_t n = rx.reserve(static_cast<uint32_t>(want), &first);
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t frame = free_frames.back();
      free_frames.pop_back();
      const uint64_t offset = uint64_t{frame} * params.frame_size;
      std::memcpy(umem + offset, &sent, sizeof sent);
      tags[frame] = owner::worker(0);
      rx.slot(first + i) =
          RingDesc{offset, static_cast<uint32_t>(64 + sent % 1000), static_cast<uint32_t>(sent)};
      ++sent;
    }
    io.frames.free.store(static_cast<uint32_t>(free_frames.size()), std::memory_order_relaxed);
    if (n > 0) {
      rx.submit(n);
      wake_if_sleeping(worker.wake, worker_wake);
    } else if (back == 0 && returned < total) {
      if (!wait_for_work(free_ring, io.wake, io_wake, &sleeps)) ++lost_wakeups;
    }
  }
  int status = -1;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: a lost wakeup in the worker; 11: a descriptor "
                                       "arrived out of order, twice, torn or mis-tagged";
  EXPECT_EQ(sent, total);
  EXPECT_EQ(returned, total);
  EXPECT_EQ(bad_returns, 0u);
  EXPECT_EQ(lost_wakeups, 0u);

  const FrameAudit audit = audit_frames(*segment);
  EXPECT_TRUE(audit.balanced()) << audit.to_string();
  EXPECT_EQ(audit.free, params.frame_count) << audit.to_string();
  ::close(worker_wake);
  ::close(io_wake);
}

}  // namespace
}  // namespace flowgate::shm
