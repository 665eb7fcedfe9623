#include "rx_tx/io_process.hpp"

#include <poll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "rx_tx/af_packet_port.hpp"
#include "rx_tx/frame_port.hpp"
#include "rx_tx/xdp/xdp_program.hpp"
#include "rx_tx/xdp/xsk_port.hpp"
#include "shm/frame_ownership.hpp"
#include "shm/wakeup.hpp"
#include "stack/clock.hpp"

namespace flowgate {
namespace {

namespace owner = shm::owner;
using shm::RingDesc;

constexpr const char* kWho = "flowgate io";
// Descriptors per ring operation and per port call.
constexpr uint32_t kBatch = 64;
// Receive batches per port before the workers' rings get their turn.
constexpr int kRxBatchesPerRound = 8;
// While frames wait in a TX ring for the kernel, look again this often even with nothing
// else to do (copy-mode AF_XDP sends only inside the system call that kicks it).
constexpr int kTxPendingRetryMs = 1;

// The RX queues of an interface: /sys/class/net/IF/queues/rx-N.
std::vector<uint32_t> all_rx_queues(const std::string& interface) {
  std::vector<uint32_t> queues;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/sys/class/net/" + interface + "/queues", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("rx-", 0) == 0)
      queues.push_back(static_cast<uint32_t>(std::stoul(name.substr(3))));
  }
  std::sort(queues.begin(), queues.end());
  if (queues.empty()) queues.push_back(0);
  return queues;
}

class IoProcess final : private FaultEnvironment {
 public:
  IoProcess(shm::Segment& segment, const IoOptions& options);
  int run();

 private:
  struct WorkerSide {
    shm::RingProducer<RingDesc> rx;
    shm::RingProducer<RingDesc> completion;
    shm::RingConsumer<RingDesc> tx;
    shm::RingConsumer<RingDesc> free;
    std::vector<RingDesc> rx_batch;  // dispatched this round, submitted at its end
    bool serving = false;            // running and fed by us
    uint32_t served_generation = 0;
    bool wake_due = false;
  };
  struct PortSide {
    std::unique_ptr<FramePort> port;
    XskPort* xsk = nullptr;  // the same port when it is AF_XDP (fill-ring wakeups)
    uint32_t posted = 0;     // frames posted for reception, not yet received
    uint32_t sending = 0;    // frames handed for sending, not yet completed
    std::vector<FrameDesc> tx_batch;
  };

  void open_link();
  void attach_worker_rings(uint32_t k);

  // FaultEnvironment
  wire::MutableBytes bytes(const FrameDesc& frame) override;
  std::optional<FrameDesc> copy(const FrameDesc& frame) override;
  void discard(const FrameDesc& frame) override;

  bool round(Instant now);
  void check_workers();
  void reclaim(uint32_t k);
  uint32_t receive_from(PortSide& p, Instant now);
  void route(const FrameDesc& frame, Instant now);
  void give_to_worker(uint32_t k, const FrameDesc& frame);
  void submit_rx(uint32_t k);
  uint32_t take_frees(uint32_t k);
  uint32_t take_transmissions(uint32_t k, Instant now);
  void send(uint32_t k, const FrameDesc& frame);
  void flush_port(PortSide& p);
  uint32_t take_completions(PortSide& p);
  void lend(uint32_t k);
  void post_fill(PortSide& p);
  void publish();
  bool sleep(Instant now);

  uint64_t slot_of(uint64_t offset) const { return offset & ~uint64_t{frame_size_ - 1}; }
  uint8_t& tag(uint64_t offset) { return tags_[offset / frame_size_]; }
  void release_frame(uint64_t offset) {
    const uint64_t slot = slot_of(offset);
    tag(slot) = owner::kIoFree;
    free_.push_back(slot);
  }
  std::optional<uint64_t> take_free() {
    if (free_.empty()) return std::nullopt;
    const uint64_t slot = free_.back();
    free_.pop_back();
    return slot;
  }
  // A descriptor from worker k: inside the UMEM, within its frame, and tagged as coming
  // from k. Anything else is refused, so a confused worker cannot free or send a frame it
  // does not hold.
  bool valid_from_worker(uint32_t k, const RingDesc& d) const {
    if (d.offset >= umem_size_ || d.length > frame_size_ - d.offset % frame_size_) return false;
    return tags_[d.offset / frame_size_] == owner::in_transit_from(k);
  }

