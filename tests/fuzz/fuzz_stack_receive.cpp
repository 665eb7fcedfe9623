// libFuzzer target: the whole receive path of a Stack, across several frames.
//
// Each input builds a fresh Stack (so runs are deterministic and independent) with the lab
// configuration: 02:00:00:00:00:01 / 198.18.0.1/24, a static neighbour 198.18.0.2 at
// 02:00:00:00:00:02 (so replies to it leave at once, without ARP), and a UDP echo socket on
// port 7 and a TCP echo listener on port 8080, both opened through the POSIX-like API; the
// TCP key is fixed so ISNs and SYN cookies repeat. The seed corpus is captured from real
// tools with exactly these addresses (see make_corpus.sh), so its frames reach every layer.
//
// Input: a sequence of records, at most kMaxFrames, read until the input runs out:
//   u8 delay code | u16 flag + 15-bit frame length (big endian) | frame bytes (cut short by
//   the input's end)
// The flag (the top bit) asks for an ACK fix-up: if the frame is an unfragmented TCP segment
// and the stack has sent on that connection, its acknowledgment number becomes the stack's
// SND.NXT and its checksum is recomputed. The stack's ISNs are fixed but not guessable, so
// without this a captured handshake could never be completed; with it, the real captures in
// the corpus and the fuzzer's mutations of them reach ESTABLISHED and beyond.
// Each frame goes to Stack::receive(); whatever the echo sockets received is sent back; then
// the manual clock moves by the delay (code < 100: that many ms; else (code - 99) * 500 ms, up
// to 78 s, past the reassembly timeout and the ARP reachable time), running poll() at every
// deadline on the way as the worker loop does.
//
// Properties, beyond "no sanitizer report":
// - every frame the stack transmits is a well-formed untagged Ethernet frame from our MAC to
//   a unicast MAC or broadcast, carrying either a 28-byte ARP packet from our addresses or an
//   IPv4 datagram from our address with a valid header checksum, no options, within the MTU;
// - every whole datagram it sends (fragments are collected) is ICMP, UDP or TCP with a valid
//   checksum; ICMP errors fit in 576 bytes and quote a datagram that was sent to us by the
//   host the error goes to, never an ICMP error; TCP segments have well-formed options, SYN-
//   only options only on SYNs, and never SYN together with FIN or RST;
// - after poll() at time t, next_deadline() is after t (else the worker loop would spin).
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "fuzz_support.hpp"
#include "stack/clock.hpp"
#include "stack/config.hpp"
#include "stack/icmp.hpp"
#include "stack/link.hpp"
#include "stack/socket_api.hpp"
#include "stack/stack.hpp"
#include "wire/arp.hpp"
#include "wire/checksum.hpp"
#include "wire/ethernet.hpp"
#include "wire/icmp.hpp"
#include "wire/ipv4.hpp"
#include "wire/tcp.hpp"
#include "wire/udp.hpp"

