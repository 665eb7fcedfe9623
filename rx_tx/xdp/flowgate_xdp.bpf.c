// SPDX-License-Identifier: GPL-2.0
//
// flowgate's XDP program: sends the gateway's own frames to its AF_XDP sockets and passes
// everything else to the kernel untouched, so that SSH and the host's own traffic on a shared
// NIC keep working (DESIGN.md, "Dispatch").
//
// What is "ours" is decided by two maps that the loader (xdp_program.cpp) fills:
//   flowgate_addrs  IPv4 address -> flags. FG_ADDR_ALL: every frame for the address is ours
//                   (ARP whose target is it, ICMP, every TCP/UDP port, every fragment).
//                   Without it, only TCP/UDP to a port marked in flowgate_ports is ours and
//                   the kernel keeps the address's other traffic (a port-sharing deployment).
//   flowgate_ports  port (host order) -> bit 0 TCP, bit 1 UDP.
// A frame that is ours goes to the socket bound to the queue it arrived on (xsks_map); if no
// socket is there, it falls back to the kernel and is counted as redirect_failed.
//
// Compiled at build time with `clang -O2 -g -target bpf` and embedded into fg_xdp: -g gives the
// BTF that libxdp's dispatcher needs to chain us with other programs.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <xdp/xdp_helpers.h>

// The flag values are part of the loader's interface: keep them in step with xdp_program.cpp.
#define FG_ADDR_ALL 1u
#define FG_PORT_TCP 1u
#define FG_PORT_UDP 2u

enum flowgate_stat {
  FG_STAT_REDIRECTED = 0,       // handed to bpf_redirect_map and accepted
  FG_STAT_PASSED = 1,           // not ours: left to the kernel
  FG_STAT_REDIRECT_FAILED = 2,  // ours, but no socket on that RX queue: left to the kernel
  FG_STAT_PARSE_ERRORS = 3,     // headers shorter than they claim: left to the kernel
  FG_STAT_COUNT = 4,
};

// The 802.1Q tag between the source MAC and the EtherType, as it is on the wire.
struct vlan_tag {
  __be16 tci;
  __be16 encapsulated_proto;
};

// The fixed part of an ARP packet (RFC 826). Declared here rather than taken from
// <linux/if_arp.h>, which pulls in glibc's <sys/socket.h>: for -target bpf that resolves to the
// 32-bit stubs, which a machine without the i386 libc headers does not have.
struct arp_fixed_header {
  __be16 hardware_type;
  __be16 protocol_type;
  unsigned char hardware_length;
  unsigned char protocol_length;
  __be16 operation;
};

// ARP's hardware type for Ethernet (RFC 826, IANA "Hardware Types" 1).
#define FG_ARP_HARDWARE_ETHERNET 1

// The ARP body for Ethernet/IPv4 (RFC 826). The fixed header stops before the addresses
// because their sizes depend on the hardware type.
struct arp_ipv4_body {
  unsigned char sender_mac[ETH_ALEN];
  __be32 sender_ip;
  unsigned char target_mac[ETH_ALEN];
  __be32 target_ip;
} __attribute__((packed));

// Only the two port fields that TCP and UDP headers share at offsets 0 and 2.
struct l4_ports {
  __be16 source;
  __be16 dest;
};

struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, 64);
  __type(key, __u32);  // RX queue index
  __type(value, __u32);  // AF_XDP socket fd (written by user space)
} xsks_map SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, __u32);    // IPv4 address, network byte order
  __type(value, __u32);  // FG_ADDR_* flags
} flowgate_addrs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 65536);
  __type(key, __u32);    // port, host byte order
  __type(value, __u32);  // FG_PORT_* bits
} flowgate_ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, FG_STAT_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} flowgate_stats SEC(".maps");

