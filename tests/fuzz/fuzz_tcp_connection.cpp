// libFuzzer target: one established TCP connection driven by the input.
//
// Each input builds a fresh Stack with the lab configuration (02:00:00:00:00:01 /
// 198.18.0.1/24, a static neighbour 198.18.0.2 at 02:00:00:00:00:02, a fixed secret key so
// ISNs repeat), listens on port 80 through the fg_* API, and completes a handshake with a
// hand-built SYN and ACK from 198.18.0.2:40000, then fg_accept()s the connection. The rest of
// the input is a script of peer segments and application calls. Peer segments are built
// relative to what the stack last sent (its ACK number and the end of its data), so small
// deltas land in the window and exercise the state machine rather than the first check.
//
// Input:
//   u8 handshake: bit 0 timestamps, bit 1 SACK-permitted, bit 2 window scale (shift in bits
//                 4-7), bit 3 a small peer MSS (536)
//   then records, each an op byte and its arguments, until the input runs out (at most
//   kMaxRecords):
//   op & 7 in 0..3: a peer segment
//       u8 flags (FIN SYN RST PSH ACK URG ECE CWR; op bit 3 adds NS), be16 seq delta from the
//       stack's last ACK number (its RCV.NXT) and be16 ack delta from the end of what it sent
//       (its SND.NXT), both signed, be16 window, u8 options mode, the options' bytes,
//       be16 payload length (mod kMaxPayload + 1), u8 delay code
//       options mode 0x80 set: (mode & 0x3f) raw option bytes follow (at most 40, padded with
//       end-of-list); else bit 0 timestamps (if negotiated: the peer's clock and the stack's
//       last TSval), bit 1 a SACK block whose edges follow as be16, be16 (offsets from the
//       segment's ACK number minus 32768), bit 2 an MSS option, bit 3 a window scale option
//   4: fg_send, be16 length, u8 delay code
//   5: fg_recv, be16 length (op bit 3: MSG_PEEK), u8 delay code
//   6: fg_shutdown(u8 % 3: SHUT_RD, SHUT_WR, SHUT_RDWR), u8 delay code
//   7: fg_close (op bit 3: with SO_LINGER 0, so an abort), u8 delay code
//   A delay code below 100 is that many ms; else (code - 99) * 500 ms, and 255 is two hours
//   (past keepalive and every other timer). The clock moves by it, running poll() at every
//   deadline on the way, as the worker loop does.
//
// Properties, beyond "no sanitizer report":
// - every frame the stack transmits parses: Ethernet from our MAC, IPv4 with a valid header
//   checksum from our address, and for TCP a valid checksum and well-formed options;
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
#include <cstring>
#include <optional>
#include <vector>

#include "fuzz_support.hpp"
#include "stack/clock.hpp"
#include "stack/config.hpp"
#include "stack/link.hpp"
#include "stack/socket_api.hpp"
#include "stack/stack.hpp"
#include "wire/arp.hpp"
#include "wire/checksum.hpp"
#include "wire/ethernet.hpp"
#include "wire/ipv4.hpp"
#include "wire/tcp.hpp"

namespace {

using flowgate::fuzz::advance;
using flowgate::fuzz::require;

using flowgate::Duration;
using flowgate::Instant;
using flowgate::ManualClock;
using flowgate::Stack;
using flowgate::StackConfig;
using flowgate::wire::ArpReader;
using flowgate::wire::Bytes;
using flowgate::wire::ChecksumAccumulator;
using flowgate::wire::EthernetReader;
using flowgate::wire::EthernetRepr;
using flowgate::wire::EtherType;
using flowgate::wire::IpProtocol;
using flowgate::wire::Ipv4Address;
using flowgate::wire::Ipv4Reader;
using flowgate::wire::Ipv4Repr;
using flowgate::wire::MacAddress;
using flowgate::wire::MutableBytes;
using flowgate::wire::TcpFlag;
using flowgate::wire::TcpFlags;
using flowgate::wire::TcpOptions;
using flowgate::wire::TcpReader;
using flowgate::wire::TcpRepr;
using flowgate::wire::TcpTimestamps;

constexpr MacAddress kOurMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
constexpr MacAddress kPeerMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
constexpr Ipv4Address kOurIp = Ipv4Address::from_octets(198, 18, 0, 1);
constexpr Ipv4Address kPeerIp = Ipv4Address::from_octets(198, 18, 0, 2);
constexpr uint16_t kOurPort = 80;
constexpr uint16_t kPeerPort = 40000;
constexpr uint32_t kPeerIss = 0xfffff000;  // wraps within the first 4 KiB
constexpr size_t kMaxRecords = 64;
constexpr size_t kMaxPayload = 4096;
constexpr size_t kMaxAppIo = 65536;

// Wrap-aware "a is after b" for raw sequence numbers (RFC 9293 3.4).
bool seq_after(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) > 0;
}

