// flowgate's XDP program (flowgate_xdp.bpf.c, embedded in this library) attached to one
// interface, and the maps that decide which frames are ours. Through libxdp: with bpffs at
// /sys/fs/bpf it attaches under libxdp's dispatcher; without it, as a single ("legacy")
// program. Both forms are recognised when looking for a program left behind by a dead run.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "wire/addresses.hpp"

struct bpf_object;
struct xdp_program;

namespace flowgate {

// Loading, attaching or updating the program failed. what() names the interface, the mode
// and the cause, with a hint where one is known.
class XdpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How the program is attached. (apps/config.hpp has its own XdpMode; apps map one to the other.)
//   native: in the driver, before an skb exists (fast; needs driver support).
//   skb:    generic XDP after the skb is built (works on every interface; slower).
enum class XdpAttachMode { native, skb };

const char* to_string(XdpAttachMode mode);

class XdpProgram {
 public:
  // Loads the embedded program and attaches it to `interface`. First removes a stale
  // flowgate_xdp left on that interface by a run that died (SIGKILL leaves it attached).
  // Refuses (throws XdpError) if another, non-flowgate XDP program is attached: we never
  // clobber someone else's program.
  static std::unique_ptr<XdpProgram> attach(const std::string& interface, XdpAttachMode mode);

  ~XdpProgram();  // detaches (idempotent)
  XdpProgram(const XdpProgram&) = delete;
  XdpProgram& operator=(const XdpProgram&) = delete;

  // Removes the program from the interface. The maps stay usable until destruction. Safe to
  // call more than once.
  void detach();
  bool attached() const { return attached_; }

  const std::string& interface() const { return interface_; }
  int ifindex() const { return ifindex_; }
  XdpAttachMode mode() const { return mode_; }
  // True when libxdp attached us under its dispatcher, false for a single legacy program.
  bool uses_dispatcher() const { return uses_dispatcher_; }

  // Makes `address` ours. all_traffic: everything for it (ARP, ICMP, every port, fragments);
  // otherwise only the TCP/UDP ports marked with set_port(), the rest stays the kernel's.
  void set_address(wire::Ipv4Address address, bool all_traffic);
  void remove_address(wire::Ipv4Address address);
  // Marks (ours = true) or clears a port for addresses without all_traffic.
  // ip_protocol: 6 (TCP) or 17 (UDP); anything else throws XdpError.
  void set_port(uint8_t ip_protocol, uint16_t port, bool ours);

  // The XSKMAP, key = RX queue index, value = AF_XDP socket fd (XskPort registers itself).
  int xsks_map_fd() const { return xsks_map_fd_; }

  struct Stats {
    uint64_t redirected = 0;       // frames handed to an AF_XDP socket
    uint64_t passed = 0;           // frames that were not ours, left to the kernel
    uint64_t redirect_failed = 0;  // ours, but no socket on that queue: left to the kernel
    uint64_t parse_errors = 0;     // truncated headers: left to the kernel
  };
  Stats stats() const;  // summed over CPUs

  // Detaches any flowgate_xdp from `interface` (for cleanup after a crash); returns true if
  // one was found. Other programs on the interface are left alone. Throws XdpError when the
  // interface does not exist or removal fails.
  static bool detach_stale(const std::string& interface);

 private:
  XdpProgram() = default;

  std::string interface_;
  int ifindex_ = 0;
  XdpAttachMode mode_ = XdpAttachMode::native;
  bool attached_ = false;
  bool uses_dispatcher_ = false;
  struct bpf_object* object_ = nullptr;  // owns the maps; libxdp borrows it
  struct xdp_program* program_ = nullptr;
  int xsks_map_fd_ = -1;
  int addrs_map_fd_ = -1;
  int ports_map_fd_ = -1;
  int stats_map_fd_ = -1;
};

// Mounts bpffs at /sys/fs/bpf if it is not mounted (libxdp wants it for its dispatcher;
// without it, it falls back to a single legacy program). Returns an empty string on success,
// else an error message.
std::string ensure_bpffs();

}  // namespace flowgate
