#include "rx_tx/af_packet_port.hpp"

#include <linux/if_packet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace flowgate {
namespace {

constexpr uint32_t kEthernetHeader = 14;
constexpr uint32_t kMaxBatch = 1024;
static_assert(sizeof(sockaddr_storage) >= sizeof(sockaddr_ll));
static_assert(AfPacketPort::kRxHeadroom >= kVlanTagBytes);

bool is_power_of_two(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

}  // namespace

AfPacketPort::AfPacketPort(const UmemArea& umem, AfPacketPortConfig config)
    : umem_(umem), config_(std::move(config)) {
  if (umem_.base == nullptr || !is_power_of_two(umem_.frame_size) ||
      umem_.frame_size <= kRxHeadroom || umem_.size < umem_.frame_size) {
    throw LinkError("AF_PACKET port on '" + config_.interface +
                    "': the UMEM area is empty or its frame size is not a power of two above " +
                    std::to_string(kRxHeadroom));
  }
  if (config_.batch == 0 || config_.batch > kMaxBatch || config_.rx_capacity == 0 ||
      config_.tx_capacity == 0) {
    throw LinkError("AF_PACKET port on '" + config_.interface + "': batch must be 1 to " +
                    std::to_string(kMaxBatch) + " and the capacities non-zero");
  }
  info_ = query_interface(config_.interface);
  max_tx_frame_ = info_.mtu + kEthernetHeader + static_cast<uint32_t>(kVlanTagBytes);

  rx_slots_.resize(config_.rx_capacity);
  tx_frames_.resize(config_.tx_capacity);
  done_slots_.resize(config_.tx_capacity);
  const size_t batch = config_.batch;
  msgs_.resize(batch);
  iovecs_.resize(batch);
  names_.resize(batch);
  control_.resize(batch * packet_control_space());

  fd_ = open_packet_socket(info_, config_.socket);
}

AfPacketPort::~AfPacketPort() {
  if (fd_ >= 0) ::close(fd_);
}

uint32_t AfPacketPort::frames_held() const {
  return rx_count_ + tx_count_ + done_count_;
}

uint32_t AfPacketPort::post_rx_frames(std::span<const uint64_t> slots) {
  const uint32_t capacity = config_.rx_capacity;
  uint32_t taken = 0;
  for (const uint64_t slot : slots) {
    if (rx_count_ == capacity) break;
    if (slot % umem_.frame_size != 0 || slot + umem_.frame_size > umem_.size) {
      ++stats_.rx_invalid_slots;
      break;
    }
    rx_slots_[(rx_head_ + rx_count_) % capacity] = slot;
    ++rx_count_;
    ++taken;
  }
  return taken;
}

uint32_t AfPacketPort::receive(std::span<FrameDesc> out) {
  uint32_t total = 0;
  // Frames the port drops go back to the posted set; without this loop a batch of only such
  // frames would look like "nothing waiting". Bounded by out.size() and by the batch count.
  for (uint32_t round = 0; round < 4 && total < out.size(); ++round) {
    const uint32_t before = total;
    const uint32_t asked =
        static_cast<uint32_t>(std::min<size_t>({out.size() - total, rx_count_, config_.batch}));
    if (asked == 0) break;
    const int got = [&] {
      for (size_t i = 0; i < asked; ++i) {
        const uint64_t slot = rx_slots_[(rx_head_ + i) % config_.rx_capacity];
        iovecs_[i].iov_base = at(slot + kRxHeadroom);
        iovecs_[i].iov_len = umem_.frame_size - kRxHeadroom;
        msghdr& h = msgs_[i].msg_hdr;
        h = msghdr{};
        h.msg_iov = &iovecs_[i];
        h.msg_iovlen = 1;
        h.msg_name = &names_[i];
        h.msg_namelen = sizeof(sockaddr_ll);
        h.msg_control = control_.data() + i * packet_control_space();
        h.msg_controllen = packet_control_space();
      }
      int n = 0;
      do {
        n = ::recvmmsg(fd_, msgs_.data(), asked, MSG_DONTWAIT, nullptr);
      } while (n < 0 && errno == EINTR);
      return n;
    }();
    if (got < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) ++stats_.rx_errors;
      break;
    }
    if (got > 0) ++stats_.rx_batches;
    total += receive_batch(out.subspan(total, static_cast<size_t>(got)));
    if (static_cast<uint32_t>(got) < asked) break;  // the socket is empty
    if (total > before && total == out.size()) break;
  }
  return total;
}

