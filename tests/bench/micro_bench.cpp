// The microbenchmarks of the data path's building blocks: the Internet checksum, the flow
// hash, the shared-memory SPSC ring between two real processes, and the timer wheel. The TCP
// figures, with Linux over loopback beside them, are in tcp_bench.cpp. run-micro.sh runs
// both and prints the table.
//
// Run: build/tests/bench/micro_bench  (Google Benchmark flags apply).
#include <benchmark/benchmark.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "shm/ring.hpp"
#include "stack/clock.hpp"
#include "tcp/timer_wheel.hpp"
#include "wire/checksum.hpp"
#include "wire/flow_hash.hpp"

namespace flowgate::bench {
namespace {

using namespace std::chrono_literals;

// --- Internet checksum -------------------------------------------------------------------

// One checksum over `range(0)` bytes: 20 (an IPv4 header), 40, 64, 576, 1500 (a full frame's
// payload), 9000 (a jumbo frame). Bytes per second is the figure; time per call for headers.
void BM_Checksum(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  std::vector<std::byte> data(n);
  for (size_t i = 0; i < n; ++i) data[i] = static_cast<std::byte>(i * 131 + 7);
  for (auto _ : state) {
    benchmark::DoNotOptimize(data.data());
    benchmark::DoNotOptimize(wire::internet_checksum(wire::Bytes(data.data(), n)));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Checksum)->Arg(20)->Arg(40)->Arg(64)->Arg(576)->Arg(1500)->Arg(9000);

// --- flow hash ---------------------------------------------------------------------------

// The I/O process's per-frame steering decision, for_ports over 4 workers, on a stream of
// distinct tuples (the tuple changes every call so nothing is hoisted out of the loop).
void BM_FlowHash(benchmark::State& state) {
  const wire::FlowSteering steering{0x5eed1234u, 4};
  const wire::Ipv4Address server = wire::Ipv4Address::from_octets(198, 18, 0, 1);
  uint32_t client = wire::Ipv4Address::from_octets(198, 19, 0, 1).value;
  uint16_t port = 1024;
  uint32_t acc = 0;
  for (auto _ : state) {
    acc += steering.for_ports(wire::Ipv4Address{client}, server, port, 80);
    ++port;
    client += port == 0 ? 1 : 0;
    benchmark::DoNotOptimize(acc);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_FlowHash);

// --- ring handoff between two processes --------------------------------------------------

// A ring of 4096 descriptors (the worker's ring size) in an anonymous shared mapping, the
// parent producing and a forked child consuming, as the I/O process and a worker do. Each
// iteration hands over kDescriptorsPerIteration descriptors in batches of `range(0)` and
// waits until the child has read them all. The child checks every descriptor's offset, so
// the slots are really read across the cache-coherence link.
//
// Both sides poll: a side that finds the ring full or empty pauses, and yields the CPU after
// a while so that two processes on one core still make progress (run-micro.sh gives this
// benchmark two cores; on one core the figure measures the scheduler, not the ring).
constexpr uint32_t kRingSize = 4096;
constexpr uint64_t kDescriptorsPerIteration = 1 << 16;

struct alignas(shm::kCacheLine) HandoffControl {
  alignas(shm::kCacheLine) std::atomic<uint64_t> consumed{0};  // written by the child
  alignas(shm::kCacheLine) std::atomic<uint32_t> stop{0};      // written by the parent
  alignas(shm::kCacheLine) std::atomic<uint32_t> bad{0};       // the child saw a wrong slot
};

// Spin-then-yield backoff for a side waiting on the other.
class Backoff {
 public:
  void wait() {
    if (++spins_ < 256) {
      __builtin_ia32_pause();
    } else {
      sched_yield();
    }
  }
  void reset() { spins_ = 0; }

 private:
  uint32_t spins_ = 0;
};

// Pins the calling process to the `nth` CPU it is allowed on (wrapping), so the producer and
// the consumer sit on different cores when the mask gives two.
void pin_to_nth_allowed_cpu(int nth) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  const int count = CPU_COUNT(&allowed);
  if (count < 2) return;
  int want = nth % count;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if (want-- == 0) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      sched_setaffinity(0, sizeof one, &one);
      return;
    }
  }
}

[[noreturn]] void consume_until_stopped(shm::RingMemory<shm::RingDesc> memory,
                                        HandoffControl* control, uint32_t batch) {
  // The child never outlives the benchmark: killed with its parent, and bounded in time.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  alarm(600);
  pin_to_nth_allowed_cpu(1);
  shm::RingConsumer<shm::RingDesc> consumer(memory);
  uint64_t expected = 0;
  Backoff backoff;
  for (;;) {
    uint32_t first = 0;
    const uint32_t got = consumer.peek(batch, &first);
    if (got == 0) {
      if (control->stop.load(std::memory_order_acquire) != 0) _exit(0);
      backoff.wait();
      continue;
    }
    backoff.reset();
    for (uint32_t i = 0; i < got; ++i) {
      if (consumer.slot(first + i).offset != expected * 2048)
        control->bad.store(1, std::memory_order_relaxed);
      ++expected;
    }
    consumer.release(got);
    control->consumed.store(expected, std::memory_order_release);
  }
}

void BM_RingHandoff(benchmark::State& state) {
  const auto batch = static_cast<uint32_t>(state.range(0));
  const size_t bytes = sizeof(HandoffControl) + shm::ring_bytes<shm::RingDesc>(kRingSize);
  void* map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) {
    state.SkipWithError("mmap failed");
    return;
  }
  auto* control = new (map) HandoffControl();
  auto memory = shm::RingMemory<shm::RingDesc>::create(
      static_cast<std::byte*>(map) + sizeof(HandoffControl), kRingSize);
  const pid_t child = fork();
  if (child < 0) {
    state.SkipWithError("fork failed");
    munmap(map, bytes);
    return;
  }
  if (child == 0) consume_until_stopped(memory, control, batch);