namespace {

using flowgate::fuzz::advance;
using flowgate::fuzz::fail;
using flowgate::fuzz::require;

using flowgate::Duration;
using flowgate::Instant;
using flowgate::ManualClock;
using flowgate::Stack;
using flowgate::StackConfig;
using flowgate::wire::ArpOperation;
using flowgate::wire::ArpReader;
using flowgate::wire::Bytes;
using flowgate::wire::EthernetReader;
using flowgate::wire::EtherType;
using flowgate::wire::IcmpReader;
using flowgate::wire::IcmpRepr;
using flowgate::wire::IcmpType;
using flowgate::wire::IpProtocol;
using flowgate::wire::Ipv4Address;
using flowgate::wire::Ipv4Reader;
using flowgate::wire::Ipv4Repr;
using flowgate::wire::MacAddress;
using flowgate::wire::TcpFlag;
using flowgate::wire::TcpReader;
using flowgate::wire::TcpRepr;
using flowgate::wire::UdpReader;
using flowgate::wire::UdpRepr;

constexpr size_t kMaxFrames = 32;
constexpr size_t kRecordHeaderLen = 3;
constexpr uint16_t kFixAckFlag = 0x8000;
constexpr uint16_t kLengthMask = 0x7fff;
constexpr uint16_t kEchoPort = 7;
constexpr uint16_t kTcpEchoPort = 8080;
constexpr size_t kMaxTcpConnections = 16;

StackConfig lab_config() {
  StackConfig c;
  // A fixed TCP key: with a random one, ISNs and SYN cookies would differ from run to run
  // and no finding would replay.
  c.secret_key = std::array<uint8_t, 16>{0x66, 0x6c, 0x6f, 0x77, 0x67, 0x61, 0x74, 0x65,
                                         0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x6b, 0x65, 0x79};
  c.mac = MacAddress{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
  c.address = {Ipv4Address::from_octets(198, 18, 0, 1), 24};
  c.arp.static_entries.push_back(
      {Ipv4Address::from_octets(198, 18, 0, 2), MacAddress{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}}});
  return c;
}

Duration delay_of(uint8_t code) {
  if (code < 100) return std::chrono::milliseconds(code);
  return std::chrono::milliseconds(500) * (code - 99);
}

bool is_icmp_error_type(uint8_t type) {
  switch (static_cast<IcmpType>(type)) {
    case IcmpType::destination_unreachable:
    case IcmpType::source_quench:
    case IcmpType::redirect:
    case IcmpType::time_exceeded:
    case IcmpType::parameter_problem:
      return true;
    default:
      return false;
  }
}

// Checks every frame the stack sends, as it is sent.
class CheckingLink final : public flowgate::Link {
 public:
  explicit CheckingLink(const StackConfig& config) : config_(config) {}

  bool transmit(Bytes frame) override {
    check_frame(frame);
    return true;
  }

  // The stack's SND.NXT towards (peer address, peer port, our port), as far as its segments
  // showed it; nullopt when it sent nothing there.
  std::optional<uint32_t> snd_nxt(uint32_t peer, uint16_t peer_port, uint16_t our_port) const {
    auto it = snd_nxt_.find({peer, peer_port, our_port});
    if (it == snd_nxt_.end()) return std::nullopt;
    return it->second;
  }

 private:
  bool is_our_broadcast(Ipv4Address a) const {
    return a.is_limited_broadcast() || a == config_.address.directed_broadcast();
  }

  void check_frame(Bytes frame) {
    auto eth = EthernetReader::check(frame);
    require(eth.ok(), "sent a frame shorter than an Ethernet header");
    require(!eth->has_vlan(), "sent a VLAN tag without a configured VLAN");
    require(eth->src() == config_.mac, "sent a frame from a MAC not ours");
    const MacAddress dst = eth->dst();
    require(dst.is_broadcast() || dst.is_unicast(), "sent to a zero or multicast MAC");
    switch (static_cast<EtherType>(eth->ethertype())) {
      case EtherType::arp:
        check_arp(eth->payload(), dst);
        return;
      case EtherType::ipv4:
        check_ipv4(eth->payload(), dst);
        return;
      default:
        fail("sent a frame that is neither ARP nor IPv4");
    }
  }

  void check_arp(Bytes payload, const MacAddress& eth_dst) {
    auto arp = ArpReader::check(payload);
    require(arp.ok(), "sent an ARP packet that does not check");
    require(payload.size() == ArpReader::kLen, "sent ARP with trailing bytes");
    require(arp->sender_mac() == config_.mac && arp->sender_ip() == config_.address.address,
            "sent ARP whose sender is not us");
    const uint16_t op = arp->operation();
    if (op == static_cast<uint16_t>(ArpOperation::reply)) {
      require(eth_dst == arp->target_mac() && !eth_dst.is_broadcast(),
              "sent an ARP reply not unicast to its target");
    } else {
      require(op == static_cast<uint16_t>(ArpOperation::request), "sent an unknown ARP operation");
    }
  }