// Hands on the `out.size()` frames just received into the oldest posted slots.
uint32_t AfPacketPort::receive_batch(std::span<FrameDesc> out) {
  const uint32_t capacity = config_.rx_capacity;
  const uint32_t received = static_cast<uint32_t>(out.size());
  std::vector<uint64_t> repost;  // rarely used: dropped frames' slots
  uint32_t handed = 0;
  for (uint32_t i = 0; i < received; ++i) {
    const uint64_t slot = rx_slots_[(rx_head_ + i) % capacity];
    const msghdr& h = msgs_[i].msg_hdr;
    sockaddr_ll from;
    std::memcpy(&from, &names_[i], sizeof from);
    bool ok = true;
    if ((h.msg_flags & MSG_TRUNC) != 0) {
      ++stats_.rx_truncated;
      ok = false;
    } else if (from.sll_pkttype == PACKET_OUTGOING) {
      ++stats_.rx_outgoing;
      ok = false;
    }
    if (!ok) {
      repost.push_back(slot);
      continue;
    }
    uint64_t offset = slot + kRxHeadroom;
    uint32_t length = msgs_[i].msg_len;
    const PacketAuxdata aux = read_packet_auxdata(h);
    if (aux.checksum_partial) ++stats_.rx_checksum_partial;
    if (restore_vlan_tag(at(offset), length, aux)) {
      offset -= kVlanTagBytes;
      length += static_cast<uint32_t>(kVlanTagBytes);
    }
    ++stats_.rx_frames;
    stats_.rx_bytes += length;
    out[handed++] = FrameDesc{offset, length};
  }
  rx_head_ = (rx_head_ + received) % capacity;
  rx_count_ -= received;
  for (const uint64_t slot : repost) {
    rx_slots_[(rx_head_ + rx_count_) % capacity] = slot;
    ++rx_count_;
  }
  return handed;
}

uint32_t AfPacketPort::transmit(std::span<const FrameDesc> frames) {
  const uint32_t capacity = config_.tx_capacity;
  uint32_t taken = 0;
  for (const FrameDesc& f : frames) {
    // Sent and not yet completed frames share the capacity, so flush() never overflows the
    // completed ring.
    if (tx_count_ + done_count_ == capacity) {
      ++stats_.tx_queue_full;
      break;
    }
    const uint64_t slot = f.offset & ~static_cast<uint64_t>(umem_.frame_size - 1);
    if (f.length == 0 || f.offset + f.length > slot + umem_.frame_size ||
        slot + umem_.frame_size > umem_.size) {
      ++stats_.tx_invalid_descs;
      break;
    }
    if (f.length > max_tx_frame_) {
      ++stats_.tx_oversize;
      break;
    }
    tx_frames_[(tx_head_ + tx_count_) % capacity] = f;
    ++tx_count_;
    ++taken;
  }
  return taken;
}

void AfPacketPort::flush() {
  const uint32_t capacity = config_.tx_capacity;
  auto complete = [&](const FrameDesc& f) {
    done_slots_[(done_head_ + done_count_) % capacity] =
        f.offset & ~static_cast<uint64_t>(umem_.frame_size - 1);
    ++done_count_;
  };
  while (tx_count_ > 0) {
    const uint32_t run = std::min(tx_count_, config_.batch);
    for (uint32_t i = 0; i < run; ++i) {
      const FrameDesc& f = tx_frames_[(tx_head_ + i) % capacity];
      iovecs_[i].iov_base = at(f.offset);
      iovecs_[i].iov_len = f.length;
      msghdr& h = msgs_[i].msg_hdr;
      h = msghdr{};  // no msg_name: the socket is bound to the interface
      h.msg_iov = &iovecs_[i];
      h.msg_iovlen = 1;
    }
    const int n = ::sendmmsg(fd_, msgs_.data(), run, MSG_DONTWAIT);
    uint32_t done = 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        // Send buffer full: keep the frames; the caller polls for POLLOUT and flushes again.
        ++stats_.tx_would_block;
        return;
      }
      // The kernel refused the head frame (ENETDOWN, EMSGSIZE, ENOBUFS when the qdisc
      // dropped it, ...): it is lost and handed back; the ones behind it are tried next.
      ++stats_.tx_errors;
      done = 1;
    } else {
      done = static_cast<uint32_t>(n);
      if (done > 0) ++stats_.tx_batches;
      for (uint32_t i = 0; i < done; ++i) {
        ++stats_.tx_frames;
        stats_.tx_bytes += iovecs_[i].iov_len;
      }
    }
    for (uint32_t i = 0; i < done; ++i) complete(tx_frames_[(tx_head_ + i) % capacity]);
    tx_head_ = (tx_head_ + done) % capacity;
    tx_count_ -= done;
    if (done == 0) return;  // nothing taken, no error: try again later
  }
}

uint32_t AfPacketPort::completed(std::span<uint64_t> out) {
  const uint32_t capacity = config_.tx_capacity;
  const uint32_t n = static_cast<uint32_t>(std::min<size_t>(out.size(), done_count_));
  for (uint32_t i = 0; i < n; ++i) out[i] = done_slots_[(done_head_ + i) % capacity];
  done_head_ = (done_head_ + n) % capacity;
  done_count_ -= n;
  return n;
}

void AfPacketPort::update_kernel_stats() {
  stats_.rx_kernel_drops += take_packet_drops(fd_);
}

}  // namespace flowgate
