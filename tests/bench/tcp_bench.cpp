// TCP's CPU cost, our stack in memory against Linux over loopback, in one binary and run:
//   - a short connection: handshake, 64-byte request, 64-byte response, close (the client
//     closes first and keeps the TIME-WAIT state);
//   - 64-byte request and response on an established connection: CPU per small segment;
//   - bulk transfer over one connection: bytes per second, and the CPU per segment processed
//     (data segments and ACKs, each counted once, divided into the time).
// Ours: two Stacks back to back on a ManualClock (stack_pair.hpp), one thread doing both
// ends, so the time is every layer from fg_send to fg_recv on both sides, checksums included,
// with no I/O. Linux: real sockets on 127.0.0.1 in one thread; loopback delivers inside the
// sending system call, so the thread's CPU time includes both ends' kernel work. Segments on
// Linux come from TCP_INFO (tcpi_segs_out of both ends; GSO super-packets count as the
// segments they carry). The per-segment comparison clamps Linux's MSS (TCP_MAXSEG) to ours,
// because loopback's 64 KiB MTU would otherwise make its segments 45 times larger; the
// throughput comparison leaves Linux as users get it.
//
// Run: build/tests/bench/tcp_bench  (Google Benchmark flags apply).
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "stack_pair.hpp"

namespace flowgate::bench {
namespace {

using namespace std::chrono_literals;

constexpr size_t kMessage = 64;
// Bytes moved per bulk iteration: a few receive windows, so slow start is behind us after
// the first iterations and every iteration is steady state.
constexpr size_t kBulkChunk = 1 << 20;
// Our MSS on a 1500-byte MTU with timestamps (1500 - 20 - 20 - 12), which Linux is clamped to
// for the per-segment comparison.
constexpr int kClampedMss = 1448;

// --- ours --------------------------------------------------------------------------------

// One short connection. Every connection also moves the clock by 10 ms, so TIME-WAIT records
// expire as they would at 100 connections per second and the ephemeral ports never run out;
// their expiry is part of the measured cost. Items are connections; segments per connection
// is a counter.
void BM_OursShortConnection(benchmark::State& state) {
  StackPair p;
  std::array<std::byte, kMessage> request{};
  std::array<std::byte, kMessage> response{};
  std::array<std::byte, 256> buffer{};
  request.fill(std::byte{'q'});
  response.fill(std::byte{'r'});
  size_t segments = 0;
  for (auto _ : state) {
    const int c = p.connect();
    segments += p.run();
    const int s = p.accept();
    if (fg_send(p.client, c, request.data(), request.size(), 0) != kMessage) die("send request");
    segments += p.run();
    if (fg_recv(p.server, s, buffer.data(), buffer.size(), 0) != kMessage) die("recv request");
    if (fg_send(p.server, s, response.data(), response.size(), 0) != kMessage) die("send response");
    segments += p.run();
    if (fg_recv(p.client, c, buffer.data(), buffer.size(), 0) != kMessage) die("recv response");
    fg_close(p.client, c);
    segments += p.run();
    if (fg_recv(p.server, s, buffer.data(), buffer.size(), 0) != 0) die("no end of stream");
    fg_close(p.server, s);
    segments += p.advance(10ms);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["segments"] =
      benchmark::Counter(static_cast<double>(segments), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_OursShortConnection);

// Bulk: the client sends kBulkChunk bytes per iteration, the server reads them, frames are
// delivered as they are sent. The ACK clock runs on delivery alone; time moves only when
// nothing is in flight and nothing can be sent (a delayed ACK or a window probe due).
void BM_OursBulk(benchmark::State& state) {
  StackPair p;
  const int c = p.connect();
  p.run();
  const int s = p.accept();
  std::vector<std::byte> out(64 * 1024, std::byte{'b'});
  std::vector<std::byte> in(256 * 1024);
  size_t segments = 0;
  for (auto _ : state) {
    size_t sent = 0;
    size_t received = 0;
    while (received < kBulkChunk) {
      bool moved = false;
      while (sent < kBulkChunk) {
        const ssize_t n =
            fg_send(p.client, c, out.data(), std::min(out.size(), kBulkChunk - sent), 0);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
        moved = true;
      }
      const size_t delivered = p.run();
      segments += delivered;
      moved = moved || delivered > 0;
      for (;;) {
        const ssize_t n = fg_recv(p.server, s, in.data(), in.size(), 0);
        if (n <= 0) break;
        received += static_cast<size_t>(n);
        moved = true;
      }
      if (!moved) segments += p.advance(1ms);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBulkChunk));
  state.counters["segments"] =
      benchmark::Counter(static_cast<double>(segments), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_OursBulk);

// Small segments: a 64-byte request and a 64-byte response on one established connection,
// the keep-alive pattern, so the cost per segment is the protocol's and not the bytes'.
// Items are round trips; segments (data and any ACK) per round trip is a counter.
void BM_OursPingPong(benchmark::State& state) {
  StackPair p;
  const int c = p.connect();
  p.run();
  const int s = p.accept();
  std::array<std::byte, kMessage> message{};
  std::array<std::byte, 256> buffer{};
  size_t segments = 0;
  for (auto _ : state) {
    if (fg_send(p.client, c, message.data(), message.size(), 0) != kMessage) die("send request");
    segments += p.run();
    if (fg_recv(p.server, s, buffer.data(), buffer.size(), 0) != kMessage) die("recv request");
    if (fg_send(p.server, s, message.data(), message.size(), 0) != kMessage) die("send response");
    segments += p.run();
    if (fg_recv(p.client, c, buffer.data(), buffer.size(), 0) != kMessage) die("recv response");
  }
  // The delayed ACK of the last response, had it been owed, is not counted: time never moves.
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["segments"] =
      benchmark::Counter(static_cast<double>(segments), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_OursPingPong);

// --- Linux over loopback -----------------------------------------------------------------

int linux_listener(uint16_t* port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 4096) != 0)
    die("linux listener");
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// glibc's struct tcp_info stops before the kernel's segment counters (linux/tcp.h has them,
// but cannot be included beside <netinet/tcp.h>): the kernel's layout continues it.
struct KernelTcpInfo {
  tcp_info glibc;
  uint64_t pacing_rate;
  uint64_t max_pacing_rate;
  uint64_t bytes_acked;
  uint64_t bytes_received;
  uint32_t segs_out;
  uint32_t segs_in;
};
static_assert(sizeof(tcp_info) == 104 && offsetof(KernelTcpInfo, segs_out) == 136);

uint32_t segments_out(int fd) {
  KernelTcpInfo info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || len < sizeof info) die("TCP_INFO");
  return info.segs_out;
}

// The same short connection with blocking sockets: on loopback connect() returns with the
// handshake done and each write() has been delivered when it returns. The client binds a
// different address of 127/8 every 16,384 connections (port chosen at connect), because its
// TIME-WAIT sockets would otherwise use up the ephemeral ports within a second.
void BM_LinuxShortConnection(benchmark::State& state) {
  uint16_t port = 0;
  const int listener = linux_listener(&port);
  std::array<char, kMessage> request{};
  std::array<char, kMessage> response{};
  std::array<char, 256> buffer{};
  request.fill('q');
  response.fill('r');
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  server.sin_port = htons(port);
  static uint32_t connection = 0;  // across runs of this function: TIME-WAIT lasts 60 s
  for (auto _ : state) {
    const int c = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(c, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((connection++ >> 14) & 0xffff));
    if (bind(c, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) die("bind");
    if (connect(c, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0) die("connect");
    const int s = accept(listener, nullptr, nullptr);
    if (s < 0) die("accept");
    if (write(c, request.data(), request.size()) != kMessage) die("write request");
    if (read(s, buffer.data(), buffer.size()) != kMessage) die("read request");
    if (write(s, response.data(), response.size()) != kMessage) die("write response");
    if (read(c, buffer.data(), buffer.size()) != kMessage) die("read response");
    close(c);
    if (read(s, buffer.data(), buffer.size()) != 0) die("no end of stream");
    close(s);
  }
  close(listener);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_LinuxShortConnection);

// The same 64-byte request and response on one loopback connection with blocking sockets
// (each write has been delivered when it returns). TCP_NODELAY as a request/response server
// would set it; segments from TCP_INFO of both ends.
void BM_LinuxPingPong(benchmark::State& state) {
  uint16_t port = 0;
  const int listener = linux_listener(&port);
  const int c = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  server.sin_port = htons(port);
  if (connect(c, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0) die("connect");
  const int s = accept(listener, nullptr, nullptr);
  if (s < 0) die("accept");
  const int one = 1;
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::array<char, kMessage> message{};
  std::array<char, 256> buffer{};
  const uint64_t segments_before = uint64_t{segments_out(c)} + segments_out(s);
  for (auto _ : state) {
    if (write(c, message.data(), message.size()) != kMessage) die("write request");
    if (read(s, buffer.data(), buffer.size()) != kMessage) die("read request");
    if (write(s, message.data(), message.size()) != kMessage) die("write response");
    if (read(c, buffer.data(), buffer.size()) != kMessage) die("read response");
  }
  const uint64_t segments = uint64_t{segments_out(c)} + segments_out(s) - segments_before;
  close(c);
  close(s);
  close(listener);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["segments"] =
      benchmark::Counter(static_cast<double>(segments), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_LinuxPingPong);

// Bulk over one loopback connection, non-blocking, one thread alternating write and read.
// range(0) is the MSS clamp: 0 leaves Linux's own (65483 on loopback), kClampedMss makes its
// segments the size of ours. Default buffer sizes and autotuning, as users get them.
void BM_LinuxBulk(benchmark::State& state) {
  const int mss = static_cast<int>(state.range(0));
  uint16_t port = 0;
  const int listener = linux_listener(&port);
  const int c = socket(AF_INET, SOCK_STREAM, 0);
  if (mss > 0) setsockopt(c, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  server.sin_port = htons(port);
  if (connect(c, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0) die("connect");
  const int s = accept(listener, nullptr, nullptr);
  if (s < 0) die("accept");
  fcntl(c, F_SETFL, O_NONBLOCK);
  fcntl(s, F_SETFL, O_NONBLOCK);
  std::vector<char> out(64 * 1024, 'b');
  std::vector<char> in(256 * 1024);
  const uint64_t segments_before = uint64_t{segments_out(c)} + segments_out(s);
  for (auto _ : state) {
    size_t sent = 0;
    size_t received = 0;
    while (received < kBulkChunk) {
      while (sent < kBulkChunk) {
        const ssize_t n = write(c, out.data(), std::min(out.size(), kBulkChunk - sent));
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      for (;;) {
        const ssize_t n = read(s, in.data(), in.size());
        if (n <= 0) break;
        received += static_cast<size_t>(n);
      }
    }
  }
  const uint64_t segments = uint64_t{segments_out(c)} + segments_out(s) - segments_before;
  close(c);
  close(s);
  close(listener);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBulkChunk));
  state.counters["segments"] =
      benchmark::Counter(static_cast<double>(segments), benchmark::Counter::kAvgIterations);
  state.counters["mss"] = mss;
}
BENCHMARK(BM_LinuxBulk)->Arg(0)->Arg(kClampedMss);

}  // namespace
}  // namespace flowgate::bench

BENCHMARK_MAIN();
