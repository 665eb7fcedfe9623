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

#include "stack/link.hpp"
#include "wire/addresses.hpp"
#include "wire/bytes.hpp"

namespace flowgate {

// Opening or querying the link failed; what() names the interface and the system error.
class LinkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct InterfaceInfo {
  std::string name;
  int index = 0;
  wire::MacAddress mac;
  uint32_t mtu = 0;  // the IP MTU (Ethernet payload bytes), as `ip link` shows it
  bool up = false;
};

// Looks an interface up by name. Throws LinkError ("interface 'x' not found: ...").
InterfaceInfo query_interface(const std::string& name);

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

// Counters of the link itself, below the stack's. Plain memory, one writer.
#define FLOWGATE_AF_PACKET_COUNTERS(X)                                                      \
  X(rx_frames, "Frames received and handed to the callback")                                \
  X(rx_bytes, "Bytes of the frames handed to the callback")                                 \
  X(rx_batches, "recvmmsg calls that returned at least one frame")                          \
  X(rx_truncated, "Frames longer than the receive buffer (MTU changed?), dropped")          \
  X(rx_outgoing, "Our own outgoing frames seen on receive (old kernel), dropped")           \
  X(rx_checksum_partial,                                                                    \
    "Frames whose L4 checksum was left to offload (peer needs `ethtool -K tx off`)")        \
  X(rx_kernel_drops, "Frames the kernel dropped because the socket's buffer was full")      \
  X(rx_errors, "recvmmsg failures other than 'nothing to read'")                            \
  X(tx_frames, "Frames the kernel accepted for sending")                                    \
  X(tx_bytes, "Bytes of the frames the kernel accepted")                                    \
  X(tx_batches, "sendmmsg calls that sent at least one frame")                              \
  X(tx_would_block, "Flushes stopped by a full socket send buffer (frames stay queued)")    \
  X(tx_queue_full, "Frames refused by transmit(): queue full and the kernel not accepting") \
  X(tx_oversize, "Frames refused by transmit(): longer than MTU + Ethernet + one VLAN tag") \
  X(tx_errors, "Frames the kernel refused (interface down, too long, qdisc drop), lost")

struct AfPacketStats {
#define FLOWGATE_STATS_FIELD(name, help) uint64_t name = 0;
  FLOWGATE_AF_PACKET_COUNTERS(FLOWGATE_STATS_FIELD)
#undef FLOWGATE_STATS_FIELD

  // Calls f(name, help, value) for every counter, in declaration order.
  template <typename F>
  void for_each(F&& f) const {
#define FLOWGATE_STATS_VISIT(name, help) f(#name, help, name);
    FLOWGATE_AF_PACKET_COUNTERS(FLOWGATE_STATS_VISIT)
#undef FLOWGATE_STATS_VISIT
  }
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
