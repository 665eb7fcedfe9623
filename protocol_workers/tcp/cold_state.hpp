// Per-connection state that most connections never use, or use only for a while (the SACK
// scoreboard during loss recovery, RACK's log while data is in flight), kept out of line: a
// null pointer while the state is as freshly constructed, so an idle connection pays 8 bytes
// for it instead of its full size (C1M, DESIGN.md: idle connections stay small).
//
// Exact by construction: a change applied while nothing is allocated runs on a copy of the
// fresh state on the stack, and is kept (moved to the heap) only if it left the state
// different from every fresh state; after a change the heap copy is freed again once it
// equals one. So every call sees precisely the state it would see with T held inline.
//
// "Fresh states": `Fresh::count` (at most 255) states that need no allocation, numbered from
// 0 (T's default-constructed state), given by `Fresh::state(i)`. One is usually enough; RACK
// has two, because every connection takes an RTT sample in its handshake and TLP remembers
// that it did (RFC 8985 7.2, TLP.rtt_sampled... see tcp/rack.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace flowgate::tcp {

template <typename T>
struct DefaultFresh {
  static constexpr int count = 1;
  static const T& state(int) {
    static const T instance;
    return instance;
  }
};

template <typename T, typename Fresh = DefaultFresh<T>>
class ColdState {
 public:
  // For queries: the held state, or the fresh one it stands for.
  const T& get() const { return held_ ? *held_ : Fresh::state(which()); }
  bool allocated() const { return held_ != nullptr; }

  // Applies `change(T&)` and returns what it returns.
  template <typename Change>
  decltype(auto) update(Change&& change) {
    using Result = std::invoke_result_t<Change, T&>;
    if (!held_) {
      T scratch = Fresh::state(which());
      if constexpr (std::is_void_v<Result>) {
        change(scratch);
        settle(std::move(scratch));
      } else {
        Result r = change(scratch);
        settle(std::move(scratch));
        return r;
      }
    } else if constexpr (std::is_void_v<Result>) {
      change(*held_);
      release_if_fresh();
    } else {
      Result r = change(*held_);
      release_if_fresh();
      return r;
    }
  }

  // Back to T's default-constructed state.
  void reset() {
    held_.reset();
    set_which(0);
  }

 private:
  static int fresh_index(const T& s) {
    for (int i = 0; i < Fresh::count; ++i) {
      if (s == Fresh::state(i)) return i;
    }
    return -1;
  }
  void settle(T&& scratch) {
    const int i = fresh_index(scratch);
    if (i >= 0) {
      set_which(i);
    } else {
      held_ = std::make_unique<T>(std::move(scratch));
    }
  }
  void release_if_fresh() {
    const int i = fresh_index(*held_);
    if (i < 0) return;
    held_.reset();
    set_which(i);
  }

  // Which fresh state, while nothing is held; no byte at all when there is only one.
  struct One {};
  int which() const {
    if constexpr (Fresh::count > 1) {
      return fresh_;
    } else {
      return 0;
    }
  }
  void set_which(int i) {
    if constexpr (Fresh::count > 1) fresh_ = static_cast<uint8_t>(i);
  }

  std::unique_ptr<T> held_;
  [[no_unique_address]] std::conditional_t<(Fresh::count > 1), uint8_t, One> fresh_{};
};

}  // namespace flowgate::tcp
