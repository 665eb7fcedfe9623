#include "support/harness.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace flowgate::test {

StackConfig lab_config() {
  StackConfig c;
  c.mac = kOurMac;
  c.address = {kOurIp, 24};
  return c;
}

StackHarness::StackHarness(StackConfig config, bool start) : stack(std::move(config), clock, link) {
  if (start) {
    stack.start();
    link.frames.clear();
  }
}

namespace {

// Runs `step` at each deadline up to now + d; `deadline` reports the next one.
template <typename Deadline, typename Step>
void advance_clock(ManualClock& clock, Duration d, Deadline deadline, Step step) {
  const Instant target = clock.now() + d;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    auto next = deadline();
    if (!next || *next > target) break;
    clock.set(std::max(*next, clock.now()));
    step();
    if (deadline() == next && *next <= clock.now()) {
      // A deadline that poll() did not move would loop forever: the stack's bug, not ours.
      ADD_FAILURE() << "poll() left its deadline in the past";
      break;
    }
  }
  clock.set(target);
  step();
}

}  // namespace

void StackHarness::advance(Duration d) {
  advance_clock(
      clock, d, [&] { return stack.next_deadline(); }, [&] { stack.poll(); });
}

ParsedFrame StackHarness::expect_frame(std::source_location where) {
  if (link.frames.empty()) {
    ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
        << "expected a frame, the stack sent none";
    return {};
  }
  Frame f = std::move(link.frames.front());
  link.frames.pop_front();
  return parse_frame(f);
}

void StackHarness::expect_no_frame(std::source_location where) {
  if (!link.frames.empty()) {
    auto p = parse_frame(link.frames.front());
    ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
        << "expected no frame, the stack sent " << link.frames.size() << ", first ethertype "
        << p.eth.ethertype;
  }
}

void StackHarness::answer_arp(wire::Ipv4Address ip, const wire::MacAddress& mac,
                              std::source_location where) {
  auto req = expect_frame(where);
  if (!req.arp || req.arp->operation != 1 || req.arp->target_ip != ip) {
    ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
        << "expected an ARP request for " << ip.to_string();
    return;
  }
  wire::ArpRepr reply{2, mac, ip, stack.config().mac, stack.config().address.address};
  receive(arp_frame(stack.config().mac, mac, reply));
}

BackToBack::BackToBack(StackConfig a_config, StackConfig b_config)
    : a(std::move(a_config), clock, a_link), b(std::move(b_config), clock, b_link) {
  a.start();
  b.start();
}

size_t BackToBack::run() {
  size_t delivered = 0;
  while (!a_link.frames.empty() || !b_link.frames.empty()) {
    if (++delivered > 1'000'000) {
      ADD_FAILURE() << "frames keep bouncing between the stacks";
      break;
    }
    if (!a_link.frames.empty()) {
      Frame f = std::move(a_link.frames.front());
      a_link.frames.pop_front();
      b.receive(f);
    } else {
      Frame f = std::move(b_link.frames.front());
      b_link.frames.pop_front();
      a.receive(f);
    }
  }
  return delivered;
}

void BackToBack::advance(Duration d) {
  advance_clock(
      clock, d,
      [&]() -> std::optional<Instant> {
        auto x = a.next_deadline();
        auto y = b.next_deadline();
        if (!x) return y;
        if (!y) return x;
        return std::min(*x, *y);
      },
      [&] {
        a.poll();
        b.poll();
        run();
      });
}

}  // namespace flowgate::test