  void check_ipv4(Bytes payload, const MacAddress& eth_dst) {
    auto ip = Ipv4Reader::check(payload);
    require(ip.ok(), "sent an IPv4 datagram that does not check");
    require(ip->total_len() == payload.size(), "sent IPv4 with bytes after its total length");
    require(ip->header_len() == Ipv4Reader::kMinHeaderLen, "sent an IPv4 header with options");
    require(ip->total_len() <= config_.mtu, "sent a datagram larger than the MTU");
    auto repr = Ipv4Repr::parse(*ip);
    require(repr.ok(), "sent an IPv4 header with a bad checksum");
    require(repr->src == config_.address.address, "sent a datagram from an address not ours");
    require(repr->dst != config_.address.address, "sent a datagram to ourselves");
    require(repr->ttl != 0, "sent a datagram with TTL 0");
    require(eth_dst.is_broadcast() == is_our_broadcast(repr->dst),
            "IPv4 broadcast and Ethernet broadcast disagree");
    if (repr->more_fragments) {
      require(repr->payload_len > 0 && repr->payload_len % 8 == 0,
              "sent a non-last fragment not a multiple of 8 bytes");
    }
    if (!ip->is_fragment()) {
      check_datagram(*repr, ip->payload());
      return;
    }
    // Our own fragments leave in order; collect them and check the whole datagram at the
    // end. A gap (fragments lost to a full ARP queue) just abandons the collection.
    const uint16_t id = repr->identification;
    if (repr->fragment_offset == 0) partial_[id].clear();
    auto it = partial_.find(id);
    if (it == partial_.end()) return;
    if (it->second.size() != repr->fragment_offset) {
      partial_.erase(it);
      return;
    }
    it->second.insert(it->second.end(), ip->payload().begin(), ip->payload().end());
    if (!repr->more_fragments) {
      Ipv4Repr whole = *repr;
      whole.fragment_offset = 0;
      check_datagram(whole, Bytes(it->second));
      partial_.erase(it);
    }
  }

  void check_datagram(const Ipv4Repr& ip, Bytes payload) {
    switch (static_cast<IpProtocol>(ip.protocol)) {
      case IpProtocol::icmp:
        check_icmp(ip, payload);
        return;
      case IpProtocol::tcp:
        check_tcp(ip, payload);
        return;
      case IpProtocol::udp: {
        auto udp = UdpReader::check(payload);
        require(udp.ok(), "sent a UDP datagram that does not check");
        require(udp->length() == payload.size(), "sent UDP whose length is not the IP payload");
        require(udp->checksum() != 0, "sent UDP without a checksum");
        auto repr = UdpRepr::parse(*udp, ip.src, ip.dst);
        require(repr.ok(), "sent UDP with a bad checksum");
        require(repr->src_port == kEchoPort, "sent UDP from a port other than the echo socket");
        return;
      }
      default:
        fail("sent a datagram that is neither ICMP, UDP nor TCP");
    }
  }

  void check_tcp(const Ipv4Repr& ip, Bytes payload) {
    auto tcp = TcpReader::check(payload);
    require(tcp.ok(), "sent a TCP segment that does not check");
    auto repr = TcpRepr::parse(*tcp, ip.src, ip.dst);
    require(repr.ok(), "sent TCP with a bad checksum or malformed options");
    const bool syn = repr->flags.has(TcpFlag::syn);
    require(!syn || (!repr->flags.has(TcpFlag::fin) && !repr->flags.has(TcpFlag::rst)),
            "sent SYN together with FIN or RST");
    // RFC 9293 3.7.1 (MSS), RFC 7323 2.2 (window scale), RFC 2018 (SACK-permitted): only
    // on a SYN.
    require(
        syn || (!repr->options.mss && !repr->options.window_scale && !repr->options.sack_permitted),
        "sent a SYN-only TCP option on a segment without SYN");
    // What the peer would acknowledge after this segment: SEG.SEQ + SEG.LEN, where SYN and
    // FIN count one each (RFC 9293 3.4). A SYN starts afresh; a retransmission (ending at or
    // before what was already sent, compared modulo 2^32) does not move it back.
    const uint32_t end = repr->seq + static_cast<uint32_t>(repr->payload.size()) + (syn ? 1u : 0u) +
                         (repr->flags.has(TcpFlag::fin) ? 1u : 0u);
    auto [it, inserted] = snd_nxt_.try_emplace({ip.dst.value, repr->dst_port, repr->src_port}, end);
    if (!inserted && (syn || static_cast<int32_t>(end - it->second) > 0)) it->second = end;
  }

