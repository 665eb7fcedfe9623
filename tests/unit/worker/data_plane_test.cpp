// A worker's side of the rings, with the test playing the I/O process on a real segment:
// received frames are read in place and returned, transmissions are copied into lent frames,
// tags move as frame_ownership.hpp says, and what is not the worker's is refused.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "shm/frame_ownership.hpp"
#include "shm/segment.hpp"
#include "worker/worker.hpp"

namespace flowgate {
namespace {

namespace owner = shm::owner;
using shm::RingDesc;
using shm::RingKind;

class WorkerDataPlaneTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kWorker = 1;
  static constexpr uint32_t kFrameSize = 2048;

  void SetUp() override {
    instance_ = "test-plane-" + std::to_string(::getpid());
    shm::Segment::remove(instance_);
    shm::SegmentParams p;
    p.worker_count = 2;
    p.frame_count = 256;
    p.frame_size = kFrameSize;
    p.ring_size = 64;
    p.config_capacity = 4096;
    segment_ = shm::Segment::create(instance_, p, "", 1, 0);
    for (uint32_t i = 0; i < p.frame_count; ++i) segment_->frame_tags()[i] = owner::kIoFree;
    io_wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ASSERT_GE(io_wake_, 0);
    plane_ = std::make_unique<WorkerDataPlane>(*segment_, kWorker, io_wake_);
    rx_ = shm::RingProducer<RingDesc>(segment_->ring(kWorker, RingKind::rx));
    completion_ = shm::RingProducer<RingDesc>(segment_->ring(kWorker, RingKind::completion));
    tx_ = shm::RingConsumer<RingDesc>(segment_->ring(kWorker, RingKind::tx));
    free_ = shm::RingConsumer<RingDesc>(segment_->ring(kWorker, RingKind::free));
  }
  void TearDown() override {
    plane_.reset();
    segment_.reset();
    shm::Segment::remove(instance_);
    ::close(io_wake_);
  }

  uint64_t offset(uint32_t frame) const { return uint64_t{frame} * kFrameSize; }
  uint8_t& tag(uint32_t frame) { return segment_->frame_tags()[frame]; }

  // The I/O process's moves.
  void deliver(uint32_t frame, const std::string& bytes, uint8_t as_tag) {
    std::memcpy(segment_->umem() + offset(frame), bytes.data(), bytes.size());
    tag(frame) = as_tag;
    uint32_t at = 0;
    ASSERT_EQ(rx_.reserve(1, &at), 1u);
    rx_.slot(at) = RingDesc{offset(frame), static_cast<uint32_t>(bytes.size()), 0};
    rx_.submit(1);
  }
  void lend(uint32_t frame) {
    tag(frame) = owner::worker(kWorker);
    uint32_t at = 0;
    ASSERT_EQ(completion_.reserve(1, &at), 1u);
    completion_.slot(at) = RingDesc{offset(frame), 0, 0};
    completion_.submit(1);
  }
  std::vector<RingDesc> take(shm::RingConsumer<RingDesc>& ring) {
    std::vector<RingDesc> out;
    uint32_t at = 0;
    const uint32_t n = ring.peek(64, &at);
    for (uint32_t i = 0; i < n; ++i) out.push_back(ring.slot(at + i));
    ring.release(n);
    return out;
  }
  std::string bytes_of(const RingDesc& d) {
    return std::string(reinterpret_cast<const char*>(segment_->umem() + d.offset), d.length);
  }

