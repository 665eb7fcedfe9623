// xdp_reflector: the bare AF_XDP UDP reflector the lab benchmark compares flowgate's UDP echo
// with (tests/bench/lab_bench.sh). It owns one address on one interface through flowgate's own
// XDP program and AF_XDP socket (XdpProgram, XskPort), and for every UDP datagram to that
// address and port it swaps the Ethernet, IPv4 and UDP source and destination in place and
// sends the very frame back: no stack, no copy, no checksum work (a swap leaves both the IPv4
// header checksum and the UDP checksum, whose pseudo-header sums both addresses, unchanged).
// It answers ARP requests for the address so clients that resolve it (flowgate bench) work.
// Everything else that reaches it is dropped. That is the ceiling of any stack on this link.
//
//   xdp_reflector --interface IF --address A.B.C.D [--port P] [--xdp-mode native|skb]
//                 [--queue Q] [--duration SECONDS]
//
// Runs until SIGINT/SIGTERM or --duration (default 600 s: never unbounded), then prints its
// counters on one line. When its ring is empty it sleeps in poll() rather than spinning.
#include <poll.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rx_tx/xdp/xdp_program.hpp"
#include "rx_tx/xdp/xsk_port.hpp"
#include "wire/addresses.hpp"

namespace {

using flowgate::FrameDesc;

constexpr uint32_t kFrameSize = 2048;
constexpr uint32_t kFrames = 4096;
constexpr uint32_t kBatch = 64;

// Ethernet II (IEEE 802.3 clause 3.2.6 field order): destination, source, EtherType.
constexpr size_t kEthDst = 0, kEthSrc = 6, kEthType = 12, kEthLen = 14;
constexpr uint16_t kTypeIpv4 = 0x0800, kTypeArp = 0x0806;
// ARP for Ethernet/IPv4 (RFC 826), offsets from the start of the ARP packet.
constexpr size_t kArpOp = 6, kArpSha = 8, kArpSpa = 14, kArpTha = 18, kArpTpa = 24, kArpLen = 28;
// IPv4 (RFC 791) and UDP (RFC 768) offsets.
constexpr size_t kIpFrag = 6, kIpProto = 9, kIpSrc = 12, kIpDst = 16, kIpMinLen = 20;
constexpr size_t kUdpSrcPort = 0, kUdpDstPort = 2, kUdpLen = 8;

std::atomic<bool> g_stop{false};
void on_signal(int) {
  g_stop.store(true, std::memory_order_relaxed);
}

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
void swap_bytes(uint8_t* a, uint8_t* b, size_t n) {
  std::array<uint8_t, 6> t{};
  std::memcpy(t.data(), a, n);
  std::memcpy(a, b, n);
  std::memcpy(b, t.data(), n);
}

struct Options {
  std::string interface;
  flowgate::wire::Ipv4Address address;
  uint16_t port = 7;
  uint32_t queue = 0;
  flowgate::XdpAttachMode mode = flowgate::XdpAttachMode::native;
  double duration_s = 600;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "xdp_reflector: %s\nusage: xdp_reflector --interface IF --address A.B.C.D "
               "[--port P] [--xdp-mode native|skb] [--queue Q] [--duration SECONDS]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  bool have_address = false;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + key).c_str());
    const std::string value = argv[++i];
    try {
      if (key == "--interface") {
        o.interface = value;
      } else if (key == "--address") {
        const auto a = flowgate::wire::Ipv4Address::parse(value);
        if (!a) usage(("not a dotted-quad address: " + value).c_str());
        o.address = *a;
        have_address = true;
      } else if (key == "--port") {
        const unsigned long p = std::stoul(value);
        if (p == 0 || p > 65535) usage("--port must be 1-65535");
        o.port = static_cast<uint16_t>(p);
      } else if (key == "--queue") {
        o.queue = static_cast<uint32_t>(std::stoul(value));
      } else if (key == "--xdp-mode") {
        if (value != "native" && value != "skb") usage("--xdp-mode is native or skb");
        o.mode = value == "native" ? flowgate::XdpAttachMode::native : flowgate::XdpAttachMode::skb;
      } else if (key == "--duration") {
        o.duration_s = std::stod(value);
        if (!(o.duration_s > 0 && o.duration_s <= 3600)) usage("--duration must be 0-3600 s");
      } else {
        usage(("unknown option " + key).c_str());
      }
    } catch (const std::logic_error&) {
      usage(("bad value for " + key + ": " + value).c_str());
    }
  }
  if (o.interface.empty() || !have_address) usage("--interface and --address are required");
  return o;
}

