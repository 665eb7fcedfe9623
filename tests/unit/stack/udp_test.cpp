// UDP through the POSIX-like socket API (stack/socket_api.hpp), as packet scripts on the
// manual clock: echo, input validation (RFC 768), port unreachable (RFC 1122 4.1.3.1) with
// its broadcast exceptions, errno semantics, ephemeral ports, truncation, SO_RCVBUF and
// SO_ERROR, fragmentation both ways, and Ethernet padding.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"
#include "wire/flow_hash.hpp"

namespace flowgate::test {
namespace {

using wire::IcmpRepr;
using wire::IcmpType;
using wire::IpProtocol;
using wire::Ipv4Address;
using wire::Ipv4Repr;
using wire::MacAddress;
using wire::UdpReader;

constexpr uint8_t kUdp = static_cast<uint8_t>(IpProtocol::udp);
constexpr uint8_t kIcmp = static_cast<uint8_t>(IpProtocol::icmp);
constexpr size_t kEthLen = wire::EthernetReader::kHeaderLen;
constexpr size_t kIpLen = Ipv4Repr::buffer_len();
constexpr size_t kUdpLen = UdpReader::kHeaderLen;

sockaddr_in endpoint(Ipv4Address ip, uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(ip.value);
  sin.sin_port = htons(port);
  return sin;
}

const sockaddr* as_sockaddr(const sockaddr_in& sin) {
  return reinterpret_cast<const sockaddr*>(&sin);
}

Ipv4Address address_of(const sockaddr_in& sin) {
  return {ntohl(sin.sin_addr.s_addr)};
}

int udp_socket(StackHarness& h) {
  const int fd = fg_socket(h.stack, AF_INET, SOCK_DGRAM, 0);
  EXPECT_GE(fd, 0);
  return fd;
}

int bound_socket(StackHarness& h, uint16_t port) {
  const int fd = udp_socket(h);
  const sockaddr_in local = endpoint(Ipv4Address::any(), port);
  EXPECT_EQ(fg_bind(h.stack, fd, as_sockaddr(local), sizeof local), 0) << strerror(errno);
  return fd;
}

ssize_t send_to(StackHarness& h, int fd, wire::Bytes data, Ipv4Address ip, uint16_t port) {
  const sockaddr_in dst = endpoint(ip, port);
  return fg_sendto(h.stack, fd, data.data(), data.size(), 0, as_sockaddr(dst), sizeof dst);
}

// Expects a call to have failed with `err`; errno is read before anything else can touch it.
#define EXPECT_ERRNO(call, err)                   \
  do {                                            \
    errno = 0;                                    \
    const auto rc_ = (call);                      \
    const int errno_ = errno;                     \
    EXPECT_EQ(rc_, -1);                           \
    EXPECT_EQ(errno_, (err)) << strerror(errno_); \
  } while (0)

// The peer's datagram as an IPv4 frame, with a hook to damage the UDP bytes first.
template <typename Edit>
Frame edited_peer_udp_frame(uint16_t src_port, uint16_t dst_port, wire::Bytes payload, Edit edit) {
  auto udp = udp_datagram(src_port, dst_port, payload, kPeerIp, kOurIp);
  edit(udp);
  return ipv4_frame(kOurMac, kPeerMac, peer_ip(kUdp), udp);
}

Frame peer_udp_frame_to(const MacAddress& eth_dst, Ipv4Address ip_dst, uint16_t dst_port,
                        wire::Bytes payload) {
  Ipv4Repr ip = peer_ip(kUdp);
  ip.dst = ip_dst;
  return ipv4_frame(eth_dst, kPeerMac, ip, udp_datagram(40000, dst_port, payload, kPeerIp, ip_dst));
}

size_t queued(StackHarness& h, int fd) {
  const SocketSlot* slot = h.stack.slot(fd);
  if (slot == nullptr) return 0;
  return h.stack.udp().socket(slot->id)->receive_queue.size();
}

TEST(Udp, EchoThroughTheSocketApi) {
  StackHarness h;
  const int fd = bound_socket(h, 7);
  const auto request = pattern(100, 3);
  h.receive(peer_udp_frame(40000, 7, request));
  h.expect_no_frame();
  EXPECT_EQ(h.events(Event::udp_datagrams_received), 1u);

  std::vector<std::byte> buf(2048);
  sockaddr_in from{};
  socklen_t from_len = sizeof from;
  const ssize_t n = fg_recvfrom(h.stack, fd, buf.data(), buf.size(), 0,
                                reinterpret_cast<sockaddr*>(&from), &from_len);
  ASSERT_EQ(n, 100);
  EXPECT_TRUE(std::equal(request.begin(), request.end(), buf.begin()));
  EXPECT_EQ(from_len, sizeof(sockaddr_in));
  EXPECT_EQ(from.sin_family, AF_INET);
  EXPECT_EQ(address_of(from), kPeerIp);
  EXPECT_EQ(ntohs(from.sin_port), 40000);

  ASSERT_EQ(fg_sendto(h.stack, fd, buf.data(), static_cast<size_t>(n), 0,
                      reinterpret_cast<const sockaddr*>(&from), from_len),
            100);
  h.answer_arp(kPeerIp, kPeerMac);
  auto reply = h.expect_frame();
  h.expect_no_frame();
  EXPECT_EQ(reply.eth.dst, kPeerMac);
  EXPECT_EQ(reply.eth.src, kOurMac);
  ASSERT_TRUE(reply.ip.has_value());
  EXPECT_EQ(reply.ip->src, kOurIp);
  EXPECT_EQ(reply.ip->dst, kPeerIp);
  EXPECT_EQ(reply.ip->protocol, kUdp);
  ASSERT_TRUE(reply.udp.has_value());  // parse_frame verified the checksum
  EXPECT_NE(wire::load_be16(reply.ip_payload, UdpReader::kChecksumOffset), 0);
  EXPECT_EQ(reply.udp->src_port, 7);
  EXPECT_EQ(reply.udp->dst_port, 40000);
  EXPECT_TRUE(std::equal(request.begin(), request.end(), reply.udp->payload.begin(),
                         reply.udp->payload.end()));
  EXPECT_EQ(h.events(Event::udp_datagrams_sent), 1u);
  EXPECT_EQ(h.stack.counters().total_drops(), 0u);
}

TEST(Udp, ZeroChecksumMeansNoChecksum) {
  StackHarness h;
  const int fd = bound_socket(h, 5000);
  const auto data = pattern(10);
  h.receive(edited_peer_udp_frame(40000, 5000, data, [](std::vector<std::byte>& u) {
    wire::store_be16(u, UdpReader::kChecksumOffset, 0);
  }));
  EXPECT_EQ(h.events(Event::udp_datagrams_received), 1u);
  std::vector<std::byte> buf(64);
  EXPECT_EQ(fg_recvfrom(h.stack, fd, buf.data(), buf.size(), 0, nullptr, nullptr), 10);
  EXPECT_EQ(h.stack.counters().total_drops(), 0u);
}

TEST(Udp, BadChecksumIsDropped) {
  StackHarness h;
  const int fd = bound_socket(h, 5000);
  h.receive(edited_peer_udp_frame(40000, 5000, pattern(10), [](std::vector<std::byte>& u) {
    u[kUdpLen + 3] ^= std::byte{0x01};  // a payload bit, so the checksum no longer matches
  }));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::udp_bad_checksum), 1u);
  EXPECT_EQ(queued(h, fd), 0u);
  std::vector<std::byte> buf(64);
  EXPECT_ERRNO(fg_recvfrom(h.stack, fd, buf.data(), buf.size(), 0, nullptr, nullptr), EAGAIN);
}

