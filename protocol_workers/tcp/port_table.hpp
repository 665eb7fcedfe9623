// A worker's ephemeral ports, grouped so that an active open finds a port whose return
// traffic comes back to this worker in O(1) (DESIGN.md, "Dispatch").
//
// The I/O process steers a TCP/UDP frame to worker (base + term(port_a) + term(port_b)) mod n,
// with base the mixed address pair and term a port's own mix (wire/flow_hash.hpp). For a
// connection from local address l to r_ip:r this worker (index k) needs a local port p with
// term(p) ≡ k − base − term(r) (mod n): any port of one class. So the free ports are kept in
// n lists, one per class term(p) mod n (FlowSteering::port_class); allocation computes the
// class from the hash and pops the head of that list. With one
// worker there is one class and every port qualifies, which is the standalone stack's (and
// the default configuration's) behaviour.
//
// Each list is FIFO: a port released goes to the back and comes round again only after the
// rest of its class, as a cursor over the range would, so a port whose last connection is
// still in TIME-WAIT is rarely offered soon. When it is, the caller's `usable` check refuses
// it (its 4-tuple with this remote is still taken) and the port moves to the back.
//
// Ports are reference counted: every socket bound to a port holds one reference (an
// explicit bind inside the range, an ephemeral choice, each connection accepted on a
// listener bound there, several sockets sharing a port through SO_REUSEADDR). A port is in
// its list exactly when nobody holds it, and the last release puts it back. Ports outside the
// range are not tracked: acquire/release ignore them.
//
// Memory: 8 bytes per port of the range (128 KiB for RFC 6335's 16384), allocated once.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "wire/addresses.hpp"
#include "wire/flow_hash.hpp"

namespace flowgate::tcp {

class PortTable {
 public:
  // The range [first, last] (port 0 is never handed out; first > last gives an empty table).
  // `steering` is the gateway's flow hash, `worker_index` < steering.worker_count this
  // worker's index.
  PortTable(uint16_t first, uint16_t last, wire::FlowSteering steering, uint32_t worker_index);

  // A free port p for a connection from `local` to `remote`:`remote_port` such that
  // for_ports(local, remote, p, remote_port) is this worker, taken with one reference. Ports
  // of the class for which `usable(p)` is false are skipped (and moved to the back of their
  // list). nullopt when the class has no usable free port left: EADDRNOTAVAIL to the caller.
  // O(1) unless ports are refused.
  template <typename Usable>
  std::optional<uint16_t> allocate_for(wire::Ipv4Address local, wire::Ipv4Address remote,
                                       uint16_t remote_port, Usable&& usable) {
    if (size_ == 0) return std::nullopt;
    return take_from(steering_.port_class_for(worker_index_, local, remote, remote_port), usable);
  }
  std::optional<uint16_t> allocate_for(wire::Ipv4Address local, wire::Ipv4Address remote,
                                       uint16_t remote_port) {
    return allocate_for(local, remote, remote_port, [](uint16_t) { return true; });
  }

  // Any free port, for a socket whose remote is not known yet (bind to port 0, listen
  // without bind). The classes take turns, so such binds do not drain one class. O(n).
  std::optional<uint16_t> allocate_any();

  // One more reference to `port` (a bind to it); a free port in the range leaves its list.
  void acquire(uint16_t port);
  // One reference fewer; the last one puts the port at the back of its list.
  void release(uint16_t port);

  bool in_range(uint16_t port) const { return port >= first_ && uint32_t{port} - first_ < size_; }
  // In the range and held by nobody.
  bool is_free(uint16_t port) const { return in_range(port) && users_[index_of(port)] == 0; }
  uint32_t users(uint16_t port) const { return in_range(port) ? users_[index_of(port)] : 0; }
  size_t free_count() const;
  // Free ports p with steering.port_class(p) == residue.
  size_t free_in_class(uint32_t residue) const { return classes_.at(residue).count; }
  const wire::FlowSteering& steering() const { return steering_; }
  uint32_t worker_index() const { return worker_index_; }

 private:
  using Index = uint16_t;  // port - first; a range holds at most 65535 ports
  static constexpr Index kNil = 0xffff;

  struct FreeList {
    Index head = kNil;
    Index tail = kNil;
    size_t count = 0;
  };

  Index index_of(uint16_t port) const { return static_cast<Index>(port - first_); }
  uint16_t port_of(Index i) const { return static_cast<uint16_t>(first_ + i); }
  FreeList& list_of(Index i) { return classes_[steering_.port_class(port_of(i))]; }
  void push_back(Index i);
  void unlink(Index i);
  uint16_t take(Index i);

  template <typename Usable>
  std::optional<uint16_t> take_from(uint32_t residue, Usable& usable) {
    FreeList& list = classes_[residue];
    for (size_t tries = list.count; tries > 0; --tries) {
      const Index i = list.head;
      if (usable(port_of(i))) return take(i);
      unlink(i);  // refused: to the back, behind the ports not tried yet
      push_back(i);
    }
    return std::nullopt;
  }

  uint16_t first_ = 0;
  uint32_t size_ = 0;
  wire::FlowSteering steering_;
  uint32_t worker_index_ = 0;
  std::vector<FreeList> classes_;  // one per port class (FlowSteering::port_class)
  std::vector<Index> next_;        // list links, by index; kNil at the ends
  std::vector<Index> prev_;
  std::vector<uint32_t> users_;  // references; 0 means free (in its list)
  uint32_t next_class_ = 0;      // allocate_any's turn
};

}  // namespace flowgate::tcp
