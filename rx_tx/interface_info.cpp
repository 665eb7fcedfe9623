#include "rx_tx/interface_info.hpp"

#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace flowgate {
namespace {

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

}  // namespace flowgate
