// The deterministic harness for stack tests: a Stack on a ManualClock and an in-memory link,
// driven as a packet script (inject a frame at t, expect frames out at t, expect nothing
// until t), and two Stacks wired back to back. No sleeps, no threads, no system clock.
#pragma once

#include <deque>
#include <source_location>
#include <vector>

#include "stack/clock.hpp"
#include "stack/config.hpp"
#include "stack/link.hpp"
#include "stack/stack.hpp"
#include "support/frames.hpp"

namespace flowgate::test {

// Records every frame the stack transmits, in order.
class CapturingLink final : public Link {
 public:
  bool transmit(wire::Bytes frame) override {
    if (refuse) return false;
    frames.emplace_back(frame.begin(), frame.end());
    return true;
  }
  std::deque<Frame> frames;
  bool refuse = false;  // simulate a full link
};

// The lab configuration: 198.18.0.1/24 on 02:00:00:00:00:01, no gateway, MTU 1500.
StackConfig lab_config();

class StackHarness {
 public:
  // The stack is started (gratuitous ARP sent and discarded) unless `start` is false.
  explicit StackHarness(StackConfig config = lab_config(), bool start = true);

  void receive(const Frame& frame) { stack.receive(frame); }
  // Moves time forward by `d`, running poll() at every deadline on the way, as the worker
  // loop does.
  void advance(Duration d);
  // Pops the oldest frame the stack sent; fails the test if there is none.
  ParsedFrame expect_frame(std::source_location where = std::source_location::current());
  // Fails the test if the stack sent anything not yet taken.
  void expect_no_frame(std::source_location where = std::source_location::current());
  size_t pending_frames() const { return link.frames.size(); }
  // Answers the ARP request the stack just sent for `ip` (expects it to be the next frame).
  void answer_arp(wire::Ipv4Address ip, const wire::MacAddress& mac,
                  std::source_location where = std::source_location::current());
  uint64_t drops(DropReason r) const { return stack.counters()[r]; }
  uint64_t events(Event e) const { return stack.counters()[e]; }

  ManualClock clock;
  CapturingLink link;
  Stack stack;
};

// Two stacks on one clock with their links crossed: what A sends, B receives and vice versa.
class BackToBack {
 public:
  BackToBack(StackConfig a_config, StackConfig b_config);
  // Delivers frames both ways, at the current time, until none is in flight. Returns how many
  // frames were delivered.
  size_t run();
  // Moves time forward, running timers and deliveries at every deadline on the way.
  void advance(Duration d);

  ManualClock clock;
  CapturingLink a_link;
  CapturingLink b_link;
  Stack a;
  Stack b;
};

}  // namespace flowgate::test
