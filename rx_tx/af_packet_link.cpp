#include "rx_tx/af_packet_link.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
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
constexpr size_t kControlSpace = CMSG_SPACE(sizeof(tpacket_auxdata));
static_assert(sizeof(sockaddr_storage) >= sizeof(sockaddr_ll));

std::string describe(int err) {
  return std::strerror(err);
}

// A socket used only to carry interface ioctls; closed on every path.
class IoctlSocket {
 public:
  IoctlSocket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~IoctlSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  IoctlSocket(const IoctlSocket&) = delete;
  IoctlSocket& operator=(const IoctlSocket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

ifreq request_for(const std::string& name) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());  // length checked by the caller
  return ifr;
}

}  // namespace

InterfaceInfo query_interface(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('/') != std::string::npos) {
    throw LinkError("'" + name + "' is not a valid interface name (1 to " +
                    std::to_string(IFNAMSIZ - 1) + " characters, no '/')");
  }
  IoctlSocket s;
  if (s.fd() < 0) {
    throw LinkError("cannot query interface '" + name + "': socket: " + describe(errno));
  }
  InterfaceInfo info;
  info.name = name;

  ifreq ifr = request_for(name);
  if (::ioctl(s.fd(), SIOCGIFINDEX, &ifr) < 0) {
    const int err = errno;
    if (err == ENODEV) throw LinkError("interface '" + name + "' not found: " + describe(err));
    throw LinkError("cannot query interface '" + name + "': " + describe(err));
  }
  info.index = ifr.ifr_ifindex;

  ifr = request_for(name);
  if (::ioctl(s.fd(), SIOCGIFHWADDR, &ifr) < 0) {
    throw LinkError("cannot read the MAC address of '" + name + "': " + describe(errno));
  }
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    throw LinkError("interface '" + name + "' is not an Ethernet interface (hardware type " +
                    std::to_string(ifr.ifr_hwaddr.sa_family) + ")");
  }
  for (size_t i = 0; i < info.mac.octets.size(); ++i) {
    info.mac.octets[i] = static_cast<uint8_t>(ifr.ifr_hwaddr.sa_data[i]);
  }

  ifr = request_for(name);
  if (::ioctl(s.fd(), SIOCGIFMTU, &ifr) < 0) {
    throw LinkError("cannot read the MTU of '" + name + "': " + describe(errno));
  }
  info.mtu = static_cast<uint32_t>(ifr.ifr_mtu);

  ifr = request_for(name);
  if (::ioctl(s.fd(), SIOCGIFFLAGS, &ifr) < 0) {
    throw LinkError("cannot read the flags of '" + name + "': " + describe(errno));
  }
  info.up = (ifr.ifr_flags & IFF_UP) != 0;
  return info;
}

AfPacketLink::AfPacketLink(AfPacketConfig config) : config_(std::move(config)) {
  if (config_.batch == 0 || config_.batch > kMaxBatch) {
    throw LinkError("AF_PACKET batch size must be 1 to " + std::to_string(kMaxBatch));
  }
  info_ = query_interface(config_.interface);
  const std::string& ifname = info_.name;

  // Protocol 0: the socket receives nothing until bind() names both ETH_P_ALL and the
  // interface, so no frame from another interface is queued in between.
  fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    const int err = errno;
    std::string msg =
        "cannot open an AF_PACKET socket for interface '" + ifname + "': " + describe(err);
    if (err == EPERM || err == EACCES) msg += " (needs root or CAP_NET_RAW)";
    throw LinkError(msg);
  }
  // The constructor throws below this point: close the socket first.
  auto fail = [&](const std::string& what) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw LinkError(what + " on interface '" + ifname + "': " + describe(err));
  };
  const int one = 1;

  // Our own transmitted frames would otherwise come back through the ETH_P_ALL tap. Kernels
  // before 4.20 lack the option; receive_batch() also drops PACKET_OUTGOING frames.
  if (::setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0 &&
      errno != ENOPROTOOPT && errno != EINVAL) {
    fail("setsockopt(PACKET_IGNORE_OUTGOING)");
  }
  // Per-frame metadata: a VLAN tag the driver stripped, and whether the L4 checksum was left
  // to offload (CHECKSUM_PARTIAL). Without it we can neither restore tags nor tell why
  // checksums fail, but frames still flow.
  (void)::setsockopt(fd_, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one);

  if (config_.socket_buffer_bytes > 0) {
    const int bytes = config_.socket_buffer_bytes;
    // The FORCE variants need CAP_NET_ADMIN; without it the capped plain ones still help.
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0) {
      (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    }
    if (::setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) < 0) {
      (void)::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    }
  }

  if (config_.promiscuous) {
    packet_mreq mr{};
    mr.mr_ifindex = info_.index;
    mr.mr_type = PACKET_MR_PROMISC;
    if (::setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
      fail("cannot enable promiscuous mode");
    }
  }

  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = info_.index;
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&sll), sizeof sll) < 0) {
    fail("cannot bind the AF_PACKET socket");
  }

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
  rx_control_.resize(batch * kControlSpace);
  for (size_t i = 0; i < batch; ++i) {
    rx_iovecs_[i].iov_base = rx_buffers_.data() + i * slot_size_ + kRxHeadroom;
    rx_iovecs_[i].iov_len = slot_size_ - kRxHeadroom;
    msghdr& h = rx_msgs_[i].msg_hdr;
    h.msg_iov = &rx_iovecs_[i];
    h.msg_iovlen = 1;
    h.msg_name = &rx_names_[i];
    h.msg_control = rx_control_.data() + i * kControlSpace;
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
    h.msg_controllen = kControlSpace;
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
      for (const cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
           c = CMSG_NXTHDR(const_cast<msghdr*>(&h), const_cast<cmsghdr*>(c))) {
        if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA ||
            c->cmsg_len < CMSG_LEN(sizeof(tpacket_auxdata))) {
          continue;
        }
        tpacket_auxdata aux;
        std::memcpy(&aux, CMSG_DATA(c), sizeof aux);
        if ((aux.tp_status & TP_STATUS_CSUMNOTREADY) != 0) ++stats_.rx_checksum_partial;
        if ((aux.tp_status & TP_STATUS_VLAN_VALID) != 0 && len >= 2 * 6) {
          // The driver took the 802.1Q tag out of the frame: put it back where it was,
          // after the two MAC addresses, so the stack sees the frame as it was on the wire.
          const uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) != 0
                                    ? aux.tp_vlan_tpid
                                    : static_cast<uint16_t>(ETH_P_8021Q);
          std::byte* slot = rx_buffers_.data() + i * slot_size_;
          std::memmove(slot, slot + kRxHeadroom, 2 * 6);
          wire::MutableBytes tag(slot + 2 * 6, kVlanTag);
          wire::store_be16(tag, 0, tpid);
          wire::store_be16(tag, 2, aux.tp_vlan_tci);
          start = 0;
          len += kVlanTag;
        }
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
  tpacket_stats st{};
  socklen_t len = sizeof st;
  // Reading the statistics resets them in the kernel: accumulate.
  if (::getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
    stats_.rx_kernel_drops += st.tp_drops;
  }
}

}  // namespace flowgate