  std::string instance_;
  std::unique_ptr<shm::Segment> segment_;
  int io_wake_ = -1;
  std::unique_ptr<WorkerDataPlane> plane_;
  shm::RingProducer<RingDesc> rx_;
  shm::RingProducer<RingDesc> completion_;
  shm::RingConsumer<RingDesc> tx_;
  shm::RingConsumer<RingDesc> free_;
};

TEST_F(WorkerDataPlaneTest, ReceivedFramesAreReadInPlaceThenReturnedOnTheFreeRing) {
  deliver(10, "first frame", owner::worker(kWorker));
  deliver(11, "second", owner::worker(kWorker));
  std::vector<std::string> seen;
  std::vector<const std::byte*> where;
  EXPECT_TRUE(plane_->has_input());
  const uint32_t n = plane_->receive(64, [&](wire::Bytes f) {
    seen.emplace_back(reinterpret_cast<const char*>(f.data()), f.size());
    where.push_back(f.data());
  });
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(seen, (std::vector<std::string>{"first frame", "second"}));
  EXPECT_EQ(where[0], segment_->umem() + offset(10)) << "no copy: the frame in the UMEM";
  EXPECT_TRUE(free_.empty()) << "frees wait for the flush, to go in one batch";
  EXPECT_EQ(segment_->worker(kWorker).control.rx_held.load(), 0u) << "not published yet";
  plane_->flush();
  const std::vector<RingDesc> freed = take(free_);
  ASSERT_EQ(freed.size(), 2u);
  EXPECT_EQ(freed[0].offset, offset(10));
  EXPECT_EQ(freed[1].offset, offset(11));
  EXPECT_EQ(tag(10), owner::in_transit_from(kWorker));
  EXPECT_EQ(tag(11), owner::in_transit_from(kWorker));
  EXPECT_EQ(segment_->worker(kWorker).control.rx_held.load(), 0u);
  EXPECT_FALSE(plane_->has_input());
}

TEST_F(WorkerDataPlaneTest, FramesNotTaggedForThisWorkerAreRefusedAndKept) {
  deliver(20, "for worker 0", owner::worker(0));
  deliver(21, "free frame", owner::kIoFree);
  deliver(22, "ours", owner::worker(kWorker));
  std::vector<std::string> seen;
  plane_->receive(64, [&](wire::Bytes f) {
    seen.emplace_back(reinterpret_cast<const char*>(f.data()), f.size());
  });
  EXPECT_EQ(seen, std::vector<std::string>{"ours"});
  EXPECT_EQ(plane_->metrics().worker.rx_bad_descriptor, 2u);
  plane_->flush();
  const std::vector<RingDesc> freed = take(free_);
  ASSERT_EQ(freed.size(), 1u) << "only its own frame goes back: the others are not its to free";
  EXPECT_EQ(freed[0].offset, offset(22));
  EXPECT_EQ(tag(20), owner::worker(0));
  EXPECT_EQ(tag(21), owner::kIoFree);
}

TEST_F(WorkerDataPlaneTest, TransmissionsUseLentFramesAndStopWhenNoneIsLeft) {
  for (uint32_t f = 30; f < 33; ++f) lend(f);
  const std::string a = "frame a", b(1500, 'b'), c = "frame c", d = "frame d";
  EXPECT_TRUE(
      plane_->transmit(wire::Bytes(reinterpret_cast<const std::byte*>(a.data()), a.size())));
  EXPECT_TRUE(
      plane_->transmit(wire::Bytes(reinterpret_cast<const std::byte*>(b.data()), b.size())));
  EXPECT_TRUE(
      plane_->transmit(wire::Bytes(reinterpret_cast<const std::byte*>(c.data()), c.size())));
  EXPECT_FALSE(
      plane_->transmit(wire::Bytes(reinterpret_cast<const std::byte*>(d.data()), d.size())))
      << "three frames lent, three sent";
  EXPECT_EQ(plane_->metrics().worker.tx_no_frame, 1u);
  const std::string huge(kFrameSize + 1, 'x');
  lend(33);
  EXPECT_FALSE(
      plane_->transmit(wire::Bytes(reinterpret_cast<const std::byte*>(huge.data()), huge.size())));
  EXPECT_EQ(plane_->metrics().worker.tx_oversize, 1u);

  plane_->flush();
  const std::vector<RingDesc> sent = take(tx_);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(bytes_of(sent[0]), a);
  EXPECT_EQ(bytes_of(sent[1]), b);
  EXPECT_EQ(bytes_of(sent[2]), c);
  for (const RingDesc& s : sent) {
    EXPECT_EQ(s.offset % kFrameSize, 0u);
    EXPECT_EQ(tag(static_cast<uint32_t>(s.offset / kFrameSize)), owner::in_transit_from(kWorker));
  }
  // The fourth lent frame is still in the pool, counted.
  EXPECT_EQ(segment_->worker(kWorker).control.tx_pool.load(), 1u);
  EXPECT_EQ(segment_->worker(kWorker).control.tx_pending.load(), 0u);
}

TEST_F(WorkerDataPlaneTest, FlushWakesTheIoProcessOnlyWhenItSleeps) {
  deliver(40, "x", owner::worker(kWorker));
  plane_->receive(64, [](wire::Bytes) {});
  plane_->flush();
  pollfd p{io_wake_, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "the I/O process is awake: no system call";
  segment_->io().wake.sleeping.store(1);
  deliver(41, "y", owner::worker(kWorker));
  plane_->receive(64, [](wire::Bytes) {});
  plane_->flush();
  EXPECT_EQ(::poll(&p, 1, 0), 1) << "it sleeps: woken";
  EXPECT_EQ(segment_->io().wake.sleeping.load(), 0u) << "the waker clears the flag";
  EXPECT_EQ(plane_->metrics().worker.wakeups_sent, 1u);
}

TEST_F(WorkerDataPlaneTest, TheAccountingOfItsFramesAgreesWithTheTags) {
  for (uint32_t f = 50; f < 54; ++f) lend(f);
  deliver(60, "held", owner::worker(kWorker));
  deliver(61, "held too", owner::worker(kWorker));
  plane_->receive(64, [](wire::Bytes) {});
  const std::string frame = "out";
  plane_->transmit(wire::Bytes(reinterpret_cast<const std::byte*>(frame.data()), frame.size()));
  plane_->flush();
  const shm::FrameAudit audit = shm::audit_frames(*segment_);
  for (const auto& line : audit.lines) {
    if (line.what.rfind("worker 1", 0) == 0) {
      EXPECT_EQ(line.by_tag, line.counted) << line.what << "\n" << audit.to_string();
    }
  }
}

}  // namespace
}  // namespace flowgate