  pin_to_nth_allowed_cpu(0);
  shm::RingProducer<shm::RingDesc> producer(memory);
  uint64_t produced = 0;
  Backoff backoff;
  for (auto _ : state) {
    const uint64_t end = produced + kDescriptorsPerIteration;
    while (produced < end) {
      uint32_t first = 0;
      const uint32_t want = static_cast<uint32_t>(std::min<uint64_t>(batch, end - produced));
      const uint32_t got = producer.reserve(want, &first);
      if (got < want) {  // a partial batch is not what is measured: wait for room
        backoff.wait();
        continue;
      }
      backoff.reset();
      for (uint32_t i = 0; i < got; ++i)
        producer.slot(first + i) = shm::RingDesc{(produced + i) * 2048, 1514, 0};
      producer.submit(got);
      produced += got;
    }
    while (control->consumed.load(std::memory_order_acquire) < produced) backoff.wait();
    backoff.reset();
  }
  control->stop.store(1, std::memory_order_release);
  int status = 0;
  waitpid(child, &status, 0);
  if (control->bad.load() != 0) state.SkipWithError("the consumer read a wrong descriptor");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) state.SkipWithError("consumer failed");
  munmap(map, bytes);
  // Restore the mask the run was given, for the benchmarks that follow.
  cpu_set_t all;
  CPU_ZERO(&all);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) CPU_SET(cpu, &all);
  sched_setaffinity(0, sizeof all, &all);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kDescriptorsPerIteration));
}
BENCHMARK(BM_RingHandoff)->Arg(1)->Arg(8)->Arg(32)->Arg(64)->UseRealTime();

// --- timer wheel -------------------------------------------------------------------------

