#include "rx_tx/af_packet_socket.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "wire/bytes.hpp"

namespace flowgate {
namespace {

constexpr size_t kMacBytes = 6;

std::string describe(int err) {
  return std::strerror(err);
}

}  // namespace

int open_packet_socket(const InterfaceInfo& interface, const PacketSocketOptions& options) {
  const std::string& ifname = interface.name;
  // Protocol 0: the socket receives nothing until bind() names both ETH_P_ALL and the
  // interface, so no frame from another interface is queued in between.
  const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const int err = errno;
    std::string msg =
        "cannot open an AF_PACKET socket for interface '" + ifname + "': " + describe(err);
    if (err == EPERM || err == EACCES) msg += " (needs root or CAP_NET_RAW)";
    throw LinkError(msg);
  }
  // Throws below this point: close the socket first.
  auto fail = [&](const std::string& what) {
    const int err = errno;
    ::close(fd);
    throw LinkError(what + " on interface '" + ifname + "': " + describe(err));
  };
  const int one = 1;

  // Our own transmitted frames would otherwise come back through the ETH_P_ALL tap. Kernels
  // before 4.20 lack the option; receivers also drop PACKET_OUTGOING frames.
  if (::setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0 &&
      errno != ENOPROTOOPT && errno != EINVAL) {
    fail("setsockopt(PACKET_IGNORE_OUTGOING)");
  }
  // Per-frame metadata: a VLAN tag the driver stripped, and whether the L4 checksum was left
  // to offload (CHECKSUM_PARTIAL). Without it we can neither restore tags nor tell why
  // checksums fail, but frames still flow.
  (void)::setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one);

  if (options.socket_buffer_bytes > 0) {
    const int bytes = options.socket_buffer_bytes;
    // The FORCE variants need CAP_NET_ADMIN; without it the capped plain ones still help.
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0) {
      (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    }
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) < 0) {
      (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    }
  }

  if (options.promiscuous) {
    packet_mreq mr{};
    mr.mr_ifindex = interface.index;
    mr.mr_type = PACKET_MR_PROMISC;
    if (::setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
      fail("cannot enable promiscuous mode");
    }
  }

  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = interface.index;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sll), sizeof sll) < 0) {
    fail("cannot bind the AF_PACKET socket");
  }
  return fd;
}

size_t packet_control_space() {
  return CMSG_SPACE(sizeof(tpacket_auxdata));
}

PacketAuxdata read_packet_auxdata(const msghdr& message) {
  PacketAuxdata result;
  for (const cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&message), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA ||
        c->cmsg_len < CMSG_LEN(sizeof(tpacket_auxdata))) {
      continue;
    }
    tpacket_auxdata aux;
    std::memcpy(&aux, CMSG_DATA(c), sizeof aux);
    result.checksum_partial = (aux.tp_status & TP_STATUS_CSUMNOTREADY) != 0;
    if ((aux.tp_status & TP_STATUS_VLAN_VALID) != 0) {
      result.vlan_stripped = true;
      result.vlan_tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) != 0
                             ? aux.tp_vlan_tpid
                             : static_cast<uint16_t>(ETH_P_8021Q);
      result.vlan_tci = aux.tp_vlan_tci;
    }
  }
  return result;
}

bool restore_vlan_tag(std::byte* frame, size_t length, const PacketAuxdata& aux) {
  if (!aux.vlan_stripped || length < 2 * kMacBytes) return false;
  std::byte* start = frame - kVlanTagBytes;
  std::memmove(start, frame, 2 * kMacBytes);
  wire::MutableBytes tag(start + 2 * kMacBytes, kVlanTagBytes);
  wire::store_be16(tag, 0, aux.vlan_tpid);
  wire::store_be16(tag, 2, aux.vlan_tci);
  return true;
}

uint64_t take_packet_drops(int fd) {
  tpacket_stats st{};
  socklen_t len = sizeof st;
  if (::getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) return 0;
  return st.tp_drops;
}

}  // namespace flowgate
