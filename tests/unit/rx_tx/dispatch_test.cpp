// The dispatcher on real frames, built with the test-support frame builders: each rule of
// rx_tx/dispatch.hpp, the fragment table (in order, out of order, expiry, collisions) on a
// manual clock, and malformed frames going to worker 0.
#include "rx_tx/dispatch.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "stack/clock.hpp"
#include "support/frames.hpp"
#include "wire/flow_hash.hpp"

namespace flowgate {
namespace {

using namespace std::chrono_literals;
using test::Frame;
using wire::Bytes;
using wire::IcmpRepr;
using wire::IcmpType;
using wire::IcmpUnreachableCode;
using wire::IpProtocol;
using wire::Ipv4Address;
using wire::Ipv4Repr;
using wire::TcpFlag;
using wire::TcpRepr;

constexpr Ipv4Address kGateway = Ipv4Address::from_octets(198, 18, 0, 1);
constexpr Ipv4Address kClient = Ipv4Address::from_octets(198, 18, 0, 2);
constexpr Ipv4Address kRouter = Ipv4Address::from_octets(198, 18, 0, 254);
const wire::MacAddress kGatewayMac = test::kOurMac;
const wire::MacAddress kClientMac = test::kPeerMac;

constexpr uint8_t kTcp = static_cast<uint8_t>(IpProtocol::tcp);
constexpr uint8_t kUdp = static_cast<uint8_t>(IpProtocol::udp);
constexpr uint8_t kIcmp = static_cast<uint8_t>(IpProtocol::icmp);

Ipv4Repr ip_header(Ipv4Address src, Ipv4Address dst, uint8_t protocol, uint16_t id = 1) {
  Ipv4Repr ip;
  ip.src = src;
  ip.dst = dst;
  ip.protocol = protocol;
  ip.identification = id;
  return ip;
}

// The MACs do not matter to the dispatcher; they point the right way for readability.
const wire::MacAddress& mac_of(Ipv4Address ip) {
  return ip == kGateway ? kGatewayMac : kClientMac;
}

std::vector<std::byte> tcp_bytes(Ipv4Address src, uint16_t sport, Ipv4Address dst, uint16_t dport) {
  TcpRepr t;
  t.src_port = sport;
  t.dst_port = dport;
  t.seq = 1000;
  t.ack = 2000;
  t.flags = TcpFlag::ack;
  t.window = 65535;
  return test::tcp_segment(t, src, dst);
}

Frame tcp_frame(Ipv4Address src, uint16_t sport, Ipv4Address dst, uint16_t dport) {
  Ipv4Repr ip = ip_header(src, dst, kTcp);
  ip.dont_fragment = true;
  return test::ipv4_frame(mac_of(dst), mac_of(src), ip, tcp_bytes(src, sport, dst, dport));
}

Frame udp_frame(Ipv4Address src, uint16_t sport, Ipv4Address dst, uint16_t dport,
                size_t payload = 16) {
  const auto data = test::pattern(payload);
  return test::ipv4_frame(mac_of(dst), mac_of(src), ip_header(src, dst, kUdp),
                          test::udp_datagram(sport, dport, data, src, dst));
}

Frame icmp_frame(Ipv4Address src, Ipv4Address dst, const IcmpRepr& icmp) {
  return test::ipv4_frame(mac_of(dst), mac_of(src), ip_header(src, dst, kIcmp),
                          test::icmp_message(icmp));
}

// An ICMP error from `from` to `to` quoting the first `quote_len` bytes of `datagram`
// (RFC 792: the IP header and the first 8 data bytes; 0 means that much).
Frame icmp_error_frame(Ipv4Address from, Ipv4Address to, uint8_t type, uint8_t code,
                       const std::vector<std::byte>& datagram, size_t quote_len = 0) {
  if (quote_len == 0) quote_len = static_cast<size_t>(datagram[0] & std::byte{0x0f}) * 4 + 8;
  const Bytes quote = Bytes(datagram).first(std::min(quote_len, datagram.size()));
  return icmp_frame(from, to, IcmpRepr{type, code, 1400, quote});
}

// The IPv4 datagram (header and payload) of a TCP segment we sent.
std::vector<std::byte> sent_tcp_datagram(Ipv4Address src, uint16_t sport, Ipv4Address dst,
                                         uint16_t dport) {
  Ipv4Repr ip = ip_header(src, dst, kTcp);
  ip.dont_fragment = true;
  return test::ipv4_datagram(ip, tcp_bytes(src, sport, dst, dport));
}

// The first seed (from 1) for which `wanted` holds: lets a test choose inputs where the
// rule under test and the other rules give different workers, so a pass means something.
uint32_t seed_where(uint32_t workers,
                    const std::function<bool(const wire::FlowSteering&)>& wanted) {
  for (uint32_t seed = 1; seed < 100000; ++seed) {
    if (wanted(wire::FlowSteering{seed, workers})) return seed;
  }
  ADD_FAILURE() << "no seed found";
  return 0;
}

DispatchDecision to(uint32_t worker) {
  return DispatchDecision::one(worker);
}

class DispatchTest : public testing::Test {
 protected:
  ManualClock clock;
  DispatchDecision classify(Dispatcher& d, const Frame& f) { return d.classify(f, clock.now()); }
};

// ---- Ethernet ----

TEST_F(DispatchTest, FrameShorterThanEthernetHeaderIsDropped) {
  Dispatcher d(4, 7);
  const Frame frame = test::pattern(13);
  EXPECT_EQ(classify(d, frame), DispatchDecision::drop(DispatchDropReason::ethernet_truncated));
  EXPECT_EQ(d.counters()[DispatchCounter::dropped], 1u);
  EXPECT_EQ(d.counters()[DispatchCounter::dropped_ethernet_truncated], 1u);
  EXPECT_EQ(classify(d, {}), DispatchDecision::drop(DispatchDropReason::ethernet_truncated));
}

TEST_F(DispatchTest, VlanTagCutShortIsDropped) {
  Dispatcher d(4, 7);
  Frame frame = test::pattern(16);
  wire::store_be16(frame, 12, static_cast<uint16_t>(wire::EtherType::vlan));
  EXPECT_EQ(classify(d, frame), DispatchDecision::drop(DispatchDropReason::ethernet_truncated));
}

TEST_F(DispatchTest, VlanTaggedTcpIsSteeredByItsPorts) {
  const uint32_t seed = seed_where(4, [](const wire::FlowSteering& s) {
    return s.for_ports(kClient, kGateway, 40000, 80) != 0;
  });
  Dispatcher d(4, seed);
  const auto ip = test::ipv4_datagram(ip_header(kClient, kGateway, kTcp),
                                      tcp_bytes(kClient, 40000, kGateway, 80));
  const Frame frame = test::ethernet_frame(
      {kGatewayMac, kClientMac, uint16_t{100}, static_cast<uint16_t>(wire::EtherType::ipv4)}, ip);
  EXPECT_EQ(classify(d, frame), to(d.steering().for_ports(kClient, kGateway, 40000, 80)));
}

TEST_F(DispatchTest, UnknownEtherTypeGoesToWorkerZero) {
  Dispatcher d(4, 7);
  const Frame ipv6 =
      test::ethernet_frame({kGatewayMac, kClientMac, std::nullopt, 0x86dd}, test::pattern(60));
  EXPECT_EQ(classify(d, ipv6), to(0));
  // Two tags (QinQ): only one is understood, the inner type is a tag again.
  const Frame qinq = test::ethernet_frame(
      {kGatewayMac, kClientMac, uint16_t{5}, static_cast<uint16_t>(wire::EtherType::vlan)},
      test::pattern(60));
  EXPECT_EQ(classify(d, qinq), to(0));
  EXPECT_EQ(d.counters()[DispatchCounter::unclassified_ethertype], 2u);
}

// ---- ARP ----

TEST_F(DispatchTest, ArpGoesToEveryWorker) {
  Dispatcher d(4, 7);
  const wire::ArpRepr request{static_cast<uint16_t>(wire::ArpOperation::request), kClientMac,
                              kClient, wire::MacAddress::zero(), kGateway};
  EXPECT_EQ(classify(d, test::arp_frame(wire::MacAddress::broadcast(), kClientMac, request)),
            DispatchDecision::all());
  const wire::ArpRepr reply{static_cast<uint16_t>(wire::ArpOperation::reply), kClientMac, kClient,
                            kGatewayMac, kGateway};
  EXPECT_EQ(classify(d, test::arp_frame(kGatewayMac, kClientMac, reply)), DispatchDecision::all());
  // Even a truncated ARP body: every worker's stack counts it as arp_truncated.
  const Frame short_arp =
      test::ethernet_frame({wire::MacAddress::broadcast(), kClientMac, std::nullopt,
                            static_cast<uint16_t>(wire::EtherType::arp)},
                           test::pattern(10));
  EXPECT_EQ(classify(d, short_arp), DispatchDecision::all());
  // Tagged ARP.
  std::vector<std::byte> body(wire::ArpRepr::buffer_len());
  request.emit(body);
  const Frame tagged =
      test::ethernet_frame({wire::MacAddress::broadcast(), kClientMac, uint16_t{100},
                            static_cast<uint16_t>(wire::EtherType::arp)},
                           body);
  EXPECT_EQ(classify(d, tagged), DispatchDecision::all());
  EXPECT_EQ(d.counters()[DispatchCounter::to_all_workers], 4u);
}

// ---- malformed IPv4: worker 0 ----

TEST_F(DispatchTest, MalformedIpv4GoesToWorkerZero) {
  // A seed for which the well-formed frame would go elsewhere, so worker 0 is the rule.
  const uint32_t seed = seed_where(4, [](const wire::FlowSteering& s) {
    return s.for_ports(kClient, kGateway, 40000, 80) != 0 &&
           s.for_addresses(kClient, kGateway) != 0;
  });
  Dispatcher d(4, seed);
  const Frame good = udp_frame(kClient, 40000, kGateway, 80);
  ASSERT_NE(classify(d, good).worker, 0u);
  const size_t ip = wire::EthernetReader::kHeaderLen;

  Frame truncated = good;
  truncated.resize(ip + 10);  // shorter than the fixed IPv4 header
  EXPECT_EQ(classify(d, truncated), to(0));

  Frame bad_version = good;
  bad_version[ip] = std::byte{0x65};
  EXPECT_EQ(classify(d, bad_version), to(0));

  Frame short_ihl = good;
  short_ihl[ip] = std::byte{0x44};
  EXPECT_EQ(classify(d, short_ihl), to(0));

  Frame long_total = good;
  wire::store_be16(long_total, ip + 2, 1400);  // total length beyond the frame
  EXPECT_EQ(classify(d, long_total), to(0));

  Frame total_below_header = good;
  wire::store_be16(total_below_header, ip + 2, 19);
  EXPECT_EQ(classify(d, total_below_header), to(0));

  EXPECT_EQ(d.counters()[DispatchCounter::unclassified_ipv4], 5u);
}

TEST_F(DispatchTest, TransportTooShortForPortsGoesToWorkerZero) {
  const uint32_t seed = seed_where(
      4, [](const wire::FlowSteering& s) { return s.for_addresses(kClient, kGateway) != 0; });
  Dispatcher d(4, seed);
  const auto two_bytes = test::pattern(2);
  EXPECT_EQ(classify(d, test::ipv4_frame(kGatewayMac, kClientMac,
                                         ip_header(kClient, kGateway, kTcp), two_bytes)),
            to(0));
  EXPECT_EQ(classify(d, test::ipv4_frame(kGatewayMac, kClientMac,
                                         ip_header(kClient, kGateway, kUdp), two_bytes)),
            to(0));
  // ICMP shorter than its 8-byte header.
  EXPECT_EQ(classify(d, test::ipv4_frame(kGatewayMac, kClientMac,
                                         ip_header(kClient, kGateway, kIcmp), two_bytes)),
            to(0));
  EXPECT_EQ(d.counters()[DispatchCounter::unclassified_transport], 3u);
}

TEST_F(DispatchTest, EthernetPaddingIsNotMistakenForPorts) {
  // A TCP datagram with an empty payload in a 60-byte (padded) frame: the padding after the
  // IPv4 total length is not the transport header.
  Dispatcher d(4, 7);
  Frame frame = test::ipv4_frame(kGatewayMac, kClientMac, ip_header(kClient, kGateway, kTcp), {});
  frame.resize(wire::EthernetReader::kMinFrameLen, std::byte{0x55});
  EXPECT_EQ(classify(d, frame), to(0));
  EXPECT_EQ(d.counters()[DispatchCounter::unclassified_transport], 1u);
}

// ---- TCP and UDP ----

TEST_F(DispatchTest, TcpBothDirectionsGoToTheSameWorker) {
  for (uint32_t workers : {2u, 3u, 4u, 8u}) {
    Dispatcher d(workers, 0xfeedbeef);
    std::mt19937 rng(workers);
    std::set<uint32_t> seen;
    for (int i = 0; i < 500; ++i) {
      const auto client_port = static_cast<uint16_t>(1024 + rng() % 60000);
      const DispatchDecision in = classify(d, tcp_frame(kClient, client_port, kGateway, 443));
      const DispatchDecision out = classify(d, tcp_frame(kGateway, 443, kClient, client_port));
      ASSERT_EQ(in.kind, DispatchKind::one_worker);
      ASSERT_EQ(in, out);
      ASSERT_EQ(in.worker, d.steering().for_ports(kClient, kGateway, client_port, 443));
      seen.insert(in.worker);
    }
    EXPECT_EQ(seen.size(), workers) << "every worker gets some flows";
  }
}

TEST_F(DispatchTest, UdpBothDirectionsGoToTheSameWorker) {
  Dispatcher d(3, 0x1234);
  std::set<uint32_t> seen;
  for (uint16_t port = 50000; port < 50030; ++port) {
    const DispatchDecision in = classify(d, udp_frame(kClient, port, kGateway, 53));
    EXPECT_EQ(in, classify(d, udp_frame(kGateway, 53, kClient, port)));
    EXPECT_EQ(in.worker, d.steering().for_ports(kClient, kGateway, port, 53));
    seen.insert(in.worker);
  }
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(d.counters()[DispatchCounter::by_ports], 60u);
}

TEST_F(DispatchTest, OneWorkerTakesEverythingButDropsAndArp) {
  Dispatcher d(1, 99);
  EXPECT_EQ(classify(d, tcp_frame(kClient, 1234, kGateway, 80)), to(0));
  EXPECT_EQ(classify(d, udp_frame(kClient, 1234, kGateway, 80)), to(0));
  EXPECT_EQ(
      classify(d, icmp_frame(kClient, kGateway, IcmpRepr::echo(IcmpType::echo_request, 1, 1, {}))),
      to(0));
}

// ---- ICMP ----

TEST_F(DispatchTest, EchoIsSteeredByTheAddressPair) {
  const uint32_t seed = seed_where(
      4, [](const wire::FlowSteering& s) { return s.for_addresses(kClient, kGateway) != 0; });
  Dispatcher d(4, seed);
  const uint32_t expected = d.steering().for_addresses(kClient, kGateway);
  const auto data = test::pattern(56);
  for (uint16_t seq = 0; seq < 20; ++seq) {
    EXPECT_EQ(classify(d, icmp_frame(kClient, kGateway,
                                     IcmpRepr::echo(IcmpType::echo_request, 77, seq, data))),
              to(expected));
    EXPECT_EQ(classify(d, icmp_frame(kGateway, kClient,
                                     IcmpRepr::echo(IcmpType::echo_reply, 77, seq, data))),
              to(expected));
  }
  EXPECT_EQ(d.counters()[DispatchCounter::by_addresses], 40u);
}

TEST_F(DispatchTest, OtherProtocolsAreSteeredByTheAddressPair) {
  Dispatcher d(4, 5);
  const uint8_t kGre = 47;
  EXPECT_EQ(classify(d, test::ipv4_frame(kGatewayMac, kClientMac,
                                         ip_header(kClient, kGateway, kGre), test::pattern(40))),
            to(d.steering().for_addresses(kClient, kGateway)));
}

TEST_F(DispatchTest, FragmentationNeededReachesTheWorkerOwningTheTcpFlow) {
  // A router on the path answers a TCP segment we sent with fragmentation-needed: it must
  // reach the worker that owns the connection, the one the connection's own segments reach
  // in both directions, whatever the router's address hashes to.
  for (uint32_t workers : {2u, 3u, 4u}) {
    Dispatcher d(workers, 0xc0ffee);
    int differs_from_router_pair = 0;
    for (uint16_t port = 40000; port < 40200; ++port) {
      const uint32_t inbound = classify(d, tcp_frame(kClient, port, kGateway, 443)).worker;
      const uint32_t outbound = classify(d, tcp_frame(kGateway, 443, kClient, port)).worker;
      ASSERT_EQ(inbound, outbound);
      // The gateway's segment from 443 to the client, quoted by the router.
      const Frame error = icmp_error_frame(
          kRouter, kGateway, static_cast<uint8_t>(IcmpType::destination_unreachable),
          static_cast<uint8_t>(IcmpUnreachableCode::fragmentation_needed),
          sent_tcp_datagram(kGateway, 443, kClient, port));
      ASSERT_EQ(classify(d, error), to(inbound)) << "port " << port;
      if (inbound != d.steering().for_addresses(kRouter, kGateway)) ++differs_from_router_pair;
    }
    EXPECT_GT(differs_from_router_pair, 0) << "the test exercised the quoted flow";
    EXPECT_EQ(d.counters()[DispatchCounter::icmp_error_by_quoted_ports], 200u);
  }
}

TEST_F(DispatchTest, EveryIcmpErrorTypeIsSteeredByItsQuote) {
  const uint32_t seed = seed_where(8, [](const wire::FlowSteering& s) {
    return s.for_ports(kGateway, kClient, 8080, 51515) != s.for_addresses(kRouter, kGateway);
  });
  Dispatcher d(8, seed);
  const auto quoted = sent_tcp_datagram(kGateway, 8080, kClient, 51515);
  const uint32_t owner = d.steering().for_ports(kGateway, kClient, 8080, 51515);
  for (int type : {3, 4, 5, 11, 12}) {
    EXPECT_EQ(
        classify(d, icmp_error_frame(kRouter, kGateway, static_cast<uint8_t>(type), 0, quoted)),
        to(owner))
        << "type " << type;
  }
  // Not errors: echo, timestamp (13) and an unknown type go by the outer address pair.
  const uint32_t outer = d.steering().for_addresses(kRouter, kGateway);
  for (int type : {0, 8, 13, 42}) {
    EXPECT_EQ(
        classify(d, icmp_error_frame(kRouter, kGateway, static_cast<uint8_t>(type), 0, quoted)),
        to(outer))
        << "type " << type;
  }
}

TEST_F(DispatchTest, PortUnreachableQuotingUdpReachesTheSocketsWorker) {
  Dispatcher d(4, 11);
  for (uint16_t port = 50000; port < 50050; ++port) {
    const uint32_t owner = classify(d, udp_frame(kClient, 53, kGateway, port)).worker;
    ASSERT_EQ(owner, d.steering().for_ports(kClient, kGateway, 53, port));
    // The gateway sent gateway:port -> client:53; the client says port unreachable.
    const auto sent =
        test::ipv4_datagram(ip_header(kGateway, kClient, kUdp),
                            test::udp_datagram(port, 53, test::pattern(20), kGateway, kClient));
    const Frame error =
        icmp_error_frame(kClient, kGateway, static_cast<uint8_t>(IcmpType::destination_unreachable),
                         static_cast<uint8_t>(IcmpUnreachableCode::port), sent);
    ASSERT_EQ(classify(d, error), to(owner));
  }
}

TEST_F(DispatchTest, IcmpErrorWithoutQuotedPortsUsesTheQuotedAddressPair) {
  const uint32_t seed = seed_where(4, [](const wire::FlowSteering& s) {
    return s.for_addresses(kGateway, kClient) != s.for_addresses(kRouter, kGateway) &&
           s.for_addresses(kGateway, kClient) != 0;
  });
  Dispatcher d(4, seed);
  const uint32_t quoted_pair = d.steering().for_addresses(kGateway, kClient);
  const uint8_t time_exceeded = static_cast<uint8_t>(IcmpType::time_exceeded);

  // Quoting an echo request we sent.
  const auto echo = test::ipv4_datagram(
      ip_header(kGateway, kClient, kIcmp),
      test::icmp_message(IcmpRepr::echo(IcmpType::echo_request, 1, 2, test::pattern(8))));
  EXPECT_EQ(classify(d, icmp_error_frame(kRouter, kGateway, time_exceeded, 0, echo)),
            to(quoted_pair));

  // Quoting a non-first fragment of a UDP datagram: its first data bytes are not ports.
  Ipv4Repr frag = ip_header(kGateway, kClient, kUdp);
  frag.fragment_offset = 1480;
  const auto fragment = test::ipv4_datagram(frag, test::pattern(64));
  EXPECT_EQ(classify(d, icmp_error_frame(kRouter, kGateway, time_exceeded, 1, fragment)),
            to(quoted_pair));

  // Quoting a TCP header cut before its ports (only 2 bytes after the IP header).
  const auto tcp = sent_tcp_datagram(kGateway, 443, kClient, 40000);
  EXPECT_EQ(classify(d, icmp_error_frame(kRouter, kGateway, time_exceeded, 0, tcp, 22)),
            to(quoted_pair));
  EXPECT_EQ(d.counters()[DispatchCounter::icmp_error_by_quoted_addresses], 3u);
}

TEST_F(DispatchTest, IcmpErrorWithUnreadableQuoteGoesToWorkerZero) {
  const uint32_t seed = seed_where(4, [](const wire::FlowSteering& s) {
    return s.for_addresses(kRouter, kGateway) != 0 && s.for_addresses(kGateway, kClient) != 0;
  });
  Dispatcher d(4, seed);
  const uint8_t unreachable = static_cast<uint8_t>(IcmpType::destination_unreachable);
  auto tcp = sent_tcp_datagram(kGateway, 443, kClient, 40000);

  // Shorter than an IPv4 header.
  EXPECT_EQ(classify(d, icmp_error_frame(kRouter, kGateway, unreachable, 4, tcp, 12)), to(0));
  // Not version 4.
  auto v6 = tcp;
  v6[0] = std::byte{0x65};
  EXPECT_EQ(classify(d, icmp_error_frame(kRouter, kGateway, unreachable, 4, v6, 28)), to(0));
  // IHL below 5.
  auto short_ihl = tcp;
  short_ihl[0] = std::byte{0x44};
  EXPECT_EQ(classify(d, icmp_error_frame(kRouter, kGateway, unreachable, 4, short_ihl, 28)), to(0));
  // IHL 15 (60 bytes of header) with only 28 bytes quoted.
  auto long_ihl = tcp;
  long_ihl[0] = std::byte{0x4f};
  EXPECT_EQ(classify(d, icmp_error_frame(kRouter, kGateway, unreachable, 4, long_ihl, 28)), to(0));
  EXPECT_EQ(d.counters()[DispatchCounter::unclassified_icmp_quote], 4u);
}

TEST_F(DispatchTest, QuotedHeaderWithOptionsIsSkippedToThePorts) {
  const uint32_t seed = seed_where(8, [](const wire::FlowSteering& s) {
    return s.for_ports(kGateway, kClient, 443, 40001) != s.for_addresses(kGateway, kClient);
  });
  Dispatcher d(8, seed);
  // IHL 6: one word of options (NOP NOP NOP EOL) before the TCP header.
  auto plain = sent_tcp_datagram(kGateway, 443, kClient, 40001);
  std::vector<std::byte> with_options(plain.begin(), plain.begin() + 20);
  for (int b : {1, 1, 1, 0}) with_options.push_back(std::byte(b));
  with_options.insert(with_options.end(), plain.begin() + 20, plain.end());
  with_options[0] = std::byte{0x46};
  EXPECT_EQ(classify(d, icmp_error_frame(kRouter, kGateway, 3, 4, with_options)),
            to(d.steering().for_ports(kGateway, kClient, 443, 40001)));
}

// ---- fragments ----

// A UDP datagram from the client, `size` payload bytes, cut into 1500-byte-MTU fragments.
std::vector<Frame> udp_fragments(uint16_t sport, uint16_t dport, uint16_t id, size_t size) {
  const auto udp = test::udp_datagram(sport, dport, test::pattern(size), kClient, kGateway);
  return test::fragment_frames(kGatewayMac, kClientMac, ip_header(kClient, kGateway, kUdp, id), udp,
                               1500);
}

TEST_F(DispatchTest, FragmentsInOrderFollowTheFirst) {
  for (uint32_t workers : {2u, 4u}) {
    Dispatcher d(workers, 0xabcdef);
    int away_from_address_pair = 0;
    for (uint16_t i = 0; i < 100; ++i) {
      const auto port = static_cast<uint16_t>(30000 + i);
      const auto frames = udp_fragments(port, 5353, static_cast<uint16_t>(i + 1), 4000);
      ASSERT_EQ(frames.size(), 3u);
      const uint32_t owner = d.steering().for_ports(kClient, kGateway, port, 5353);
      for (const Frame& f : frames) ASSERT_EQ(classify(d, f), to(owner)) << "datagram " << i;
      if (owner != d.steering().for_addresses(kClient, kGateway)) ++away_from_address_pair;
    }
    EXPECT_GT(away_from_address_pair, 0);
    EXPECT_EQ(d.counters()[DispatchCounter::first_fragments], 100u);
    EXPECT_EQ(d.counters()[DispatchCounter::fragments_steered], 200u);
    EXPECT_EQ(d.counters()[DispatchCounter::fragments_unsteered], 0u);
  }
}

TEST_F(DispatchTest, FragmentsAfterTheFirstInAnyOrderFollowIt) {
  for (uint32_t workers : {2u, 4u}) {
    const uint32_t seed = seed_where(workers, [](const wire::FlowSteering& s) {
      return s.for_ports(kClient, kGateway, 41000, 5353) != s.for_addresses(kClient, kGateway);
    });
    Dispatcher d(workers, seed);
    const auto frames = udp_fragments(41000, 5353, 9, 5000);
    ASSERT_EQ(frames.size(), 4u);
    const uint32_t owner = d.steering().for_ports(kClient, kGateway, 41000, 5353);
    EXPECT_EQ(classify(d, frames[0]), to(owner));
    EXPECT_EQ(classify(d, frames[3]), to(owner));
    EXPECT_EQ(classify(d, frames[1]), to(owner));
    EXPECT_EQ(classify(d, frames[1]), to(owner));  // a duplicate too
    EXPECT_EQ(classify(d, frames[2]), to(owner));
  }
}

TEST_F(DispatchTest, FragmentOvertakingItsFirstIsUnsteered) {
  // The documented limitation: a fragment that arrives before its first fragment goes by
  // the address pair; the first and everything after it still go to the owner.
  for (uint32_t workers : {2u, 4u}) {
    const uint32_t seed = seed_where(workers, [](const wire::FlowSteering& s) {
      return s.for_ports(kClient, kGateway, 42000, 5353) != s.for_addresses(kClient, kGateway);
    });
    Dispatcher d(workers, seed);
    const auto frames = udp_fragments(42000, 5353, 10, 4000);
    const uint32_t owner = d.steering().for_ports(kClient, kGateway, 42000, 5353);
    const uint32_t pair = d.steering().for_addresses(kClient, kGateway);
    EXPECT_EQ(classify(d, frames[2]), to(pair));
    EXPECT_EQ(classify(d, frames[0]), to(owner));
    EXPECT_EQ(classify(d, frames[1]), to(owner));
    EXPECT_EQ(d.counters()[DispatchCounter::fragments_unsteered], 1u);
    EXPECT_EQ(d.counters()[DispatchCounter::fragments_steered], 1u);
  }
}

TEST_F(DispatchTest, FragmentedEchoStaysTogetherEvenOutOfOrder) {
  // Without ports the fallback is the same worker: reordering costs nothing.
  Dispatcher d(4, 8);
  const auto icmp =
      test::icmp_message(IcmpRepr::echo(IcmpType::echo_request, 3, 4, test::pattern(3000)));
  const auto frames = test::fragment_frames(kGatewayMac, kClientMac,
                                            ip_header(kClient, kGateway, kIcmp, 55), icmp, 1500);
  ASSERT_EQ(frames.size(), 3u);
  const uint32_t pair = d.steering().for_addresses(kClient, kGateway);
  EXPECT_EQ(classify(d, frames[2]), to(pair));
  EXPECT_EQ(classify(d, frames[0]), to(pair));
  EXPECT_EQ(classify(d, frames[1]), to(pair));
}

TEST_F(DispatchTest, FragmentsOfDifferentDatagramsAreKeptApart) {
  // Same addresses, different identification or protocol: separate entries.
  Dispatcher d(4, 0x51);
  const auto a = udp_fragments(43000, 5353, 100, 3000);
  const auto b = udp_fragments(43001, 5353, 101, 3000);
  const uint32_t owner_a = d.steering().for_ports(kClient, kGateway, 43000, 5353);
  const uint32_t owner_b = d.steering().for_ports(kClient, kGateway, 43001, 5353);
  ASSERT_NE(owner_a, owner_b);
  EXPECT_EQ(classify(d, a[0]), to(owner_a));
  EXPECT_EQ(classify(d, b[0]), to(owner_b));
  EXPECT_EQ(classify(d, b[1]), to(owner_b));
  EXPECT_EQ(classify(d, a[1]), to(owner_a));
  // A TCP fragment with A's identification is another datagram.
  Ipv4Repr tcp_frag = ip_header(kClient, kGateway, kTcp, 100);
  tcp_frag.fragment_offset = 1480;
  const Frame other = test::ipv4_frame(kGatewayMac, kClientMac, tcp_frag, test::pattern(100));
  EXPECT_EQ(classify(d, other), to(d.steering().for_addresses(kClient, kGateway)));
  EXPECT_EQ(d.counters()[DispatchCounter::fragments_unsteered], 1u);
}

TEST_F(DispatchTest, FragmentEntriesExpireWithTheReassemblyTimeout) {
  for (uint32_t workers : {2u, 4u}) {
    const uint32_t seed = seed_where(workers, [](const wire::FlowSteering& s) {
      return s.for_ports(kClient, kGateway, 44000, 5353) != s.for_addresses(kClient, kGateway);
    });
    Dispatcher d(workers, seed);
    const uint32_t owner = d.steering().for_ports(kClient, kGateway, 44000, 5353);
    const uint32_t pair = d.steering().for_addresses(kClient, kGateway);

    const auto late = udp_fragments(44000, 5353, 1, 3000);
    EXPECT_EQ(d.classify(late[0], clock.now()), to(owner));
    clock.advance(Dispatcher::kFragmentEntryLifetime - 1ms);
    EXPECT_EQ(d.classify(late[1], clock.now()), to(owner));
    clock.advance(1ms);  // exactly 30 s after the first fragment: gone
    EXPECT_EQ(d.classify(late[1], clock.now()), to(pair));
    EXPECT_EQ(d.counters()[DispatchCounter::fragments_unsteered], 1u);
  }
}

TEST_F(DispatchTest, TableCollisionOverwritesTheOlderEntry) {
  // One slot: the second datagram's first fragment takes it.
  const uint32_t seed = seed_where(4, [](const wire::FlowSteering& s) {
    const uint32_t pair = s.for_addresses(kClient, kGateway);
    return s.for_ports(kClient, kGateway, 45000, 5353) != pair &&
           s.for_ports(kClient, kGateway, 45001, 5353) != pair;
  });
  Dispatcher d(4, seed, 1);
  const auto a = udp_fragments(45000, 5353, 1, 3000);
  const auto b = udp_fragments(45001, 5353, 2, 3000);
  EXPECT_EQ(classify(d, a[0]), to(d.steering().for_ports(kClient, kGateway, 45000, 5353)));
  EXPECT_EQ(classify(d, b[0]), to(d.steering().for_ports(kClient, kGateway, 45001, 5353)));
  EXPECT_EQ(d.counters()[DispatchCounter::fragment_table_overwrites], 1u);
  EXPECT_EQ(classify(d, a[1]), to(d.steering().for_addresses(kClient, kGateway)));
  EXPECT_EQ(classify(d, b[1]), to(d.steering().for_ports(kClient, kGateway, 45001, 5353)));
  // Once the entry has expired, replacing it is not an overwrite.
  clock.advance(31s);
  EXPECT_EQ(classify(d, a[0]).kind, DispatchKind::one_worker);
  EXPECT_EQ(d.counters()[DispatchCounter::fragment_table_overwrites], 1u);
}

TEST_F(DispatchTest, FirstFragmentOfTcpAndOfAnIcmpErrorSteerLikeTheWholeDatagram) {
  const uint32_t seed = seed_where(4, [](const wire::FlowSteering& s) {
    return s.for_ports(kClient, kGateway, 46001, 80) != s.for_addresses(kClient, kGateway) &&
           s.for_ports(kGateway, kClient, 80, 46002) != s.for_addresses(kRouter, kGateway);
  });
  Dispatcher d(4, seed);
  // A TCP segment fragmented (no DF): the first fragment carries the ports.
  const auto seg = tcp_bytes(kClient, 46001, kGateway, 80);
  std::vector<std::byte> big(seg.begin(), seg.end());
  const auto filler = test::pattern(2000);
  big.insert(big.end(), filler.begin(), filler.end());
  const auto tcp_frags = test::fragment_frames(kGatewayMac, kClientMac,
                                               ip_header(kClient, kGateway, kTcp, 5), big, 1500);
  const uint32_t owner = d.steering().for_ports(kClient, kGateway, 46001, 80);
  for (const Frame& f : tcp_frags) EXPECT_EQ(classify(d, f), to(owner));

  // An ICMP error in fragments (an oversized quote): the first fragment holds the quote.
  std::vector<std::byte> quoted = sent_tcp_datagram(kGateway, 80, kClient, 46002);
  quoted.insert(quoted.end(), filler.begin(), filler.end());
  const auto icmp = test::icmp_message(IcmpRepr{3, 4, 1400, quoted});
  const auto icmp_frags = test::fragment_frames(kGatewayMac, kClientMac,
                                                ip_header(kRouter, kGateway, kIcmp, 6), icmp, 1500);
  ASSERT_EQ(icmp_frags.size(), 2u);
  const uint32_t quoted_owner = d.steering().for_ports(kGateway, kClient, 80, 46002);
  for (const Frame& f : icmp_frags) EXPECT_EQ(classify(d, f), to(quoted_owner));
}

// ---- counters ----

TEST_F(DispatchTest, EveryFrameCountsOnceAmongTheDecisions) {
  Dispatcher d(4, 1);
  const auto frags = udp_fragments(47000, 9, 3, 3000);
  std::vector<Frame> frames = {test::pattern(5),
                               tcp_frame(kClient, 1, kGateway, 2),
                               udp_frame(kClient, 3, kGateway, 4),
                               frags[1],
                               frags[0],
                               frags[1]};
  frames.push_back(test::arp_frame(wire::MacAddress::broadcast(), kClientMac,
                                   {1, kClientMac, kClient, {}, kGateway}));
  for (const Frame& f : frames) classify(d, f);
  const DispatchCounters& c = d.counters();
  EXPECT_EQ(c[DispatchCounter::frames], frames.size());
  EXPECT_EQ(c[DispatchCounter::to_one_worker] + c[DispatchCounter::to_all_workers] +
                c[DispatchCounter::dropped],
            frames.size());
  EXPECT_EQ(c[DispatchCounter::dropped], 1u);
  EXPECT_EQ(c[DispatchCounter::to_all_workers], 1u);
}

TEST(DispatchCounters, EveryCounterHasANameAndHelp) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kDispatchCounterCount; ++i) {
    const auto c = static_cast<DispatchCounter>(i);
    EXPECT_FALSE(name(c).empty());
    EXPECT_FALSE(help(c).empty()) << name(c);
    names.insert(name(c));
  }
  EXPECT_EQ(names.size(), kDispatchCounterCount);
  EXPECT_EQ(name(DispatchCounter::fragments_unsteered), "fragments_unsteered");
}

}  // namespace
}  // namespace flowgate