TEST(Udp, LengthFieldInconsistentWithIpPayloadIsDropped) {
  StackHarness h;
  const int fd = bound_socket(h, 5000);
  const auto data = pattern(10);
  h.receive(edited_peer_udp_frame(40000, 5000, data, [](std::vector<std::byte>& u) {
    wire::store_be16(u, UdpReader::kLengthOffset, static_cast<uint16_t>(u.size() + 1));
  }));
  h.receive(edited_peer_udp_frame(40000, 5000, data, [](std::vector<std::byte>& u) {
    wire::store_be16(u, UdpReader::kLengthOffset, 7);
  }));
  h.receive(edited_peer_udp_frame(40000, 5000, data, [](std::vector<std::byte>& u) {
    wire::store_be16(u, UdpReader::kLengthOffset, 0);
  }));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::udp_bad_length), 3u);
  EXPECT_EQ(queued(h, fd), 0u);
  EXPECT_EQ(h.stack.counters().total_drops(), 3u);
}

TEST(Udp, IpPayloadShorterThanTheHeaderIsTruncated) {
  StackHarness h;
  const int fd = bound_socket(h, 5000);
  auto udp = udp_datagram(40000, 5000, {}, kPeerIp, kOurIp);
  udp.resize(kUdpLen - 1);
  h.receive(ipv4_frame(kOurMac, kPeerMac, peer_ip(kUdp), udp));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::udp_truncated), 1u);
  EXPECT_EQ(queued(h, fd), 0u);
  EXPECT_EQ(h.stack.counters().total_drops(), 1u);
}

