#include "shm/segment.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/interprocess/exceptions.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>

namespace flowgate::shm {
namespace bip = boost::interprocess;

std::string segment_name(std::string_view instance) {
  return "flowgate." + std::string(instance);
}

Segment::Segment(std::string name, bip::shared_memory_object object, bip::mapped_region region)
    : name_(std::move(name)),
      object_(std::move(object)),
      region_(std::move(region)),
      header_(static_cast<SegmentHeader*>(region_.get_address())) {}

Segment::~Segment() = default;

std::unique_ptr<Segment> Segment::create(std::string_view instance, const SegmentParams& params,
                                         std::string_view config_text, uint32_t flow_seed,
                                         uint64_t metrics_signature) {
  const std::string name = segment_name(instance);
  if (instance.empty() || instance.size() >= kInstanceNameCapacity) {
    throw SegmentError("instance name '" + std::string(instance) + "' must be 1-" +
                       std::to_string(kInstanceNameCapacity - 1) + " characters");
  }
  if (const char* why = check_params(params)) {
    throw SegmentError("segment " + name + ": " + why);
  }
  if (config_text.size() > params.config_capacity) {
    throw SegmentError("segment " + name + ": the configuration (" +
                       std::to_string(config_text.size()) + " bytes) is larger than " +
                       std::to_string(params.config_capacity) + " bytes");
  }
  const SegmentLayout layout = compute_layout(params);
  try {
    // 0600: the segment holds every frame of the link and the workers' control words.
    bip::permissions owner_only(0600);
    bip::shared_memory_object object(bip::create_only, name.c_str(), bip::read_write, owner_only);
    object.truncate(static_cast<bip::offset_t>(layout.total_size));
    bip::mapped_region region(object, bip::read_write);
    // A fresh object reads as zeros (ftruncate); constructing the parts is enough.
    auto* base = static_cast<uint8_t*>(region.get_address());
    auto* header = new (base) SegmentHeader();
    header->magic = kMagic;
    header->layout_version = kLayoutVersion;
    header->header_bytes = sizeof(SegmentHeader);
    header->layout = layout;
    std::memcpy(header->instance, instance.data(), instance.size());
    header->flow_seed = flow_seed;
    header->metrics_signature = metrics_signature;
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    header->created_unix_ns =
        static_cast<uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(now.tv_nsec);
    header->supervisor_pid.store(::getpid(), std::memory_order_relaxed);
    new (base + layout.io_offset) IoBlock();
    for (uint32_t k = 0; k < params.worker_count; ++k) {
      uint8_t* block = base + layout.workers_offset + k * layout.worker_stride;
      new (block) WorkerBlock();
      for (uint64_t ring_offset : layout.ring_offsets) {
        RingMemory<RingDesc>::create(block + ring_offset, params.ring_size);
      }
    }
    std::memcpy(base + layout.config_offset, config_text.data(), config_text.size());
    header->config_length[0].store(static_cast<uint32_t>(config_text.size()),
                                   std::memory_order_relaxed);
    header->ready.store(1, std::memory_order_release);
    return std::unique_ptr<Segment>(new Segment(name, std::move(object), std::move(region)));
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::already_exists_error) {
      throw SegmentError("segment /dev/shm/" + name + " already exists");
    }
    throw SegmentError("cannot create segment /dev/shm/" + name + ": " + e.what());
  }
}