  void check_icmp(const Ipv4Repr& ip, Bytes payload) {
    auto icmp = IcmpReader::check(payload);
    require(icmp.ok(), "sent an ICMP message shorter than 8 bytes");
    auto repr = IcmpRepr::parse(*icmp);
    require(repr.ok(), "sent ICMP with a bad checksum");
    if (repr->type == static_cast<uint8_t>(IcmpType::echo_reply)) {
      require(repr->code == 0, "sent an echo reply with a non-zero code");
      require(!is_our_broadcast(ip.dst), "sent an echo reply to a broadcast address");
      return;
    }
    require(repr->type == static_cast<uint8_t>(IcmpType::destination_unreachable) ||
                repr->type == static_cast<uint8_t>(IcmpType::time_exceeded),
            "sent an ICMP type other than echo reply, unreachable or time exceeded");
    require(Ipv4Repr::buffer_len() + payload.size() <= flowgate::Icmp::kMaxErrorDatagram,
            "sent an ICMP error larger than 576 bytes");
    require(!is_our_broadcast(ip.dst) && !ip.dst.is_multicast(),
            "sent an ICMP error to a broadcast or multicast address");
    // The quote: the offending datagram's header and at least the start of its payload.
    const Bytes quoted = repr->data;
    require(quoted.size() >= Ipv4Reader::kMinHeaderLen, "ICMP error quotes no IPv4 header");
    const size_t quoted_header_len = size_t{flowgate::wire::load_u8(quoted, 0) & 0x0fu} * 4;
    require(flowgate::wire::load_u8(quoted, 0) >> 4 == 4 &&
                quoted_header_len >= Ipv4Reader::kMinHeaderLen &&
                quoted_header_len <= quoted.size(),
            "ICMP error quotes a malformed IPv4 header");
    require(Ipv4Address::load(quoted, Ipv4Reader::kSrcOffset) == ip.dst,
            "ICMP error not sent to the quoted datagram's source");
    require(Ipv4Address::load(quoted, Ipv4Reader::kDstOffset) == config_.address.address,
            "ICMP error about a datagram not sent to our address");
    require((flowgate::wire::load_be16(quoted, Ipv4Reader::kFlagsFragOffset) &
             Ipv4Reader::kFragOffsetMask) == 0,
            "ICMP error about a non-initial fragment");
    if (flowgate::wire::load_u8(quoted, Ipv4Reader::kProtocolOffset) ==
            static_cast<uint8_t>(IpProtocol::icmp) &&
        quoted.size() > quoted_header_len) {
      require(!is_icmp_error_type(flowgate::wire::load_u8(quoted, quoted_header_len)),
              "sent an ICMP error about an ICMP error");
    }
  }