flowgate::wire::MacAddress interface_mac(const std::string& interface) {
  std::ifstream in("/sys/class/net/" + interface + "/address");
  std::string text;
  in >> text;
  const auto mac = flowgate::wire::MacAddress::parse(text);
  if (!mac) usage(("cannot read the MAC address of " + interface).c_str());
  return *mac;
}

struct Counters {
  uint64_t received = 0, reflected = 0, arp_replies = 0, ignored = 0, tx_full = 0;
};

class Reflector {
 public:
  Reflector(const Options& o, uint8_t* umem, Counters& counters)
      : o_(o), umem_(umem), counters_(counters) {
    mac_ = interface_mac(o.interface);
    o.address.store(flowgate::wire::MutableBytes(reinterpret_cast<std::byte*>(ip_.data()), 4), 0);
  }

  // What to do with one received frame: true if it was rewritten to go back out.
  bool reflect(const FrameDesc& d) {
    uint8_t* f = umem_ + d.offset;
    if (d.length < kEthLen) return false;
    const uint16_t type = be16(f + kEthType);
    if (type == kTypeArp) return answer_arp(f, d.length);
    if (type != kTypeIpv4 || d.length < kEthLen + kIpMinLen) return false;
    uint8_t* ip = f + kEthLen;
    const size_t ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
    if ((ip[0] >> 4) != 4 || ihl < kIpMinLen || d.length < kEthLen + ihl + kUdpLen) return false;
    if (ip[kIpProto] != 17 || std::memcmp(ip + kIpDst, ip_.data(), 4) != 0) return false;
    // A fragment other than the first carries no UDP header; the first one would have to be
    // reassembled to be echoed: neither is reflected (More Fragments bit or an offset).
    if ((be16(ip + kIpFrag) & 0x3fff) != 0) return false;
    uint8_t* udp = ip + ihl;
    if (be16(udp + kUdpDstPort) != o_.port) return false;
    std::memcpy(f + kEthDst, f + kEthSrc, 6);
    std::memcpy(f + kEthSrc, mac_.octets.data(), 6);
    swap_bytes(ip + kIpSrc, ip + kIpDst, 4);
    swap_bytes(udp + kUdpSrcPort, udp + kUdpDstPort, 2);
    return true;
  }

 private:
  // RFC 826: a request (op 1) for our address becomes the reply (op 2) in place.
  bool answer_arp(uint8_t* f, uint32_t length) {
    if (length < kEthLen + kArpLen) return false;
    uint8_t* a = f + kEthLen;
    if (be16(a) != 1 || be16(a + 2) != kTypeIpv4 || a[4] != 6 || a[5] != 4) return false;
    if (be16(a + kArpOp) != 1 || std::memcmp(a + kArpTpa, ip_.data(), 4) != 0) return false;
    a[kArpOp + 1] = 2;
    std::memcpy(a + kArpTha, a + kArpSha, 10);  // target := sender (hardware and protocol)
    std::memcpy(a + kArpSha, mac_.octets.data(), 6);
    std::memcpy(a + kArpSpa, ip_.data(), 4);
    std::memcpy(f + kEthDst, a + kArpTha, 6);
    std::memcpy(f + kEthSrc, mac_.octets.data(), 6);
    ++counters_.arp_replies;
    return true;
  }

