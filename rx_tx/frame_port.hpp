// One receive/transmit queue of a network interface, as the I/O process sees it. Frames live
// in the UMEM: one contiguous area of equal-sized frames inside the shared-memory segment,
// identified by their byte offset from the start of that area (never by pointer, so the same
// number means the same frame in every process).
//
// Ownership follows the AF_XDP model (DESIGN.md, "Shared memory"): a frame handed to the port
// with post_rx_frames() or transmit() belongs to the port (that is, to the kernel) until it
// comes back from receive() or completed(). The caller keeps its own count of both.
//
// Two implementations: XskPort (rx_tx/xdp/xsk_port.hpp, AF_XDP through libxdp) and
// AfPacketPort (rx_tx/af_packet_port.hpp, for links without XDP).
#pragma once

#include <cstdint>
#include <span>

namespace flowgate {

// A frame in the UMEM: `offset` is the UMEM offset of the first byte of the Ethernet frame
// (the frame's slot starts at offset rounded down to the frame size), `length` its bytes.
struct FrameDesc {
  uint64_t offset = 0;
  uint32_t length = 0;
};

// The UMEM as the I/O process maps it: `size` bytes from `base` (page aligned, inside the
// shared-memory segment), cut into frames of `frame_size` bytes (a power of two: 2048 or
// 4096). Frame offsets in FrameDesc count from `base`. The owner of the mapping keeps it alive
// longer than every port that uses it.
struct UmemArea {
  void* base = nullptr;
  uint64_t size = 0;
  uint32_t frame_size = 0;
};

class FramePort {
 public:
  virtual ~FramePort() = default;

  // Readable (POLLIN) when received frames wait, or when the port asks to be woken
  // (need_wakeup). The I/O process polls it.
  virtual int fd() const = 0;

  // Gives empty frames (slot starts: multiples of the frame size) for reception. Returns how
  // many were taken, from the front of `slots`; the rest still belong to the caller.
  virtual uint32_t post_rx_frames(std::span<const uint64_t> slots) = 0;
  // Frames received since the last call, at most out.size(), in arrival order. They belong
  // to the caller again.
  virtual uint32_t receive(std::span<FrameDesc> out) = 0;

  // Queues frames for sending. Returns how many were taken, from the front of `frames`.
  virtual uint32_t transmit(std::span<const FrameDesc> frames) = 0;
  // Makes the kernel send what transmit() queued, if it needs to be told (one system call
  // per batch, not per frame).
  virtual void flush() = 0;
  // Slot starts of sent frames that belong to the caller again, at most out.size().
  virtual uint32_t completed(std::span<uint64_t> out) = 0;

  // Frames the port holds now: posted for reception and not yet received, plus transmitted
  // and not yet completed. For the frame accounting.
  virtual uint32_t frames_held() const = 0;
};

}  // namespace flowgate