TEST(Udp, NoSocketAnswersPortUnreachableQuotingTheDatagram) {
  StackHarness h;
  const Frame offending = peer_udp_frame(40000, 9999, pattern(32));
  h.receive(offending);
  EXPECT_EQ(h.drops(DropReason::udp_no_socket), 1u);
  h.answer_arp(kPeerIp, kPeerMac);

  auto f = h.expect_frame();
  h.expect_no_frame();
  EXPECT_EQ(f.eth.dst, kPeerMac);
  ASSERT_TRUE(f.ip.has_value());
  EXPECT_EQ(f.ip->src, kOurIp);
  EXPECT_EQ(f.ip->dst, kPeerIp);
  EXPECT_EQ(f.ip->protocol, kIcmp);
  ASSERT_TRUE(f.icmp.has_value());
  EXPECT_EQ(f.icmp->type, static_cast<uint8_t>(IcmpType::destination_unreachable));
  EXPECT_EQ(f.icmp->code, static_cast<uint8_t>(wire::IcmpUnreachableCode::port));
  EXPECT_EQ(f.icmp->rest_of_header, 0u);
  // At least the IP header and the UDP header, byte for byte (RFC 792); here the whole
  // datagram fits the 576-byte limit, so all of it.
  const wire::Bytes original = wire::Bytes(offending).subspan(kEthLen);
  ASSERT_GE(f.icmp->data.size(), kIpLen + kUdpLen);
  EXPECT_TRUE(
      std::equal(original.begin(), original.begin() + kIpLen + kUdpLen, f.icmp->data.begin()));
  EXPECT_TRUE(
      std::equal(original.begin(), original.end(), f.icmp->data.begin(), f.icmp->data.end()));
  EXPECT_EQ(h.events(Event::icmp_errors_sent), 1u);
}

TEST(Udp, NoPortUnreachableForBroadcasts) {
  StackHarness h;
  const auto data = pattern(8);
  // IP directed and limited broadcast, in broadcast frames; then a unicast IP datagram in a
  // link-layer broadcast frame (RFC 1122 3.2.2 forbids an error for each).
  h.receive(peer_udp_frame_to(MacAddress::broadcast(),
                              wire::Ipv4Address::from_octets(198, 18, 0, 255), 9999, data));
  h.receive(
      peer_udp_frame_to(MacAddress::broadcast(), Ipv4Address::limited_broadcast(), 9999, data));
  h.receive(
      peer_udp_frame_to(kOurMac, wire::Ipv4Address::from_octets(198, 18, 0, 255), 9999, data));
  h.receive(peer_udp_frame_to(MacAddress::broadcast(), kOurIp, 9999, data));
  h.advance(std::chrono::seconds(5));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::udp_no_socket), 4u);
  EXPECT_EQ(h.events(Event::icmp_errors_sent), 0u);
  EXPECT_EQ(h.events(Event::icmp_errors_rate_limited), 0u);
}