  const Options& o_;
  uint8_t* umem_;
  Counters& counters_;
  flowgate::wire::MacAddress mac_;
  std::array<uint8_t, 4> ip_{};
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  const size_t umem_bytes = size_t{kFrames} * kFrameSize;
  void* base =
      ::mmap(nullptr, umem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) {
    std::perror("xdp_reflector: mmap");
    return 1;
  }
  Counters c;
  try {
    if (const std::string err = flowgate::ensure_bpffs(); !err.empty()) {
      std::fprintf(stderr, "xdp_reflector: warning: %s\n", err.c_str());
    }
    auto program = flowgate::XdpProgram::attach(o.interface, o.mode);
    flowgate::XskRingSizes sizes;
    sizes.fill = sizes.completion = 2048;
    sizes.rx = sizes.tx = 2048;
    const flowgate::UmemArea area{base, umem_bytes, kFrameSize};
    auto umem = flowgate::XskUmem::create(area, sizes);
    flowgate::XskPort port(*umem, o.interface, o.queue, *program, sizes, /*force_copy=*/false);
    program->set_address(o.address, /*all_traffic=*/true);  // only now: a socket is there

    Reflector reflector(o, static_cast<uint8_t*>(base), c);
    std::vector<uint64_t> spare;  // frame slots we own and have not posted
    spare.reserve(kFrames);
    for (uint32_t i = 0; i < kFrames; ++i) spare.push_back(uint64_t{i} * kFrameSize);
    std::array<FrameDesc, kBatch> in{};
    std::vector<FrameDesc> out;
    out.reserve(kBatch);
    std::array<uint64_t, kBatch> done{};
    std::fprintf(stderr, "xdp_reflector: %s on %s queue %u, UDP port %u, %s mode%s\n",
                 o.address.to_string().c_str(), o.interface.c_str(), o.queue, o.port,
                 flowgate::to_string(o.mode), port.zero_copy() ? ", zero-copy" : "");

    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                      std::chrono::duration<double>(o.duration_s));
    while (!g_stop.load(std::memory_order_relaxed)) {
      // Keep the fill ring stocked with every frame we do not hold.
      // Offered from the back, at most two batches at a time, so that the untaken rest
      // (post_rx_frames takes a prefix of what it is given) moves little when erased.
      const size_t offer = std::min<size_t>(spare.size(), 2 * kBatch);
      const size_t from = spare.size() - offer;
      const uint32_t posted =
          port.post_rx_frames(std::span<const uint64_t>(spare.data() + from, offer));
      spare.erase(spare.begin() + static_cast<std::ptrdiff_t>(from),
                  spare.begin() + static_cast<std::ptrdiff_t>(from + posted));
      if (port.fill_needs_wakeup()) port.wake_rx();

      const uint32_t n = port.receive(in);
      c.received += n;
      out.clear();
      for (uint32_t i = 0; i < n; ++i) {
        if (reflector.reflect(in[i])) {
          out.push_back(in[i]);
        } else {
          ++c.ignored;
          spare.push_back(in[i].offset);
        }
      }
      const uint32_t sent = port.transmit(out);
      c.reflected += sent;
      for (size_t i = sent; i < out.size(); ++i) {  // tx ring full: those are dropped
        ++c.tx_full;
        spare.push_back(out[i].offset);
      }
      if (sent > 0) port.flush();
      for (uint32_t k; (k = port.completed(done)) > 0;) {
        spare.insert(spare.end(), done.begin(), done.begin() + k);
      }
      if (n == 0) {
        if (std::chrono::steady_clock::now() >= deadline) break;
        // Nothing arrived: sleep until a frame does (or 10 ms pass) instead of spinning.
        pollfd p{port.fd(), POLLIN, 0};
        (void)::poll(&p, 1, 10);
      }
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "xdp_reflector: received %llu reflected %llu arp_replies %llu ignored %llu tx_full %llu "
        "in %.1f s\n",
        static_cast<unsigned long long>(c.received), static_cast<unsigned long long>(c.reflected),
        static_cast<unsigned long long>(c.arp_replies), static_cast<unsigned long long>(c.ignored),
        static_cast<unsigned long long>(c.tx_full), secs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xdp_reflector: %s\n", e.what());
    return 1;
  }
  return 0;
}
