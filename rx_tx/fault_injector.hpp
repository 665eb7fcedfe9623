// Test-only: the I/O process's seeded fault injector. This kernel has no netem qdisc, so loss,
// duplication, reordering and corruption for the lossy tests are made here, between the link
// and the workers (DESIGN.md, "Lab"). Off by default: the gateway runs it only when the
// configuration's testing section asks for it.
//
// Deterministic: each frame's fate comes from a small PRNG of our own (xoshiro256**, seeded
// through splitmix64), never from std::random distributions, whose output the standard
// leaves to the library. One seed gives the same decisions on every machine and build, so a
// failing lossy test can be replayed exactly. Every frame draws the same number of values
// whatever happens to it, so changing one probability does not reshuffle the others' choices.
//
// The injector sees only frame descriptors. What needs the UMEM (the bytes to corrupt, a
// fresh frame for a duplicate, returning a dropped frame to the pool) it asks of its owner
// through FaultEnvironment, so the frame accounting stays with the owner: every frame the
// injector is given is, after the call, in `out`, held (frames_held()), or discarded.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

#include "rx_tx/frame_port.hpp"
#include "stack/clock.hpp"
#include "wire/bytes.hpp"

namespace flowgate {

// Probabilities per frame, each in [0, 1] (values outside are clamped, NaN counts as 0).
struct FaultConfig {
  uint64_t seed = 1;
  double drop = 0;       // the frame is discarded
  double duplicate = 0;  // a copy follows right behind the frame
  double reorder = 0;    // the frame is held back behind the next one
  double corrupt = 0;    // one bit after the Ethernet header is flipped

  bool enabled() const { return drop > 0 || duplicate > 0 || reorder > 0 || corrupt > 0; }
};

// What the injector needs from the owner of the frames.
class FaultEnvironment {
 public:
  virtual ~FaultEnvironment() = default;
  // The frame's bytes (frame.length of them), to corrupt in place.
  virtual wire::MutableBytes bytes(const FrameDesc& frame) = 0;
  // A copy of the frame in a fresh frame that the caller then owns; nullopt when no frame is
  // free (the duplication is skipped and counted).
  virtual std::optional<FrameDesc> copy(const FrameDesc& frame) = 0;
  // A dropped frame: it goes back to the pool.
  virtual void discard(const FrameDesc& frame) = 0;
};

// X(name, help)
#define FLOWGATE_FAULT_COUNTERS(X)                                                          \
  X(frames, "Frames the fault injector decided on")                                         \
  X(dropped, "Frames dropped by the fault injector")                                        \
  X(duplicated, "Frames sent twice: a copy right behind the original")                      \
  X(duplicate_skipped, "Duplications not made: no free frame for the copy")                 \
  X(reordered, "Frames held back behind the next frame (or until the hold time ran out)")   \
  X(released_by_timeout, "Held frames released because no frame came within the hold time") \
  X(corrupted, "Frames with one bit flipped after the Ethernet header")

enum class FaultCounter : uint16_t {
#define FLOWGATE_ENUM_ENTRY(name, help) name,
  FLOWGATE_FAULT_COUNTERS(FLOWGATE_ENUM_ENTRY)
#undef FLOWGATE_ENUM_ENTRY
      count_
};
constexpr size_t kFaultCounterCount = static_cast<size_t>(FaultCounter::count_);

std::string_view name(FaultCounter c);
std::string_view help(FaultCounter c);

struct FaultCounters {
  std::array<uint64_t, kFaultCounterCount> values{};

  void count(FaultCounter c) { ++values[static_cast<size_t>(c)]; }
  uint64_t operator[](FaultCounter c) const { return values[static_cast<size_t>(c)]; }
};
static_assert(std::is_trivially_copyable_v<FaultCounters>);

// xoshiro256** (Blackman and Vigna), its state filled by splitmix64 from one 64-bit seed:
// small, fast, and specified bit for bit, unlike std::mt19937's distributions.
class FaultRandom {
 public:
  explicit FaultRandom(uint64_t seed);
  uint64_t next();
  // Uniform in [0, 1): the top 53 bits as a double's mantissa.
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in [0, bound), bound > 0. The modulo bias is below bound / 2^64: nothing at
  // frame sizes.
  uint64_t below(uint64_t bound) { return next() % bound; }

 private:
  std::array<uint64_t, 4> state_{};
};

class FaultInjector {
 public:
  // `max_hold`: how long a reordered frame waits for a frame to overtake it before it is let
  // go anyway (release_due), so the last frame of a burst is late, not lost.
  explicit FaultInjector(const FaultConfig& config,
                         Duration max_hold = std::chrono::milliseconds(1));

  // Decides the fate of one frame and appends to `out` what passes now, in order: the frame
  // (unless dropped or held), its copy if duplicated, then a previously held frame (and its
  // copy) released behind it. A frame picked for reordering while another is held is not
  // held: it is the frame the held one waited for.
  void process(const FrameDesc& frame, Instant now, FaultEnvironment& env,
               std::vector<FrameDesc>& out);
  // Releases the held frame if its hold time is over.
  void release_due(Instant now, std::vector<FrameDesc>& out);
  // When release_due() next has something to do; nullopt while nothing is held.
  std::optional<Instant> next_deadline() const;
  // Frames the injector holds now (a reordered frame and its copy): for the frame accounting.
  size_t frames_held() const { return held_.size(); }
  // Gives back everything held (at shutdown).
  void release_all(std::vector<FrameDesc>& out);

  const FaultConfig& config() const { return config_; }
  const FaultCounters& counters() const { return counters_; }

 private:
  void corrupt_one_bit(const FrameDesc& frame, FaultEnvironment& env);
  void release_held(std::vector<FrameDesc>& out);

  FaultConfig config_;
  Duration max_hold_;
  FaultRandom random_;
  // At most two frames: the held frame, then its copy if it was duplicated. Reserved once.
  std::vector<FrameDesc> held_;
  Instant held_until_{};
  FaultCounters counters_;
};

}  // namespace flowgate