StackConfig lab_config() {
  StackConfig c;
  c.mac = kOurMac;
  c.address = {kOurIp, 24};
  c.arp.static_entries.push_back({kPeerIp, kPeerMac});
  c.secret_key = std::array<uint8_t, 16>{0x66, 0x6c, 0x6f, 0x77, 0x67, 0x61, 0x74, 0x65,
                                         0x2d, 0x74, 0x63, 0x70, 0x63, 0x6f, 0x6e, 0x6e};
  return c;
}

// What the peer knows of the connection: learnt from every segment the stack sends it.
struct PeerView {
  bool seen = false;
  uint32_t stack_ack = 0;      // the stack's last ACK number: its RCV.NXT
  uint32_t stack_snd_end = 0;  // one past the highest sequence number the stack sent
  uint32_t stack_iss = 0;
  std::optional<uint32_t> stack_tsval;
};

// Checks every frame the stack sends, as it is sent, and keeps the peer's view up to date.
class CheckingLink final : public flowgate::Link {
 public:
  bool transmit(Bytes frame) override {
    auto eth = EthernetReader::check(frame);
    require(eth.ok(), "sent a frame shorter than an Ethernet header");
    require(eth->src() == kOurMac, "sent a frame from a MAC not ours");
    if (eth->ethertype() == static_cast<uint16_t>(EtherType::arp)) {
      require(ArpReader::check(eth->payload()).ok(), "sent an ARP packet that does not check");
      return true;
    }
    require(eth->ethertype() == static_cast<uint16_t>(EtherType::ipv4),
            "sent a frame that is neither ARP nor IPv4");
    auto ip = Ipv4Reader::check(eth->payload());
    require(ip.ok(), "sent an IPv4 datagram that does not check");
    require(ip->total_len() == eth->payload().size(), "sent IPv4 with trailing bytes");
    auto ip_repr = Ipv4Repr::parse(*ip);
    require(ip_repr.ok(), "sent IPv4 with a bad header checksum");
    require(ip_repr->src == kOurIp, "sent a datagram from an address not ours");
    require(!ip->is_fragment(), "fragmented a TCP segment");
    if (ip_repr->protocol != static_cast<uint8_t>(IpProtocol::tcp)) return true;  // ICMP
    auto tcp = TcpReader::check(ip->payload());
    require(tcp.ok(), "sent a TCP segment that does not check");
    auto seg = TcpRepr::parse(*tcp, ip_repr->src, ip_repr->dst);
    require(seg.ok(), "sent TCP with a bad checksum or malformed options");
    learn(*seg);
    return true;
  }

  PeerView peer;

 private:
  void learn(const TcpRepr& seg) {
    if (seg.dst_port != kPeerPort || seg.flags.has(TcpFlag::rst)) return;
    const uint32_t end = seg.seq + static_cast<uint32_t>(seg.payload.size()) +
                         (seg.flags.has(TcpFlag::syn) ? 1u : 0u) +
                         (seg.flags.has(TcpFlag::fin) ? 1u : 0u);
    if (seg.flags.has(TcpFlag::syn)) {
      peer.stack_iss = seg.seq;
      peer.stack_snd_end = end;
    } else if (!peer.seen || seq_after(end, peer.stack_snd_end)) {
      peer.stack_snd_end = end;
    }
    if (seg.flags.has(TcpFlag::ack)) peer.stack_ack = seg.ack;
    if (seg.options.timestamps) peer.stack_tsval = seg.options.timestamps->tsval;
    peer.seen = true;
  }
};

// Reads the input front to back; past the end every read gives zeros.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return off_ >= size_; }
  uint8_t u8() { return off_ < size_ ? data_[off_++] : 0; }
  uint16_t be16() {
    const uint16_t hi = u8();
    return static_cast<uint16_t>((hi << 8) | u8());
  }
  Bytes take(size_t n) {
    n = std::min(n, size_ - std::min(off_, size_));
    Bytes b(reinterpret_cast<const std::byte*>(data_) + off_, n);
    off_ += n;
    return b;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t off_ = 0;
};

