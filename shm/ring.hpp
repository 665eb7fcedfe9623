// Single-producer/single-consumer descriptor rings in shared memory, in the AF_XDP style
// (the kernel's net/xdp/xsk_queue.h, libxdp's xsk.h):
//   - a power-of-two number of slots; free-running uint32_t indices, masked on access, so
//     "prod - cons" is the occupancy even across wrap-around;
//   - producer and consumer indices on separate cache lines, plus a pad line so the
//     adjacent-line prefetcher does not drag one side's line into the other's core;
//   - each side keeps a process-local cached copy of the other side's index and reads the
//     shared one only when the cache says the ring looks full (producer) or empty (consumer);
//   - batched reserve/submit and peek/release: one release store per batch, not per slot.
//
// The shared part (RingIndices + slots) lives at a fixed offset in the segment and holds no
// pointer; RingProducer/RingConsumer are per-process views built from the mapped address.
//
// Memory ordering, one pair per edge:
//   (A) producer: slot writes, then producer.store(release)  ->  consumer:
//       producer.load(acquire), then slot reads.  The consumer sees complete descriptors.
//   (B) consumer: slot reads, then consumer.store(release)   ->  producer:
//       consumer.load(acquire), then slot writes. The producer never overwrites a slot the
//       consumer is still reading.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace flowgate::shm {

inline constexpr size_t kCacheLine = 64;

static_assert(std::atomic<uint32_t>::is_always_lock_free,
              "ring indices are shared between processes: they must be lock-free atomics");

// One descriptor: a frame in the UMEM (offset from the UMEM's start, length) and flags.
// Never a pointer, never a copy of the frame.
struct RingDesc {
  uint64_t offset = 0;
  uint32_t length = 0;
  uint32_t flags = 0;
};
static_assert(sizeof(RingDesc) == 16 && std::is_trivially_copyable_v<RingDesc>);

struct RingIndices {
  alignas(kCacheLine) std::atomic<uint32_t> producer{0};  // written by the producer only
  alignas(kCacheLine) std::atomic<uint32_t> consumer{0};  // written by the consumer only
  alignas(kCacheLine) std::byte pad[kCacheLine]{};        // keeps the slots off both lines
};
static_assert(sizeof(RingIndices) == 3 * kCacheLine);
static_assert(std::is_standard_layout_v<RingIndices>);

// Bytes a ring of `size` slots of T occupies in the segment.
template <typename T>
constexpr size_t ring_bytes(uint32_t size) {
  return sizeof(RingIndices) + size_t{size} * sizeof(T);
}

constexpr bool is_power_of_two(uint32_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

// The shared part of a ring at `base` (cache-line aligned): indices, then the slots.
template <typename T>
struct RingMemory {
  RingIndices* indices = nullptr;
  T* slots = nullptr;
  uint32_t size = 0;

  static RingMemory at(void* base, uint32_t size) {
    assert(is_power_of_two(size));
    assert(reinterpret_cast<uintptr_t>(base) % kCacheLine == 0);
    auto* indices = static_cast<RingIndices*>(base);
    auto* slots = reinterpret_cast<T*>(static_cast<std::byte*>(base) + sizeof(RingIndices));
    return RingMemory{indices, slots, size};
  }
  // Constructs the indices in freshly created (zeroed) memory: both start at 0.
  static RingMemory create(void* base, uint32_t size) {
    new (base) RingIndices();
    return at(base, size);
  }
  // Slots between consumer and producer. From a third process this is a snapshot: each
  // index is exact, but the two are read one after the other.
  uint32_t occupancy() const {
    const uint32_t cons = indices->consumer.load(std::memory_order_acquire);
    const uint32_t prod = indices->producer.load(std::memory_order_acquire);
    return prod - cons;
  }
  // Empties the ring. Only when the other side is gone (a dead worker's rings, reset by the
  // I/O process before a new worker attaches); both views must be rebuilt afterwards.
  void reset() {
    indices->producer.store(0, std::memory_order_release);
    indices->consumer.store(0, std::memory_order_release);
  }
};

template <typename T>
class RingProducer {
 public:
  RingProducer() = default;
  explicit RingProducer(RingMemory<T> ring)
      : ring_(ring),
        mask_(ring.size - 1),
        cached_producer_(ring.indices->producer.load(std::memory_order_relaxed)),
        // (B): slots the consumer released are ours to overwrite.
        cached_consumer_(ring.indices->consumer.load(std::memory_order_acquire)) {}

  // Reserves up to `n` consecutive slots; returns how many (maybe 0) and the index of the
  // first in *first. Fill them with slot(), then submit() the same count.
  uint32_t reserve(uint32_t n, uint32_t* first) {
    uint32_t free = ring_.size - (cached_producer_ - cached_consumer_);
    if (free < n) {
      // (B) acquire: pairs with the consumer's release of `consumer` in release().
      cached_consumer_ = ring_.indices->consumer.load(std::memory_order_acquire);
      free = ring_.size - (cached_producer_ - cached_consumer_);
    }
    const uint32_t got = n < free ? n : free;
    *first = cached_producer_;
    return got;
  }
  T& slot(uint32_t index) { return ring_.slots[index & mask_]; }
  // Publishes `n` reserved slots to the consumer.
  void submit(uint32_t n) {
    cached_producer_ += n;
    // (A) release: the slot writes above become visible before the new index.
    ring_.indices->producer.store(cached_producer_, std::memory_order_release);
  }
  uint32_t size() const { return ring_.size; }
  bool valid() const { return ring_.indices != nullptr; }

 private:
  RingMemory<T> ring_{};
  uint32_t mask_ = 0;
  uint32_t cached_producer_ = 0;
  uint32_t cached_consumer_ = 0;
};

template <typename T>
class RingConsumer {
 public:
  RingConsumer() = default;
  explicit RingConsumer(RingMemory<T> ring)
      : ring_(ring),
        mask_(ring.size - 1),
        cached_consumer_(ring.indices->consumer.load(std::memory_order_relaxed)),
        // (A): what the producer published is complete.
        cached_producer_(ring.indices->producer.load(std::memory_order_acquire)) {}

  // Up to `n` filled slots; returns how many and the first index in *first. Read them with
  // slot(), then release() the same count.
  uint32_t peek(uint32_t n, uint32_t* first) {
    uint32_t available = cached_producer_ - cached_consumer_;
    if (available < n) {
      // (A) acquire: pairs with the producer's release of `producer` in submit().
      cached_producer_ = ring_.indices->producer.load(std::memory_order_acquire);
      available = cached_producer_ - cached_consumer_;
    }
    const uint32_t got = n < available ? n : available;
    *first = cached_consumer_;
    return got;
  }
  const T& slot(uint32_t index) const { return ring_.slots[index & mask_]; }
  // Gives `n` peeked slots back to the producer.
  void release(uint32_t n) {
    cached_consumer_ += n;
    // (B) release: our slot reads are done before the producer may reuse the slots.
    ring_.indices->consumer.store(cached_consumer_, std::memory_order_release);
  }
  // True when nothing is visible even after reading the shared producer index.
  bool empty() {
    uint32_t first = 0;
    return peek(1, &first) == 0;
  }
  bool valid() const { return ring_.indices != nullptr; }

 private:
  RingMemory<T> ring_{};
  uint32_t mask_ = 0;
  uint32_t cached_consumer_ = 0;
  uint32_t cached_producer_ = 0;
};

}  // namespace flowgate::shm