TEST(Udp, ErrnoSemantics) {
  StackConfig config = lab_config();
  StackHarness h(config);
  const auto data = pattern(4);
  std::vector<std::byte> buf(64);
  const sockaddr_in peer = endpoint(kPeerIp, 9000);

  EXPECT_ERRNO(fg_socket(h.stack, AF_INET6, SOCK_DGRAM, 0), EAFNOSUPPORT);
  EXPECT_ERRNO(fg_socket(h.stack, AF_PACKET, SOCK_DGRAM, 0), EAFNOSUPPORT);
  EXPECT_ERRNO(fg_socket(h.stack, AF_INET, SOCK_SEQPACKET, 0), ESOCKTNOSUPPORT);
  EXPECT_ERRNO(fg_socket(h.stack, AF_INET, SOCK_RAW, 0), ESOCKTNOSUPPORT);
  EXPECT_ERRNO(fg_socket(h.stack, AF_INET, SOCK_DGRAM, IPPROTO_TCP), EPROTONOSUPPORT);
  EXPECT_GE(fg_socket(h.stack, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_UDP), 0);

  // Unknown descriptors.
  constexpr int kNoSuchFd = 42;
  EXPECT_ERRNO(
      fg_sendto(h.stack, kNoSuchFd, data.data(), data.size(), 0, as_sockaddr(peer), sizeof peer),
      EBADF);
  EXPECT_ERRNO(fg_recvfrom(h.stack, kNoSuchFd, buf.data(), buf.size(), 0, nullptr, nullptr), EBADF);
  EXPECT_ERRNO(fg_bind(h.stack, -1, as_sockaddr(peer), sizeof peer), EBADF);
  EXPECT_ERRNO(fg_close(h.stack, kNoSuchFd), EBADF);

  const int a = udp_socket(h);
  const int b = udp_socket(h);
  const sockaddr_in port_5000 = endpoint(Ipv4Address::any(), 5000);
  const sockaddr_in ours_5001 = endpoint(kOurIp, 5001);
  const sockaddr_in foreign = endpoint(kPeerIp, 5002);
  EXPECT_EQ(fg_bind(h.stack, a, as_sockaddr(port_5000), sizeof port_5000), 0);
  EXPECT_ERRNO(fg_bind(h.stack, b, as_sockaddr(port_5000), sizeof port_5000), EADDRINUSE);
  EXPECT_ERRNO(fg_bind(h.stack, b, as_sockaddr(foreign), sizeof foreign), EADDRNOTAVAIL);
  EXPECT_ERRNO(fg_bind(h.stack, a, as_sockaddr(ours_5001), sizeof ours_5001), EINVAL);
  EXPECT_EQ(fg_bind(h.stack, b, as_sockaddr(ours_5001), sizeof ours_5001), 0);

  EXPECT_ERRNO(fg_recvfrom(h.stack, a, buf.data(), buf.size(), 0, nullptr, nullptr), EAGAIN);
  EXPECT_ERRNO(fg_sendto(h.stack, a, data.data(), data.size(), 0, nullptr, 0), EDESTADDRREQ);

  const auto too_big = pattern(65508);
  EXPECT_ERRNO(send_to(h, a, too_big, kPeerIp, 9000), EMSGSIZE);
  h.expect_no_frame();
  const auto largest = pattern(65507);
  EXPECT_EQ(send_to(h, a, largest, kPeerIp, 9000), 65507);  // held for ARP, counts as sent

  const uint64_t no_route_before = h.drops(DropReason::ipv4_no_route);
  EXPECT_ERRNO(send_to(h, a, data, Ipv4Address::from_octets(192, 0, 2, 1), 9000), ENETUNREACH);
  EXPECT_EQ(h.drops(DropReason::ipv4_no_route), no_route_before + 1);

  EXPECT_EQ(fg_close(h.stack, a), 0);
  EXPECT_ERRNO(fg_close(h.stack, a), EBADF);
  EXPECT_ERRNO(fg_recvfrom(h.stack, a, buf.data(), buf.size(), 0, nullptr, nullptr), EBADF);
}

// POSIX: "If the bind() function fails, the socket's state is unchanged" (Linux likewise).
TEST(Udp, FailedBindLeavesTheSocketUnchanged) {
  StackHarness h;
  bound_socket(h, 5000);
  const int fd = udp_socket(h);
  const sockaddr_in ours_5000 = endpoint(kOurIp, 5000);
  EXPECT_ERRNO(fg_bind(h.stack, fd, as_sockaddr(ours_5000), sizeof ours_5000), EADDRINUSE);

  sockaddr_in name{};
  socklen_t len = sizeof name;
  ASSERT_EQ(fg_getsockname(h.stack, fd, reinterpret_cast<sockaddr*>(&name), &len), 0);
  EXPECT_EQ(address_of(name), Ipv4Address::any());
  EXPECT_EQ(ntohs(name.sin_port), 0);
}