// Arming and disarming one timer among 10,000 pending ones (a retransmission timer re-armed
// by each ACK): one schedule() and one cancel() per iteration.
void BM_TimerScheduleCancel(benchmark::State& state) {
  const Instant start(1000s);
  tcp::TimerWheel wheel(start);
  for (uint64_t i = 0; i < 10000; ++i) wheel.schedule(start + 1ms * (i % 5000 + 1), i);
  uint64_t k = 0;
  for (auto _ : state) {
    const tcp::TimerHandle h = wheel.schedule(start + 200ms + 1ms * (k % 1000), k);
    benchmark::DoNotOptimize(wheel.cancel(h));
    ++k;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_TimerScheduleCancel);

// Timers that fire: each iteration schedules 1024 timers spread over the next 1024 ticks and
// advances the wheel past them, one tick at a time as a busy worker loop does. Items are
// timers fired, so the time per item is schedule + expiry + the per-tick scan shared out.
void BM_TimerFire(benchmark::State& state) {
  Instant now(1000s);
  tcp::TimerWheel wheel(now);
  uint64_t fired = 0;
  for (auto _ : state) {
    for (uint64_t i = 0; i < 1024; ++i) wheel.schedule(now + 1ms * (i * 7 % 1024 + 1), i);
    for (int t = 0; t < 1024; ++t) {
      now += 1ms;
      fired += wheel.advance(now, [](uint64_t cookie) { benchmark::DoNotOptimize(cookie); });
    }
  }
  if (fired != static_cast<uint64_t>(state.iterations()) * 1024)
    state.SkipWithError("timers did not all fire");
  state.SetItemsProcessed(static_cast<int64_t>(fired));
}
BENCHMARK(BM_TimerFire);

// Advancing 10 ms at a time with 10,000 timers pending 1000 hours away: what next_deadline()
// and advance() cost a quiet worker.
void BM_TimerAdvanceIdle(benchmark::State& state) {
  Instant now(1000s);
  tcp::TimerWheel wheel(now);
  for (uint64_t i = 0; i < 10000; ++i) wheel.schedule(now + 1000h + 1ms * i, i);
  for (auto _ : state) {
    now += 10ms;
    benchmark::DoNotOptimize(wheel.advance(now, [](uint64_t) {}));
    benchmark::DoNotOptimize(wheel.next_deadline());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_TimerAdvanceIdle);

// A busy worker after close-heavy load: Arg(0) connections closed per millisecond, each
// leaving a TIME-WAIT timer 2 MSL = 60 s out (so 60,000 x Arg(0) of them pending, spread over
// the minute), while 64 live connections re-arm their timers (cancel, schedule 200 ms out,
// as an ACK re-arms the RTO) every millisecond. Each iteration is one millisecond of the
// worker loop: the re-arms, one advance() and one next_deadline(). The time per iteration
// must not grow with the TIME-WAIT timers.
void BM_TimerTickAmongTimeWait(benchmark::State& state) {
  Instant now(1000s);
  tcp::TimerWheel wheel(now);
  const auto closes_per_ms = static_cast<uint64_t>(state.range(0));
  const uint64_t time_wait = 60000 * closes_per_ms;
  for (uint64_t i = 0; i < time_wait; ++i) wheel.schedule(now + 60s * (i + 1) / time_wait, i);
  std::vector<tcp::TimerHandle> live(64);
  uint64_t k = 0;
  for (auto _ : state) {
    now += 1ms;
    for (uint64_t i = 0; i < closes_per_ms; ++i) wheel.schedule(now + 60s, i);
    for (tcp::TimerHandle& h : live) {
      wheel.cancel(h);
      h = wheel.schedule(now + 200ms + 1ms * (k % 7), k);
      ++k;
    }
    benchmark::DoNotOptimize(
        wheel.advance(now, [](uint64_t cookie) { benchmark::DoNotOptimize(cookie); }));
    benchmark::DoNotOptimize(wheel.next_deadline());
  }
  state.counters["pending"] = static_cast<double>(wheel.size());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_TimerTickAmongTimeWait)->Arg(0)->Arg(1)->Arg(20);

}  // namespace
}  // namespace flowgate::bench

BENCHMARK_MAIN();