std::unique_ptr<Segment> Segment::open(std::string_view instance,
                                       uint64_t expected_metrics_signature) {
  const std::string name = segment_name(instance);
  const std::string where = "segment /dev/shm/" + name;
  try {
    bip::shared_memory_object object(bip::open_only, name.c_str(), bip::read_write);
    bip::offset_t size = 0;
    if (!object.get_size(size) || size < static_cast<bip::offset_t>(kPageSize)) {
      throw SegmentError(where + " is too small to hold a header");
    }
    bip::mapped_region region(object, bip::read_write);
    const auto* header = static_cast<const SegmentHeader*>(region.get_address());
    if (header->ready.load(std::memory_order_acquire) != 1) {
      throw SegmentError(where + " is not initialised yet (or its creator died creating it)");
    }
    if (header->magic != kMagic) throw SegmentError(where + " is not a flowgate segment");
    if (header->layout_version != kLayoutVersion || header->header_bytes != sizeof(SegmentHeader)) {
      throw SegmentError(where + " has layout version " + std::to_string(header->layout_version) +
                         "; this flowgate reads " + std::to_string(kLayoutVersion) +
                         " (mixed versions running?)");
    }
    if (check_params(header->layout.params) != nullptr ||
        static_cast<uint64_t>(size) < header->layout.total_size ||
        compute_layout(header->layout.params).total_size != header->layout.total_size) {
      throw SegmentError(where + " has an inconsistent layout");
    }
    if (expected_metrics_signature != 0 &&
        header->metrics_signature != expected_metrics_signature) {
      throw SegmentError(where + " was made by a flowgate with other metrics (mixed versions?)");
    }
    return std::unique_ptr<Segment>(new Segment(name, std::move(object), std::move(region)));
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error) {
      throw SegmentError(where + " does not exist (is the gateway running with instance '" +
                         std::string(instance) + "'?)");
    }
    throw SegmentError("cannot open " + where + ": " + e.what());
  }
}

bool Segment::remove(std::string_view instance) {
  return bip::shared_memory_object::remove(segment_name(instance).c_str());
}

int Segment::find_live_owner(std::string_view instance) {
  int pid = 0;
  try {
    bip::shared_memory_object object(bip::open_only, segment_name(instance).c_str(),
                                     bip::read_only);
    bip::offset_t size = 0;
    if (!object.get_size(size) || size < static_cast<bip::offset_t>(kPageSize)) return 0;
    bip::mapped_region region(object, bip::read_only, 0, kPageSize);
    const auto* header = static_cast<const SegmentHeader*>(region.get_address());
    if (header->magic != kMagic) return 0;
    pid = header->supervisor_pid.load(std::memory_order_relaxed);
  } catch (const bip::interprocess_exception&) {
    return 0;
  }
  if (pid <= 0 || (::kill(pid, 0) < 0 && errno == ESRCH)) return 0;
  // A recycled pid belongs to some other program: only a running flowgate owns the segment.
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name == "flowgate" ? pid : 0;
}

IoBlock& Segment::io() const {
  return *reinterpret_cast<IoBlock*>(base() + layout().io_offset);
}

WorkerBlock& Segment::worker(uint32_t k) const {
  return *reinterpret_cast<WorkerBlock*>(base() + layout().workers_offset +
                                         k * layout().worker_stride);
}

std::string Segment::config_text() const {
  for (;;) {
    const uint32_t before = header_->config_generation.load(std::memory_order_acquire);
    if (before % 2 != 0) continue;  // a publish is half done: its slot switch is imminent
    const uint32_t slot = header_->config_slot.load(std::memory_order_acquire) & 1;
    const uint32_t length =
        std::min<uint32_t>(header_->config_length[slot].load(std::memory_order_acquire),
                           layout().params.config_capacity);
    std::string text(
        reinterpret_cast<const char*>(base() + layout().config_offset +
                                      uint64_t{slot} * layout().params.config_capacity),
        length);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (header_->config_generation.load(std::memory_order_relaxed) == before) return text;
  }
}

uint32_t Segment::config_generation() const {
  return header_->config_generation.load(std::memory_order_acquire);
}

void Segment::publish_config(std::string_view text) {
  const uint32_t capacity = layout().params.config_capacity;
  if (text.size() > capacity) {
    throw SegmentError("the configuration (" + std::to_string(text.size()) +
                       " bytes) is larger than the segment's " + std::to_string(capacity) +
                       " bytes");
  }
  const uint32_t next = (header_->config_slot.load(std::memory_order_relaxed) & 1) ^ 1;
  // Odd: readers that start now wait; readers already copying the old slot are unaffected
  // by this write (it goes to the other slot) and see the generation move only if a second
  // publish overtakes them.
  const uint32_t generation = header_->config_generation.load(std::memory_order_relaxed);
  header_->config_generation.store(generation + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(base() + layout().config_offset + uint64_t{next} * capacity, text.data(),
              text.size());
  header_->config_length[next].store(static_cast<uint32_t>(text.size()), std::memory_order_relaxed);
  header_->config_slot.store(next, std::memory_order_relaxed);
  header_->config_generation.store(generation + 2, std::memory_order_release);
}

}  // namespace flowgate::shm