  shm::Segment& segment_;
  const IoOptions& options_;
  shm::IoBlock& io_;
  IoMetrics& metrics_;
  MonotonicClock clock_;
  std::byte* umem_;
  uint8_t* tags_;
  uint32_t frame_size_;
  uint64_t umem_size_;
  uint32_t frame_count_;
  uint32_t worker_count_;
  uint32_t ring_size_;

  std::unique_ptr<XdpProgram> program_;
  std::unique_ptr<XskUmem> umem_registration_;
  std::vector<PortSide> ports_;
  std::vector<WorkerSide> workers_;
  std::vector<uint64_t> free_;  // slot offsets of free frames
  Dispatcher dispatcher_;
  std::optional<FaultInjector> faults_rx_;
  std::optional<FaultInjector> faults_tx_;
  std::vector<FrameDesc> fault_out_;
  std::vector<FrameDesc> rx_descs_;
  std::vector<uint64_t> slots_;
  std::vector<uint32_t> copy_targets_;
  std::vector<pollfd> poll_fds_;
  uint32_t fill_target_ = 0;  // frames kept posted per port
  uint32_t lend_target_ = 0;  // transmit frames lent per worker
  bool stop_ = false;
};

IoProcess::IoProcess(shm::Segment& segment, const IoOptions& options)
    : segment_(segment),
      options_(options),
      io_(segment.io()),
      metrics_(io_metrics(segment)),
      umem_(segment.umem()),
      tags_(segment.frame_tags()),
      frame_size_(segment.layout().params.frame_size),
      umem_size_(segment.umem_size()),
      frame_count_(segment.layout().params.frame_count),
      worker_count_(segment.worker_count()),
      ring_size_(segment.layout().params.ring_size),
      workers_(segment.worker_count()),
      dispatcher_(segment.worker_count(), segment.header().flow_seed),
      rx_descs_(kBatch),
      slots_(kBatch * 4) {
  if (options.faults_rx) faults_rx_.emplace(*options.faults_rx);
  if (options.faults_tx) faults_tx_.emplace(*options.faults_tx);
  // Every frame starts free. (A new I/O process starts with a new segment: the supervisor
  // never restarts the I/O process alone.)
  free_.reserve(frame_count_);
  for (uint32_t i = frame_count_; i-- > 0;) {
    tags_[i] = owner::kIoFree;
    free_.push_back(uint64_t{i} * frame_size_);
  }
  for (uint32_t k = 0; k < worker_count_; ++k) attach_worker_rings(k);
}

void IoProcess::attach_worker_rings(uint32_t k) {
  WorkerSide& w = workers_[k];
  w.rx = shm::RingProducer<RingDesc>(segment_.ring(k, shm::RingKind::rx));
  w.completion = shm::RingProducer<RingDesc>(segment_.ring(k, shm::RingKind::completion));
  w.tx = shm::RingConsumer<RingDesc>(segment_.ring(k, shm::RingKind::tx));
  w.free = shm::RingConsumer<RingDesc>(segment_.ring(k, shm::RingKind::free));
  w.rx_batch.clear();
  w.rx_batch.reserve(ring_size_);
}

void IoProcess::open_link() {
  const UmemArea area{umem_, umem_size_, frame_size_};
  if (options_.backend == IoBackend::af_packet) {
    AfPacketPortConfig config;
    config.interface = options_.interface;
    config.socket.promiscuous = options_.promiscuous;
    config.rx_capacity = std::max<uint32_t>(kBatch, frame_count_ / 4);
    PortSide p;
    p.port = std::make_unique<AfPacketPort>(area, config);
    ports_.push_back(std::move(p));
  } else {
    if (const std::string err = ensure_bpffs(); !err.empty()) {
      std::fprintf(stderr, "%s: warning: %s; libxdp falls back to a single legacy program\n", kWho,
                   err.c_str());
    }
    program_ = XdpProgram::attach(options_.interface,
                                  options_.xdp_native ? XdpAttachMode::native : XdpAttachMode::skb);
    const std::vector<uint32_t> queues =
        options_.queues.empty() ? all_rx_queues(options_.interface) : options_.queues;
    XskRingSizes sizes;
    // Fill and completion rings as large as a port may ever need at once.
    sizes.fill = std::min<uint32_t>(4096, std::bit_floor(frame_count_ / 4));
    sizes.completion = sizes.fill;
    sizes.rx = std::min<uint32_t>(2048, sizes.fill);
    sizes.tx = sizes.rx;
    umem_registration_ = XskUmem::create(area, sizes);
    for (uint32_t q : queues) {
      PortSide p;
      auto xsk = std::make_unique<XskPort>(*umem_registration_, options_.interface, q, *program_,
                                           sizes, options_.xdp_force_copy);
      p.xsk = xsk.get();
      p.port = std::move(xsk);
      ports_.push_back(std::move(p));
    }
    // Only now, with a socket on every queue, does our address's traffic go to them: until
    // here the program passed everything to the kernel.
    program_->set_address(options_.address, /*all_traffic=*/true);
  }
  for (PortSide& p : ports_) p.tx_batch.reserve(kBatch * 4);
  // A quarter of the frames is kept posted for reception (across ports), a quarter lent to
  // the workers for transmission; the rest is in the workers' rx rings or free for bursts.
  fill_target_ =
      std::max<uint32_t>(kBatch, frame_count_ / 4 / static_cast<uint32_t>(ports_.size()));
  lend_target_ = std::min(ring_size_, std::max<uint32_t>(kBatch, frame_count_ / 4 / worker_count_));
}

wire::MutableBytes IoProcess::bytes(const FrameDesc& frame) {
  return wire::MutableBytes(umem_ + frame.offset, frame.length);
}

std::optional<FrameDesc> IoProcess::copy(const FrameDesc& frame) {
  const auto slot = take_free();
  if (!slot) return std::nullopt;
  std::memcpy(umem_ + *slot, umem_ + frame.offset, frame.length);
  tag(*slot) = owner::kIoInHand;
  return FrameDesc{*slot, frame.length};
}

void IoProcess::discard(const FrameDesc& frame) {
  release_frame(frame.offset);
}

int IoProcess::run() {
  try {
    open_link();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 1;
  }
  io_.pid.store(::getpid(), std::memory_order_relaxed);
  io_.state.store(static_cast<uint32_t>(shm::IoState::running), std::memory_order_release);
  for (PortSide& p : ports_) post_fill(p);
  publish();
  if (options_.supervisor_wake_fd >= 0) shm::signal_eventfd(options_.supervisor_wake_fd);

  while (!stop_) {
    const Instant now = clock_.now();
    const bool worked = round(now);
    publish();
    io_.heartbeat_ns.store(static_cast<uint64_t>(now.time_since_epoch().count()),
                           std::memory_order_relaxed);
    if (!worked && !sleep(now)) return 1;
  }
  io_.state.store(static_cast<uint32_t>(shm::IoState::stopping), std::memory_order_release);
  return 0;
}

bool IoProcess::round(Instant now) {
  check_workers();
  uint32_t moved = 0;
  for (PortSide& p : ports_) {
    for (int b = 0; b < kRxBatchesPerRound; ++b) {
      const uint32_t n = receive_from(p, now);
      moved += n;
      if (n < kBatch) break;
    }
  }
  if (faults_rx_) {
    fault_out_.clear();
    faults_rx_->release_due(now, fault_out_);
    for (const FrameDesc& f : fault_out_) route(f, now);
  }
  for (uint32_t k = 0; k < worker_count_; ++k) submit_rx(k);

  for (uint32_t k = 0; k < worker_count_; ++k) {
    if (!workers_[k].serving) continue;
    moved += take_frees(k);
    moved += take_transmissions(k, now);
  }
  if (faults_tx_) {
    fault_out_.clear();
    faults_tx_->release_due(now, fault_out_);
    for (const FrameDesc& f : fault_out_) send(0, f);
  }
  for (PortSide& p : ports_) flush_port(p);
  for (PortSide& p : ports_) moved += take_completions(p);

  for (uint32_t k = 0; k < worker_count_; ++k) {
    if (workers_[k].serving) lend(k);
  }
  for (PortSide& p : ports_) post_fill(p);
  for (uint32_t k = 0; k < worker_count_; ++k) {
    WorkerSide& w = workers_[k];
    if (!w.wake_due) continue;
    w.wake_due = false;
    if (shm::wake_if_sleeping(segment_.worker(k).control.wake, options_.worker_wake_fds[k])) {
      ++metrics_.io.wakeups_sent;
    }
  }
  return moved > 0;
}

void IoProcess::check_workers() {
  for (uint32_t k = 0; k < worker_count_; ++k) {
    shm::WorkerControl& c = segment_.worker(k).control;
    const auto state = static_cast<shm::WorkerState>(c.state.load(std::memory_order_acquire));
    WorkerSide& w = workers_[k];
    if (state == shm::WorkerState::running) {
      const uint32_t generation = c.generation.load(std::memory_order_relaxed);
      if (!w.serving || w.served_generation != generation) {
        w.serving = true;
        w.served_generation = generation;
      }
    } else if (state == shm::WorkerState::dead) {
      reclaim(k);
      c.state.store(static_cast<uint32_t>(shm::WorkerState::reclaimed), std::memory_order_release);
      if (options_.supervisor_wake_fd >= 0) shm::signal_eventfd(options_.supervisor_wake_fd);
    } else {
      w.serving = false;
    }
  }
}

// Worker k is dead: nobody else touches its rings now. Everything it held or had in its
// rings comes back, found by tag, and its rings start empty for the next worker.
void IoProcess::reclaim(uint32_t k) {
  WorkerSide& w = workers_[k];
  w.serving = false;
  uint64_t reclaimed = 0;
  for (auto* ring : {&w.free, &w.tx}) {
    uint32_t first = 0;
    uint32_t n = 0;
    while ((n = ring->peek(kBatch, &first)) > 0) {
      for (uint32_t i = 0; i < n; ++i) {
        const RingDesc& d = ring->slot(first + i);
        if (!valid_from_worker(k, d)) continue;
        release_frame(d.offset);
        ++reclaimed;
      }
      ring->release(n);
    }
  }
  // Frames it held, frames in its rx and completion rings (tagged for it), and any it tagged
  // for sending back but died before publishing.
  for (uint32_t i = 0; i < frame_count_; ++i) {
    if (tags_[i] == owner::worker(k) || tags_[i] == owner::in_transit_from(k)) {
      release_frame(uint64_t{i} * frame_size_);
      ++reclaimed;
    }
  }
  for (auto kind :
       {shm::RingKind::rx, shm::RingKind::completion, shm::RingKind::tx, shm::RingKind::free}) {
    segment_.ring(k, kind).reset();
  }
  attach_worker_rings(k);
  shm::WorkerControl& c = segment_.worker(k).control;
  c.rx_held.store(0, std::memory_order_relaxed);
  c.tx_pool.store(0, std::memory_order_relaxed);
  c.tx_pending.store(0, std::memory_order_relaxed);
  io_.lent[k].store(0, std::memory_order_relaxed);
  ++metrics_.io.worker_reclaims;
  metrics_.io.frames_reclaimed += reclaimed;
}

uint32_t IoProcess::receive_from(PortSide& p, Instant now) {
  const uint32_t n = p.port->receive(std::span<FrameDesc>(rx_descs_.data(), kBatch));
  p.posted -= n;
  for (uint32_t i = 0; i < n; ++i) {
    const FrameDesc d = rx_descs_[i];
    tag(d.offset) = owner::kIoInHand;
    ++metrics_.io.rx_frames;
    metrics_.io.rx_bytes += d.length;
    if (faults_rx_) {
      tag(d.offset) = owner::kFaultHeld;  // until the injector lets it go (or discards it)
      fault_out_.clear();
      faults_rx_->process(d, now, *this, fault_out_);
      for (const FrameDesc& f : fault_out_) route(f, now);
    } else {
      route(d, now);
    }
  }
  return n;
}

void IoProcess::route(const FrameDesc& frame, Instant now) {
  tag(frame.offset) = owner::kIoInHand;
  const DispatchDecision decision =
      dispatcher_.classify(wire::Bytes(umem_ + frame.offset, frame.length), now);
  switch (decision.kind) {
    case DispatchKind::drop:
      ++metrics_.io.drop_dispatch;
      release_frame(frame.offset);
      return;
    case DispatchKind::one_worker:
      give_to_worker(decision.worker, frame);
      return;
    case DispatchKind::all_workers: {
      // Every running worker gets its own copy (each frees it on its own); the original
      // goes to the last one.
      std::vector<uint32_t>& targets = copy_targets_;
      targets.clear();
      for (uint32_t k = 0; k < worker_count_; ++k) {
        if (workers_[k].serving) targets.push_back(k);
      }
      if (targets.empty()) {
        ++metrics_.io.drop_worker_down;
        release_frame(frame.offset);
        return;
      }
      for (size_t i = 0; i + 1 < targets.size(); ++i) {
        const auto copied = copy(frame);
        if (!copied) {
          ++metrics_.io.drop_no_frame_for_copy;
          continue;
        }
        give_to_worker(targets[i], *copied);
      }
      give_to_worker(targets.back(), frame);
      return;
    }
  }
}

void IoProcess::give_to_worker(uint32_t k, const FrameDesc& frame) {
  WorkerSide& w = workers_[k];
  if (!w.serving) {
    ++metrics_.io.drop_worker_down;
    release_frame(frame.offset);
    return;
  }
  if (w.rx_batch.size() >= ring_size_) {
    ++metrics_.io.drop_worker_ring_full;
    release_frame(frame.offset);
    return;
  }
  tag(frame.offset) = owner::worker(k);
  w.rx_batch.push_back(RingDesc{frame.offset, frame.length, 0});
}

void IoProcess::submit_rx(uint32_t k) {
  WorkerSide& w = workers_[k];
  if (w.rx_batch.empty()) return;
  size_t done = 0;
  while (done < w.rx_batch.size()) {
    uint32_t first = 0;
    const uint32_t n = w.rx.reserve(static_cast<uint32_t>(w.rx_batch.size() - done), &first);
    if (n == 0) break;
    for (uint32_t i = 0; i < n; ++i) w.rx.slot(first + i) = w.rx_batch[done + i];
    w.rx.submit(n);
    done += n;
  }
  // What the ring cannot take is lost, as on a NIC whose queue overflows: the worker is
  // behind, and holding more frames for it would starve the others.
  for (size_t i = done; i < w.rx_batch.size(); ++i) {
    ++metrics_.io.drop_worker_ring_full;
    release_frame(w.rx_batch[i].offset);
  }
  metrics_.io.rx_to_workers += done;
  w.rx_batch.clear();
  if (done > 0) w.wake_due = true;
}

uint32_t IoProcess::take_frees(uint32_t k) {
  WorkerSide& w = workers_[k];
  uint32_t total = 0;
  uint32_t first = 0;
  uint32_t n = 0;
  while ((n = w.free.peek(kBatch * 4, &first)) > 0) {
    for (uint32_t i = 0; i < n; ++i) {
      const RingDesc& d = w.free.slot(first + i);
      if (!valid_from_worker(k, d)) {
        ++metrics_.io.bad_descriptors;
        continue;
      }
      release_frame(d.offset);
    }
    w.free.release(n);
    total += n;
  }
  return total;
}

uint32_t IoProcess::take_transmissions(uint32_t k, Instant now) {
  WorkerSide& w = workers_[k];
  uint32_t total = 0;
  uint32_t first = 0;
  uint32_t n = 0;
  while ((n = w.tx.peek(kBatch, &first)) > 0) {
    for (uint32_t i = 0; i < n; ++i) {
      const RingDesc& d = w.tx.slot(first + i);
      if (!valid_from_worker(k, d)) {
        ++metrics_.io.bad_descriptors;
        continue;
      }
      // The frame leaves the worker's loan for good: once sent it returns to the free list.
      io_.lent[k].fetch_sub(1, std::memory_order_relaxed);
      const FrameDesc frame{d.offset, d.length};
      if (faults_tx_) {
        tag(frame.offset) = owner::kFaultHeld;
        fault_out_.clear();
        faults_tx_->process(frame, now, *this, fault_out_);
        for (const FrameDesc& f : fault_out_) send(k, f);
      } else {
        send(k, frame);
      }
    }
    w.tx.release(n);
    total += n;
  }
  return total;
}

void IoProcess::send(uint32_t k, const FrameDesc& frame) {
  PortSide& p = ports_[k % ports_.size()];
  tag(frame.offset) = owner::kKernelTx;
  p.tx_batch.push_back(frame);
  if (p.tx_batch.size() >= kBatch) flush_port(p);
}

void IoProcess::flush_port(PortSide& p) {
  if (!p.tx_batch.empty()) {
    const uint32_t n = p.port->transmit(p.tx_batch);
    for (uint32_t i = 0; i < n; ++i) {
      ++metrics_.io.tx_frames;
      metrics_.io.tx_bytes += p.tx_batch[i].length;
    }
    p.sending += n;
    for (size_t i = n; i < p.tx_batch.size(); ++i) {
      ++metrics_.io.tx_link_full;
      release_frame(p.tx_batch[i].offset);
    }
    p.tx_batch.clear();
  }
  if (p.sending > 0) p.port->flush();
}

uint32_t IoProcess::take_completions(PortSide& p) {
  uint32_t total = 0;
  uint32_t n = 0;
  while ((n = p.port->completed(slots_)) > 0) {
    for (uint32_t i = 0; i < n; ++i) release_frame(slots_[i]);
    p.sending -= n;
    total += n;
  }
  return total;
}

void IoProcess::lend(uint32_t k) {
  WorkerSide& w = workers_[k];
  const uint32_t lent = io_.lent[k].load(std::memory_order_relaxed);
  if (lent >= lend_target_ || free_.empty()) return;
  uint32_t first = 0;
  const uint32_t want =
      std::min<uint32_t>(lend_target_ - lent, static_cast<uint32_t>(free_.size()));
  const uint32_t n = w.completion.reserve(want, &first);
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t slot = *take_free();
    tag(slot) = owner::worker(k);
    w.completion.slot(first + i) = RingDesc{slot, 0, 0};
  }
  if (n == 0) return;
  w.completion.submit(n);
  io_.lent[k].fetch_add(n, std::memory_order_relaxed);
  metrics_.io.frames_lent += n;
  w.wake_due = true;
}

