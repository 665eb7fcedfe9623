#include "rx_tx/xdp/xsk_port.hpp"

#include <linux/if_xdp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace flowgate {
namespace {

std::string describe(int err) {
  return std::strerror(err < 0 ? -err : err);
}

bool is_power_of_two(uint32_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

void check_ring_sizes(const XskRingSizes& sizes) {
  for (const auto& [name, size] : {std::pair{"fill", sizes.fill},
                                   {"completion", sizes.completion},
                                   {"rx", sizes.rx},
                                   {"tx", sizes.tx}}) {
    if (!is_power_of_two(size)) {
      throw XskError(std::string("AF_XDP ") + name + " ring size " + std::to_string(size) +
                     " is not a power of two");
    }
  }
}

std::string socket_hint(int err) {
  switch (err < 0 ? -err : err) {
    case EBUSY:
      return " (another AF_XDP socket is bound to this queue: another flowgate running?)";
    case EINVAL:
      return " (queue beyond the interface's RX queues? `ethtool -l` shows them)";
    case EOPNOTSUPP:
      return " (the driver cannot do zero-copy here; leave force_copy on)";
    case EPERM:
    case EACCES:
      return " (needs root or CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF)";
    case ENOMEM:
    case ENOBUFS:
      return " (rings too large for the locked-memory limit? raise `ulimit -l`)";
    default:
      return "";
  }
}

}  // namespace

std::unique_ptr<XskUmem> XskUmem::create(const UmemArea& area, const XskRingSizes& sizes) {
  if (area.frame_size != 2048 && area.frame_size != 4096) {
    throw XskError("UMEM frame size " + std::to_string(area.frame_size) +
                   " is not supported (2048 or 4096)");
  }
  const long page = ::sysconf(_SC_PAGESIZE);
  if (area.base == nullptr || (reinterpret_cast<uintptr_t>(area.base) % page) != 0) {
    throw XskError("UMEM area is not page aligned");
  }
  if (area.size == 0 || area.size % area.frame_size != 0) {
    throw XskError("UMEM size " + std::to_string(area.size) + " is not a non-zero multiple of " +
                   std::to_string(area.frame_size));
  }
  check_ring_sizes(sizes);

  std::unique_ptr<XskUmem> self(new XskUmem());
  self->area_ = area;
  xsk_umem_config config{};
  config.fill_size = sizes.fill;
  config.comp_size = sizes.completion;
  config.frame_size = area.frame_size;
  config.frame_headroom = 0;  // the kernel still keeps XDP_PACKET_HEADROOM in front of RX data
  config.flags = 0;           // aligned mode: every frame starts at a multiple of frame_size
  const int err = xsk_umem__create(&self->umem_, area.base, area.size, &self->fill_,
                                   &self->completion_, &config);
  if (err != 0) {
    self->umem_ = nullptr;
    throw XskError("cannot register the UMEM (" + std::to_string(area.size) + " bytes) with " +
                   "the kernel: " + describe(err) + socket_hint(err));
  }
  return self;
}

XskUmem::~XskUmem() {
  // EBUSY means a socket still uses it: a lifetime bug in the caller, and the registration
  // then lives until the process exits.
  if (umem_ != nullptr) (void)xsk_umem__delete(umem_);
}

XskPort::XskPort(XskUmem& umem, const std::string& interface, uint32_t queue, XdpProgram& program,
                 const XskRingSizes& sizes, bool force_copy)
    : umem_(umem), interface_(interface), queue_(queue) {
  check_ring_sizes(sizes);
  const std::string where = "interface " + interface + " queue " + std::to_string(queue) + ": ";
  if (queue >= 64) throw XskError(where + "queue index beyond xsks_map (64 entries)");

  xsk_socket_config config{};
  config.rx_size = sizes.rx;
  config.tx_size = sizes.tx;
  // We attach our own program (XdpProgram); libxdp must not load its default one.
  config.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
  config.xdp_flags = 0;
  config.bind_flags = XDP_USE_NEED_WAKEUP;
  if (force_copy) config.bind_flags |= XDP_COPY;

  // libxdp hands the UMEM's own fill/completion rings to the first socket of a UMEM (copying
  // them into these structs) and creates new ones for a socket on another queue.
  const int err = xsk_socket__create_shared(&socket_, interface.c_str(), queue, umem.handle(), &rx_,
                                            &tx_, &fill_, &completion_, &config);
  if (err != 0) {
    socket_ = nullptr;
    throw XskError(where + "cannot create the AF_XDP socket: " + describe(err) + socket_hint(err));
  }
  fd_ = xsk_socket__fd(socket_);
  tx_size_ = sizes.tx;

  const int map_err = xsk_socket__update_xskmap(socket_, program.xsks_map_fd());
  if (map_err != 0) {
    xsk_socket__delete(socket_);
    throw XskError(where + "cannot register the socket in xsks_map: " + describe(map_err));
  }

  xdp_options options{};
  socklen_t len = sizeof options;
  if (::getsockopt(fd_, SOL_XDP, XDP_OPTIONS, &options, &len) == 0) {
    zero_copy_ = (options.flags & XDP_OPTIONS_ZEROCOPY) != 0;
  }
}

XskPort::~XskPort() {
  // Closing the socket removes it from every XSKMAP; frames for this queue then fall back to
  // the kernel (redirect_failed) until a new socket registers.
  if (socket_ != nullptr) xsk_socket__delete(socket_);
}

uint32_t XskPort::post_rx_frames(std::span<const uint64_t> slots) {
  if (slots.empty()) return 0;
  const uint32_t wanted = static_cast<uint32_t>(std::min<size_t>(slots.size(), UINT32_MAX));
  const uint32_t room = std::min(wanted, xsk_prod_nb_free(&fill_, wanted));
  if (room == 0) return 0;
  uint32_t index = 0;
  const uint32_t reserved = xsk_ring_prod__reserve(&fill_, room, &index);
  const uint64_t slot_mask = ~static_cast<uint64_t>(umem_.frame_size() - 1);
  for (uint32_t i = 0; i < reserved; ++i) {
    *xsk_ring_prod__fill_addr(&fill_, index + i) = slots[i] & slot_mask;
  }
  xsk_ring_prod__submit(&fill_, reserved);  // release: the kernel sees the addresses first
  rx_posted_ += reserved;
  return reserved;
}

uint32_t XskPort::receive(std::span<FrameDesc> out) {
  if (out.empty()) return 0;
  uint32_t index = 0;
  const uint32_t n = xsk_ring_cons__peek(
      &rx_, static_cast<uint32_t>(std::min<size_t>(out.size(), UINT32_MAX)), &index);
  for (uint32_t i = 0; i < n; ++i) {
    const xdp_desc* d = xsk_ring_cons__rx_desc(&rx_, index + i);
    // Aligned mode: addr is the frame's slot start plus the headroom the kernel kept.
    out[i] = FrameDesc{d->addr, d->len};
  }
  if (n > 0) xsk_ring_cons__release(&rx_, n);  // the descriptors are copied out
  rx_posted_ -= n;
  own_.rx_frames += n;
  return n;
}

uint32_t XskPort::transmit(std::span<const FrameDesc> frames) {
  if (frames.empty()) return 0;
  const uint32_t wanted = static_cast<uint32_t>(std::min<size_t>(frames.size(), UINT32_MAX));
  const uint32_t room = std::min(wanted, xsk_prod_nb_free(&tx_, wanted));
  if (room == 0) return 0;
  uint32_t index = 0;
  const uint32_t reserved = xsk_ring_prod__reserve(&tx_, room, &index);
  for (uint32_t i = 0; i < reserved; ++i) {
    xdp_desc* d = xsk_ring_prod__tx_desc(&tx_, index + i);
    d->addr = frames[i].offset;
    d->len = frames[i].length;
    d->options = 0;
  }
  xsk_ring_prod__submit(&tx_, reserved);
  tx_in_flight_ += reserved;
  own_.tx_frames += reserved;
  return reserved;
}

void XskPort::flush() {
  // In copy mode each sendto sends at most the kernel's per-call budget (32 frames by
  // default) and answers EAGAIN while more wait; a full tx ring therefore takes several calls.
  // Bounded: a kick that makes no progress stops the loop, the next flush() goes on.
  const uint32_t max_kicks = tx_size_ / 16 + 2;
  for (uint32_t kick = 0; kick < max_kicks; ++kick) {
    if (!xsk_ring_prod__needs_wakeup(&tx_)) return;
    const uint32_t queued_before = tx_size_ - xsk_prod_nb_free(&tx_, tx_size_);
    if (queued_before == 0) return;
    ++own_.tx_kicks;
    if (::sendto(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) continue;
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EBUSY && err != ENOBUFS) {
      ++own_.tx_kick_errors;
      return;
    }
    const uint32_t queued_after = tx_size_ - xsk_prod_nb_free(&tx_, tx_size_);
    if (queued_after >= queued_before) {
      // No progress: completion ring full or the device busy. Frames stay queued.
      ++own_.tx_kick_retries;
      return;
    }
  }
}

uint32_t XskPort::completed(std::span<uint64_t> out) {
  if (out.empty()) return 0;
  uint32_t index = 0;
  const uint32_t n = xsk_ring_cons__peek(
      &completion_, static_cast<uint32_t>(std::min<size_t>(out.size(), UINT32_MAX)), &index);
  const uint64_t slot_mask = ~static_cast<uint64_t>(umem_.frame_size() - 1);
  for (uint32_t i = 0; i < n; ++i) {
    out[i] = *xsk_ring_cons__comp_addr(&completion_, index + i) & slot_mask;
  }
  if (n > 0) xsk_ring_cons__release(&completion_, n);
  tx_in_flight_ -= n;
  return n;
}

bool XskPort::fill_needs_wakeup() const {
  return xsk_ring_prod__needs_wakeup(&fill_) != 0;
}

void XskPort::wake_rx() {
  ++own_.rx_wakeups;
  (void)::recvfrom(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
}

XskPort::Stats XskPort::stats() const {
  Stats s = own_;
  xdp_statistics kernel{};
  socklen_t len = sizeof kernel;
  if (::getsockopt(fd_, SOL_XDP, XDP_STATISTICS, &kernel, &len) == 0) {
    s.rx_dropped = kernel.rx_dropped;
    s.rx_invalid_descs = kernel.rx_invalid_descs;
    s.tx_invalid_descs = kernel.tx_invalid_descs;
    s.rx_ring_full = kernel.rx_ring_full;
    s.rx_fill_ring_empty_descs = kernel.rx_fill_ring_empty_descs;
    s.tx_ring_empty_descs = kernel.tx_ring_empty_descs;
  }
  return s;
}

}  // namespace flowgate
