// AF_XDP sockets (through libxdp's xsk API) over one UMEM that lives in the shared-memory
// segment, so worker processes read and write the very frames the NIC fills and sends.
//
// One XskUmem per I/O process; one XskPort per (interface, RX queue). Each port has its own
// fill and completion rings (the kernel allows one pair per queue), so queues never share a
// producer. Lifetimes: the UmemArea's mapping outlives the XskUmem, the XskUmem and the
// XdpProgram outlive every XskPort on them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

#include <xdp/xsk.h>

#include "rx_tx/frame_port.hpp"
#include "rx_tx/xdp/xdp_program.hpp"

namespace flowgate {

// Creating the UMEM or a socket failed; what() names the interface, queue and cause.
class XskError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Entries of each ring, powers of two. Fill and completion are per queue; rx and tx per socket.
struct XskRingSizes {
  uint32_t fill = 4096;
  uint32_t completion = 4096;
  uint32_t rx = 2048;
  uint32_t tx = 2048;
};

// The UMEM registration, shared by the sockets of every queue.
class XskUmem {
 public:
  // Registers `area` with the kernel. The area must be page aligned, frame_size 2048 or 4096,
  // size a non-zero multiple of frame_size. Throws XskError.
  static std::unique_ptr<XskUmem> create(const UmemArea& area, const XskRingSizes& sizes);
  ~XskUmem();
  XskUmem(const XskUmem&) = delete;
  XskUmem& operator=(const XskUmem&) = delete;

  const UmemArea& area() const { return area_; }
  uint32_t frame_size() const { return area_.frame_size; }
  uint64_t frame_count() const { return area_.size / area_.frame_size; }
  struct xsk_umem* handle() const {
    return umem_;
  }

 private:
  XskUmem() = default;

  UmemArea area_;
  struct xsk_umem* umem_ = nullptr;
  // The fill/completion rings libxdp maps with the UMEM. libxdp copies them into the first
  // socket's own ring structs (xsk_socket__create_shared), so nothing reads these afterwards.
  struct xsk_ring_prod fill_ {};
  struct xsk_ring_cons completion_ {};
};

class XskPort final : public FramePort {
 public:
  // One AF_XDP socket on (interface, queue), bound to `umem` (the first port uses the umem's
  // own fill/completion rings, further ones get their own), registered in the program's
  // xsks_map. Binds with XDP_USE_NEED_WAKEUP; force_copy selects XDP_COPY, otherwise the
  // kernel picks zero-copy where the driver supports it. Throws XskError.
  XskPort(XskUmem& umem, const std::string& interface, uint32_t queue, XdpProgram& program,
          const XskRingSizes& sizes, bool force_copy);
  // Closes the socket; the kernel removes it from xsks_map. Frames still held (frames_held())
  // are not returned: the caller reclaims them from its own accounting.
  ~XskPort() override;
  XskPort(const XskPort&) = delete;
  XskPort& operator=(const XskPort&) = delete;

  int fd() const override { return fd_; }
  uint32_t post_rx_frames(std::span<const uint64_t> slots) override;
  uint32_t receive(std::span<FrameDesc> out) override;
  uint32_t transmit(std::span<const FrameDesc> frames) override;
  // Wakes the kernel's transmit path when the tx ring asks for it (always in copy mode, where
  // sendto itself sends up to the kernel's per-call budget; it is repeated, boundedly, while
  // frames wait). EAGAIN/EBUSY/ENOBUFS mean "try later" and leave the frames queued.
  void flush() override;
  uint32_t completed(std::span<uint64_t> out) override;
  uint32_t frames_held() const override { return rx_posted_ + tx_in_flight_; }

  // The kernel marks the fill ring "needs wakeup" when it will not look at it again on its own
  // (a zero-copy driver whose RX ran dry). Then the caller, after posting frames, must make it
  // run: poll(fd(), POLLIN, 0) or wake_rx(). Otherwise nothing arrives even with frames posted.
  bool fill_needs_wakeup() const;
  // recvfrom(MSG_DONTWAIT) on the socket: lets the driver refill from the fill ring.
  void wake_rx();

  const std::string& interface() const { return interface_; }
  uint32_t queue() const { return queue_; }
  // True when the kernel bound the socket in zero-copy mode (XDP_OPTIONS_ZEROCOPY).
  bool zero_copy() const { return zero_copy_; }

  struct Stats {
    // From the kernel (getsockopt XDP_STATISTICS), since the socket was bound:
    uint64_t rx_dropped = 0;                // frames dropped for other reasons (e.g. too long)
    uint64_t rx_invalid_descs = 0;          // bad fill-ring entries
    uint64_t tx_invalid_descs = 0;          // bad tx-ring entries (offset/length out of UMEM)
    uint64_t rx_ring_full = 0;              // frames dropped: rx ring full (read it faster)
    uint64_t rx_fill_ring_empty_descs = 0;  // frames dropped: no frame posted on the fill ring
    uint64_t tx_ring_empty_descs = 0;       // kernel found the tx ring empty when woken
    // Our own:
    uint64_t tx_kicks = 0;         // sendto calls made by flush()
    uint64_t tx_kick_retries = 0;  // kicks answered EAGAIN/EBUSY/ENOBUFS: frames stay queued
    uint64_t tx_kick_errors = 0;   // kicks failing otherwise (ENETDOWN, ENXIO, ...)
    uint64_t rx_wakeups = 0;       // wake_rx calls
    uint64_t rx_frames = 0;        // frames returned by receive()
    uint64_t tx_frames = 0;        // frames taken by transmit()
  };
  Stats stats() const;

 private:
  XskUmem& umem_;
  std::string interface_;
  uint32_t queue_ = 0;
  struct xsk_socket* socket_ = nullptr;
  int fd_ = -1;
  bool zero_copy_ = false;
  uint32_t tx_size_ = 0;

  struct xsk_ring_cons rx_ {};
  struct xsk_ring_prod tx_ {};
  struct xsk_ring_prod fill_ {};
  struct xsk_ring_cons completion_ {};

  uint32_t rx_posted_ = 0;     // on the fill ring or in the kernel, not yet received
  uint32_t tx_in_flight_ = 0;  // on the tx ring or being sent, not yet completed
  Stats own_;                  // our counters (the kernel's are read by stats())
};

}  // namespace flowgate
