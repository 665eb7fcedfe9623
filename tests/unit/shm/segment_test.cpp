// The segment: layout arithmetic, create/open/validate/remove, stale-owner detection, and
// the frame audit's ability to notice a lost or double-counted frame.
#include "shm/segment.hpp"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "shm/frame_ownership.hpp"
#include "shm/layout.hpp"

namespace flowgate::shm {
namespace {

std::string unique_instance(const char* what) {
  return std::string("test-") + what + "-" + std::to_string(::getpid());
}

struct Removed {
  std::string name;
  explicit Removed(std::string n) : name(std::move(n)) { Segment::remove(name); }
  ~Removed() { Segment::remove(name); }
};

TEST(Layout, PartsAreAlignedAndDoNotOverlap) {
  SegmentParams p;
  p.worker_count = 3;
  p.frame_count = 1024;
  p.frame_size = 2048;
  p.ring_size = 512;
  ASSERT_EQ(check_params(p), nullptr);
  const SegmentLayout l = compute_layout(p);
  EXPECT_EQ(l.io_offset % kPageSize, 0u);
  EXPECT_GE(l.io_offset, kPageSize);  // the header's page
  EXPECT_GE(l.workers_offset, l.io_offset + sizeof(IoBlock));
  EXPECT_EQ(l.worker_stride % kPageSize, 0u);
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(l.ring_offsets[r] % kCacheLine, 0u);
    EXPECT_GE(l.ring_offsets[r], sizeof(WorkerBlock));
    const uint64_t end = l.ring_offsets[r] + ring_bytes<RingDesc>(p.ring_size);
    EXPECT_LE(end, r < 3 ? l.ring_offsets[r + 1] : l.worker_stride);
  }
  EXPECT_GE(l.tags_offset, l.workers_offset + 3 * l.worker_stride);
  EXPECT_GE(l.config_offset, l.tags_offset + p.frame_count);
  EXPECT_GE(l.umem_offset, l.config_offset + 2 * uint64_t{p.config_capacity});  // two slots
  EXPECT_EQ(l.umem_offset % (2 * 1024 * 1024), 0u);
  EXPECT_EQ(l.umem_size, 1024u * 2048u);
  EXPECT_EQ(l.total_size, l.umem_offset + l.umem_size);
}

TEST(Layout, RefusesBadParameters) {
  SegmentParams p;
  p.worker_count = 0;
  EXPECT_NE(check_params(p), nullptr);
  p = {};
  p.worker_count = kMaxWorkers + 1;
  EXPECT_NE(check_params(p), nullptr);
  p = {};
  p.frame_count = 3000;
  EXPECT_NE(check_params(p), nullptr);
  p = {};
  p.frame_size = 1500;
  EXPECT_NE(check_params(p), nullptr);
  p = {};
  p.ring_size = 1000;
  EXPECT_NE(check_params(p), nullptr);
}

SegmentParams small_params() {
  SegmentParams p;
  p.worker_count = 2;
  p.frame_count = 256;
  p.frame_size = 2048;
  p.ring_size = 64;
  p.config_capacity = 4096;
  return p;
}

TEST(Segment, CreateOpenAndRemove) {
  Removed r(unique_instance("seg"));
  auto created = Segment::create(r.name, small_params(), "workers: 2\n", 0xabcd, 42);
  struct stat st {};
  ASSERT_EQ(::stat(("/dev/shm/" + segment_name(r.name)).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), created->layout().total_size);

  auto opened = Segment::open(r.name, 42);
  EXPECT_EQ(opened->worker_count(), 2u);
  EXPECT_EQ(opened->header().flow_seed, 0xabcdu);
  EXPECT_EQ(opened->config_text(), "workers: 2\n");
  EXPECT_EQ(std::string(opened->header().instance), r.name);
  // Both mappings see the same memory, at different addresses.
  created->worker(1).control.generation.store(7);
  EXPECT_EQ(opened->worker(1).control.generation.load(), 7u);
  EXPECT_NE(static_cast<void*>(created->umem()), static_cast<void*>(opened->umem()));
  created->umem()[100] = std::byte{0x5a};
  EXPECT_EQ(opened->umem()[100], std::byte{0x5a});

  EXPECT_THROW(Segment::create(r.name, small_params(), "", 0, 0), SegmentError);
  EXPECT_TRUE(Segment::remove(r.name));
  EXPECT_FALSE(Segment::remove(r.name));
  try {
    Segment::open(r.name);
    FAIL() << "opened a removed segment";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
}

TEST(Segment, APublishedConfigurationReplacesTheOldOneWhole) {
  Removed r(unique_instance("cfg"));
  auto writer = Segment::create(r.name, small_params(), "workers: 2\n", 0, 0);
  auto reader = Segment::open(r.name);
  EXPECT_EQ(reader->config_generation(), 0u);
  writer->publish_config("workers: 2\npools: []\n");
  EXPECT_EQ(reader->config_generation(), 2u);
  EXPECT_EQ(reader->config_text(), "workers: 2\npools: []\n");
  writer->publish_config("short\n");
  EXPECT_EQ(reader->config_generation(), 4u);
  EXPECT_EQ(reader->config_text(), "short\n");
  EXPECT_THROW(writer->publish_config(std::string(small_params().config_capacity + 1, 'x')),
               SegmentError);
  EXPECT_EQ(reader->config_text(), "short\n") << "a refused publish changes nothing";
  EXPECT_EQ(reader->config_generation(), 4u);
}

TEST(Segment, OpenRefusesOtherVersionsAndOtherMetrics) {
  Removed r(unique_instance("ver"));
  auto created = Segment::create(r.name, small_params(), "", 0, 42);
  try {
    Segment::open(r.name, 43);
    FAIL() << "accepted other metrics";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("other metrics"), std::string::npos) << e.what();
  }
  created->header().layout_version = kLayoutVersion + 1;
  try {
    Segment::open(r.name);
    FAIL() << "accepted another layout version";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("layout version"), std::string::npos) << e.what();
  }
  created->header().layout_version = kLayoutVersion;
  created->header().magic = 0;
  EXPECT_THROW(Segment::open(r.name), SegmentError);
}

