// What a TCP connection costs in memory: the heap held by an idle ESTABLISHED connection and
// by a TIME-WAIT record. Two Stacks back to back on one ManualClock (stack_pair.hpp); the CPU
// figures (per segment, per short connection, bulk) are in micro_bench.cpp.
//
// Memory is measured by replacing the global operator new and delete in this binary: they
// keep a count of live heap bytes (as requested, not as rounded up by malloc). The count is
// read with every frame delivered and the link's own storage released, before and after
// opening N connections, and the difference is divided by the connections opened. It
// includes everything the stacks allocate for them: the Connection object, the socket and
// descriptor tables, the demultiplexing and timer structures, hash buckets.
//
// Run: build/tests/bench/tcp_memory_bench  (Google Benchmark flags apply, e.g.
// --benchmark_filter=TimeWait). Not a ctest test: numbers, not pass/fail.
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <vector>

#include "stack_pair.hpp"
#include "tcp/connection.hpp"
#include "tcp/tcp.hpp"

// --- the counting allocator -------------------------------------------------------------

namespace {

std::atomic<int64_t> g_live_bytes{0};

// Each block carries its requested size in a header of kHeader bytes in front of it; the
// header is as large as the alignment the block needs, so the block stays aligned.
constexpr size_t kHeader = alignof(std::max_align_t);

void* counted_new(size_t n, size_t align) {
  const size_t header = std::max(kHeader, align);
  void* base = align > kHeader ? std::aligned_alloc(align, (header + n + align - 1) / align * align)
                               : std::malloc(header + n);
  if (base == nullptr) throw std::bad_alloc();
  auto* user = static_cast<std::byte*>(base) + header;
  std::memcpy(user - sizeof(size_t), &n, sizeof n);
  g_live_bytes.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
  return user;
}

void counted_delete(void* p, size_t align) {
  if (p == nullptr) return;
  auto* user = static_cast<std::byte*>(p);
  size_t n;
  std::memcpy(&n, user - sizeof(size_t), sizeof n);
  g_live_bytes.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
  std::free(user - std::max(kHeader, align));
}

}  // namespace

void* operator new(size_t n) {
  return counted_new(n, kHeader);
}
void* operator new[](size_t n) {
  return counted_new(n, kHeader);
}
void* operator new(size_t n, std::align_val_t a) {
  return counted_new(n, static_cast<size_t>(a));
}
void* operator new[](size_t n, std::align_val_t a) {
  return counted_new(n, static_cast<size_t>(a));
}
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_new(n, kHeader);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_new(n, kHeader);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept {
  counted_delete(p, kHeader);
}
void operator delete[](void* p) noexcept {
  counted_delete(p, kHeader);
}
void operator delete(void* p, size_t) noexcept {
  counted_delete(p, kHeader);
}
void operator delete[](void* p, size_t) noexcept {
  counted_delete(p, kHeader);
}
void operator delete(void* p, std::align_val_t a) noexcept {
  counted_delete(p, static_cast<size_t>(a));
}
void operator delete[](void* p, std::align_val_t a) noexcept {
  counted_delete(p, static_cast<size_t>(a));
}
void operator delete(void* p, size_t, std::align_val_t a) noexcept {
  counted_delete(p, static_cast<size_t>(a));
}
void operator delete[](void* p, size_t, std::align_val_t a) noexcept {
  counted_delete(p, static_cast<size_t>(a));
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  counted_delete(p, kHeader);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  counted_delete(p, kHeader);
}