  const StackConfig& config_;
  std::map<uint16_t, std::vector<std::byte>> partial_;  // by IPv4 identification
  std::map<std::tuple<uint32_t, uint16_t, uint16_t>, uint32_t> snd_nxt_;
};

// Returns every datagram the echo socket holds to its sender, as a UDP echo server would.
void echo(Stack& stack, int fd, std::vector<std::byte>& buffer) {
  for (;;) {
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = flowgate::fg_recvfrom(stack, fd, buffer.data(), buffer.size(), 0,
                                            reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      require(errno == EAGAIN, "recvfrom failed other than with EAGAIN");
      break;
    }
    require(from_len == sizeof from && from.sin_family == AF_INET, "recvfrom source address");
    (void)flowgate::fg_sendto(stack, fd, buffer.data(), static_cast<size_t>(n), 0,
                              reinterpret_cast<const sockaddr*>(&from), sizeof from);
  }
  int error = 0;
  socklen_t len = sizeof error;
  require(flowgate::fg_getsockopt(stack, fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0,
          "getsockopt(SO_ERROR)");
}

// The TCP echo server: a listener on kTcpEchoPort whose accepted connections send back what
// they receive and are closed at end of stream or on error.
class TcpEcho {
 public:
  explicit TcpEcho(Stack& stack) : stack_(stack) {
    listener_ = flowgate::fg_socket(stack_, AF_INET, SOCK_STREAM, 0);
    require(listener_ >= 0, "socket(SOCK_STREAM)");
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = htons(kTcpEchoPort);
    local.sin_addr.s_addr = htonl(INADDR_ANY);
    require(flowgate::fg_bind(stack_, listener_, reinterpret_cast<const sockaddr*>(&local),
                              sizeof local) == 0,
            "bind() to the TCP echo port");
    require(flowgate::fg_listen(stack_, listener_, 8) == 0, "listen()");
  }

  void run(std::vector<std::byte>& buffer) {
    while (connections_.size() < kMaxTcpConnections) {
      const int fd = flowgate::fg_accept(stack_, listener_, nullptr, nullptr);
      if (fd < 0) break;
      connections_.push_back(fd);
    }
    for (auto it = connections_.begin(); it != connections_.end();) {
      const ssize_t n = flowgate::fg_recv(stack_, *it, buffer.data(), buffer.size(), 0);
      if (n > 0) {
        (void)flowgate::fg_send(stack_, *it, buffer.data(), static_cast<size_t>(n), 0);
      } else if (n == 0 || errno != EAGAIN) {
        (void)flowgate::fg_close(stack_, *it);
        it = connections_.erase(it);
        continue;
      }
      ++it;
    }
  }

 private:
  Stack& stack_;
  int listener_ = -1;
  std::vector<int> connections_;
};

// The ACK fix-up (see the input format above), in place on a copy of the frame.
void fix_ack(std::vector<std::byte>& frame, const CheckingLink& link) {
  auto eth = EthernetReader::check(Bytes(frame));
  if (!eth || eth->ethertype() != static_cast<uint16_t>(EtherType::ipv4)) return;
  auto ip = Ipv4Reader::check(eth->payload());
  if (!ip || ip->is_fragment() || ip->protocol() != static_cast<uint8_t>(IpProtocol::tcp)) return;
  auto tcp = TcpReader::check(ip->payload());
  if (!tcp) return;
  const auto ack = link.snd_nxt(ip->src().value, tcp->src_port(), tcp->dst_port());
  if (!ack) return;
  const size_t tcp_offset = eth->header_len() + ip->header_len();
  const size_t tcp_len = ip->payload().size();
  const flowgate::wire::MutableBytes segment(frame.data() + tcp_offset, tcp_len);
  flowgate::wire::store_be32(segment, TcpReader::kAckOffset, *ack);
  flowgate::wire::store_be16(segment, TcpReader::kChecksumOffset, 0);
  flowgate::wire::ChecksumAccumulator sum;
  flowgate::wire::add_pseudo_header(sum, ip->src(), ip->dst(),
                                    static_cast<uint8_t>(IpProtocol::tcp),
                                    static_cast<uint16_t>(tcp_len));
  sum.add(Bytes(segment));
  flowgate::wire::store_be16(segment, TcpReader::kChecksumOffset, sum.finish());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const StackConfig config = lab_config();
  ManualClock clock;
  CheckingLink link(config);
  Stack stack(config, clock, link);
  stack.start();

  const int fd = flowgate::fg_socket(stack, AF_INET, SOCK_DGRAM, 0);
  require(fd >= 0, "socket()");
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(kEchoPort);
  local.sin_addr.s_addr = htonl(INADDR_ANY);
  require(
      flowgate::fg_bind(stack, fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0,
      "bind() to the echo port");
  TcpEcho tcp_echo(stack);
  std::vector<std::byte> buffer(65536);
  std::vector<std::byte> frame;

  const Bytes input(reinterpret_cast<const std::byte*>(data), size);
  size_t off = 0;
  for (size_t frames = 0; frames < kMaxFrames && size - off >= kRecordHeaderLen; ++frames) {
    const uint8_t delay_code = flowgate::wire::load_u8(input, off);
    const uint16_t len_field = flowgate::wire::load_be16(input, off + 1);
    const size_t len = len_field & kLengthMask;
    off += kRecordHeaderLen;
    const Bytes bytes = input.subspan(off, std::min(len, size - off));
    off += bytes.size();

    if ((len_field & kFixAckFlag) != 0) {
      frame.assign(bytes.begin(), bytes.end());
      fix_ack(frame, link);
      stack.receive(Bytes(frame));
    } else {
      stack.receive(bytes);
    }
    echo(stack, fd, buffer);
    tcp_echo.run(buffer);
    advance(stack, clock, delay_of(delay_code));
  }
  return 0;
}