TEST(Segment, FindsALiveOwnerButNotAStaleOne) {
  Removed r(unique_instance("own"));
  char old_name[17] = {};
  ::prctl(PR_GET_NAME, old_name);
  ::prctl(PR_SET_NAME, "flowgate");
  auto created = Segment::create(r.name, small_params(), "", 0, 0);
  EXPECT_EQ(Segment::find_live_owner(r.name), ::getpid());
  ::prctl(PR_SET_NAME, old_name);
  // The pid runs, but it is not a flowgate any more: a recycled pid.
  EXPECT_EQ(Segment::find_live_owner(r.name), 0);
  // A pid that does not run.
  created->header().supervisor_pid.store(0x3ffffff0);
  EXPECT_EQ(Segment::find_live_owner(r.name), 0);
  EXPECT_EQ(Segment::find_live_owner(unique_instance("none")), 0);
}

TEST(FrameAudit, BalancesAndNoticesALostOrMiscountedFrame) {
  Removed r(unique_instance("audit"));
  auto s = Segment::create(r.name, small_params(), "", 0, 0);
  const uint32_t frames = s->layout().params.frame_count;
  uint8_t* tags = s->frame_tags();
  // 200 free, 40 posted for reception, 8 in worker 1's rx ring, 4 held by worker 1,
  // 4 in worker 0's free ring.
  uint32_t i = 0;
  for (; i < 200; ++i) tags[i] = owner::kIoFree;
  for (; i < 240; ++i) tags[i] = owner::kKernelRx;
  for (; i < 252; ++i) tags[i] = owner::worker(1);
  for (; i < frames; ++i) tags[i] = owner::in_transit_from(0);
  s->io().frames.free.store(200);
  s->io().frames.kernel_rx.store(40);
  s->worker(1).control.rx_held.store(4);
  RingProducer<RingDesc> rx1(s->ring(1, RingKind::rx));
  uint32_t first = 0;
  ASSERT_EQ(rx1.reserve(8, &first), 8u);
  rx1.submit(8);
  RingProducer<RingDesc> free0(s->ring(0, RingKind::free));
  ASSERT_EQ(free0.reserve(4, &first), 4u);
  free0.submit(4);

  FrameAudit a = audit_frames(*s);
  EXPECT_TRUE(a.balanced()) << a.to_string();
  EXPECT_EQ(a.free, 200u);
  EXPECT_EQ(a.in_flight, 40u + 8u + 4u);
  EXPECT_EQ(a.held, 4u);
  EXPECT_NE(a.to_string().find("balanced"), std::string::npos);

  // A frame the worker forgot to count.
  s->worker(1).control.rx_held.store(3);
  a = audit_frames(*s);
  EXPECT_FALSE(a.balanced()) << a.to_string();
  s->worker(1).control.rx_held.store(4);
  // A frame whose tag was overwritten with nonsense.
  tags[0] = 0x99;
  a = audit_frames(*s);
  EXPECT_FALSE(a.balanced());
  EXPECT_EQ(a.unknown_tags, 1u);
}

}  // namespace
}  // namespace flowgate::shm
