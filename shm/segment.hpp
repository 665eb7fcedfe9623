// One gateway instance's shared-memory segment: created by the supervisor, opened by the I/O
// process, the workers and the read-only tools (`flowgate stats`). POSIX shared memory
// through Boost.Interprocess, /dev/shm/flowgate.<instance>, mode 0600.
#pragma once

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "shm/layout.hpp"
#include "shm/ring.hpp"

namespace flowgate::shm {

// Creating, opening or validating a segment failed; what() says which segment and why.
class SegmentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "flowgate.<instance>": the shm object name (the file under /dev/shm).
std::string segment_name(std::string_view instance);

class Segment {
 public:
  // Creates the segment for `instance` with `params`, zero-filled, the header and every
  // ring initialised, `config_text` stored, and marks it ready. Fails if one exists: the
  // caller decides whether an existing one is stale (find_owner) and removes it first.
  static std::unique_ptr<Segment> create(std::string_view instance, const SegmentParams& params,
                                         std::string_view config_text, uint32_t flow_seed,
                                         uint64_t metrics_signature);
  // Opens an existing segment and validates it: magic, layout version, header size, that
  // the file is as large as the layout says, and (unless 0) the metrics signature.
  static std::unique_ptr<Segment> open(std::string_view instance,
                                       uint64_t expected_metrics_signature = 0);
  // Removes the segment's name; processes that have it mapped keep their mapping. Returns
  // false when there was none.
  static bool remove(std::string_view instance);
  // The supervisor pid recorded in an existing segment, if that process still runs and is a
  // flowgate; 0 for a stale segment (or none).
  static int find_live_owner(std::string_view instance);

  const SegmentHeader& header() const { return *header_; }
  SegmentHeader& header() { return *header_; }
  const SegmentLayout& layout() const { return header_->layout; }
  uint32_t worker_count() const { return layout().params.worker_count; }

  IoBlock& io() const;
  WorkerBlock& worker(uint32_t k) const;
  template <typename T = RingDesc>
  RingMemory<T> ring(uint32_t worker, RingKind kind) const {
    return RingMemory<T>::at(base() + layout().workers_offset + worker * layout().worker_stride +
                                 layout().ring_offsets[static_cast<int>(kind)],
                             layout().params.ring_size);
  }
  uint8_t* frame_tags() const { return base() + layout().tags_offset; }
  std::byte* umem() const { return reinterpret_cast<std::byte*>(base() + layout().umem_offset); }
  uint64_t umem_size() const { return layout().umem_size; }
  // A consistent copy of the configuration text in use (see SegmentHeader).
  std::string config_text() const;
  // Even; bumped by 2 at every publish_config().
  uint32_t config_generation() const;
  // The supervisor, on an accepted reload: stores `text` in the slot not in use and makes it
  // the one in use. Throws SegmentError when it is larger than the capacity.
  void publish_config(std::string_view text);

  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

 private:
  Segment(std::string name, boost::interprocess::shared_memory_object object,
          boost::interprocess::mapped_region region);
  uint8_t* base() const { return static_cast<uint8_t*>(region_.get_address()); }

  std::string name_;
  boost::interprocess::shared_memory_object object_;
  boost::interprocess::mapped_region region_;
  SegmentHeader* header_;
};

}  // namespace flowgate::shm
