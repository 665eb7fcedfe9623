#include "rx_tx/af_packet_link.hpp"

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace flowgate {
namespace {

constexpr size_t kEthernetHeader = 14;
constexpr size_t kVlanTag = 4;
// Received frames are written this far into their slot, so a VLAN tag the driver stripped
// (reported in PACKET_AUXDATA) can be put back in front of the EtherType without copying
// the payload.
constexpr size_t kRxHeadroom = kVlanTag;
constexpr size_t kMaxBatch = 1024;
static_assert(sizeof(sockaddr_storage) >= sizeof(sockaddr_ll));

}  // namespace

AfPacketLink::AfPacketLink(AfPacketConfig config) : config_(std::move(config)) {
  if (config_.batch == 0 || config_.batch > kMaxBatch) {
    throw LinkError("AF_PACKET batch size must be 1 to " + std::to_string(kMaxBatch));
  }
  info_ = query_interface(config_.interface);

  PacketSocketOptions socket_options;
  socket_options.socket_buffer_bytes = config_.socket_buffer_bytes;
  socket_options.promiscuous = config_.promiscuous;
  fd_ = open_packet_socket(info_, socket_options);

  // One slot holds the largest frame the interface carries: MTU + Ethernet header + two
  // VLAN tags (802.1ad), rounded to a cache line.
  slot_size_ = (kRxHeadroom + info_.mtu + kEthernetHeader + 2 * kVlanTag + 63) / 64 * 64;
  max_tx_frame_ = info_.mtu + kEthernetHeader + kVlanTag;
  const size_t batch = config_.batch;

  rx_buffers_.resize(batch * slot_size_);
  rx_starts_.resize(batch);
  rx_lengths_.resize(batch);
  rx_frame_ok_.resize(batch);
  rx_msgs_.resize(batch);
  rx_iovecs_.resize(batch);
  rx_names_.resize(batch);
  rx_control_.resize(batch * packet_control_space());
  for (size_t i = 0; i < batch; ++i) {
    rx_iovecs_[i].iov_base = rx_buffers_.data() + i * slot_size_ + kRxHeadroom;
    rx_iovecs_[i].iov_len = slot_size_ - kRxHeadroom;
    msghdr& h = rx_msgs_[i].msg_hdr;
    h.msg_iov = &rx_iovecs_[i];
    h.msg_iovlen = 1;
    h.msg_name = &rx_names_[i];
    h.msg_control = rx_control_.data() + i * packet_control_space();
  }

  tx_buffers_.resize(batch * slot_size_);
  tx_msgs_.resize(batch);
  tx_iovecs_.resize(batch);
  for (size_t i = 0; i < batch; ++i) {
    tx_iovecs_[i].iov_base = tx_buffers_.data() + i * slot_size_;
    msghdr& h = tx_msgs_[i].msg_hdr;
    h.msg_iov = &tx_iovecs_[i];
    h.msg_iovlen = 1;  // no msg_name: the socket is bound to the interface
  }
}

AfPacketLink::~AfPacketLink() {
  if (fd_ < 0) return;
  flush();  // best effort: what the stack sent last (an ICMP error, a reply) still leaves
  ::close(fd_);
}

size_t AfPacketLink::receive_batch() {
  const size_t batch = config_.batch;
  for (size_t i = 0; i < batch; ++i) {
    // recvmmsg overwrites these per message: reset them every call.
    msghdr& h = rx_msgs_[i].msg_hdr;
    h.msg_namelen = sizeof(sockaddr_ll);
    h.msg_controllen = packet_control_space();
    h.msg_flags = 0;
  }
  int n = 0;
  do {
    n = ::recvmmsg(fd_, rx_msgs_.data(), static_cast<unsigned>(batch), MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ++stats_.rx_errors;
      error_ = errno;
    }
    return 0;
  }
  if (n > 0) ++stats_.rx_batches;

  for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
    const msghdr& h = rx_msgs_[i].msg_hdr;
    size_t start = kRxHeadroom;
    size_t len = rx_msgs_[i].msg_len;
    bool ok = true;
    if ((h.msg_flags & MSG_TRUNC) != 0) {
      ++stats_.rx_truncated;
      ok = false;
    }
    sockaddr_ll from;
    std::memcpy(&from, &rx_names_[i], sizeof from);
    if (from.sll_pkttype == PACKET_OUTGOING) {
      ++stats_.rx_outgoing;
      ok = false;
    }
    if (ok) {
      const PacketAuxdata aux = read_packet_auxdata(h);
      if (aux.checksum_partial) ++stats_.rx_checksum_partial;
      // The driver took the 802.1Q tag out of the frame: put it back where it was, so the
      // stack sees the frame as it was on the wire.
      std::byte* slot = rx_buffers_.data() + i * slot_size_;
      if (restore_vlan_tag(slot + kRxHeadroom, len, aux)) {
        start = 0;
        len += kVlanTag;
      }
      ++stats_.rx_frames;
      stats_.rx_bytes += len;
    }
    rx_starts_[i] = start;
    rx_lengths_[i] = len;
    rx_frame_ok_[i] = ok ? 1 : 0;
  }
  return static_cast<size_t>(n);
}

bool AfPacketLink::transmit(wire::Bytes frame) {
  if (frame.size() > max_tx_frame_) {
    ++stats_.tx_oversize;
    return false;
  }
  const size_t batch = config_.batch;
  if (tx_count_ == batch) {
    flush();
    if (tx_count_ == batch) {
      ++stats_.tx_queue_full;
      return false;
    }
  }
  const size_t slot = (tx_head_ + tx_count_) % batch;
  std::memcpy(tx_iovecs_[slot].iov_base, frame.data(), frame.size());
  tx_iovecs_[slot].iov_len = frame.size();
  ++tx_count_;
  return true;
}

void AfPacketLink::flush() {
  const size_t batch = config_.batch;
  while (tx_count_ > 0) {
    // The queue is a ring: send the part up to its end first, then the rest from slot 0.
    const size_t run = std::min(tx_count_, batch - tx_head_);
    const int n = ::sendmmsg(fd_, &tx_msgs_[tx_head_], static_cast<unsigned>(run), MSG_DONTWAIT);
    size_t done = 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        // Send buffer full: keep the frames; the caller polls for POLLOUT and flushes again.
        ++stats_.tx_would_block;
        return;
      }
      // The kernel refused the head frame (ENETDOWN, EMSGSIZE, ENOBUFS when the qdisc
      // dropped it, ...): it is lost, the ones behind it are tried next.
      ++stats_.tx_errors;
      error_ = errno;
      done = 1;
    } else {
      done = static_cast<size_t>(n);
      if (done > 0) ++stats_.tx_batches;
      for (size_t i = 0; i < done; ++i) {
        ++stats_.tx_frames;
        stats_.tx_bytes += tx_iovecs_[tx_head_ + i].iov_len;
      }
    }
    tx_head_ = (tx_head_ + done) % batch;
    tx_count_ -= done;
  }
  tx_head_ = 0;  // empty: restart at slot 0 so the next flush sends in one run
}

int AfPacketLink::take_error() {
  if (error_ != 0) {
    const int err = error_;
    error_ = 0;
    return err;
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
  return err;
}

void AfPacketLink::update_kernel_stats() {
  // Reading the statistics resets them in the kernel: accumulate.
  stats_.rx_kernel_drops += take_packet_drops(fd_);
}

}  // namespace flowgate