TEST(Udp, OffSubnetGoesThroughTheGateway) {
  StackConfig config = lab_config();
  const Ipv4Address gateway = Ipv4Address::from_octets(198, 18, 0, 254);
  const MacAddress gateway_mac = *MacAddress::parse("02:00:00:00:00:fe");
  const Ipv4Address far = Ipv4Address::from_octets(192, 0, 2, 1);
  config.gateway = gateway;
  StackHarness h(config);
  const int fd = udp_socket(h);

  EXPECT_EQ(send_to(h, fd, pattern(20), far, 53), 20);
  h.answer_arp(gateway, gateway_mac);
  auto f = h.expect_frame();
  h.expect_no_frame();
  EXPECT_EQ(f.eth.dst, gateway_mac);
  ASSERT_TRUE(f.ip.has_value());
  EXPECT_EQ(f.ip->dst, far);
  ASSERT_TRUE(f.udp.has_value());
  EXPECT_EQ(f.udp->dst_port, 53);
  EXPECT_EQ(h.stack.arp().find(far), nullptr);  // the destination itself is never resolved
  EXPECT_EQ(h.drops(DropReason::ipv4_no_route), 0u);
}

TEST(Udp, UnboundSendPicksAnEphemeralPort) {
  StackHarness h;
  const int fd = udp_socket(h);
  sockaddr_in name{};
  socklen_t len = sizeof name;
  ASSERT_EQ(fg_getsockname(h.stack, fd, reinterpret_cast<sockaddr*>(&name), &len), 0);
  EXPECT_EQ(ntohs(name.sin_port), 0);

  ASSERT_EQ(send_to(h, fd, pattern(8), kPeerIp, 9000), 8);
  len = sizeof name;
  ASSERT_EQ(fg_getsockname(h.stack, fd, reinterpret_cast<sockaddr*>(&name), &len), 0);
  EXPECT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(name.sin_family, AF_INET);
  EXPECT_EQ(address_of(name), Ipv4Address::any());
  const uint16_t port = ntohs(name.sin_port);
  EXPECT_GE(port, 49152);
  EXPECT_LE(port, 65535);

  h.answer_arp(kPeerIp, kPeerMac);
  auto f = h.expect_frame();
  ASSERT_TRUE(f.udp.has_value());
  EXPECT_EQ(f.udp->src_port, port);
  EXPECT_EQ(f.udp->dst_port, 9000);

  // The port stays: a second datagram leaves from it too.
  ASSERT_EQ(send_to(h, fd, pattern(8), kPeerIp, 9000), 8);
  auto g = h.expect_frame();
  ASSERT_TRUE(g.udp.has_value());
  EXPECT_EQ(g.udp->src_port, port);
}

TEST(Udp, ShortBufferTruncatesAndDiscardsTheRest) {
  StackHarness h;
  const int fd = bound_socket(h, 5000);
  const auto data = pattern(10, 5);
  h.receive(peer_udp_frame(40000, 5000, data));
  h.receive(peer_udp_frame(40000, 5000, data));
  h.receive(peer_udp_frame(40000, 5000, data));
  std::vector<std::byte> buf(4);

  // MSG_PEEK: the datagram stays queued.
  EXPECT_EQ(fg_recvfrom(h.stack, fd, buf.data(), buf.size(), MSG_PEEK, nullptr, nullptr), 4);
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), data.begin()));
  EXPECT_EQ(queued(h, fd), 3u);
  EXPECT_EQ(
      fg_recvfrom(h.stack, fd, buf.data(), buf.size(), MSG_PEEK | MSG_TRUNC, nullptr, nullptr), 10);
  EXPECT_EQ(queued(h, fd), 3u);

  // Plain: the buffer's worth, the rest of that datagram gone.
  std::fill(buf.begin(), buf.end(), std::byte{0});
  EXPECT_EQ(fg_recvfrom(h.stack, fd, buf.data(), buf.size(), 0, nullptr, nullptr), 4);
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), data.begin()));
  EXPECT_EQ(queued(h, fd), 2u);

  // MSG_TRUNC: the datagram's real length.
  EXPECT_EQ(fg_recvfrom(h.stack, fd, buf.data(), buf.size(), MSG_TRUNC, nullptr, nullptr), 10);
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), data.begin()));
  EXPECT_EQ(queued(h, fd), 1u);

  // The next read starts at the next datagram, not in the middle of a previous one.
  std::vector<std::byte> big(64);
  EXPECT_EQ(fg_recvfrom(h.stack, fd, big.data(), big.size(), 0, nullptr, nullptr), 10);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), big.begin()));
  EXPECT_ERRNO(fg_recvfrom(h.stack, fd, big.data(), big.size(), 0, nullptr, nullptr), EAGAIN);
}