void IoProcess::post_fill(PortSide& p) {
  if (p.posted >= fill_target_) return;
  uint32_t want = fill_target_ - p.posted;
  if (free_.size() < want) {
    ++metrics_.io.fill_starved;
    want = static_cast<uint32_t>(free_.size());
  }
  while (want > 0) {
    const uint32_t chunk = std::min<uint32_t>(want, static_cast<uint32_t>(slots_.size()));
    // The last `chunk` free frames, without popping yet: the port may take fewer.
    const size_t base = free_.size() - chunk;
    for (uint32_t i = 0; i < chunk; ++i) slots_[i] = free_[base + i];
    const uint32_t taken = p.port->post_rx_frames(std::span<const uint64_t>(slots_.data(), chunk));
    for (uint32_t i = 0; i < taken; ++i) tag(slots_[i]) = owner::kKernelRx;
    // The port took the first `taken` of the chunk; the rest stay free, in place.
    free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(base),
                free_.begin() + static_cast<std::ptrdiff_t>(base + taken));
    p.posted += taken;
    want -= taken;
    if (taken < chunk) break;
  }
  if (p.xsk != nullptr && p.xsk->fill_needs_wakeup()) p.xsk->wake_rx();
}

void IoProcess::publish() {
  uint32_t posted = 0, sending = 0;
  for (const PortSide& p : ports_) {
    posted += p.posted;
    sending += p.sending;
  }
  io_.frames.free.store(static_cast<uint32_t>(free_.size()), std::memory_order_relaxed);
  io_.frames.kernel_rx.store(posted, std::memory_order_relaxed);
  io_.frames.kernel_tx.store(sending, std::memory_order_relaxed);
  const size_t held =
      (faults_rx_ ? faults_rx_->frames_held() : 0) + (faults_tx_ ? faults_tx_->frames_held() : 0);
  io_.frames.fault_held.store(static_cast<uint32_t>(held), std::memory_order_relaxed);
  io_.frames.in_hand.store(0, std::memory_order_relaxed);
  if (faults_rx_) metrics_.faults_rx = faults_rx_->counters();
  if (faults_tx_) metrics_.faults_tx = faults_tx_->counters();
  metrics_.dispatch = dispatcher_.counters();
}

