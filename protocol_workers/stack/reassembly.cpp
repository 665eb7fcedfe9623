// IPv4 reassembly: RFC 791 section 3.2 with the hole-descriptor algorithm of RFC 815.
//
// Each datagram being reassembled owns one buffer: room for the 20-byte header it will get,
// then the payload at its final offsets. The buffer is allocated lazily, as far as the
// fragments so far reach, and grows (geometrically while the end is unknown, to the exact
// size once the last fragment fixed it). memory_used() is the sum of the allocated buffer
// sizes, header room included.
//
// Holes (RFC 815 section 3). Received data is tracked by its complement, the holes, which
// this file represents in two parts:
// - the tail hole [received_end, total_len), or [received_end, infinity) while the last
//   fragment is missing: RFC 815's "infinity" hole, kept as a single number;
// - every other hole lies below received_end, between received data, and its descriptor is
//   stored in the hole itself, as RFC 815 section 4 suggests: 4 bytes "end" (one past the
//   hole's last byte) then 4 bytes "next" (offset of the next hole, or kNoHole), big-endian,
//   at the hole's first payload byte. Such a hole starts at the end of an MF=1 fragment (a
//   multiple of 8) or at 0 and ends at a fragment offset (a multiple of 8), so it always has
//   room for its 8-byte descriptor, and memory needs no accounting beyond the buffer.
//
// RFC 815 uses inclusive [first, last]; this file uses half-open [first, end).
#include "stack/reassembly.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>

namespace flowgate {

namespace {

using wire::Bytes;
using wire::Ipv4Reader;
using wire::MutableBytes;

constexpr size_t kHeaderRoom = wire::Ipv4Repr::buffer_len();
// The whole datagram gets a 20-byte header and its total length must fit 16 bits.
constexpr uint32_t kMaxPayload = Ipv4Reader::kMaxTotalLen - kHeaderRoom;
constexpr uint32_t kNoHole = 0xffffffffu;
constexpr size_t kHoleEndOffset = 0;
constexpr size_t kHoleNextOffset = 4;
constexpr size_t kMaxHeaderLen = 60;  // IHL 15
constexpr size_t kQuotedPayload = 8;  // RFC 792: "the first 64 bits of the data datagram"

}  // namespace

struct Reassembler::Datagram {
  // RFC 791: fragments belong together when source, destination, protocol and
  // identification all match.
  wire::Ipv4Address src;
  wire::Ipv4Address dst;
  uint8_t protocol = 0;
  uint16_t identification = 0;
  Instant started;  // arrival of the first fragment; the timeout runs from here

  std::unique_ptr<std::byte[]> buffer;  // kHeaderRoom bytes, then the payload
  size_t capacity = 0;                  // bytes allocated in `buffer`
  uint32_t received_end = 0;            // the tail hole starts here
  uint32_t first_hole = kNoHole;        // list of the holes below received_end
  std::optional<uint32_t> total_len;    // payload length, once the MF=0 fragment arrived

  // From the fragment at offset 0, once it arrived (quote_len > 0).
  uint8_t ttl = 0;
  uint8_t tos = 0;
  bool dont_fragment = false;
  std::array<std::byte, kMaxHeaderLen + kQuotedPayload> quote{};  // header + 8 bytes
  size_t quote_len = 0;

  bool matches(const Ipv4Reader& f) const {
    return src == f.src() && dst == f.dst() && protocol == f.protocol() &&
           identification == f.identification();
  }
  Instant deadline(Duration timeout) const { return started + timeout; }
  MutableBytes payload() const {
    return MutableBytes(buffer.get() + kHeaderRoom, capacity - kHeaderRoom);
  }
  bool complete() const { return total_len && received_end == *total_len && first_hole == kNoHole; }