TEST(Udp, ReceiveBufferBoundsTheQueue) {
  StackHarness h;
  const int fd = bound_socket(h, 5000);
  const int size = 4096;
  ASSERT_EQ(fg_setsockopt(h.stack, fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size), 0);
  int got = 0;
  socklen_t got_len = sizeof got;
  ASSERT_EQ(fg_getsockopt(h.stack, fd, SOL_SOCKET, SO_RCVBUF, &got, &got_len), 0);
  EXPECT_EQ(got, size);

  for (int i = 0; i < 5; ++i) h.receive(peer_udp_frame(40000, 5000, pattern(1000)));
  EXPECT_EQ(queued(h, fd), 4u);  // 4000 bytes fit in 4096, a fifth would not
  EXPECT_EQ(h.drops(DropReason::udp_receive_buffer_full), 1u);
  EXPECT_EQ(h.events(Event::udp_datagrams_received), 4u);
  h.expect_no_frame();  // no ICMP for a full buffer

  std::vector<std::byte> buf(2000);
  EXPECT_EQ(fg_recvfrom(h.stack, fd, buf.data(), buf.size(), 0, nullptr, nullptr), 1000);
  h.receive(peer_udp_frame(40000, 5000, pattern(1000)));
  EXPECT_EQ(queued(h, fd), 4u);
  EXPECT_EQ(h.drops(DropReason::udp_receive_buffer_full), 1u);
}

TEST(Udp, PortUnreachableForOurDatagramSetsSoError) {
  StackHarness h;
  const int fd = bound_socket(h, 5000);
  ASSERT_EQ(send_to(h, fd, pattern(12), kPeerIp, 9999), 12);
  h.answer_arp(kPeerIp, kPeerMac);
  auto sent = h.expect_frame();
  ASSERT_TRUE(sent.udp.has_value());

  // The peer's answer quotes our IP header and the first 8 bytes of our UDP datagram.
  const wire::Bytes our_datagram = wire::Bytes(sent.bytes).subspan(kEthLen);
  const auto quote = our_datagram.first(kIpLen + kUdpLen);
  const auto icmp =
      icmp_message(IcmpRepr{static_cast<uint8_t>(IcmpType::destination_unreachable),
                            static_cast<uint8_t>(wire::IcmpUnreachableCode::port), 0, quote});
  h.receive(ipv4_frame(kOurMac, kPeerMac, peer_ip(kIcmp), icmp));
  h.expect_no_frame();
  EXPECT_EQ(h.events(Event::icmp_errors_received), 1u);

  int err = -1;
  socklen_t len = sizeof err;
  ASSERT_EQ(fg_getsockopt(h.stack, fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
  EXPECT_EQ(err, ECONNREFUSED);
  EXPECT_EQ(len, sizeof(int));
  ASSERT_EQ(fg_getsockopt(h.stack, fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
  EXPECT_EQ(err, 0);  // reading SO_ERROR clears it
}

TEST(Udp, LargeDatagramIsSentAsFragments) {
  StackHarness h;
  const int fd = bound_socket(h, 5000);
  const auto data = pattern(3000, 9);
  ASSERT_EQ(send_to(h, fd, data, kPeerIp, 9000), 3000);
  h.answer_arp(kPeerIp, kPeerMac);

  const uint32_t offsets[] = {0, 1480, 2960};
  std::vector<std::byte> reassembled;
  std::optional<uint16_t> id;
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    auto f = h.expect_frame();
    EXPECT_EQ(f.eth.dst, kPeerMac);
    ASSERT_TRUE(f.ip.has_value());
    EXPECT_EQ(f.ip->src, kOurIp);
    EXPECT_EQ(f.ip->dst, kPeerIp);
    EXPECT_EQ(f.ip->protocol, kUdp);
    EXPECT_EQ(f.ip->fragment_offset, offsets[i]);
    EXPECT_EQ(f.ip->more_fragments, i < 2);
    EXPECT_FALSE(f.ip->dont_fragment);
    EXPECT_LE(f.bytes.size(), kEthLen + 1500);
    if (!id) id = f.ip->identification;
    EXPECT_EQ(f.ip->identification, *id);
    EXPECT_EQ(reassembled.size(), f.ip->fragment_offset);
    reassembled.insert(reassembled.end(), f.ip_payload.begin(), f.ip_payload.end());
  }
  h.expect_no_frame();
  EXPECT_EQ(h.events(Event::ipv4_fragments_sent), 3u);

  ASSERT_EQ(reassembled.size(), kUdpLen + data.size());
  auto view = UdpReader::check(wire::Bytes(reassembled));
  ASSERT_TRUE(view.ok());
  auto udp = wire::UdpRepr::parse(*view, kOurIp, kPeerIp);
  ASSERT_TRUE(udp.ok()) << "checksum over the whole datagram";
  EXPECT_EQ(udp->src_port, 5000);
  EXPECT_EQ(udp->dst_port, 9000);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), udp->payload.begin(), udp->payload.end()));
}