// One frame from the peer: Ethernet, IPv4 and a TCP header built by hand, so the options
// area can hold any bytes at all; both checksums are right.
std::vector<std::byte> peer_frame(const TcpRepr& h, Bytes raw_options) {
  std::array<std::byte, TcpOptions::kMaxLen> options_area{};
  size_t options_len;
  if (h.options == TcpOptions{}) {
    options_len = (raw_options.size() + 3) / 4 * 4;  // padded with end-of-list
    std::copy(raw_options.begin(), raw_options.end(), options_area.begin());
  } else {
    options_len = h.options.emit(options_area);
  }
  const size_t tcp_len = TcpReader::kMinHeaderLen + options_len + h.payload.size();
  const EthernetRepr eth{kOurMac, kPeerMac, std::nullopt, static_cast<uint16_t>(EtherType::ipv4)};
  Ipv4Repr ip;
  ip.src = kPeerIp;
  ip.dst = kOurIp;
  ip.protocol = static_cast<uint8_t>(IpProtocol::tcp);
  ip.dont_fragment = true;
  ip.payload_len = static_cast<uint16_t>(tcp_len);
  std::vector<std::byte> frame(eth.buffer_len() + Ipv4Repr::buffer_len() + tcp_len);
  const MutableBytes out(frame);
  size_t off = eth.emit(out);
  off += ip.emit(out.subspan(off));
  const MutableBytes t = out.subspan(off);
  using flowgate::wire::store_be16;
  using flowgate::wire::store_be32;
  store_be16(t, TcpReader::kSrcPortOffset, h.src_port);
  store_be16(t, TcpReader::kDstPortOffset, h.dst_port);
  store_be32(t, TcpReader::kSeqOffset, h.seq);
  store_be32(t, TcpReader::kAckOffset, h.ack);
  const auto doff = static_cast<uint16_t>((TcpReader::kMinHeaderLen + options_len) / 4);
  store_be16(t, TcpReader::kFlagsOffset, static_cast<uint16_t>((doff << 12) | h.flags.bits()));
  store_be16(t, TcpReader::kWindowOffset, h.window);
  store_be16(t, TcpReader::kChecksumOffset, 0);
  store_be16(t, TcpReader::kUrgentOffset, h.urgent_pointer);
  std::copy_n(options_area.begin(), options_len, t.begin() + TcpReader::kOptionsOffset);
  std::copy(h.payload.begin(), h.payload.end(),
            t.begin() + static_cast<std::ptrdiff_t>(TcpReader::kMinHeaderLen + options_len));
  ChecksumAccumulator acc;
  flowgate::wire::add_pseudo_header(acc, kPeerIp, kOurIp, static_cast<uint8_t>(IpProtocol::tcp),
                                    static_cast<uint16_t>(tcp_len));
  acc.add(t);
  store_be16(t, TcpReader::kChecksumOffset, acc.finish());
  return frame;
}

Duration delay_of(uint8_t code) {
  if (code == 255) return std::chrono::hours(2);
  if (code < 100) return std::chrono::milliseconds(code);
  return std::chrono::milliseconds(500) * (code - 99);
}

// The peer's side of the script.
class Peer {
 public:
  Peer(Stack& stack, ManualClock& clock, CheckingLink& link)
      : stack_(stack), clock_(clock), link_(link) {}

  // Sends SYN and, after the SYN-ACK, the completing ACK. False if the stack did not answer.
  bool handshake(uint8_t mode) {
    timestamps_ = (mode & 1) != 0;
    TcpRepr syn = header(TcpFlag::syn);
    syn.seq = kPeerIss;
    syn.ack = 0;
    syn.window = 65535;
    syn.options.mss = (mode & 8) != 0 ? 536 : 1460;
    syn.options.sack_permitted = (mode & 2) != 0;
    if ((mode & 4) != 0) syn.options.window_scale = static_cast<uint8_t>(mode >> 4);
    if (timestamps_) syn.options.timestamps = TcpTimestamps{tsval(), 0};
    send(syn, {});
    if (!link_.peer.seen) return false;
    TcpRepr ack = header(TcpFlag::ack);
    ack.seq = kPeerIss + 1;
    ack.ack = link_.peer.stack_iss + 1;
    ack.window = syn.window;
    if (timestamps_)
      ack.options.timestamps = TcpTimestamps{tsval(), link_.peer.stack_tsval.value_or(0)};
    send(ack, {});
    return true;
  }