namespace flowgate::bench {
namespace {

using namespace std::chrono_literals;

constexpr int kConnections = 10000;
// Connections opened per round before the server accepts them: below the listener's SYN
// queue (TcpConfig::max_syn_backlog), so no SYN cookie is involved.
constexpr int kBatch = 200;

// The pair of stacks, whose live heap bytes are read with nothing in flight and the links'
// storage given back.
struct Pair : StackPair {
  int64_t heap() {
    settle();
    return g_live_bytes.load(std::memory_order_relaxed);
  }
};

// Opens kConnections connections, in batches, and returns both ends' descriptors.
void open_connections(Pair& p, std::vector<int>& client_fds, std::vector<int>& server_fds) {
  for (int done = 0; done < kConnections;) {
    const int n = std::min(kBatch, kConnections - done);
    for (int i = 0; i < n; ++i) client_fds.push_back(p.connect());
    p.run();
    for (int i = 0; i < n; ++i) server_fds.push_back(p.accept());
    done += n;
  }
  // Let delayed ACKs and every other short timer run out: the connections are idle.
  p.advance(1s);
}

// Bytes per idle ESTABLISHED connection: N connections between the two stacks are 2N
// connections (one at each end).
void BM_IdleEstablishedConnection(benchmark::State& state) {
  int64_t per_connection = 0;
  for (auto _ : state) {
    Pair p;
    std::vector<int> client_fds;
    std::vector<int> server_fds;
    client_fds.reserve(kConnections);
    server_fds.reserve(kConnections);
    const int64_t before = p.heap();
    open_connections(p, client_fds, server_fds);
    const int64_t after = p.heap();
    if (p.server.tcp().connections() != kConnections ||
        p.client.tcp().connections() != kConnections)
      die("not every connection is established");
    per_connection = (after - before) / (2 * kConnections);
  }
  std::printf("idle ESTABLISHED connection: %lld bytes of heap (sizeof(tcp::Connection) = %zu)\n",
              static_cast<long long>(per_connection), sizeof(tcp::Connection));
  state.counters["bytes_per_connection"] = static_cast<double>(per_connection);
  state.counters["sizeof_Connection"] = static_cast<double>(sizeof(tcp::Connection));
  state.counters["connections"] = 2 * kConnections;
}
BENCHMARK(BM_IdleEstablishedConnection)->Iterations(1)->Unit(benchmark::kMillisecond);

// Bytes per TIME-WAIT record: N connections are opened, the client closes each (so it is
// the one in TIME-WAIT), the server closes after the end of stream; measured against the
// pair before any connection. What stays allocated after the records expire (hash tables do
// not shrink) is reported too, so the record's own share is the difference.
void BM_TimeWaitRecord(benchmark::State& state) {
  int64_t per_record = 0;
  int64_t kept_after_expiry = 0;
  for (auto _ : state) {
    Pair p;
    std::vector<int> client_fds;
    std::vector<int> server_fds;
    client_fds.reserve(kConnections);
    server_fds.reserve(kConnections);
    const int64_t before = p.heap();
    open_connections(p, client_fds, server_fds);
    for (int fd : client_fds) fg_close(p.client, fd);
    p.run();
    for (int fd : server_fds) fg_close(p.server, fd);
    p.advance(1s);
    if (p.client.tcp().time_wait_records() != kConnections || p.client.tcp().connections() != 0 ||
        p.server.tcp().connections() != 0)
      die("the connections did not all end in TIME-WAIT on the client");
    const int64_t after = p.heap();
    per_record = (after - before) / kConnections;
    p.advance(61s);
    if (p.client.tcp().time_wait_records() != 0) die("TIME-WAIT records did not expire");
    kept_after_expiry = (p.heap() - before) / kConnections;
  }
  std::printf(
      "TIME-WAIT record: %lld bytes of heap, %lld of them still held after expiry "
      "(sizeof(tcp::TimeWaitRecord) = %zu)\n",
      static_cast<long long>(per_record), static_cast<long long>(kept_after_expiry),
      sizeof(tcp::TimeWaitRecord));
  state.counters["bytes_per_time_wait"] = static_cast<double>(per_record);
  state.counters["bytes_kept_after_expiry"] = static_cast<double>(kept_after_expiry);
  state.counters["sizeof_TimeWaitRecord"] = static_cast<double>(sizeof(tcp::TimeWaitRecord));
}
BENCHMARK(BM_TimeWaitRecord)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace flowgate::bench

BENCHMARK_MAIN();
