// The AF_PACKET pieces of AfPacketPort (zero-copy into the UMEM, the I/O process's fallback
// backend): opening the socket with the options it needs, reading per-frame metadata, and
// its counters.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

#include "rx_tx/interface_info.hpp"

namespace flowgate {

// Counters of an AF_PACKET link or port, below the stack's. Plain memory, one writer.
#define FLOWGATE_AF_PACKET_COUNTERS(X)                                                       \
  X(rx_frames, "Frames received and handed on")                                              \
  X(rx_bytes, "Bytes of the frames handed on")                                               \
  X(rx_batches, "recvmmsg calls that returned at least one frame")                           \
  X(rx_truncated, "Frames longer than the receive buffer (MTU changed?), dropped")           \
  X(rx_outgoing, "Our own outgoing frames seen on receive (old kernel), dropped")            \
  X(rx_checksum_partial,                                                                     \
    "Frames whose L4 checksum was left to offload (peer needs `ethtool -K tx off`)")         \
  X(rx_kernel_drops, "Frames the kernel dropped because the socket's buffer was full")       \
  X(rx_errors, "recvmmsg failures other than 'nothing to read'")                             \
  X(rx_invalid_slots, "Frames posted for reception outside the UMEM or misaligned, refused") \
  X(tx_frames, "Frames the kernel accepted for sending")                                     \
  X(tx_bytes, "Bytes of the frames the kernel accepted")                                     \
  X(tx_batches, "sendmmsg calls that sent at least one frame")                               \
  X(tx_would_block, "Flushes stopped by a full socket send buffer (frames stay queued)")     \
  X(tx_queue_full, "Frames refused by transmit(): queue full and the kernel not accepting")  \
  X(tx_oversize, "Frames refused by transmit(): longer than MTU + Ethernet + one VLAN tag")  \
  X(tx_invalid_descs, "Frames to send outside the UMEM or crossing a frame, refused")        \
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

struct PacketSocketOptions {
  // Receive and send socket buffers. As root SO_RCVBUFFORCE/SO_SNDBUFFORCE pass the sysctl
  // caps (rmem_max is often 208 KiB, about 100 full frames); 0 leaves the kernel's default.
  int socket_buffer_bytes = 4 * 1024 * 1024;
  // Receive frames for every MAC address, not only the interface's. Ends with the socket.
  bool promiscuous = false;
};

// Opens a non-blocking AF_PACKET SOCK_RAW socket bound to `interface` for every EtherType,
// with PACKET_IGNORE_OUTGOING and PACKET_AUXDATA. Throws LinkError naming the interface.
int open_packet_socket(const InterfaceInfo& interface, const PacketSocketOptions& options);

// Bytes of control buffer a received message needs for its PACKET_AUXDATA.
size_t packet_control_space();

// What PACKET_AUXDATA told about one received frame.
struct PacketAuxdata {
  bool checksum_partial = false;  // TP_STATUS_CSUMNOTREADY: the L4 checksum is not filled in
  bool vlan_stripped = false;     // the driver took an 802.1Q/802.1ad tag out of the frame
  uint16_t vlan_tpid = 0;
  uint16_t vlan_tci = 0;
};
PacketAuxdata read_packet_auxdata(const msghdr& message);

// Kernel-side tag stripping undone: puts the tag back after the two MAC addresses, where it
// was on the wire. `frame` must have 4 writable bytes in front of it; the frame then starts
// 4 bytes earlier and is 4 bytes longer. Does nothing (returns false) without a stripped tag
// or for a frame shorter than two MAC addresses.
bool restore_vlan_tag(std::byte* frame, size_t length, const PacketAuxdata& aux);
constexpr size_t kVlanTagBytes = 4;

// The kernel's drop count for the socket since the last call (reading resets it).
uint64_t take_packet_drops(int fd);

}  // namespace flowgate
