// `flowgate top`'s arithmetic and table: rates from two samples, sums over workers, counters
// that go backwards, the formatted lines; and a sample taken from a real segment.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "monitoring/top_view.hpp"
#include "rx_tx/io_process.hpp"
#include "shm/segment.hpp"
#include "tcp/tcp_types.hpp"
#include "worker/worker.hpp"

namespace flowgate {
namespace {

TopCounters counters(uint64_t frames_in, uint64_t frames_out, uint64_t bytes_in, uint64_t bytes_out,
                     uint64_t opened, uint64_t drops, uint64_t retransmits) {
  return TopCounters{frames_in, frames_out, bytes_in, bytes_out, opened, drops, retransmits};
}

TEST(TopRates, DeltasOverTheInterval) {
  const TopCounters before = counters(1000, 2000, 1'000'000, 3'000'000, 10, 0, 5);
  const TopCounters after = counters(3000, 2500, 3'500'000, 3'000'000, 40, 4, 6);
  const TopRates r = rates_between(before, after, 2.0);
  EXPECT_DOUBLE_EQ(r.frames_in, 1000);
  EXPECT_DOUBLE_EQ(r.frames_out, 250);
  EXPECT_DOUBLE_EQ(r.mbit_in, 10.0);  // 2.5 MB in 2 s = 1.25 MB/s = 10 Mbit/s
  EXPECT_DOUBLE_EQ(r.mbit_out, 0);
  EXPECT_DOUBLE_EQ(r.opened, 15);
  EXPECT_DOUBLE_EQ(r.drops, 2);
  EXPECT_DOUBLE_EQ(r.retransmits, 0.5);
}

TEST(TopRates, NoTimeOrCountersGoingBackwardsGiveZeroNotNonsense) {
  const TopCounters high = counters(5000, 5000, 5000, 5000, 5000, 5000, 5000);
  const TopCounters low = counters(10, 10, 10, 10, 10, 10, 10);
  const TopRates none = rates_between(low, high, 0);
  EXPECT_DOUBLE_EQ(none.frames_in, 0);
  EXPECT_DOUBLE_EQ(none.mbit_out, 0);
  const TopRates back = rates_between(high, low, 1.0);
  EXPECT_DOUBLE_EQ(back.frames_in, 0);
  EXPECT_DOUBLE_EQ(back.frames_out, 0);
  EXPECT_DOUBLE_EQ(back.mbit_in, 0);
  EXPECT_DOUBLE_EQ(back.opened, 0);
  EXPECT_DOUBLE_EQ(back.drops, 0);
  EXPECT_DOUBLE_EQ(back.retransmits, 0);
}

TopProcess worker(uint32_t k, const TopCounters& c, std::optional<uint64_t> established,
                  uint32_t restarts = 0) {
  TopProcess p;
  p.name = "worker." + std::to_string(k);
  p.state = "running";
  p.pid = static_cast<int32_t>(100 + k);
  p.restarts = restarts;
  p.established = established;
  p.counters = c;
  return p;
}

TEST(TopRates, TheWorkersSum) {
  const TopProcess sum = sum_of_workers({worker(0, counters(1, 2, 3, 4, 5, 6, 7), 10, 1),
                                         worker(1, counters(10, 20, 30, 40, 50, 60, 70), 5, 2)});
  EXPECT_EQ(sum.name, "workers");
  EXPECT_EQ(sum.counters, counters(11, 22, 33, 44, 55, 66, 77));
  EXPECT_EQ(sum.established, 15u);
  EXPECT_EQ(sum.restarts, 3u);
  // One worker's count unknown: so is the sum.
  const TopProcess partial =
      sum_of_workers({worker(0, counters(1, 2, 3, 4, 5, 6, 7), 10), worker(1, {}, std::nullopt)});
  EXPECT_FALSE(partial.established.has_value());
}

TopSample sample(uint64_t at_ns, const TopCounters& io, const TopCounters& w0,
                 const TopCounters& w1) {
  TopSample s;
  s.taken_ns = at_ns;
  s.io.name = "io";
  s.io.state = "running";
  s.io.pid = 99;
  s.io.counters = io;
  s.workers = {worker(0, w0, 25), worker(1, w1, 25, 1)};
  s.workers[1].state = "starting";
  return s;
}

TEST(TopTable, OneLinePerProcessWithItsRates) {
  const TopSample before = sample(1'000'000'000, counters(0, 0, 0, 0, 0, 0, 0),
                                  counters(0, 0, 0, 0, 0, 0, 0), counters(0, 0, 0, 0, 0, 0, 0));
  const TopSample after =
      sample(3'000'000'000, counters(20000, 18000, 25'000'000, 2'000'000, 0, 2, 0),
             counters(10000, 9000, 12'500'000, 1'000'000, 100, 1, 3),
             counters(10000, 9000, 12'500'000, 1'000'000, 60, 0, 1));
  const std::string text = format_top("lab", before, after);
  const char* expected =
      "flowgate top: instance lab, 2 workers, rates over 2.00 s\n"
      "PROCESS    STATE          PID RESTARTS  FRAMES_IN/s FRAMES_OUT/s  MBIT_IN/s MBIT_OUT/s"
      "  OPENED/s   ESTAB  DROPS/s RETRANS/s\n"
      "io         running         99        -        10000         9000     100.00       8.00"
      "         -       -      1.0         -\n"
      "worker.0   running        100        0         5000         4500      50.00       4.00"
      "      50.0      25      0.5       1.5\n"
      "worker.1   starting       101        1         5000         4500      50.00       4.00"
      "      30.0      25      0.0       0.5\n"
      "workers    -                -        1        10000         9000     100.00       8.00"
      "      80.0      50      0.5       2.0\n";
  EXPECT_EQ(text, expected);
}

TEST(TopTable, AProcessWithoutPidOrGaugeShowsDashes) {
  TopSample before = sample(0, {}, {}, {});
  TopSample after = sample(1'000'000'000, {}, {}, {});
  after.workers[0].pid = 0;
  after.workers[0].established.reset();
  const std::string text = format_top("x", before, after);
  EXPECT_NE(text.find("worker.0   running          -        0            0            0       0.00"
                      "       0.00       0.0       -      0.0       0.0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("workers    -                -        1            0            0       0.00"
                      "       0.00       0.0       -"),
            std::string::npos)
      << text;
}

// A sample from a segment: the catalogue's counters land in the right columns.
TEST(TopSampleFromSegment, ReadsEveryProcess) {
  const std::string instance = "test-top-" + std::to_string(::getpid());
  shm::Segment::remove(instance);
  shm::SegmentParams p;
  p.worker_count = 2;
  p.frame_count = 256;
  p.frame_size = 2048;
  p.ring_size = 64;
  p.config_capacity = 4096;
  auto segment = shm::Segment::create(instance, p, "", 1, 0);
  IoMetrics& io = io_metrics(*segment);
  io.io.rx_frames = 11;
  io.io.tx_frames = 12;
  io.io.rx_bytes = 1300;
  io.io.tx_bytes = 1400;
  io.io.drop_worker_down = 2;
  io.io.drop_worker_ring_full = 3;
  io.io.tx_link_full = 4;
  segment->io().state.store(static_cast<uint32_t>(shm::IoState::running));
  segment->io().pid.store(321);
  WorkerMetrics& w1 = worker_metrics(*segment, 1);
  w1.stack.count(Event::frames_received, 21);
  w1.stack.count(Event::frames_sent, 22);
  w1.stack.count(Event::bytes_received, 2300);
  w1.stack.count(Event::bytes_sent, 2400);
  w1.stack.count(Event::tcp_passive_opens, 5);
  w1.stack.count(Event::tcp_active_opens, 2);
  w1.stack.count(Event::tcp_retransmits_timeout, 1);
  w1.stack.count(Event::tcp_retransmits_fast, 6);
  w1.stack.drop(DropReason::tcp_bad_checksum, 7);
  w1.stack.drop(DropReason::ipv4_not_for_us, 1);
  // ESTAB comes from the per-state connection gauge, in stacks whose counters keep one.
  const bool gauge = [](auto& stack) {
    if constexpr (requires { stack.tcp_connection_entered(tcp::TcpState::established); }) {
      stack.tcp_connection_entered(tcp::TcpState::established);
      stack.tcp_connection_entered(tcp::TcpState::established);
      return true;
    } else {
      return false;
    }
  }(w1.stack);
  shm::WorkerControl& c1 = segment->worker(1).control;
  c1.state.store(static_cast<uint32_t>(shm::WorkerState::running));
  c1.pid.store(654);
  c1.restarts.store(3);

  const TopSample s = take_top_sample(*segment, 5);
  EXPECT_EQ(s.taken_ns, 5u);
  EXPECT_EQ(s.io.state, "running");
  EXPECT_EQ(s.io.pid, 321);
  EXPECT_FALSE(s.io.restarts.has_value());
  EXPECT_EQ(s.io.counters, counters(11, 12, 1300, 1400, 0, 9, 0));
  ASSERT_EQ(s.workers.size(), 2u);
  EXPECT_EQ(s.workers[0].name, "worker.0");
  EXPECT_EQ(s.workers[0].state, "stopped");
  EXPECT_EQ(s.workers[0].counters, TopCounters{});
  EXPECT_EQ(s.workers[1].name, "worker.1");
  EXPECT_EQ(s.workers[1].state, "running");
  EXPECT_EQ(s.workers[1].pid, 654);
  EXPECT_EQ(s.workers[1].restarts, 3u);
  EXPECT_EQ(s.workers[1].counters, counters(21, 22, 2300, 2400, 7, 8, 7));
  EXPECT_EQ(s.workers[1].established, gauge ? std::optional<uint64_t>(2) : std::nullopt);
  segment.reset();
  shm::Segment::remove(instance);
}

}  // namespace
}  // namespace flowgate