// Returns false on a fatal error.
bool IoProcess::sleep(Instant now) {
  shm::announce_sleep(io_.wake);
  // The last look, after announcing: a worker that submitted before seeing the flag is
  // caught here; one that submits after it sees the flag and wakes us.
  for (uint32_t k = 0; k < worker_count_; ++k) {
    WorkerSide& w = workers_[k];
    if (w.serving && (!w.tx.empty() || !w.free.empty())) {
      shm::cancel_sleep(io_.wake);
      return true;
    }
  }
  std::optional<Instant> wake;
  for (auto* f : {&faults_rx_, &faults_tx_}) {
    if (*f && (*f)->next_deadline()) {
      wake = wake ? std::min(*wake, *(*f)->next_deadline()) : *(*f)->next_deadline();
    }
  }
  int timeout = -1;
  if (wake) {
    const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*wake - now).count();
    timeout = static_cast<int>(std::clamp<int64_t>((ns + 999'999) / 1'000'000, 0, 1000));
  }
  for (const PortSide& p : ports_) {
    if (p.sending > 0)
      timeout = timeout < 0 ? kTxPendingRetryMs : std::min(timeout, kTxPendingRetryMs);
  }
  ++metrics_.io.sleeps;
  std::vector<pollfd>& fds = poll_fds_;
  fds.clear();
  for (const PortSide& p : ports_) fds.push_back({p.port->fd(), POLLIN, 0});
  fds.push_back({options_.wake_fd, POLLIN, 0});
  fds.push_back({options_.signal_fd, POLLIN, 0});
  const int rc = ::poll(fds.data(), fds.size(), timeout);
  shm::cancel_sleep(io_.wake);
  if (rc < 0) {
    if (errno == EINTR) return true;
    std::fprintf(stderr, "%s: poll: %s\n", kWho, std::strerror(errno));
    return false;
  }
  const pollfd& wake_fd = fds[fds.size() - 2];
  const pollfd& signal_fd = fds[fds.size() - 1];
  if ((wake_fd.revents & POLLIN) != 0) shm::drain_eventfd(options_.wake_fd);
  if ((signal_fd.revents & POLLIN) != 0) {
    signalfd_siginfo info{};
    if (::read(options_.signal_fd, &info, sizeof info) == sizeof info) stop_ = true;
  }
  return true;
}

}  // namespace

IoMetrics& io_metrics(const shm::Segment& segment) {
  return *reinterpret_cast<IoMetrics*>(segment.io().metrics);
}

int run_io_process(shm::Segment& segment, const IoOptions& options) {
  IoProcess io(segment, options);
  return io.run();
}

}  // namespace flowgate
