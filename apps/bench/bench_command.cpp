// `flowgate bench`: the process around the engine. One AF_XDP socket on one queue of the
// interface, over a UMEM of our own (anonymous memory: no other process shares it), with
// flowgate's XDP program told that the source addresses are ours for all traffic, so their
// replies come to the socket and everything else (the host's own addresses: its ping, its
// SSH) passes to the kernel. Each source address is a Stack; received frames go to the
// stack the demux names, every stack transmits through the same socket.
//
// The loop batches as the gateway's do: up to kRxBatches x kBatch frames per round, one
// kick of the transmit ring per round, busy rounds only while there was work, and a sleep in
// ppoll() (on the socket, a signalfd, and the next deadline of the stacks and the engine)
// when there was none.
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "apps/bench/demux.hpp"
#include "apps/bench/engine.hpp"
#include "apps/bench/options.hpp"
#include "apps/commands.hpp"
#include "rx_tx/xdp/xdp_program.hpp"
#include "rx_tx/xdp/xsk_port.hpp"
#include "stack/stack.hpp"

namespace flowgate {

namespace {

using bench::BenchOptions;

constexpr const char* kWho = "flowgate bench";
constexpr uint32_t kFrameSize = 2048;
constexpr uint32_t kFrames = 16384;  // 32 MiB: half posted for reception, half for sending
constexpr uint32_t kBatch = 64;
constexpr int kRxBatches = 8;

// The UMEM's memory, released after the sockets that use it (declared first, destroyed last).
class Mapping {
 public:
  explicit Mapping(size_t size) : size_(size) {
    base_ = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (base_ == MAP_FAILED) {
      base_ = nullptr;
      throw XskError(std::string("cannot map the UMEM: ") + std::strerror(errno));
    }
  }
  ~Mapping() {
    if (base_ != nullptr) ::munmap(base_, size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  std::byte* base() const { return static_cast<std::byte*>(base_); }
  size_t size() const { return size_; }

 private:
  void* base_ = nullptr;
  size_t size_;
};

// The AF_XDP socket as every stack's Link.
class BenchPort final : public Link {
 public:
  explicit BenchPort(const BenchOptions& o)
      : mapping_(size_t{kFrames} * kFrameSize), rx_descs_(kBatch), completed_(kBatch * 4) {
    if (const std::string err = ensure_bpffs(); !err.empty()) {
      std::fprintf(stderr, "%s: warning: %s; libxdp falls back to a single legacy program\n", kWho,
                   err.c_str());
    }
    program_ =
        XdpProgram::attach(o.interface, o.xdp_native ? XdpAttachMode::native : XdpAttachMode::skb);
    XskRingSizes sizes;
    sizes.fill = 4096;
    sizes.completion = 4096;
    sizes.rx = 2048;
    sizes.tx = 2048;
    umem_ = XskUmem::create(UmemArea{mapping_.base(), mapping_.size(), kFrameSize}, sizes);
    port_ = std::make_unique<XskPort>(*umem_, o.interface, o.queue, *program_, sizes, false);
    std::vector<uint64_t> rx;
    for (uint32_t i = 0; i < kFrames; ++i) {
      (i < sizes.fill ? rx : tx_free_).push_back(uint64_t{i} * kFrameSize);
    }
    const uint32_t posted = port_->post_rx_frames(rx);
    for (size_t i = posted; i < rx.size(); ++i) tx_free_.push_back(rx[i]);
    if (port_->fill_needs_wakeup()) port_->wake_rx();
    // Only now, with the socket registered, are the sources' frames redirected to it.
    for (const auto& s : o.sources) program_->set_address(s, /*all_traffic=*/true);
    tx_batch_.reserve(kBatch);
  }
  ~BenchPort() override {
    // Detach first: from here the sources' frames go to the kernel, which drops them.
    if (program_) program_->detach();
  }

  int fd() const { return port_->fd(); }
  bool tx_pending() const { return sending_ > 0 || !tx_batch_.empty(); }
  uint64_t tx_dropped() const { return tx_dropped_; }

  template <typename OnFrame>
  uint32_t receive(OnFrame&& on_frame) {
    uint32_t total = 0;
    for (int b = 0; b < kRxBatches; ++b) {
      const uint32_t n = port_->receive(rx_descs_);
      for (uint32_t i = 0; i < n; ++i) {
        const FrameDesc& d = rx_descs_[i];
        on_frame(wire::Bytes(mapping_.base() + d.offset, d.length));
        // The stack copied what it keeps: the frame goes straight back for reception.
        recycle_.push_back(d.offset & ~uint64_t{kFrameSize - 1});
      }
      total += n;
      if (n < kBatch) break;
    }
    if (!recycle_.empty()) {
      const uint32_t taken = port_->post_rx_frames(recycle_);
      recycle_.erase(recycle_.begin(), recycle_.begin() + taken);
      if (port_->fill_needs_wakeup()) port_->wake_rx();
    }
    return total;
  }

  bool transmit(wire::Bytes frame) override {
    if (frame.size() > kFrameSize) return false;
    if (tx_free_.empty()) reap();
    if (tx_free_.empty()) {
      ++tx_dropped_;
      return false;
    }
    const uint64_t slot = tx_free_.back();
    tx_free_.pop_back();
    std::memcpy(mapping_.base() + slot, frame.data(), frame.size());
    tx_batch_.push_back(FrameDesc{slot, static_cast<uint32_t>(frame.size())});
    if (tx_batch_.size() >= kBatch) submit();
    return true;
  }

  // Hands the round's frames to the kernel (one kick) and takes back what it finished.
  void flush() {
    submit();
    if (sending_ > 0) port_->flush();
    reap();
  }

 private:
  void submit() {
    if (tx_batch_.empty()) return;
    const uint32_t n = port_->transmit(tx_batch_);
    sending_ += n;
    // What the ring cannot take is lost, as on a full NIC queue; TCP retransmits.
    for (size_t i = n; i < tx_batch_.size(); ++i) {
      tx_free_.push_back(tx_batch_[i].offset);
      ++tx_dropped_;
    }
    tx_batch_.clear();
  }
  void reap() {
    uint32_t n = 0;
    while ((n = port_->completed(completed_)) > 0) {
      for (uint32_t i = 0; i < n; ++i) tx_free_.push_back(completed_[i]);
      sending_ -= n;
    }
  }

  Mapping mapping_;
  std::unique_ptr<XdpProgram> program_;
  std::unique_ptr<XskUmem> umem_;
  std::unique_ptr<XskPort> port_;
  std::vector<uint64_t> tx_free_;
  std::vector<FrameDesc> tx_batch_;
  std::vector<FrameDesc> rx_descs_;
  std::vector<uint64_t> recycle_;
  std::vector<uint64_t> completed_;
  uint32_t sending_ = 0;
  uint64_t tx_dropped_ = 0;
};

// 02:fb and the four octets of the address: locally administered, unicast, and one per
// source, so the peer's neighbour table tells the stacks apart.
wire::MacAddress mac_for(wire::Ipv4Address a) {
  return wire::MacAddress{{0x02, 0xfb, static_cast<uint8_t>(a.value >> 24),
                           static_cast<uint8_t>(a.value >> 16), static_cast<uint8_t>(a.value >> 8),
                           static_cast<uint8_t>(a.value)}};
}

StackConfig stack_config(const BenchOptions& o, wire::Ipv4Address source) {
  StackConfig c;
  c.mac = mac_for(source);
  c.address = {source, o.source_prefix};
  // The whole non-privileged range, for ~64K connections per (source, target).
  c.udp.ephemeral_first = 1024;
  c.udp.ephemeral_last = 65535;
  // Requests are small; the receive window is what responses need.
  c.tcp.send_buffer = 16 * 1024;
  c.tcp.receive_buffer = 64 * 1024;
  if (o.gateway_mac) c.arp.static_entries.push_back({o.target, *o.gateway_mac});
  // The default steering (one worker) accepts every port: each stack stands alone.
  return c;
}

int ms_until(Instant now, std::optional<Instant> t, timespec* ts) {
  if (!t) return -1;
  const int64_t ns = std::max<int64_t>(0, (*t - now).count());
  const int64_t capped = std::min<int64_t>(ns, 1'000'000'000);
  ts->tv_sec = capped / 1'000'000'000;
  ts->tv_nsec = capped % 1'000'000'000;
  return 0;
}

int run_bench(const BenchOptions& o) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  const int sigfd = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

  std::unique_ptr<BenchPort> port;
  try {
    port = std::make_unique<BenchPort>(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 1;
  }
  MonotonicClock clock;
  std::vector<std::unique_ptr<Stack>> stacks;
  std::vector<Stack*> raw;
  for (const auto& s : o.sources) {
    stacks.push_back(std::make_unique<Stack>(stack_config(o, s), clock, *port));
    raw.push_back(stacks.back().get());
  }
  for (auto& s : stacks) s->start();
  port->flush();
  const bench::FrameDemux demux(o.sources);

  rusage before{};
  ::getrusage(RUSAGE_SELF, &before);
  bench::BenchResult result;
  {
    bench::Engine engine(o, raw, clock);
    int signals = 0;
    while (!engine.finished()) {
      const uint32_t got = port->receive([&](wire::Bytes frame) {
        const uint32_t to = demux.classify(frame);
        if (to == bench::FrameDemux::kNone) return;
        if (to == bench::FrameDemux::kEveryStack) {
          for (uint32_t i = 0; i < stacks.size(); ++i) {
            stacks[i]->receive(frame);
            engine.touched(i);
          }
          return;
        }
        stacks[to]->receive(frame);
        engine.touched(to);
      });
      Instant now = clock.now();
      std::optional<Instant> soonest = engine.next_wakeup();
      for (uint32_t i = 0; i < stacks.size(); ++i) {
        auto due = stacks[i]->next_deadline();
        if (due && *due <= now) {
          stacks[i]->poll();
          engine.touched(i);
          due = stacks[i]->next_deadline();
        }
        if (due) soonest = soonest ? std::min(*soonest, *due) : *due;
      }
      const bool worked = engine.step() || got > 0;
      port->flush();
      if (worked || engine.finished()) continue;

      // Nothing happened this round: sleep until a frame, a signal or the next deadline.
      timespec ts{};
      now = clock.now();
      if (const auto w = engine.next_wakeup()) soonest = soonest ? std::min(*soonest, *w) : *w;
      if (port->tx_pending()) {
        const Instant retry = now + std::chrono::milliseconds(1);  // copy mode sends on kicks
        soonest = soonest ? std::min(*soonest, retry) : retry;
      }
      const bool timed = ms_until(now, soonest, &ts) == 0;
      pollfd fds[2] = {{port->fd(), POLLIN, 0}, {sigfd, POLLIN, 0}};
      const int rc = ::ppoll(fds, sigfd >= 0 ? 2 : 1, timed ? &ts : nullptr, nullptr);
      if (rc < 0 && errno != EINTR) {
        std::fprintf(stderr, "%s: poll: %s\n", kWho, std::strerror(errno));
        return 1;
      }
      if (rc > 0 && sigfd >= 0 && (fds[1].revents & POLLIN) != 0) {
        signalfd_siginfo info{};
        while (::read(sigfd, &info, sizeof info) == sizeof info) ++signals;
        if (signals == 1) {
          std::fprintf(stderr, "%s: interrupted: finishing (again to stop at once)\n", kWho);
          engine.interrupt();
        } else {
          break;
        }
      }
    }
    result = engine.result();
  }
  port->flush();
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  auto secs = [](const timeval& a, const timeval& b) {
    return static_cast<double>(b.tv_sec - a.tv_sec) +
           static_cast<double>(b.tv_usec - a.tv_usec) / 1e6;
  };
  result.cpu_user_s = secs(before.ru_utime, after.ru_utime);
  result.cpu_sys_s = secs(before.ru_stime, after.ru_stime);
  const std::string out = o.json ? bench::format_json(result) : bench::format_text(result);
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  if (port->tx_dropped() > 0) {
    std::fprintf(stderr, "%s: %llu frames found the transmit ring full (retransmitted by TCP)\n",
                 kWho, static_cast<unsigned long long>(port->tx_dropped()));
  }
  // The stacks' own drops, summed: where a shortfall in the report comes from.
  for (size_t r = 0; r < kDropReasonCount; ++r) {
    uint64_t n = 0;
    for (const auto& st : stacks) n += st->counters()[static_cast<DropReason>(r)];
    if (n == 0) continue;
    const std::string_view what = name(static_cast<DropReason>(r));
    std::fprintf(stderr, "%s: stack drops %.*s %llu\n", kWho, static_cast<int>(what.size()),
                 what.data(), static_cast<unsigned long long>(n));
  }
  stacks.clear();
  if (sigfd >= 0) ::close(sigfd);
  return 0;
}

}  // namespace

int run_bench_command(const std::vector<std::string>& args) {
  const bench::ParseResult parsed = bench::parse_bench_options(args);
  if (std::holds_alternative<bench::ParseHelp>(parsed)) {
    std::fputs(bench::kBenchUsage, stdout);
    return 0;
  }
  if (const auto* e = std::get_if<bench::ParseError>(&parsed)) {
    std::fprintf(stderr, "%s: %s\nTry 'flowgate bench --help'.\n", kWho, e->message.c_str());
    return 2;
  }
  return run_bench(std::get<BenchOptions>(parsed));
}

}  // namespace flowgate