// libxdp's dispatcher runs the next program when we return XDP_PASS, so another program on the
// same interface still sees everything that is not ours.
struct {
  __uint(priority, 20);
  __uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(flowgate_xdp);

static __always_inline void count(__u32 stat) {
  __u64* counter = bpf_map_lookup_elem(&flowgate_stats, &stat);
  // Per-CPU slot: no other CPU writes it, so a plain increment is exact.
  if (counter) *counter += 1;
}

static __always_inline int pass(void) {
  count(FG_STAT_PASSED);
  return XDP_PASS;
}

static __always_inline int parse_error(void) {
  count(FG_STAT_PARSE_ERRORS);
  return XDP_PASS;
}

static __always_inline int redirect(struct xdp_md* ctx) {
  // The default action XDP_PASS is returned when xsks_map has no socket at this queue: the
  // frame then reaches the kernel instead of being dropped.
  const long action = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
  if (action == XDP_REDIRECT) {
    count(FG_STAT_REDIRECTED);
  } else {
    count(FG_STAT_REDIRECT_FAILED);
  }
  return (int)action;
}

static __always_inline __u32 address_flags(__be32 address, int* found) {
  const __u32 key = address;  // the map key is the address as it is on the wire
  const __u32* flags = bpf_map_lookup_elem(&flowgate_addrs, &key);
  *found = flags != 0;
  return flags ? *flags : 0;
}

static __always_inline int handle_arp(struct xdp_md* ctx, void* l3, void* data_end) {
  struct arp_fixed_header* arp = l3;
  if ((void*)(arp + 1) > data_end) return parse_error();
  // Only Ethernet/IPv4 ARP has the layout below; anything else is the kernel's business.
  if (arp->hardware_type != bpf_htons(FG_ARP_HARDWARE_ETHERNET) ||
      arp->protocol_type != bpf_htons(ETH_P_IP) || arp->hardware_length != ETH_ALEN ||
      arp->protocol_length != 4) {
    return pass();
  }
  struct arp_ipv4_body* body = (void*)(arp + 1);
  if ((void*)(body + 1) > data_end) return parse_error();
  int found = 0;
  const __u32 flags = address_flags(body->target_ip, &found);
  // Requests for the address and replies to our own requests both name it as the target.
  if (found && (flags & FG_ADDR_ALL)) return redirect(ctx);
  return pass();
}

static __always_inline int handle_ipv4(struct xdp_md* ctx, void* l3, void* data_end) {
  struct iphdr* ip = l3;
  if ((void*)(ip + 1) > data_end) return parse_error();
  int found = 0;
  const __u32 flags = address_flags(ip->daddr, &found);
  if (!found) return pass();
  if (flags & FG_ADDR_ALL) return redirect(ctx);

  // Ports mode: the kernel keeps this address except for the marked TCP/UDP ports.
  __u32 port_bit;
  if (ip->protocol == IPPROTO_TCP) {
    port_bit = FG_PORT_TCP;
  } else if (ip->protocol == IPPROTO_UDP) {
    port_bit = FG_PORT_UDP;
  } else {
    return pass();
  }
  // A non-first fragment carries no ports, so it cannot be matched: the kernel gets it.
  if (ip->frag_off & bpf_htons(0x1fff)) return pass();

  const __u32 header_len = (__u32)ip->ihl * 4;
  if (header_len < sizeof(*ip)) return parse_error();
  // ihl is 4 bits, so header_len <= 60: a bounded offset the verifier can follow.
  struct l4_ports* ports = l3 + header_len;
  if ((void*)(ports + 1) > data_end) return parse_error();

  const __u32 port = bpf_ntohs(ports->dest);
  const __u32* marks = bpf_map_lookup_elem(&flowgate_ports, &port);
  if (marks && (*marks & port_bit)) return redirect(ctx);
  return pass();
}

SEC("xdp")
int flowgate_xdp(struct xdp_md* ctx) {
  void* data = (void*)(long)ctx->data;
  void* data_end = (void*)(long)ctx->data_end;

  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > data_end) return parse_error();
  __be16 ether_type = eth->h_proto;
  void* l3 = eth + 1;

  // One 802.1Q tag at most: our workers parse exactly that much (wire/ethernet.hpp).
  if (ether_type == bpf_htons(ETH_P_8021Q)) {
    struct vlan_tag* tag = l3;
    if ((void*)(tag + 1) > data_end) return parse_error();
    ether_type = tag->encapsulated_proto;
    l3 = tag + 1;
  }

  if (ether_type == bpf_htons(ETH_P_ARP)) return handle_arp(ctx, l3, data_end);
  if (ether_type == bpf_htons(ETH_P_IP)) return handle_ipv4(ctx, l3, data_end);
  return pass();
}

// bpf_redirect_map is available to any license; GPL keeps every helper open to later changes.
char _license[] SEC("license") = "GPL";