TEST(Udp, FragmentedDatagramIsDeliveredWhole) {
  StackHarness h;
  const int fd = bound_socket(h, 5000);
  const auto data = pattern(3000, 11);
  const auto udp = udp_datagram(40000, 5000, data, kPeerIp, kOurIp);
  auto frames = fragment_frames(kOurMac, kPeerMac, peer_ip(kUdp, 77), udp, 1500);
  ASSERT_EQ(frames.size(), 3u);
  h.receive(frames[0]);
  h.receive(frames[2]);
  EXPECT_EQ(queued(h, fd), 0u);
  h.receive(frames[1]);
  EXPECT_EQ(h.events(Event::reasm_completed), 1u);

  std::vector<std::byte> buf(4000);
  sockaddr_in from{};
  socklen_t from_len = sizeof from;
  ASSERT_EQ(fg_recvfrom(h.stack, fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from),
                        &from_len),
            3000);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.begin()));
  EXPECT_EQ(address_of(from), kPeerIp);
  EXPECT_EQ(ntohs(from.sin_port), 40000);
  h.expect_no_frame();
  EXPECT_EQ(h.stack.counters().total_drops(), 0u);
}

TEST(Udp, EthernetPaddingIsNotData) {
  StackHarness h;
  const int fd = bound_socket(h, 5000);
  const auto data = bytes_of({0xde, 0xad, 0xbe, 0xef});
  Frame f = peer_udp_frame(40000, 5000, data);
  ASSERT_EQ(f.size(), kEthLen + kIpLen + kUdpLen + 4);
  f.resize(wire::EthernetReader::kMinFrameLen, std::byte{0xa5});

  h.receive(f);
  std::vector<std::byte> buf(64);
  ASSERT_EQ(fg_recvfrom(h.stack, fd, buf.data(), buf.size(), MSG_TRUNC, nullptr, nullptr), 4);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.begin()));
  EXPECT_EQ(h.stack.counters().total_drops(), 0u);
}

// ---- ephemeral ports on one worker of a sharded gateway ----

// The lab stack as worker `worker` of `workers` (StackConfig::steering) with `range`
// ephemeral ports from 49152 and the peer's MAC known, so datagrams leave at once.
StackConfig steered_config(uint32_t worker, uint32_t workers, uint16_t range = 16384) {
  StackConfig c = lab_config();
  c.steering = {worker, workers, 0xfeed5eed};
  c.udp.ephemeral_first = 49152;
  c.udp.ephemeral_last = static_cast<uint16_t>(49152 + range - 1);
  c.arp.static_entries.push_back({kPeerIp, kPeerMac});
  return c;
}

uint16_t sent_port(StackHarness& h) {
  auto f = h.expect_frame();
  EXPECT_TRUE(f.udp.has_value());
  return f.udp ? f.udp->src_port : 0;
}

