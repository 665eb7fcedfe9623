// Shared by the fuzz targets: how a broken property stops the run, and (for the targets that
// drive a whole Stack) moving its manual clock through every timer deadline.
#pragma once

#include <algorithm>
#include <cstdio>

#include "stack/clock.hpp"
#include "stack/stack.hpp"
#include "wire/bytes.hpp"

namespace flowgate::fuzz {

// A property that must hold for every input failed: report it and stop, so libFuzzer keeps
// the input as a crash.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "property failed: %s\n", what);
  __builtin_trap();
}

inline void require(bool ok, const char* what) {
  if (!ok) fail(what);
}

inline bool same_bytes(wire::Bytes a, wire::Bytes b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

// Runs the stack's timers; afterwards its next deadline must lie in the future, or a worker
// loop would spin.
inline void poll_at(Stack& stack, const ManualClock& clock) {
  stack.poll();
  const auto next = stack.next_deadline();
  require(!next || *next > clock.now(), "next_deadline() not after the poll() that ran timers");
}

// Moves the clock forward by `d`, stopping at each timer deadline on the way (at most
// `max_steps` of them, so a bug cannot hang the fuzzer).
inline void advance(Stack& stack, ManualClock& clock, Duration d, int max_steps = 256) {
  const Instant end = clock.now() + d;
  for (int step = 0; step < max_steps; ++step) {
    const auto next = stack.next_deadline();
    if (!next || *next > end) break;
    clock.set(std::max(*next, clock.now()));
    poll_at(stack, clock);
  }
  clock.set(end);
  poll_at(stack, clock);
}

}  // namespace flowgate::fuzz