  struct Hole {
    uint32_t first;
    uint32_t end;
    uint32_t next;
  };
  Hole load_hole(uint32_t first) const {
    return {first, wire::load_be32(payload(), first + kHoleEndOffset),
            wire::load_be32(payload(), first + kHoleNextOffset)};
  }
  void store_hole(uint32_t first, uint32_t end, uint32_t next) const {
    wire::store_be32(payload(), first + kHoleEndOffset, end);
    wire::store_be32(payload(), first + kHoleNextOffset, next);
  }
  // Points the list entry before a hole (`prev`, or the list head) at `next`.
  void link(uint32_t prev, uint32_t next) {
    if (prev == kNoHole) {
      first_hole = next;
    } else {
      wire::store_be32(payload(), prev + kHoleNextOffset, next);
    }
  }

  // Where a fragment [first, end) falls; it must not reach past total_len.
  enum class Placement {
    tail_hole,  // inside the tail hole
    hole,       // inside one of the other holes: `hole`, after `prev` in the list
    received,   // only over received data
    overlap,    // partly in a hole, partly over received data
  };
  struct Location {
    Placement placement;
    Hole hole{};
    uint32_t prev = kNoHole;
  };
  Location locate(uint32_t first, uint32_t end) const {
    if (first >= received_end) return {Placement::tail_hole};
    if (end > received_end) return {Placement::overlap};
    // RFC 815 steps 1-3: skip the holes the fragment does not touch. A fragment touching a
    // hole but not inside it also covers received data next to the hole: an overlap.
    uint32_t prev = kNoHole;
    for (uint32_t at = first_hole; at != kNoHole;) {
      const Hole hole = load_hole(at);
      if (first >= hole.first && end <= hole.end) return {Placement::hole, hole, prev};
      if (first < hole.end && end > hole.first) return {Placement::overlap};
      prev = at;
      at = hole.next;
    }
    return {Placement::received};
  }
};

Reassembler::Reassembler(const ReassemblyConfig& config, StackCounters& counters)
    : config_(config), counters_(counters) {}

Reassembler::~Reassembler() = default;

std::optional<wire::Bytes> Reassembler::add(const wire::Ipv4Reader& fragment, Instant now) {
  counters_.count(Event::ipv4_fragments_received);
  completed_.reset();  // the span returned last time ends here

  // Checks that need no datagram: RFC 791 fragments end on 8-byte boundaries except the
  // last, and the whole datagram must fit a 16-bit total length behind a 20-byte header.
  const size_t len = fragment.payload().size();
  const bool more = fragment.more_fragments();
  if ((more && (len == 0 || len % 8 != 0)) || fragment.fragment_offset() + len > kMaxPayload) {
    counters_.drop(DropReason::reasm_bad_fragment);
    return std::nullopt;
  }
  auto it = std::find_if(datagrams_.begin(), datagrams_.end(),
                         [&](const Datagram& d) { return d.matches(fragment); });
  if (it == datagrams_.end()) return start(fragment, now);
  return insert(it, fragment);
}

// The first fragment of a datagram seen so far (whatever its offset).
std::optional<wire::Bytes> Reassembler::start(const wire::Ipv4Reader& fragment, Instant now) {
  const size_t needed = kHeaderRoom + fragment.fragment_offset() + fragment.payload().size();
  if (needed > config_.memory_limit || config_.max_datagrams == 0) {
    counters_.drop(DropReason::reasm_memory_limit);  // could not fit even alone
    return std::nullopt;
  }
  while (datagrams_.size() >= config_.max_datagrams) {
    discard(datagrams_.begin(), DropReason::reasm_memory_limit);
  }
  Datagram& d = datagrams_.emplace_back();
  publish_in_progress();
  d.src = fragment.src();
  d.dst = fragment.dst();
  d.protocol = fragment.protocol();
  d.identification = fragment.identification();
  d.started = now;
  // A new datagram is all hole: [0, infinity), the tail hole with received_end 0.
  return insert(std::prev(datagrams_.end()), fragment);
}

std::optional<wire::Bytes> Reassembler::insert(DatagramIter it, const wire::Ipv4Reader& fragment) {
  Datagram& d = *it;
  const Bytes data = fragment.payload();
  const uint32_t first = fragment.fragment_offset();
  const auto end = static_cast<uint32_t>(first + data.size());
  const bool more = fragment.more_fragments();

  // Consistency: the last fragment fixes the end; nothing may disagree with it.
  const bool inconsistent = more ? (d.total_len && end > *d.total_len)
                                 : (d.total_len ? end != *d.total_len : d.received_end > end);
  if (inconsistent) {
    discard(it, DropReason::reasm_inconsistent_length);
    return std::nullopt;
  }

  using Placement = Datagram::Placement;
  const Datagram::Location loc = d.locate(first, end);
  switch (loc.placement) {
    case Placement::overlap:
      discard(it, DropReason::reasm_overlap);
      return std::nullopt;

    case Placement::received:
      if (!std::equal(data.begin(), data.end(), d.payload().begin() + first)) {
        discard(it, DropReason::reasm_overlap);
        return std::nullopt;
      }
      if (!more && !d.total_len) {
        // Same bytes, but it is the first to say where the datagram ends (here, at
        // received_end, or it would have been inconsistent): the tail hole closes.
        d.total_len = end;
        if (d.complete()) return complete(it);
        return std::nullopt;
      }
      counters_.drop(DropReason::reasm_duplicate);
      return std::nullopt;

    case Placement::hole: {
      // The hole lies below received_end, so the buffer already covers it. RFC 815 step 4:
      // delete the hole; step 5: keep the part before the fragment; step 6: keep the part
      // after it (MF is set: a last fragment inside this hole would have data after it).
      // The descriptor at loc.hole.first may be overwritten by the data, so the new ones are
      // written after the copy; the part before, if any, is at least 8 bytes long.
      std::copy(data.begin(), data.end(), d.payload().begin() + first);
      uint32_t next = loc.hole.next;
      if (end < loc.hole.end) {
        d.store_hole(end, loc.hole.end, next);
        next = end;
      }
      if (first > loc.hole.first) {
        d.store_hole(loc.hole.first, first, next);
        next = loc.hole.first;
      }
      d.link(loc.prev, next);
      break;
    }

    case Placement::tail_hole: {
      if (first == end && d.total_len) {
        counters_.drop(DropReason::reasm_duplicate);  // an empty last fragment, end known
        return std::nullopt;
      }
      const std::optional<uint32_t> total_len = more ? d.total_len : end;
      if (!reserve(d, end, total_len)) {
        counters_.drop(DropReason::reasm_memory_limit);  // the fragment alone; d lives on
        return std::nullopt;
      }
      std::copy(data.begin(), data.end(), d.payload().begin() + first);
      // Steps 4-6 for the tail hole: the part before the fragment becomes an ordinary hole;
      // the part after it stays the tail hole, which a last fragment (MF=0) closes.
      if (first > d.received_end) {
        d.store_hole(d.received_end, first, d.first_hole);
        d.first_hole = d.received_end;
      }
      d.received_end = end;
      d.total_len = total_len;
      break;
    }
  }

  if (first == 0) {
    // Kept for the whole datagram's header and for ICMP time exceeded (RFC 792).
    d.ttl = fragment.ttl();
    d.tos = fragment.tos();
    d.dont_fragment = fragment.dont_fragment();
    const Bytes header = fragment.header();
    const size_t quoted = std::min(data.size(), kQuotedPayload);
    std::copy(header.begin(), header.end(), d.quote.begin());
    std::copy_n(data.begin(), quoted, d.quote.begin() + header.size());
    d.quote_len = header.size() + quoted;
  }
  // RFC 815 step 8: no holes left, the datagram is complete.
  if (d.complete()) return complete(it);
  return std::nullopt;
}

// Makes d's buffer reach payload offset `payload_end`, evicting the oldest other datagrams if
// the memory limit asks for it. False if it cannot fit even with every other datagram gone.
bool Reassembler::reserve(Datagram& d, uint32_t payload_end, std::optional<uint32_t> total_len) {
  const size_t needed = kHeaderRoom + payload_end;
  if (d.capacity >= needed) return true;
  if (needed > config_.memory_limit) return false;
  make_room(needed - d.capacity, &d);

  // Doubling keeps in-order arrival linear; once the end is known, exactly what it needs.
  // Either way no more than fits without evicting further.
  size_t wanted = needed;
  if (total_len) {
    wanted = kHeaderRoom + *total_len;
  } else if (d.capacity > 0) {
    wanted = kHeaderRoom + std::min<size_t>(2 * (d.capacity - kHeaderRoom), kMaxPayload);
  }
  const size_t available = config_.memory_limit - (memory_used_ - d.capacity);
  const size_t capacity = std::max(needed, std::min(wanted, available));

  auto grown = std::make_unique_for_overwrite<std::byte[]>(capacity);
  if (d.capacity > 0) {
    // Received data and the descriptors of the holes below received_end.
    std::memcpy(grown.get() + kHeaderRoom, d.buffer.get() + kHeaderRoom, d.received_end);
  }
  d.buffer = std::move(grown);
  memory_used_ = memory_used_ - d.capacity + capacity;
  d.capacity = capacity;
  return true;
}

// Discards the oldest datagrams other than `keep` until `extra` more bytes fit the limit.
void Reassembler::make_room(size_t extra, const Datagram* keep) {
  auto it = datagrams_.begin();
  while (memory_used_ + extra > config_.memory_limit && it != datagrams_.end()) {
    it = &*it == keep ? std::next(it) : discard(it, DropReason::reasm_memory_limit);
  }
}

Reassembler::DatagramIter Reassembler::discard(DatagramIter it, DropReason reason) {
  counters_.drop(reason);
  memory_used_ -= it->capacity;
  const DatagramIter next = datagrams_.erase(it);
  publish_in_progress();
  return next;
}

void Reassembler::publish_in_progress() {
  counters_.set(StackGauge::reassemblies_in_progress, datagrams_.size());
}

// Writes the header in front of the payload and hands the buffer to completed_.
wire::Bytes Reassembler::complete(DatagramIter it) {
  Datagram& d = *it;
  wire::Ipv4Repr repr;
  repr.src = d.src;
  repr.dst = d.dst;
  repr.protocol = d.protocol;
  repr.ttl = d.ttl;
  repr.tos = d.tos;
  repr.identification = d.identification;
  repr.dont_fragment = d.dont_fragment;
  repr.more_fragments = false;
  repr.fragment_offset = 0;
  repr.payload_len = static_cast<uint16_t>(*d.total_len);
  repr.emit(MutableBytes(d.buffer.get(), kHeaderRoom));

  const size_t size = kHeaderRoom + *d.total_len;
  completed_ = std::move(d.buffer);
  memory_used_ -= d.capacity;
  datagrams_.erase(it);
  publish_in_progress();
  counters_.count(Event::reasm_completed);
  return Bytes(completed_.get(), size);
}

void Reassembler::poll(Instant now, const std::function<void(wire::Bytes quoted)>& on_expired) {
  // Unlink first, report after: on_expired may call back into this Reassembler.
  std::list<Datagram> expired;
  for (auto it = datagrams_.begin(); it != datagrams_.end();) {
    const auto next = std::next(it);
    if (it->deadline(config_.timeout) <= now) {
      counters_.drop(DropReason::reasm_timeout);
      memory_used_ -= it->capacity;
      expired.splice(expired.end(), datagrams_, it);
    }
    it = next;
  }
  publish_in_progress();
  if (!on_expired) return;
  for (const Datagram& d : expired) {
    if (d.quote_len > 0) on_expired(Bytes(d.quote.data(), d.quote_len));
  }
}

std::optional<Instant> Reassembler::next_deadline() const {
  std::optional<Instant> earliest;
  for (const Datagram& d : datagrams_) {
    const Instant t = d.deadline(config_.timeout);
    if (!earliest || t < *earliest) earliest = t;
  }
  return earliest;
}

size_t Reassembler::datagrams_in_progress() const {
  return datagrams_.size();
}

size_t Reassembler::memory_used() const {
  return memory_used_;
}

}  // namespace flowgate
