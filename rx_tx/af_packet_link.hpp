// A Link over an AF_PACKET SOCK_RAW socket bound to one interface: whole Ethernet frames in
// and out through the kernel's packet taps, batched with recvmmsg/sendmmsg.
//
// This is the single-process fallback that runs one Stack on a real link until the AF_XDP
// data plane exists (and later the I/O process's backend where AF_XDP is unavailable). It
// knows frames only: nothing here parses a protocol header.
//
// What the kernel still does on that interface is the caller's business: AF_PACKET taps
// copy frames, they do not steal them, so the kernel's own stack sees every received frame
// too. The lab (deploy/lab/lab.sh) keeps it quiet: no IPv4 address, IPv6 disabled, ARP off.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "rx_tx/af_packet_socket.hpp"
#include "rx_tx/interface_info.hpp"
#include "stack/link.hpp"
#include "wire/addresses.hpp"
#include "wire/bytes.hpp"

namespace flowgate {

struct AfPacketConfig {
  std::string interface;
  // Frames per recvmmsg and per sendmmsg call, and the number of frames transmit() queues
  // before it flushes on its own.
  size_t batch = 32;
  // Receive and send socket buffers. As root SO_RCVBUFFORCE/SO_SNDBUFFORCE pass the sysctl
  // caps (rmem_max is often 208 KiB, about 100 full frames); 0 leaves the kernel's default.
  int socket_buffer_bytes = 4 * 1024 * 1024;
  // Receive frames for every MAC address, not only the interface's: needed when the stack
  // uses a MAC the interface does not own. The membership ends with the socket.
  bool promiscuous = false;
};

class AfPacketLink final : public Link {
 public:
  // Opens and binds the socket. Throws LinkError naming the interface and the reason
  // (interface not found, not permitted without root or CAP_NET_RAW, ...).
  explicit AfPacketLink(AfPacketConfig config);
  ~AfPacketLink() override;
  AfPacketLink(const AfPacketLink&) = delete;
  AfPacketLink& operator=(const AfPacketLink&) = delete;

  // The socket, for poll(2): readable when frames wait; writable again after a flush that
  // stopped on a full send buffer (see tx_pending()).
  int fd() const { return fd_; }
  const InterfaceInfo& interface() const { return info_; }
  size_t batch() const { return config_.batch; }

  // Receives at most one batch without blocking and calls on_frame(wire::Bytes) for each
  // frame, in arrival order. Returns the number of frames received: fewer than batch()
  // means nothing more was waiting.
  // Ownership: each frame is borrowed for the duration of its callback only; the buffer is
  // reused by the next call.
  template <typename OnFrame>
  size_t receive(OnFrame&& on_frame) {
    const size_t n = receive_batch();
    for (size_t i = 0; i < n; ++i) {
      if (rx_frame_ok_[i]) on_frame(rx_frame(i));
    }
    return n;
  }

  // Link: copies the frame into the transmit queue. The frame leaves at the next flush(),
  // or at once when the queue is full. Returns false (frame lost) when the queue is full and
  // the kernel accepts nothing, or the frame is longer than the interface allows.
  bool transmit(wire::Bytes frame) override;
  // Hands every queued frame to the kernel (sendmmsg, one batch per call). Frames the
  // kernel cannot take yet (send buffer full) stay queued; poll for POLLOUT and flush again.
  void flush();
  bool tx_pending() const { return tx_count_ != 0; }

  // Returns and clears the last hard error of a receive or send, else the socket's pending
  // error (SO_ERROR), e.g. ENETDOWN after the interface went down; 0 if none. Call it when
  // has_error() or when poll(2) reports POLLERR.
  int take_error();
  bool has_error() const { return error_ != 0; }
  // Reads the kernel's drop count for the socket into stats().rx_kernel_drops.
  void update_kernel_stats();
  const AfPacketStats& stats() const { return stats_; }

 private:
  size_t receive_batch();
  wire::Bytes rx_frame(size_t i) const {
    return wire::Bytes(rx_buffers_.data() + i * slot_size_ + rx_starts_[i], rx_lengths_[i]);
  }

  AfPacketConfig config_;
  InterfaceInfo info_;
  int fd_ = -1;
  size_t slot_size_ = 0;     // bytes of one frame buffer: MTU + Ethernet header + two VLAN tags
  size_t max_tx_frame_ = 0;  // what the kernel sends: MTU + Ethernet header + one VLAN tag

  // Receive side: one slot per frame of a batch, all filled by one recvmmsg.
  std::vector<std::byte> rx_buffers_;
  std::vector<size_t> rx_starts_;  // where the frame begins in its slot
  std::vector<size_t> rx_lengths_;
  std::vector<uint8_t> rx_frame_ok_;  // 0: dropped by the link (counted), not handed on
  std::vector<mmsghdr> rx_msgs_;
  std::vector<iovec> rx_iovecs_;
  std::vector<sockaddr_storage> rx_names_;  // the sender's sockaddr_ll, per slot
  std::vector<std::byte> rx_control_;       // room for a PACKET_AUXDATA message, per slot

  // Transmit side: a FIFO of copied frames, sent by sendmmsg from its head.
  std::vector<std::byte> tx_buffers_;
  std::vector<size_t> tx_lengths_;
  std::vector<mmsghdr> tx_msgs_;
  std::vector<iovec> tx_iovecs_;
  size_t tx_head_ = 0;   // slot of the oldest queued frame
  size_t tx_count_ = 0;  // queued frames

  int error_ = 0;  // the last hard receive or send error, until take_error()

  AfPacketStats stats_;
};

}  // namespace flowgate