TEST(UdpSteering, UnboundSendPicksAPortSteeredBackToThisWorker) {
  for (uint32_t worker : {0u, 2u, 3u}) {
    StackHarness h(steered_config(worker, 4));
    const wire::FlowSteering steering{0xfeed5eed, 4};
    for (uint16_t peer_port = 9000; peer_port < 9040; ++peer_port) {
      const int fd = udp_socket(h);
      ASSERT_EQ(send_to(h, fd, pattern(8), kPeerIp, peer_port), 8);
      const uint16_t port = sent_port(h);
      EXPECT_GE(port, 49152);
      // The peer's reply, as the I/O process hashes it.
      EXPECT_EQ(steering.for_ports(kPeerIp, kOurIp, peer_port, port), worker)
          << "worker " << worker << " peer port " << peer_port;
    }
  }
}

TEST(UdpSteering, ExhaustedClassIsEaddrinuseAndClosingGivesThePortBack) {
  // 8 ports, 2 workers: 4 steer datagrams to the peer's port 53 back to worker 1.
  StackHarness h(steered_config(1, 2, 8));
  std::vector<int> fds;
  for (int i = 0; i < 4; ++i) {
    fds.push_back(udp_socket(h));
    ASSERT_EQ(send_to(h, fds.back(), pattern(4), kPeerIp, 53), 4);
  }
  std::vector<uint16_t> ports;
  for (int i = 0; i < 4; ++i) ports.push_back(sent_port(h));
  const int late = udp_socket(h);
  EXPECT_ERRNO(send_to(h, late, pattern(4), kPeerIp, 53), EADDRINUSE);
  // Port 54 takes the other class.
  ASSERT_EQ(send_to(h, late, pattern(4), kPeerIp, 54), 4);
  EXPECT_EQ(wire::FlowSteering({0xfeed5eed, 2}).for_ports(kOurIp, kPeerIp, sent_port(h), 54), 1u);
  ASSERT_EQ(fg_close(h.stack, fds[1]), 0);
  const int again = udp_socket(h);
  ASSERT_EQ(send_to(h, again, pattern(4), kPeerIp, 53), 4);
  EXPECT_EQ(sent_port(h), ports[1]);
}

TEST(UdpSteering, ExplicitBindInTheRangeIsNotHandedOut) {
  StackHarness h(steered_config(0, 1, 2));
  const int bound = bound_socket(h, 49152);
  const int a = udp_socket(h);
  ASSERT_EQ(send_to(h, a, pattern(4), kPeerIp, 9000), 4);
  EXPECT_EQ(sent_port(h), 49153);
  const int b = udp_socket(h);
  EXPECT_ERRNO(send_to(h, b, pattern(4), kPeerIp, 9000), EADDRINUSE);
  const sockaddr_in any = endpoint(Ipv4Address::any(), 0);
  EXPECT_ERRNO(fg_bind(h.stack, b, as_sockaddr(any), sizeof any), EADDRINUSE);
  ASSERT_EQ(fg_close(h.stack, bound), 0);
  ASSERT_EQ(send_to(h, b, pattern(4), kPeerIp, 9000), 4);
  EXPECT_EQ(sent_port(h), 49152);
}

TEST(UdpSteering, BindToPortZeroTakesAnyFreePort) {
  // Before a remote is known any port will do; sendto() then keeps it.
  StackHarness h(steered_config(1, 3, 6));
  std::set<uint16_t> ports;
  for (int i = 0; i < 6; ++i) {
    const int fd = udp_socket(h);
    const sockaddr_in any = endpoint(Ipv4Address::any(), 0);
    ASSERT_EQ(fg_bind(h.stack, fd, as_sockaddr(any), sizeof any), 0);
    sockaddr_in name{};
    socklen_t len = sizeof name;
    ASSERT_EQ(fg_getsockname(h.stack, fd, reinterpret_cast<sockaddr*>(&name), &len), 0);
    ports.insert(ntohs(name.sin_port));
    ASSERT_EQ(send_to(h, fd, pattern(4), kPeerIp, 7), 4);
    EXPECT_EQ(sent_port(h), ntohs(name.sin_port));
  }
  EXPECT_EQ(ports.size(), 6u);
}

}  // namespace
}  // namespace flowgate::test
