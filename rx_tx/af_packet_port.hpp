// A FramePort over an AF_PACKET SOCK_RAW socket: the I/O process's backend for links without
// (usable) XDP. Frames are received straight into posted UMEM frames (recvmmsg with iovecs
// into the shared-memory area) and sent straight from them (sendmmsg), so workers see the same
// UMEM frames as with AF_XDP. Unlike AF_XDP, the kernel's own stack also sees every received
// frame (packet taps copy, they do not steal): keep the kernel quiet on that interface (no IPv4
// address for the gateway's addresses, see DESIGN.md "Lab").
//
// Frame layout as with AF_XDP: a received frame starts kRxHeadroom bytes into its slot (room
// to put back a VLAN tag the driver stripped, and for workers to prepend headers).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "rx_tx/af_packet_socket.hpp"
#include "rx_tx/frame_port.hpp"
#include "rx_tx/interface_info.hpp"

namespace flowgate {

struct AfPacketPortConfig {
  std::string interface;
  // Frames per recvmmsg and per sendmmsg call.
  uint32_t batch = 64;
  // Most frames posted for reception, and most frames queued for sending, at once.
  uint32_t rx_capacity = 4096;
  uint32_t tx_capacity = 4096;
  PacketSocketOptions socket;
};

class AfPacketPort final : public FramePort {
 public:
  // Where a received frame starts in its slot: XDP_PACKET_HEADROOM, as AF_XDP does.
  static constexpr uint32_t kRxHeadroom = 256;

  // Opens and binds the socket. `umem` is the shared frame area; its mapping outlives the
  // port. Throws LinkError (interface not found, not permitted, bad configuration).
  AfPacketPort(const UmemArea& umem, AfPacketPortConfig config);
  ~AfPacketPort() override;
  AfPacketPort(const AfPacketPort&) = delete;
  AfPacketPort& operator=(const AfPacketPort&) = delete;

  // Readable when frames wait; writable again after a flush stopped on a full send buffer.
  int fd() const override { return fd_; }
  // Slots outside the UMEM or not at a frame boundary are refused (counted): the call stops
  // at the first one.
  uint32_t post_rx_frames(std::span<const uint64_t> slots) override;
  // Receives without blocking into the oldest posted frames. Frames the port drops
  // (truncated, our own outgoing) stay posted.
  uint32_t receive(std::span<FrameDesc> out) override;
  // Queues frames; nothing is sent before flush(). A frame outside the UMEM, crossing its
  // frame or longer than the interface allows is refused (counted) and the call stops there.
  uint32_t transmit(std::span<const FrameDesc> frames) override;
  // sendmmsg of the queued frames, batch by batch, until done or the send buffer is full.
  // The kernel copies each frame into its own buffer, so a sent frame (or one it refused and
  // counted as tx_errors) is completed at once.
  void flush() override;
  uint32_t completed(std::span<uint64_t> out) override;
  uint32_t frames_held() const override;

  const InterfaceInfo& interface() const { return info_; }
  bool tx_pending() const { return tx_count_ != 0; }
  // Reads the kernel's drop count into stats().rx_kernel_drops.
  void update_kernel_stats();
  const AfPacketStats& stats() const { return stats_; }

 private:
  std::byte* at(uint64_t offset) const { return static_cast<std::byte*>(umem_.base) + offset; }
  uint32_t receive_batch(std::span<FrameDesc> out);

  UmemArea umem_;
  AfPacketPortConfig config_;
  InterfaceInfo info_;
  int fd_ = -1;
  uint32_t max_tx_frame_ = 0;  // MTU + Ethernet header + one VLAN tag

  // Posted receive slots, a FIFO ring: the oldest is filled first.
  std::vector<uint64_t> rx_slots_;
  uint32_t rx_head_ = 0;
  uint32_t rx_count_ = 0;

  // Frames queued for sending, a FIFO ring, and sent frames not yet handed back.
  std::vector<FrameDesc> tx_frames_;
  uint32_t tx_head_ = 0;
  uint32_t tx_count_ = 0;
  std::vector<uint64_t> done_slots_;
  uint32_t done_head_ = 0;
  uint32_t done_count_ = 0;

  // One batch of system-call arguments, reused by every call.
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovecs_;
  std::vector<sockaddr_storage> names_;
  std::vector<std::byte> control_;

  AfPacketStats stats_;
};

}  // namespace flowgate
