#include "rx_tx/fault_injector.hpp"

#include <algorithm>
#include <cmath>

#include "wire/ethernet.hpp"
#include "wire/ipv4.hpp"

namespace flowgate {
namespace {

constexpr std::string_view kNames[] = {
#define FLOWGATE_NAME_ENTRY(name, help) #name,
    FLOWGATE_FAULT_COUNTERS(FLOWGATE_NAME_ENTRY)
#undef FLOWGATE_NAME_ENTRY
};
constexpr std::string_view kHelp[] = {
#define FLOWGATE_HELP_ENTRY(name, help) help,
    FLOWGATE_FAULT_COUNTERS(FLOWGATE_HELP_ENTRY)
#undef FLOWGATE_HELP_ENTRY
};
static_assert(std::size(kNames) == kFaultCounterCount);
static_assert(std::size(kHelp) == kFaultCounterCount);

constexpr uint64_t rotate_left(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

// splitmix64 (Steele, Lea and Flood): spreads one seed over the generator's 256 bits of
// state, so nearby seeds give unrelated sequences and no state word starts at zero by chance.
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double probability(double p) {
  if (!(p > 0)) return 0;  // also NaN
  return std::min(p, 1.0);
}

}  // namespace

std::string_view name(FaultCounter c) {
  return kNames[static_cast<size_t>(c)];
}
std::string_view help(FaultCounter c) {
  return kHelp[static_cast<size_t>(c)];
}

FaultRandom::FaultRandom(uint64_t seed) {
  for (uint64_t& word : state_) word = splitmix64(seed);
}

uint64_t FaultRandom::next() {
  const uint64_t result = rotate_left(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotate_left(state_[3], 45);
  return result;
}

FaultInjector::FaultInjector(const FaultConfig& config, Duration max_hold)
    : config_(config), max_hold_(max_hold), random_(config.seed) {
  config_.drop = probability(config.drop);
  config_.duplicate = probability(config.duplicate);
  config_.reorder = probability(config.reorder);
  config_.corrupt = probability(config.corrupt);
  held_.reserve(2);
}

void FaultInjector::process(const FrameDesc& frame, Instant now, FaultEnvironment& env,
                            std::vector<FrameDesc>& out) {
  counters_.count(FaultCounter::frames);
  // Four draws for every frame, whatever they decide (see the header).
  const bool drop = random_.unit() < config_.drop;
  const bool duplicate = random_.unit() < config_.duplicate;
  const bool reorder = random_.unit() < config_.reorder;
  const bool corrupt = random_.unit() < config_.corrupt;

  if (drop) {
    // A held frame keeps waiting: a lost frame does not overtake anything.
    counters_.count(FaultCounter::dropped);
    env.discard(frame);
    return;
  }
  // The copy is taken before the corruption: a duplicating link behind a corrupting one would
  // repeat the damage, but two independent faults are more useful to the tests.
  std::optional<FrameDesc> copy;
  if (duplicate) {
    copy = env.copy(frame);
    counters_.count(copy ? FaultCounter::duplicated : FaultCounter::duplicate_skipped);
  }
  if (corrupt) corrupt_one_bit(frame, env);

  if (reorder && held_.empty()) {
    counters_.count(FaultCounter::reordered);
    held_.push_back(frame);
    if (copy) held_.push_back(*copy);
    held_until_ = now + max_hold_;
    return;
  }
  out.push_back(frame);
  if (copy) out.push_back(*copy);
  release_held(out);
}

void FaultInjector::release_due(Instant now, std::vector<FrameDesc>& out) {
  if (held_.empty() || now < held_until_) return;
  counters_.count(FaultCounter::released_by_timeout);
  release_held(out);
}

std::optional<Instant> FaultInjector::next_deadline() const {
  if (held_.empty()) return std::nullopt;
  return held_until_;
}

void FaultInjector::release_all(std::vector<FrameDesc>& out) {
  release_held(out);
}

void FaultInjector::release_held(std::vector<FrameDesc>& out) {
  out.insert(out.end(), held_.begin(), held_.end());
  held_.clear();
}

void FaultInjector::corrupt_one_bit(const FrameDesc& frame, FaultEnvironment& env) {
  const wire::MutableBytes bytes = env.bytes(frame);
  const auto eth = wire::EthernetReader::check(wire::Bytes(bytes.data(), bytes.size()));
  // Nothing after the Ethernet header: nothing a checksum would catch, so nothing to flip.
  if (!eth || eth->payload().empty()) return;
  const size_t first = eth->header_len();
  size_t end = bytes.size();
  // For IPv4, stay within the datagram: a flipped bit in the link's padding after it would
  // reach the worker unnoticed, and the point is damage that the checksums must catch.
  if (eth->ethertype() == static_cast<uint16_t>(wire::EtherType::ipv4)) {
    if (const auto ip = wire::Ipv4Reader::check(eth->payload())) end = first + ip->total_len();
  }
  const uint64_t bit = random_.below(uint64_t{end - first} * 8);
  bytes[first + bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
  counters_.count(FaultCounter::corrupted);
}

}  // namespace flowgate
