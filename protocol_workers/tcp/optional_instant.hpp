// std::optional<Instant> in 8 bytes instead of 16: "no time" is Instant::min(), which no
// clock reading or deadline ever is (the timeline starts at the clock's epoch and moves
// forward). Keeps the subset of optional's interface the connection's timers use, so
// `if (d && now >= *d)`, `d = now + x`, `d.reset()` read as before; converts to
// std::optional<Instant> where one is wanted.
#pragma once

#include <optional>
#include <utility>

#include "stack/clock.hpp"
#include "tcp/seq.hpp"

namespace flowgate::tcp {

class OptionalInstant {
 public:
  constexpr OptionalInstant() = default;
  constexpr OptionalInstant(std::nullopt_t) {}
  constexpr OptionalInstant(Instant t) : t_(t) {}
  constexpr OptionalInstant(const std::optional<Instant>& t) : t_(t ? *t : kNone) {}

  constexpr OptionalInstant& operator=(std::nullopt_t) {
    t_ = kNone;
    return *this;
  }
  constexpr OptionalInstant& operator=(Instant t) {
    t_ = t;
    return *this;
  }

  constexpr bool has_value() const { return t_ != kNone; }
  constexpr explicit operator bool() const { return has_value(); }
  constexpr const Instant& operator*() const { return t_; }
  constexpr Instant value_or(Instant other) const { return has_value() ? t_ : other; }
  constexpr void reset() { t_ = kNone; }
  constexpr operator std::optional<Instant>() const {
    return has_value() ? std::optional<Instant>(t_) : std::nullopt;
  }
  constexpr bool operator==(const OptionalInstant&) const = default;

 private:
  static constexpr Instant kNone = Instant::min();
  Instant t_ = kNone;
};

// std::optional<std::pair<SeqNum, Instant>> in 16 bytes instead of 24, the same way: the
// connection's Karn RTT probe (the segment being timed and when it was sent).
class OptionalSeqInstant {
 public:
  using Pair = std::pair<SeqNum, Instant>;
  constexpr OptionalSeqInstant() = default;
  constexpr OptionalSeqInstant& operator=(const Pair& p) {
    p_ = p;
    return *this;
  }
  constexpr bool has_value() const { return p_.second != Instant::min(); }
  constexpr explicit operator bool() const { return has_value(); }
  constexpr const Pair* operator->() const { return &p_; }
  constexpr const Pair& operator*() const { return p_; }
  constexpr void reset() { p_.second = Instant::min(); }

 private:
  Pair p_{SeqNum(), Instant::min()};
};

}  // namespace flowgate::tcp