  void segment(uint8_t op, Input& in) {
    const uint8_t flag_bits = in.u8();
    const auto seq_delta = static_cast<int16_t>(in.be16());
    const auto ack_delta = static_cast<int16_t>(in.be16());
    TcpRepr h =
        header(TcpFlags::from_bits(static_cast<uint16_t>(flag_bits | ((op & 8) != 0 ? 0x100 : 0))));
    h.seq = link_.peer.stack_ack + static_cast<uint32_t>(static_cast<int32_t>(seq_delta));
    h.ack = link_.peer.stack_snd_end + static_cast<uint32_t>(static_cast<int32_t>(ack_delta));
    h.window = in.be16();
    const uint8_t options_mode = in.u8();
    Bytes raw_options;
    if ((options_mode & 0x80) != 0) {
      raw_options = in.take(std::min<size_t>(options_mode & 0x3f, TcpOptions::kMaxLen));
    } else {
      if ((options_mode & 1) != 0 && timestamps_) {
        h.options.timestamps = TcpTimestamps{tsval(), link_.peer.stack_tsval.value_or(0)};
      }
      if ((options_mode & 2) != 0) {
        const uint32_t base = h.ack - 0x8000;
        h.options.add_sack_block({base + in.be16(), base + in.be16()});
      }
      if ((options_mode & 4) != 0) h.options.mss = 536;
      if ((options_mode & 8) != 0) h.options.window_scale = 7;
    }
    const size_t len = in.be16() % (kMaxPayload + 1);
    payload_.assign(len, std::byte{0x5a});
    h.payload = Bytes(payload_);
    if (h.flags.has(TcpFlag::urg)) h.urgent_pointer = static_cast<uint16_t>(len);
    send(h, raw_options);
  }

 private:
  TcpRepr header(TcpFlags flags) const {
    TcpRepr h;
    h.src_port = kPeerPort;
    h.dst_port = kOurPort;
    h.flags = flags;
    return h;
  }
  // The peer's timestamp clock: 1 ms ticks of the shared clock.
  uint32_t tsval() const {
    return static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
            .count());
  }
  void send(const TcpRepr& h, Bytes raw_options) {
    const auto frame = peer_frame(h, raw_options);
    stack_.receive(frame);
  }

  Stack& stack_;
  ManualClock& clock_;
  CheckingLink& link_;
  bool timestamps_ = false;
  std::vector<std::byte> payload_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ManualClock clock;
  CheckingLink link;
  Stack stack(lab_config(), clock, link);
  stack.start();

  const int listener = flowgate::fg_socket(stack, AF_INET, SOCK_STREAM, 0);
  require(listener >= 0, "socket(SOCK_STREAM)");
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(kOurPort);
  local.sin_addr.s_addr = htonl(INADDR_ANY);
  require(flowgate::fg_bind(stack, listener, reinterpret_cast<const sockaddr*>(&local),
                            sizeof local) == 0,
          "bind()");
  require(flowgate::fg_listen(stack, listener, 4) == 0, "listen()");

  Input in(data, size);
  Peer peer(stack, clock, link);
  require(peer.handshake(in.u8()), "no SYN-ACK for a SYN to a listener");
  int fd = flowgate::fg_accept(stack, listener, nullptr, nullptr);
  require(fd >= 0, "accept() after a complete handshake");

  std::vector<std::byte> app(kMaxAppIo, std::byte{0xa5});
  for (size_t records = 0; records < kMaxRecords && !in.empty(); ++records) {
    const uint8_t op = in.u8();
    switch (op & 7) {
      case 0:
      case 1:
      case 2:
      case 3:
        peer.segment(op, in);
        break;
      case 4: {
        const size_t len = std::min<size_t>(in.be16(), kMaxAppIo);
        if (fd >= 0) (void)flowgate::fg_send(stack, fd, app.data(), len, 0);
        break;
      }
      case 5: {
        const size_t len = std::min<size_t>(in.be16(), kMaxAppIo);
        const int flags = (op & 8) != 0 ? MSG_PEEK : 0;
        if (fd >= 0) {
          const ssize_t n = flowgate::fg_recv(stack, fd, app.data(), len, flags);
          require(n <= static_cast<ssize_t>(len), "recv() returned more than asked");
        }
        break;
      }
      case 6: {
        static constexpr int kHow[] = {SHUT_RD, SHUT_WR, SHUT_RDWR};
        const int how = kHow[in.u8() % 3];
        if (fd >= 0) (void)flowgate::fg_shutdown(stack, fd, how);
        break;
      }
      case 7:
        if (fd >= 0) {
          if ((op & 8) != 0) {
            const linger l{1, 0};
            (void)flowgate::fg_setsockopt(stack, fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
          }
          require(flowgate::fg_close(stack, fd) == 0, "close() of an open descriptor");
          fd = -1;
        }
        break;
    }
    advance(stack, clock, delay_of(in.u8()));
  }
  return 0;
}
